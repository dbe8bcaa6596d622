"""`DryRunPlatform`: reads like the real bot, writes only to the console and the log.

Safety is by construction, not by a flag checked at the call site:
- it keeps only the *read* functions of the platform it is given (`ReadOnlyReader`), so no
  method of this object can reach a write, whatever the caller does with it;
- `build_platform(s)` hands it a reader whose HTTP layer refuses every write before a socket
  is opened (X and Mastodon: any method but GET; Bluesky: any POST but opening a session), so
  even code that digs the reader out cannot post, nor mark notifications seen.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import TextIO

from bot.logging import get_logger
from bot.platform.base import Account, AuthError, Mention, Network, Platform, PostLimits, Tweet
from bot.platform.simulated import SimulatedMentions

log = get_logger(__name__)

# The account a dry run without credentials pretends to be (ids never collide with X's).
OFFLINE_BOT_ID = "0"


class ReadOnlyReader:
    """The read half of a Platform: its read functions and nothing else."""

    __slots__ = ("bot_label_warning", "limits", "me", "mentions", "user_tweets")

    def __init__(self, platform: Platform) -> None:
        self.me: Callable[[], Account] = platform.me
        self.mentions: Callable[[str | None], list[Mention]] = platform.mentions
        self.user_tweets: Callable[[str, str | None], Iterator[list[Tweet]]] = platform.user_tweets
        self.limits: Callable[[], PostLimits] = platform.limits
        self.bot_label_warning: Callable[[], str | None] = platform.bot_label_warning


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
        network: Network = "x",
    ) -> None:
        self._network: Network = network
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

    @property
    def network(self) -> Network:
        """The network this dry run stands in for."""
        return self._network

    def limits(self) -> PostLimits:
        """The real account's limits when there is a reader, else the network's defaults."""
        if self._reader is not None:
            return self._reader.limits()
        return default_limits(self._network)

    def find_post(self, key: str, text: str) -> str | None:
        """None: a dry run never posted anything, so there is nothing to find."""
        return None

    def bot_label_warning(self) -> str | None:
        """The real account's warning when there is a reader, else None."""
        return self._reader.bot_label_warning() if self._reader is not None else None

    def me(self) -> Account:
        """The real bot account when reading from the network, else an offline stand-in."""
        if self._reader is not None and self._simulated is None:
            return self._reader.me()
        return Account(id=OFFLINE_BOT_ID, username=self._bot_username, name=self._bot_username)

    def mentions(self, since_id: str | None = None) -> list[Mention]:
        """Simulated mentions when configured, else the real ones, else none."""
        if self._simulated is not None:
            # Simulated mentions belong to whichever network this dry run stands in for.
            found = [replace(m, network=self._network) for m in self._simulated.mentions(since_id)]
        elif self._reader is not None:
            found = self._reader.mentions(since_id)
        else:
            found = []
        # Remembered so a dry-run reply can show what it answers.
        self._seen.update((m.id, m) for m in found)
        return found

    def user_tweets(self, username: str, since_id: str | None = None) -> Iterator[list[Tweet]]:
        """A source account's posts from the network; without a reader there is nothing to read."""
        if self._reader is None:
            if self._network != "x":
                raise AuthError(f"dry run without {self._network} access cannot fetch posts")
            raise AuthError(
                "dry run without X credentials cannot fetch tweets: set TWITTER_BEARER_TOKEN "
                "(or the four OAuth 1.0a TWITTER_* keys), or use `tweetbot import ARCHIVE`"
            )
        return self._reader.user_tweets(username, since_id)

    def post(self, text: str, in_reply_to: str | None = None, key: str | None = None) -> str:
        """Print and log what would be posted; return a synthetic id ("dryrun-...")."""
        tweet_id = f"dryrun-{datetime.now(UTC):%Y%m%d%H%M%S}-{next(self._counter)}"
        where = "" if self._network == "x" else f" on {self._network}"
        if in_reply_to is None:
            line = f"DRY RUN: would post{where}: {text!r}"
        else:
            mention = self._seen.get(in_reply_to)
            target = (
                f"@{mention.author_username}'s {mention.text!r}"
                if mention is not None
                else "that tweet"
            )
            line = f"DRY RUN: would reply{where} to {in_reply_to} ({target}): {text!r}"
        print(line, file=self._out or sys.stdout, flush=True)
        log.info(
            "dry_run_post",
            dry_run=True,
            network=self._network,
            key=key,
            text=text,
            in_reply_to=in_reply_to,
            replying_to_text=self._seen[in_reply_to].text if in_reply_to in self._seen else None,
            synthetic_id=tweet_id,
        )
        return tweet_id


def default_limits(network: Network) -> PostLimits:
    """A network's usual limits, for a dry run that cannot ask the account."""
    from bot.platform.textrules import BLUESKY_MAX_GRAPHEMES, MASTODON_DEFAULT_MAX_CHARACTERS
    from bot.textlen import MAX_WEIGHTED_LENGTH, URL_WEIGHT

    if network == "bluesky":
        return PostLimits("bluesky", BLUESKY_MAX_GRAPHEMES, "graphemes", None)
    if network == "mastodon":
        return PostLimits("mastodon", MASTODON_DEFAULT_MAX_CHARACTERS, "mastodon", 23)
    return PostLimits("x", MAX_WEIGHTED_LENGTH, "x-weighted", URL_WEIGHT)
