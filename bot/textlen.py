"""X's weighted tweet length, and trimming a text to fit it.

X counts a tweet in "weighted" units, 280 at most (twitter-text v3 configuration): the text is
NFC-normalised first; code points in U+0000–U+10FF, U+2000–U+200D, U+2010–U+201F and
U+2032–U+2037 weigh 1, every other code point (CJK, most emoji, ...) weighs 2; a URL counts 23
whatever its length, because X shortens it to a t.co link.
"""

from __future__ import annotations

import re
import unicodedata

MAX_WEIGHTED_LENGTH = 280
URL_WEIGHT = 23

# (first, last) code points that weigh 1 (twitter-text "ranges"); everything else weighs 2.
_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))

# Top-level domains X links without a scheme; a scheme-less "word.tld" is a URL only for these.
# Deliberately the common ones: a miss here only matters for bare domains with rare TLDs.
_TLDS = (
    "com|org|net|edu|gov|mil|int|info|biz|io|co|ly|me|ai|app|dev|gg|tv|fm|am|to|so|sh|xyz|"
    "online|site|store|shop|blog|news|link|live|club|tech|page|art|us|uk|ca|de|fr|es|it|nl|"
    "be|ch|at|se|no|dk|fi|pl|pt|ru|ua|jp|cn|kr|in|au|nz|br|mx|ar|cl|za|ie|eu|tk|ml|ws|cc|"
    "gl|im|is|la|lt|lu|lv|md|mn|ms|mu|nu|pw|sc|sk|su|tw|vc|vn|zone|top|one|wiki|social"
)
# A URL as X would link it: with a scheme, starting "www.", or a bare domain with a known TLD,
# each optionally followed by a port and a path/query. Used by the length count and the URL filter.
URL_PATTERN = re.compile(
    r"(?:"
    r"\b[a-z][a-z0-9+.-]*://[^\s<>\"]+"  # scheme://anything
    r"|\bwww\.[^\s<>\"]+"  # www.example
    r"|(?<![\w@.-])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:" + _TLDS + r")\b"
    r"(?::\d{1,5})?(?:/[^\s<>\"]*)?"
    r")",
    re.IGNORECASE,
)
# Punctuation that ends a sentence, and what X does not count as part of a trailing URL.
_URL_TRAILING = ".,:;!?)]}'\"»”’"


def _char_weight(char: str) -> int:
    point = ord(char)
    for first, last in _LIGHT_RANGES:
        if first <= point <= last:
            return 1
    return 2


def find_urls(text: str) -> list[str]:
    """The URLs X would link in `text` (scheme-less ones too), trailing punctuation removed."""
    return [match.group(0).rstrip(_URL_TRAILING) for match in URL_PATTERN.finditer(text)]


def weighted_length(text: str) -> int:
    """X's weighted length of `text` (the limit is `MAX_WEIGHTED_LENGTH`)."""
    text = unicodedata.normalize("NFC", text)
    total = 0
    position = 0
    for match in URL_PATTERN.finditer(text):
        url = match.group(0).rstrip(_URL_TRAILING)
        total += sum(_char_weight(c) for c in text[position : match.start()])
        total += URL_WEIGHT
        position = match.start() + len(url)
    total += sum(_char_weight(c) for c in text[position:])
    return total


# A sentence ends at . ! ? … (optionally closed by a quote or bracket) followed by a space.
_CJK = re.compile(r"[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff01-\uff0f]")
_SENTENCE_END = re.compile(r"[.!?…。！？][\"')\]”’»]*(?=\s|$)")


def trim_to_length(text: str, limit: int = MAX_WEIGHTED_LENGTH) -> str | None:
    """`text` cut to fit `limit` at a sentence end, else a word boundary; None if impossible.

    A cut never splits a word or a URL: the longest whole-sentence prefix that fits wins, then
    the longest whole-word prefix (with trailing punctuation other than sentence ends dropped).
    Text without spaces (CJK) may be cut after any CJK character.
    """
    text = unicodedata.normalize("NFC", text).strip()
    if weighted_length(text) <= limit:
        return text
    sentence_cuts = [m.end() for m in _SENTENCE_END.finditer(text)]
    for end in reversed(sentence_cuts):
        candidate = text[:end].strip()
        if candidate and weighted_length(candidate) <= limit:
            return candidate
    word_cuts = [m.start() for m in re.finditer(r"\s+", text)]
    for end in reversed(word_cuts):
        candidate = text[:end].rstrip(" ,;:-–—(")
        if candidate and weighted_length(candidate) <= limit:
            return candidate
    # Scripts written without spaces (Chinese, Japanese) allow a cut after any of their own
    # characters; never inside a URL.
    url_spans = [m.span() for m in URL_PATTERN.finditer(text)]
    for end in range(len(text) - 1, 0, -1):
        if not _CJK.match(text[end - 1]) or any(a < end < b for a, b in url_spans):
            continue
        candidate = text[:end].rstrip()
        if weighted_length(candidate) <= limit:
            return candidate
    return None
