"""The `posts` table: the outbox. Every post and reply, sent or not, with why.

A row's `key` is its idempotency key: 32 hex digits derived from the row id and a random salt
made once per database (`outbox_key_salt` in `state`), so it never changes for the row and is
known before the network is called. The Bluesky platform derives the post's record key (a TID)
from it, Mastodon sends it as `Idempotency-Key`; X has none.

Every status change is a compare-and-set (`mark_post`): the UPDATE names the statuses the row
may come from (`POST_TRANSITIONS`), so of two jobs settling one row only the first wins, and
a posted row can never be turned `unknown` by a late reconcile.

Dry-run rows (`dry_run = 1`) and live rows are two separate worlds: caps, dedupe, the
schedule and the one-reply-per-mention rule each count only rows of the same kind as the
caller, so a rehearsal never eats the live budget and vice versa.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import datetime

from bot.errors import StoreError
from bot.store.clock import iso, parse_iso, utcnow
from bot.store.rows import OutboxRow
from bot.store.schema import outbox_key
from bot.store.state import StateQueries
from bot.store.status import (
    LIVE_SQL,
    POST_TRANSITIONS,
    MentionStatus,
    Network,
    PostKind,
    PostStatus,
    sql_list,
)


class ReplyExists(StoreError):
    """The outbox already holds a live reply to this mention (the unique index said no)."""


class OutboxQueries(StateQueries):
    """Outbox rows and the counts the caps, dedupe and reply policy need."""

    _salt: str | None = None

    def _key_for(self, post_id: int) -> str:
        if self._salt is None:
            salt = self.get_state("outbox_key_salt")
            if salt is None:
                raise StoreError(f"{self.path}: outbox_key_salt is missing from state")
            self._salt = salt
        return outbox_key(self._salt, post_id)

    def add_post(
        self,
        kind: PostKind | str,
        text: str | None,
        *,
        status: PostStatus | str = PostStatus.PENDING,
        network: Network | str = Network.X,
        dry_run: bool = False,
        prompt: str | None = None,
        model_version: str | None = None,
        mention_id: str | None = None,
        in_reply_to_id: str | None = None,
        alternates: Iterable[str] = (),
        reason: str | None = None,
    ) -> OutboxRow:
        """Write an outbox row (by default `pending`, before the network is called).

        Raises ReplyExists when this would be a second live reply to one mention.
        """
        now = iso(utcnow())
        with self.transaction() as conn:
            # Under BEGIN IMMEDIATE nobody else can take the same id before the insert.
            post_id = int(conn.execute("SELECT coalesce(max(id), 0) + 1 FROM posts").fetchone()[0])
            try:
                conn.execute(
                    "INSERT INTO posts (id, key, network, kind, dry_run, status, text, "
                    "alternates, prompt, model_version, mention_id, in_reply_to_id, reason, "
                    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        post_id,
                        self._key_for(post_id),
                        str(Network(network)),
                        str(PostKind(kind)),
                        int(dry_run),
                        str(PostStatus(status)),
                        text,
                        json.dumps(list(alternates), ensure_ascii=False),
                        prompt,
                        model_version,
                        mention_id,
                        in_reply_to_id,
                        reason,
                        now,
                        now,
                    ],
                )
            except sqlite3.IntegrityError as exc:
                if "mention_id" in str(exc) or "posts.network" in str(exc):
                    raise ReplyExists(f"mention {mention_id} already has a live reply") from None
                raise
            row = conn.execute("SELECT * FROM posts WHERE id = ?", [post_id]).fetchone()
            return OutboxRow.from_sql(row)

    def record_skip(
        self,
        kind: PostKind | str,
        reason: str,
        *,
        text: str | None = None,
        prompt: str | None = None,
        mention_id: str | None = None,
        model_version: str | None = None,
        network: Network | str = Network.X,
        dry_run: bool = False,
    ) -> int:
        """Record a post or reply the bot decided not to make, with the reason; its id."""
        row = self.add_post(
            kind,
            text,
            status=PostStatus.SKIPPED,
            reason=reason,
            prompt=prompt,
            mention_id=mention_id,
            model_version=model_version,
            network=network,
            dry_run=dry_run,
        )
        return row.id

    def mark_post(
        self,
        post_id: int,
        status: PostStatus | str,
        *,
        expected: Iterable[PostStatus] | None = None,
        remote_id: str | None = None,
        reason: str | None = None,
        mention: tuple[MentionStatus, str | None] | None = None,
    ) -> bool:
        """Move a row to `status` if it is still in one of `expected` (by default the
        statuses `POST_TRANSITIONS` allows); True when it moved.

        `mention` (status, reason) is written to the row's mention in the same transaction,
        only when the row moved.
        """
        target = PostStatus(status)
        allowed = frozenset(expected) if expected is not None else POST_TRANSITIONS.get(target)
        if not allowed:
            raise ValueError(f"no outbox row may move to {target!r}")
        now = iso(utcnow())
        with self.transaction() as conn:
            changed = conn.execute(
                "UPDATE posts SET status = ?, updated_at = ?, reason = ?, "
                "remote_id = coalesce(?, remote_id), "
                "posted_at = CASE WHEN ? = 'posted' THEN ? ELSE posted_at END "
                f"WHERE id = ? AND status IN {sql_list(allowed)}",
                [str(target), now, reason, remote_id, str(target), now, post_id],
            ).rowcount
            if changed and mention is not None:
                conn.execute(
                    "UPDATE mentions SET status = ?, reason = ? WHERE (network, id) = "
                    "(SELECT network, mention_id FROM posts WHERE id = ?)",
                    [str(MentionStatus(mention[0])), mention[1], post_id],
                )
            return bool(changed)

    def post(self, post_id: int) -> OutboxRow | None:
        """One outbox row, or None."""
        row = self._one("SELECT * FROM posts WHERE id = ?", [post_id])
        return OutboxRow.from_sql(row) if row else None

    def posts(
        self,
        status: PostStatus | str | None = None,
        limit: int = 50,
        *,
        network: Network | str | None = None,
        dry_run: bool | None = None,
    ) -> list[OutboxRow]:
        """Newest outbox rows first, optionally of one status, network, dry-run or live."""
        where, params = self._filter(network, dry_run)
        if status is not None:
            where.append("status = ?")
            params.append(str(PostStatus(status)))
        rows = self._all(
            f"SELECT * FROM posts WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?",
            [*params, limit],
        )
        return [OutboxRow.from_sql(r) for r in rows]

    def pending_posts(self, network: Network | str | None = None) -> list[OutboxRow]:
        """Every `pending` row, oldest first (what reconcile looks at)."""
        where, params = self._filter(network, None)
        rows = self._all(
            f"SELECT * FROM posts WHERE {' AND '.join(where)} AND status = 'pending' ORDER BY id",
            params,
        )
        return [OutboxRow.from_sql(r) for r in rows]

    @staticmethod
    def _filter(
        network: Network | str | None, dry_run: bool | None
    ) -> tuple[list[str], list[object]]:
        where: list[str] = ["1 = 1"]
        params: list[object] = []
        if network is not None:
            where.append("network = ?")
            params.append(str(Network(network)))
        if dry_run is not None:
            where.append("dry_run = ?")
            params.append(int(dry_run))
        return where, params

    def posted_texts_since(
        self, since: datetime, *, dry_run: bool = False, network: Network | str | None = None
    ) -> list[str]:
        """Texts of live rows (posted, or possibly so) since a moment, for dedupe."""
        where, params = self._filter(network, dry_run)
        rows = self._all(
            f"SELECT text FROM posts WHERE {' AND '.join(where)} AND status IN {LIVE_SQL} "
            "AND created_at >= ? AND text IS NOT NULL",
            [*params, iso(since)],
        )
        return [r["text"] for r in rows]

    def count_posts_since(
        self, since: datetime, *, dry_run: bool = False, network: Network | str | None = None
    ) -> int:
        """Live posts and replies since a moment, for the budget caps."""
        where, params = self._filter(network, dry_run)
        return int(
            self._scalar(
                f"SELECT count(*) FROM posts WHERE {' AND '.join(where)} "
                f"AND status IN {LIVE_SQL} AND created_at >= ?",
                [*params, iso(since)],
            )
        )

    def last_post_time(
        self,
        kind: PostKind | str = PostKind.POST,
        *,
        dry_run: bool | None = None,
        network: Network | str | None = None,
    ) -> datetime | None:
        """When the newest live row of this kind was written (the schedule follows it)."""
        where, params = self._filter(network, dry_run)
        value = self._scalar(
            f"SELECT max(created_at) FROM posts WHERE {' AND '.join(where)} AND kind = ? "
            f"AND status IN {LIVE_SQL}",
            [*params, str(PostKind(kind))],
        )
        return parse_iso(value) if value else None

    def count_live_replies(
        self,
        *,
        network: Network | str,
        dry_run: bool,
        author_id: str | None = None,
        conversation_id: str | None = None,
        since: datetime | None = None,
    ) -> int:
        """Live replies to mentions by one author and/or in one conversation (since a moment)."""
        where = [
            "p.kind = 'reply'",
            f"p.status IN {LIVE_SQL}",
            "p.network = ?",
            "p.dry_run = ?",
        ]
        params: list[object] = [str(Network(network)), int(dry_run)]
        if author_id is not None:
            where.append("m.author_id = ?")
            params.append(author_id)
        if conversation_id is not None:
            where.append("m.conversation_id = ?")
            params.append(conversation_id)
        if since is not None:
            where.append("p.created_at >= ?")
            params.append(iso(since))
        return int(
            self._scalar(
                "SELECT count(*) FROM posts p JOIN mentions m "
                "ON p.mention_id = m.id AND p.network = m.network "
                f"WHERE {' AND '.join(where)}",
                params,
            )
        )

    def answer_gaps(
        self, author_id: str, limit: int, *, network: Network | str, dry_run: bool
    ) -> list[tuple[datetime, datetime]]:
        """(our post's posted_at, their mention answering it) for an author's newest answers
        to posted rows, newest first: the bot-loop check measures these gaps."""
        rows = self._all(
            "SELECT p.posted_at AS posted_at, m.created_at AS answered_at FROM mentions m "
            "JOIN posts p ON p.remote_id = m.in_reply_to_tweet_id AND p.network = m.network "
            "WHERE m.author_id = ? AND m.network = ? AND p.dry_run = ? "
            "AND p.status = 'posted' AND p.posted_at IS NOT NULL "
            "ORDER BY m.created_at DESC, m.id DESC LIMIT ?",
            [author_id, str(Network(network)), int(dry_run), limit],
        )
        return [(parse_iso(r["posted_at"]), parse_iso(r["answered_at"])) for r in rows]
