"""Wiring: the one place that builds the real parts (platform, model, filters, composer,
trainer child, daemon) from a Config. Everything else receives them through constructors."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from bot.config import Config, Secrets
from bot.daemon.jobs import Daemon
from bot.errors import BotError, UsageError
from bot.logging import get_logger
from bot.platform import DryRunPlatform, Platform, SimulatedMentions, TwitterPlatform
from bot.store import Store

log = get_logger(__name__)


def build_platform(
    config: Config, secrets: Secrets, *, dry_run: bool, simulated_mentions: Path | None = None
) -> Platform:
    """The platform a command should use.

    Live (`dry_run=False`): the real account; posting needs the four OAuth 1.0a keys, so
    without them this is a UsageError (exit 2) before anything runs. Dry run: a
    `DryRunPlatform` reading through a read-only `TwitterPlatform` when any credentials exist,
    with mentions from `simulated_mentions` (a JSON file) when given. Read-only commands
    (`fetch`) pass `dry_run=True`: a bearer token is then enough.
    """
    if not dry_run:
        if not secrets.can_post:
            raise UsageError(
                "posting needs TWITTER_CONSUMER_KEY, TWITTER_CONSUMER_SECRET, "
                "TWITTER_ACCESS_TOKEN and TWITTER_ACCESS_TOKEN_SECRET in the environment "
                "(or run with --dry-run / [bot] dry_run = true)"
            )
        if simulated_mentions is not None:
            raise UsageError("simulated mentions are for dry runs only")
        return TwitterPlatform(config, secrets)
    reader = None
    if secrets.can_post or secrets.bearer_token:
        reader = TwitterPlatform(config, secrets, read_only=True)
    simulated = (
        SimulatedMentions.from_file(simulated_mentions, bot_username=config.bot.name)
        if simulated_mentions is not None
        else None
    )
    return DryRunPlatform(reader, simulated, config.bot.name)


def build_daemon(
    config: Config,
    store: Store,
    secrets: Secrets,
    *,
    dry_run: bool,
    simulated_mentions: Any = None,
) -> Daemon:
    """Wire the real parts: platform, the current model, filters, composer, trainer child.

    Imports are local: loading torch and transformers is the slow part of starting, and the
    jobs above must stay importable (and testable) without them.
    """
    from bot.corpus import fetch_sources
    from bot.daemon.composer import Composer
    from bot.daemon.retraining import TrainerProcess
    from bot.filters import Filters
    from bot.generation import Generator

    current = store.current_model()
    if current is None:
        raise BotError(
            "no model version is current yet: train one first (`tweetbot train`), "
            "or promote one (`tweetbot models promote VERSION`)"
        )
    platform = build_platform(
        config, secrets, dry_run=dry_run, simulated_mentions=simulated_mentions
    )
    log.info("loading the model", version=current.version, path=current.path)
    generator = Generator.load(current.path, config.model.device, settings=config.generation)
    rng = random.Random()

    composer = Composer(generator, Filters.from_store(config, store, dry_run=dry_run), config, rng)

    def refresh_filters() -> None:
        # New source tweets must be off limits for verbatim copies from the next post on.
        composer.filters = Filters.from_store(config, store, dry_run=dry_run)

    trainer = TrainerProcess(config.path) if config.path is not None else None
    return Daemon(
        config,
        store,
        platform,
        composer,
        generator,
        trainer=trainer,
        fetch=fetch_sources,
        on_sources_changed=refresh_filters,
        on_posted=lambda text: composer.filters.remember_post(text),
        rng=rng,
        dry_run=dry_run,
    )
