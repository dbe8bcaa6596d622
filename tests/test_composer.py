"""The composer: selection, bounded attempts, replies, and never a failing candidate."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from bot.config import Config, config_from_mapping
from bot.daemon.composer import Composer, reply_context
from bot.filters import Filters
from bot.generation import Candidate, Generator
from bot.platform.base import Mention
from bot.store import Store
from bot.textlen import weighted_length
from tests.fixtures_model import synthetic_tweets

SOURCES = [
    "The quick brown fox jumps over the lazy dog every single morning",
    "I really love drinking coffee on rainy days in the city",
]


class StubGenerator:
    """Returns scripted rounds of candidates and records what it was asked."""

    version = "stub-v1"

    def __init__(self, *rounds: list[tuple[str, float]]) -> None:
        self.rounds = list(rounds)
        self.calls: list[dict[str, Any]] = []

    def generate_scored(
        self, prompt: str | None = None, n: int = 1, *, context: str | None = None, **sampling: Any
    ) -> list[Candidate]:
        self.calls.append({"prompt": prompt, "n": n, "context": context})
        texts = self.rounds[min(len(self.calls), len(self.rounds)) - 1]
        return [Candidate(text, score, len(text.split())) for text, score in texts]


def _config(**generation: Any) -> Config:
    return config_from_mapping(
        {"generation": {"candidates": 2, "max_attempts": 3, **generation}},
    )


def _composer(stub: StubGenerator, config: Config | None = None, seed: int = 0) -> Composer:
    config = config or _config()
    return Composer(stub, Filters.from_config(config, SOURCES, []), config, random.Random(seed))


def _mention(text: str, author: str = "alice") -> Mention:
    return Mention(
        id="500",
        author_id="42",
        author_username=author,
        text=text,
        conversation_id="500",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_a_candidate_copied_from_the_corpus_is_never_selected() -> None:
    copied = (SOURCES[0], -0.1)  # the model's most confident candidate: a memorized tweet
    novel = ("Foxes are underrated, honestly", -4.0)
    for seed in range(50):
        draft = _composer(StubGenerator([copied, novel]), seed=seed).post()
        assert draft.text == novel[0]
    copied_only = StubGenerator([copied, (SOURCES[1] + "!", -0.2)])
    draft = _composer(copied_only).post()
    assert draft.text is None
    assert len(copied_only.calls) == 3  # bounded: max_attempts rounds, then skip
    assert draft.skip_reason is not None and "novelty x6" in draft.skip_reason
    assert len(draft.candidates) == 6 and not any(c.passed for c in draft.candidates)


def test_a_skip_is_logged_with_its_reason() -> None:
    stub = StubGenerator([("", -1.0), ("!!!", -1.0)])
    with capture_logs() as logs:
        draft = _composer(stub).post()
    assert draft.text is None
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert warnings and warnings[0]["reason"] == draft.skip_reason
    assert "content x6" in draft.skip_reason


def test_selection_prefers_confident_candidates_with_some_randomness() -> None:
    sure = ("Trains are late again today", -1.0)
    unsure = ("Gardens grow in the strangest ways", -1.3)
    picks = Counter(
        _composer(StubGenerator([sure, unsure]), seed=seed).post().text for seed in range(200)
    )
    assert picks[sure[0]] > picks[unsure[0]] > 20


def test_selection_is_reproducible_with_a_seeded_rng() -> None:
    rounds = [("Trains are late again today", -1.0), ("Gardens grow in strange ways", -1.1)]
    texts = {_composer(StubGenerator(rounds), seed=7).post().text for _ in range(5)}
    assert len(texts) == 1


def test_a_later_round_can_succeed() -> None:
    stub = StubGenerator([(SOURCES[0], -0.1), ("", -0.1)], [("A fresh thought at last", -2.0)] * 2)
    draft = _composer(stub).post()
    assert draft.text == "A fresh thought at last"
    assert len(stub.calls) == 2 and len(draft.candidates) == 4


def test_too_long_candidates_are_trimmed_not_rejected() -> None:
    long_text = "This is a sentence that fits. " + "And then it rambles on " * 20
    draft = _composer(StubGenerator([(long_text, -1.0)] * 2)).post()
    assert draft.text == "This is a sentence that fits."


def test_prompt_comes_from_the_config_when_none_is_given() -> None:
    config = _config(prompts=["Today", "Honestly"])
    stub = StubGenerator([("Today is a good day", -1.0)] * 2)
    draft = _composer(stub, config).post()
    assert (
        stub.calls[0]["prompt"] in ("Today", "Honestly") and draft.prompt == stub.calls[0]["prompt"]
    )
    assert draft.model_version == "stub-v1" and draft.kind == "post"
    explicit = _composer(StubGenerator([("Tea is better", -1.0)] * 2), config)
    assert explicit.post("Tea").prompt == "Tea"


def test_reply_prompt_drops_handles_and_the_reply_starts_with_the_author() -> None:
    stub = StubGenerator([("@someone I would say yes", -1.0), ("Maybe later", -1.5)])
    mention = _mention("@bot @carol what do you think of https://x.co/a ?")
    draft = _composer(stub).reply(mention)
    assert stub.calls[0]["context"] == "what do you think of ?"
    assert reply_context("@bot hi @carol") == "hi"
    assert reply_context("@a_handle_over_15_chars hi") == "hi"
    assert draft.text in ("@alice I would say yes", "@alice Maybe later")
    assert draft.kind == "reply" and draft.in_reply_to == "500"


def test_reply_stays_within_the_limit_including_the_handle() -> None:
    body = "word " * 60  # 300 units: must lose enough words to fit after "@a_long_handle_1 "
    stub = StubGenerator([(body, -1.0)] * 2)
    draft = _composer(stub).reply(_mention("hello", author="a_long_handle_1"))
    assert draft.text is not None and draft.text.startswith("@a_long_handle_1 word")
    assert weighted_length(draft.text) <= 280
    assert weighted_length(draft.text + " word") > 280


def test_reply_never_mentions_anyone_else() -> None:
    stub = StubGenerator([("ask @bob about it", -0.1), ("@alice @a_handle_over_15_chars", -0.1)])
    draft = _composer(stub).reply(_mention("hi @bot"))
    assert draft.text is None
    failures = Counter(v.rule for c in draft.candidates for v in c.verdicts if not v.passed)
    assert failures == {"mentions": 3, "content": 3}


def test_real_model_that_memorized_its_corpus_never_gets_a_copy_through(
    tiny_model_dir: Path,
) -> None:
    # The tiny model was trained on these very sentences and reproduces many of them verbatim.
    corpus = synthetic_tweets()
    config = config_from_mapping({"generation": {"candidates": 8, "max_attempts": 2}})
    generator = Generator.load(tiny_model_dir, device="cpu", settings=config.generation)
    filters = Filters.from_config(config, corpus, [])
    composer = Composer(generator, filters, config, random.Random(3))
    copies_seen = 0
    sources = {t.casefold().rstrip(".!") for t in corpus}
    for _ in range(4):
        draft = composer.post()
        copies_seen += sum(c.text.casefold().rstrip(".!") in sources for c in draft.candidates)
        if draft.text is not None:
            assert draft.text.casefold().rstrip(".!") not in sources
            assert filters.passes(draft.text)
    assert copies_seen > 0, "the model produced no copies, so this test proved nothing"


def test_generate_command_prints_candidates_with_verdicts(
    tiny_model_dir: Path, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    (workdir / "config.toml").write_text('[filters]\nblocked_words = ["cat"]\n')
    store = Store(workdir / "data" / "tweetbot.db")
    store.add_model_version(
        "v1", str(tiny_model_dir), base="scratch:tiny", eval_loss=1.0, train_loss=1.0
    )
    store.set_current_model("v1")
    store.close()
    with pytest.raises(SystemExit) as exited:
        main(["generate", "The cat", "-n", "3", "--json"])
    assert exited.value.code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model_version"] == tiny_model_dir.name and report["prompt"] == "The cat"
    assert len(report["candidates"]) == 3
    for candidate in report["candidates"]:
        assert candidate["text"].startswith("The cat") and candidate["passed"] is False
        blocked = [v for v in candidate["verdicts"] if v["rule"] == "blocked_words"]
        assert blocked[0]["reason"] == "blocked word: 'cat'"
    with pytest.raises(SystemExit) as exited:
        main(["generate", "-n", "2", "--model", str(tiny_model_dir)])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "2 candidates" in out and out.count("PASS") + out.count("FAIL") == 2


def test_generate_without_a_model_is_a_usage_error(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    (workdir / "config.toml").write_text("")
    with pytest.raises(SystemExit) as exited:
        main(["generate"])
    assert exited.value.code == 2
    assert "no current model" in capsys.readouterr().err


def test_the_reply_prompt_is_html_unescaped() -> None:
    # X sends "&amp;" and "&lt;"; the model was trained on the characters themselves.
    stub = StubGenerator([("Sounds good to me", -1.0)] * 2)
    _composer(stub).reply(_mention("@bot fish &amp; chips &lt;3 &quot;now&quot;"))
    assert stub.calls[0]["context"] == 'fish & chips <3 "now"'
    assert reply_context("@bot see gulls.rocks/x now") == "see now"  # the one URL detection


def test_a_blocked_word_in_the_authors_handle_does_not_block_the_reply() -> None:
    config = config_from_mapping(
        {
            "generation": {"candidates": 2, "max_attempts": 1},
            "filters": {"blocked_words": ["gertrude"]},
        }
    )
    composer = Composer(
        StubGenerator([("Lovely weather for it", -1.0), ("Gertrude says hi", -0.5)]),
        Filters.from_config(config, SOURCES, []),
        config,
        random.Random(0),
    )
    draft = composer.reply(_mention("hello there", author="gertrude_fan"))
    assert draft.text == "@gertrude_fan Lovely weather for it"
    blocked = [c for c in draft.candidates if not c.passed]
    assert [c.text for c in blocked] == ["@gertrude_fan Gertrude says hi"]
