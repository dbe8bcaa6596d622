"""The SQLite store: migrations, refusal of foreign or newer files, outbox and registry."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from bot.errors import StoreError
from bot.store import SCHEMA_VERSION, Store, utcnow

TABLES = {"tweets", "posts", "mentions", "state", "training_runs", "model_versions"}


def test_fresh_database_has_every_table_in_wal_mode(tmp_path: Path) -> None:
    store = Store(tmp_path / "tweetbot.db")
    assert set(store.db.table_names()) >= TABLES
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
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


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tweetbot.db"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
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


def test_since_id_only_moves_forward(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    assert store.since_id("source:alice") is None
    store.set_since_id("source:alice", "200")
    store.set_since_id("source:alice", "100")
    assert store.since_id("source:alice") == "200"
    store.set_since_id("source:alice", "1000")  # longer id, compared as a number
    assert store.since_id("source:alice") == "1000"


def test_insert_tweets_is_idempotent(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    rows = [
        {"id": str(i), "username": "alice", "text": f"t{i}", "kind": "original"} for i in range(5)
    ]
    assert store.insert_tweets(rows) == 5
    assert store.insert_tweets(rows) == 0
    assert [t["id"] for t in store.tweets("ALICE")] == [str(i) for i in range(5)]


def test_outbox_lifecycle_and_budget_counts(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    post = store.add_pending_post("post", "hello world", model_version="v1")
    assert store.posts("pending")[0]["id"] == post
    store.mark_post(post, "posted", tweet_id="99")
    row = store.posts()[0]
    assert (row["status"], row["tweet_id"]) == ("posted", "99")
    assert row["posted_at"]
    store.record_skip("post", "novelty: copies a source tweet", text="x")
    assert store.count_posts_since(utcnow() - timedelta(hours=1)) == 1
    assert store.posted_texts_since(utcnow() - timedelta(days=1)) == ["hello world"]
    assert store.last_post_time() is not None
    with pytest.raises(ValueError):
        store.mark_post(post, "bogus")


def test_a_mention_gets_at_most_one_live_reply(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    store.insert_mentions([{"id": "m1", "author_id": "7", "text": "hi"}])
    first = store.add_pending_post("reply", "one", mention_id="m1")
    with pytest.raises(sqlite3.IntegrityError):
        store.add_pending_post("reply", "two", mention_id="m1")
    store.mark_post(first, "failed", reason="X down")
    store.add_pending_post("reply", "retry", mention_id="m1")  # a failed one may be retried


def test_model_registry_keeps_exactly_one_current(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    for name, loss in (("v1", 3.0), ("v2", 2.5)):
        store.add_model_version(
            name, f"/m/{name}", base="scratch:tiny", eval_loss=loss, train_loss=loss
        )
    store.set_current_model("v1")
    store.set_current_model("v2")
    assert [v["version"] for v in store.model_versions() if v["current"]] == ["v2"]
    with pytest.raises(StoreError):
        store.set_current_model("v9")
    with pytest.raises(StoreError, match="current"):
        store.delete_model_version("v2")
    store.delete_model_version("v1")
    assert store.model_version("v1") is None


def test_training_runs_are_recorded(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    run = store.start_training_run()
    store.finish_training_run(run, "failed", error="out of memory")
    assert store.training_runs()[0]["status"] == "failed"
