"""A job that keeps failing in a real `tweetbot run` shows in `status` and turns `health` red."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bot.scheduler import FAILING_AFTER
from scripts.fakes import FakeX
from tests.e2e_daemon import DaemonProcess, child_env, state, wait_for, write_home


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(config), *args],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _mention_failures(config: Path) -> int:
    raw = state(config, "job_failures:mentions")
    return int(json.loads(raw)["failures"]) if raw else 0


def test_a_job_failing_in_a_row_turns_health_red_until_it_succeeds(
    tmp_path: Path, fake_x: FakeX, tiny_model_dir: Path
) -> None:
    config = write_home(tmp_path / "bot", fake_x.base_url, tiny_model_dir)
    # X's mentions endpoint answers 500 until the test heals it: the mentions job fails run
    # after run.
    fake_x.fail_next("/mentions", "server_error", count=10_000, method="GET")
    daemon = DaemonProcess(config, "run")
    try:
        wait_for(lambda: _mention_failures(config) >= FAILING_AFTER, "failures", daemon)
        health = _cli(config, "health")
        status = _cli(config, "status", "--json")
        text_status = _cli(config, "status")
        # X recovers: the next success clears the count and health is green again.
        with fake_x.lock:
            fake_x.state.faults.clear()
        wait_for(lambda: state(config, "job_failures:mentions") and _mention_failures(config)
                 == 0, "a successful mentions run", daemon)  # fmt: skip
        healthy = _cli(config, "health")
        code = daemon.terminate()
    finally:
        daemon.ensure_stopped()
    assert code == 0
    assert health.returncode == 1
    [line] = health.stderr.strip().splitlines()
    assert "job mentions failed" in line and "in a row" in line, line
    [failing] = json.loads(status.stdout)["failing_jobs"]
    assert failing["job"] == "mentions" and failing["failures"] >= FAILING_AFTER
    assert "500" in failing["last_error"] or "Unavailable" in failing["last_error"]
    assert "FAILING mentions:" in text_status.stdout
    assert healthy.returncode == 0, healthy.stderr
