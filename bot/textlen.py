"""X's weighted tweet length, the links X sees, and trimming a text to fit.

X counts a post in "weighted" units, 280 at most (twitter-text v3): the text is NFC-normalised
and line endings become "\\n"; a URL counts 23 whatever its length (X shortens it to a t.co
link); an emoji counts 2 however many code points its sequence has (a ZWJ family, a flag, a
keycap, a skin tone); any other code point in U+0000–U+10FF, U+2000–U+200D, U+2010–U+201F and
U+2032–U+2037 counts 1, and every other one (CJK, ...) counts 2.

Where each part comes from, and why:

- URLs: twitter-text's own extraction, as ported by `twitter-text-parser` (it passes all 91
  `urls` cases of twitter-text's conformance suite, TLD list included). One detection serves the
  length count, the trimming, the URL filter and the composer (`url_spans`).
- Emoji: the `emoji` package, whose data follows current Unicode releases. twitter-text's own
  emoji table stops in 2019 and counts ❤️‍🔥 5 and 🧑‍🧑‍🧒 8 where X shows (and counts) one emoji.
- The weights and the rest: a few lines here, they are X's published configuration.
"""

from __future__ import annotations

import importlib.resources
import re
import sys
import types
import unicodedata
from collections.abc import Callable
from functools import cache
from typing import Any

import emoji
import regex

MAX_WEIGHTED_LENGTH = 280
URL_WEIGHT = 23
EMOJI_WEIGHT = 2

# (first, last) code points that weigh 1 (twitter-text v3 "ranges"); everything else weighs 2.
_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))

# What X refuses in a post. twitter-text's list is U+FFFE, U+FEFF, U+FFFF; the other Unicode
# noncharacters (U+FDD0–U+FDEF, U+nFFFE/U+nFFFF of every plane) and lone surrogates cannot be
# sent either (not interchangeable / not encodable as UTF-8), so they are refused too.
_INVALID = re.compile(
    "[\ufffe\ufeff\uffff\ufdd0-\ufdef\ud800-\udfff"
    + "".join(f"{chr(p * 0x10000 + 0xFFFE)}{chr(p * 0x10000 + 0xFFFF)}" for p in range(1, 17))
    + "]"
)
_LINE_ENDING = re.compile(r"\r\n|\r")


def _load_twitter_text() -> Any:
    """`twitter_text.extract_urls_with_indices`, importable without `pkg_resources`.

    twitter-text-parser 3.0 reads its (unused here) emoji table with `pkg_resources`, which
    setuptools 81+ no longer ships. When it is missing, lend the package a stand-in with the
    one function it calls for the time of the import only, so nothing else ever sees it.
    """
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        shim = types.ModuleType("pkg_resources")

        def resource_string(package: str, name: str) -> bytes:
            return importlib.resources.files(package.rpartition(".")[0]).joinpath(name).read_bytes()

        shim.resource_string = resource_string  # type: ignore[attr-defined]
        sys.modules["pkg_resources"] = shim
        try:
            from twitter_text import extract_urls_with_indices
        finally:
            del sys.modules["pkg_resources"]
        return extract_urls_with_indices
    from twitter_text import extract_urls_with_indices

    return extract_urls_with_indices


@cache
def _extractor() -> Callable[[str], list[dict[str, Any]]]:
    extract: Callable[[str], list[dict[str, Any]]] = _load_twitter_text()
    return extract


def url_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every URL X would link in `text`, scheme-less ones (gulls.rocks) too."""
    return [(u["indices"][0], u["indices"][1]) for u in _extractor()(text)]


def find_urls(text: str) -> list[str]:
    """The URLs X would link in `text`, as they are written there."""
    return [text[start:end] for start, end in url_spans(text)]


def strip_urls(text: str, replacement: str = " ") -> str:
    """`text` with every URL X would link replaced by `replacement`."""
    parts, position = [], 0
    for start, end in url_spans(text):
        parts += [text[position:start], replacement]
        position = end
    parts.append(text[position:])
    return "".join(parts)


def _char_weight(char: str) -> int:
    point = ord(char)
    for first, last in _LIGHT_RANGES:
        if first <= point <= last:
            return 1
    return 2


def _x_normal_form(text: str) -> str:
    return _LINE_ENDING.sub("\n", unicodedata.normalize("NFC", text))


def _weighted(text: str) -> int:
    """Weighted length of already normalised text."""
    # Spans that count as a unit, keyed by start; a URL wins over an emoji it contains.
    units: dict[int, tuple[int, int]] = {}
    for item in emoji.emoji_list(text):
        units[item["match_start"]] = (item["match_end"], EMOJI_WEIGHT)
    for start, end in url_spans(text):
        units = {s: u for s, u in units.items() if not start <= s < end}
        units[start] = (end, URL_WEIGHT)
    total, position = 0, 0
    while position < len(text):
        unit = units.get(position)
        if unit is not None:
            position, weight = unit
            total += weight
        else:
            total += _char_weight(text[position])
            position += 1
    return total


def weighted_length(text: str) -> int:
    """X's weighted length of `text` (the limit is `MAX_WEIGHTED_LENGTH`)."""
    return _weighted(_x_normal_form(text))


def has_invalid_characters(text: str) -> bool:
    """True when `text` holds a character X refuses in a post (U+FFFE, U+FFFF, ...)."""
    return _INVALID.search(text) is not None


def invalid_characters(text: str) -> list[str]:
    """The characters of `text` that X refuses in a post, in order."""
    return _INVALID.findall(text)


def is_valid_tweet(text: str) -> bool:
    """Would X accept `text` as a post: not empty, within 280, no refused character."""
    return not has_invalid_characters(text) and 0 < weighted_length(text) <= MAX_WEIGHTED_LENGTH


# A sentence ends at . ! ? … (optionally closed by a quote or bracket) followed by a space.
_CJK = re.compile(r"[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff01-\uff0f]")
_SENTENCE_END = re.compile(r"[.!?…。！？][\"')\]”’»]*(?=\s|$)")


def trim_to_length(text: str, limit: int = MAX_WEIGHTED_LENGTH) -> str | None:
    """`text` cut to fit `limit` at a sentence end, else a word boundary; None if impossible.

    A cut never splits a word, a URL or an emoji: the longest whole-sentence prefix that fits
    wins, then the longest whole-word prefix (with trailing punctuation other than sentence ends
    dropped). Text without spaces (CJK) may be cut after any CJK character.
    """
    text = _x_normal_form(text).strip()
    if _weighted(text) <= limit:
        return text
    # A URL may contain ". " lookalikes such as "?!" before a space: never cut inside one.
    spans = url_spans(text)

    def inside_url(end: int) -> bool:
        return any(a < end < b for a, b in spans)

    for match in reversed(list(_SENTENCE_END.finditer(text))):
        candidate = text[: match.end()].strip()
        if candidate and not inside_url(match.end()) and _weighted(candidate) <= limit:
            return candidate
    for match in reversed(list(re.finditer(r"\s+", text))):
        candidate = text[: match.start()].rstrip(" ,;:-–—(")
        if candidate and _weighted(candidate) <= limit:
            return candidate
    # Scripts written without spaces (Chinese, Japanese) allow a cut after any of their own
    # characters; never inside a URL.
    for end in range(len(text) - 1, 0, -1):
        if not _CJK.match(text[end - 1]) or inside_url(end):
            continue
        candidate = text[:end].rstrip()
        if _weighted(candidate) <= limit:
            return candidate
    return None


# ---- the other networks' limits ------------------------------------------------------------
# Bluesky counts 300 graphemes of the text as written (links included); Mastodon counts 500
# graphemes by default, every link as 23 whatever its length. Both count what a reader sees as
# one character, so an emoji sequence is one.
_GRAPHEME = regex.compile(r"\X")


def grapheme_length(text: str) -> int:
    """Number of user-perceived characters (extended grapheme clusters) of `text`."""
    return len(_GRAPHEME.findall(unicodedata.normalize("NFC", text)))


def mastodon_length(text: str) -> int:
    """Mastodon's count: graphemes, every link as 23."""
    text = unicodedata.normalize("NFC", text)
    return grapheme_length(strip_urls(text, "")) + URL_WEIGHT * len(url_spans(text))


# network -> (how it counts, its limit)
NETWORK_LENGTHS: dict[str, tuple[Callable[[str], int], int]] = {
    "x": (weighted_length, MAX_WEIGHTED_LENGTH),
    "bluesky": (grapheme_length, 300),
    "mastodon": (mastodon_length, 500),
}
