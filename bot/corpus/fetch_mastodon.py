"""Mastodon sources: `USER@INSTANCE`'s public statuses, read from that instance's API."""

from __future__ import annotations

from bot.config import Config
from bot.platform.mastodon import MastodonSources


def mastodon_reader(config: Config) -> MastodonSources:
    """An anonymous reader of public statuses on any instance (`[mastodon] timeout`)."""
    return MastodonSources(config.mastodon.timeout)


def newer_status_id(a: str, b: str) -> bool:
    """Whether status id `a` is newer than `b` (Mastodon ids are numeric and grow)."""
    if a.isdigit() and b.isdigit():
        return int(a) > int(b)
    return (len(a), a) > (len(b), b)
