"""TwitterPlatform through the real tweepy client against the fake X API v2 server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.config import Config, Secrets, config_from_mapping
from bot.platform import AuthError, NotFound, Platform
from bot.platform.twitter import TIMELINE_EXPANSIONS, TWEET_FIELDS, TwitterPlatform
from scripts.fakes import FakeX

USER_KEYS = Secrets("ck", "cs", "at", "ats")
BEARER_ONLY = Secrets(bearer_token="bearer-token-xyz")


def x_config(fake: FakeX, timeout: str = "2s") -> Config:
    """A config pointing the platform at the fake server."""
    return config_from_mapping({"twitter": {"api_base_url": fake.base_url, "timeout": timeout}})


@pytest.fixture
def platform(fake_x: FakeX) -> TwitterPlatform:
    return TwitterPlatform(x_config(fake_x), USER_KEYS)


def test_is_a_platform(platform: TwitterPlatform) -> None:
    assert isinstance(platform, Platform)


def test_me_uses_user_context_and_is_cached(platform: TwitterPlatform, fake_x: FakeX) -> None:
    account = platform.me()
    assert (account.id, account.username) == ("1000", "tweetbot_bot")
    assert platform.me() == account
    calls = fake_x.requests_for("GET", "/2/users/me")
    assert len(calls) == 1
    assert calls[0].auth == "oauth1"


def test_base_url_with_a_path_prefix_is_honoured(fake_x: FakeX) -> None:
    # A proxy mounted under a path: the fake only knows /2/..., so a prefix that were
    # dropped or doubled would 404.
    config = config_from_mapping({"twitter": {"api_base_url": fake_x.base_url + "/"}})
    assert TwitterPlatform(config, USER_KEYS).me().username == "tweetbot_bot"


def test_post_and_reply(platform: TwitterPlatform, fake_x: FakeX) -> None:
    mention = fake_x.add_mention("@tweetbot_bot what do you think?", author="alice")
    first = platform.post("a thought")
    reply = platform.post("I think so", in_reply_to=mention["id"])
    posted = fake_x.posted
    assert [p["id"] for p in posted] == [first, reply]
    assert posted[0]["text"] == "a thought"
    assert "referenced_tweets" not in posted[0]
    assert posted[1]["referenced_tweets"] == [{"type": "replied_to", "id": mention["id"]}]
    assert posted[1]["in_reply_to_user_id"] == fake_x.user_by_username("alice")["id"]  # type: ignore[index]
    assert all(r.auth == "oauth1" for r in fake_x.requests_for("POST"))


def test_post_without_user_keys_sends_nothing(fake_x: FakeX) -> None:
    platform = TwitterPlatform(x_config(fake_x), BEARER_ONLY)
    with pytest.raises(AuthError, match=r"OAuth 1\.0a"):
        platform.post("hello")
    assert fake_x.requests_for("POST") == []


def test_no_credentials_at_all_is_an_auth_error(fake_x: FakeX) -> None:
    with pytest.raises(AuthError, match="TWITTER_CONSUMER_KEY"):
        TwitterPlatform(x_config(fake_x), Secrets())


def test_mentions_all_pages_oldest_first_with_reply_fields(
    platform: TwitterPlatform, fake_x: FakeX
) -> None:
    mine = platform.post("original thought")
    for i in range(230):
        fake_x.add_mention(f"@tweetbot_bot number {i}", author=f"user{i % 7}")
    reply = fake_x.add_mention("@tweetbot_bot replying", author="bob", in_reply_to=mine)
    mentions = platform.mentions()
    assert len(mentions) == 231
    assert [int(m.id) for m in mentions] == sorted(int(m.id) for m in mentions)
    assert mentions[0].text == "@tweetbot_bot number 0"
    assert mentions[0].author_username == "user0"
    last = mentions[-1]
    assert last.id == reply["id"]
    assert last.author_username == "bob"
    assert last.in_reply_to_tweet_id == mine
    assert last.in_reply_to_user_id == "1000"
    assert last.conversation_id == mine
    assert last.created_at.tzinfo is not None
    pages = fake_x.requests_for("GET", "/mentions$")
    assert len(pages) == 3  # 100 + 100 + 31
    assert {"author_id", "conversation_id", "created_at", "referenced_tweets"} <= pages[0].fields
    assert "author_id" in pages[0].expansions
    assert all(p.auth == "oauth1" for p in pages)


def test_mentions_since_id(platform: TwitterPlatform, fake_x: FakeX) -> None:
    old = fake_x.add_mention("@tweetbot_bot old")
    new = fake_x.add_mention("@tweetbot_bot new")
    assert [m.id for m in platform.mentions(since_id=old["id"])] == [new["id"]]
    assert platform.mentions(since_id=new["id"]) == []


def test_mentions_reach_back_800(platform: TwitterPlatform, fake_x: FakeX) -> None:
    for i in range(805):
        fake_x.add_mention(f"@tweetbot_bot {i}")
    mentions = platform.mentions()
    assert len(mentions) == 800
    assert mentions[0].text == "@tweetbot_bot 5"


def _timeline(fake: FakeX) -> dict[str, dict]:
    """A source account with one tweet of each kind, oldest first."""
    fake.add_tweets("someone_else", [{"text": "the quoted and retweeted one"}])
    other = next(t for t in fake.state.tweets.values() if t["text"].startswith("the quoted"))
    stored = fake.add_tweets(
        "dril",
        [
            {
                "text": "an original with a link https://t.co/abc",
                "entities": {
                    "urls": [{"url": "https://t.co/abc", "expanded_url": "https://example.com/x"}]
                },
            },
            {
                "text": "RT @someone_else: the quoted and retweeted one",
                "referenced_tweets": [{"type": "retweeted", "id": other["id"]}],
            },
            {
                "text": "@someone_else indeed",
                "referenced_tweets": [{"type": "replied_to", "id": other["id"]}],
                "in_reply_to_user_id": other["author_id"],
                "conversation_id": other["conversation_id"],
            },
            {
                "text": "look at this https://t.co/q",
                "referenced_tweets": [{"type": "quoted", "id": other["id"]}],
            },
        ],
    )
    return {
        kind: t for kind, t in zip(["original", "retweet", "reply", "quote"], stored, strict=True)
    }


def test_user_tweets_kinds_and_fields(platform: TwitterPlatform, fake_x: FakeX) -> None:
    expected = _timeline(fake_x)
    pages = list(platform.user_tweets("dril"))
    assert len(pages) == 1
    tweets = {t.kind: t for t in pages[0]}
    assert [t.kind for t in pages[0]] == ["quote", "reply", "retweet", "original"]  # newest first
    original = tweets["original"]
    assert original.id == expected["original"]["id"]
    assert original.username == "dril"
    assert original.author_id == fake_x.user_by_username("dril")["id"]  # type: ignore[index]
    assert original.urls == (("https://t.co/abc", "https://example.com/x"),)
    assert original.created_at == datetime.fromisoformat(
        expected["original"]["created_at"].replace("Z", "+00:00")
    )
    assert original.created_at.tzinfo == UTC
    other_id = expected["retweet"]["referenced_tweets"][0]["id"]
    assert tweets["retweet"].referenced_id == other_id
    assert tweets["reply"].in_reply_to_id == other_id
    assert tweets["reply"].in_reply_to_user_id == expected["reply"]["in_reply_to_user_id"]
    assert tweets["quote"].referenced_id == other_id
    request = fake_x.requests_for("GET", "/tweets$")[0]
    assert set(TWEET_FIELDS) <= request.fields
    assert set(TIMELINE_EXPANSIONS) <= request.expansions
    assert request.query["max_results"] == "100"
    assert "exclude" not in request.query  # retweets and replies are wanted


def test_user_tweets_pages_newest_first_and_since_id(
    platform: TwitterPlatform, fake_x: FakeX
) -> None:
    stored = fake_x.add_tweets("dril", [{"text": f"tweet {i}"} for i in range(250)])
    pages = list(platform.user_tweets("@dril"))
    assert [len(p) for p in pages] == [100, 100, 50]
    ids = [t.id for page in pages for t in page]
    assert ids == [t["id"] for t in reversed(stored)]
    newer = list(platform.user_tweets("dril", since_id=stored[244]["id"]))
    assert [t.text for page in newer for t in page] == [f"tweet {i}" for i in range(249, 244, -1)]
    # The username was resolved once and remembered.
    assert len(fake_x.requests_for("GET", "/by/username/")) == 1


def test_user_tweets_reach_back_3200(platform: TwitterPlatform, fake_x: FakeX) -> None:
    fake_x.add_tweets("prolific", [{"text": f"t{i}"} for i in range(3250)])
    tweets = [t for page in platform.user_tweets("prolific") for t in page]
    assert len(tweets) == 3200
    assert tweets[-1].text == "t50"


def test_long_tweet_text_comes_from_note_tweet(platform: TwitterPlatform, fake_x: FakeX) -> None:
    long_text = "word " * 100
    fake_x.add_tweets("dril", [{"text": long_text[:270] + "…", "note_tweet": {"text": long_text}}])
    [[tweet]] = list(platform.user_tweets("dril"))
    assert tweet.text == long_text


def test_unknown_username_is_not_found(platform: TwitterPlatform) -> None:
    with pytest.raises(NotFound, match="nobody_here"):
        list(platform.user_tweets("nobody_here"))


def test_bearer_only_reads_other_accounts_with_the_bearer(fake_x: FakeX) -> None:
    fake_x.add_tweets("dril", [{"text": "hello"}])
    platform = TwitterPlatform(x_config(fake_x), BEARER_ONLY)
    assert [t.text for page in platform.user_tweets("dril") for t in page] == ["hello"]
    assert {r.auth for r in fake_x.requests} == {"bearer"}
    with pytest.raises(AuthError):
        platform.me()


def test_default_base_url_is_x_and_the_guard_stops_it() -> None:
    # Without api_base_url the platform would talk to the real X; the autouse loopback guard
    # must stop that before a DNS query leaves the machine, and the platform must not
    # swallow the guard's failure as an ordinary network error.
    from tests.conftest import OffLoopbackConnection

    platform = TwitterPlatform(Config(), USER_KEYS)
    with pytest.raises(OffLoopbackConnection, match=r"api\.twitter\.com"):
        platform.me()


def test_oauth_signature_is_for_x_so_a_forwarding_proxy_works(fake_x: FakeX) -> None:
    # The fake checks signatures the way X would behind a proxy: against X's own URL.
    fake_x.oauth_secrets = ("cs", "ats")
    platform = TwitterPlatform(x_config(fake_x), USER_KEYS)
    fake_x.add_tweets("dril", [{"text": "signed read with a query string"}])
    assert platform.me().id == "1000"
    assert [t.text for page in platform.user_tweets("dril") for t in page] == [
        "signed read with a query string"
    ]
    platform.post("signed write")
    assert [p["text"] for p in fake_x.posted] == ["signed write"]
    # And a wrong secret is caught, so the check above is not vacuous.
    wrong = TwitterPlatform(x_config(fake_x), Secrets("ck", "WRONG", "at", "ats"))
    with pytest.raises(AuthError, match="401"):
        wrong.me()


def test_environment_proxy_settings_apply_to_the_real_host(
    fake_x: FakeX, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy for everything but loopback: requests must judge NO_PROXY by the host we send
    # to (the fake), not by api.twitter.com, or it would try the dead proxy on port 9.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    platform = TwitterPlatform(x_config(fake_x), USER_KEYS)
    assert platform.me().username == "tweetbot_bot"


def test_garbled_fields_in_a_tweet_are_bad_response(
    platform: TwitterPlatform, fake_x: FakeX
) -> None:
    from bot.platform import BadResponse

    fake_x.add_tweets("dril", [{"text": "odd", "entities": "not an object"}])
    [[tweet]] = list(platform.user_tweets("dril"))
    assert tweet.urls == ()
    fake_x.add_tweets("dril", [{"text": "odder", "created_at": "last tuesday"}])
    with pytest.raises(BadResponse, match="last tuesday"):
        list(platform.user_tweets("dril"))
