"""Fixtures for the Bluesky and Mastodon fakes and the adapters pointed at them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.config import Config, Secrets, config_from_mapping
from scripts.fakes.bluesky import FakePds
from scripts.fakes.mastodon import FakeMastodon

BSKY_HANDLE = "tweetbot.test"
BSKY_PASSWORD = "app-pass-1234"
MASTO_TOKEN = "masto-token-1234"
# Short, so a hang fault fails fast; long enough for a loaded CI machine.
TIMEOUT = "2s"


@pytest.fixture
def fake_pds() -> Iterator[FakePds]:
    """A running fake Bluesky PDS; point `[bluesky] service_url` at `fake_pds.base_url`."""
    server = FakePds(BSKY_HANDLE, BSKY_PASSWORD).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake_mastodon() -> Iterator[FakeMastodon]:
    """A running fake Mastodon instance; `[mastodon] api_base_url` is its `base_url`."""
    server = FakeMastodon("tweetbot", MASTO_TOKEN).start()
    try:
        yield server
    finally:
        server.stop()


def bluesky_config(fake: FakePds, **sections: Any) -> Config:
    """A config for the bot's account on `fake`, with extra sections merged in."""
    raw: dict[str, Any] = {
        "bot": {"networks": ["bluesky"]},
        "bluesky": {"service_url": fake.base_url, "handle": BSKY_HANDLE, "timeout": TIMEOUT},
    }
    for name, values in sections.items():
        raw[name] = {**raw.get(name, {}), **values}
    return config_from_mapping(raw)


def mastodon_config(fake: FakeMastodon, **sections: Any) -> Config:
    """A config for the bot's account on `fake`, with extra sections merged in."""
    raw: dict[str, Any] = {
        "bot": {"networks": ["mastodon"]},
        "mastodon": {"api_base_url": fake.base_url, "timeout": TIMEOUT},
    }
    for name, values in sections.items():
        raw[name] = {**raw.get(name, {}), **values}
    return config_from_mapping(raw)


BSKY_SECRETS = Secrets(bluesky_app_password=BSKY_PASSWORD)
MASTO_SECRETS = Secrets(mastodon_access_token=MASTO_TOKEN)
