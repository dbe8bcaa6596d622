"""The model registry: versions recorded in the store, the promotion rule, rollback, pruning.

A version is promoted only if, on the new run's held-out tweets, its loss is no worse than the
current version's on those same tweets, within `[training] promote_tolerance`. Measuring the
current model again on the new eval set makes the comparison fair as the corpus grows.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import psutil

from bot.errors import UsageError
from bot.logging import get_logger
from bot.store import Store
from bot.trainer.train import TEMP_PREFIX, TrainResult

log = get_logger(__name__)


@dataclass(frozen=True)
class Decision:
    """Whether a new version should become current, and the figures behind it."""

    promote: bool
    reason: str
    new_loss: float  # nats per character on the new held-out tweets
    current_version: str | None = None
    current_loss: float | None = None  # the current version on the same tweets


def judge(store: Store, result: TrainResult, tolerance: float, device: str = "cpu") -> Decision:
    """Apply the promotion rule to a trained (not yet registered) version."""
    from bot.trainer.evaluate import held_out_loss_of

    new = result.eval_loss_per_char
    current = store.current_model()
    if current is None:
        return Decision(True, "first version", new)
    path = Path(current["path"])
    try:
        measured = held_out_loss_of(path, result.eval_texts, result.block_size, device)
    except Exception as exc:
        # A current version that no longer loads cannot be defended; the new one replaces it.
        log.warning("current version does not load", version=current["version"], error=str(exc))
        return Decision(True, f"current version {current['version']} does not load", new,
                        current["version"])  # fmt: skip
    limit = measured.per_char * (1 + tolerance)
    if new <= limit:
        reason = f"held-out loss {new:.4f} <= {measured.per_char:.4f} x (1 + {tolerance})"
    else:
        reason = f"held-out loss {new:.4f} > {measured.per_char:.4f} x (1 + {tolerance})"
    return Decision(new <= limit, reason, new, current["version"], measured.per_char)


def register(store: Store, result: TrainResult) -> None:
    """Record a saved version in the store (not current)."""
    store.add_model_version(
        result.version,
        str(result.path),
        base=result.base,
        eval_loss=result.eval_loss,
        train_loss=result.train_loss,
        metrics={k: v for k, v in result.metrics.items() if k != "log_history"},
    )


def promote_if_better(
    store: Store, result: TrainResult, tolerance: float, device: str = "cpu"
) -> bool:
    """Register `result` and make it current when the promotion rule allows; True if it did."""
    decision = judge(store, result, tolerance, device)
    register(store, result)
    if decision.promote:
        store.set_current_model(result.version)
    log.info("promotion", version=result.version, promoted=decision.promote,
             reason=decision.reason)  # fmt: skip
    return decision.promote


def promote(store: Store, version: str) -> None:
    """Make a registered version current (manual rollback or roll-forward)."""
    row = store.model_version(version)
    if row is None:
        known = ", ".join(r["version"] for r in store.model_versions()) or "none"
        raise UsageError(f"unknown model version {version!r} (registered: {known})")
    if not (Path(row["path"]) / "config.json").is_file():
        raise UsageError(f"model version {version!r} has no model files at {row['path']}")
    store.set_current_model(version)


def prune(store: Store, models_dir: Path, keep: int) -> list[str]:
    """Delete all but the newest `keep` versions, never the current one; returns those deleted.

    Also removes temporary directories left by runs that were killed outright (their process
    is gone), which no exception handler could clean up.
    """
    deleted = []
    versions = store.model_versions()  # newest first
    for row in versions[keep:]:
        if row["current"]:
            continue
        path = Path(row["path"])
        # Only ever delete inside this bot's models directory, whatever the database says.
        if path.resolve().parent == models_dir.resolve():
            shutil.rmtree(path, ignore_errors=True)
        store.delete_model_version(row["version"])
        deleted.append(row["version"])
    for leftover in models_dir.glob(f"{TEMP_PREFIX}*"):
        pid = leftover.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            shutil.rmtree(leftover, ignore_errors=True)
    if deleted:
        log.info("pruned model versions", deleted=deleted)
    return deleted
