"""`find_post` and `limits` on each network: how reconciling finds a post sent earlier."""

from __future__ import annotations

from bot.config import Secrets, config_from_mapping
from bot.platform import Platform
from bot.platform.bluesky import BlueskyPlatform
from bot.platform.mastodon import MastodonPlatform
from bot.platform.twitter import TwitterPlatform
from scripts.fakes import FakeX
from scripts.fakes.bluesky import FakePds
from scripts.fakes.mastodon import FakeMastodon
from tests.fixtures_networks import BSKY_SECRETS, MASTO_SECRETS, bluesky_config, mastodon_config

USER_KEYS = Secrets("ck", "cs", "at", "ats")


def test_every_adapter_is_a_platform(fake_pds: FakePds, fake_mastodon: FakeMastodon) -> None:
    bsky = BlueskyPlatform(bluesky_config(fake_pds), BSKY_SECRETS)
    masto = MastodonPlatform(mastodon_config(fake_mastodon), MASTO_SECRETS)
    x = TwitterPlatform(config_from_mapping({}), USER_KEYS)
    for platform, network in ((bsky, "bluesky"), (masto, "mastodon"), (x, "x")):
        assert isinstance(platform, Platform)
        assert platform.network == network
    assert (x.limits().max_length, x.limits().counted_as) == (280, "x-weighted")
    assert (bsky.limits().max_length, bsky.limits().counted_as) == (300, "graphemes")


def test_x_reconciles_by_searching_the_timeline_for_the_normalized_text(fake_x: FakeX) -> None:
    config = config_from_mapping({"twitter": {"api_base_url": fake_x.base_url, "timeout": "2s"}})
    x = TwitterPlatform(config, USER_KEYS)
    tweet_id = x.post("Fish & chips   at noon", key="post-1")
    # X answers the text escaped (&amp;) and may trim spacing: the match is on normalized text.
    assert x.find_post("post-1", "fish & chips at noon") == tweet_id
    assert x.find_post("post-2", "never sent") is None
    assert x.bot_label_warning() is None
