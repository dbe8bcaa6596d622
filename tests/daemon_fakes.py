"""Small in-memory stand-ins for the daemon's unit tests: X, the composer, the generator, training.

They implement only what the daemon calls, and record what it did, so a test asserts behaviour
("one reply was sent to mention 5") without a server, a model or a scheduler.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.config import Config, config_from_mapping
from bot.daemon.jobs import Daemon
from bot.daemon.retraining import TrainingFailed, TrainingOutcome
from bot.errors import BotError
from bot.platform.base import Account, Mention, PlatformError, PostLimits, Tweet
from bot.platform.twitter import normalize_text
from bot.store import Store

BOT = Account(id="1000", username="thebot", name="The Bot")


class FakePlatform:
    """X in memory: posts get increasing ids; errors can be queued for the next calls."""

    def __init__(self, me: Account = BOT) -> None:
        self._me = me
        self.posted: list[dict[str, Any]] = []
        self.inbox: list[Mention] = []
        self.timeline: list[Tweet] = []
        self.errors: dict[str, list[PlatformError]] = {
            "post": [],
            "mentions": [],
            "user_tweets": [],
        }
        self._ids = itertools.count(5000)

    def fail_next(self, method: str, error: PlatformError) -> None:
        self.errors[method].append(error)

    def _raise_queued(self, method: str) -> None:
        if self.errors[method]:
            raise self.errors[method].pop(0)

    def me(self) -> Account:
        return self._me

    @property
    def network(self) -> str:
        return "x"

    def limits(self) -> PostLimits:
        return PostLimits("x", 280, "x-weighted", 23)

    def bot_label_warning(self) -> str | None:
        return None

    def find_post(self, key: str, text: str) -> str | None:
        # As X: search the bot's own timeline for the text.
        wanted = normalize_text(text)
        for page in self.user_tweets(self._me.username):
            for tweet in page:
                if normalize_text(tweet.text) == wanted:
                    return tweet.id
        return None

    def post(self, text: str, in_reply_to: str | None = None, key: str | None = None) -> str:
        self._raise_queued("post")
        tweet_id = str(next(self._ids))
        self.posted.append({"id": tweet_id, "text": text, "in_reply_to": in_reply_to})
        self.timeline.insert(
            0,
            Tweet(tweet_id, self._me.id, self._me.username, text, datetime.now(UTC)),
        )
        return tweet_id

    def mentions(self, since_id: str | None = None) -> list[Mention]:
        self._raise_queued("mentions")
        return [m for m in self.inbox if since_id is None or int(m.id) > int(since_id)]

    def user_tweets(self, username: str, since_id: str | None = None) -> Iterator[list[Tweet]]:
        self._raise_queued("user_tweets")
        if username == self._me.username:
            yield list(self.timeline)

    def mention(
        self,
        tweet_id: int,
        author: str = "alice",
        *,
        author_id: str | None = None,
        age: timedelta = timedelta(seconds=5),
        conversation_id: str | None = None,
        in_reply_to_tweet_id: str | None = None,
        created_at: datetime | None = None,
    ) -> Mention:
        """Add a mention of the bot to the inbox and return it."""
        mention = Mention(
            id=str(tweet_id),
            author_id=author_id or f"id-{author}",
            author_username=author,
            text=f"@{self._me.username} hello from {author}",
            conversation_id=conversation_id or str(tweet_id),
            created_at=created_at or datetime.now(UTC) - age,
            in_reply_to_user_id=self._me.id if in_reply_to_tweet_id else None,
            in_reply_to_tweet_id=in_reply_to_tweet_id,
        )
        self.inbox.append(mention)
        return mention


@dataclass
class FakeDraft:
    text: str | None
    skip_reason: str | None = None
    prompt: str | None = None


@dataclass
class FakeComposer:
    """Numbered texts, or skips when `skip` is set; records every call."""

    skip: str | None = None
    calls: list[str] = field(default_factory=list)
    counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def post(self, prompt: str | None = None) -> FakeDraft:
        self.calls.append("post")
        if self.skip:
            return FakeDraft(None, self.skip)
        return FakeDraft(f"generated post number {next(self.counter)}", prompt="p")

    def reply(self, mention: Mention) -> FakeDraft:
        self.calls.append(f"reply:{mention.id}")
        if self.skip:
            return FakeDraft(None, self.skip)
        return FakeDraft(f"@{mention.author_username} answer number {next(self.counter)}")


class FakeGenerator:
    """Records reloads."""

    def __init__(self, model_dir: Path = Path("/models/v1")) -> None:
        self.model_dir = model_dir
        self.version: str | None = model_dir.name
        self.reloaded: list[str] = []
        self.broken: set[str] = set()

    def reload(self, model_dir: Any) -> None:
        if str(model_dir) in self.broken:
            raise BotError(f"{model_dir}: cannot load")
        self.reloaded.append(str(model_dir))
        self.model_dir = Path(str(model_dir))
        self.version = self.model_dir.name


class FakeTrainer:
    """Returns a preset outcome (or raises TrainingFailed) and counts runs."""

    def __init__(
        self,
        outcome: TrainingOutcome | None = None,
        *,
        store: Store | None = None,
        path: str | None = None,
    ) -> None:
        self.outcome = outcome
        self.store = store
        self.path = path
        self.runs = 0
        self.terminated = False

    def run(self) -> TrainingOutcome:
        """With a `store`, do what the real child does: register the version at `path` and
        promote it when the outcome says so."""
        self.runs += 1
        if self.outcome is None:
            raise TrainingFailed("the trainer exited with code 1")
        if self.store is not None and self.outcome.version and self.path:
            self.store.add_model_version(
                self.outcome.version, self.path, base="gpt2", eval_loss=1.0, train_loss=1.0
            )
            if self.outcome.promoted:
                self.store.set_current_model(self.outcome.version)
        return self.outcome

    def terminate(self) -> None:
        self.terminated = True


def make_config(tmp_path: Path, **sections: dict[str, Any]) -> Config:
    """A config rooted in tmp_path with fast schedules; `sections` override keys."""
    raw: dict[str, Any] = {
        "bot": {"name": "unit", "data_dir": "data", "models_dir": "models"},
        "schedule": {"post_every": "1h", "post_jitter": "0s", "mentions_every": "1m"},
        "replies": {"max_age": "1h"},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return config_from_mapping(raw, tmp_path / "config.toml")


@dataclass
class Rig:
    """A daemon wired to fakes, with handles on each fake."""

    daemon: Daemon
    store: Store
    platform: FakePlatform
    composer: FakeComposer
    generator: FakeGenerator
    trainer: FakeTrainer


def make_rig(tmp_path: Path, config: Config | None = None, **kwargs: Any) -> Rig:
    """Build a Daemon over a real SQLite store and the fakes above.

    The store is one of a bot that has run before (its mentions baseline is taken), unless
    `first_start=True`: then the first mentions poll only moves the since_id.
    """
    config = config or make_config(tmp_path)
    store = Store(config.db_path)
    if not kwargs.pop("first_start", False):
        store.set_mentions_baseline(None)
    platform = kwargs.pop("platform", FakePlatform())
    composer = kwargs.pop("composer", FakeComposer())
    generator = kwargs.pop("generator", FakeGenerator())
    trainer = kwargs.pop("trainer", FakeTrainer())
    daemon = Daemon(config, store, platform, composer, generator, trainer=trainer, **kwargs)
    return Rig(daemon, store, platform, composer, generator, trainer)
