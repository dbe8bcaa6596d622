"""Typed, frozen rows: what the store's queries return. `to_dict()` gives the JSON form.

Rows are built from `sqlite3.Row`s by column name, so a column added by a later migration
does not break an older reader. Mapping-style access (`row["status"]`) is kept only so code
written against the old dict rows still runs; new code uses attributes.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, Self

from bot.store.clock import parse_iso
from bot.store.status import LIVE_POST_STATUSES, MentionStatus, PostKind, PostStatus, RunStatus


class _Row:
    """Shared helpers of the row types."""

    @classmethod
    def from_sql(cls, row: sqlite3.Row) -> Self:
        """Build from a result row, taking only the columns this type knows."""
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        values = {k: row[k] for k in row.keys() if k in names}  # noqa: SIM118 (sqlite3.Row)
        return cls(**cls._convert(values))

    @classmethod
    def _convert(cls, values: dict[str, Any]) -> dict[str, Any]:
        return values

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (enums as their strings)."""
        values: dict[str, Any] = asdict(self)  # type: ignore[call-overload]
        return {k: str(v) if isinstance(v, StrEnum) else v for k, v in values.items()}

    def __getitem__(self, name: str) -> Any:
        # Compatibility with the dict rows of earlier versions (see the module docstring).
        try:
            return getattr(self, name)
        except AttributeError:
            raise KeyError(name) from None


@dataclass(frozen=True)
class TweetRow(_Row):
    """A source post (`tweets` table), with its cleaning verdict once computed."""

    network: str
    id: str
    username: str
    text: str
    kind: str  # original | retweet | reply | quote
    author_id: str | None = None
    created_at: str | None = None
    in_reply_to_id: str | None = None
    in_reply_to_user_id: str | None = None
    referenced_id: str | None = None
    source: str | None = None  # api | archive
    fetched_at: str | None = None
    clean_text: str | None = None
    kept: int | None = None
    drop_reason: str | None = None


@dataclass(frozen=True)
class OutboxRow(_Row):
    """One post or reply in the outbox (`posts` table)."""

    id: int
    key: str  # stable idempotency key (see OutboxQueries); Bluesky TID, Mastodon header
    network: str
    kind: PostKind
    dry_run: bool
    status: PostStatus
    created_at: str
    text: str | None = None
    alternates: tuple[str, ...] = ()  # other candidates an operator may pick in review mode
    prompt: str | None = None
    model_version: str | None = None
    mention_id: str | None = None
    in_reply_to_id: str | None = None  # the remote id replied to
    reason: str | None = None
    remote_id: str | None = None  # the id the network gave the post
    updated_at: str | None = None
    posted_at: str | None = None

    @classmethod
    def _convert(cls, values: dict[str, Any]) -> dict[str, Any]:
        values["kind"] = PostKind(values["kind"])
        values["status"] = PostStatus(values["status"])
        values["dry_run"] = bool(values["dry_run"])
        values["alternates"] = tuple(json.loads(values.get("alternates") or "[]"))
        return values

    @property
    def live(self) -> bool:
        """Whether the row counts against caps and dedupe (see LIVE_POST_STATUSES)."""
        return self.status in LIVE_POST_STATUSES

    @property
    def tweet_id(self) -> str | None:
        """The earlier, X-only name of `remote_id`."""
        return self.remote_id

    def to_dict(self) -> dict[str, Any]:
        """JSON form; `alternates` as a list."""
        out = super().to_dict()
        out["alternates"] = list(self.alternates)
        return out


@dataclass(frozen=True)
class MentionRow(_Row):
    """A stored mention of the bot (`mentions` table)."""

    network: str
    id: str
    status: MentionStatus
    author_id: str | None = None
    author_username: str | None = None
    text: str | None = None
    conversation_id: str | None = None
    in_reply_to_user_id: str | None = None
    in_reply_to_tweet_id: str | None = None
    created_at: str | None = None
    received_at: str | None = None
    reason: str | None = None

    @classmethod
    def _convert(cls, values: dict[str, Any]) -> dict[str, Any]:
        values["status"] = MentionStatus(values["status"])
        return values


@dataclass(frozen=True)
class ModelVersion(_Row):
    """A registered model version (`model_versions` table)."""

    version: str
    path: str
    created_at: str
    current: bool
    base: str | None = None
    eval_loss: float | None = None
    train_loss: float | None = None
    metrics: str | None = None  # JSON text

    @classmethod
    def _convert(cls, values: dict[str, Any]) -> dict[str, Any]:
        values["current"] = bool(values["current"])
        return values

    @property
    def created(self) -> datetime:
        """`created_at` as an aware datetime."""
        return parse_iso(self.created_at)


@dataclass(frozen=True)
class TrainingRun(_Row):
    """One `tweetbot train` or retrain job run (`training_runs` table)."""

    id: int
    started_at: str
    status: RunStatus
    finished_at: str | None = None
    version: str | None = None
    error: str | None = None
    metrics: str | None = None  # JSON text

    @classmethod
    def _convert(cls, values: dict[str, Any]) -> dict[str, Any]:
        values["status"] = RunStatus(values["status"])
        return values
