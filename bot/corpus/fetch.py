"""Incremental fetch of the source accounts' tweets through the `Platform`.

X pages a timeline newest first. Each page is committed as it arrives (inserts are idempotent by
tweet id), but the since_id moves only after the last page: if it moved after the first page, an
interruption would leave the older pages behind it, never to be fetched. An interrupted fetch
therefore keeps its committed rows, and the next run asks again from the old since_id.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field

import click

from bot.config import Config
from bot.corpus.fetch_network import fetch_network_source, is_network_source, reader_for
from bot.corpus.rows import tweet_row
from bot.corpus.training import apply_rules
from bot.logging import get_logger
from bot.platform.base import Platform, Tweet
from bot.store import Store

log = get_logger(__name__)


def since_id_key(username: str) -> str:
    """The store's since_id name for a source (usernames are case-insensitive on X)."""
    return f"source:{username.lower()}"


@dataclass
class SourceFetch:
    """What one source's fetch did."""

    username: str
    new: int = 0
    seen: int = 0
    pages: int = 0
    since_id: str | None = None


@dataclass
class FetchSummary:
    """Per-source results of `fetch_sources`."""

    sources: list[SourceFetch] = field(default_factory=list)

    @property
    def new(self) -> int:
        """New tweets stored, all sources together."""
        return sum(s.new for s in self.sources)

    def new_by_source(self) -> dict[str, int]:
        """New tweets per source username."""
        return {s.username: s.new for s in self.sources}

    def line(self) -> str:
        """The one summary line the CLI prints."""
        parts = ", ".join(f"@{s.username} {s.new} new of {s.seen}" for s in self.sources)
        return f"fetched {self.new} new tweets ({parts})"


def fetch_source(
    store: Store, platform: Platform, username: str, *, progress: bool = False
) -> SourceFetch:
    """Fetch one source's tweets newer than its since_id, committing page by page."""
    key = since_id_key(username)
    result = SourceFetch(username=username, since_id=store.since_id(key))
    newest = 0

    def store_page(page: list[Tweet]) -> None:
        nonlocal newest
        result.new += store.insert_tweets(tweet_row(t, origin="api") for t in page)
        result.seen += len(page)
        result.pages += 1
        newest = max([newest, *(int(t.id) for t in page)])
        log.debug("fetch page stored", source=username, page=result.pages, tweets=len(page))

    pages: Iterable[list[Tweet]] = platform.user_tweets(username, result.since_id)
    if progress:
        with click.progressbar(
            pages,
            label=f"fetching @{username}",
            file=sys.stderr,
            item_show_func=lambda _page: f"{result.seen} tweets",
        ) as shown:
            for page in shown:
                store_page(page)
    else:
        for page in pages:
            store_page(page)
    # Only now, with every page committed, is it safe to skip what we have.
    if newest:
        store.set_since_id(key, str(newest))
        result.since_id = store.since_id(key)
    log.info("fetched source", source=username, new=result.new, seen=result.seen)
    return result


def fetch_other_network(store: Store, username: str, config: Config) -> SourceFetch:
    """Fetch a `bluesky:` or `mastodon:` source (see bot/corpus/fetch_network.py)."""
    reader, newer = reader_for(username, config)
    new, seen, pages, marker = fetch_network_source(store, reader, username, newer)
    return SourceFetch(username=username, new=new, seen=seen, pages=pages, since_id=marker)


def fetch_sources(
    store: Store, platform: Platform, config: Config, *, progress: bool = False
) -> FetchSummary:
    """Fetch every `[source] usernames` account, then recompute the cleaning verdicts."""
    summary = FetchSummary()
    try:
        for username in config.require_sources():
            if is_network_source(username):
                summary.sources.append(fetch_other_network(store, username, config))
                continue
            summary.sources.append(fetch_source(store, platform, username, progress=progress))
    finally:
        # Committed pages count even when a later page failed: keep their verdicts current.
        apply_rules(store, config)
    return summary
