"""huggingtweets-style cleaning rules: a pure verdict, with a reason, for every source tweet.

The defaults follow huggingtweets' demo notebook exactly: retweets go; `http:`/`https:` URLs are
stripped and `&amp; &lt; &gt;` unescaped; then a tweet is "short" (huggingtweets: "boring") when
fewer than `min_words` of its words contain none of `http`, `@`, `#`, so "@bob hi there" and a
lone link are short. One deliberate deviation: in scripts written without spaces (Japanese,
Chinese, Korean, Thai) a word counts one per two such characters, where huggingtweets' split()
sees a whole sentence as one word and drops nearly every such tweet (994 of 1,134 in the
Japanese archive in ../shared/conformance). On top of that whitespace is collapsed, exact
duplicates are removed and replies can be dropped on request.
"""

from __future__ import annotations

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

# huggingtweets strips `http:\S+` and `https:\S+` (case-sensitive, as there).
_URL = re.compile(r"https?:\S+")
_SPACE = re.compile(r"\s+")
# Scripts written without spaces between words (Han, kana, Hangul, Thai): split() sees one word.
_UNSPACED = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
# huggingtweets' "boring" markers: a word that holds one of these does not count as a word.
_NOT_WORDS = ("http", "@", "#")


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


def unescape(text: str) -> str:
    """huggingtweets' entity fix: `&amp; &lt; &gt;` only, as X escapes exactly those."""
    return text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")


def strip_urls(text: str) -> str:
    """The text with huggingtweets' cleaning: entities unescaped, URLs stripped, one-spaced."""
    # Unescape first so an escaped "&lt;http..." cannot hide a URL, then strip URLs.
    return _SPACE.sub(" ", _URL.sub(" ", unescape(text))).strip()


def normalize(text: str) -> str:
    """Training text: huggingtweets' cleaning, then the old ". @name" dot dropped."""
    text = strip_urls(text)
    # Old reply trick: ". @someone" made a reply public; the lone dot means nothing.
    if text.startswith(". ") or text == ".":
        text = text[1:].lstrip()
    return text


def _token_words(token: str, unspaced_scripts: bool) -> int:
    if not unspaced_scripts:
        return 1
    return max(1, len(_UNSPACED.findall(token)) // 2)


def word_count(text: str, *, unspaced_scripts: bool = True) -> int:
    """Words that contain none of `http`, `@`, `#` (huggingtweets' count), on cleaned text.

    With `unspaced_scripts` (our deviation) a run of Japanese, Chinese, Korean or Thai counts
    one word per two characters; without it the count is huggingtweets' exactly.
    """
    return sum(
        _token_words(token, unspaced_scripts)
        for token in text.split()
        if not any(marker in token.lower() for marker in _NOT_WORDS)
    )


def is_short(text: str, min_words: int, *, unspaced_scripts: bool = True) -> bool:
    """huggingtweets' "boring": fewer than `min_words` words without http, @ or # once the
    URLs are stripped; takes the raw stored text."""
    return word_count(strip_urls(text), unspaced_scripts=unspaced_scripts) < min_words


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
