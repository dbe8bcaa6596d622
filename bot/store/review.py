"""The review queue's queries: outbox rows waiting for an operator, and their transitions.

A post or reply written in approve mode is `awaiting_review`, with two or three `alternates`
(other candidates that passed the filters) in a JSON list column. The operator approves,
rejects, edits the text or swaps in an alternate; an item nobody acts on expires. Every
transition is a compare-and-set on the current status inside one transaction, so a console, the
CLI and the daemon racing on the same row (each its own process on one SQLite file) settle it
exactly once: the loser is told what the row has become instead of overwriting it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.errors import UsageError
from bot.store import Store, iso, utcnow

AWAITING = "awaiting_review"
APPROVED = "approved"
REJECTED = "rejected"
EXPIRED = "expired"
REVIEW_STATUSES = (AWAITING, APPROVED, REJECTED, EXPIRED)

# The filters' verdict on a text: (rule, reason) for every rule that refused it.
TextJudge = Callable[[str, str | None], list[tuple[str, str]]]


class ReviewError(UsageError):
    """The operator asked for a transition the row cannot make (unknown id, already settled)."""


class EditRefused(ReviewError):
    """An edited or picked text failed the filters; `refusals` names each rule and reason."""

    exit_code = 1

    def __init__(self, post_id: int, refusals: Sequence[tuple[str, str]]) -> None:
        self.post_id = post_id
        self.refusals = list(refusals)
        named = "; ".join(f"{rule}: {reason}" for rule, reason in self.refusals)
        super().__init__(f"post {post_id}: the filters refused the text ({named})")


@dataclass(frozen=True)
class ReviewItem:
    """One outbox row as the review queue shows it."""

    id: int
    kind: str  # post | reply
    network: str
    text: str
    status: str
    alternates: list[str] = field(default_factory=list)
    created_at: str = ""
    updated_at: str = ""
    prompt: str | None = None
    model_version: str | None = None
    mention_id: str | None = None
    in_reply_to_id: str | None = None
    reason: str | None = None
    # For replies: who wrote the mention and what it said, so the operator sees the context.
    mention_author: str | None = None
    mention_text: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form `review --json` and the console's twins give."""
        return {
            "id": self.id,
            "text": self.text,
            "network": self.network,
            "kind": self.kind,
            "status": self.status,
            "alternates": list(self.alternates),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "prompt": self.prompt,
            "model_version": self.model_version,
            "mention_id": self.mention_id,
            "in_reply_to_id": self.in_reply_to_id,
            "reason": self.reason,
            "mention_author": self.mention_author,
            "mention_text": self.mention_text,
        }


def ensure_review_columns(store: Store) -> None:
    """Add the `alternates` column to the outbox when this database lacks it (idempotent).

    Kept out of the numbered migrations so this module merges without touching the store's
    schema file; it becomes a numbered migration when the store's layout settles.
    """
    with store.transaction() as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(posts)").fetchall()}
        if "alternates" not in columns:
            db.execute("ALTER TABLE posts ADD COLUMN alternates TEXT")


_SELECT = (
    "SELECT p.*, m.author_username AS mention_author, m.text AS mention_text "
    "FROM posts p LEFT JOIN mentions m ON m.id = p.mention_id"
)


def _item(row: dict[str, Any]) -> ReviewItem:
    raw = row.get("alternates")
    try:
        alternates = [str(a) for a in json.loads(raw)] if raw else []
    except (TypeError, ValueError):
        alternates = []  # a hand-edited cell must not break the whole queue
    return ReviewItem(
        id=int(row["id"]),
        kind=row["kind"],
        network=row.get("network") or "x",
        text=row["text"] or "",
        status=row["status"],
        alternates=alternates,
        created_at=row["created_at"] or "",
        updated_at=row["updated_at"] or "",
        prompt=row.get("prompt"),
        model_version=row.get("model_version"),
        mention_id=row.get("mention_id"),
        in_reply_to_id=row.get("in_reply_to_id"),
        reason=row.get("reason"),
        mention_author=row.get("mention_author"),
        mention_text=row.get("mention_text"),
    )


def add_for_review(
    store: Store,
    kind: str,
    text: str,
    alternates: Sequence[str] = (),
    *,
    prompt: str | None = None,
    model_version: str | None = None,
    mention_id: str | None = None,
    in_reply_to_id: str | None = None,
) -> int:
    """Write a chosen candidate as `awaiting_review` with its alternates; returns the row id."""
    ensure_review_columns(store)
    now = iso(utcnow())
    with store.transaction() as db:
        table = db.table("posts")
        table.insert(
            {
                "kind": kind,
                "text": text,
                "status": AWAITING,
                "alternates": json.dumps([a for a in alternates if a != text][:3]),
                "prompt": prompt,
                "model_version": model_version,
                "mention_id": mention_id,
                "in_reply_to_id": in_reply_to_id,
                "created_at": now,
                "updated_at": now,
            }
        )
        return int(table.last_pk)  # type: ignore[arg-type]


def awaiting(store: Store) -> list[ReviewItem]:
    """Items waiting for the operator, oldest first (the order they would have been sent)."""
    ensure_review_columns(store)
    rows = store.query(f"{_SELECT} WHERE p.status = ? ORDER BY p.id", [AWAITING])
    return [_item(row) for row in rows]


def approved(store: Store, kind: str | None = None) -> list[ReviewItem]:
    """Approved items not yet handed to the outbox, oldest first (what the daemon sends)."""
    ensure_review_columns(store)
    if kind is None:
        rows = store.query(f"{_SELECT} WHERE p.status = ? ORDER BY p.id", [APPROVED])
    else:
        rows = store.query(
            f"{_SELECT} WHERE p.status = ? AND p.kind = ? ORDER BY p.id", [APPROVED, kind]
        )
    return [_item(row) for row in rows]


def item(store: Store, post_id: int) -> ReviewItem | None:
    """One outbox row as a review item, whatever its status; None when there is none."""
    ensure_review_columns(store)
    rows = store.query(f"{_SELECT} WHERE p.id = ?", [post_id])
    return _item(rows[0]) if rows else None


def _require(store: Store, post_id: int, expected: str = AWAITING) -> ReviewItem:
    found = item(store, post_id)
    if found is None:
        raise ReviewError(f"no outbox row with id {post_id}")
    if found.status != expected:
        raise ReviewError(f"post {post_id} is {found.status}, not {expected}")
    return found


def _transition(
    store: Store, post_id: int, new_status: str, *, reason: str | None = None
) -> ReviewItem:
    """Compare-and-set `awaiting_review` -> `new_status`; a row in any other state is refused."""
    ensure_review_columns(store)
    with store.transaction() as db:
        cursor = db.execute(
            "UPDATE posts SET status = ?, reason = coalesce(?, reason), updated_at = ? "
            "WHERE id = ? AND status = ?",
            [new_status, reason, iso(utcnow()), post_id, AWAITING],
        )
        changed = cursor.rowcount
    if changed != 1:
        _require(store, post_id)  # raises, naming what the row is now
    result = item(store, post_id)
    assert result is not None
    return result


def approve(store: Store, post_id: int) -> ReviewItem:
    """Approve an awaiting item: the daemon sends it under the usual outbox rules."""
    return _transition(store, post_id, APPROVED, reason="approved by the operator")


def reject(store: Store, post_id: int) -> ReviewItem:
    """Reject an awaiting item: it is never sent."""
    return _transition(store, post_id, REJECTED, reason="rejected by the operator")


def claim_approved(store: Store, post_id: int) -> bool:
    """Hand an approved item to the outbox: `approved` -> `pending`, compare-and-set.

    From here on the usual outbox rules hold (sent once, reconciled after a crash, never
    re-sent); False when the row is no longer approved (another sender took it).
    """
    with store.transaction() as db:
        cursor = db.execute(
            "UPDATE posts SET status = 'pending', updated_at = ? WHERE id = ? AND status = ?",
            [iso(utcnow()), post_id, APPROVED],
        )
        return bool(cursor.rowcount == 1)


def expire(store: Store, post_id: int, reason: str) -> ReviewItem:
    """Expire one awaiting item (too old to be worth sending): it is never sent."""
    return _transition(store, post_id, EXPIRED, reason=reason)


def expire_older_than(
    store: Store, cutoff: datetime, reason: str, statuses: Sequence[str] = (AWAITING,)
) -> list[int]:
    """Expire every item in `statuses` (awaiting by default) written before `cutoff`."""
    ensure_review_columns(store)
    marks = ", ".join("?" for _ in statuses)
    with store.transaction() as db:
        ids = [
            int(row[0])
            for row in db.execute(
                f"SELECT id FROM posts WHERE status IN ({marks}) AND created_at < ?",
                [*statuses, iso(cutoff)],
            ).fetchall()
        ]
        for post_id in ids:
            db.execute(
                f"UPDATE posts SET status = ?, reason = ?, updated_at = ? "
                f"WHERE id = ? AND status IN ({marks})",
                [EXPIRED, reason, iso(utcnow()), post_id, *statuses],
            )
    return ids


def expire_replies_to_old_mentions(store: Store, cutoff: datetime, reason: str) -> list[int]:
    """Expire awaiting or approved replies whose mention was written before `cutoff`."""
    ensure_review_columns(store)
    with store.transaction() as db:
        ids = [
            int(row[0])
            for row in db.execute(
                "SELECT p.id FROM posts p JOIN mentions m ON m.id = p.mention_id "
                "WHERE p.kind = 'reply' AND p.status IN (?, ?) AND m.created_at < ?",
                [AWAITING, APPROVED, iso(cutoff)],
            ).fetchall()
        ]
        for post_id in ids:
            db.execute(
                "UPDATE posts SET status = ?, reason = ?, updated_at = ? "
                "WHERE id = ? AND status IN (?, ?)",
                [EXPIRED, reason, iso(utcnow()), post_id, AWAITING, APPROVED],
            )
    return ids


def _reply_target(found: ReviewItem) -> str | None:
    return found.mention_author if found.kind == "reply" else None


def _replace_text(
    store: Store, found: ReviewItem, text: str, alternates: list[str], judge: TextJudge
) -> ReviewItem:
    refusals = judge(text, _reply_target(found))
    if refusals:
        raise EditRefused(found.id, refusals)
    with store.transaction() as db:
        cursor = db.execute(
            "UPDATE posts SET text = ?, alternates = ?, updated_at = ? "
            "WHERE id = ? AND status = ? AND text = ?",
            [text, json.dumps(alternates), iso(utcnow()), found.id, AWAITING, found.text],
        )
        changed = cursor.rowcount
    if changed != 1:
        current = _require(store, found.id)
        raise ReviewError(f"post {found.id} changed meanwhile (now: {current.text!r}); retry")
    result = item(store, found.id)
    assert result is not None
    return result


def edit(store: Store, post_id: int, text: str, judge: TextJudge) -> ReviewItem:
    """Replace an awaiting item's text; the new text must pass the filters (`judge`) again."""
    text = text.strip()
    found = _require(store, post_id)
    if not text:
        raise EditRefused(post_id, [("content", "the text is empty")])
    if text == found.text:
        return found
    return _replace_text(store, found, text, found.alternates, judge)


def pick_alternate(store: Store, post_id: int, index: int, judge: TextJudge) -> ReviewItem:
    """Make alternate `index` the item's text; the text it replaces becomes that alternate."""
    found = _require(store, post_id)
    if not 0 <= index < len(found.alternates):
        raise ReviewError(f"post {post_id} has no alternate {index}")
    alternates = list(found.alternates)
    chosen = alternates[index]
    alternates[index] = found.text
    return _replace_text(store, found, chosen, alternates, judge)


def filters_judge(filters: Any) -> TextJudge:
    """A `TextJudge` from a `bot.filters.Filters`: the refusing rules of its verdicts."""

    def judge(text: str, reply_to_username: str | None) -> list[tuple[str, str]]:
        verdicts = filters.check(text, reply_to_username=reply_to_username)
        return [(v.rule, v.reason) for v in verdicts if not v.passed]

    return judge
