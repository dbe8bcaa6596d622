"""The SQLite store: migrations, refusal of foreign or newer files, atomic writes, outbox
transitions, dump and restore, and the registry."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.errors import StoreError
from bot.store import (
    LIVE_POST_STATUSES,
    SCHEMA_VERSION,
    MentionStatus,
    PostStatus,
    ReplyExists,
    Store,
    utcnow,
)
from bot.store.schema import _migration_1

TABLES = {
    "tweets",
    "posts",
    "mentions",
    "state",
    "training_runs",
    "model_versions",
    "schema_migrations",
}


def tweet(i: int, **extra: Any) -> dict[str, Any]:
    return {"id": str(i), "username": "alice", "text": f"t{i}", "kind": "original", **extra}


def table_names(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_fresh_database_has_every_table_in_wal_mode(tmp_path: Path) -> None:
    store = Store(tmp_path / "tweetbot.db")
    assert table_names(store.path) >= TABLES
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.schema_version == SCHEMA_VERSION


def test_migrations_rerun_as_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "tweetbot.db"
    store = Store(path)
    store.set_state("k", "v")
    assert store.migrate() == SCHEMA_VERSION
    store.close()
    again = Store(path)
    assert again.get_state("k") == "v"
    assert again.schema_version == SCHEMA_VERSION


@pytest.mark.parametrize("where", ["pragma", "table"])
def test_newer_schema_is_refused(tmp_path: Path, where: str) -> None:
    path = tmp_path / "tweetbot.db"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        if where == "pragma":
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        else:
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?, '2030-01-01')", [SCHEMA_VERSION + 1]
            )
    with pytest.raises(StoreError, match="newer tweetbot"):
        Store(path)


@pytest.mark.parametrize(
    "content", [b"this is not a database at all", b"SQLite format 3\x00" + b"\xff" * 200]
)
def test_corrupt_file_is_refused_and_left_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "tweetbot.db"
    path.write_bytes(content)
    with pytest.raises(StoreError, match=str(path)):
        Store(path)
    assert path.read_bytes() == content
    assert not (tmp_path / "tweetbot.db-wal").exists()


def test_since_id_only_moves_forward_per_network(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    assert store.since_id("source:alice") is None
    store.set_since_id("source:alice", "200")
    store.set_since_id("source:alice", "100")
    assert store.since_id("source:alice") == "200"
    store.set_since_id("source:alice", "1000")  # longer id, compared as a number
    assert store.since_id("source:alice") == "1000"
    store.set_since_id("mentions", "5", network="mastodon")
    assert store.since_id("mentions", network="mastodon") == "5"
    assert store.since_id("mentions") is None
    assert store.state_items("since_id:") == {
        "since_id:x:source:alice": "1000",
        "since_id:mastodon:mentions": "5",
    }


def test_insert_tweets_is_idempotent_and_keyed_per_network(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    rows = [tweet(i) for i in range(5)]
    assert store.insert_tweets(rows) == 5
    assert store.insert_tweets(iter(rows)) == 0
    assert [t.id for t in store.tweets("ALICE")] == [str(i) for i in range(5)]
    # The same id on another network is another post.
    assert store.insert_tweets([tweet(1, network="mastodon")]) == 1
    assert store.tweet_count() == 6
    assert [t.network for t in store.tweets(network="mastodon")] == ["mastodon"]


def test_an_import_whose_iterator_fails_at_the_last_entry_stores_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")

    def entries() -> Iterator[dict[str, Any]]:
        yield from (tweet(i) for i in range(499))
        raise ValueError("entry 500: not a tweet")

    with pytest.raises(ValueError, match="entry 500"):
        store.insert_tweets(entries())
    assert store.tweet_count() == 0
    assert store.insert_tweets([tweet(1)]) == 1  # and the store is usable afterwards


def test_a_lone_surrogate_in_the_last_entry_stores_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    rows = [tweet(i) for i in range(499)] + [tweet(499, text="bad \ud800 text")]
    with pytest.raises(UnicodeEncodeError):
        store.insert_tweets(rows)
    assert store.tweet_count() == 0


def test_an_unknown_column_is_refused_before_anything_is_stored(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    with pytest.raises(StoreError, match="no column"):
        store.insert_tweets([tweet(1), tweet(2, colour="red")])
    assert store.tweet_count() == 0


def test_outbox_lifecycle_and_budget_counts(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    post = store.add_post("post", "hello world", model_version="v1")
    assert post.status is PostStatus.PENDING and len(post.key) == 32
    assert store.posts("pending")[0].id == post.id
    assert store.mark_post(post.id, "posted", remote_id="99")
    row = store.post(post.id)
    assert row is not None
    assert (row.status, row.remote_id, row.key) == ("posted", "99", post.key)
    assert row.posted_at
    assert row.to_dict()["status"] == "posted"
    store.record_skip("post", "novelty: copies a source tweet", text="x")
    assert store.count_posts_since(utcnow() - timedelta(hours=1)) == 1
    assert store.posted_texts_since(utcnow() - timedelta(days=1)) == ["hello world"]
    assert store.last_post_time() is not None
    with pytest.raises(ValueError):
        store.mark_post(post.id, "bogus")


def test_an_outbox_transition_is_a_compare_and_set(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    post = store.add_post("post", "hello")
    assert store.mark_post(post.id, PostStatus.POSTED, remote_id="1")
    # A late reconcile cannot turn a posted row unknown; nor can a second sender re-post it.
    assert not store.mark_post(post.id, PostStatus.UNKNOWN, reason="late")
    assert not store.mark_post(post.id, PostStatus.POSTED, remote_id="2")
    row = store.post(post.id)
    assert row is not None and (row.status, row.remote_id, row.reason) == ("posted", "1", None)


def test_keys_are_stable_and_distinct(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    keys = [store.add_post("post", f"t{i}").key for i in range(20)]
    assert len(set(keys)) == 20
    assert [r.key for r in reversed(store.posts())] == keys
    other = Store(tmp_path / "other.db")
    assert other.add_post("post", "t0").key != keys[0]  # a salt per database


def test_dry_run_rows_and_live_rows_never_count_for_each_other(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    store.add_post("post", "rehearsal", dry_run=True)
    store.add_post("post", "for real")
    hour_ago = utcnow() - timedelta(hours=1)
    assert store.count_posts_since(hour_ago) == 1
    assert store.count_posts_since(hour_ago, dry_run=True) == 1
    assert store.posted_texts_since(hour_ago) == ["for real"]
    assert store.posted_texts_since(hour_ago, dry_run=True) == ["rehearsal"]
    assert store.count_posts_since(hour_ago, network="bluesky") == 0


def test_live_statuses_are_defined_once_and_the_index_uses_them(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    sql = store.conn.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'idx_posts_one_reply_per_mention'"
    ).fetchone()[0]
    listed = sql.split("IN", 1)[1]
    assert {s.value for s in PostStatus if f"'{s.value}'" in listed} == set(LIVE_POST_STATUSES)
    assert set(LIVE_POST_STATUSES) == {
        "awaiting_review",
        "approved",
        "pending",
        "posted",
        "unknown",
    }


def test_a_mention_gets_at_most_one_live_reply(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    store.insert_mentions([{"id": "m1", "author_id": "7", "text": "hi"}])
    first = store.add_post("reply", "one", mention_id="m1")
    with pytest.raises(ReplyExists):
        store.add_post("reply", "two", mention_id="m1")
    # A reply waiting for review holds the mention too.
    with pytest.raises(ReplyExists):
        store.add_post("reply", "three", mention_id="m1", status="awaiting_review")
    assert store.mark_post(first.id, "failed", reason="X down")
    store.add_post("reply", "retry", mention_id="m1")  # a failed one may be retried
    store.add_post("reply", "rehearsal", mention_id="m1", dry_run=True)  # another world


def test_marking_a_post_updates_its_mention_in_the_same_transaction(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    store.insert_mentions([{"id": "m1", "author_id": "7", "text": "hi"}])
    reply = store.add_post("reply", "hello", mention_id="m1")
    assert store.mark_post(reply.id, "posted", remote_id="5", mention=(MentionStatus.REPLIED, None))
    assert store.mentions()[0].status is MentionStatus.REPLIED
    # A transition that does not happen leaves the mention alone.
    assert not store.mark_post(reply.id, "unknown", mention=(MentionStatus.FAILED, "x"))
    assert store.mentions()[0].status is MentionStatus.REPLIED


def test_model_registry_keeps_exactly_one_current(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    for name, loss in (("v1", 3.0), ("v2", 2.5)):
        store.add_model_version(
            name, f"/m/{name}", base="scratch:tiny", eval_loss=loss, train_loss=loss
        )
    store.set_current_model("v1")
    store.set_current_model("v2")
    assert [v.version for v in store.model_versions() if v.current] == ["v2"]
    with pytest.raises(StoreError):
        store.set_current_model("v9")
    assert [v.version for v in store.model_versions() if v.current] == ["v2"]
    with pytest.raises(StoreError, match="current"):
        store.delete_model_version("v2")
    store.delete_model_version("v1")
    assert store.model_version("v1") is None
    # The database itself refuses a second current version.
    store.add_model_version("v3", "/m/v3", base="gpt2", eval_loss=1.0, train_loss=1.0)
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute("UPDATE model_versions SET current = 1")


def test_training_runs_are_recorded(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    run = store.start_training_run()
    store.finish_training_run(run, "failed", error="out of memory")
    assert store.training_runs()[0].status == "failed"


def _filled_store(path: Path) -> Store:
    store = Store(path)
    store.insert_tweets([tweet(i) for i in range(3)])
    store.add_post("post", "hello")
    store.add_model_version("v1", "/m/v1", base="gpt2", eval_loss=1.0, train_loss=1.0)
    store.set_current_model("v1")
    return store


def test_a_database_restored_from_iterdump_opens(tmp_path: Path) -> None:
    store = _filled_store(tmp_path / "live.db")
    dump = "\n".join(store.conn.iterdump())
    store.close()
    restored = tmp_path / "restored.db"
    with sqlite3.connect(restored) as conn:
        conn.executescript(dump)
    again = Store(restored)
    assert again.schema_version == SCHEMA_VERSION
    assert again.tweet_count() == 3
    assert [p.text for p in again.posts()] == ["hello"]
    current = again.current_model()
    assert current is not None and current.version == "v1"
    again.add_post("post", "after the restore")  # the key salt came along


def test_a_database_restored_with_the_sqlite3_cli_opens(tmp_path: Path) -> None:
    _filled_store(tmp_path / "live.db").close()
    dump = subprocess.run(
        ["sqlite3", str(tmp_path / "live.db"), ".dump"], check=True, capture_output=True
    ).stdout
    restored = tmp_path / "restored.db"
    subprocess.run(["sqlite3", str(restored)], input=dump, check=True)
    again = Store(restored)
    assert again.schema_version == SCHEMA_VERSION
    assert again.tweet_count() == 3


def _v1_database(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        _migration_1(conn)
        conn.execute("PRAGMA user_version = 1")
        conn.execute(
            "INSERT INTO tweets (id, username, text, kind) VALUES ('1', 'alice', 'hi', 'original')"
        )
        conn.execute(
            "INSERT INTO posts (kind, text, status, tweet_id, created_at) VALUES "
            "('post', 'live one', 'posted', '77', '2026-01-01T00:00:00+00:00'), "
            "('post', 'dry one', 'posted', 'dryrun-20260101-1', '2026-01-01T00:00:00+00:00')"
        )
        conn.execute("INSERT INTO state (key, value) VALUES ('since_id:mentions', '42')")


def test_a_v1_database_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    _v1_database(path)
    store = Store(path)
    assert store.schema_version == SCHEMA_VERSION
    assert [t.network for t in store.tweets()] == ["x"]
    rows = {p.text: p for p in store.posts()}
    assert (rows["live one"].remote_id, rows["live one"].dry_run) == ("77", False)
    assert rows["dry one"].dry_run is True
    assert len({p.key for p in rows.values()}) == 2
    assert store.since_id("mentions") == "42"


def test_a_v1_database_restored_from_a_dump_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    _v1_database(path)
    with sqlite3.connect(path) as conn:
        dump = "\n".join(conn.iterdump())
    restored = tmp_path / "restored.db"
    with sqlite3.connect(restored) as conn:
        conn.executescript(dump)  # user_version is 0 here
    store = Store(restored)
    assert store.schema_version == SCHEMA_VERSION
    assert store.tweet_count() == 1
