"""`tweetbot web` as a real child process on a free loopback port, for the browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
# Debian's chromium, launched as it is: no sandbox (containers run as root), no GPU, and no
# background traffic of its own (updates, sync, field trials) — nothing is downloaded.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class WebProcess:
    """`python -m bot --config PATH web --port N`, with its output in a file beside the config."""

    def __init__(self, config_path: Path, token: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = config_path.parent / f"web-{self.port}.log"
        self._log = self.log_path.open("w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("TWITTER_")}
        env.update(TWEETBOT_WEB_TOKEN=token, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(config_path), "--log-format", "json",
             "web", "--port", str(self.port)],
            cwd=config_path.parent, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def wait_ready(self, limit: float = 60) -> None:
        """Poll /login until the server answers (fails with its log if it exits first)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"tweetbot web exited:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/login", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise AssertionError(f"tweetbot web never answered:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> int:
        """SIGTERM (uvicorn shuts down cleanly), then the exit code."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return int(self.proc.returncode)
