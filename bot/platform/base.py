"""The `Platform` protocol, the neutral types that cross it, and the errors it raises.

Nothing outside `bot/platform/` imports tweepy, atproto or Mastodon.py: the rest of the bot sees
only these types, so a dry-run platform or a test fake can stand in for any network without the
callers knowing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from bot.errors import BotError

TweetKind = Literal["original", "retweet", "reply", "quote"]
# The networks a bot can post on (`[bot] networks`); "x" is the home network.
Network = Literal["x", "bluesky", "mastodon"]
NETWORKS: tuple[Network, ...] = ("x", "bluesky", "mastodon")
# How a network counts a post's length (see bot/platform/textrules.py).
LengthRule = Literal["x-weighted", "graphemes", "mastodon"]


@dataclass(frozen=True)
class Account:
    """An account on a network (X user id, Bluesky DID, Mastodon account id)."""

    id: str
    username: str
    name: str = ""


@dataclass(frozen=True)
class PostLimits:
    """How long a post may be on a network, and how that network counts.

    `url_length` is what one link counts for (23 on X and Mastodon; None where links are not
    shortened, as on Bluesky, where a link is a facet over its own text).
    """

    network: Network
    max_length: int
    counted_as: LengthRule
    url_length: int | None = 23

    def length(self, text: str) -> int:
        """`text`'s length as this network counts it."""
        from bot.platform.textrules import post_length

        return post_length(text, self)

    def fits(self, text: str) -> bool:
        """Whether `text` is short enough to post here (and not empty)."""
        return bool(text.strip()) and self.length(text) <= self.max_length


@dataclass(frozen=True)
class Tweet:
    """A source tweet with every field the corpus rules need."""

    id: str
    author_id: str
    username: str
    text: str
    created_at: datetime
    kind: TweetKind = "original"
    in_reply_to_id: str | None = None
    in_reply_to_user_id: str | None = None
    # The retweeted or quoted tweet, when there is one.
    referenced_id: str | None = None
    # (short url, expanded url) pairs from entities, so cleaning can expand or strip them.
    urls: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    network: Network = "x"
    # The since-marker this post advances an incremental fetch to, where ids are not ordered
    # (Bluesky: the `indexedAt`; Mastodon: the instance's status id); None means the id.
    cursor: str | None = None


@dataclass(frozen=True)
class Mention:
    """A tweet that mentions the bot."""

    id: str
    author_id: str
    author_username: str
    text: str
    conversation_id: str
    created_at: datetime
    in_reply_to_user_id: str | None = None
    # The tweet this mention replies to, when it is a reply.
    in_reply_to_tweet_id: str | None = None
    network: Network = "x"
    # What to pass as `since_id` to get only mentions after this one: X ids are ordered, so
    # None means "the id"; Bluesky's post URIs are not, so there it is the indexing time.
    cursor: str | None = None

    @property
    def since_marker(self) -> str:
        """The value to persist as the since-marker once this mention is stored."""
        return self.cursor or self.id


class PlatformError(BotError):
    """Base of every error the platform raises; callers never see tweepy or requests errors.

    A `BotError`, so a CLI command that lets one escape prints its one line (exit 1).
    """


class RateLimited(PlatformError):
    """429: wait until `reset_at` (None when the network sent no usable reset header)."""

    def __init__(self, message: str, reset_at: datetime | None = None) -> None:
        super().__init__(message)
        self.reset_at = reset_at


class DuplicateContent(PlatformError):
    """X refuses a tweet whose text the account already posted (403); Bluesky's duplicate record
    key is a bare 500 and so never maps here (see bot/platform/bluesky.py)."""


class AuthError(PlatformError):
    """401: the credentials are missing, wrong or revoked (the user fixes this: exit 2)."""

    exit_code = 2


class Forbidden(PlatformError):
    """403 other than duplicates: e.g. an endpoint outside the API tier, or a reply not allowed."""


class NotFound(PlatformError):
    """404, or X's 200-with-errors for an unknown username: the account or tweet does not exist."""


class InvalidRequest(PlatformError):
    """400 and other 4xx: X refused the request itself (say, a reply to a deleted tweet)."""


class Unavailable(PlatformError):
    """X could not be reached or answered with a server error or timeout; retry later."""


class BadResponse(PlatformError):
    """X answered, but with something we cannot parse (HTML, malformed JSON, missing fields)."""


@runtime_checkable
class Platform(Protocol):
    """What the bot needs from a social network."""

    def me(self) -> Account:
        """The authenticated account (the bot itself)."""
        ...

    @property
    def network(self) -> Network:
        """Which network this is."""
        ...

    def limits(self) -> PostLimits:
        """The longest post this account may send here and how its length is counted."""
        ...

    def post(self, text: str, in_reply_to: str | None = None, key: str | None = None) -> str:
        """Publish a post (a reply when `in_reply_to` is set); returns the new post's id.

        `key` is the outbox row's idempotency key: Mastodon sends it as `Idempotency-Key`,
        Bluesky derives the record key from it, X has none.
        """
        ...

    def find_post(self, key: str, text: str) -> str | None:
        """The id of the post sent earlier under `key` (with `text`), or None if it is absent.

        Reconciling an outbox row after a crash or an unclear answer asks this instead of
        sending again. Raises a PlatformError when the network cannot be asked now.
        """
        ...

    def bot_label_warning(self) -> str | None:
        """A warning when the account does not declare itself a bot, else None."""
        ...

    def mentions(self, since_id: str | None = None) -> list[Mention]:
        """Mentions of the bot newer than `since_id`, oldest first, across all pages."""
        ...

    def user_tweets(self, username: str, since_id: str | None = None) -> Iterator[list[Tweet]]:
        """A source account's posts newer than `since_id`, one list per page, newest first.

        Pages are yielded so the caller can commit each before asking for the next: an
        interruption mid-pagination keeps what was stored. X pages newest to oldest, so the
        caller must advance its since_id only after the last page, or older pages are lost.
        """
        ...
