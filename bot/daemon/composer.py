"""From the model to one postable tweet: generate candidates, filter them, pick one, or skip.

The composer never returns a candidate that failed a rule: `Draft.text` is either a text that
passed every filter (trimmed to X's length first when it was too long) or None with a
`skip_reason`. Selection among the passing candidates favours the model's most confident ones
(mean token log-prob) but keeps some randomness, so the bot does not always say its most likely
sentence.
"""

from __future__ import annotations

import html
import math
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from bot.config import Config
from bot.filters import MENTION_PATTERN, Filters, Verdict, failed
from bot.generation import Candidate
from bot.logging import get_logger
from bot.platform.base import Mention
from bot.textlen import MAX_WEIGHTED_LENGTH, strip_urls, trim_to_length, weighted_length

log = get_logger(__name__)

# How sharply selection prefers confident candidates: weights are exp(mean_logprob / T).
SELECTION_TEMPERATURE = 0.5


class CandidateSource(Protocol):
    """What the composer needs from a generator (`bot.generation.Generator` or a test stub)."""

    @property
    def version(self) -> str: ...

    def generate_scored(
        self, prompt: str | None = None, n: int = 1, *, context: str | None = None, **sampling: Any
    ) -> list[Candidate]: ...


@dataclass(frozen=True)
class JudgedCandidate:
    """A candidate as it would be posted (after trimming), with every rule's verdict."""

    text: str
    mean_logprob: float
    verdicts: tuple[Verdict, ...]
    generated: str  # the model's text before trimming / adding the reply handle

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "mean_logprob": round(self.mean_logprob, 4),
            "passed": self.passed,
            "verdicts": [v.to_dict() for v in self.verdicts],
        }


@dataclass
class Draft:
    """The composer's answer: a text to post, or None with the reason it skipped."""

    kind: Literal["post", "reply"]
    text: str | None
    skip_reason: str | None = None
    prompt: str | None = None
    model_version: str | None = None
    in_reply_to: str | None = None  # the mention's tweet id, for replies
    candidates: list[JudgedCandidate] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "text": self.text,
            "skip_reason": self.skip_reason,
            "prompt": self.prompt,
            "model_version": self.model_version,
            "in_reply_to": self.in_reply_to,
            "candidates": [c.to_dict() for c in self.candidates],
        }


def reply_context(mention_text: str) -> str:
    """The mention's text as the model sees it: without @handles and links, spaces collapsed.

    X sends text HTML-escaped ("&amp;", "&lt;"); the model was trained on unescaped text.
    """
    text = MENTION_PATTERN.sub(" ", html.unescape(mention_text))
    text = strip_urls(text)
    return " ".join(text.split())


class Composer:
    """Turns generator candidates into a `Draft` for a scheduled post or a reply."""

    def __init__(
        self,
        generator: CandidateSource,
        filters: Filters,
        config: Config,
        rng: random.Random | None = None,
    ) -> None:
        self.generator = generator
        self.filters = filters
        self.settings = config.generation
        self.rng = rng or random.Random()

    def post(self, prompt: str | None = None) -> Draft:
        """A scheduled tweet: from `prompt`, else one of `[generation] prompts`, else none."""
        if prompt is None and self.settings.prompts:
            prompt = self.rng.choice(self.settings.prompts)
        return self._compose("post", prompt=prompt, context=None, handle=None, mention=None)

    def reply(self, mention: Mention) -> Draft:
        """A reply to `mention`: "@author " and a generated answer, within the length limit."""
        context = reply_context(mention.text)
        return self._compose(
            "reply", prompt=None, context=context or None, handle=mention.author_username,
            mention=mention,
        )  # fmt: skip

    def candidates(
        self, prompt: str | None = None, n: int | None = None, *, reply_to: str | None = None
    ) -> list[JudgedCandidate]:
        """One round of n candidates with verdicts, for `tweetbot generate` (nothing selected)."""
        generated = self.generator.generate_scored(prompt, n or self.settings.candidates)
        return [self._judge(c, reply_to) for c in generated]

    def _compose(
        self,
        kind: Literal["post", "reply"],
        *,
        prompt: str | None,
        context: str | None,
        handle: str | None,
        mention: Mention | None,
    ) -> Draft:
        version = self.generator.version
        judged: list[JudgedCandidate] = []
        for _ in range(self.settings.max_attempts):
            generated = self.generator.generate_scored(
                prompt, self.settings.candidates, context=context
            )
            round_ = [self._judge(c, handle) for c in generated]
            judged += round_
            passing = [c for c in round_ if c.passed]
            if passing:
                chosen = self._select(passing)
                return Draft(
                    kind,
                    chosen.text,
                    prompt=prompt,
                    model_version=version,
                    in_reply_to=mention.id if mention else None,
                    candidates=judged,
                )
        reason = self._skip_reason(judged)
        log.warning(
            "no candidate passed the filters",
            kind=kind,
            reason=reason,
            mention_id=mention.id if mention else None,
            model_version=version,
        )
        return Draft(
            kind,
            None,
            skip_reason=reason,
            prompt=prompt,
            model_version=version,
            in_reply_to=mention.id if mention else None,
            candidates=judged,
        )

    def _judge(self, candidate: Candidate, handle: str | None) -> JudgedCandidate:
        body = _strip_leading_handles(candidate.text) if handle else candidate.text.strip()
        prefix = f"@{handle} " if handle else ""
        # Trim the body so that prefix + body fits; when no boundary allows it, keep the
        # over-long text so the length rule says why it failed.
        room = MAX_WEIGHTED_LENGTH - weighted_length(prefix)
        fitted = trim_to_length(body, room) or body
        text = prefix + fitted
        # The content rule ignores @handles, so "@author " alone still fails as empty.
        verdicts = self.filters.check(text, reply_to_username=handle)
        return JudgedCandidate(text, candidate.mean_logprob, tuple(verdicts), candidate.text)

    def _select(self, passing: list[JudgedCandidate]) -> JudgedCandidate:
        best = max(c.mean_logprob for c in passing)
        # Shift by the best score before exp() so tiny probabilities do not underflow to 0.
        weights = [math.exp((c.mean_logprob - best) / SELECTION_TEMPERATURE) for c in passing]
        return self.rng.choices(passing, weights=weights, k=1)[0]

    def _skip_reason(self, judged: list[JudgedCandidate]) -> str:
        counts = Counter(v.rule for c in judged for v in failed(c.verdicts))
        top = ", ".join(f"{rule} x{count}" for rule, count in counts.most_common(3))
        return (
            f"no candidate passed the filters after {self.settings.max_attempts} round(s) of "
            f"{self.settings.candidates} ({len(judged)} tried; failed: {top or 'none'})"
        )


def _strip_leading_handles(text: str) -> str:
    """The model may start a reply with handles of its own; the composer adds the real one."""
    return re.sub(r"^(?:\s*[@＠][A-Za-z0-9_]+)+", "", text).strip()
