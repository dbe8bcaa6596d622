"""Long posts: joining `note-tweet.js` entries to the tweets they belong to.

tweets.js keeps a post over 280 characters cut ("…" plus a t.co link); its full text is in
note-tweet.js, and nothing there names the tweet: `noteTweetId` is an id of its own. Both ids are
snowflakes, though, and X creates the note a few milliseconds before its tweet (13 to 41 ms in
the real archives in ../shared/conformance; a thread's next tweet follows 500 ms or more later).
So a tweet's note is the latest one created within `_WINDOW_MS` before it whose text starts the
way the tweet's does, once the reply's leading @handles (which notes leave out) are set aside.
"""

from __future__ import annotations

import bisect
import html
import re
from dataclasses import dataclass
from typing import Any

# Snowflake ids carry milliseconds since X's epoch in their upper bits.
_TIMESTAMP_SHIFT = 22
_WINDOW_MS = 250
# How much of a tweet's start must agree with its note's.
_PREFIX_CHARS = 24
_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_LEADING_MENTIONS = re.compile(r"\A(?:\s*[.]?\s*@\w+)+\s*")
_NON_WORD = re.compile(r"\W+")


@dataclass(frozen=True)
class NoteTweet:
    """One long post's full text, with its t.co links and what they stand for."""

    note_id: int
    text: str
    urls: tuple[tuple[str, str], ...]


def note_from_entry(entry: Any) -> NoteTweet:
    """A note-tweet.js entry (`{"noteTweet": {"noteTweetId", "core": {"text", "urls"}}}`)."""
    note = entry.get("noteTweet") if isinstance(entry, dict) else None
    core = note.get("core") if isinstance(note, dict) else None
    if not isinstance(note, dict) or not isinstance(core, dict):
        raise ValueError("not a noteTweet entry")
    note_id = str(note.get("noteTweetId", ""))
    if not (note_id.isascii() and note_id.isdigit()):
        raise ValueError("no numeric noteTweetId")
    text = core.get("text")
    if not isinstance(text, str):
        raise ValueError(f"note {note_id} has no text")
    urls = tuple(
        (str(u["shortUrl"]), str(u["expandedUrl"]))
        for u in core.get("urls") or []
        if isinstance(u, dict) and u.get("shortUrl") and u.get("expandedUrl")
    )
    return NoteTweet(int(note_id), text, urls)


def _opening(text: str) -> str:
    """The comparable start of a text: no leading @handles, links, entities or punctuation."""
    text = _LEADING_MENTIONS.sub("", html.unescape(text))
    return _NON_WORD.sub("", _URL.sub(" ", text)).rstrip("…")[:_PREFIX_CHARS].casefold()


class NoteIndex:
    """The notes of one archive, found by the id and text of the tweet they belong to."""

    def __init__(self, notes: list[NoteTweet]) -> None:
        self._notes = sorted(notes, key=lambda n: n.note_id)
        self._times = [n.note_id >> _TIMESTAMP_SHIFT for n in self._notes]
        self._used: set[int] = set()

    def __len__(self) -> int:
        return len(self._notes)

    @property
    def joined(self) -> int:
        """How many notes have been joined to their tweet so far."""
        return len(self._used)

    def note_for(self, tweet_id: str, text: str) -> NoteTweet | None:
        """The note holding this tweet's full text, or None (each note joins one tweet)."""
        if not self._notes:
            return None
        moment = int(tweet_id) >> _TIMESTAMP_SHIFT
        first = bisect.bisect_left(self._times, moment - _WINDOW_MS)
        last = bisect.bisect_right(self._times, moment)
        opening = _opening(text)
        for index in range(last - 1, first - 1, -1):  # the closest first
            note = self._notes[index]
            if note.note_id in self._used:
                continue
            start = _opening(note.text)
            if opening and start.startswith(opening):
                self._used.add(note.note_id)
                return note
        return None
