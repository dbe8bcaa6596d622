"""A training run that is stopped or runs out of disk cleans up, in real processes.

`tweetbot train` and `python -m bot.trainer` both: SIGTERM leaves no `.tmp-<version>-<pid>/`
and a `training_runs` row that ends `failed` (stopped); a full disk (a real tmpfs when the tests
run as root, else an injected ENOSPC in the child's safetensors writer) ends in one clear
line and exit 1. A trainer child whose daemon is already gone leaves at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import Config, load_config
from bot.corpus import import_archive
from bot.store import Store
from bot.trainer.stopping import PARENT_ENV

REPO = Path(__file__).resolve().parent.parent

TRAIN_COMMANDS = {
    "tweetbot train": ["-m", "bot", "--config", "{config}", "train"],
    "python -m bot.trainer": ["-m", "bot.trainer", "--config", "{config}"],
}


def _write_config(root: Path, epochs: float) -> Config:
    path = root / "config.toml"
    path.write_text(
        '[bot]\nname = "keeper"\n[model]\nbase = "scratch:tiny"\ndevice = "cpu"\n'
        f"[training]\nepochs = {epochs}\nblock_size = 64\nbatch_size = 16\n",
        encoding="utf-8",
    )
    return load_config(path)


def _command(which: str, config: Config) -> list[str]:
    return [sys.executable, *(a.format(config=config.path) for a in TRAIN_COMMANDS[which])]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != PARENT_ENV}
    return {**env, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **extra}


@pytest.fixture(scope="module")
def corpus_db(tmp_path_factory: pytest.TempPathFactory, sample_archive: Path) -> bytes:
    """A database holding the imported sample corpus, as bytes to copy into each home."""
    root = tmp_path_factory.mktemp("stopping_corpus")
    config = _write_config(root, epochs=1)
    store = Store(config.db_path)
    import_archive(store, sample_archive, config=config)
    store.close()
    return config.db_path.read_bytes()


def _home(root: Path, corpus_db: bytes, epochs: float) -> Config:
    config = _write_config(root, epochs)
    config.db_path.parent.mkdir(parents=True, exist_ok=True)
    config.db_path.write_bytes(corpus_db)
    return config


def _runs(config: Config) -> list[dict[str, object]]:
    store = Store(config.db_path)
    try:
        return store.training_runs()
    finally:
        store.close()


@pytest.mark.parametrize("which", list(TRAIN_COMMANDS))
def test_sigterm_during_training_cleans_up_and_records_stopped(
    which: str, tmp_path: Path, corpus_db: bytes
) -> None:
    config = _home(tmp_path, corpus_db, epochs=200.0)  # far longer than the test waits
    child = subprocess.Popen(
        _command(which, config), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=_env(),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        # Training has begun once the temporary version directory exists.
        while not list(config.models_dir.glob(".tmp-*")) and time.monotonic() < deadline:
            assert child.poll() is None, child.stderr.read() if child.stderr else ""
            time.sleep(0.2)
        assert list(config.models_dir.glob(".tmp-*")), "training never started"
        child.send_signal(signal.SIGTERM)
        _, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 143, stderr
    assert "interrupted: nothing was changed" in stderr
    assert list(config.models_dir.iterdir()) == []
    [run] = _runs(config)
    assert (run["status"], run["error"]) == ("failed", "stopped")


@pytest.fixture
def full_models_disk(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A models folder on a disk that fills up at the first checkpoint, and the child's env."""
    models = tmp_path / "models"
    models.mkdir()
    mounted = False
    if os.geteuid() == 0:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(models)],
                              capture_output=True)  # fmt: skip
        mounted = done.returncode == 0
    if mounted:
        try:
            yield models, {}
        finally:
            subprocess.run(["umount", str(models)], check=True)
        return
    # No mount allowed: the child's safetensors writer fails exactly as on a full disk.
    hook = tmp_path / "enospc_hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        textwrap.dedent("""
        import safetensors.torch
        from safetensors import SafetensorError

        def _full(*args, **kwargs):
            raise SafetensorError(
                "Error while serializing: I/O error: No space left on device (os error 28)")

        safetensors.torch.save_file = _full
    """)
    )
    yield models, {"PYTHONPATH": os.pathsep.join([str(REPO), str(hook)])}


@pytest.mark.parametrize("which", list(TRAIN_COMMANDS))
def test_a_full_disk_during_training_is_one_line_exit_1_and_cleaned_up(
    which: str, tmp_path: Path, corpus_db: bytes, full_models_disk: tuple[Path, dict[str, str]]
) -> None:
    config = _home(tmp_path, corpus_db, epochs=1.0)
    models, extra_env = full_models_disk
    assert config.models_dir.parent == models
    done = subprocess.run(_command(which, config), capture_output=True, text=True,
                          env=_env(**extra_env), timeout=300)  # fmt: skip
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith("error: disk full while training under "), errors
    assert "Traceback" not in done.stderr
    assert list(config.models_dir.iterdir()) == []
    [run] = _runs(config)
    assert run["status"] == "failed" and "disk full" in str(run["error"])


def test_a_trainer_child_whose_daemon_is_gone_exits_at_once(tmp_path: Path) -> None:
    # The daemon died between starting the child and the child's prctl: the child was
    # re-parented, sees a parent other than the one it was given, and leaves.
    config = _write_config(tmp_path, epochs=1.0)
    done = subprocess.run(
        [sys.executable, "-m", "bot.trainer", "--config", str(config.path)],
        capture_output=True, text=True, env=_env(**{PARENT_ENV: str(os.getpid() + 1)}), timeout=60,
    )  # fmt: skip
    assert done.returncode == 143
    assert "the daemon that started this trainer is gone" in done.stderr
    assert not config.db_path.exists()  # it did nothing at all
