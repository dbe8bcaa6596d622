"""huggingtweets-style cleaning rules: a pure verdict, with a reason, for every source tweet.

The defaults follow huggingtweets: retweets go, "short" tweets (fewer than `min_words` words and
no link, @ or #) go, URLs are stripped and HTML entities unescaped. On top of that whitespace is
collapsed, exact duplicates are removed and replies can be dropped on request.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.config import Config

# Drop reasons, in the order the data table lists them.
RETWEET = "retweet"
SHORT = "short"
REPLY = "reply"
EMPTY = "empty"
DUPLICATE = "duplicate"
REASONS = (RETWEET, SHORT, REPLY, EMPTY, DUPLICATE)

_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
# Scripts written without spaces between words (Han, kana, Hangul, Thai): split() sees one word.
_UNSPACED = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
# huggingtweets' "boring" markers: a short tweet that carries one of these is kept.
_SHORT_EXEMPT = ("http", "@", "#")


@dataclass(frozen=True)
class CleaningRules:
    """The knobs of the cleaning rules ([source] section of the config)."""

    min_words: int = 3
    drop_replies: bool = False

    @classmethod
    def from_config(cls, config: Config) -> CleaningRules:
        """The rules a config asks for."""
        return cls(min_words=config.source.min_words, drop_replies=config.source.drop_replies)


@dataclass(frozen=True)
class Verdict:
    """What cleaning made of one tweet: kept with its clean text, or dropped with a reason."""

    kept: bool
    text: str
    reason: str | None = None


def is_retweet(text: str, kind: str | None = None) -> bool:
    """A retweet by its kind, or by the classic "RT @" prefix (archives of manual retweets)."""
    return kind == "retweet" or text.lstrip().startswith("RT @")


def normalize(text: str) -> str:
    """Strip URLs, unescape HTML entities, collapse whitespace (no drop decisions)."""
    # Unescape first so an escaped "&lt;http..." cannot hide a URL, then strip URLs.
    text = _URL.sub(" ", html.unescape(text))
    text = _SPACE.sub(" ", text).strip()
    # Old reply trick: ". @someone" made a reply public; the lone dot means nothing.
    if text.startswith(". ") or text == ".":
        text = text[1:].lstrip()
    return text


def word_count(text: str) -> int:
    """Words as split() sees them, but a run of Japanese or Chinese counts one word per two
    characters: otherwise every tweet in those scripts would be "short"."""
    count = 0
    for token in text.split():
        unspaced = len(_UNSPACED.findall(token))
        count += max(1, unspaced // 2)
    return count


def is_short(text: str, min_words: int) -> bool:
    """huggingtweets' rule: fewer than `min_words` words and no http, @ or #."""
    text = html.unescape(text)
    if any(marker in text for marker in _SHORT_EXEMPT):
        return False
    return word_count(text) < min_words


def clean_tweet(row: Mapping[str, Any], rules: CleaningRules) -> Verdict:
    """The verdict on one stored tweet row (needs `text` and `kind`); pure, no duplicates check.

    Exact duplicates depend on the other tweets, so `clean_tweets` decides those.
    """
    text = str(row.get("text") or "")
    kind = row.get("kind")
    if is_retweet(text, kind):
        return Verdict(False, "", RETWEET)
    if rules.drop_replies and kind == "reply":
        return Verdict(False, "", REPLY)
    if is_short(text, rules.min_words):
        return Verdict(False, "", SHORT)
    clean = normalize(text)
    if not clean:
        return Verdict(False, "", EMPTY)
    return Verdict(True, clean, None)


def clean_tweets(rows: Iterable[Mapping[str, Any]], rules: CleaningRules) -> list[Verdict]:
    """Verdicts for rows in the order given; a repeat of an earlier kept text is a duplicate.

    Pass rows oldest first so the first time something was said is the one kept.
    """
    seen: set[str] = set()
    verdicts = []
    for row in rows:
        verdict = clean_tweet(row, rules)
        if verdict.kept:
            if verdict.text in seen:
                verdict = Verdict(False, "", DUPLICATE)
            else:
                seen.add(verdict.text)
        verdicts.append(verdict)
    return verdicts
