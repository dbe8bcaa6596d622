"""Dry run: reads reach X (or the simulated source), writes never leave the process."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from bot.app import build_platform
from bot.config import Config, Secrets, config_from_mapping
from bot.errors import UsageError
from bot.platform import (
    AuthError,
    DryRunPlatform,
    Platform,
    SimulatedMentions,
    TwitterPlatform,
)
from bot.platform.xhttp import WriteRefused
from scripts.fakes import FakeX

USER_KEYS = Secrets("ck", "cs", "at", "ats")


def x_config(fake: FakeX) -> Config:
    return config_from_mapping(
        {"bot": {"name": "demo_bot"}, "twitter": {"api_base_url": fake.base_url, "timeout": "2s"}}
    )


def test_dry_run_reads_from_x_and_never_writes(
    fake_x: FakeX, capsys: pytest.CaptureFixture[str]
) -> None:
    mention = fake_x.add_mention("@tweetbot_bot tell me a joke", author="alice")
    fake_x.add_tweets("dril", [{"text": "a source tweet"}])
    platform = build_platform(x_config(fake_x), USER_KEYS, dry_run=True)
    assert isinstance(platform, DryRunPlatform)
    assert isinstance(platform, Platform)

    assert platform.me().username == "tweetbot_bot"
    [seen] = platform.mentions()
    assert seen.id == mention["id"]
    assert [t.text for page in platform.user_tweets("dril") for t in page] == ["a source tweet"]
    with capture_logs() as logs:
        post_id = platform.post("a generated thought")
        reply_id = platform.post("here is a joke", in_reply_to=mention["id"])

    assert post_id.startswith("dryrun-") and reply_id.startswith("dryrun-")
    assert post_id != reply_id
    out = capsys.readouterr().out
    assert "DRY RUN: would post: 'a generated thought'" in out
    assert f"DRY RUN: would reply to {mention['id']}" in out
    assert "@alice's '@tweetbot_bot tell me a joke'" in out
    assert [e["text"] for e in logs if e["event"] == "dry_run_post"] == [
        "a generated thought",
        "here is a joke",
    ]
    # Reads hit the server; not one write did.
    assert len(fake_x.requests_for("GET")) >= 4
    assert fake_x.requests_for("POST") == []
    assert [r for r in fake_x.requests if r.method != "GET"] == []
    assert fake_x.posted == []


def test_dry_run_is_structurally_read_only(fake_x: FakeX) -> None:
    platform = build_platform(x_config(fake_x), USER_KEYS, dry_run=True)
    assert isinstance(platform, DryRunPlatform)
    reader = platform.reader
    assert reader is not None
    # The dry-run platform keeps only read functions ...
    assert not hasattr(reader, "post")
    with pytest.raises(AttributeError):
        reader.post = lambda *a: "x"  # type: ignore[attr-defined]
    # ... and even the platform behind them, dug out on purpose, cannot send a write.
    underlying = reader.me.__self__  # type: ignore[attr-defined]
    assert isinstance(underlying, TwitterPlatform)
    with pytest.raises(WriteRefused, match="read-only"):
        underlying.post("sneaky")
    with pytest.raises(WriteRefused):
        underlying._client.create_tweet(text="sneakier", user_auth=True)
    assert fake_x.requests_for("POST") == []
    assert fake_x.posted == []


def test_live_platform_does_write(fake_x: FakeX) -> None:
    # The counterpart of the dry-run test: the same server does see the live platform's post.
    platform = build_platform(x_config(fake_x), USER_KEYS, dry_run=False)
    assert isinstance(platform, TwitterPlatform)
    platform.post("for real")
    assert [r.method for r in fake_x.requests_for("POST")] == ["POST"]


def test_live_without_user_keys_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="TWITTER_ACCESS_TOKEN"):
        build_platform(Config(), Secrets(bearer_token="b"), dry_run=False)


def test_dry_run_with_a_bearer_reads_sources(fake_x: FakeX) -> None:
    fake_x.add_tweets("dril", [{"text": "hello"}])
    platform = build_platform(x_config(fake_x), Secrets(bearer_token="b"), dry_run=True)
    assert [t.text for page in platform.user_tweets("dril") for t in page] == ["hello"]
    assert {r.auth for r in fake_x.requests} == {"bearer"}


def test_dry_run_without_credentials_is_offline(capsys: pytest.CaptureFixture[str]) -> None:
    # The default config points at the real api.twitter.com: the loopback guard would fail
    # this test if anything tried to connect.
    platform = build_platform(Config(), Secrets(), dry_run=True)
    assert platform.me().username == "tweetbot"
    assert platform.mentions() == []
    with pytest.raises(AuthError, match="tweetbot import"):
        list(platform.user_tweets("dril"))
    assert platform.post("offline thought").startswith("dryrun-")
    assert "DRY RUN: would post: 'offline thought'" in capsys.readouterr().out


def test_simulated_mentions_file_feeds_the_dry_run(tmp_path: Path, fake_x: FakeX) -> None:
    path = tmp_path / "mentions.json"
    path.write_text(
        json.dumps(
            {
                "mentions": [
                    {"author": "curious_cat", "text": "@{bot} what's for dinner?"},
                    {"author": "curious_cat", "text": "@{bot} hello again", "after_calls": 1},
                ]
            }
        ),
        encoding="utf-8",
    )
    # Even with credentials, the simulated world decides mentions and the bot's identity.
    platform = build_platform(x_config(fake_x), USER_KEYS, dry_run=True, simulated_mentions=path)
    out = io.StringIO()
    assert isinstance(platform, DryRunPlatform)
    platform._out = out
    assert platform.me().username == "demo_bot"
    first = platform.mentions()
    assert [m.text for m in first] == ["@demo_bot what's for dinner?"]
    second = platform.mentions(since_id=first[-1].id)
    assert [m.text for m in second] == ["@demo_bot hello again"]
    platform.post("pasta", in_reply_to=first[0].id)
    assert "@curious_cat's \"@demo_bot what's for dinner?\"" in out.getvalue()
    assert fake_x.requests == []


def test_simulated_mentions_need_dry_run(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="dry runs only"):
        build_platform(Config(), USER_KEYS, dry_run=False, simulated_mentions=tmp_path / "m.json")


def test_dry_run_platform_without_any_source() -> None:
    platform = DryRunPlatform(None, SimulatedMentions([]), "somebot", out=io.StringIO())
    assert platform.mentions("5") == []
    assert platform.me().id == "0"
