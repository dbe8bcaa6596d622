"""Incremental fetch: page-by-page commits, since_id after the last page, resuming after an
interruption; against an in-memory Platform and against the fake X server with real tweepy."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config, Secrets, config_from_mapping
from bot.corpus import data_table, fetch_sources, import_archive
from bot.corpus.fetch import since_id_key
from bot.errors import ConfigError
from bot.platform.base import Account, Mention, PlatformError, Tweet, Unavailable
from bot.platform.twitter import TwitterPlatform
from bot.store import Store
from scripts.fakes import FakeX
from tests.fixtures_corpus import sample_script

SAMPLE = sample_script()
TWEET_COLUMNS = (
    "id", "username", "author_id", "text", "created_at", "kind",
    "in_reply_to_id", "in_reply_to_user_id",
)  # fmt: skip


class TimelinePlatform:
    """An in-memory Platform serving timelines newest first in pages, with optional failure."""

    def __init__(self, page_size: int = 3) -> None:
        self.timelines: dict[str, list[Tweet]] = {}
        self.page_size = page_size
        self.calls: list[tuple[str, str | None]] = []
        self.pages_served = 0
        # Raise this instead of serving page number `fail_at` (1-based) of the next call.
        self.fail_at: int | None = None
        self.failure: BaseException = Unavailable("X is down")

    def add(self, username: str, count: int, start_id: int = 100) -> list[Tweet]:
        timeline = self.timelines.setdefault(username, [])
        base = datetime(2024, 1, 1, tzinfo=UTC)
        first = start_id + len(timeline)
        new = [
            Tweet(
                id=str(i),
                author_id="9",
                username=username,
                text=f"tweet number {i} from {username}",
                created_at=base + timedelta(minutes=i),
            )
            for i in range(first, first + count)
        ]
        timeline.extend(new)
        return new

    def user_tweets(self, username: str, since_id: str | None = None) -> Iterator[list[Tweet]]:
        self.calls.append((username, since_id))
        newer = [
            t for t in self.timelines.get(username, []) if not since_id or int(t.id) > int(since_id)
        ]
        newest_first = sorted(newer, key=lambda t: int(t.id), reverse=True)
        for number, start in enumerate(range(0, len(newest_first), self.page_size), start=1):
            if self.fail_at == number:
                self.fail_at = None
                raise self.failure
            self.pages_served += 1
            yield newest_first[start : start + self.page_size]

    def me(self) -> Account:
        raise NotImplementedError

    def post(self, text: str, in_reply_to: str | None = None, key: str | None = None) -> str:
        raise NotImplementedError

    def mentions(self, since_id: str | None = None) -> list[Mention]:
        raise NotImplementedError


def _config(*usernames: str, **source: Any) -> Config:
    return config_from_mapping({"source": {"usernames": list(usernames), **source}})


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "tweetbot.db")


def _ids(store: Store) -> set[str]:
    return {row["id"] for row in store.tweets()}


def test_first_fetch_stores_everything_then_only_new(store: Store) -> None:
    platform = TimelinePlatform()
    platform.add("alice", 10)
    config = _config("alice")
    summary = fetch_sources(store, platform, config)
    assert (summary.new, summary.sources[0].pages) == (10, 4)
    assert summary.line() == "fetched 10 new tweets (@alice 10 new of 10)"
    assert store.since_id(since_id_key("alice")) == "109"
    assert all(row["kept"] == 1 and row["source"] == "api" for row in store.tweets())

    again = fetch_sources(store, platform, config)
    assert again.new == 0
    assert platform.calls[-1] == ("alice", "109")
    assert len(store.tweets()) == 10

    platform.add("alice", 4)
    third = fetch_sources(store, platform, config)
    assert third.new == 4
    assert store.since_id(since_id_key("alice")) == "113"
    assert len(_ids(store)) == 14


def test_since_id_is_per_source_and_case_insensitive(store: Store) -> None:
    platform = TimelinePlatform()
    platform.add("Alice", 5, start_id=100)
    platform.add("bob", 2, start_id=500)
    summary = fetch_sources(store, platform, _config("Alice", "bob"))
    assert summary.new_by_source() == {"Alice": 5, "bob": 2}
    assert store.since_id("source:alice") == "104"
    assert store.since_id("source:bob") == "501"


@pytest.mark.parametrize("failure", [KeyboardInterrupt(), Unavailable("503 from X")])
def test_interrupted_fetch_keeps_committed_pages_and_resumes(
    store: Store, failure: BaseException
) -> None:
    platform = TimelinePlatform(page_size=3)
    platform.add("alice", 5, start_id=100)
    config = _config("alice")
    fetch_sources(store, platform, config)
    assert store.since_id("source:alice") == "104"
    platform.add("alice", 10)  # ids 105..114, four pages newest first
    platform.fail_at, platform.failure = 3, failure
    with pytest.raises(type(failure)):
        fetch_sources(store, platform, config)
    # The two newest pages are committed (and cleaned); the since_id did not move past the
    # older tweets that were never fetched.
    assert _ids(store) >= {str(i) for i in range(109, 115)}
    assert not _ids(store) & {str(i) for i in range(105, 109)}
    assert store.since_id("source:alice") == "104"
    assert all(row["kept"] == 1 for row in store.tweets())

    resumed = fetch_sources(store, platform, config)
    assert platform.calls[-1] == ("alice", "104")
    assert resumed.new == 4
    assert _ids(store) == {str(i) for i in range(100, 115)}
    assert store.since_id("source:alice") == "114"


def test_fetch_needs_sources(store: Store) -> None:
    with pytest.raises(ConfigError, match=r"\[source\] usernames"):
        fetch_sources(store, TimelinePlatform(), _config())


def test_progress_bar_on_request(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    platform = TimelinePlatform()
    platform.add("alice", 7)
    summary = fetch_sources(store, platform, _config("alice"), progress=True)
    assert summary.new == 7
    # The bar goes to stderr, so stdout stays the summary line's.
    assert "fetching @alice" in capsys.readouterr().err


# ---- through real tweepy against the fake X server -------------------------------------------


def _x_platform(fake_x: FakeX) -> TwitterPlatform:
    config = config_from_mapping({"twitter": {"api_base_url": fake_x.base_url, "timeout": "5s"}})
    return TwitterPlatform(config, Secrets(bearer_token="fake-bearer"), read_only=True)


def _columns(store: Store) -> list[dict[str, Any]]:
    return [{k: row[k] for k in TWEET_COLUMNS} for row in store.tweets()]


def test_fetch_from_x_equals_import_of_the_archive(
    fake_x: FakeX, sample_archive: Path, tmp_path: Path
) -> None:
    config = _config("skerryhorn")
    imported = Store(tmp_path / "imported.db")
    import_archive(imported, sample_archive, config=config)

    fake_x.add_user("skerryhorn", SAMPLE.ACCOUNT_ID)
    fake_x.add_tweets("skerryhorn", [SAMPLE.to_api_v2(t) for t in SAMPLE.sample_tweets()])
    fetched = Store(tmp_path / "fetched.db")
    summary = fetch_sources(fetched, _x_platform(fake_x), config)
    assert summary.new == 2400

    assert data_table(fetched, config).to_dict() == data_table(imported, config).to_dict()
    assert _columns(fetched) == _columns(imported)

    # Re-fetching asks only for what is newer, and stores nothing.
    requests_before = len(fake_x.requests_for("GET", r"/2/users/\d+/tweets"))
    again = fetch_sources(fetched, _x_platform(fake_x), config)
    assert again.new == 0
    timeline = fake_x.requests_for("GET", r"/2/users/\d+/tweets")[requests_before:]
    assert len(timeline) == 1
    assert timeline[0].query.get("since_id") == fetched.since_id("source:skerryhorn")
    assert len(fetched.tweets()) == 2400


class FailAfterPages:
    """Wraps a platform so that X starts failing after `pages` pages were handed out."""

    def __init__(self, inner: TwitterPlatform, fake_x: FakeX, pages: int) -> None:
        self.inner, self.fake_x, self.pages = inner, fake_x, pages

    def user_tweets(self, username: str, since_id: str | None = None) -> Iterator[list[Tweet]]:
        for number, page in enumerate(self.inner.user_tweets(username, since_id), start=1):
            yield page
            if number == self.pages:
                self.fake_x.fail_next(r"/2/users/\d+/tweets", "server_error", count=5)


def test_x_error_mid_pagination_keeps_pages_and_resumes(fake_x: FakeX, tmp_path: Path) -> None:
    config = _config("skerryhorn")
    fake_x.add_user("skerryhorn", SAMPLE.ACCOUNT_ID)
    fake_x.add_tweets("skerryhorn", [SAMPLE.to_api_v2(t) for t in SAMPLE.sample_tweets(350)])
    store = Store(tmp_path / "tweetbot.db")
    flaky = FailAfterPages(_x_platform(fake_x), fake_x, pages=2)
    with pytest.raises(PlatformError):
        fetch_sources(store, flaky, config)  # type: ignore[arg-type]
    assert len(store.tweets()) == 200
    assert store.since_id("source:skerryhorn") is None

    fake_x.state.faults.clear()
    resumed = fetch_sources(store, _x_platform(fake_x), config)
    assert resumed.new == 150
    assert len(store.tweets()) == 350
    newest = max(int(t["id_str"]) for t in SAMPLE.sample_tweets(350))
    assert store.since_id("source:skerryhorn") == str(newest)


def test_a_long_post_has_the_same_full_text_fetched_and_imported(
    fake_x: FakeX, tmp_path: Path
) -> None:
    full = " ".join(f"word{i}" for i in range(70))  # 400+ characters: a note tweet
    cut = full[:270] + "… https://t.co/cutcutcut"
    moment_ms = 1_712_000_000_000 - 1288834974657  # snowflake milliseconds, spring 2024
    tweet_id, note_id = str((moment_ms + 20) << 22), str(moment_ms << 22)
    created = "Mon Apr 01 19:33:20 +0000 2024"
    archive = tmp_path / "archive" / "data"
    archive.mkdir(parents=True)
    (archive / "account.js").write_text(SAMPLE.account_js("longwriter", "77"), encoding="utf-8")
    tweet = {"id_str": tweet_id, "full_text": cut, "created_at": created}
    (archive / "tweets.js").write_text(SAMPLE.ytd_js("tweets", 0, [{"tweet": tweet}]))
    note = {"noteTweetId": note_id, "createdAt": "2024-04-01T19:33:20.000Z",
            "core": {"text": full, "urls": [], "mentions": [], "hashtags": []}}  # fmt: skip
    (archive / "note-tweet.js").write_text(SAMPLE.ytd_js("note_tweet", 0, [{"noteTweet": note}]))
    config = _config("longwriter")
    imported = Store(tmp_path / "imported.db")
    assert import_archive(imported, archive.parent, config=config).long_posts == 1

    fake_x.add_user("longwriter", "77")
    fake_x.add_tweets("longwriter", [{"id": tweet_id, "text": cut, "note_tweet": {"text": full}}])
    fetched = Store(tmp_path / "fetched.db")
    fetch_sources(fetched, _x_platform(fake_x), config)
    assert [r["text"] for r in imported.tweets()] == [full] == [r["text"] for r in fetched.tweets()]
    assert [r["clean_text"] for r in fetched.tweets()] == [full]
