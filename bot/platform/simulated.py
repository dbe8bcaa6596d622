"""Offline, simulated mentions: the demo and dry runs without credentials still get replies to make.

A JSON file lists mentions from fictional accounts; each is released after a number of
`mentions()` calls and/or a delay, so a running daemon sees them arrive over time, the way it
would on X:

    {"mentions": [
      {"author": "curious_cat", "text": "@{bot} what's for dinner?"},
      {"author": "curious_cat", "text": "@{bot} hello again", "after_calls": 2},
      {"author": "night_owl", "text": "@{bot} still up?", "after": "30s"}
    ]}

Keys per mention: `text` (required; `{bot}` becomes the bot's username), `author`, `author_id`,
`id`, `in_reply_to` (a tweet id), `in_reply_to_user_id`, `conversation_id`, `created_at` (ISO
8601; by default the moment it is released, so reply age limits see a fresh mention),
`after_calls` (released on call number `after_calls + 1`; default 0) and `after` (a duration
since the source was loaded; default "0s"). A bare list instead of {"mentions": [...]} works too.
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.config import parse_duration
from bot.errors import UsageError
from bot.platform.base import Mention

# Simulated ids sit far above today's real tweet ids, in the same numeric space, so since_id
# comparisons behave as they do on X.
_FIRST_ID = 1_990_000_000_000_000_000
_KEYS = {
    "text",
    "author",
    "author_id",
    "id",
    "in_reply_to",
    "in_reply_to_user_id",
    "conversation_id",
    "created_at",
    "after_calls",
    "after",
}


@dataclass(frozen=True)
class _Planned:
    """A mention waiting for its release."""

    id: str
    author: str
    author_id: str
    text: str
    in_reply_to: str | None
    in_reply_to_user_id: str | None
    conversation_id: str
    created_at: datetime | None
    after_calls: int
    after_seconds: float


class SimulatedMentions:
    """Mentions released over calls and time, for dry runs that have no X account to read."""

    def __init__(
        self,
        entries: list[Mapping[str, Any]],
        *,
        bot_username: str = "tweetbot",
        source: str = "<simulated mentions>",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._started = clock()
        self._calls = 0
        self._released: dict[str, datetime] = {}
        self._planned = [
            _plan(entry, index, bot_username, f"{source}: mention {index + 1}")
            for index, entry in enumerate(entries)
        ]

    @classmethod
    def from_file(cls, path: Path, *, bot_username: str = "tweetbot") -> SimulatedMentions:
        """Load a JSON file (see the module docstring); a bad file is one UsageError line."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsageError(f"{path}: simulated mentions file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{path}: cannot read simulated mentions ({exc})") from None
        except ValueError as exc:
            raise UsageError(f"{path}: malformed JSON ({exc})") from None
        entries = raw.get("mentions") if isinstance(raw, dict) else raw
        if not isinstance(entries, list):
            raise UsageError(f'{path}: expected a list or {{"mentions": [...]}}')
        return cls(entries, bot_username=bot_username, source=str(path))

    def __len__(self) -> int:
        return len(self._planned)

    def mentions(self, since_id: str | None = None) -> list[Mention]:
        """The released mentions newer than `since_id`, oldest first; each call may release more."""
        self._calls += 1
        elapsed = self._clock() - self._started
        now = datetime.now(UTC)
        found = []
        for plan in self._planned:
            if plan.after_calls >= self._calls or plan.after_seconds > elapsed:
                continue
            released_at = self._released.setdefault(plan.id, now)
            if since_id is not None and int(plan.id) <= int(since_id):
                continue
            found.append(
                Mention(
                    id=plan.id,
                    author_id=plan.author_id,
                    author_username=plan.author,
                    text=plan.text,
                    conversation_id=plan.conversation_id,
                    created_at=plan.created_at or released_at,
                    in_reply_to_user_id=plan.in_reply_to_user_id,
                    in_reply_to_tweet_id=plan.in_reply_to,
                )
            )
        return sorted(found, key=lambda m: int(m.id))


def _plan(entry: Mapping[str, Any], index: int, bot_username: str, where: str) -> _Planned:
    if not isinstance(entry, Mapping):
        raise UsageError(f"{where}: must be an object with at least `text`")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})")
    text = entry.get("text")
    if not isinstance(text, str) or not text.strip():
        raise UsageError(f"{where}: `text` must be a non-empty string")
    author = str(entry.get("author") or "simulated_user").lstrip("@")
    mention_id = str(entry.get("id") or _FIRST_ID + index)
    if not mention_id.isdigit():
        raise UsageError(f"{where}: `id` must be digits, like X's ids (got {mention_id!r})")
    # A stable id per fictional author, so per-user reply limits work across runs.
    author_id = str(entry.get("author_id") or 10_000_000 + zlib.crc32(author.encode()) % 10**9)
    created_at = None
    if entry.get("created_at"):
        try:
            created_at = datetime.fromisoformat(str(entry["created_at"]).replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"{where}: `created_at` is not ISO 8601") from None
        if created_at.tzinfo is None:
            created_at = created_at.replace(tzinfo=UTC)
    after_calls = entry.get("after_calls", 0)
    if isinstance(after_calls, bool) or not isinstance(after_calls, int) or after_calls < 0:
        raise UsageError(f"{where}: `after_calls` must be a whole number >= 0")
    try:
        after_seconds = parse_duration(entry.get("after", "0s"))
    except ValueError as exc:
        raise UsageError(f"{where}: `after` {exc}") from None
    in_reply_to = _opt(entry.get("in_reply_to"))
    return _Planned(
        id=mention_id,
        author=author,
        author_id=author_id,
        text=text.replace("{bot}", bot_username),
        in_reply_to=in_reply_to,
        in_reply_to_user_id=_opt(entry.get("in_reply_to_user_id")),
        conversation_id=str(entry.get("conversation_id") or in_reply_to or mention_id),
        created_at=created_at,
        after_calls=after_calls,
        after_seconds=after_seconds,
    )


def _opt(value: Any) -> str | None:
    return None if value in (None, "") else str(value)
