"""BlueskyPlatform: the real atproto client against the fake PDS on loopback."""

from __future__ import annotations

import time

import pytest

from bot.config import Secrets
from bot.platform.base import AuthError, Unavailable
from bot.platform.bluesky import BlueskyPlatform
from bot.platform.tid import tid_for_key
from bot.platform.xhttp import WriteRefused
from scripts.fakes.bluesky import FakePds
from tests.fixtures_networks import BSKY_SECRETS, bluesky_config


def platform(fake: FakePds, *, read_only: bool = False, **sections: object) -> BlueskyPlatform:
    return BlueskyPlatform(bluesky_config(fake, **sections), BSKY_SECRETS, read_only=read_only)


def test_a_post_is_created_under_the_record_key_derived_from_its_outbox_key(
    fake_pds: FakePds,
) -> None:
    bsky = platform(fake_pds)
    uri = bsky.post("hello there", key="post-1")
    [posted] = fake_pds.posted()
    assert posted["rkey"] == tid_for_key("post-1")
    assert uri == posted["uri"] and posted["text"] == "hello there"
    assert bsky.me().id == "did:plc:tweetbotbot"


def test_a_resend_under_the_same_key_is_refused_and_reconciling_finds_the_post(
    fake_pds: FakePds,
) -> None:
    bsky = platform(fake_pds)
    uri = bsky.post("hello there", key="post-1")
    # The real PDS answers a duplicate record key with a bare 500: nothing is written.
    with pytest.raises(Unavailable, match="500"):
        bsky.post("hello there", key="post-1")
    assert len(fake_pds.posted()) == 1
    assert bsky.find_post("post-1", "hello there") == uri
    assert bsky.find_post("post-2", "hello there") is None


def test_a_reply_carries_the_threads_root_and_the_mention_as_parent(fake_pds: FakePds) -> None:
    root = fake_pds.add_post("alice.test", "thread start")
    fake_pds.add_mention("bob.test", "@tweetbot.test what do you think?", reply_to=root)
    bsky = platform(fake_pds)
    [mention] = bsky.mentions()
    assert mention.network == "bluesky" and mention.author_username == "bob.test"
    assert mention.conversation_id == root and mention.in_reply_to_tweet_id == root
    bsky.post("I think so", in_reply_to=mention.id, key="reply-1")
    reply = fake_pds.posted()[-1]["reply"]
    assert reply["parent"]["uri"] == mention.id
    assert reply["root"]["uri"] == root
    assert reply["root"]["cid"] and reply["parent"]["cid"]


def test_a_reply_after_a_restart_looks_the_mention_up(fake_pds: FakePds) -> None:
    mention_uri = fake_pds.add_mention("bob.test", "@tweetbot.test hi")
    # A fresh platform has seen no mentions: it asks getPosts for the refs.
    platform(fake_pds).post("hello bob", in_reply_to=mention_uri, key="reply-9")
    reply = fake_pds.posted()[-1]["reply"]
    assert reply["parent"]["uri"] == reply["root"]["uri"] == mention_uri


def test_mentions_are_mentions_and_replies_newer_than_the_marker(fake_pds: FakePds) -> None:
    bsky = platform(fake_pds)
    own = bsky.post("a thought", key="post-1")
    fake_pds.add_mention("alice.test", "@tweetbot.test first")
    fake_pds.add_like("carol.test", own)
    fake_pds.add_mention("bob.test", "nice thought", reply_to=own)
    found = bsky.mentions()
    assert [m.text for m in found] == ["@tweetbot.test first", "nice thought"]
    marker = found[-1].since_marker
    assert bsky.mentions(marker) == []
    fake_pds.add_mention("dave.test", "@tweetbot.test later")
    assert [m.text for m in bsky.mentions(marker)] == ["@tweetbot.test later"]
    # Live, the notifications are marked seen (a write).
    assert fake_pds.state.seen_at


def test_links_become_facets_only_when_urls_are_allowed(fake_pds: FakePds) -> None:
    text = "read https://example.com/ü?x=1. now"
    platform(fake_pds).post(text, key="a")
    assert fake_pds.posted()[-1]["facets"] is None
    platform(fake_pds, filters={"allow_urls": True}).post(text, key="b")
    [facet] = fake_pds.posted()[-1]["facets"]
    start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
    assert text.encode()[start:end].decode() == "https://example.com/ü?x=1"
    assert facet["features"][0]["uri"] == "https://example.com/ü?x=1"


def test_one_session_serves_many_calls_and_is_refreshed_not_recreated(
    fake_pds: FakePds,
) -> None:
    # Tokens that the SDK considers due for refresh at once (it refreshes 15 min early).
    fake_pds.state.access_ttl = 15 * 60
    bsky = platform(fake_pds)
    for n in range(5):
        bsky.post(f"post {n}", key=f"post-{n}")
        bsky.mentions()
    assert fake_pds.session_creations == 1
    assert fake_pds.state.session_refreshes >= 1
    assert len(fake_pds.posted()) == 5


def test_a_revoked_session_is_replaced_once_and_the_call_goes_through(
    fake_pds: FakePds,
) -> None:
    bsky = platform(fake_pds)
    bsky.post("before", key="post-1")
    fake_pds.revoke_sessions()
    bsky.post("after", key="post-2")
    assert fake_pds.session_creations == 2
    assert [p["text"] for p in fake_pds.posted()] == ["before", "after"]


def test_a_wrong_app_password_is_an_auth_error(fake_pds: FakePds) -> None:
    bsky = BlueskyPlatform(bluesky_config(fake_pds), Secrets(bluesky_app_password="wrong"))
    with pytest.raises(AuthError, match="BLUESKY_APP_PASSWORD") as caught:
        bsky.me()
    assert caught.value.exit_code == 2
    assert "wrong" not in str(caught.value)


def test_the_bot_self_label_is_checked(fake_pds: FakePds) -> None:
    assert platform(fake_pds).bot_label_warning() is None
    fake_pds.set_bot_label(False)
    warning = platform(fake_pds).bot_label_warning()
    assert warning is not None and "bot" in warning and "tweetbot.test" in warning


def test_a_read_only_client_cannot_post_nor_mark_seen(fake_pds: FakePds) -> None:
    fake_pds.add_mention("alice.test", "@tweetbot.test hi")
    reader = platform(fake_pds, read_only=True)
    assert [m.text for m in reader.mentions()] == ["@tweetbot.test hi"]
    with pytest.raises(WriteRefused):
        reader.post("must not go out", key="post-1")
    assert fake_pds.posted() == []
    assert fake_pds.requests_for("POST", "createRecord") == []
    assert fake_pds.requests_for("POST", "updateSeen") == []


def test_source_feed_marks_reposts_replies_and_quotes_and_is_incremental(
    fake_pds: FakePds,
) -> None:
    other = fake_pds.add_post("zed.test", "someone else")
    first = fake_pds.add_post("carol.test", "an original thought")
    fake_pds.add_post("carol.test", "replying here", reply_to=other)
    fake_pds.add_repost("carol.test", other)
    fake_pds.add_post("carol.test", "quoting this", quote=other)
    reader = BlueskyPlatform(bluesky_config(fake_pds), Secrets())  # public reads, no login
    pages = list(reader.user_tweets("bluesky:carol.test"))
    tweets = [t for page in pages for t in page]
    assert [(t.kind, t.text) for t in tweets] == [
        ("quote", "quoting this"),
        ("retweet", "someone else"),
        ("reply", "replying here"),
        ("original", "an original thought"),
    ]
    assert tweets[-1].id == first and tweets[1].id != other
    assert all(t.username == "bluesky:carol.test" and t.network == "bluesky" for t in tweets)
    assert fake_pds.session_creations == 0
    time.sleep(0.01)
    fake_pds.add_post("carol.test", "newest")
    newer = [t for page in reader.user_tweets("carol.test", tweets[0].cursor) for t in page]
    assert [t.text for t in newer] == ["newest"]


def test_a_rate_limited_sign_in_is_rate_limited_and_the_next_try_signs_in(
    fake_pds: FakePds,
) -> None:
    from bot.platform.base import RateLimited

    bsky = platform(fake_pds)
    fake_pds.fail_next("rate_limit", path="createSession")
    with pytest.raises(RateLimited) as caught:
        bsky.me()
    assert caught.value.reset_at is not None
    assert bsky.me().username == "tweetbot.test"
    assert fake_pds.session_creations == 1
