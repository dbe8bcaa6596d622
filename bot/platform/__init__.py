"""The boundary to the social network: everything that talks to X goes through a `Platform`."""

from __future__ import annotations

from pathlib import Path

from bot.config import Config, Secrets
from bot.errors import UsageError
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


def build_platform(
    config: Config, secrets: Secrets, *, dry_run: bool, simulated_mentions: Path | None = None
) -> Platform:
    """The platform a command should use.

    Live (`dry_run=False`): the real account; posting needs the four OAuth 1.0a keys, so
    without them this is a UsageError (exit 2) before anything runs. Dry run: a
    `DryRunPlatform` reading through a read-only `TwitterPlatform` when any credentials exist,
    with mentions from `simulated_mentions` (a JSON file) when given. Read-only commands
    (`fetch`) pass `dry_run=True`: a bearer token is then enough.
    """
    if not dry_run:
        if not secrets.can_post:
            raise UsageError(
                "posting needs TWITTER_CONSUMER_KEY, TWITTER_CONSUMER_SECRET, "
                "TWITTER_ACCESS_TOKEN and TWITTER_ACCESS_TOKEN_SECRET in the environment "
                "(or run with --dry-run / [bot] dry_run = true)"
            )
        if simulated_mentions is not None:
            raise UsageError("simulated mentions are for dry runs only")
        return TwitterPlatform(config, secrets)
    reader = None
    if secrets.can_post or secrets.bearer_token:
        reader = TwitterPlatform(config, secrets, read_only=True)
    simulated = (
        SimulatedMentions.from_file(simulated_mentions, bot_username=config.bot.name)
        if simulated_mentions is not None
        else None
    )
    return DryRunPlatform(reader, simulated, config.bot.name)


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
    "build_platform",
]
