"""Read-only queries behind the operator console's pages (the console writes nothing here).

The console is a view of the database the daemon writes, from another process: each function
reads committed rows in one snapshot (WAL lets it do so while the daemon writes).
"""

from __future__ import annotations

from typing import Any

from bot.store import Store


def count_by_status(store: Store) -> dict[str, int]:
    """How many outbox rows are in each status."""
    with store.snapshot() as conn:
        rows = conn.execute("SELECT status, count(*) AS n FROM posts GROUP BY status").fetchall()
    return {row["status"]: int(row["n"]) for row in rows}


def mentions_with_replies(store: Store, limit: int = 1000) -> list[dict[str, Any]]:
    """Mentions, newest first, each with the outbox row that answered (or declined) it last.

    `reply_*` are None when no outbox row refers to the mention (never looked at yet).
    """
    with store.snapshot() as conn:
        rows = conn.execute(
            "SELECT m.*, p.id AS reply_post_id, p.status AS reply_status, "
            "p.text AS reply_text, p.reason AS reply_reason FROM mentions m "
            "LEFT JOIN posts p ON p.id = ("
            "  SELECT max(id) FROM posts WHERE mention_id = m.id AND network = m.network"
            ") ORDER BY m.created_at DESC, m.id DESC LIMIT ?",
            [limit],
        ).fetchall()
    return [dict(row) for row in rows]
