"""One training run end to end: corpus -> train -> register -> promotion rule -> prune.

This is what `tweetbot train` and `python -m bot.trainer` (the daemon's retrain child) run. A
run that fails or is interrupted records itself as failed and leaves the registry, the current
model and the version directories exactly as they were.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.config import Config
from bot.logging import get_logger
from bot.store import Store
from bot.trainer.registry import Decision, judge, prune, register
from bot.trainer.train import DataTableLike, TrainResult, train_version

log = get_logger(__name__)


@dataclass(frozen=True)
class RunReport:
    """The outcome of a training run, as printed in the final JSON line."""

    result: TrainResult
    decision: Decision
    deleted: list[str]

    def to_dict(self) -> dict[str, Any]:
        """The JSON line: version, promoted, eval_loss and the figures behind the decision."""
        metrics = self.result.metrics
        return {
            "version": self.result.version,
            "promoted": self.decision.promote,
            "eval_loss": self.result.eval_loss,
            "eval_perplexity": metrics["eval"]["perplexity"],
            "train_loss": self.result.train_loss,
            "path": str(self.result.path),
            "reason": self.decision.reason,
            "held_out_loss_per_char": self.decision.new_loss,
            "current_version": self.decision.current_version,
            "current_loss_per_char": self.decision.current_loss,
            "tweets": metrics["tweets"],
            "tokens": metrics["tokens"],
            "steps": metrics["steps"],
            "duration_s": metrics["duration_s"],
            "deleted": self.deleted,
        }


def run_training(
    config: Config,
    store: Store,
    texts: Sequence[str] | None = None,
    data_table: DataTableLike | None = None,
    *,
    progress: bool | None = None,
    callbacks: Sequence[Any] = (),
) -> RunReport | None:
    """Train a version on the stored corpus (or `texts`), register it, promote it if better.

    Returns None on the extra processes of a multi-GPU run (only the main one registers).
    """
    if texts is None:
        from bot.corpus import data_table as corpus_table
        from bot.corpus import training_texts

        texts = training_texts(store, config)
        data_table = corpus_table(store, config)
    if not is_main_process():
        # Extra ranks of a torchrun / accelerate run train alongside; the registry is rank 0's.
        train_version(config, texts, data_table, progress=False, callbacks=callbacks)
        return None
    run_id = store.start_training_run()
    before = store.current_model()
    result: TrainResult | None = None
    registered = False
    try:
        result = train_version(config, texts, data_table, progress=progress, callbacks=callbacks)
        if not result.is_main_process:
            return None
        device = "cpu" if config.model.device == "cpu" else _device()
        decision = judge(store, result, config.training.promote_tolerance, device)
        register(store, result)
        registered = True
        if decision.promote:
            store.set_current_model(result.version)
    except BaseException as exc:
        # Undo whatever part of this run reached disk or the registry, then say why it failed.
        if result is not None and result.is_main_process:
            _undo(store, result, registered, before.version if before else None)
        message = str(exc) or type(exc).__name__
        store.finish_training_run(run_id, "failed", error=message[:500])
        raise
    try:
        deleted = prune(store, config.models_dir, config.training.keep_versions)
    except Exception as exc:
        # The new version is in place; old ones linger until the next run prunes them.
        log.warning("pruning old versions failed", error=str(exc))
        deleted = []
    report = RunReport(result, decision, deleted)
    summary = report.to_dict()
    store.finish_training_run(
        run_id,
        "succeeded" if decision.promote else "rejected",
        version=result.version,
        metrics=summary,
    )
    log.info("training run finished", **{k: summary[k] for k in ("version", "promoted")})
    return report


def _undo(store: Store, result: TrainResult, registered: bool, previous: str | None) -> None:
    current = store.current_model()
    if current and current.version == result.version:
        if previous is not None:
            store.set_current_model(previous)
        else:
            store.unset_current_model(result.version)
    if registered:
        store.delete_model_version(result.version)
    shutil.rmtree(result.path, ignore_errors=True)


def is_main_process() -> bool:
    """False on the extra processes of a launcher run (torchrun and accelerate set RANK)."""
    return os.environ.get("RANK", "0") == "0"


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
