"""X's weighted length and trimming to fit it."""

from __future__ import annotations

import pytest

from bot.textlen import find_urls, trim_to_length, weighted_length


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("hello", 5),
        ("a" * 280, 280),
        ("café", 4),  # é precomposed: U+00E9 weighs 1
        ("cafe\u0301", 4),  # e + combining acute: NFC makes it one code point
        ("你好", 4),  # CJK weighs 2 each
        ("こんにちは", 10),
        ("😀", 2),  # one emoji, one astral code point
        ("“quoted” – dash", 15),  # U+201C/D and U+2013 are in the light ranges
        ("…", 2),  # U+2026 is just outside them
        ("→", 2),  # U+2192 is outside them
        ("\u200b", 1),  # zero-width space is U+200B: light range, still counted
        ("see https://example.com/a/very/long/path/that/goes/on/and/on", 4 + 23),
        ("see example.com/x", 4 + 23),  # scheme-less URL still counts 23
        ("www.example.org", 23),
        ("two: a.co b.io", 5 + 23 + 1 + 23),
        ("ends with a link https://t.co/abc.", 17 + 23 + 1),  # the final dot is not the URL's
        ("v1.2 and Mr. Smith", 18),  # not URLs
    ],
)
def test_weighted_length(text: str, expected: int) -> None:
    assert weighted_length(text) == expected


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("go to example.com/x now", ["example.com/x"]),
        ("HTTPS://EXAMPLE.COM", ["HTTPS://EXAMPLE.COM"]),
        ("bit.ly/abc, then", ["bit.ly/abc"]),
        ("nothing here.", []),
        ("a@b.com is mail", []),
    ],
)
def test_find_urls(text: str, urls: list[str]) -> None:
    assert find_urls(text) == urls


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


def test_trim_never_splits_a_url_and_gives_up_when_nothing_fits() -> None:
    assert trim_to_length("https://example.com/" + "x" * 300, 10) is None
    assert trim_to_length("a" * 300) is None  # one long word: no boundary to cut at
    assert trim_to_length("你好" * 100 + " https://example.com/x", 200) == "你好" * 50


def test_trim_drops_dangling_punctuation_at_a_word_cut() -> None:
    trimmed = trim_to_length("alpha beta, gamma delta epsilon", 12)
    assert trimmed == "alpha beta"
