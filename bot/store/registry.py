"""The `model_versions` and `training_runs` tables: the model registry and its history.

At most one version is current (a partial unique index), and promotion moves the flag in one
BEGIN IMMEDIATE transaction, so any reader in any process sees exactly one current version
once the first has been promoted.
"""

from __future__ import annotations

import json
from typing import Any

from bot.errors import StoreError
from bot.store.clock import iso, utcnow
from bot.store.mentions import MentionQueries
from bot.store.rows import ModelVersion, TrainingRun
from bot.store.status import RunStatus


class RegistryQueries(MentionQueries):
    """Model versions and training runs."""

    def add_model_version(
        self,
        version: str,
        path: str,
        *,
        base: str,
        eval_loss: float | None,
        train_loss: float | None,
        metrics: dict[str, Any] | None = None,
    ) -> None:
        """Register a trained version (not current until promoted)."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO model_versions (version, path, created_at, base, eval_loss, "
                "train_loss, current, metrics) VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
                [
                    version,
                    path,
                    iso(utcnow()),
                    base,
                    eval_loss,
                    train_loss,
                    json.dumps(metrics or {}),
                ],
            )

    def model_versions(self) -> list[ModelVersion]:
        """Registered versions, newest first."""
        rows = self._all("SELECT * FROM model_versions ORDER BY created_at DESC, version DESC")
        return [ModelVersion.from_sql(r) for r in rows]

    def model_version(self, version: str) -> ModelVersion | None:
        """One registered version, or None."""
        row = self._one("SELECT * FROM model_versions WHERE version = ?", [version])
        return ModelVersion.from_sql(row) if row else None

    def current_model(self) -> ModelVersion | None:
        """The version the daemon should load, or None before the first promotion."""
        row = self._one("SELECT * FROM model_versions WHERE current = 1")
        return ModelVersion.from_sql(row) if row else None

    def set_current_model(self, version: str) -> None:
        """Make one registered version current (exactly one is current afterwards)."""
        with self.transaction() as conn:
            if not conn.execute(
                "SELECT 1 FROM model_versions WHERE version = ?", [version]
            ).fetchone():
                raise StoreError(f"model version {version!r} is not registered")
            conn.execute("UPDATE model_versions SET current = 0 WHERE current = 1")
            conn.execute("UPDATE model_versions SET current = 1 WHERE version = ?", [version])

    def unset_current_model(self, version: str) -> None:
        """Leave no version current, if `version` is (undoing a first promotion)."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE model_versions SET current = 0 WHERE version = ? AND current = 1",
                [version],
            )

    def delete_model_version(self, version: str) -> None:
        """Forget a version; refuses the current one."""
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT current FROM model_versions WHERE version = ?", [version]
            ).fetchone()
            if row and row[0]:
                raise StoreError(f"model version {version!r} is current and cannot be deleted")
            conn.execute("DELETE FROM model_versions WHERE version = ?", [version])

    def start_training_run(self) -> int:
        """Record that a training run began; returns its id."""
        with self.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO training_runs (started_at, status) VALUES (?, ?)",
                [iso(utcnow()), str(RunStatus.RUNNING)],
            )
            return int(cursor.lastrowid or 0)

    def finish_training_run(
        self,
        run_id: int,
        status: RunStatus | str,
        *,
        version: str | None = None,
        error: str | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> None:
        """Record how a training run ended: succeeded, rejected (not promoted) or failed."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE training_runs SET finished_at = ?, status = ?, version = ?, error = ?, "
                "metrics = ? WHERE id = ?",
                [
                    iso(utcnow()),
                    str(RunStatus(status)),
                    version,
                    error,
                    json.dumps(metrics) if metrics is not None else None,
                    run_id,
                ],
            )

    def training_runs(self, limit: int = 20) -> list[TrainingRun]:
        """Newest training runs first."""
        rows = self._all("SELECT * FROM training_runs ORDER BY id DESC LIMIT ?", [limit])
        return [TrainingRun.from_sql(r) for r in rows]
