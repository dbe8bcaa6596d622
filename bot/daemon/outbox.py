"""The outbox in motion: claim -> send -> record -> release, and reconcile.

A post or reply is written to the store as `pending` (and claimed by this process) before the
network is called, the network's answer is recorded, and only then is the claim released. A
`pending` row nobody has claimed therefore means the process died, or the network gave no
clear answer, mid-post: `reconcile` asks the network for it (`Platform.find_post` with the
row's idempotency key) and marks it `posted` or `unknown`. It is never sent again: a
duplicate costs trust (and money), silence one post. Every status change is a compare-and-set
in the store (`Store.mark_post`), so a row a sender has recorded cannot be overwritten by a
reconcile, and the other way round.

Reconcile runs in one place: `reconcile_quietly()`, called by the daemon at start and before
each job sends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from bot.errors import BotError
from bot.logging import get_logger
from bot.platform.base import (
    Account,
    AuthError,
    BadResponse,
    DuplicateContent,
    Forbidden,
    InvalidRequest,
    NotFound,
    Platform,
    PlatformError,
    RateLimited,
    Unavailable,
)
from bot.store import MentionStatus, Network, OutboxRow, PostKind, PostStatus, Store

log = get_logger(__name__)

UNKNOWN_REASON = "outcome unknown after a crash or an unclear answer; never re-sent"


class Outbox:
    """Sends outbox rows of one network, live or dry run. Thread-safe."""

    def __init__(
        self,
        store: Store,
        platform: Platform,
        me: Callable[[], Account],
        *,
        network: Network | str = Network.X,
        dry_run: bool = False,
        on_posted: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.platform = platform
        self.network = Network(network)
        self.dry_run = dry_run
        self.on_posted = on_posted
        self._me = me
        # Rows being sent right now by this process; reconcile must leave them alone.
        self._in_flight: set[int] = set()
        # Claimed rows that an operator approved (review mode): a 429 hands them back.
        self._approved_claims: set[int] = set()
        self._lock = threading.Lock()

    # ---- claim -> send -> record -> release ---------------------------------------------

    def write(self, kind: PostKind | str, text: str, **fields: Any) -> OutboxRow:
        """Write a `pending` row claimed by the caller, which must `send` it next.

        Raises ReplyExists (from the store) for a second live reply to one mention.
        """
        # Under the same lock as reconcile's scan: a row just written is never taken for a
        # leftover before it is claimed.
        with self._lock:
            row = self.store.add_post(
                kind, text, network=self.network, dry_run=self.dry_run, **fields
            )
            self._in_flight.add(row.id)
            return row

    def claim(self, post_id: int) -> OutboxRow | None:
        """Claim an `approved` row (review mode) for sending: approved -> pending, as a
        compare-and-set; None when it is not approved (any more). The caller must `send` it."""
        with self._lock:
            if not self.store.mark_post(post_id, PostStatus.PENDING):
                return None
            self._in_flight.add(post_id)
            self._approved_claims.add(post_id)
        return self.store.post(post_id)

    def send(self, row: OutboxRow) -> PostStatus:
        """Call the network for a claimed row, record the outcome, then release the claim.

        Returns POSTED, FAILED, or PENDING (no clear answer: reconcile will settle it).
        RateLimited is recorded (nothing was created) and re-raised so the scheduler pauses.
        """
        try:
            return self._send_and_record(row)
        finally:
            # Only now: a reconcile between the answer and the record would have found a
            # pending row nobody claimed and marked it unknown, although it was posted.
            with self._lock:
                self._in_flight.discard(row.id)
                self._approved_claims.discard(row.id)

    def _send_and_record(self, row: OutboxRow) -> PostStatus:
        text = row.text or ""
        replied = MentionStatus.REPLIED, None
        try:
            remote_id = self.platform.post(text, in_reply_to=row.in_reply_to_id, key=row.key)
        except RateLimited as exc:
            # 429: the request was refused, so nothing was created and a later retry is safe;
            # the mention stays `new` and is answered when the limit resets. An operator's
            # approval is not spent on a refusal: the row goes back to `approved` and is sent
            # after the reset (only from `pending`, so nothing else can revive a row).
            if row.id in self._approved_claims:
                self.store.mark_post(
                    row.id, PostStatus.APPROVED, expected={PostStatus.PENDING},
                    reason=f"rate limited, sent after the reset: {exc}",
                )  # fmt: skip
            else:
                self._record(row, PostStatus.FAILED, reason=f"rate limited: {exc}")
            raise
        except (DuplicateContent, Forbidden, AuthError, InvalidRequest, NotFound) as exc:
            # The network answered "no" (a duplicate, a reply to a deleted post): nothing exists.
            refused = MentionStatus.FAILED, "the network refused the reply"
            self._record(
                row, PostStatus.FAILED, reason=f"{type(exc).__name__}: {exc}", mention=refused
            )
            log.warning("the network refused the post", post_id=row.id, error=str(exc))
            return PostStatus.FAILED
        except (Unavailable, BadResponse, PlatformError) as exc:
            # A timeout or a garbled answer does not tell whether the post exists: the row
            # stays pending and reconcile looks for it instead of re-sending.
            log.warning("no clear answer; will reconcile", post_id=row.id, error=str(exc))
            return PostStatus.PENDING
        self._record(row, PostStatus.POSTED, remote_id=remote_id, mention=replied)
        if self.on_posted is not None:
            self.on_posted(text)
        return PostStatus.POSTED

    def _record(
        self,
        row: OutboxRow,
        status: PostStatus,
        *,
        remote_id: str | None = None,
        reason: str | None = None,
        mention: tuple[MentionStatus, str | None] | None = None,
    ) -> None:
        if not self.store.mark_post(
            row.id, status, remote_id=remote_id, reason=reason, mention=mention
        ):
            # Cannot happen while the claim is held; if it does, the store kept the first word.
            log.error("outbox row was settled by someone else", post_id=row.id, status=status)

    # ---- reconcile ----------------------------------------------------------------------

    def reconcile(self) -> int:
        """Settle `pending` rows nobody is sending: `posted` if the network has them, else
        `unknown`. Returns how many rows this call settled.

        The network is asked through `Platform.find_post(key, text)`: Bluesky looks up the
        record under the key's TID, Mastodon and X search the bot's recent posts for the text.
        """
        rows = self._stale_pending()
        if not rows:
            return 0
        settled = 0
        readable = True
        for row in rows:
            remote_id = None
            if readable:
                try:
                    remote_id = self.platform.find_post(row.key, row.text or "")
                except (AuthError, Forbidden) as exc:
                    # The posts cannot be read at all (a dry run without credentials, an API
                    # tier without timelines): waiting will not help, and not re-sending is
                    # always safe.
                    log.warning("cannot read the bot's posts to reconcile", error=str(exc))
                    readable = False
            if remote_id is not None:
                moved = self.store.mark_post(
                    row.id,
                    PostStatus.POSTED,
                    expected={PostStatus.PENDING},
                    remote_id=remote_id,
                    reason="found on timeline",
                    mention=(MentionStatus.REPLIED, None),
                )
                if moved:
                    log.info("pending post found on the network", post_id=row.id)
            else:
                moved = self.store.mark_post(
                    row.id,
                    PostStatus.UNKNOWN,
                    expected={PostStatus.PENDING},
                    reason=UNKNOWN_REASON,
                    mention=(MentionStatus.FAILED, UNKNOWN_REASON),
                )
                if moved:
                    log.warning("pending post not on the network: marked unknown", post_id=row.id)
            settled += int(moved)
        return settled

    def reconcile_quietly(self) -> None:
        """Reconcile; if the network cannot be asked now, the rows wait (still safe: pending
        rows count against the caps and hold their mention's one reply)."""
        try:
            self.reconcile()
        except BotError as exc:
            log.warning("cannot reconcile the outbox now; will retry", error=str(exc))

    def _stale_pending(self) -> list[OutboxRow]:
        with self._lock:
            rows = [
                r
                for r in self.store.pending_posts(self.network)
                if r.dry_run == self.dry_run and r.id not in self._in_flight
            ]
        return rows
