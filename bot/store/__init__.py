"""The one SQLite database (WAL) and every read and write of the bot's state.

The schema is built by numbered migrations recorded in `PRAGMA user_version`, so re-running them
is a no-op and a database from a newer tweetbot is refused rather than damaged. The daemon's jobs
run in scheduler threads, so one connection is shared behind a lock.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from bot.errors import StoreError

SQLITE_MAGIC = b"SQLite format 3\x00"

POST_STATUSES = ("pending", "posted", "failed", "skipped", "unknown")


def utcnow() -> datetime:
    """Aware UTC now; every timestamp in the store is UTC."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 text in UTC, the one timestamp format stored (sorts as text)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def parse_iso(text: str) -> datetime:
    """Inverse of `iso`."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _migration_1(db: sqlite_utils.Database) -> None:
    db.table("tweets").create(
        {
            "id": str,
            "username": str,
            "author_id": str,
            "text": str,
            "created_at": str,
            "kind": str,  # original | retweet | reply | quote
            "in_reply_to_id": str,
            "in_reply_to_user_id": str,
            "referenced_id": str,
            "source": str,  # api | archive
            "fetched_at": str,
            "clean_text": str,
            "kept": int,
            "drop_reason": str,
        },
        pk="id",
        not_null={"username", "text", "kind"},
    )
    db.table("tweets").create_index(["username", "created_at"])
    db.table("posts").create(
        {
            "id": int,
            "kind": str,  # post | reply
            "text": str,
            "status": str,
            "tweet_id": str,
            "model_version": str,
            "prompt": str,
            "mention_id": str,
            "in_reply_to_id": str,
            "reason": str,
            "created_at": str,
            "updated_at": str,
            "posted_at": str,
        },
        pk="id",
        not_null={"kind", "status", "created_at"},
    )
    db.table("posts").create_index(["status", "created_at"])
    # A mention is answered at most once, ever: the database enforces it, not only the code.
    db.execute(
        "CREATE UNIQUE INDEX idx_posts_one_reply_per_mention ON posts(mention_id) "
        "WHERE mention_id IS NOT NULL AND status IN ('pending', 'posted', 'unknown')"
    )
    db.table("mentions").create(
        {
            "id": str,
            "author_id": str,
            "author_username": str,
            "text": str,
            "conversation_id": str,
            "in_reply_to_user_id": str,
            "in_reply_to_tweet_id": str,
            "created_at": str,
            "received_at": str,
            "status": str,  # new | replied | ignored | failed
            "reason": str,
        },
        pk="id",
        not_null={"status"},
    )
    db.table("mentions").create_index(["status"])
    db.table("state").create({"key": str, "value": str, "updated_at": str}, pk="key")
    db.table("training_runs").create(
        {
            "id": int,
            "started_at": str,
            "finished_at": str,
            "status": str,  # running | succeeded | failed | rejected
            "version": str,
            "error": str,
            "metrics": str,
        },
        pk="id",
    )
    db.table("model_versions").create(
        {
            "version": str,
            "path": str,
            "created_at": str,
            "base": str,
            "eval_loss": float,
            "train_loss": float,
            "current": int,
            "metrics": str,
        },
        pk="version",
    )


# Append new migrations; never edit one that has shipped.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_migration_1]
SCHEMA_VERSION = len(MIGRATIONS)


def _check_is_sqlite(path: Path) -> None:
    if not path.exists():
        return
    if path.is_dir():
        raise StoreError(f"{path}: is a directory, not a tweetbot database")
    try:
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise StoreError(f"{path}: cannot read database ({exc.strerror})") from None
    # An empty file is what sqlite3 itself creates; anything else must carry the magic header.
    if head and head != SQLITE_MAGIC:
        raise StoreError(f"{path}: not a SQLite database (left untouched; move it away or fix it)")


class Store:
    """State of one bot: source tweets, outbox, mentions, model registry, key/value state."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        _check_is_sqlite(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            self._check_version(conn)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: corrupt or unreadable database ({exc})") from None
        self.db = sqlite_utils.Database(conn)
        self.migrate()

    def _check_version(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            conn.close()
            raise StoreError(
                f"{self.path}: written by a newer tweetbot (schema v{version}; this version "
                f"knows v{SCHEMA_VERSION}); upgrade tweetbot or use another data_dir"
            )

    def migrate(self) -> int:
        """Apply the migrations this database lacks, each in its own transaction."""
        with self._lock:
            current = self.schema_version
            for number, migration in enumerate(MIGRATIONS[current:], start=current + 1):
                with self.db.conn:
                    migration(self.db)
                    self.db.execute(f"PRAGMA user_version = {number}")
            return self.schema_version

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        """Checkpoint the WAL and close the connection."""
        with self._lock:
            try:
                self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self.db.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """All writes inside commit together or not at all."""
        with self._lock, self.db.conn:
            yield self.db

    def query(self, sql: str, params: Iterable[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read query as dicts."""
        with self._lock:
            return list(self.db.query(sql, params))  # type: ignore[arg-type]

    # ---- key/value state ---------------------------------------------------------------

    def get_state(self, key: str, default: str | None = None) -> str | None:
        """A value from the state table, or `default`."""
        rows = self.query("SELECT value FROM state WHERE key = ?", [key])
        return rows[0]["value"] if rows else default

    def set_state(self, key: str, value: str) -> None:
        """Store a value in the state table (committed at once)."""
        with self.transaction() as db:
            db.table("state").upsert(
                {"key": key, "value": value, "updated_at": iso(utcnow())}, pk="key"
            )

    def since_id(self, name: str) -> str | None:
        """The newest tweet id seen for a source or stream (`source:alice`, `mentions`)."""
        return self.get_state(f"since_id:{name}")

    def set_since_id(self, name: str, tweet_id: str) -> None:
        """Advance a since_id; never moves backwards (ids are snowflakes, compared as ints)."""
        current = self.since_id(name)
        if current is None or int(tweet_id) > int(current):
            self.set_state(f"since_id:{name}", tweet_id)

    def beat(self, moment: datetime | None = None) -> None:
        """Record the daemon's heartbeat."""
        self.set_state("heartbeat", iso(moment or utcnow()))

    def last_heartbeat(self) -> datetime | None:
        """When the daemon last recorded that it was alive."""
        value = self.get_state("heartbeat")
        return parse_iso(value) if value else None

    # ---- source tweets -----------------------------------------------------------------

    def insert_tweets(self, rows: Iterable[dict[str, Any]]) -> int:
        """Insert source tweets by id, ignoring ones already stored; returns how many were new."""
        rows = list(rows)
        if not rows:
            return 0
        with self.transaction() as db:
            before = db.table("tweets").count
            db.table("tweets").insert_all(rows, pk="id", ignore=True, alter=False)
            return db.table("tweets").count - before

    def tweets(self, username: str | None = None) -> list[dict[str, Any]]:
        """Stored source tweets, oldest first, optionally for one source."""
        if username is None:
            return self.query("SELECT * FROM tweets ORDER BY created_at, id")
        return self.query(
            "SELECT * FROM tweets WHERE lower(username) = lower(?) ORDER BY created_at, id",
            [username],
        )

    def update_verdicts(self, verdicts: Iterable[dict[str, Any]]) -> None:
        """Store cleaning results: dicts with id, clean_text, kept, drop_reason."""
        # One executemany: row-by-row table.update() took a second for a 2,400-tweet corpus.
        params = [(v["clean_text"], v["kept"], v["drop_reason"], v["id"]) for v in verdicts]
        with self.transaction() as db:
            db.conn.executemany(
                "UPDATE tweets SET clean_text = ?, kept = ?, drop_reason = ? WHERE id = ?", params
            )

    # ---- outbox ------------------------------------------------------------------------

    def add_pending_post(
        self,
        kind: str,
        text: str,
        *,
        prompt: str | None = None,
        model_version: str | None = None,
        mention_id: str | None = None,
        in_reply_to_id: str | None = None,
    ) -> int:
        """Write a post or reply to the outbox as `pending`, before X is called."""
        now = iso(utcnow())
        with self.transaction() as db:
            table = db.table("posts")
            table.insert(
                {
                    "kind": kind,
                    "text": text,
                    "status": "pending",
                    "prompt": prompt,
                    "model_version": model_version,
                    "mention_id": mention_id,
                    "in_reply_to_id": in_reply_to_id,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            return int(table.last_pk)  # type: ignore[arg-type]

    def mark_post(
        self, post_id: int, status: str, *, tweet_id: str | None = None, reason: str | None = None
    ) -> None:
        """Record the outcome of an outbox row: posted (with tweet id), failed, skipped, unknown."""
        if status not in POST_STATUSES:
            raise ValueError(f"unknown post status {status!r}")
        now = iso(utcnow())
        update: dict[str, Any] = {"status": status, "updated_at": now, "reason": reason}
        if tweet_id is not None:
            update["tweet_id"] = tweet_id
        if status == "posted":
            update["posted_at"] = now
        with self.transaction() as db:
            db.table("posts").update(post_id, update)

    def record_skip(
        self,
        kind: str,
        reason: str,
        *,
        text: str | None = None,
        prompt: str | None = None,
        mention_id: str | None = None,
        model_version: str | None = None,
    ) -> int:
        """Record a post or reply the bot decided not to make, with the reason."""
        now = iso(utcnow())
        with self.transaction() as db:
            table = db.table("posts")
            table.insert(
                {
                    "kind": kind,
                    "text": text,
                    "status": "skipped",
                    "reason": reason,
                    "prompt": prompt,
                    "mention_id": mention_id,
                    "model_version": model_version,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            return int(table.last_pk)  # type: ignore[arg-type]

    def posts(self, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Newest outbox rows first, optionally of one status."""
        if status is None:
            return self.query("SELECT * FROM posts ORDER BY id DESC LIMIT ?", [limit])
        return self.query(
            "SELECT * FROM posts WHERE status = ? ORDER BY id DESC LIMIT ?", [status, limit]
        )

    def posted_texts_since(self, since: datetime) -> list[str]:
        """Texts the bot posted (or may have posted) since a moment, for dedupe."""
        rows = self.query(
            "SELECT text FROM posts WHERE status IN ('posted', 'pending', 'unknown') "
            "AND created_at >= ? AND text IS NOT NULL",
            [iso(since)],
        )
        return [r["text"] for r in rows]

    def count_posts_since(self, since: datetime) -> int:
        """Posts and replies sent or possibly sent since a moment, for the budget caps."""
        rows = self.query(
            "SELECT count(*) AS n FROM posts WHERE status IN ('posted', 'pending', 'unknown') "
            "AND created_at >= ?",
            [iso(since)],
        )
        return int(rows[0]["n"])

    def last_post_time(self, kind: str = "post") -> datetime | None:
        """When the bot last posted (or tried to) a tweet of this kind."""
        rows = self.query(
            "SELECT max(created_at) AS at FROM posts WHERE kind = ? "
            "AND status IN ('posted', 'pending', 'unknown')",
            [kind],
        )
        return parse_iso(rows[0]["at"]) if rows and rows[0]["at"] else None

    # ---- mentions ----------------------------------------------------------------------

    def insert_mentions(self, rows: Iterable[dict[str, Any]]) -> int:
        """Store mentions by id, ignoring known ones; returns how many were new."""
        rows = [{"status": "new", "received_at": iso(utcnow()), **r} for r in rows]
        if not rows:
            return 0
        with self.transaction() as db:
            before = db.table("mentions").count
            db.table("mentions").insert_all(rows, pk="id", ignore=True, alter=False)
            return db.table("mentions").count - before

    def mentions(self, status: str | None = None) -> list[dict[str, Any]]:
        """Stored mentions, oldest first, optionally of one status."""
        if status is None:
            return self.query("SELECT * FROM mentions ORDER BY created_at, id")
        return self.query(
            "SELECT * FROM mentions WHERE status = ? ORDER BY created_at, id", [status]
        )

    def mark_mention(self, mention_id: str, status: str, reason: str | None = None) -> None:
        """Record what became of a mention: replied, ignored (with reason) or failed."""
        with self.transaction() as db:
            db.table("mentions").update(mention_id, {"status": status, "reason": reason})

    # ---- model registry ----------------------------------------------------------------

    def add_model_version(
        self,
        version: str,
        path: str,
        *,
        base: str,
        eval_loss: float | None,
        train_loss: float | None,
        metrics: dict[str, Any] | None = None,
    ) -> None:
        """Register a trained version (not current until promoted)."""
        with self.transaction() as db:
            db.table("model_versions").insert(
                {
                    "version": version,
                    "path": path,
                    "created_at": iso(utcnow()),
                    "base": base,
                    "eval_loss": eval_loss,
                    "train_loss": train_loss,
                    "current": 0,
                    "metrics": json.dumps(metrics or {}),
                },
                pk="version",
            )

    def model_versions(self) -> list[dict[str, Any]]:
        """Registered versions, newest first."""
        return self.query("SELECT * FROM model_versions ORDER BY created_at DESC, version DESC")

    def model_version(self, version: str) -> dict[str, Any] | None:
        """One registered version, or None."""
        rows = self.query("SELECT * FROM model_versions WHERE version = ?", [version])
        return rows[0] if rows else None

    def current_model(self) -> dict[str, Any] | None:
        """The version the daemon should load, or None before the first promotion."""
        rows = self.query("SELECT * FROM model_versions WHERE current = 1")
        return rows[0] if rows else None

    def set_current_model(self, version: str) -> None:
        """Make one registered version current (exactly one is current afterwards)."""
        with self.transaction() as db:
            if not db.execute(
                "SELECT 1 FROM model_versions WHERE version = ?", [version]
            ).fetchone():
                raise StoreError(f"model version {version!r} is not registered")
            db.execute("UPDATE model_versions SET current = 0 WHERE current = 1")
            db.execute("UPDATE model_versions SET current = 1 WHERE version = ?", [version])

    def delete_model_version(self, version: str) -> None:
        """Forget a version; refuses the current one."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT current FROM model_versions WHERE version = ?", [version]
            ).fetchone()
            if row and row[0]:
                raise StoreError(f"model version {version!r} is current and cannot be deleted")
            db.execute("DELETE FROM model_versions WHERE version = ?", [version])

    # ---- training runs -----------------------------------------------------------------

    def start_training_run(self) -> int:
        """Record that a training run began; returns its id."""
        with self.transaction() as db:
            table = db.table("training_runs")
            table.insert({"started_at": iso(utcnow()), "status": "running"})
            return int(table.last_pk)  # type: ignore[arg-type]

    def finish_training_run(
        self,
        run_id: int,
        status: str,
        *,
        version: str | None = None,
        error: str | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> None:
        """Record how a training run ended: succeeded, rejected (not promoted) or failed."""
        with self.transaction() as db:
            db.table("training_runs").update(
                run_id,
                {
                    "finished_at": iso(utcnow()),
                    "status": status,
                    "version": version,
                    "error": error,
                    "metrics": json.dumps(metrics) if metrics is not None else None,
                },
            )

    def training_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """Newest training runs first."""
        return self.query("SELECT * FROM training_runs ORDER BY id DESC LIMIT ?", [limit])
