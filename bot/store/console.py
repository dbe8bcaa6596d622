"""Read-only queries behind the operator console's pages (the console writes nothing here).

The console is a view of the database the daemon writes, from another process: each function
reads committed rows only (WAL lets it do so while the daemon writes).
"""

from __future__ import annotations

from typing import Any

from bot.store import Store


def next_runs(store: Store) -> dict[str, str]:
    """Job name -> when the scheduler last planned to run it next (ISO UTC)."""
    rows = store.query("SELECT key, value FROM state WHERE key LIKE 'next_run:%' ORDER BY key")
    return {row["key"].removeprefix("next_run:"): row["value"] for row in rows}


def outbox_rows(store: Store, limit: int = 1000) -> list[dict[str, Any]]:
    """Outbox rows, newest first, with their status and reason."""
    return store.query("SELECT * FROM posts ORDER BY id DESC LIMIT ?", [limit])


def count_by_status(store: Store) -> dict[str, int]:
    """How many outbox rows are in each status."""
    rows = store.query("SELECT status, count(*) AS n FROM posts GROUP BY status")
    return {row["status"]: int(row["n"]) for row in rows}


def mentions_with_replies(store: Store, limit: int = 1000) -> list[dict[str, Any]]:
    """Mentions, newest first, each with the outbox row that answered (or declined) it last.

    `reply_*` are None when no outbox row refers to the mention (never looked at yet).
    """
    return store.query(
        "SELECT m.*, p.id AS reply_post_id, p.status AS reply_status, p.text AS reply_text, "
        "p.reason AS reply_reason FROM mentions m LEFT JOIN posts p ON p.id = ("
        "  SELECT max(id) FROM posts WHERE mention_id = m.id"
        ") ORDER BY m.created_at DESC, m.id DESC LIMIT ?",
        [limit],
    )
