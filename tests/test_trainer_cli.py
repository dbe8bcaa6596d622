"""`python -m bot.trainer` as the daemon runs it: a real child process on the sample corpus.

It prints one JSON line and exits 0; bad input exits non-zero with one line; SIGTERM in the
middle of training leaves the registry and the models directory as they were.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config, load_config
from bot.corpus import import_archive
from bot.store import Store

REPO = Path(__file__).resolve().parent.parent


def write_config(root: Path, epochs: float) -> Config:
    path = root / "config.toml"
    path.write_text(
        '[bot]\nname = "keeper"\n[model]\nbase = "scratch:tiny"\ndevice = "cpu"\n'
        f"[training]\nepochs = {epochs}\nblock_size = 64\nbatch_size = 16\n",
        encoding="utf-8",
    )
    return load_config(path)


def trainer_command(config: Config) -> list[str]:
    return [sys.executable, "-m", "bot.trainer", "--config", str(config.path)]


def child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def last_json(stdout: str) -> dict[str, Any]:
    return json.loads(stdout.strip().splitlines()[-1])


def snapshot(config: Config) -> tuple[list[tuple[str, int]], list[str]]:
    store = Store(config.db_path)
    try:
        rows = [(r["version"], r["current"]) for r in store.model_versions()]
    finally:
        store.close()
    return rows, sorted(p.name for p in config.models_dir.iterdir())


@pytest.fixture(scope="module")
def first_run(
    tmp_path_factory: pytest.TempPathFactory, sample_archive: Path
) -> tuple[Config, dict[str, Any]]:
    root = tmp_path_factory.mktemp("trainer_cli")
    config = write_config(root, epochs=0.5)
    store = Store(config.db_path)
    import_archive(store, sample_archive, config=config)
    store.close()
    done = subprocess.run(
        trainer_command(config), capture_output=True, text=True, env=child_env(), timeout=300
    )
    assert done.returncode == 0, done.stderr
    return config, last_json(done.stdout)


def test_the_child_prints_one_json_result_line_on_stdout(
    first_run: tuple[Config, dict[str, Any]],
) -> None:
    config, result = first_run
    assert result["promoted"] is True
    assert isinstance(result["eval_loss"], float)
    assert (config.models_dir / result["version"] / "model.safetensors").is_file()
    assert result["tweets"]["train"] > 1000  # the kept sample corpus, not a stand-in
    metrics = json.loads((config.models_dir / result["version"] / "metrics.json").read_text())
    assert metrics["data"]["sources"]["skerryhorn"]["downloaded"] == 2400


def test_sigterm_during_training_changes_nothing(first_run: tuple[Config, dict[str, Any]]) -> None:
    first, _ = first_run
    config = write_config(first.base_dir, epochs=200.0)  # far longer than the test waits
    before = snapshot(config)
    child = subprocess.Popen(
        trainer_command(config),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    try:
        deadline = time.monotonic() + 120
        # Training has begun once the temporary version directory exists.
        while not list(config.models_dir.glob(".tmp-*")) and time.monotonic() < deadline:
            assert child.poll() is None, child.stderr.read() if child.stderr else ""
            time.sleep(0.2)
        assert list(config.models_dir.glob(".tmp-*")), "training never started"
        time.sleep(1.0)
        child.send_signal(signal.SIGTERM)
        stdout, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 143, stderr
    assert "interrupted: nothing was changed" in stderr
    assert last_json(stdout)["error"] == "interrupted"
    assert snapshot(config) == before
    store = Store(config.db_path)
    assert store.training_runs()[0]["status"] == "failed"
    store.close()


def test_bad_inputs_exit_non_zero_with_one_line(tmp_path: Path) -> None:
    missing = subprocess.run(
        [sys.executable, "-m", "bot.trainer", "--config", str(tmp_path / "nope.toml")],
        capture_output=True, text=True, env=child_env(), timeout=120,
    )  # fmt: skip
    assert missing.returncode == 2
    assert "config file not found" in missing.stderr
    empty = write_config(tmp_path, epochs=1.0)  # a valid config, but no tweets stored yet
    done = subprocess.run(
        trainer_command(empty), capture_output=True, text=True, env=child_env(), timeout=120
    )
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: too little text to train on: 0 kept tweets, 0 characters (need at least "
        "6,000); fetch or import more tweets"
    ]
    assert last_json(done.stdout)["promoted"] is False
    assert not empty.models_dir.exists() or not any(empty.models_dir.iterdir())
