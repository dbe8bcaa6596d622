"""TOML configuration -> validated, frozen settings.

Every key has a safe default, so an empty file is a valid (dry-run) configuration. Durations
are strings such as "30s", "5m", "2h", "7d" and are stored as seconds. Secrets never live in the
file: they come only from the environment (see `Secrets`).
"""

from __future__ import annotations

import os
import re
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.errors import ConfigError

CONFIG_ENV = "TWEETBOT_CONFIG"
DEFAULT_CONFIG = "config.toml"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> float:
    """Turn "30s", "5m", "2h", "7d" into seconds; anything else is a ValueError."""
    if isinstance(value, bool) or not isinstance(value, str):
        # A bare number is ambiguous (seconds? minutes?), so the file must say the unit.
        raise ValueError('must be a duration string such as "30s", "5m", "2h" or "7d"')
    if value.strip().startswith("-"):
        raise ValueError(f"must not be negative (got {value!r})")
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f'must be a duration such as "30s", "5m", "2h" or "7d" (got {value!r})')
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Section(BaseModel):
    # strict: a string where a number belongs is a wrong type, not something to coerce.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# `bot.name` names a folder (`<models_dir>/<name>/`), so it must be one safe path component.
BOT_NAME_MAX = 64
_BOT_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def check_bot_name(value: str) -> str:
    """A safe single path component: ASCII letters, digits, _ - . only, no leading dot."""
    if not value:
        raise ValueError("must not be empty")
    if len(value) > BOT_NAME_MAX:
        raise ValueError(f"must be at most {BOT_NAME_MAX} characters (got {len(value)})")
    if not _BOT_NAME.fullmatch(value):
        raise ValueError(
            f"may hold only ASCII letters, digits, '_', '-' and '.' (got {value!r}); it names "
            "the bot's folder under models_dir"
        )
    if value.startswith("."):
        # Also refuses "." and "..", which would put the models beside or above models_dir.
        raise ValueError(f"must not start with a dot (got {value!r})")
    return value


NETWORK_NAMES = ("x", "bluesky", "mastodon")


class BotSection(_Section):
    name: str = "tweetbot"
    data_dir: str = "data"
    models_dir: str = "models"
    dry_run: bool = True
    # Where the bot posts and answers mentions.
    networks: list[str] = Field(default_factory=lambda: ["x"], min_length=1)

    @field_validator("networks")
    @classmethod
    def _networks(cls, names: list[str]) -> list[str]:
        for name in names:
            if name not in NETWORK_NAMES:
                raise ValueError(f"{name!r} is not a network (use any of x, bluesky, mastodon)")
        if len(set(names)) != len(names):
            raise ValueError("names a network twice")
        return names

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        return check_bot_name(value)


class TwitterSection(_Section):
    api_base_url: str = Field("https://api.twitter.com", pattern=r"^https?://[^\s/]+(/.*)?$")
    timeout: Duration = Field(10.0, gt=0)


class BlueskySection(_Section):
    # A PDS (or the entryway bsky.social); a local fake PDS in tests.
    service_url: str = Field("https://bsky.social", pattern=r"^https?://[^\s/]+(/.*)?$")
    handle: str = Field("", pattern=r"^$|^@?[A-Za-z0-9.-]+$")
    timeout: Duration = Field(10.0, gt=0)


class MastodonSection(_Section):
    # The instance the bot's account lives on; empty until the bot posts on Mastodon.
    api_base_url: str = Field("", pattern=r"^$|^https?://[^\s/]+(/.*)?$")
    # Generative bots post unlisted by convention: they stay off the public timelines.
    visibility: str = Field("unlisted", pattern=r"^(public|unlisted|private)$")
    spoiler_text: str = ""
    timeout: Duration = Field(10.0, gt=0)


# A source: a bare X username, `bluesky:HANDLE` or `mastodon:USER@INSTANCE`.
_X_SOURCE = re.compile(r"[A-Za-z0-9_]{1,15}")
_BLUESKY_SOURCE = re.compile(r"bluesky:@?([A-Za-z0-9-]+\.)+[A-Za-z0-9-]+")
_MASTODON_SOURCE = re.compile(r"mastodon:@?[A-Za-z0-9_]+@[A-Za-z0-9.-]+(:\d{1,5})?")


def source_network(name: str) -> str:
    """The network a `[source] usernames` entry names: "x", "bluesky" or "mastodon"."""
    prefix, sep, _rest = name.partition(":")
    return prefix if sep and prefix in ("bluesky", "mastodon") else "x"


class SourceSection(_Section):
    usernames: list[str] = Field(default_factory=list)
    min_words: int = Field(3, ge=0)
    drop_replies: bool = False
    # Relative weight per source username; sources not listed weigh 1.0.
    weights: dict[str, float] = Field(default_factory=dict)

    @field_validator("usernames")
    @classmethod
    def _usernames(cls, names: list[str]) -> list[str]:
        cleaned = [_clean_source(n) for n in names]
        for name in cleaned:
            network = source_network(name)
            if network == "bluesky" and not _BLUESKY_SOURCE.fullmatch(name):
                raise ValueError(f"{name!r} is not a Bluesky handle (bluesky:alice.bsky.social)")
            if network == "mastodon" and not _MASTODON_SOURCE.fullmatch(name):
                raise ValueError(
                    f"{name!r} is not a Mastodon account (mastodon:alice@mastodon.social)"
                )
            if network == "x" and not _X_SOURCE.fullmatch(name):
                raise ValueError(f"{name!r} is not an X username")
        return cleaned

    @field_validator("weights")
    @classmethod
    def _weights(cls, weights: dict[str, float]) -> dict[str, float]:
        for name, weight in weights.items():
            if weight <= 0:
                raise ValueError(f"weight of {name!r} must be > 0 (got {weight})")
        return {_clean_source(name): w for name, w in weights.items()}


def _clean_source(name: str) -> str:
    """`@alice` -> `alice`, `bluesky:@alice.bsky.social` -> `bluesky:alice.bsky.social`."""
    network = source_network(name)
    if network == "x":
        return name.lstrip("@")
    return f"{network}:{name.split(':', 1)[1].lstrip('@')}"


class ModelSection(_Section):
    base: str = Field("gpt2", min_length=1)
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?|mps)$")


class TrainingSection(_Section):
    epochs: float = Field(4.0, gt=0)
    learning_rate: float = Field(5e-5, gt=0)
    eval_fraction: float = Field(0.1, gt=0, lt=1)
    seed: int = 42
    min_new_tweets: int = Field(50, ge=0)
    keep_versions: int = Field(5, ge=1)
    batch_size: int = Field(8, ge=1)
    block_size: int = Field(128, ge=8)
    early_stopping_patience: int = Field(2, ge=1)
    # A new version is promoted when eval_loss <= current * (1 + promote_tolerance).
    promote_tolerance: float = Field(0.02, ge=0)


class GenerationSection(_Section):
    candidates: int = Field(8, ge=1, le=64)
    temperature: float = Field(0.9, gt=0)
    top_p: float = Field(0.95, gt=0, le=1)
    top_k: int = Field(50, ge=0)
    repetition_penalty: float = Field(1.1, ge=1)
    max_new_tokens: int = Field(60, ge=1, le=512)
    prompts: list[str] = Field(default_factory=list)
    # Rounds of `candidates` before the job gives up with a logged reason.
    max_attempts: int = Field(3, ge=1)
    # Inference backend: "auto" (fast on CPUs where it passes its quality probe, torch in
    # bf16/fp16 on CUDA), "torch" (transformers, always available) or "fast".
    backend: str = Field("auto", pattern=r"^(auto|torch|fast)$")


class ScheduleSection(_Section):
    post_every: Duration = Field(3 * 3600.0, gt=0)
    post_jitter: Duration = Field(20 * 60.0, ge=0)
    mentions_every: Duration = Field(120.0, gt=0)
    retrain_every: Duration = Field(7 * 86400.0, gt=0)
    heartbeat_every: Duration = Field(30.0, gt=0)
    # How long a rate-limited job waits when X's 429 carries no usable reset time.
    rate_limit_backoff: Duration = Field(15 * 60.0, gt=0)
    quiet_hours: str = Field("", pattern=r"^$|^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, name: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {name!r}") from exc
        return name

    def quiet_window(self) -> tuple[time, time] | None:
        """The quiet hours as (start, end) clock times, or None when there are none."""
        if not self.quiet_hours:
            return None
        start, end = self.quiet_hours.split("-")
        return time.fromisoformat(start), time.fromisoformat(end)


class RepliesSection(_Section):
    enabled: bool = True
    max_per_user_per_hour: int = Field(3, ge=0)
    max_thread_depth: int = Field(3, ge=0)
    max_age: Duration = Field(3600.0, gt=0)
    blocked_users: list[str] = Field(default_factory=list)
    # An account whose replies to us arrive faster than this, `loop_replies` times in a row,
    # is treated as a bot and not answered (bot-to-bot loops burn the budget).
    loop_min_interval: Duration = Field(20.0, ge=0)
    loop_replies: int = Field(3, ge=1)


class FiltersSection(_Section):
    blocked_words: list[str] = Field(default_factory=list)
    blocked_words_file: str = ""
    allow_urls: bool = False
    allow_mentions: bool = False
    max_verbatim_ngram: int = Field(8, ge=3)
    # Reject a candidate whose token overlap with a source tweet or own post is this high.
    max_similarity: float = Field(0.8, gt=0, le=1)
    # How far back a candidate is compared with the bot's own posts (dedupe, duplicate_on_x).
    dedupe_for: Duration = Field(30 * 86400.0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _dedupe_days_was_renamed(cls, values: Any) -> Any:
        # An integer of days was the one time value that was not a duration string; a file
        # that still has it gets one line saying what to write instead, not a silent default.
        if isinstance(values, Mapping) and "dedupe_days" in values:
            days = values["dedupe_days"]
            raise ValueError(
                f'dedupe_days was replaced by a duration: write dedupe_for = "{days}d"'
            )
        return values


class LimitsSection(_Section):
    # X's free tier allows 17 posts a day; users on paid tiers raise these deliberately.
    # Per network; days and months begin at midnight in `[schedule] timezone`.
    posts_per_day: int = Field(17, ge=0)
    posts_per_month: int = Field(500, ge=0)


class ReviewSection(_Section):
    # "approve": a post (or reply) waits in the review queue until an operator approves it.
    posts: str = Field("auto", pattern=r"^(auto|approve)$")
    replies: str = Field("auto", pattern=r"^(auto|approve)$")
    # An item nobody approved within this long expires and is never sent.
    expire_after: Duration = Field(24 * 3600.0, gt=0)


class Config(_Section):
    """The whole validated configuration; `path` is the file it came from (None for defaults)."""

    bot: BotSection = BotSection()
    twitter: TwitterSection = TwitterSection()
    bluesky: BlueskySection = BlueskySection()
    mastodon: MastodonSection = MastodonSection()
    source: SourceSection = SourceSection()
    model: ModelSection = ModelSection()
    training: TrainingSection = TrainingSection()
    generation: GenerationSection = GenerationSection()
    schedule: ScheduleSection = ScheduleSection()
    replies: RepliesSection = RepliesSection()
    filters: FiltersSection = FiltersSection()
    limits: LimitsSection = LimitsSection()
    review: ReviewSection = ReviewSection()
    path: Path | None = Field(None, exclude=True)

    @property
    def base_dir(self) -> Path:
        """Relative paths in the file are relative to the file's own directory."""
        return self.path.parent if self.path else Path.cwd()

    @property
    def data_dir(self) -> Path:
        return (self.base_dir / self.bot.data_dir).resolve()

    @property
    def db_path(self) -> Path:
        return self.data_dir / "tweetbot.db"

    @property
    def models_dir(self) -> Path:
        """`<models_dir>/<bot name>`: where this bot's model versions live."""
        return (self.base_dir / self.bot.models_dir).resolve() / self.bot.name

    def writable_dir(self, key: Literal["data_dir", "models_dir"]) -> Path:
        """The folder behind `[bot] data_dir` or `models_dir` (this bot's part), created if
        missing; a ConfigError (exit 2) naming the key and folder when it cannot be written."""
        path = self.data_dir if key == "data_dir" else self.models_dir
        try:
            path.mkdir(parents=True, exist_ok=True)
            # Probe with a real file: permission bits say nothing about a read-only mount, and
            # root passes every permission check.
            handle, probe = tempfile.mkstemp(prefix=".write-probe-", dir=path)
            os.close(handle)
            os.unlink(probe)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ConfigError(
                f"{self._where()}: [bot] {key}: cannot write to {path} ({reason}); point it at "
                "a writable folder"
            ) from None
        return path

    def require_sources(self) -> list[str]:
        """The source usernames, or a ConfigError when a command needs them and there are none."""
        if not self.source.usernames:
            raise ConfigError(
                f"{self._where()}: [source] usernames: must name at least one account to fetch"
            )
        return list(self.source.usernames)

    def blocked_words(self) -> list[str]:
        """Blocked words from the list plus `blocked_words_file` (one per line, # comments)."""
        words = list(self.filters.blocked_words)
        if self.filters.blocked_words_file:
            path = self.base_dir / self.filters.blocked_words_file
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ConfigError(
                    f"{self._where()}: [filters] blocked_words_file: cannot read {path} "
                    f"({exc.strerror})"
                ) from exc
            words += [w.strip() for w in lines if w.strip() and not w.lstrip().startswith("#")]
        return words

    def _where(self) -> str:
        return str(self.path) if self.path else "<defaults>"


def _first_error(path: Path, exc: ValidationError) -> ConfigError:
    err = exc.errors()[0]
    loc = [str(part) for part in err["loc"]]
    section, key = (loc[0], ".".join(loc[1:])) if len(loc) > 1 else ("", loc[0] if loc else "")
    where = f"[{section}] {key}" if section else f"[{key}]" if key else "(top level)"
    if err["type"] == "extra_forbidden":
        what = "unknown key" if section else "unknown section"
    elif err["type"] == "model_type" or err["type"].endswith("_type"):
        what = f"wrong type: {err['msg'].lower()} (got {type(err['input']).__name__})"
    else:
        what = err["msg"].removeprefix("Value error, ")
        if "input" in err and err["type"] not in ("value_error",):
            what += f" (got {err['input']!r})"
    return ConfigError(f"{path}: {where}: {what}")


def parse_config(text: str, path: Path) -> Config:
    """Validate TOML text; every problem is a one-line ConfigError naming the file and key."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message already carries "(at line N, column M)".
        raise ConfigError(f"{path}: malformed TOML: {exc}") from None
    except RecursionError:
        # tomllib parses nested arrays and inline tables recursively; a few hundred levels
        # exhaust the interpreter's stack. No real config nests more than two.
        raise ConfigError(f"{path}: malformed TOML: arrays or tables nested too deeply") from None
    try:
        return config_from_mapping(raw, path)
    except RecursionError:
        raise ConfigError(f"{path}: a value is nested too deeply") from None


def config_from_mapping(raw: Mapping[str, Any], path: Path | None = None) -> Config:
    """Validate an already-parsed mapping (used by tests and by `parse_config`)."""
    try:
        config = Config.model_validate(dict(raw))
    except ValidationError as exc:
        raise _first_error(path or Path("<config>"), exc) from None
    return config.model_copy(update={"path": path.resolve() if path else None})


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The config file to use: --config, then $TWEETBOT_CONFIG, then ./config.toml."""
    return Path(explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate the config file; a missing or unreadable file is a ConfigError."""
    target = config_path(path)
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{target}: config file not found (create one with `tweetbot init`)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{target}: cannot read config file ({exc})") from None
    return parse_config(text, target)


def example_config_text() -> str:
    """The commented starter config that `tweetbot init` writes (every key, safe defaults)."""
    return (Path(__file__).parent / "config.example.toml").read_text(encoding="utf-8")


BLUESKY_SECRET_ENV = "BLUESKY_APP_PASSWORD"
MASTODON_SECRET_ENV = "MASTODON_ACCESS_TOKEN"
SECRET_ENV = (
    "TWITTER_CONSUMER_KEY",
    "TWITTER_CONSUMER_SECRET",
    "TWITTER_ACCESS_TOKEN",
    "TWITTER_ACCESS_TOKEN_SECRET",
    "TWITTER_BEARER_TOKEN",
    BLUESKY_SECRET_ENV,
    MASTODON_SECRET_ENV,
)


@dataclass(frozen=True)
class Secrets:
    """Network credentials, read only from the environment and never printed."""

    consumer_key: str = ""
    consumer_secret: str = ""
    access_token: str = ""
    access_token_secret: str = ""
    bearer_token: str = ""
    bluesky_app_password: str = ""
    mastodon_access_token: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Secrets:
        """Read the TWITTER_*, BLUESKY_APP_PASSWORD and MASTODON_ACCESS_TOKEN variables
        (missing ones are empty)."""
        env = os.environ if environ is None else environ
        return cls(*(env.get(name, "").strip() for name in SECRET_ENV))

    @property
    def can_post(self) -> bool:
        """OAuth 1.0a user context needs all four user keys."""
        return all(
            (self.consumer_key, self.consumer_secret, self.access_token, self.access_token_secret)
        )

    def values(self) -> list[str]:
        """Every non-empty secret, for the log redactor."""
        return [v for v in (self._all()) if v]

    def _all(self) -> tuple[str, ...]:
        return (
            self.consumer_key,
            self.consumer_secret,
            self.access_token,
            self.access_token_secret,
            self.bearer_token,
            self.bluesky_app_password,
            self.mastodon_access_token,
        )

    def missing_for(self, network: str) -> str | None:
        """The variable a live bot on `network` lacks, or None when it can post there."""
        if network == "bluesky":
            return None if self.bluesky_app_password else BLUESKY_SECRET_ENV
        if network == "mastodon":
            return None if self.mastodon_access_token else MASTODON_SECRET_ENV
        if self.can_post:
            return None
        return next(
            name for name, value in zip(SECRET_ENV[:4], self._all()[:4], strict=True) if not value
        )

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name.lower()}={'set' if value else 'unset'}"
            for name, value in zip(SECRET_ENV, self._all(), strict=True)
        )
        return f"Secrets({shown})"

    __str__ = __repr__
