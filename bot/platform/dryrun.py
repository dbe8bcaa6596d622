"""`DryRunPlatform`: reads like the real bot, writes only to the console and the log.

Safety is by construction, not by a flag checked at the call site:
- it keeps only the *read* functions of the platform it is given (`ReadOnlyReader`), so no
  method of this object can reach a write, whatever the caller does with it;
- `build_platform` hands it a `TwitterPlatform` whose HTTP session refuses every method but GET
  before a socket is opened, so even code that digs the reader out cannot post.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TextIO

from bot.logging import get_logger
from bot.platform.base import Account, AuthError, Mention, Platform, Tweet
from bot.platform.simulated import SimulatedMentions

log = get_logger(__name__)

# The account a dry run without credentials pretends to be (ids never collide with X's).
OFFLINE_BOT_ID = "0"


class ReadOnlyReader:
    """The read half of a Platform: the three read functions and nothing else."""

    __slots__ = ("me", "mentions", "user_tweets")

    def __init__(self, platform: Platform) -> None:
        self.me: Callable[[], Account] = platform.me
        self.mentions: Callable[[str | None], list[Mention]] = platform.mentions
        self.user_tweets: Callable[[str, str | None], Iterator[list[Tweet]]] = platform.user_tweets


class DryRunPlatform:
    """A Platform whose writes print "DRY RUN ..." and log, and never touch the network.

    Reads go to `reader` (the real X account, read-only) when there is one. Mentions and the
    bot's own identity come from `simulated` instead when it is given, so the demo's fictional
    conversation is self-consistent; without either, the bot has no mentions.
    """

    def __init__(
        self,
        reader: Platform | None,
        simulated: SimulatedMentions | None,
        bot_username: str,
        *,
        out: TextIO | None = None,
    ) -> None:
        self._reader = ReadOnlyReader(reader) if reader is not None else None
        self._simulated = simulated
        self._bot_username = bot_username
        self._out = out
        self._seen: dict[str, Mention] = {}
        self._counter = itertools.count(1)

    @property
    def reader(self) -> ReadOnlyReader | None:
        """The read-only view of the real platform, if any (tests inspect it)."""
        return self._reader

    def me(self) -> Account:
        """The real bot account when reading from X, else an offline stand-in."""
        if self._reader is not None and self._simulated is None:
            return self._reader.me()
        return Account(id=OFFLINE_BOT_ID, username=self._bot_username, name=self._bot_username)

    def mentions(self, since_id: str | None = None) -> list[Mention]:
        """Simulated mentions when configured, else the real ones, else none."""
        if self._simulated is not None:
            found = self._simulated.mentions(since_id)
        elif self._reader is not None:
            found = self._reader.mentions(since_id)
        else:
            found = []
        # Remembered so a dry-run reply can show what it answers.
        self._seen.update((m.id, m) for m in found)
        return found

    def user_tweets(self, username: str, since_id: str | None = None) -> Iterator[list[Tweet]]:
        """A source account's tweets from X; without credentials there is nothing to read."""
        if self._reader is None:
            raise AuthError(
                "dry run without X credentials cannot fetch tweets: set TWITTER_BEARER_TOKEN "
                "(or the four OAuth 1.0a TWITTER_* keys), or use `tweetbot import ARCHIVE`"
            )
        return self._reader.user_tweets(username, since_id)

    def post(self, text: str, in_reply_to: str | None = None) -> str:
        """Print and log what would be posted; return a synthetic id ("dryrun-...")."""
        tweet_id = f"dryrun-{datetime.now(UTC):%Y%m%d%H%M%S}-{next(self._counter)}"
        if in_reply_to is None:
            line = f"DRY RUN: would post: {text!r}"
        else:
            mention = self._seen.get(in_reply_to)
            target = (
                f"@{mention.author_username}'s {mention.text!r}"
                if mention is not None
                else "that tweet"
            )
            line = f"DRY RUN: would reply to {in_reply_to} ({target}): {text!r}"
        print(line, file=self._out or sys.stdout, flush=True)
        log.info(
            "dry_run_post",
            dry_run=True,
            text=text,
            in_reply_to=in_reply_to,
            replying_to_text=self._seen[in_reply_to].text if in_reply_to in self._seen else None,
            synthetic_id=tweet_id,
        )
        return tweet_id
