"""From stored tweets to training text, novelty reference and the data table (real SQLite)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bot.config import config_from_mapping
from bot.corpus import apply_rules, data_table, source_texts, training_texts
from bot.store import Store


def _tweet(n: int, username: str, text: str, kind: str = "original") -> dict[str, Any]:
    return {
        "id": str(n),
        "username": username,
        "text": text,
        "kind": kind,
        "created_at": f"2024-01-01T00:{n % 60:02d}:00+00:00",
    }


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "tweetbot.db")
    alice = [_tweet(i, "alice", f"alice says thing number {i}") for i in range(1, 13)]
    alice += [
        _tweet(20, "alice", "RT @bob: bob says a retweeted thing"),
        _tweet(21, "alice", "ok"),
        _tweet(22, "alice", "@bob replying to bob here", kind="reply"),
        _tweet(23, "alice", "alice says thing number 1"),  # a repeat
        _tweet(24, "alice", "https://t.co/xyz"),  # a lone link is short, as in huggingtweets
    ]
    bob = [_tweet(100 + i, "Bob", f"bob &amp; his thought {i}") for i in range(3)]
    store.insert_tweets(alice + bob)
    return store


def test_data_table_per_source_and_total(store: Store) -> None:
    config = config_from_mapping({"source": {"usernames": ["alice", "bob"]}})
    table = data_table(store, config)
    alice = table.sources["alice"].to_dict()
    assert alice == {
        "downloaded": 17,
        "retweets": 1,
        "short": 2,
        "dropped": {"retweet": 1, "short": 2, "reply": 0, "empty": 0, "duplicate": 1},
        "kept": 13,
    }
    assert table.sources["bob"].to_dict()["kept"] == 3
    assert table.total.to_dict()["downloaded"] == 20
    assert table.total.to_dict()["kept"] == 16
    markdown = table.markdown()
    assert markdown.startswith("@alice\n\n| Data | Quantity |\n| --- | --- |\n")
    assert "@bob\n\n" in markdown
    assert markdown.endswith("| Duplicates | 1 |\n| Tweets kept | 16 |")
    assert "Total\n\n| Data | Quantity |" in markdown
    assert "| Replies |" not in markdown  # other drops appear only when there are some

    dropping = config_from_mapping({"source": {"usernames": ["alice"], "drop_replies": True}})
    only_alice = data_table(store, dropping)
    assert list(only_alice.sources) == ["alice"]
    assert only_alice.total.to_dict()["dropped"]["reply"] == 1
    assert "| Replies | 1 |" in only_alice.markdown()
    assert "Total" not in only_alice.markdown()


def test_training_texts_weighting_and_sources(store: Store) -> None:
    config = config_from_mapping({"source": {"usernames": ["alice", "bob"]}})
    texts = training_texts(store, config)
    by_source = Counter(text.split()[0] for text in texts)
    assert by_source == {"alice": 12, "@bob": 1, "bob": 13}  # bob's 3 oversampled to 13
    assert "bob & his thought 0" in texts
    assert not any("http" in t or "RT @" in t or t == "ok" for t in texts)
    assert training_texts(store, config) == texts

    weighted = config_from_mapping(
        {"source": {"usernames": ["alice", "bob"], "weights": {"Bob": 0.5}}}
    )
    assert Counter(t.split()[0] for t in training_texts(store, weighted))["bob"] == 7

    # One source: its kept texts, oldest first, nothing repeated.
    single = training_texts(store, config_from_mapping({"source": {"usernames": ["bob"]}}))
    assert single == [f"bob & his thought {i}" for i in range(3)]
    # No configured sources: every stored account.
    assert Counter(training_texts(store, config_from_mapping({}))) == Counter(texts)


def test_apply_rules_stores_verdicts_under_the_current_config(store: Store) -> None:
    apply_rules(store, config_from_mapping({}))
    rows = {row["id"]: row for row in store.tweets()}
    assert (rows["22"]["kept"], rows["22"]["clean_text"]) == (1, "@bob replying to bob here")
    assert (rows["20"]["kept"], rows["20"]["drop_reason"]) == (0, "retweet")
    assert rows["100"]["clean_text"] == "bob & his thought 0"
    apply_rules(store, config_from_mapping({"source": {"drop_replies": True}}))
    reply = next(row for row in store.tweets() if row["id"] == "22")
    assert (reply["kept"], reply["clean_text"], reply["drop_reason"]) == (0, None, "reply")


def test_source_texts_cover_every_stored_tweet(store: Store) -> None:
    texts = source_texts(store)
    assert "RT @bob: bob says a retweeted thing" in texts  # dropped tweets count for novelty
    assert "bob & his thought 1" in texts
    assert "ok" in texts
    assert len(texts) == len(set(texts)) == 18  # the repeat once, the bare link not at all
