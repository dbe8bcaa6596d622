"""The schema, built by numbered migrations; the applied ones are recorded in a table.

Schema (v2):

- `tweets` — source posts. Key (network, id). username, author_id, text, created_at, kind
  (original|retweet|reply|quote), in_reply_to_id, in_reply_to_user_id, referenced_id, source
  (api|archive), fetched_at, and the cleaning verdict: clean_text, kept (0/1), drop_reason.
- `posts` — the outbox, one row per post or reply per network. id (integer), key (a stable
  idempotency key, unique: see `OutboxQueries`), network (x|bluesky|mastodon), kind
  (post|reply), dry_run (0/1), status (`PostStatus`), text, alternates (JSON list of other
  candidates, for review), prompt, model_version, mention_id and in_reply_to_id (for replies),
  reason (why skipped/failed/unknown), remote_id (the network's id of the post; `tweet_id` in
  v1), created_at, updated_at, posted_at. A partial unique index allows at most one live
  (`LIVE_POST_STATUSES`) reply per (network, dry_run, mention_id).
- `mentions` — key (network, id); author_id, author_username, text, conversation_id,
  in_reply_to_user_id, in_reply_to_tweet_id, created_at, received_at, status
  (`MentionStatus`), reason.
- `state` — key/value text: `since_id:<network>:<stream>` (streams: `mentions`,
  `source:<username>`), `mentions_baseline:<network>`, `heartbeat`, `next_run:<job>`,
  `last_attempt:post`, `dry_run`, `outbox_key_salt`.
- `training_runs` — id, started_at, finished_at, status (`RunStatus`), version, error, metrics.
- `model_versions` — version (key), path, created_at, base, eval_loss, train_loss, current
  (0/1; a partial unique index allows one current row), metrics (JSON).
- `schema_migrations` — version, applied_at: one row per applied migration.

Why a table and not only `PRAGMA user_version`: `sqlite3 .dump` (and `iterdump()`) drop the
pragma, so a restored copy would look empty and be migrated again on top of its own tables.
user_version is still written, for tools that read it, and a v1 database (which only had the
pragma) is recognised by it, or by its tables when a dump lost it.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
from collections.abc import Callable

import sqlite_utils

from bot.store.clock import iso, utcnow
from bot.store.status import (
    LIVE_SQL,
    MentionStatus,
    Network,
    PostKind,
    PostStatus,
    sql_list,
)


def _migration_1(conn: sqlite3.Connection) -> None:
    # Shipped as-is; v2 rebuilds these tables.
    db = sqlite_utils.Database(conn)
    db.table("tweets").create(
        {
            "id": str,
            "username": str,
            "author_id": str,
            "text": str,
            "created_at": str,
            "kind": str,
            "in_reply_to_id": str,
            "in_reply_to_user_id": str,
            "referenced_id": str,
            "source": str,
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
            "kind": str,
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
    conn.execute(
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
            "status": str,
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
            "status": str,
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


NETWORKS_SQL = sql_list(list(Network))
TWEET_COLUMNS = (
    "network",
    "id",
    "username",
    "author_id",
    "text",
    "created_at",
    "kind",
    "in_reply_to_id",
    "in_reply_to_user_id",
    "referenced_id",
    "source",
    "fetched_at",
    "clean_text",
    "kept",
    "drop_reason",
)
MENTION_COLUMNS = (
    "network",
    "id",
    "author_id",
    "author_username",
    "text",
    "conversation_id",
    "in_reply_to_user_id",
    "in_reply_to_tweet_id",
    "created_at",
    "received_at",
    "status",
    "reason",
)


def outbox_key(salt: str, post_id: int) -> str:
    """The idempotency key of outbox row `post_id`: 32 hex digits, stable for the row's life.

    Derived, not random per row, so it can be recomputed; the per-database salt keeps two
    databases (a dry-run copy, a restored backup next to the live one) from sharing keys.
    """
    return hashlib.sha256(f"{salt}:{post_id}".encode()).hexdigest()[:32]


def _execute_all(conn: sqlite3.Connection, script: str) -> None:
    # Not executescript(): it COMMITs first, which would end the migration's transaction.
    for statement in script.split(";\n"):
        if statement.strip():
            conn.execute(statement)


def _migration_2(conn: sqlite3.Connection) -> None:
    """Networks, dry-run marking, idempotency keys, review fields; one current model."""
    _execute_all(
        conn,
        f"""
        CREATE TABLE tweets_v2 (
            network TEXT NOT NULL DEFAULT 'x' CHECK (network IN {NETWORKS_SQL}),
            id TEXT NOT NULL,
            username TEXT NOT NULL,
            author_id TEXT,
            text TEXT NOT NULL,
            created_at TEXT,
            kind TEXT NOT NULL,
            in_reply_to_id TEXT,
            in_reply_to_user_id TEXT,
            referenced_id TEXT,
            source TEXT,
            fetched_at TEXT,
            clean_text TEXT,
            kept INTEGER,
            drop_reason TEXT,
            PRIMARY KEY (network, id)
        );
        INSERT INTO tweets_v2 SELECT 'x', id, username, author_id, text, created_at, kind,
            in_reply_to_id, in_reply_to_user_id, referenced_id, source, fetched_at, clean_text,
            kept, drop_reason FROM tweets;
        DROP TABLE tweets;
        ALTER TABLE tweets_v2 RENAME TO tweets;
        CREATE INDEX idx_tweets_username_created_at ON tweets(username, created_at);
        CREATE INDEX idx_tweets_fetched_at ON tweets(fetched_at);

        CREATE TABLE mentions_v2 (
            network TEXT NOT NULL DEFAULT 'x' CHECK (network IN {NETWORKS_SQL}),
            id TEXT NOT NULL,
            author_id TEXT,
            author_username TEXT,
            text TEXT,
            conversation_id TEXT,
            in_reply_to_user_id TEXT,
            in_reply_to_tweet_id TEXT,
            created_at TEXT,
            received_at TEXT,
            status TEXT NOT NULL CHECK (status IN {sql_list(list(MentionStatus))}),
            reason TEXT,
            PRIMARY KEY (network, id)
        );
        INSERT INTO mentions_v2 SELECT 'x', id, author_id, author_username, text,
            conversation_id, in_reply_to_user_id, in_reply_to_tweet_id, created_at,
            received_at, status, reason FROM mentions;
        DROP TABLE mentions;
        ALTER TABLE mentions_v2 RENAME TO mentions;
        CREATE INDEX idx_mentions_status ON mentions(status);
        CREATE INDEX idx_mentions_author ON mentions(author_id, created_at);

        CREATE TABLE posts_v2 (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            network TEXT NOT NULL DEFAULT 'x' CHECK (network IN {NETWORKS_SQL}),
            kind TEXT NOT NULL CHECK (kind IN {sql_list(list(PostKind))}),
            dry_run INTEGER NOT NULL DEFAULT 0 CHECK (dry_run IN (0, 1)),
            status TEXT NOT NULL CHECK (status IN {sql_list(list(PostStatus))}),
            text TEXT,
            alternates TEXT NOT NULL DEFAULT '[]',
            prompt TEXT,
            model_version TEXT,
            mention_id TEXT,
            in_reply_to_id TEXT,
            reason TEXT,
            remote_id TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT,
            posted_at TEXT
        );
        -- v1 stored dry-run posts as `posted` with the dry-run platform's synthetic ids.
        INSERT INTO posts_v2 (id, key, network, kind, dry_run, status, text, prompt,
            model_version, mention_id, in_reply_to_id, reason, remote_id, created_at,
            updated_at, posted_at)
        SELECT id, 'v1-' || id, 'x', kind, coalesce(tweet_id LIKE 'dryrun-%', 0), status, text,
            prompt, model_version, mention_id, in_reply_to_id, reason, tweet_id, created_at,
            updated_at, posted_at FROM posts;
        DROP TABLE posts;
        ALTER TABLE posts_v2 RENAME TO posts;
        CREATE INDEX idx_posts_status_created_at ON posts(status, created_at);
        CREATE INDEX idx_posts_budget ON posts(network, dry_run, created_at);
        CREATE INDEX idx_posts_remote_id ON posts(remote_id);
        CREATE UNIQUE INDEX idx_posts_one_reply_per_mention
            ON posts(network, dry_run, mention_id)
            WHERE mention_id IS NOT NULL AND status IN {LIVE_SQL};

        UPDATE model_versions SET current = 0
            WHERE current = 1 AND version <> (SELECT max(version) FROM model_versions
                                              WHERE current = 1);
        CREATE UNIQUE INDEX idx_model_versions_one_current ON model_versions(current)
            WHERE current = 1;

        UPDATE state SET key = 'since_id:x:' || substr(key, 10) WHERE key LIKE 'since_id:%';
        """,
    )
    salt = secrets.token_hex(16)
    conn.execute(
        "INSERT INTO state (key, value, updated_at) VALUES ('outbox_key_salt', ?, ?)",
        [salt, iso(utcnow())],
    )
    ids = [row[0] for row in conn.execute("SELECT id FROM posts")]
    conn.executemany(
        "UPDATE posts SET key = ? WHERE id = ?", [(outbox_key(salt, i), i) for i in ids]
    )


# Append new migrations; never edit one that has shipped.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_migration_1, _migration_2]
SCHEMA_VERSION = len(MIGRATIONS)


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name])
    return row.fetchone() is not None


def stored_version(conn: sqlite3.Connection) -> int:
    """The schema version of an open database (0 for an empty one)."""
    pragma = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if _has_table(conn, "schema_migrations"):
        recorded = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
        return max(int(recorded or 0), pragma)
    if pragma:
        return pragma
    # A v1 database restored from a dump: its tables are there, its pragma is not.
    return 1 if _has_table(conn, "posts") else 0


def apply_migration(conn: sqlite3.Connection, number: int) -> None:
    """Run migration `number` (1-based) and record it; the caller holds the transaction."""
    MIGRATIONS[number - 1](conn)
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    # A v1 database never recorded its first migration in the table.
    conn.executemany(
        "INSERT OR IGNORE INTO schema_migrations (version, applied_at) VALUES (?, ?)",
        [(n, iso(utcnow())) for n in range(1, number + 1)],
    )
    conn.execute(f"PRAGMA user_version = {number}")
