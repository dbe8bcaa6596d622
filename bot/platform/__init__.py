"""The boundary to the social network: everything that talks to X goes through a `Platform`."""

from __future__ import annotations

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
from bot.platform.dryrun import DryRunPlatform
from bot.platform.simulated import SimulatedMentions
from bot.platform.twitter import TwitterPlatform

__all__ = [
    "Account",
    "AuthError",
    "BadResponse",
    "DryRunPlatform",
    "DuplicateContent",
    "Forbidden",
    "InvalidRequest",
    "Mention",
    "NotFound",
    "Platform",
    "PlatformError",
    "RateLimited",
    "SimulatedMentions",
    "Tweet",
    "TwitterPlatform",
    "Unavailable",
]
