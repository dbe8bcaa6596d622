"""Bluesky sources: an account's author feed (`app.bsky.feed.getAuthorFeed`), read publicly."""

from __future__ import annotations

from datetime import datetime

from bot.config import Config, Secrets
from bot.platform.bluesky import BlueskyPlatform


def bluesky_reader(config: Config) -> BlueskyPlatform:
    """A read-only Bluesky client on `[bluesky] service_url`.

    With BLUESKY_APP_PASSWORD (and a handle) it reads signed in, through the bot's PDS; without,
    it reads anonymously, which works against the public AppView (public.api.bsky.app).
    """
    return BlueskyPlatform(config, Secrets.from_env(), read_only=True)


def newer_indexed(a: str, b: str) -> bool:
    """Whether `indexedAt` time `a` is later than `b`."""
    return _time(a) > _time(b)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
