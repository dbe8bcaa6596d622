"""Incremental fetch of Bluesky and Mastodon sources (`bluesky:HANDLE`, `mastodon:USER@INSTANCE`).

Like X's fetch (bot/corpus/fetch.py): pages newest first, each committed as it arrives, the
since-marker moved only after the last page. The marker is each network's own: the newest
post's `indexedAt` on Bluesky (post URIs are not ordered), the instance's status id on
Mastodon; it lives in the state table as `since:<source>`, not as an X since_id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from bot.config import Config, source_network
from bot.corpus.rows import tweet_row
from bot.logging import get_logger
from bot.platform.base import Tweet
from bot.store import Store

log = get_logger(__name__)


class SourceReader(Protocol):
    """What a network source is read through: the `user_tweets` half of a Platform."""

    def user_tweets(self, username: str, since_id: str | None = None) -> Iterator[list[Tweet]]:
        """Posts newer than `since_id`, a page at a time, newest first."""
        ...


def marker_key(username: str) -> str:
    """The state key of a network source's since-marker."""
    return f"since:{username.lower()}"


def network_row(tweet: Tweet, *, origin: str) -> dict[str, Any]:
    """The stored form of a Bluesky or Mastodon post: an X row plus its `network`."""
    return tweet_row(tweet, origin=origin) | {"network": tweet.network}


def insert_network_rows(store: Store, rows: Iterable[dict[str, Any]]) -> int:
    """Insert rows in one transaction; how many were new (rows are keyed by network and id)."""
    return store.insert_tweets(rows)


def fetch_network_source(
    store: Store,
    reader: SourceReader,
    username: str,
    newer: Callable[[str, str], bool],
) -> tuple[int, int, int, str | None]:
    """Fetch one network source: (new rows, posts seen, pages, the marker now stored)."""
    key = marker_key(username)
    since = store.get_state(key)
    new = seen = pages = 0
    newest: str | None = None
    for page in reader.user_tweets(username, since):
        new += insert_network_rows(store, (network_row(t, origin="api") for t in page))
        seen += len(page)
        pages += 1
        for tweet in page:
            marker = tweet.cursor or tweet.id
            if newest is None or newer(marker, newest):
                newest = marker
    if newest is not None and (since is None or newer(newest, since)):
        store.set_state(key, newest)
        since = newest
    log.info("fetched source", source=username, new=new, seen=seen)
    return new, seen, pages, since


def is_network_source(username: str) -> bool:
    """Whether a `[source] usernames` entry names a Bluesky or Mastodon account."""
    return source_network(username) != "x"


def reader_for(username: str, config: Config) -> tuple[SourceReader, Callable[[str, str], bool]]:
    """The reader and marker order for a network source (built here: they need no secret)."""
    if source_network(username) == "bluesky":
        from bot.corpus.fetch_bluesky import bluesky_reader, newer_indexed

        return bluesky_reader(config), newer_indexed
    from bot.corpus.fetch_mastodon import mastodon_reader, newer_status_id

    return mastodon_reader(config), newer_status_id
