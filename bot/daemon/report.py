"""What the operator sees of a running (or stopped) daemon: health, budgets per network, next
job times, failing jobs and recent outbox rows. `tweetbot status`, `tweetbot health` and the
console's overview all read it here, so the three can never disagree.

Everything comes from the store: the daemon may run in another process, or not at all.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.config import Config
from bot.daemon.policy import Budget, budget
from bot.store import Store, utcnow

# The outbox columns `status --json` shows for each recent row (and `tweet_id`, see below).
STATUS_FIELDS = (
    "id",
    "network",
    "kind",
    "dry_run",
    "status",
    "text",
    "reason",
    "remote_id",
    "created_at",
)


def heartbeat_allowance(config: Config) -> timedelta:
    """How old the heartbeat may be: three missed beats, so one slow job does not restart a
    container (at least 10 s)."""
    return timedelta(seconds=max(3 * config.schedule.heartbeat_every, 10))


def health_problem(store: Store, config: Config, now: datetime | None = None) -> str | None:
    """Why the daemon is unhealthy, in one line, or None while it is healthy: a heartbeat that
    is missing or stale, or a job that failed too often in a row."""
    from bot.scheduler import job_failures

    now = now or utcnow()
    beat = store.last_heartbeat()
    if beat is None:
        return "the daemon has never recorded a heartbeat"
    age = now - beat
    if age > heartbeat_allowance(config):
        return f"last heartbeat {int(age.total_seconds())}s ago"
    for entry in job_failures(store):
        if entry.failing:
            return (
                f"job {entry.job} failed {entry.failures} times in a row (last: {entry.last_error})"
            )
    return None


def last_mode_dry_run(store: Store, config: Config) -> bool:
    """Whether the daemon last ran as a dry run (`run --dry-run` overrides the file); before
    any run, the file's `[bot] dry_run`. Its budget is the one to show."""
    return store.get_state("dry_run", str(config.bot.dry_run).lower()) == "true"


def network_budgets(
    store: Store, config: Config, now: datetime, *, dry_run: bool
) -> dict[str, Budget]:
    """Each network's budget spent (`[limits]` count per network), in `[bot] networks` order."""
    return {
        network: budget(store, config, now, network=network, dry_run=dry_run)
        for network in config.bot.networks
    }


def _budget_dict(spent: Budget) -> dict[str, int]:
    return {
        "today": spent.today,
        "posts_per_day": spent.per_day,
        "this_month": spent.this_month,
        "posts_per_month": spent.per_month,
    }


def status_report(store: Store, config: Config, limit: int = 10) -> dict[str, Any]:
    """What `status` shows: recent outbox rows, model, next job times, budget, heartbeat.

    The budget is the one the daemon last ran under: the dry run's own, or the live one.
    """
    from bot.scheduler import job_failures

    current = store.current_model()
    beat = store.last_heartbeat()
    dry_run = last_mode_dry_run(store, config)
    budgets = network_budgets(store, config, utcnow(), dry_run=dry_run)
    return {
        "bot": config.bot.name,
        "dry_run": dry_run,
        "model_version": current.version if current else None,
        "heartbeat": beat.isoformat() if beat else None,
        "next_runs": store.next_runs(),
        "failing_jobs": [
            {"job": f.job, "failures": f.failures, "last_error": f.last_error, "since": f.since}
            for f in job_failures(store)
        ],
        # `budget` is the first network's (the X-era key); `networks` has every network's own.
        "budget": _budget_dict(next(iter(budgets.values()))),
        "networks": {network: _budget_dict(spent) for network, spent in budgets.items()},
        "recent": [
            {
                **{k: row.to_dict()[k] for k in STATUS_FIELDS},
                # The X-era name of remote_id, kept for scripts that read it.
                "tweet_id": row.remote_id,
            }
            for row in store.posts(limit=limit)
        ],
    }
