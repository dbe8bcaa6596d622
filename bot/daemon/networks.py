"""The bot on several networks: one `Daemon` per network behind the interface of one.

Each network's `Daemon` has its own platform, outbox (so every scheduled post is one outbox row
per network, composed under that network's length rule), since-markers, caps (`[limits]` count
per network) and reply policy; they share the store, the generator and the composer's model.
The scheduler runs this object like a single daemon: the post and mentions jobs visit every
network in turn, and retrain, heartbeat and the registry follow run once, on the first.

A failure on one network never holds up the others: a 429 pauses only that network until its
reset, any other platform error is logged and the next network goes ahead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from bot.config import Config
from bot.daemon.jobs import Daemon, JobResult
from bot.logging import get_logger
from bot.platform.base import PlatformError, RateLimited
from bot.store import Store, iso

log = get_logger(__name__)


class NetworkDaemons:
    """Several per-network daemons, run by the scheduler as one."""

    def __init__(self, daemons: list[Daemon]) -> None:
        if not daemons:
            raise ValueError("at least one network")
        self.daemons = daemons
        self.primary = daemons[0]
        self._paused: dict[str, datetime] = {}

    # ---- what the scheduler and the CLI read ---------------------------------------------

    @property
    def config(self) -> Config:
        return self.primary.config

    @property
    def store(self) -> Store:
        return self.primary.store

    @property
    def model_version(self) -> str | None:
        return self.primary.model_version

    @property
    def networks(self) -> list[str]:
        """The networks, in `[bot] networks` order."""
        return [str(d.network) for d in self.daemons]

    def next_post_time(self, now: datetime | None = None) -> datetime:
        """The first network's schedule drives the post job (each network then posts)."""
        return self.primary.next_post_time(now)

    # ---- jobs ------------------------------------------------------------------------------

    def post_once(self) -> JobResult:
        """One scheduled post on every network (each its own outbox row)."""
        return self._each("post", lambda d: d.post_once())

    def reply_to_mentions(self) -> JobResult:
        """Answer the mentions of every network, each on the network it came from."""
        return self._each("mentions", lambda d: d.reply_to_mentions())

    def reconcile_outbox(self) -> JobResult:
        """Settle every network's leftover `pending` rows."""
        return self._each("reconcile", lambda d: d.reconcile_outbox())

    def retrain(self) -> JobResult:
        """Retrain once (the model is shared by every network)."""
        return self.primary.retrain()

    def heartbeat(self) -> JobResult:
        """The heartbeat (and the registry follow) of the shared model."""
        return self.primary.heartbeat()

    def follow_registry(self) -> JobResult:
        """Switch to the registry's current version, once for all networks."""
        return self.primary.follow_registry()

    def request_stop(self) -> None:
        """Stop every network's daemon (the trainer belongs to the first)."""
        for daemon in self.daemons:
            daemon.request_stop()

    @property
    def stopping(self) -> bool:
        return self.primary.stopping

    def _each(self, job: str, run: Callable[[Daemon], JobResult]) -> JobResult:
        outcomes = []
        now = self.primary.clock()
        for daemon in self.daemons:
            network = str(daemon.network)
            paused = self._paused.get(network)
            if paused is not None and now < paused:
                outcomes.append(f"{network}: paused until {iso(paused)}")
                continue
            try:
                result = run(daemon)
            except RateLimited as exc:
                until = exc.reset_at or now + timedelta(
                    seconds=self.config.schedule.rate_limit_backoff
                )
                self._paused[network] = max(until, now + timedelta(seconds=1))
                log.warning(f"{job}: rate limited on {network}; paused", until=iso(until))
                outcomes.append(f"{network}: rate limited")
                continue
            except PlatformError as exc:
                log.warning(f"{job}: {network} failed; next time again", error=str(exc))
                outcomes.append(f"{network}: failed")
                continue
            outcomes.append(f"{network}: {result.outcome}")
        return JobResult(job, "; ".join(outcomes))
