"""Joining note-tweet.js long posts to their tweets: by snowflake time and opening text."""

from __future__ import annotations

import pytest

from bot.corpus.notes import NoteIndex, NoteTweet, note_from_entry

_MS = 1 << 22  # one millisecond in a snowflake id
BASE = 1_775_000_000_000 << 22


def _note(offset_ms: int, text: str) -> NoteTweet:
    return NoteTweet(BASE + offset_ms * _MS, text, ())


def test_the_note_written_just_before_a_tweet_joins_it_and_only_it() -> None:
    first = "The first long post of a thread, " + "and on " * 60
    second = "The second long post of the thread, " + "and on " * 60
    index = NoteIndex([_note(0, first), _note(600, second)])
    # A thread: each tweet follows its own note by a few ms; a plain tweet 500 ms later none.
    assert index.note_for(str(BASE + 20 * _MS), first[:270] + "… https://t.co/x") == index._notes[0]
    assert index.note_for(str(BASE + 520 * _MS), "a short reply in between") is None
    assert index.note_for(str(BASE + 630 * _MS), second[:200] + "…") == index._notes[1]
    assert index.joined == 2
    # Each note joins once.
    assert index.note_for(str(BASE + 21 * _MS), first[:270]) is None


@pytest.mark.parametrize(
    ("offset_ms", "text", "joins"),
    [
        (30, "Some long text that goes on", True),
        (30, "@alice @bob Some long text that goes on", True),  # notes leave reply handles out
        (30, "Some long text &amp; more", False),  # differs from the note after 20 characters
        (30, "Different opening entirely", False),
        (-5, "Some long text that goes on", False),  # a tweet never precedes its note
        (400, "Some long text that goes on", False),  # too late: another tweet's moment
    ],
)
def test_time_window_and_opening_text(offset_ms: int, text: str, joins: bool) -> None:
    index = NoteIndex([_note(0, "Some long text that goes on and on " * 10)])
    assert (index.note_for(str(BASE + offset_ms * _MS), text) is not None) is joins


def test_bad_note_entries_are_named() -> None:
    with pytest.raises(ValueError, match="not a noteTweet entry"):
        note_from_entry({"tweet": {}})
    with pytest.raises(ValueError, match="no numeric noteTweetId"):
        note_from_entry({"noteTweet": {"noteTweetId": "¹²", "core": {"text": "x"}}})
    note = note_from_entry(
        {"noteTweet": {"noteTweetId": "5", "core": {"text": "x https://t.co/a", "urls": [
            {"shortUrl": "https://t.co/a", "expandedUrl": "https://example.org/a"}]}}}
    )  # fmt: skip
    assert note == NoteTweet(5, "x https://t.co/a", (("https://t.co/a", "https://example.org/a"),))
