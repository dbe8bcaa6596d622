"""How each network counts a post's length (the `PostLimits.counted_as` rules).

- X: twitter-text v3 weighted length (bot/textlen.py), 280.
- Bluesky: `app.bsky.feed.post` text is at most 300 graphemes (the lexicon's `maxGraphemes`);
  links are facets over their own visible text, so a URL counts its full length.
- Mastodon: the instance's `configuration.statuses.max_characters` (500 by default).
  Mastodon's StatusLengthValidator counts grapheme clusters after replacing every URL with a
  scheme by 23 characters and every `@user@domain` mention by `@user` (the domain is free).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import regex

from bot.textlen import weighted_length

if TYPE_CHECKING:
    from bot.platform.base import PostLimits

BLUESKY_MAX_GRAPHEMES = 300
MASTODON_DEFAULT_MAX_CHARACTERS = 500
MASTODON_URL_LENGTH = 23

# Mastodon only shortens links that carry a scheme (extract_url_without_protocol: false).
_MASTODON_URL = re.compile(r"\bhttps?://[^\s<>\"]+", re.IGNORECASE)
_MASTODON_REMOTE_MENTION = re.compile(r"(?<![\w/])@(\w+)@[\w.-]+\w", re.UNICODE)
_GRAPHEME = regex.compile(r"\X")


def graphemes(text: str) -> int:
    """The number of extended grapheme clusters (what Bluesky and Mastodon count)."""
    return len(_GRAPHEME.findall(text))


def mastodon_length(text: str, url_length: int = MASTODON_URL_LENGTH) -> int:
    """`text`'s length as a Mastodon instance counts it for `max_characters`."""
    countable = _MASTODON_URL.sub("x" * url_length, text)
    countable = _MASTODON_REMOTE_MENTION.sub(lambda m: "@" + m.group(1), countable)
    return graphemes(countable)


def post_length(text: str, limits: PostLimits) -> int:
    """`text`'s length under `limits.counted_as`."""
    if limits.counted_as == "x-weighted":
        return weighted_length(text)
    if limits.counted_as == "mastodon":
        return mastodon_length(text, limits.url_length or MASTODON_URL_LENGTH)
    return graphemes(text)
