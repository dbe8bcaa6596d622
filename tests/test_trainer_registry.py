"""The registry: first version promotes, a worse one is rejected, a better one replaces the
current, manual rollback, pruning, and a failed or interrupted run that changes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from transformers import TrainerCallback

from bot.cli import cli
from bot.config import Config
from bot.errors import BotError, UsageError
from bot.store import Store
from bot.trainer.pipeline import run_training
from bot.trainer.registry import promote, promote_if_better, prune
from bot.trainer.train import train_version
from tests.fixtures_model import synthetic_tweets
from tests.test_trainer_train import make_config, versions_on_disk

TEXTS = synthetic_tweets(600, seed=11)


class InterruptAt(TrainerCallback):  # type: ignore[misc]
    """Raises KeyboardInterrupt (what Ctrl-C does) once training reaches a step."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step >= self.step:
            raise KeyboardInterrupt


def registry(store: Store) -> list[tuple[str, bool]]:
    return [(r["version"], bool(r["current"])) for r in store.model_versions()]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Three real runs: weak (first, promoted), strong (better, promoted), weak (rejected)."""
    root = tmp_path_factory.mktemp("registry")
    weak = make_config(root, epochs=0.1, keep_versions=5)
    strong = make_config(root, epochs=3.0, keep_versions=5)
    store = Store(weak.db_path)
    reports = [run_training(c, store, TEXTS, progress=False) for c in (weak, strong, weak)]
    return {"root": root, "config": weak, "store": store, "reports": reports}


def test_first_version_promotes_better_replaces_worse_is_rejected(
    history: dict[str, Any],
) -> None:
    first, better, worse = history["reports"]
    assert (first.decision.promote, first.decision.reason) == (True, "first version")
    assert better.decision.promote is True
    assert better.decision.current_version == first.result.version
    assert better.decision.new_loss < better.decision.current_loss
    assert worse.decision.promote is False
    assert worse.decision.current_version == better.result.version
    assert worse.decision.new_loss > worse.decision.current_loss * 1.02
    store: Store = history["store"]
    current = store.current_model()
    assert current is not None and current["version"] == better.result.version
    # A rejected version stays registered and on disk, for a manual roll-forward.
    assert store.model_version(worse.result.version) is not None
    assert worse.result.path.is_dir()
    runs = store.training_runs()
    assert [r["status"] for r in runs] == ["rejected", "succeeded", "succeeded"]
    assert json.loads(runs[0]["metrics"])["promoted"] is False


def test_tolerance_lets_a_slightly_worse_version_through(history: dict[str, Any]) -> None:
    store: Store = history["store"]
    _, better, worse = history["reports"]
    ratio = worse.decision.new_loss / worse.decision.current_loss
    # Judged again with a tolerance wider than the gap, the rejected version would pass.
    assert promote_if_better(store, _unregistered(worse.result, history), ratio) is True
    store.set_current_model(better.result.version)


def _unregistered(result: Any, history: dict[str, Any]) -> Any:
    from dataclasses import replace

    store: Store = history["store"]
    store.delete_model_version(result.version)
    return replace(result)


def test_manual_rollback_through_the_cli_and_unknown_versions(history: dict[str, Any]) -> None:
    store: Store = history["store"]
    first = history["reports"][0].result.version
    config: Config = history["config"]
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(config.path), "models", "promote", first])
    assert result.exit_code == 0, result.output
    current = store.current_model()
    assert current is not None and current["version"] == first
    listed = runner.invoke(cli, ["--config", str(config.path), "models", "--json"])
    rows = json.loads(listed.output)
    assert [r["current"] for r in rows if r["version"] == first] == [True]
    assert {"version", "path", "current", "eval_loss"} <= set(rows[0])
    with pytest.raises(UsageError, match="unknown model version 'nope'"):
        promote(store, "nope")


def test_prune_keeps_the_newest_and_never_the_current(history: dict[str, Any]) -> None:
    store: Store = history["store"]
    config: Config = history["config"]
    first, better, worse = (r.result.version for r in history["reports"])
    store.set_current_model(first)  # the oldest is current (a rollback)
    stale = config.models_dir / ".tmp-20200101-000000-999999999"  # a SIGKILLed run's leftovers
    stale.mkdir()
    assert prune(store, config.models_dir, keep=1) == [better]
    assert [v for v, _ in registry(store)] == [worse, first]
    assert versions_on_disk(config) == sorted([first, worse])


def test_an_interrupted_run_leaves_registry_and_models_untouched(tmp_path: Path) -> None:
    config = make_config(tmp_path, epochs=0.1)
    store = Store(config.db_path)
    first = run_training(config, store, TEXTS, progress=False)
    assert first is not None
    before = (registry(store), versions_on_disk(config))
    longer = make_config(tmp_path, epochs=3.0)
    with pytest.raises(KeyboardInterrupt):
        run_training(longer, store, TEXTS, progress=False, callbacks=[InterruptAt(2)])
    assert (registry(store), versions_on_disk(config)) == before
    assert store.training_runs()[0]["status"] == "failed"
    # The current version is intact and loadable.
    assert (first.result.path / "model.safetensors").is_file()


def test_a_run_that_fails_while_registering_is_rolled_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(tmp_path, epochs=0.1)
    store = Store(config.db_path)
    run_training(config, store, TEXTS, progress=False)
    before = (registry(store), versions_on_disk(config))

    def broken(*args: Any, **kwargs: Any) -> None:
        raise BotError("database is locked")

    # Registered, judged as good as the current one, then promotion fails.
    monkeypatch.setattr(Store, "set_current_model", broken)
    with pytest.raises(BotError, match="database is locked"):
        run_training(config, store, TEXTS, progress=False)
    assert (registry(store), versions_on_disk(config)) == before
    assert store.training_runs()[0]["error"] == "database is locked"


def test_a_failing_prune_does_not_fail_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_prune(*args: Any, **kwargs: Any) -> list[str]:
        raise OSError("read-only file system")

    monkeypatch.setattr("bot.trainer.pipeline.prune", broken_prune)
    config = make_config(tmp_path, epochs=0.1)
    store = Store(config.db_path)
    report = run_training(config, store, TEXTS, progress=False)
    assert report is not None and report.deleted == []
    assert registry(store) == [(report.result.version, True)]


def test_train_version_alone_never_touches_the_registry(tmp_path: Path) -> None:
    config = make_config(tmp_path, epochs=0.1)
    store = Store(config.db_path)
    train_version(config, TEXTS, progress=False)
    assert registry(store) == []
