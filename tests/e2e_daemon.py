"""Helpers for end-to-end runs: a bot home on disk and `tweetbot run` as a real child process.

The child uses the real CLI, real tweepy against the fake X server (scripts/fakes) on
loopback, a real SQLite file and a real scratch:tiny model registered as current.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.config import load_config
from bot.store import OutboxRow, Store

ROOT = Path(__file__).resolve().parent.parent

# Known credential values: none of them may ever show up in the child's output.
SECRETS = {
    "TWITTER_CONSUMER_KEY": "ck-e2e-Kq8vZp3LmN",
    "TWITTER_CONSUMER_SECRET": "cs-e2e-Xy7Wq2Rt9Uv4Bn6Mk1Lj5Hg",
    "TWITTER_ACCESS_TOKEN": "1000-at-e2e-Pl0Ok9Ij8Uh7Yg6",
    "TWITTER_ACCESS_TOKEN_SECRET": "ats-e2e-Zx1Cv2Bn3Mq4Wr5Et6",
    "TWITTER_BEARER_TOKEN": "AAAA-bearer-e2e-Ty7Ui8Op9",
}

FAST_SCHEDULE = """
[schedule]
post_every = "2s"
post_jitter = "0s"
mentions_every = "1s"
heartbeat_every = "1s"
retrain_every = "1h"
rate_limit_backoff = "1s"
"""


# The tiny model, small generations and caps no e2e test should hit: shared by every e2e home.
MODEL_AND_POLICY = """[model]
base = "scratch:tiny"
device = "cpu"

[generation]
candidates = 4
max_new_tokens = 24
max_attempts = 4

[replies]
max_per_user_per_hour = 50
max_thread_depth = 50

[limits]
posts_per_day = 1000
posts_per_month = 10000
"""


def write_home(
    home: Path,
    base_url: str,
    model_dir: Path,
    *,
    schedule: str = FAST_SCHEDULE,
    extra: str = "",
    first_start: bool = False,
) -> Path:
    """A bot directory: config.toml pointing at the fake X, and a store with a current model.

    The store is one of a bot that has looked at its mentions before (so mentions already on
    the fake X are answered), unless `first_start`: then they are history and left alone.
    """
    home.mkdir(parents=True, exist_ok=True)
    config_path = home / "config.toml"
    config_path.write_text(
        f"""
[bot]
name = "e2e"
dry_run = false

[twitter]
api_base_url = "{base_url}"
timeout = "2s"

{MODEL_AND_POLICY}{schedule}
{extra}
""",
        encoding="utf-8",
    )
    config = load_config(config_path)
    store = Store(config.db_path)
    try:
        if store.model_version("tiny") is None:
            store.add_model_version(
                "tiny", str(model_dir), base="scratch:tiny", eval_loss=3.0, train_loss=3.0
            )
            store.set_current_model("tiny")
        if not first_start:
            store.set_mentions_baseline(None)
    finally:
        store.close()
    return config_path


def child_env(**extra: str) -> dict[str, str]:
    """The child's environment: the repo importable, offline HF, known secrets, one thread."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWITTER_")}
    env.update(SECRETS)
    env.update(
        PYTHONPATH=str(ROOT),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        OMP_NUM_THREADS="1",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class DaemonProcess:
    """`tweetbot --config PATH --log-format json run ...` in a child, output captured to files."""

    def __init__(self, config_path: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.home = config_path.parent
        self.stdout_path = self.home / f"stdout-{time.monotonic_ns()}.log"
        self.stderr_path = self.stdout_path.with_name(
            self.stdout_path.name.replace("stdout", "stderr")
        )
        self._out = self.stdout_path.open("w")
        self._err = self.stderr_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(config_path), "--log-format", "json",
             *args],
            cwd=self.home,
            env=env or child_env(),
            stdout=self._out,
            stderr=self._err,
        )  # fmt: skip

    def output(self) -> str:
        """Everything the child wrote so far (stdout then stderr)."""
        return self.stdout_path.read_text() + self.stderr_path.read_text()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def terminate(self, timeout: float = 20) -> int:
        """SIGTERM, then the exit code (a hang past `timeout` fails the test)."""
        self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill9(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self._close()

    def wait(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            tail = self.output()[-3000:]
            raise AssertionError(f"daemon did not exit within {timeout}s:\n{tail}") from None
        finally:
            self._close()

    def _close(self) -> None:
        self._out.close()
        self._err.close()

    def ensure_stopped(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait()
        self._close()


def wait_for(
    condition: Callable[[], Any], what: str, daemon: DaemonProcess | None = None, limit: float = 180
) -> Any:
    """Poll until `condition()` is truthy; fail naming `what` (and the daemon's log tail)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if daemon is not None and not daemon.alive():
            raise AssertionError(
                f"daemon exited while waiting for {what}:\n{daemon.output()[-3000:]}"
            )
        time.sleep(0.2)
    tail = daemon.output()[-3000:] if daemon is not None else ""
    raise AssertionError(f"gave up waiting for {what}\n{tail}")


def outbox(config_path: Path) -> list[OutboxRow]:
    """The child's outbox rows (opened read-side while it runs: WAL allows it)."""
    store = Store(load_config(config_path).db_path)
    try:
        return store.posts(limit=1000)
    finally:
        store.close()


def state(config_path: Path, key: str) -> str | None:
    store = Store(load_config(config_path).db_path)
    try:
        return store.get_state(key)
    finally:
        store.close()


def now_iso() -> str:
    """Now as X writes it: milliseconds and a Z (tweepy parses exactly this shape)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
