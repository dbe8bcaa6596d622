"""The review queue's queries: outbox rows waiting for an operator, and their transitions.

A post or reply written in approve mode is `awaiting_review`, with two or three `alternates`
(other candidates that passed the filters). The operator approves, rejects, edits the text or
swaps in an alternate; an item nobody acts on expires. Every transition is a compare-and-set
on the current status (`Store.mark_post` with `POST_TRANSITIONS`, or an UPDATE naming the
status it expects), so a console, the CLI and the daemon racing on one row (each its own
process on one SQLite file) settle it exactly once: the loser is told what the row has become
instead of overwriting it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.errors import UsageError
from bot.store import (
    MentionStatus,
    Network,
    OutboxRow,
    PostKind,
    PostStatus,
    Store,
    iso,
    utcnow,
)

AWAITING = PostStatus.AWAITING_REVIEW
APPROVED = PostStatus.APPROVED
REJECTED = PostStatus.REJECTED
EXPIRED = PostStatus.EXPIRED
# At most this many alternates are kept with an item (DESIGN.md: two or three).
MAX_ALTERNATES = 3

# The filters' verdict on a new text for an item: (rule, reason) for every rule that refused
# it. Built outside the store (bot/daemon/review.py), which knows no filters.
TextJudge = Callable[[str, "ReviewItem"], list[tuple[str, str]]]


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
    """One outbox row as the review queue shows it, with the mention a reply answers."""

    row: OutboxRow
    mention_author: str | None = None
    mention_text: str | None = None

    @property
    def id(self) -> int:
        return self.row.id

    @property
    def text(self) -> str:
        return self.row.text or ""

    @property
    def status(self) -> PostStatus:
        return self.row.status

    @property
    def kind(self) -> PostKind:
        return self.row.kind

    @property
    def network(self) -> str:
        return self.row.network

    @property
    def alternates(self) -> list[str]:
        return list(self.row.alternates)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form `review --json` and the console's twins give (id, text, network,
        kind, status, alternates, and the rest of the outbox row)."""
        out = self.row.to_dict()
        out.update(
            text=self.text, mention_author=self.mention_author, mention_text=self.mention_text
        )
        return out


_SELECT = (
    "SELECT p.*, m.author_username AS mention_author, m.text AS mention_text FROM posts p "
    "LEFT JOIN mentions m ON m.id = p.mention_id AND m.network = p.network"
)


def _items(store: Store, where: str, params: Sequence[object]) -> list[ReviewItem]:
    with store.snapshot() as conn:
        rows = conn.execute(f"{_SELECT} WHERE {where} ORDER BY p.id", list(params)).fetchall()
    return [ReviewItem(OutboxRow.from_sql(r), r["mention_author"], r["mention_text"]) for r in rows]


def add_for_review(
    store: Store,
    kind: PostKind | str,
    text: str,
    alternates: Sequence[str] = (),
    *,
    network: Network | str = Network.X,
    dry_run: bool = False,
    prompt: str | None = None,
    model_version: str | None = None,
    mention_id: str | None = None,
    in_reply_to_id: str | None = None,
) -> OutboxRow:
    """Write a chosen candidate as `awaiting_review` with up to three other candidates.

    Raises ReplyExists (from the store) when the mention already has a live reply.
    """
    others = list(dict.fromkeys(a for a in alternates if a and a != text))[:MAX_ALTERNATES]
    return store.add_post(
        kind,
        text,
        status=AWAITING,
        alternates=others,
        network=network,
        dry_run=dry_run,
        prompt=prompt,
        model_version=model_version,
        mention_id=mention_id,
        in_reply_to_id=in_reply_to_id,
    )


def awaiting(store: Store) -> list[ReviewItem]:
    """Items waiting for the operator, oldest first (the order they would have been sent)."""
    return _items(store, "p.status = ?", [str(AWAITING)])


def approved(
    store: Store,
    kind: PostKind | str | None = None,
    *,
    network: Network | str | None = None,
    dry_run: bool | None = None,
) -> list[ReviewItem]:
    """Approved items not yet handed to the outbox, oldest first (what the daemon sends)."""
    where, params = ["p.status = ?"], [str(APPROVED)]
    if kind is not None:
        where.append("p.kind = ?")
        params.append(str(PostKind(kind)))
    if network is not None:
        where.append("p.network = ?")
        params.append(str(Network(network)))
    if dry_run is not None:
        where.append("p.dry_run = ?")
        params.append(str(int(dry_run)))
    return _items(store, " AND ".join(where), params)


def item(store: Store, post_id: int) -> ReviewItem | None:
    """One outbox row as a review item, whatever its status; None when there is none."""
    found = _items(store, "p.id = ?", [post_id])
    return found[0] if found else None


def _require(store: Store, post_id: int, expected: PostStatus = AWAITING) -> ReviewItem:
    found = item(store, post_id)
    if found is None:
        raise ReviewError(f"no outbox row with id {post_id}")
    if found.status != expected:
        raise ReviewError(f"post {post_id} is {found.status}, not {expected}")
    return found


def _transition(
    store: Store,
    post_id: int,
    target: PostStatus,
    reason: str,
    mention_reason: str | None = None,
) -> ReviewItem:
    """Compare-and-set `awaiting_review` -> `target`; a row in any other state is refused.

    With `mention_reason`, a reply's mention is marked ignored in the same transaction: a
    reply the operator turned down (or that expired) is not drafted again.
    """
    mention = (MentionStatus.IGNORED, mention_reason) if mention_reason else None
    if not store.mark_post(post_id, target, expected={AWAITING}, reason=reason, mention=mention):
        _require(store, post_id)  # raises, naming what the row is now
    result = item(store, post_id)
    assert result is not None
    return result


def approve(store: Store, post_id: int) -> ReviewItem:
    """Approve an awaiting item: the daemon sends it under the usual outbox rules."""
    return _transition(store, post_id, APPROVED, "approved by the operator")


def reject(store: Store, post_id: int) -> ReviewItem:
    """Reject an awaiting item: it is never sent."""
    return _transition(
        store, post_id, REJECTED, "rejected by the operator", "reply rejected by the operator"
    )


def expire(store: Store, post_id: int, reason: str) -> ReviewItem:
    """Expire one awaiting item (too old to be worth sending): it is never sent."""
    return _transition(store, post_id, EXPIRED, reason, f"reply expired: {reason}")


def claim_approved(store: Store, post_id: int) -> bool:
    """Hand an approved item to the outbox: `approved` -> `pending`, compare-and-set.

    From here on the usual outbox rules hold (sent once, reconciled after a crash, never
    re-sent); False when the row is no longer approved (another sender took it).
    """
    return store.mark_post(post_id, PostStatus.PENDING, expected={APPROVED}, reason=None)


def expire_older_than(store: Store, cutoff: datetime, reason: str) -> list[int]:
    """Expire every awaiting item written before `cutoff`; returns their ids."""
    with store.transaction() as conn:
        ids = [
            int(r[0])
            for r in conn.execute(
                "SELECT id FROM posts WHERE status = ? AND created_at < ? ORDER BY id",
                [str(AWAITING), iso(cutoff)],
            ).fetchall()
        ]
        for post_id in ids:
            store.mark_post(
                post_id,
                EXPIRED,
                expected={AWAITING},
                reason=reason,
                mention=(MentionStatus.IGNORED, f"reply expired: {reason}"),
            )
    return ids


def expire_replies_to_old_mentions(store: Store, cutoff: datetime, reason: str) -> list[int]:
    """Expire awaiting or approved replies whose mention was written before `cutoff`."""
    with store.transaction() as conn:
        ids = [
            int(r[0])
            for r in conn.execute(
                "SELECT p.id FROM posts p JOIN mentions m "
                "ON m.id = p.mention_id AND m.network = p.network "
                "WHERE p.kind = 'reply' AND p.status IN (?, ?) AND m.created_at < ? "
                "ORDER BY p.id",
                [str(AWAITING), str(APPROVED), iso(cutoff)],
            ).fetchall()
        ]
        for post_id in ids:
            store.mark_post(
                post_id,
                EXPIRED,
                expected={AWAITING, APPROVED},
                reason=reason,
                mention=(MentionStatus.IGNORED, reason),
            )
    return ids


def _replace_text(
    store: Store, found: ReviewItem, text: str, alternates: list[str], judge: TextJudge
) -> ReviewItem:
    refusals = judge(text, found)
    if refusals:
        raise EditRefused(found.id, refusals)
    with store.transaction() as conn:
        changed = conn.execute(
            "UPDATE posts SET text = ?, alternates = ?, updated_at = ? "
            "WHERE id = ? AND status = ? AND text = ?",
            [text, json.dumps(alternates, ensure_ascii=False), iso(utcnow()), found.id,
             str(AWAITING), found.text],
        ).rowcount  # fmt: skip
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
    alternates = found.alternates
    chosen = alternates[index]
    alternates[index] = found.text
    return _replace_text(store, found, chosen, alternates, judge)
