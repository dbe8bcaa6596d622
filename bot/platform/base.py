"""The `Platform` protocol, the neutral types that cross it, and the errors it raises.

Nothing outside `bot/platform/` imports tweepy: the rest of the bot sees only these types, so a
dry-run platform or a test fake can stand in for X without the callers knowing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from bot.errors import BotError

TweetKind = Literal["original", "retweet", "reply", "quote"]


@dataclass(frozen=True)
class Account:
    """An X account."""

    id: str
    username: str
    name: str = ""


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


class PlatformError(BotError):
    """Base of every error the platform raises; callers never see tweepy or requests errors.

    A `BotError`, so a CLI command that lets one escape prints its one line (exit 1).
    """


class RateLimited(PlatformError):
    """429: wait until `reset_at` (None when X sent no usable reset header)."""

    def __init__(self, message: str, reset_at: datetime | None = None) -> None:
        super().__init__(message)
        self.reset_at = reset_at


class DuplicateContent(PlatformError):
    """403: X refuses a tweet whose text the account already posted."""


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

    def post(self, text: str, in_reply_to: str | None = None) -> str:
        """Publish a tweet (a reply when `in_reply_to` is set); returns the new tweet's id."""
        ...

    def mentions(self, since_id: str | None = None) -> list[Mention]:
        """Mentions of the bot newer than `since_id`, oldest first, across all pages."""
        ...

    def user_tweets(self, username: str, since_id: str | None = None) -> Iterator[list[Tweet]]:
        """A source account's tweets newer than `since_id`, one list per page, newest first.

        Pages are yielded so the caller can commit each before asking for the next: an
        interruption mid-pagination keeps what was stored. X pages newest to oldest, so the
        caller must advance its since_id only after the last page, or older pages are lost.
        """
        ...
