"""One daemon per database: a second `run` on the same data_dir is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.daemon.lock import DaemonLock
from bot.errors import BotError

ROOT = Path(__file__).resolve().parent.parent


def test_a_second_lock_on_the_same_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "daemon.lock"
    with DaemonLock(path), pytest.raises(BotError, match=rf"pid {os.getpid()}\b.*running"):
        DaemonLock(path).acquire()
    # Released on exit: the next daemon may start.
    with DaemonLock(path):
        pass


def test_run_refuses_to_start_beside_a_running_daemon(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[bot]\nname = 'x'\n")
    with DaemonLock(tmp_path / "data" / "daemon.lock"):
        result = subprocess.run(
            [sys.executable, "-m", "bot", "run", "--dry-run", "--once"],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1
    assert "another tweetbot daemon" in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert not (tmp_path / "data" / "tweetbot.db").exists()
