"""One source tweet -> one `tweets` row, the same whether it came from the API or an archive."""

from __future__ import annotations

from typing import Any

from bot.platform.base import Tweet
from bot.store import iso, utcnow


def expand_urls(text: str, urls: tuple[tuple[str, str], ...]) -> str:
    """Replace each t.co short link with the address it stands for (from the entities)."""
    # Longest first: "https://t.co/ab" must not eat the front of "https://t.co/abc".
    for short, expanded in sorted(urls, key=lambda pair: len(pair[0]), reverse=True):
        if short and expanded:
            text = text.replace(short, expanded)
    return text


def tweet_row(tweet: Tweet, *, origin: str) -> dict[str, Any]:
    """The stored form of a tweet; `origin` is "api" or "archive"."""
    return {
        "id": tweet.id,
        "username": tweet.username,
        "author_id": tweet.author_id or None,
        "text": expand_urls(tweet.text, tweet.urls),
        "created_at": iso(tweet.created_at),
        "kind": tweet.kind,
        "in_reply_to_id": tweet.in_reply_to_id,
        "in_reply_to_user_id": tweet.in_reply_to_user_id,
        "referenced_id": tweet.referenced_id,
        "source": origin,
        "fetched_at": iso(utcnow()),
    }
