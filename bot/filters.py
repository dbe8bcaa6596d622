"""What a generated candidate must pass before it may be posted.

Each rule is a small object with a `name` and `check(text, context) -> reason | None`; `Filters`
runs all of them and returns one `Verdict` per rule, so `tweetbot generate` can show why a
candidate failed. Rules judge the text as given: trimming an over-long candidate to fit is the
composer's job (`bot.textlen.trim_to_length`), done before the check.

The novelty and dedupe rules use indexes built once (a hash set of word n-grams and an
inverted index from word to texts), so a check costs time proportional to the candidate, not to
the size of the corpus.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from bot.config import Config
from bot.store import Store, utcnow
from bot.textlen import MAX_WEIGHTED_LENGTH, URL_PATTERN, find_urls, weighted_length

# ---- text normalisation ------------------------------------------------------------------

# Invisible characters used to split a word so a naive match misses it (zero-width space,
# joiners, word joiner, BOM, soft hyphen, Mongolian vowel separator, invisible operators).
_INVISIBLE = dict.fromkeys(
    map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u2061\u2062\u2063\u2064"), None
)

# Letters from other scripts that look like Latin ones. NFKC already folds fullwidth and
# mathematical alphanumerics (ｂａｄ, 𝐛𝐚𝐝); these survive it, so map them explicitly.
_HOMOGLYPHS = str.maketrans(
    {
        # Cyrillic
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
        "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i",
        "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "ь": "b", "г": "r",
        # Greek
        "α": "a", "β": "b", "γ": "y", "ε": "e", "η": "n", "ι": "i", "κ": "k", "μ": "u",
        "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ς": "s",
        # Latin lookalikes outside a-z
        "ı": "i", "ɡ": "g", "ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ŀ": "l", "ß": "ss",
    }
)  # fmt: skip

# Digits and symbols people write instead of letters ("b4d", "$h!t"); matched as that letter.
_LEET = {
    "a": "4@",
    "b": "8",
    "e": "3",
    "g": "9",
    "i": "1!|l",
    "l": "1|i",
    "o": "0",
    "s": "5$",
    "t": "7+",
    "z": "2",
}


def fold(text: str) -> str:
    """Normalise text for matching: NFKC, case-folded, invisibles and accents removed,
    lookalike letters of other scripts mapped to Latin.

    Stripping combining marks (after NFD) turns "bädword" and "b\u0301ad" into plain letters;
    CJK characters are unaffected.
    """
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE).casefold()
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", stripped).translate(_HOMOGLYPHS)


# CJK ideographs, kana and hangul are one token each (no spaces between words); other words
# are runs of letters/digits.
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]|[^\W_]+")


def tokens(text: str) -> list[str]:
    """Word tokens of folded text, the unit of the novelty and dedupe rules."""
    return _TOKEN.findall(fold(text))


# ---- verdicts and rules ------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """One rule's judgement of one candidate: `reason` says why it failed (None = passed)."""

    rule: str
    reason: str | None = None

    @property
    def passed(self) -> bool:
        return self.reason is None

    def to_dict(self) -> dict[str, object]:
        return {"rule": self.rule, "passed": self.passed, "reason": self.reason}


@dataclass(frozen=True)
class CheckContext:
    """Facts about the candidate beyond its text."""

    reply_to_username: str | None = None


class Rule(Protocol):
    """A filter rule: returns a short reason when `text` must not be posted, else None."""

    name: str

    def check(self, text: str, context: CheckContext) -> str | None: ...


class ContentRule:
    """Not empty, and not only punctuation, emoji, hashtags, @-mentions or links."""

    name = "content"

    def check(self, text: str, context: CheckContext) -> str | None:
        if not text.strip():
            return "empty"
        rest = URL_PATTERN.sub(" ", text)
        rest = re.sub(r"[#＃@＠]\w+", " ", rest)
        if not any(unicodedata.category(c)[0] in "LN" for c in rest):
            return "no words (only punctuation, emoji, hashtags, mentions or links)"
        return None


class LengthRule:
    """X's weighted length within the limit (280)."""

    name = "length"

    def __init__(self, limit: int = MAX_WEIGHTED_LENGTH) -> None:
        self.limit = limit

    def check(self, text: str, context: CheckContext) -> str | None:
        length = weighted_length(text)
        if length > self.limit:
            return f"too long: weighted length {length} > {self.limit}"
        return None


def _letter_class(letter: str) -> str:
    chars = letter + _LEET.get(letter, "")
    return "[" + "".join(re.escape(c) for c in chars) + "]"


def _blocked_pattern(phrase: str) -> re.Pattern[str] | None:
    """A regex matching `phrase` as whole words in folded text, despite obfuscation.

    Each letter may repeat ("baaad"), be written as a lookalike digit or symbol ("b4d"), and be
    followed by up to three separators ("b.a.d", "b a d", "b*a*d"); words of a phrase may be
    joined by any separators. Whole-word: no Latin letter or digit right before or after, so
    "class" does not match "ass"; CJK text has no spaces, so a CJK phrase matches anywhere.
    """
    words = tokens(phrase)
    if not words:
        return None
    separator = r"[\W_]{0,3}"
    parts = []
    for word in words:
        parts.append(separator.join(_letter_class(c) + "+" for c in word))
    body = r"[\W_]*".join(parts)
    return re.compile(r"(?<![a-z0-9])" + body + r"(?![a-z0-9])")


class BlockedWordsRule:
    """No blocked word or phrase, case-insensitive and whole-word, obfuscations included."""

    name = "blocked_words"

    def __init__(self, phrases: Iterable[str]) -> None:
        self.patterns: list[tuple[str, re.Pattern[str]]] = []
        for phrase in phrases:
            pattern = _blocked_pattern(phrase)
            if pattern is not None:
                self.patterns.append((phrase, pattern))

    def check(self, text: str, context: CheckContext) -> str | None:
        if not self.patterns:
            return None
        folded = fold(text)
        for phrase, pattern in self.patterns:
            if pattern.search(folded):
                return f"blocked word: {phrase!r}"
        return None


class UrlRule:
    """No links (scheme-less ones such as example.com/x included) unless allowed."""

    name = "urls"

    def __init__(self, allow: bool = False) -> None:
        self.allow = allow

    def check(self, text: str, context: CheckContext) -> str | None:
        if self.allow:
            return None
        # Fold first: "example．com" (fullwidth dot) and zero-width splits still make a link.
        urls = find_urls(fold(text)) or find_urls(text)
        if urls:
            return f"contains a link: {urls[0]}"
        return None


# Any length: X handles have at most 15 characters, but a model trained on a corpus with
# longer fictional ones reproduces them, and a reader still takes them for a mention.
MENTION_PATTERN = re.compile(r"(?<![\w@＠])[@＠]([A-Za-z0-9_]+)")


def find_mentions(text: str) -> list[str]:
    """The @handles in `text` (without the @), in order."""
    return MENTION_PATTERN.findall(unicodedata.normalize("NFKC", text).translate(_INVISIBLE))


class MentionRule:
    """No @-mentions unless allowed; the account being replied to is always allowed."""

    name = "mentions"

    def __init__(self, allow: bool = False) -> None:
        self.allow = allow

    def check(self, text: str, context: CheckContext) -> str | None:
        if self.allow:
            return None
        allowed = (context.reply_to_username or "").lstrip("@").casefold()
        others = [h for h in find_mentions(text) if h.casefold() != allowed]
        if others:
            return f"mentions @{others[0]}"
        return None


class TextIndex:
    """Texts indexed for "does this candidate copy one of them?" questions.

    Holds a set of hashed word n-grams (verbatim runs) and an inverted index word -> text ids
    (similarity), so a lookup touches only the texts sharing a word with the candidate.
    """

    def __init__(self, ngram: int, texts: Iterable[str] = ()) -> None:
        self.ngram = ngram
        self._ngrams: set[int] = set()
        self._postings: dict[str, list[int]] = {}
        self._sizes: list[int] = []
        self._texts: list[str] = []
        for text in texts:
            self.add(text)

    def __len__(self) -> int:
        return len(self._texts)

    def add(self, text: str) -> None:
        """Index one more text."""
        words = tokens(text)
        doc = len(self._texts)
        self._texts.append(text)
        unique = set(words)
        self._sizes.append(len(unique))
        for word in unique:
            self._postings.setdefault(word, []).append(doc)
        for i in range(len(words) - self.ngram + 1):
            self._ngrams.add(hash(tuple(words[i : i + self.ngram])))

    def shared_ngram(self, text: str) -> str | None:
        """The first run of `ngram` words of `text` that also occurs in an indexed text."""
        words = tokens(text)
        for i in range(len(words) - self.ngram + 1):
            if hash(tuple(words[i : i + self.ngram])) in self._ngrams:
                return " ".join(words[i : i + self.ngram])
        return None

    def most_similar(self, text: str) -> tuple[float, str | None]:
        """Highest Jaccard similarity of word sets between `text` and an indexed text."""
        unique = set(tokens(text))
        if not unique:
            return 0.0, None
        shared: Counter[int] = Counter()
        for word in unique:
            shared.update(self._postings.get(word, ()))
        best, best_doc = 0.0, None
        for doc, common in shared.items():
            score = common / (len(unique) + self._sizes[doc] - common)
            if score > best:
                best, best_doc = score, doc
        return best, (self._texts[best_doc] if best_doc is not None else None)


def _snippet(text: str, size: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= size else text[: size - 1] + "…"


class NoveltyRule:
    """Not copied from a source tweet: no shared run of `ngram` words, no near-copy."""

    name = "novelty"

    def __init__(self, source_texts: Iterable[str], ngram: int, max_similarity: float) -> None:
        self.index = TextIndex(ngram, source_texts)
        self.max_similarity = max_similarity

    def check(self, text: str, context: CheckContext) -> str | None:
        run = self.index.shared_ngram(text)
        if run is not None:
            return f"copies {self.index.ngram} words of a source tweet: {run!r}"
        score, source = self.index.most_similar(text)
        if source is not None and score >= self.max_similarity:
            return f"near-copy of a source tweet (similarity {score:.2f}): {_snippet(source)!r}"
        return None


class DedupeRule:
    """Not a near-repeat of one of the bot's own recent posts."""

    name = "dedupe"

    def __init__(self, index: TextIndex, max_similarity: float) -> None:
        self.index = index
        self.max_similarity = max_similarity

    def check(self, text: str, context: CheckContext) -> str | None:
        score, post = self.index.most_similar(text)
        if post is not None and score >= self.max_similarity:
            return f"repeats a recent own post (similarity {score:.2f}): {_snippet(post)!r}"
        return None


def duplicate_key(text: str) -> str:
    """What X compares to refuse "duplicate content": the text without leading @handles,
    links, case, accents and spacing differences."""
    text = re.sub(r"^(?:\s*[@＠]\w+)+", "", text)
    text = URL_PATTERN.sub("", text)
    return " ".join(tokens(text))


class DuplicateOnXRule:
    """Would X refuse it as duplicate content? (Same normalised text as a recent own post.)"""

    name = "duplicate_on_x"

    def __init__(self, keys: set[str]) -> None:
        self.keys = keys

    def check(self, text: str, context: CheckContext) -> str | None:
        key = duplicate_key(text)
        if key and key in self.keys:
            return "X would refuse it as duplicate content of a recent own post"
        return None


# ---- the filter chain --------------------------------------------------------------------


@dataclass
class Filters:
    """Every rule a candidate must pass, plus memory of the bot's own recent posts."""

    rules: list[Rule]
    own_posts: TextIndex = field(default_factory=lambda: TextIndex(8))
    duplicate_keys: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_config(
        cls,
        config: Config,
        source_texts: Sequence[str] = (),
        recent_posts: Sequence[str] = (),
        *,
        blocked_words: Sequence[str] | None = None,
    ) -> Filters:
        """Build the chain from `[filters]`: `source_texts` are every source tweet's text (for
        novelty), `recent_posts` the bot's own posts of the last `dedupe_for` (for dedupe).

        `blocked_words` overrides `config.blocked_words()` (which reads the blocklist file).
        """
        settings = config.filters
        words = config.blocked_words() if blocked_words is None else list(blocked_words)
        own_posts = TextIndex(settings.max_verbatim_ngram, recent_posts)
        keys = {k for k in map(duplicate_key, recent_posts) if k}
        rules: list[Rule] = [
            ContentRule(),
            LengthRule(),
            BlockedWordsRule(words),
            UrlRule(settings.allow_urls),
            MentionRule(settings.allow_mentions),
            NoveltyRule(source_texts, settings.max_verbatim_ngram, settings.max_similarity),
            DedupeRule(own_posts, settings.max_similarity),
            DuplicateOnXRule(keys),
        ]
        return cls(rules=rules, own_posts=own_posts, duplicate_keys=keys)

    @classmethod
    def from_store(cls, config: Config, store: Store, *, dry_run: bool = False) -> Filters:
        """`from_config` with every source tweet and the own posts of the last `dedupe_for`
        read from the store (a dry run dedupes against its own rows, live against live)."""
        from bot.corpus import source_texts

        since = utcnow() - timedelta(seconds=config.filters.dedupe_for)
        own = store.posted_texts_since(since, dry_run=dry_run)
        return cls.from_config(config, source_texts(store), own)

    def check(self, text: str, *, reply_to_username: str | None = None) -> list[Verdict]:
        """One verdict per rule, in order; the candidate may be posted only if all passed."""
        context = CheckContext(reply_to_username=reply_to_username)
        with self._lock:
            return [Verdict(rule.name, rule.check(text, context)) for rule in self.rules]

    def passes(self, text: str, *, reply_to_username: str | None = None) -> bool:
        """True when every rule passes."""
        return all(v.passed for v in self.check(text, reply_to_username=reply_to_username))

    def remember_post(self, text: str) -> None:
        """Record a text the bot just posted, so later candidates are checked against it."""
        with self._lock:
            self.own_posts.add(text)
            key = duplicate_key(text)
            if key:
                self.duplicate_keys.add(key)


def failed(verdicts: Iterable[Verdict]) -> list[Verdict]:
    """The verdicts that failed."""
    return [v for v in verdicts if not v.passed]
