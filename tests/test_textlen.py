"""X's weighted length, the links X sees, and trimming to fit: twitter-text's own suite first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.textlen import (
    MAX_WEIGHTED_LENGTH,
    find_urls,
    is_valid_tweet,
    strip_urls,
    trim_to_length,
    weighted_length,
)

SUITE = Path(__file__).resolve().parents[1].parent / "shared" / "conformance" / "twitter-text"
V3_SECTIONS = (
    "WeightedTweetsWithDiscountedEmojiCounterTest",
    "UnicodeDirectionalMarkerCounterTest",
)


def _cases(name: str, sections: tuple[str, ...]) -> list[Any]:
    tests = yaml.safe_load((SUITE / name).read_text(encoding="utf-8"))["tests"]
    return [
        pytest.param(case, id=f"{section}: {case['description']}")
        for section in sections
        for case in tests[section]
    ]


@pytest.mark.parametrize("case", _cases("validate.yml", V3_SECTIONS))
def test_twitter_text_weighted_length_conformance(case: dict[str, Any]) -> None:
    assert weighted_length(case["text"]) == case["expected"]["weightedLength"]
    assert is_valid_tweet(case["text"]) is case["expected"]["valid"]


@pytest.mark.parametrize("case", _cases("extract.yml", ("urls",)))
def test_twitter_text_url_extraction_conformance(case: dict[str, Any]) -> None:
    assert find_urls(case["text"]) == case["expected"]


def test_the_suite_is_all_there() -> None:
    # A renamed section would otherwise parametrize nothing and pass silently.
    assert len(_cases("validate.yml", V3_SECTIONS)) == 24
    assert len(_cases("extract.yml", ("urls",))) == 91


@pytest.mark.parametrize(
    "sequence",
    [
        "❤️‍🔥",  # heart on fire (Emoji 13.1, newer than twitter-text's table)
        "❤‍🔥",  # same without the variation selector
        "🐦‍⬛",  # black bird (15.0)
        "🏳️‍⚧️",  # transgender flag (13.0)
        "🙂‍↔️",  # head shaking horizontally (15.1)
        "🧑‍🧑‍🧒",  # family: adult, adult, child (15.1)
        "👨‍👩‍👧‍👦",  # ZWJ family
        "👨🏻‍❤️‍💋‍👨🏿",  # kiss with two skin tones
        "👍🏿",  # skin tone
        "🇫🇷",  # flag
        "🏴󠁧󠁢󠁳󠁣󠁴󠁿",  # tag sequence (Scotland)
        "1️⃣",  # keycap
        "#️⃣",
        "1⃣",  # keycap without the variation selector
        "🫨",  # shaking face, one code point (15.0)
    ],
)
def test_every_emoji_x_shows_as_one_weighs_two(sequence: str) -> None:
    assert weighted_length(sequence) == 2
    assert weighted_length(f"a {sequence} b") == 6


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("hello", 5),
        ("a" * 280, 280),
        ("café", 4),  # é precomposed: U+00E9 weighs 1
        ("cafe\u0301", 4),  # e + combining acute: NFC makes it one code point
        ("你好", 4),  # CJK weighs 2 each
        ("“quoted” – dash", 15),  # U+201C/D and U+2013 are in the light ranges
        ("…", 2),  # U+2026 is just outside them
        ("a\r\nb", 3),  # X counts a CRLF as one newline
        ("see https://example.com/a/very/long/path/that/goes/on/and/on", 4 + 23),
        ("see example.com/x", 4 + 23),  # scheme-less URL still counts 23
        ("gulls.rocks", 23),  # bare domains with newer TLDs are links too
        ("my site.ninja!", 3 + 23 + 1),
        ("two: a.co b.io", 5 + 23 + 1 + 23),
        ("ends with a link https://t.co/abc.", 17 + 23 + 1),  # the final dot is not the URL's
        ("v1.2 and Mr. Smith", 18),  # not URLs
        ("file.txt and name.surname", 25),  # .txt and .surname are no TLDs
    ],
)
def test_weighted_length(text: str, expected: int) -> None:
    assert weighted_length(text) == expected


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("go to example.com/x now", ["example.com/x"]),
        ("gulls.rocks and site.ninja", ["gulls.rocks", "site.ninja"]),
        ("HTTPS://EXAMPLE.COM", ["HTTPS://EXAMPLE.COM"]),
        ("bit.ly/abc, then", ["bit.ly/abc"]),
        ("nothing here.", []),
        ("a@b.com is mail", []),
    ],
)
def test_find_urls(text: str, urls: list[str]) -> None:
    assert find_urls(text) == urls


def test_strip_urls_uses_the_same_detection() -> None:
    assert strip_urls("see gulls.rocks/x and https://a.co now") == "see   and   now"


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("fine", True),
        ("", False),
        ("a" * MAX_WEIGHTED_LENGTH, True),
        ("a" * (MAX_WEIGHTED_LENGTH + 1), False),
        ("bad \ufffe", False),
        ("bad \uffff", False),
        ("bad \ufeff", False),
        ("bad \ufdd0", False),  # another noncharacter
        ("bad \U0001ffff", False),
        ("bad \ud800", False),  # a lone surrogate cannot be sent
        ("directional \u2066marks\u2069 are fine", True),
    ],
)
def test_is_valid_tweet_refuses_what_x_refuses(text: str, valid: bool) -> None:
    assert is_valid_tweet(text) is valid


def test_trim_prefers_a_sentence_end() -> None:
    text = "First sentence here. Second one! " + "filler " * 60
    assert trim_to_length(text, 40) == "First sentence here. Second one!"


def test_trim_falls_back_to_a_word_boundary() -> None:
    text = "word " * 100
    trimmed = trim_to_length(text, 32)
    assert trimmed is not None
    assert weighted_length(trimmed) <= 32
    assert trimmed.split() == ["word"] * 6


def test_trim_keeps_a_fitting_text_and_counts_cjk_double() -> None:
    assert trim_to_length("short one") == "short one"
    trimmed = trim_to_length("你" * 200)
    assert trimmed == "你" * 140


def test_trim_counts_emoji_sequences_as_x_does() -> None:
    # 140 families weigh 280 (not 140 x 11): nothing to trim.
    families = " ".join(["👨‍👩‍👧‍👦"] * 93)
    assert weighted_length(families) == 93 * 2 + 92
    assert trim_to_length(families) == families


def test_trim_never_splits_a_url_and_gives_up_when_nothing_fits() -> None:
    assert trim_to_length("https://example.com/" + "x" * 300, 10) is None
    assert trim_to_length("a" * 300) is None  # one long word: no boundary to cut at
    assert trim_to_length("你好" * 100 + " https://example.com/x", 200) == "你好" * 50
    # a bare domain is a link for the cut too: 23, not its letters
    assert trim_to_length("x " * 120 + "gulls.rocks/" + "y" * 50) == (
        "x " * 120 + "gulls.rocks/" + "y" * 50
    )


def test_trim_drops_dangling_punctuation_at_a_word_cut() -> None:
    trimmed = trim_to_length("alpha beta, gamma delta epsilon", 12)
    assert trimmed == "alpha beta"


def test_the_pkg_resources_stand_in_leaves_nothing_behind() -> None:
    import sys

    find_urls("example.com")  # twitter-text-parser is imported by now
    module = sys.modules.get("pkg_resources")
    # Either no pkg_resources at all, or the real one (which has far more than one function).
    assert module is None or hasattr(module, "working_set")
