"""What each console page shows, as plain JSON-able data: the HTML page and its JSON twin are
two renderings of the same dict, so they can never disagree."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.config import Config
from bot.store import ModelVersion, Store, console, parse_iso, review, utcnow

# The file name of the loss plot every version directory holds (bot/trainer/card.py writes it;
# not imported from there so the console does not load the trainer's heavy imports).
LOSS_PLOT = "loss.png"


def _gauge(used: int, limit: int) -> dict[str, Any]:
    share = used / limit if limit else 1.0
    return {"used": used, "limit": limit, "share": round(min(share, 1.0), 4)}


def overview(store: Store, config: Config) -> dict[str, Any]:
    """`/`: health (heartbeat and failing jobs, as `tweetbot health` judges them), budget
    gauges per network, next job times, the current model."""
    from bot.daemon.report import (
        health_problem,
        heartbeat_allowance,
        last_mode_dry_run,
        network_budgets,
    )
    from bot.scheduler import job_failures

    now = utcnow()
    beat = store.last_heartbeat()
    age = (now - beat).total_seconds() if beat else None
    allowed = heartbeat_allowance(config).total_seconds()
    # The budget the daemon last ran under: a dry run has its own, apart from the live one.
    dry_run = last_mode_dry_run(store, config)
    budgets = {
        network: {
            "today": _gauge(spent.today, spent.per_day),
            "this_month": _gauge(spent.this_month, spent.per_month),
        }
        for network, spent in network_budgets(store, config, now, dry_run=dry_run).items()
    }
    current = store.current_model()
    counts = console.count_by_status(store)
    return {
        "bot": config.bot.name,
        "dry_run": dry_run,
        "review": {"posts": config.review.posts, "replies": config.review.replies},
        "health": {
            "heartbeat": beat.isoformat() if beat else None,
            "age_s": round(age) if age is not None else None,
            "fresh": age is not None and age <= allowed,
            "problem": health_problem(store, config, now),
        },
        "failing_jobs": [
            {"job": f.job, "failures": f.failures, "last_error": f.last_error}
            for f in job_failures(store)
        ],
        # The first network's gauges (the X-era key); `networks` holds every network's own.
        "budget": next(iter(budgets.values())),
        "networks": budgets,
        "next_runs": store.next_runs(),
        "model": (
            {"version": current.version, "eval_loss": current.eval_loss} if current else None
        ),
        "awaiting_review": counts.get(str(review.AWAITING), 0),
        "outbox": counts,
    }


def queue(store: Store) -> dict[str, Any]:
    """`/queue`: the items awaiting review, oldest first."""
    return {"items": [item.to_dict() for item in review.awaiting(store)]}


_OUTBOX_FIELDS = (
    "id", "network", "kind", "status", "reason", "text", "remote_id", "dry_run",
    "model_version", "prompt", "mention_id", "created_at", "updated_at", "posted_at",
)  # fmt: skip


def outbox(store: Store) -> dict[str, Any]:
    """`/outbox`: every row with its status and reason, newest first."""
    rows = store.posts(limit=1000)
    return {"rows": [{k: row.to_dict()[k] for k in _OUTBOX_FIELDS} for row in rows]}


def _mention_verdict(row: dict[str, Any]) -> str:
    """One line saying why a mention was or was not answered."""
    status = row["status"]
    if row.get("reply_status") in (review.AWAITING, review.APPROVED):
        return f"reply {row['reply_status'].replace('_', ' ')}"
    if status == "replied":
        return "answered"
    if status == "new":
        return "not looked at yet (or waiting for the budget)"
    reason = row.get("reason") or row.get("reply_reason")
    return f"{status}: {reason}" if reason else status


def mentions(store: Store) -> dict[str, Any]:
    """`/mentions`: every mention, newest first, with why it was or wasn't answered."""
    return {
        "mentions": [
            {
                "id": row["id"],
                "author": row.get("author_username"),
                "text": row.get("text"),
                "created_at": row.get("created_at"),
                "status": row["status"],
                "reason": row.get("reason"),
                "verdict": _mention_verdict(row),
                "reply": (
                    {
                        "post_id": row["reply_post_id"],
                        "status": row["reply_status"],
                        "text": row["reply_text"],
                        "reason": row["reply_reason"],
                    }
                    if row.get("reply_post_id") is not None
                    else None
                ),
            }
            for row in console.mentions_with_replies(store)
        ]
    }


def version_dir(row: ModelVersion, config: Config) -> Path:
    """A registered version's directory (relative paths are relative to the config file)."""
    path = Path(row.path)
    return path if path.is_absolute() else config.base_dir / path


def models(store: Store, config: Config) -> dict[str, Any]:
    """`/models`: every registered version, its eval loss, its loss plot, which is current."""
    versions = []
    for row in store.model_versions():
        try:
            metrics = json.loads(row.metrics or "{}")
        except ValueError:
            metrics = {}
        has_plot = (version_dir(row, config) / LOSS_PLOT).is_file()
        versions.append(
            {
                "version": row.version,
                "current": row.current,
                "eval_loss": row.eval_loss,
                "train_loss": row.train_loss,
                "eval_perplexity": metrics.get("eval_perplexity"),
                "base": row.base,
                "created_at": row.created_at,
                "loss_plot": f"/models/{row.version}/loss.png" if has_plot else None,
            }
        )
    return {"versions": versions}


def corpus(store: Store, config: Config) -> dict[str, Any]:
    """`/corpus`: the data table, per source and in total (what `tweetbot corpus` prints)."""
    from bot.corpus import data_table

    table = data_table(store, config)
    return {
        **table.to_dict(),
        "rows": {name: counts.rows() for name, counts in table.sources.items()},
        "total_rows": table.total.rows(),
    }


def age_text(iso_text: str | None) -> str:
    """'42s ago' / 'in 3m' for a stored moment, for the page (the JSON keeps the ISO form)."""
    if not iso_text:
        return "never"
    delta = (parse_iso(iso_text) - utcnow()).total_seconds()
    span = abs(delta)
    if span < 90:
        amount = f"{span:.0f}s"
    elif span < 5400:
        amount = f"{span / 60:.0f}m"
    elif span < 2 * 86400:
        amount = f"{span / 3600:.1f}h"
    else:
        amount = f"{timedelta(seconds=span).days}d"
    return f"in {amount}" if delta > 0 else f"{amount} ago"
