"""The closed vocabularies of the store: networks, outbox statuses, mention and run statuses.

Every status the database may hold is listed here once; the schema's CHECK constraints, the
one-live-reply index and every query that counts "live" rows are built from these sets.
"""

from __future__ import annotations

from enum import StrEnum


class Network(StrEnum):
    """Where a post, mention or source tweet lives."""

    X = "x"
    BLUESKY = "bluesky"
    MASTODON = "mastodon"


class PostKind(StrEnum):
    """An outbox row is a scheduled post or a reply to a mention."""

    POST = "post"
    REPLY = "reply"


class PostStatus(StrEnum):
    """The life of an outbox row (DESIGN.md "Files on disk").

    awaiting_review -> approved | rejected | expired   (review mode: an operator decides)
    approved        -> pending                          (claimed by the sender)
    pending         -> posted | failed | unknown        (the network's answer, or reconcile)
    skipped                                             (the bot decided not to post; final)
    """

    AWAITING_REVIEW = "awaiting_review"
    APPROVED = "approved"
    PENDING = "pending"  # written before the network is called; the send is in progress
    POSTED = "posted"  # the network has it (remote_id set)
    FAILED = "failed"  # the network refused it: nothing exists there
    SKIPPED = "skipped"  # never sent: a cap, the filters or the reply policy said no
    REJECTED = "rejected"  # an operator said no
    EXPIRED = "expired"  # waited for review longer than `[review] expire_after`
    UNKNOWN = "unknown"  # pending when nobody was sending it and not found: never re-sent


# Rows the network has, may have, or will get without the bot deciding again. They count
# against the caps and dedupe, and a reply among them holds its mention's one reply.
LIVE_POST_STATUSES: frozenset[PostStatus] = frozenset(
    {
        PostStatus.AWAITING_REVIEW,
        PostStatus.APPROVED,
        PostStatus.PENDING,
        PostStatus.POSTED,
        PostStatus.UNKNOWN,
    }
)

# The statuses a row may move to, and from which: every outbox update is a compare-and-set
# against these, so a row another job has already settled is never overwritten.
POST_TRANSITIONS: dict[PostStatus, frozenset[PostStatus]] = {
    PostStatus.APPROVED: frozenset({PostStatus.AWAITING_REVIEW}),
    PostStatus.REJECTED: frozenset({PostStatus.AWAITING_REVIEW, PostStatus.APPROVED}),
    PostStatus.EXPIRED: frozenset({PostStatus.AWAITING_REVIEW}),
    PostStatus.PENDING: frozenset({PostStatus.APPROVED}),
    PostStatus.POSTED: frozenset({PostStatus.PENDING}),
    PostStatus.FAILED: frozenset({PostStatus.PENDING}),
    PostStatus.UNKNOWN: frozenset({PostStatus.PENDING}),
}


class MentionStatus(StrEnum):
    """What became of a stored mention."""

    NEW = "new"  # not decided yet (also: waiting for the budget)
    REPLIED = "replied"
    IGNORED = "ignored"  # the reply policy or the filters said no (reason set)
    FAILED = "failed"  # the reply was refused, or its outcome is unknown (reason set)


class RunStatus(StrEnum):
    """How a training run ended."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"  # registered and promoted
    REJECTED = "rejected"  # registered, not promoted
    FAILED = "failed"


def sql_list(values: frozenset[PostStatus] | type[StrEnum] | list[str]) -> str:
    """A set of statuses as an SQL list literal, e.g. `('pending', 'posted')` (sorted)."""
    return "(" + ", ".join(f"'{v}'" for v in sorted(str(v) for v in values)) + ")"


LIVE_SQL = sql_list(LIVE_POST_STATUSES)
