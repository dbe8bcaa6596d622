"""The retrain job for real: fetch from the fake X, `python -m bot.trainer` in a child process,
promotion, and the hot swap in the running daemon; and SIGTERM while the child trains."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bot.config import load_config
from bot.store import Store, iso, utcnow
from scripts.fakes import FakeX
from tests.e2e_daemon import DaemonProcess, outbox, wait_for, write_home
from tests.fixtures_corpus import sample_script

SAMPLE = sample_script()

RETRAIN = """
[source]
usernames = ["skerryhorn"]

[training]
epochs = 1.0
learning_rate = 2e-3
batch_size = 16
block_size = 64
min_new_tweets = 50
"""


def _home_due_for_retrain(tmp_path: Path, fake_x: FakeX, model_dir: Path, schedule: str) -> Path:
    fake_x.add_user("skerryhorn", SAMPLE.ACCOUNT_ID)
    fake_x.add_tweets("skerryhorn", [SAMPLE.to_api_v2(t) for t in SAMPLE.sample_tweets(600)])
    config = write_home(tmp_path / "bot", fake_x.base_url, model_dir, schedule=schedule,
                        extra=RETRAIN)  # fmt: skip
    # The retrain planned before this start is due now (the daemon keeps a planned time).
    store = Store(load_config(config).db_path)
    try:
        store.set_state("next_run:retrain", iso(utcnow()))
    finally:
        store.close()
    return config


def _current_version(config: Path) -> str | None:
    store = Store(load_config(config).db_path)
    try:
        current = store.current_model()
        return current["version"] if current else None
    finally:
        store.close()


def test_retrain_fetches_trains_in_a_child_and_hot_swaps(
    tmp_path: Path, fake_x: FakeX, tiny_model_dir: Path
) -> None:
    schedule = """
[schedule]
post_every = "3s"
post_jitter = "0s"
mentions_every = "2s"
heartbeat_every = "1s"
retrain_every = "1h"
"""
    config = _home_due_for_retrain(tmp_path, fake_x, tiny_model_dir, schedule)
    daemon = DaemonProcess(config, "run")
    try:
        wait_for(lambda: "new model in use" in daemon.output(), "the hot swap", daemon, limit=300)
        new_version = _current_version(config)
        assert new_version not in (None, "tiny")
        wait_for(
            lambda: any(r["model_version"] == new_version for r in outbox(config)),
            "a post from the new model",
            daemon,
        )
        assert daemon.terminate() == 0
    finally:
        daemon.ensure_stopped()
    versions = [r["model_version"] for r in reversed(outbox(config)) if r["status"] == "posted"]
    # Posting went on from the old model (the fixture's directory is named "model") until the
    # swap, without a restart.
    assert versions[0] == "model" and versions[-1] == new_version
    events = [json.loads(line) for line in daemon.output().splitlines() if line.startswith("{")]
    assert sum(e["event"] == "daemon started" for e in events) == 1


QUIET_SCHEDULE = """
[schedule]
post_every = "1h"
mentions_every = "5s"
heartbeat_every = "1s"
retrain_every = "1h"
"""


def _trainer_pid(daemon: DaemonProcess) -> int:
    found = wait_for(
        lambda: re.search(r'"pid": (\d+), "event": "trainer started"', daemon.output()),
        "the trainer child",
        daemon,
        limit=300,
    )
    return int(found.group(1))


def test_sigterm_while_training_stops_the_child_and_exits_0(
    tmp_path: Path, fake_x: FakeX, tiny_model_dir: Path
) -> None:
    config = _home_due_for_retrain(tmp_path, fake_x, tiny_model_dir, QUIET_SCHEDULE)
    daemon = DaemonProcess(config, "run")
    try:
        child = _trainer_pid(daemon)
        assert daemon.terminate(timeout=30) == 0
    finally:
        daemon.ensure_stopped()
    # The child is gone, and the model did not change.
    wait_for(lambda: not Path(f"/proc/{child}").exists(), "the trainer child to be gone")
    assert _current_version(config) == "tiny"
    assert "stopped because the daemon is shutting down" in daemon.output()


def test_kill_9_while_training_takes_the_child_down_too(
    tmp_path: Path, fake_x: FakeX, tiny_model_dir: Path
) -> None:
    config = _home_due_for_retrain(tmp_path, fake_x, tiny_model_dir, QUIET_SCHEDULE)
    daemon = DaemonProcess(config, "run")
    try:
        child = _trainer_pid(daemon)
        daemon.kill9()
    finally:
        daemon.ensure_stopped()
    # An orphaned trainer could promote a version behind a restarted daemon's back.
    wait_for(lambda: not Path(f"/proc/{child}").exists(), "the orphaned trainer to die")
    assert _current_version(config) == "tiny"
