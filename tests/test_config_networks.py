"""`[bot] networks`, `[bluesky]`, `[mastodon]`, network sources, their secrets and platforms."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import build_platforms
from bot.config import Secrets, config_from_mapping, source_network
from bot.errors import ConfigError, UsageError
from bot.logging import redact_text, register_secrets
from bot.platform import DryRunPlatform
from bot.platform.bluesky import BlueskyPlatform
from bot.platform.mastodon import MastodonPlatform
from scripts.fakes.bluesky import FakePds
from scripts.fakes.mastodon import FakeMastodon
from tests.fixtures_networks import BSKY_SECRETS, MASTO_SECRETS


def test_defaults_post_on_x_only_with_unlisted_mastodon_posts() -> None:
    config = config_from_mapping({})
    assert config.bot.networks == ["x"]
    assert config.bluesky.service_url == "https://bsky.social"
    assert config.mastodon.visibility == "unlisted" and config.mastodon.spoiler_text == ""


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"bot": {"networks": ["x", "myspace"]}}, r"\[bot\] networks.*'myspace' is not a network"),
        ({"bot": {"networks": []}}, r"\[bot\] networks"),
        ({"bot": {"networks": ["x", "x"]}}, r"twice"),
        ({"mastodon": {"visibility": "direct"}}, r"\[mastodon\] visibility"),
        ({"bluesky": {"timeout": 5}}, r"\[bluesky\] timeout"),
        ({"bluesky": {"password": "x"}}, r"\[bluesky\] password: unknown key"),
        ({"source": {"usernames": ["bluesky:not a handle"]}}, r"not a Bluesky handle"),
        ({"source": {"usernames": ["mastodon:alice"]}}, r"not a Mastodon account"),
    ],
)
def test_bad_network_settings_name_the_key(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        config_from_mapping(raw)
    assert caught.value.exit_code == 2


def test_sources_on_every_network() -> None:
    config = config_from_mapping(
        {
            "source": {
                "usernames": ["@alice", "bluesky:@bob.bsky.social", "mastodon:carol@m.example"],
                "weights": {"bluesky:@bob.bsky.social": 2.0},
            }
        }
    )
    assert config.source.usernames == [
        "alice",
        "bluesky:bob.bsky.social",
        "mastodon:carol@m.example",
    ]
    assert config.source.weights == {"bluesky:bob.bsky.social": 2.0}
    assert [source_network(n) for n in config.source.usernames] == ["x", "bluesky", "mastodon"]


def test_network_secrets_come_from_the_environment_and_are_redacted() -> None:
    secrets = Secrets.from_env(
        {"BLUESKY_APP_PASSWORD": "bsky-pass-9876", "MASTODON_ACCESS_TOKEN": "masto-tok-5432"}
    )
    assert secrets.bluesky_app_password == "bsky-pass-9876"
    assert "bsky-pass-9876" not in repr(secrets) and "masto-tok-5432" not in str(secrets)
    register_secrets(secrets.values())
    assert redact_text("pw=bsky-pass-9876 tok=masto-tok-5432") == "pw=[REDACTED] tok=[REDACTED]"


@pytest.mark.parametrize(
    ("network", "variable"),
    [("bluesky", "BLUESKY_APP_PASSWORD"), ("mastodon", "MASTODON_ACCESS_TOKEN")],
)
def test_a_live_network_without_its_secret_is_a_usage_error_naming_it(
    network: str, variable: str
) -> None:
    config = config_from_mapping(
        {
            "bot": {"networks": [network], "dry_run": False},
            "bluesky": {"handle": "bot.test"},
            "mastodon": {"api_base_url": "https://m.example"},
        }
    )
    with pytest.raises(UsageError, match=variable) as caught:
        build_platforms(config, Secrets(), dry_run=False)
    assert caught.value.exit_code == 2


def test_build_platforms_gives_one_platform_per_network(
    fake_pds: FakePds, fake_mastodon: FakeMastodon
) -> None:
    raw = {
        "bot": {"networks": ["bluesky", "mastodon"]},
        "bluesky": {"service_url": fake_pds.base_url, "handle": "tweetbot.test"},
        "mastodon": {"api_base_url": fake_mastodon.base_url},
    }
    secrets = Secrets(
        bluesky_app_password=BSKY_SECRETS.bluesky_app_password,
        mastodon_access_token=MASTO_SECRETS.mastodon_access_token,
    )
    live = build_platforms(config_from_mapping(raw), secrets, dry_run=False)
    assert list(live) == ["bluesky", "mastodon"]
    assert isinstance(live["bluesky"], BlueskyPlatform)
    assert isinstance(live["mastodon"], MastodonPlatform)
    dry = build_platforms(config_from_mapping(raw), secrets, dry_run=True)
    assert all(isinstance(p, DryRunPlatform) for p in dry.values())
    assert [p.network for p in dry.values()] == ["bluesky", "mastodon"]
    for platform in dry.values():
        platform.post("not for real", key="post-1")
        assert platform.find_post("post-1", "not for real") is None
    assert fake_pds.posted() == [] and fake_mastodon.posted() == []
    assert fake_pds.requests_for("POST", "createRecord") == []
    assert fake_mastodon.requests_for("POST") == []
    # Reads go to the real accounts.
    assert dry["mastodon"].limits().max_length == 500
    assert dry["bluesky"].me().username == "tweetbot.test"


def test_simulated_mentions_in_a_dry_run_belong_to_its_network(tmp_path: Path) -> None:
    scene = tmp_path / "mentions.json"
    scene.write_text('[{"author": "cat", "text": "@{bot} hi"}]', encoding="utf-8")
    config = config_from_mapping({"bot": {"networks": ["mastodon"]}})
    [platform] = build_platforms(config, Secrets(), dry_run=True, simulated_mentions=scene).values()
    [mention] = platform.mentions()
    assert mention.network == "mastodon" and platform.network == "mastodon"
    assert platform.limits().max_length == 500
