"""Faults on Bluesky and Mastodon map to the project's errors, through the real clients.

Every fault the fakes can serve is tried on a read and on a write; the error type is the
contract the daemon builds on (RateLimited pauses the job, Unavailable/BadResponse leave an
outbox row pending for reconciling). Latencies are printed by bench/network_faults.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.platform.base import BadResponse, PlatformError, RateLimited, Unavailable
from bot.platform.bluesky import BlueskyPlatform
from bot.platform.mastodon import MastodonPlatform
from scripts.fakes.bluesky import FakePds
from scripts.fakes.mastodon import FakeMastodon
from tests.fixtures_networks import BSKY_SECRETS, MASTO_SECRETS, bluesky_config, mastodon_config

EXPECTED: dict[str, type[PlatformError]] = {
    "rate_limit": RateLimited,
    "rate_limit_no_reset": RateLimited,
    "server_error": Unavailable,
    "unavailable_html": Unavailable,
    "html_200": BadResponse,
    "malformed_json": BadResponse,
    "hang": Unavailable,
    "drop": Unavailable,
}


def _check_reset(kind: str, error: PlatformError) -> None:
    if kind == "rate_limit":
        assert isinstance(error, RateLimited) and error.reset_at is not None
        now = datetime.now(UTC)
        assert now < error.reset_at <= now + timedelta(seconds=120)
    elif kind == "rate_limit_no_reset":
        assert isinstance(error, RateLimited) and error.reset_at is None


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_bluesky_faults_map_to_our_errors(fake_pds: FakePds, kind: str) -> None:
    bsky = BlueskyPlatform(bluesky_config(fake_pds), BSKY_SECRETS)
    bsky.me()  # signed in before the fault, so the fault hits the call itself
    fake_pds.fail_next(kind, path="createRecord")
    with pytest.raises(EXPECTED[kind]) as caught:
        bsky.post("hello", key="post-1")
    _check_reset(kind, caught.value)
    fake_pds.fail_next(kind, path="listNotifications")
    with pytest.raises(EXPECTED[kind]):
        bsky.mentions()
    # The client is usable again afterwards, and the fault wrote nothing.
    assert fake_pds.posted() == []
    bsky.post("hello", key="post-1")
    assert len(fake_pds.posted()) == 1


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_mastodon_faults_map_to_our_errors(fake_mastodon: FakeMastodon, kind: str) -> None:
    masto = MastodonPlatform(mastodon_config(fake_mastodon), MASTO_SECRETS)
    fake_mastodon.fail_next(kind, path="/api/v1/statuses")
    with pytest.raises(EXPECTED[kind]) as caught:
        masto.post("hello", key="post-1")
    _check_reset(kind, caught.value)
    fake_mastodon.fail_next(kind, path="/api/v1/notifications")
    with pytest.raises(EXPECTED[kind]):
        masto.mentions()
    assert fake_mastodon.posted() == []
    masto.post("hello", key="post-1")
    assert len(fake_mastodon.posted()) == 1


def test_an_unreachable_server_is_unavailable() -> None:
    from bot.config import config_from_mapping

    # A port nothing listens on (the fake stopped): connection refused.
    fake = FakePds().start()
    url = fake.base_url
    fake.stop()
    config = config_from_mapping({"bluesky": {"service_url": url, "handle": "tweetbot.test"}})
    with pytest.raises(Unavailable):
        BlueskyPlatform(config, BSKY_SECRETS).me()
    masto_config = config_from_mapping({"mastodon": {"api_base_url": url}})
    with pytest.raises(Unavailable):
        MastodonPlatform(masto_config, MASTO_SECRETS).me()
