"""The boundary to the networks: everything that talks to X, Bluesky or Mastodon goes through a
`Platform`."""

from __future__ import annotations

from bot.platform.base import (
    Account,
    AuthError,
    BadResponse,
    DuplicateContent,
    Forbidden,
    InvalidRequest,
    Mention,
    Network,
    NotFound,
    Platform,
    PlatformError,
    PostLimits,
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
    "Network",
    "NotFound",
    "Platform",
    "PlatformError",
    "PostLimits",
    "RateLimited",
    "SimulatedMentions",
    "Tweet",
    "TwitterPlatform",
    "Unavailable",
]
