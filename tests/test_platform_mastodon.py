"""MastodonPlatform: the real Mastodon.py client against the fake instance on loopback."""

from __future__ import annotations

import pytest

from bot.config import Secrets
from bot.platform.base import AuthError
from bot.platform.mastodon import MastodonPlatform, MastodonSources, idempotency_key, instance_url
from bot.platform.xhttp import WriteRefused
from scripts.fakes.mastodon import FakeMastodon
from tests.fixtures_networks import MASTO_SECRETS, mastodon_config


def platform(
    fake: FakeMastodon, *, read_only: bool = False, **sections: object
) -> MastodonPlatform:
    return MastodonPlatform(mastodon_config(fake, **sections), MASTO_SECRETS, read_only=read_only)


def test_a_post_sends_an_idempotency_key_and_a_resend_within_the_hour_creates_nothing(
    fake_mastodon: FakeMastodon,
) -> None:
    masto = platform(fake_mastodon)
    first = masto.post("hello fediverse", key="post-1")
    again = masto.post("hello fediverse", key="post-1")
    assert first == again
    assert len(fake_mastodon.posted()) == 1
    [request] = fake_mastodon.requests_for("POST", "/api/v1/statuses")[:1]
    assert request.headers["idempotency-key"] == idempotency_key("post-1")
    assert idempotency_key("post-1") != idempotency_key("post-2")


def test_after_the_hour_reconciling_finds_the_status_by_its_text(
    fake_mastodon: FakeMastodon,
) -> None:
    masto = platform(fake_mastodon)
    status_id = masto.post("a <b> & c", key="post-1")
    masto.post("something else", key="post-2")
    fake_mastodon.advance(3601)
    assert masto.find_post("post-1", "a <b> & c") == status_id
    assert masto.find_post("post-3", "never posted") is None
    assert len(fake_mastodon.posted()) == 2


def test_visibility_defaults_to_unlisted_and_the_content_warning_is_sent(
    fake_mastodon: FakeMastodon,
) -> None:
    platform(fake_mastodon).post("plain", key="a")
    platform(fake_mastodon, mastodon={"visibility": "public", "spoiler_text": "bot"}).post(
        "warned", key="b"
    )
    assert [(p["visibility"], p["spoiler_text"]) for p in fake_mastodon.posted()] == [
        ("unlisted", ""),
        ("public", "bot"),
    ]


def test_the_length_limit_comes_from_the_instance_less_the_content_warning(
    fake_mastodon: FakeMastodon,
) -> None:
    fake_mastodon.state.max_characters = 1000
    limits = platform(fake_mastodon).limits()
    assert (limits.max_length, limits.counted_as, limits.url_length) == (1000, "mastodon", 23)
    assert platform(fake_mastodon, mastodon={"spoiler_text": "cw!"}).limits().max_length == 997
    assert limits.fits("x " + "https://example.com/" + "y" * 2000)


def test_mentions_are_mention_notifications_newer_than_the_marker(
    fake_mastodon: FakeMastodon,
) -> None:
    masto = platform(fake_mastodon)
    own = masto.post("a thought", key="post-1")
    fake_mastodon.add_mention("alice", "@tweetbot hi\nthere")
    fake_mastodon.add_favourite("carol", own)
    fake_mastodon.add_mention("bob", "@tweetbot agreed", reply_to=own)
    found = masto.mentions()
    assert [(m.author_username, m.text) for m in found] == [
        ("alice", "@tweetbot hi\nthere"),
        ("bob", "@tweetbot agreed"),
    ]
    assert found[1].in_reply_to_tweet_id == own and found[1].in_reply_to_user_id == "1"
    assert all(m.network == "mastodon" for m in found)
    assert masto.mentions(found[-1].since_marker) == []
    masto.post("answer", in_reply_to=found[0].id, key="reply-1")
    assert fake_mastodon.posted()[-1]["in_reply_to_id"] == found[0].id


def test_the_bot_flag_is_checked(fake_mastodon: FakeMastodon) -> None:
    assert platform(fake_mastodon).bot_label_warning() is None
    fake_mastodon.set_bot_flag(False)
    warning = platform(fake_mastodon).bot_label_warning()
    assert warning is not None and "automated" in warning


def test_a_wrong_token_is_an_auth_error_that_does_not_show_the_token(
    fake_mastodon: FakeMastodon,
) -> None:
    masto = MastodonPlatform(
        mastodon_config(fake_mastodon), Secrets(mastodon_access_token="not-the-token")
    )
    with pytest.raises(AuthError, match="MASTODON_ACCESS_TOKEN") as caught:
        masto.me()
    assert "not-the-token" not in str(caught.value)


def test_a_read_only_client_cannot_post(fake_mastodon: FakeMastodon) -> None:
    reader = platform(fake_mastodon, read_only=True)
    fake_mastodon.add_mention("alice", "@tweetbot hi")
    assert len(reader.mentions()) == 1
    with pytest.raises(WriteRefused):
        reader.post("must not go out", key="post-1")
    assert fake_mastodon.requests_for("POST") == []


def test_sources_are_read_from_their_instance_with_boosts_and_replies_marked(
    fake_mastodon: FakeMastodon,
) -> None:
    first = fake_mastodon.add_status("carol", "an original thought")
    fake_mastodon.add_status("carol", "replying", reply_to=first)
    fake_mastodon.add_status("carol", "", reblog_of=first)
    source = f"mastodon:carol@{fake_mastodon.domain}"
    tweets = [t for page in MastodonSources(2.0).user_tweets(source) for t in page]
    assert [(t.kind, t.text) for t in tweets] == [
        ("retweet", ""),
        ("reply", "replying"),
        ("original", "an original thought"),
    ]
    assert tweets[-1].id.endswith(f"/users/carol/statuses/{first}")
    assert all(t.username == source for t in tweets)
    fake_mastodon.add_status("carol", "newest")
    newer = [t for p in MastodonSources(2.0).user_tweets(source, tweets[0].cursor) for t in p]
    assert [t.text for t in newer] == ["newest"]
    assert not any(r.headers.get("authorization") for r in fake_mastodon.requests)


def test_an_instance_is_https_unless_it_is_a_loopback_address() -> None:
    assert instance_url("mastodon.social") == "https://mastodon.social"
    assert instance_url("127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert instance_url("localhost:3000") == "http://localhost:3000"
    assert instance_url("[::1]:3000") == "http://[::1]:3000"


def test_the_daemon_length_filter_takes_the_instance_limit(
    fake_mastodon: FakeMastodon,
) -> None:
    from bot.app import account_max_length
    from bot.filters import Filters

    fake_mastodon.state.max_characters = 120
    masto = platform(fake_mastodon)
    max_length = account_max_length("mastodon", masto)
    assert max_length == 120
    config = mastodon_config(fake_mastodon)
    filters = Filters.from_config(config, [], [], network="mastodon", max_length=max_length)
    verdicts = {v.rule: v for v in filters.check("gulls and tides " * 10)}  # 160 characters
    assert not verdicts["length"].passed
    # The network's default (500) would have let it through, so a post got a 422 before.
    default = Filters.from_config(config, [], [], network="mastodon")
    assert {v.rule: v for v in default.check("gulls and tides " * 10)}["length"].passed
