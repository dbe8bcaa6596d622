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

import decancer_py
import emoji

from bot.config import Config
from bot.store import Store, utcnow
from bot.textlen import (
    NETWORK_LENGTHS,
    find_urls,
    invalid_characters,
    strip_urls,
)

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
        rest = strip_urls(text)
        rest = re.sub(r"[#＃@＠]\w+", " ", rest)
        if not any(unicodedata.category(c)[0] in "LN" for c in rest):
            return "no words (only punctuation, emoji, hashtags, mentions or links)"
        return None


class LengthRule:
    """Within the network's length limit (X: weighted length 280), and, on X, no character X
    refuses (U+FFFE, U+FFFF, other noncharacters): `bot.textlen.is_valid_tweet`."""

    name = "length"

    def __init__(self, limit: int | None = None, network: str = "x") -> None:
        self.measure, default_limit = NETWORK_LENGTHS[network]
        # `limit`: what the account's own server allows (a Mastodon instance's max_characters).
        self.limit = limit if limit is not None else default_limit
        self.network = network

    def check(self, text: str, context: CheckContext) -> str | None:
        refused = invalid_characters(text) if self.network == "x" else []
        if refused:
            return f"X refuses the character U+{ord(refused[0]):04X}"
        length = self.measure(text)
        if length > self.limit:
            unit = "weighted length" if self.network == "x" else "length"
            return f"too long for {self.network}: {unit} {length} > {self.limit}"
        return None


# ---- invisible characters ----------------------------------------------------------------

# Default-ignorable characters that are not format characters (Cf): Hangul fillers, the
# combining grapheme joiner, Mongolian free variation selectors. Variation selectors are
# handled by range below.
_OTHER_INVISIBLE = frozenset("\u034f\u115f\u1160\u3164\uffa0\u180b\u180c\u180d\u180f")


def _is_invisible(char: str) -> bool:
    point = ord(char)
    return (
        unicodedata.category(char) == "Cf"
        or char in _OTHER_INVISIBLE
        or 0xFE00 <= point <= 0xFE0F
        or 0xE0100 <= point <= 0xE01EF
    )


def invisible_characters(text: str) -> list[str]:
    """The invisible or direction-changing characters of `text` outside emoji sequences.

    Format characters (bidi overrides, embeddings, isolates and marks, zero-width space and
    joiners, soft hyphen, word joiner, BOM, tags) and other default-ignorable code points draw
    nothing, so they hide a word's spelling or reorder what a reader sees. The joiners,
    variation selectors and tags inside an emoji sequence (👨‍👩‍👧, ❤️, a subdivision flag) are
    part of what X shows as one emoji and are allowed there.
    """
    inside_emoji: set[int] = set()
    for item in emoji.emoji_list(text):
        inside_emoji.update(range(item["match_start"], item["match_end"]))
    return [c for i, c in enumerate(text) if i not in inside_emoji and _is_invisible(c)]


class InvisibleRule:
    """No bidi override/isolate or invisible format character (outside emoji sequences)."""

    name = "invisible"

    def check(self, text: str, context: CheckContext) -> str | None:
        found = invisible_characters(text)
        if found:
            char = found[0]
            label = unicodedata.name(char, "unnamed")
            return f"invisible or direction-changing character U+{ord(char):04X} ({label})"
        return None


# ---- blocked words -----------------------------------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")


def blocklist_fold(text: str) -> str:
    """`text` as the blocklist sees it: invisibles dropped, then confusables folded.

    `decancer_py` (a maintained confusables library) lowercases and maps width variants,
    small caps, styled letters (𝐛𝐨𝐥𝐝, ⓒⓘⓡⓒⓛⓔⓓ), accents and homoglyphs of other scripts
    (Cyrillic, Greek, Armenian, Cherokee, ...) to the Latin letter they look like. Invisible
    characters are removed first: decancer would turn a zero-width space into a space and a
    soft hyphen into "-", which would split the word.
    """
    visible = "".join(c for c in _SURROGATE.sub(" ", text) if not _is_invisible(c))
    return str(decancer_py.parse(visible))


def _letter_chars(letter: str) -> str:
    return letter + _LEET.get(letter, "")


def _char_class(chars: str) -> str:
    return "[" + "".join(re.escape(c) for c in sorted(set(chars))) + "]"


# Separators never include a character that can stand for a letter ("@" in "b@d"), so a
# separator and a letter never compete for the same character.
_LEET_SYMBOLS = re.escape(
    "".join(sorted({c for v in _LEET.values() for c in v if not c.isalnum()}))
)
# Between the letters of one word: punctuation and no space ("ger-trude", "g.e.r.t.r.u.d.e",
# "g_e_r"), or, when the letters are spaced out, any separators between every two of them
# ("g e r t r u d e", "d....a....r....n"). Spaces between only some letters ("gas sale" for
# "ass") are ordinary words that happen to share letters: not a match.
_TIGHT_GAP = rf"(?:[^\w\s{_LEET_SYMBOLS}]|_)*+"
_SPACED_GAP = rf"(?:[^\w{_LEET_SYMBOLS}]|_)++"


def _groups(word: str) -> list[tuple[str, int]]:
    """The word's letters as (letter, how many in a row): "glass" -> g a l s*2."""
    groups: list[tuple[str, int]] = []
    for letter in word:
        if groups and groups[-1][0] == letter:
            groups[-1] = (letter, groups[-1][1] + 1)
        else:
            groups.append((letter, 1))
    return groups


def _run(letter: str, count: int, following: str | None) -> str:
    """`count` or more of `letter` (or its lookalikes), never backtracking.

    Possessive quantifiers keep matching linear in the text's length (a blocklist must not
    hang on "d@@@@…@x"). A run cannot give characters back, so it never takes one the next
    letter could use ("l1ttle": the "1" after "l" is left for "i").
    """
    chars = _letter_chars(letter)
    extra = "".join(c for c in chars if following is None or c not in _letter_chars(following))
    pattern = _char_class(chars) + (f"{{{count}}}" if count > 1 else "")
    return pattern + (f"{_char_class(extra)}*+" if extra else "")


def _runs(groups: list[tuple[str, int]], following: str | None) -> list[str]:
    nexts = [g[0] for g in groups[1:]] + [following]
    runs = [_run(letter, count, nxt) for (letter, count), nxt in zip(groups, nexts, strict=True)]
    last_letter, last_count = groups[-1]
    if last_letter == "y" and last_count == 1 and len(groups) > 1:
        runs[-1] = f"(?:{runs[-1]}|i++e++)"  # plural "-ies" of a word in "-y"
    return runs


def _word_pattern(word: str, following: str | None) -> str:
    """Tight ("glass", "gl-ass"; a doubled letter as one run) or spaced out letter by letter
    ("g l a s s", "g.l.a.s.s")."""
    tight = _runs(_groups(word), following)
    if len(word) == 1:
        return tight[0]
    spaced = _runs([(letter, 1) for letter in word], following)
    return f"(?:{_TIGHT_GAP.join(tight)}|{_SPACED_GAP.join(spaced)})"


def _blocked_pattern(phrase: str) -> re.Pattern[str] | None:
    """A regex matching `phrase` in `blocklist_fold`ed text, despite obfuscation.

    Matched anywhere, inside fused words too ("TheGertrude", "Gertrudes", "GertrudeGertrude"):
    a false positive only costs one candidate, a miss posts the word. Each letter may repeat,
    be written as a lookalike digit or symbol ("g3rtrud3"), and be split as `_TIGHT_GAP` /
    `_SPACED_GAP` allow; words of a phrase may be joined by any separators or none.
    """
    words = _TOKEN.findall(blocklist_fold(phrase))
    if not words:
        return None
    firsts = [w[0] for w in words[1:]] + [None]
    parts = [_word_pattern(w, nxt) for w, nxt in zip(words, firsts, strict=True)]
    return re.compile(_SPACED_GAP.replace("++", "*+").join(parts))


class BlockedWordsRule:
    """No blocked word or phrase, after folding and despite obfuscation (see `_blocked_pattern`).

    The leading @handle of a reply to that very account is not judged: a mention from
    @gertrude_fan can be answered although "gertrude" is blocked. Nothing else is exempt.
    """

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
        handle = (context.reply_to_username or "").lstrip("@")
        if handle:
            opening = re.compile(rf"^\s*[@＠]{re.escape(handle)}(?![A-Za-z0-9_])", re.IGNORECASE)
            text = opening.sub(" ", text, count=1)
        folded = blocklist_fold(text)
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
# Bluesky handles are domains (`@alice.bsky.social`) and remote Mastodon accounts carry their
# instance (`@alice@mastodon.social`): dots, hyphens and one `@domain` belong to the handle,
# but not a dot that ends the sentence.
MENTION_PATTERN = re.compile(
    r"(?<![\w@＠])[@＠]([A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?"
    r"(?:@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)?)"
)


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
    text = strip_urls(text, "")
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
        network: str = "x",
        max_length: int | None = None,
    ) -> Filters:
        """Build the chain from `[filters]`: `source_texts` are every source tweet's text (for
        novelty), `recent_posts` the bot's own posts of the last `dedupe_for` (for dedupe).

        `blocked_words` overrides `config.blocked_words()` (which reads the blocklist file);
        `network` ("x", "bluesky", "mastodon") picks the length rule's count and limit;
        `max_length` overrides that limit with the account's own (`Platform.limits()`).
        """
        settings = config.filters
        words = config.blocked_words() if blocked_words is None else list(blocked_words)
        own_posts = TextIndex(settings.max_verbatim_ngram, recent_posts)
        keys = {k for k in map(duplicate_key, recent_posts) if k}
        rules: list[Rule] = [
            ContentRule(),
            InvisibleRule(),
            LengthRule(max_length, network=network),
            BlockedWordsRule(words),
            UrlRule(settings.allow_urls),
            MentionRule(settings.allow_mentions),
            NoveltyRule(source_texts, settings.max_verbatim_ngram, settings.max_similarity),
            DedupeRule(own_posts, settings.max_similarity),
            DuplicateOnXRule(keys),
        ]
        return cls(rules=rules, own_posts=own_posts, duplicate_keys=keys)

    @classmethod
    def from_store(
        cls,
        config: Config,
        store: Store,
        *,
        network: str = "x",
        dry_run: bool = False,
        max_length: int | None = None,
    ) -> Filters:
        """`from_config` with every source tweet and the own posts of the last `dedupe_for`
        read from the store (a dry run dedupes against its own rows, live against live)."""
        from bot.corpus import source_texts

        since = utcnow() - timedelta(seconds=config.filters.dedupe_for)
        own = store.posted_texts_since(since, dry_run=dry_run)
        return cls.from_config(
            config, source_texts(store), own, network=network, max_length=max_length
        )

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


@dataclass(frozen=True)
class Judgement:
    """What `tweetbot check` reports: the text as it would be posted and every verdict."""

    text: str
    network: str
    verdicts: list[Verdict]

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts)

    def to_dict(self) -> dict[str, object]:
        return {
            "text": self.text,
            "network": self.network,
            "passed": self.passed,
            "verdicts": [v.to_dict() for v in self.verdicts],
        }


def judge_text(
    config: Config,
    store: Store,
    text: str,
    *,
    reply_to_username: str | None = None,
    network: str = "x",
) -> Judgement:
    """Judge `text` exactly as a candidate is judged: the filters built from the store as the
    daemon builds them (same corpus, same own posts), the text as the composer would send it.

    A reply opens with "@USER " (the composer adds it), so it is added when `text` does not
    already start with that handle. The text is not trimmed: an over-long one fails `length`.
    """
    filters = Filters.from_store(config, store, network=network, dry_run=config.bot.dry_run)
    handle = (reply_to_username or "").lstrip("@") or None
    if handle is not None:
        opening = re.compile(rf"^\s*[@＠]{re.escape(handle)}(?![A-Za-z0-9_])", re.IGNORECASE)
        if not opening.match(text):
            text = f"@{handle} {text.strip()}"
    return Judgement(text, network, filters.check(text, reply_to_username=handle))


def failed(verdicts: Iterable[Verdict]) -> list[Verdict]:
    """The verdicts that failed."""
    return [v for v in verdicts if not v.passed]
