"""The one SQLite database (WAL): every read and write of the bot's state goes through here.

Nothing outside this package writes SQL. The package is split by concern:

- `database.py` — opening, migrating, real transactions (`Store.transaction()` is
  BEGIN IMMEDIATE ... COMMIT/ROLLBACK), the shared connection and its lock;
- `schema.py` — the numbered migrations and the schema (documented there);
- `status.py` — `Network`, `PostKind`, `PostStatus`, `MentionStatus`, `RunStatus`, and
  `LIVE_POST_STATUSES`, the one definition of "counts against caps and dedupe";
- `rows.py` — the typed, frozen rows the queries return (`to_dict()` for JSON);
- `state.py`, `tweets.py`, `outbox.py`, `mentions.py`, `registry.py` — the queries per table.

`Store` is all of them in one object, handed to whoever needs the database.
"""

from __future__ import annotations

from bot.store.clock import iso, parse_iso, utcnow
from bot.store.database import SQLITE_MAGIC
from bot.store.outbox import ReplyExists
from bot.store.registry import RegistryQueries
from bot.store.rows import MentionRow, ModelVersion, OutboxRow, TrainingRun, TweetRow
from bot.store.schema import MIGRATIONS, SCHEMA_VERSION
from bot.store.state import since_id_key
from bot.store.status import (
    LIVE_POST_STATUSES,
    POST_TRANSITIONS,
    MentionStatus,
    Network,
    PostKind,
    PostStatus,
    RunStatus,
)
from bot.store.tweets import TweetQueries


class Store(RegistryQueries, TweetQueries):
    """State of one bot: source posts, outbox, mentions, model registry, key/value state."""


__all__ = [
    "LIVE_POST_STATUSES",
    "MIGRATIONS",
    "POST_TRANSITIONS",
    "SCHEMA_VERSION",
    "SQLITE_MAGIC",
    "MentionRow",
    "MentionStatus",
    "ModelVersion",
    "Network",
    "OutboxRow",
    "PostKind",
    "PostStatus",
    "ReplyExists",
    "RunStatus",
    "Store",
    "TrainingRun",
    "TweetRow",
    "iso",
    "parse_iso",
    "since_id_key",
    "utcnow",
]
