"""SimulatedMentions: the offline mention source for the demo and credential-less dry runs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.errors import UsageError
from bot.platform import SimulatedMentions


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_release_by_call_and_by_time() -> None:
    clock = FakeClock()
    source = SimulatedMentions(
        [
            {"author": "a", "text": "first"},
            {"author": "b", "text": "on the third call", "after_calls": 2},
            {"author": "c", "text": "after a minute", "after": "1m"},
        ],
        clock=clock,
    )
    assert [m.text for m in source.mentions()] == ["first"]
    assert [m.text for m in source.mentions()] == ["first"]
    assert [m.text for m in source.mentions()] == ["first", "on the third call"]
    clock.now += 61
    assert [m.text for m in source.mentions()] == ["first", "on the third call", "after a minute"]


def test_since_id_ids_and_defaults() -> None:
    source = SimulatedMentions(
        [{"author": "@cat", "text": "@{bot} one"}, {"author": "cat", "text": "@{bot} two"}],
        bot_username="mybot",
    )
    first, second = source.mentions()
    assert int(first.id) < int(second.id)
    assert first.text == "@mybot one"
    assert first.author_username == "cat"
    assert first.author_id == second.author_id  # stable per author
    assert first.conversation_id == first.id
    assert first.in_reply_to_tweet_id is None
    # Released just now, so a reply policy's max_age accepts it.
    assert datetime.now(UTC) - first.created_at < timedelta(minutes=1)
    assert source.mentions(since_id=first.id) == [second]
    assert source.mentions(since_id=second.id) == []


def test_explicit_fields_are_kept() -> None:
    [mention] = SimulatedMentions(
        [
            {
                "id": "42",
                "author": "dog",
                "author_id": "7",
                "text": "a reply",
                "in_reply_to": "41",
                "in_reply_to_user_id": "0",
                "created_at": "2026-01-02T03:04:05Z",
            }
        ]
    ).mentions()
    assert (mention.id, mention.author_id, mention.conversation_id) == ("42", "7", "41")
    assert mention.in_reply_to_tweet_id == "41"
    assert mention.in_reply_to_user_id == "0"
    assert mention.created_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_from_file_accepts_a_bare_list(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps([{"text": "hi"}]), encoding="utf-8")
    assert len(SimulatedMentions.from_file(path)) == 1


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("{not json", "malformed JSON"),
        ('{"mentions": 3}', "expected a list"),
        ('[{"txt": "typo"}]', "unknown key 'txt'"),
        ('[{"text": ""}]', "non-empty string"),
        ('[{"text": "x", "id": "abc"}]', "must be digits"),
        ('[{"text": "x", "after_calls": -1}]', "after_calls"),
        ('[{"text": "x", "after": "soon"}]', "after"),
        ('[{"text": "x", "created_at": "yesterday"}]', "ISO 8601"),
        ("[3]", "must be an object"),
    ],
)
def test_bad_files_are_one_line_usage_errors(tmp_path: Path, content: str, says: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UsageError) as caught:
        SimulatedMentions.from_file(path)
    message = str(caught.value)
    assert says in message
    assert str(path) in message
    assert "\n" not in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not found"):
        SimulatedMentions.from_file(tmp_path / "absent.json")
