"""The retrain job's child process: `python -m bot.trainer --config PATH`, run and watched.

Training lives in a separate process so the daemon's memory stays bounded (the optimizer state
and a second copy of the model never enter it) and so posting goes on while a model trains.
The child prints one final JSON line on stdout; everything else it says goes to stderr, which is
the daemon's own log stream.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bot
from bot.logging import get_logger
from bot.trainer.stopping import PARENT_ENV

log = get_logger(__name__)

# How long a child gets to exit after SIGTERM before it is killed.
TERMINATE_GRACE_S = 3.0


class TrainingFailed(Exception):
    """The trainer exited non-zero, was stopped, or printed no result line."""


@dataclass(frozen=True)
class TrainingOutcome:
    """What the trainer's final JSON line says."""

    version: str | None
    promoted: bool
    eval_loss: float | None
    raw: dict[str, Any] = field(default_factory=dict)


def parse_result_line(stdout: str) -> TrainingOutcome:
    """The last JSON object line of the trainer's stdout, or TrainingFailed."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict):
            loss = data.get("eval_loss")
            return TrainingOutcome(
                version=str(data["version"]) if data.get("version") is not None else None,
                promoted=bool(data.get("promoted")),
                eval_loss=float(loss) if isinstance(loss, int | float) else None,
                raw=data,
            )
    raise TrainingFailed("the trainer printed no JSON result line")


class TrainerProcess:
    """Runs the trainer in a child process, one at a time, and can stop it from another thread."""

    def __init__(self, config_path: Path, *, python: str = sys.executable) -> None:
        self.config_path = config_path
        self.python = python
        self._child: subprocess.Popen[str] | None = None
        # Re-entrant: `terminate` may run in a signal handler on the thread that is inside `run`.
        self._lock = threading.RLock()
        self._stopped = False

    def command(self) -> list[str]:
        """The exact command line the retrain job runs."""
        return [self.python, "-m", "bot.trainer", "--config", str(self.config_path)]

    def run(self) -> TrainingOutcome:
        """Train once and wait; raises TrainingFailed when the child fails or is stopped."""
        env = dict(os.environ)
        # The child must import this very package, installed or not.
        root = str(Path(bot.__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        # The child arranges its own death with this process (bot/trainer/stopping.py): no
        # `preexec_fn`, which Python documents as deadlock-prone in a threaded process. Linux
        # ties the death signal to the thread that started the child; that is the retrain job's
        # thread, which waits for the child right here and outlives it.
        env[PARENT_ENV] = str(os.getpid())
        with self._lock:
            if self._stopped:
                raise TrainingFailed("the daemon is stopping")
            # A new session: a Ctrl-C at the terminal reaches the daemon, which then stops
            # the child itself, instead of both racing to handle it.
            self._child = subprocess.Popen(
                self.command(),
                stdout=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
                env=env,
                start_new_session=True,
            )
            child = self._child
        log.info("trainer started", pid=child.pid)
        stdout, _ = child.communicate()
        with self._lock:
            self._child = None
        if self._stopped:
            raise TrainingFailed("stopped because the daemon is shutting down")
        if child.returncode != 0:
            raise TrainingFailed(f"the trainer exited with code {child.returncode}")
        return parse_result_line(stdout)

    def terminate(self) -> None:
        """Stop a running child (SIGTERM, then SIGKILL) and refuse to start another."""
        with self._lock:
            self._stopped = True
            child = self._child
        if child is None or child.poll() is not None:
            return
        log.info("stopping the trainer", pid=child.pid)
        child.terminate()
        try:
            child.wait(TERMINATE_GRACE_S)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
