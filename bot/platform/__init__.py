"""The boundary to the social network: everything that talks to X goes through a `Platform`."""

from bot.platform.base import (
    Account,
    AuthError,
    BadResponse,
    DuplicateContent,
    Forbidden,
    InvalidRequest,
    Mention,
    NotFound,
    Platform,
    PlatformError,
    RateLimited,
    Tweet,
    Unavailable,
)

__all__ = [
    "Account",
    "AuthError",
    "BadResponse",
    "DuplicateContent",
    "Forbidden",
    "InvalidRequest",
    "Mention",
    "NotFound",
    "Platform",
    "PlatformError",
    "RateLimited",
    "Tweet",
    "Unavailable",
]
