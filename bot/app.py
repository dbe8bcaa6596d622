"""Wiring: the one place that builds the real parts (platform, model, filters, composer,
trainer child, daemon) from a Config. Everything else receives them through constructors."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from bot.config import Config, Secrets
from bot.daemon.jobs import Daemon
from bot.daemon.networks import NetworkDaemons
from bot.errors import BotError, UsageError
from bot.logging import get_logger
from bot.platform import DryRunPlatform, Network, Platform, SimulatedMentions, TwitterPlatform
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


def build_fetch_platform(config: Config, secrets: Secrets) -> Platform:
    """The read-only X platform `fetch` reads X sources through.

    Only X sources need it: a bot learning from `bluesky:`/`mastodon:` sources alone needs no
    X credentials (those are read by bot/corpus/fetch_network.py), so it gets a reader-less
    dry-run platform, which can neither read X nor write anywhere.
    """
    from bot.config import source_network

    if all(source_network(name) != "x" for name in config.source.usernames):
        return DryRunPlatform(None, None, config.bot.name)
    # Fetching only reads: a read-only session cannot post, whatever dry_run says.
    return TwitterPlatform(config, secrets, read_only=True)


def build_platforms(
    config: Config, secrets: Secrets, *, dry_run: bool, simulated_mentions: Path | None = None
) -> dict[Network, Platform]:
    """One platform per `[bot] networks` entry, in the configured order.

    Live, a network without its secret is a UsageError (exit 2) naming the variable, before
    anything runs. Dry run: each network gets a `DryRunPlatform`, reading through a read-only
    client when its secret is there (simulated mentions, if any, go to the first network).
    """
    from bot.platform.base import NETWORKS

    platforms: dict[Network, Platform] = {}
    for position, name in enumerate(config.bot.networks):
        network = next(n for n in NETWORKS if n == name)
        simulated = simulated_mentions if position == 0 else None
        if network == "x":
            platforms["x"] = build_platform(
                config, secrets, dry_run=dry_run, simulated_mentions=simulated
            )
            continue
        missing = secrets.missing_for(network)
        if not dry_run:
            if missing is not None:
                raise UsageError(
                    f"[bot] networks includes {network!r}: set {missing} in the environment "
                    "(or run with --dry-run / [bot] dry_run = true)"
                )
            if network == "bluesky" and not config.bluesky.handle:
                raise UsageError("[bot] networks includes 'bluesky': set [bluesky] handle")
            if network == "mastodon" and not config.mastodon.api_base_url:
                raise UsageError("[bot] networks includes 'mastodon': set [mastodon] api_base_url")
            if simulated is not None:
                raise UsageError("simulated mentions are for dry runs only")
        platforms[network] = _network_platform(
            network, config, secrets, dry_run=dry_run, readable=missing is None, simulated=simulated
        )
    return platforms


def _network_platform(
    network: Network,
    config: Config,
    secrets: Secrets,
    *,
    dry_run: bool,
    readable: bool,
    simulated: Path | None,
) -> Platform:
    """The Bluesky or Mastodon platform (live, or a dry run around a read-only client)."""
    # Local imports: atproto and Mastodon.py load only for a bot that uses them.
    real: Platform | None = None
    if readable and (network != "bluesky" or config.bluesky.handle):
        if network == "bluesky":
            from bot.platform.bluesky import BlueskyPlatform

            real = BlueskyPlatform(config, secrets, read_only=dry_run)
        elif config.mastodon.api_base_url:
            from bot.platform.mastodon import MastodonPlatform

            real = MastodonPlatform(config, secrets, read_only=dry_run)
    if not dry_run:
        if real is None:
            raise UsageError(f"[{network}] is not configured enough to post there")
        return real
    mentions = (
        SimulatedMentions.from_file(simulated, bot_username=config.bot.name)
        if simulated is not None
        else None
    )
    return DryRunPlatform(real, mentions, config.bot.name, network=network)


def build_daemon(
    config: Config,
    store: Store,
    secrets: Secrets,
    *,
    dry_run: bool,
    simulated_mentions: Any = None,
) -> Daemon | NetworkDaemons:
    """Wire the real parts: platforms, the current model, filters, composers, trainer child.

    One `Daemon` per `[bot] networks` entry (a `NetworkDaemons` around them when there are
    several), sharing the generator and the trainer. Each platform's bot-label check runs
    here, at start, and only warns. Imports are local: loading torch and transformers is the
    slow part of starting, and the jobs above must stay importable (and testable) without them.
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
    platforms = build_platforms(
        config, secrets, dry_run=dry_run, simulated_mentions=simulated_mentions
    )
    for network, platform in platforms.items():
        warn_without_bot_label(network, platform)
    log.info("loading the model", version=current.version, path=current.path)
    generator = Generator.load(current.path, config.model.device, settings=config.generation)
    rng = random.Random()
    trainer = TrainerProcess(config.path) if config.path is not None else None
    daemons = []
    for position, (network, platform) in enumerate(platforms.items()):
        max_length = account_max_length(network, platform)
        composer = Composer(
            generator,
            Filters.from_store(
                config, store, network=network, dry_run=dry_run, max_length=max_length
            ),
            config,
            rng,
        )
        daemons.append(
            Daemon(
                config,
                store,
                platform,
                composer,
                generator,
                # Training, fetching and the registry follow are shared: the first runs them.
                trainer=trainer if position == 0 else None,
                fetch=fetch_sources,
                on_sources_changed=_refresher(
                    composer, config, store, network, dry_run, max_length
                ),
                on_posted=composer.filters.remember_post,
                rng=rng,
                dry_run=dry_run,
                network=network,
            )
        )
    if len(daemons) == 1:
        return daemons[0]
    return NetworkDaemons(daemons)


def _refresher(
    composer: Any,
    config: Config,
    store: Store,
    network: str,
    dry_run: bool,
    max_length: int | None,
) -> Any:
    """New source tweets must be off limits for verbatim copies from the next post on."""
    from bot.filters import Filters

    def refresh() -> None:
        composer.filters = Filters.from_store(
            config, store, network=network, dry_run=dry_run, max_length=max_length
        )

    return refresh


def account_max_length(network: str, platform: Platform) -> int | None:
    """The length limit the account's server sets (a Mastodon instance's `max_characters`,
    less a content warning), for the length filter; None keeps the network's default."""
    if network != "mastodon":
        return None
    try:
        return platform.limits().max_length
    except BotError as exc:
        log.warning("could not read the instance's post length; assuming 500", error=str(exc))
        return None


def warn_without_bot_label(network: str, platform: Platform) -> None:
    """Log the platform's bot-label warning, if any; a failed check only warns too."""
    try:
        warning = platform.bot_label_warning()
    except BotError as exc:
        log.warning("could not check the bot label", network=network, error=str(exc))
        return
    if warning:
        log.warning(warning, network=network)
