"""`tweetbot run` as a real process against the fake X server, with a real tiny model.

Schedules are seconds long; each test waits for what it needs (polling the fake and the
database) and never asserts on durations.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import load_config
from bot.store import Store
from tests.e2e_daemon import (
    FAST_SCHEDULE,
    SECRETS,
    DaemonProcess,
    child_env,
    now_iso,
    outbox,
    state,
    wait_for,
    write_home,
)
from tests.fakex import FakeX


def _replies(fake: FakeX) -> list[str]:
    """The tweet ids the bot replied to, one entry per reply."""
    return [
        ref["id"]
        for tweet in fake.posted
        for ref in tweet.get("referenced_tweets", [])
        if ref["type"] == "replied_to"
    ]


def _originals(fake: FakeX) -> list[dict[str, object]]:
    return [t for t in fake.posted if not t.get("referenced_tweets")]


def _quiet_now() -> str:
    """A quiet-hours window around the present moment (so the post job stays silent)."""
    now = datetime.now(UTC)
    return f"{(now - timedelta(hours=1)):%H}:00-{(now + timedelta(hours=2)):%H}:00"


def test_posts_on_schedule_answers_each_mention_once_and_stops_on_sigterm(
    tmp_path: Path, fake_x: FakeX, tiny_model_dir: Path
) -> None:
    config = write_home(tmp_path / "bot", fake_x.base_url, tiny_model_dir)
    first = [fake_x.add_mention(f"@tweetbot_bot question {i}?", author=f"fan{i}",
                                created_at=now_iso())["id"] for i in range(2)]  # fmt: skip
    # --debug: the chattiest logs (tweepy, oauthlib, urllib3) must still hold no secret.
    daemon = DaemonProcess(config, "--debug", "run")
    try:
        wait_for(lambda: len(_originals(fake_x)) >= 2, "two scheduled posts", daemon)
        late = fake_x.add_mention("@tweetbot_bot are you there?", author="latecomer",
                                  created_at=now_iso())["id"]  # fmt: skip
        wait_for(lambda: late in _replies(fake_x), "a reply to the late mention", daemon)
        wait_for(lambda: len(_originals(fake_x)) >= 3, "a third scheduled post", daemon)
        code = daemon.terminate()
    finally:
        daemon.ensure_stopped()
    assert code == 0, daemon.output()[-2000:]
    assert Counter(_replies(fake_x)) == Counter([*first, late])  # each exactly once
    texts = [t["text"] for t in fake_x.posted]
    assert len(texts) == len(set(texts))
    rows = outbox(config)
    posted = {r["tweet_id"] for r in rows if r["status"] == "posted"}
    assert posted == {t["id"] for t in fake_x.posted}
    assert not [r for r in rows if r["status"] == "pending"]
    assert state(config, "next_run:post") and state(config, "heartbeat")
    log = daemon.output()
    assert '"job": "post"' in log and '"daemon stopped"' in log
    for name, value in SECRETS.items():
        assert value not in log, f"{name} leaked into the daemon's output"


def test_kill_9_during_a_post_then_restart_never_posts_twice(
    tmp_path: Path, fake_x: FakeX, tiny_model_dir: Path
) -> None:
    schedule = """
[schedule]
post_every = "1h"
post_jitter = "0s"
mentions_every = "1s"
heartbeat_every = "1s"
"""
    config = write_home(tmp_path / "bot", fake_x.base_url, tiny_model_dir, schedule=schedule)
    # X accepts the tweet only after a long pause, by which time the daemon is dead.
    fake_x.slow_seconds = 4
    fake_x.fail_next("/2/tweets$", "slow_then_ok", method="POST")
    daemon = DaemonProcess(config, "run")
    try:
        wait_for(lambda: fake_x.requests_for("POST", "/2/tweets$"), "the post request", daemon)
        daemon.kill9()
    finally:
        daemon.ensure_stopped()
    wait_for(lambda: fake_x.posted, "the slow post to land on X")
    assert [r["status"] for r in outbox(config)] == ["pending"]

    restarted = DaemonProcess(config, "run")
    try:
        wait_for(
            lambda: [r["status"] for r in outbox(config)] == ["posted"],
            "the pending row reconciled as posted",
            restarted,
        )
        wait_for(lambda: state(config, "next_run:post"), "the next post booked", restarted)
        assert restarted.terminate() == 0
    finally:
        restarted.ensure_stopped()
    [row] = outbox(config)
    assert len(fake_x.posted) == 1 and row["tweet_id"] == fake_x.posted[0]["id"]
    # The restart kept to the schedule: the next post is an hour after the first one.
    next_post = datetime.fromisoformat(state(config, "next_run:post") or "")
    assert next_post > datetime.now(UTC) + timedelta(minutes=50)


def test_kill_9_during_a_reply_then_restart_never_replies_twice(
    tmp_path: Path, fake_x: FakeX, tiny_model_dir: Path
) -> None:
    schedule = f"""
[schedule]
post_every = "2s"
post_jitter = "0s"
mentions_every = "1s"
heartbeat_every = "1s"
quiet_hours = "{_quiet_now()}"
"""
    config = write_home(tmp_path / "bot", fake_x.base_url, tiny_model_dir, schedule=schedule)
    mention = fake_x.add_mention("@tweetbot_bot hi!", author="fan", created_at=now_iso())["id"]
    fake_x.slow_seconds = 4
    # "slow" gives up with a 503 after the pause and creates nothing: the daemon, had it
    # lived, could not know that either; after a restart the reply must not be sent again.
    fake_x.fail_next("/2/tweets$", "slow", method="POST")
    daemon = DaemonProcess(config, "run")
    try:
        wait_for(lambda: fake_x.requests_for("POST", "/2/tweets$"), "the reply request", daemon)
        daemon.kill9()
    finally:
        daemon.ensure_stopped()
    restarted = DaemonProcess(config, "run")
    try:
        wait_for(
            lambda: [r["status"] for r in outbox(config)] == ["unknown"],
            "the pending reply settled as unknown",
            restarted,
        )
        second = fake_x.add_mention("@tweetbot_bot hello?", author="fan2", created_at=now_iso())
        wait_for(lambda: second["id"] in _replies(fake_x), "a reply to a new mention", restarted)
        assert restarted.terminate() == 0
    finally:
        restarted.ensure_stopped()
    assert mention not in _replies(fake_x)
    assert len(fake_x.requests_for("POST", "/2/tweets$")) == 2  # the lost one, the new one
    assert _originals(fake_x) == []  # quiet hours held


def test_survives_429_storms_503s_timeouts_and_garbage_then_catches_up(
    tmp_path: Path, fake_x: FakeX, tiny_model_dir: Path
) -> None:
    config = write_home(tmp_path / "bot", fake_x.base_url, tiny_model_dir)
    fake_x.slow_seconds = 3  # longer than the 2 s client timeout
    for path, kind, count in [
        ("/mentions", "rate_limit_no_reset", 4),
        ("/mentions", "rate_limit_garbled_reset", 2),
        ("/mentions", "unavailable_html", 2),
        ("/mentions", "malformed_json", 2),
        ("/mentions", "slow", 1),
        ("/mentions", "missing_fields", 1),
        ("/mentions", "drop", 1),
    ]:
        fake_x.fail_next(path, kind, count)
    for kind in ("rate_limit_no_reset", "unavailable_html", "server_error", "slow"):
        fake_x.fail_next("/2/tweets$", kind, method="POST")
    daemon = DaemonProcess(config, "run")
    try:
        wait_for(lambda: not fake_x.state.faults, "every fault served", daemon)
        mention = fake_x.add_mention("@tweetbot_bot still alive?", author="tester",
                                     created_at=now_iso())["id"]  # fmt: skip
        wait_for(lambda: mention in _replies(fake_x), "a reply after the storm", daemon)
        wait_for(lambda: len(_originals(fake_x)) >= 2, "posts after the storm", daemon)
        assert daemon.terminate() == 0
    finally:
        daemon.ensure_stopped()
    texts = [t["text"] for t in fake_x.posted]
    assert len(texts) == len(set(texts))
    log = [json.loads(line) for line in daemon.output().splitlines() if line.startswith("{")]
    assert any(e["event"].startswith("rate limited") for e in log)


def test_dry_run_never_writes_to_x(tmp_path: Path, fake_x: FakeX, tiny_model_dir: Path) -> None:
    config = write_home(tmp_path / "bot", fake_x.base_url, tiny_model_dir)
    mention = fake_x.add_mention("@tweetbot_bot dry?", author="fan", created_at=now_iso())["id"]
    daemon = DaemonProcess(config, "run", "--dry-run")
    try:
        wait_for(lambda: "DRY RUN: would reply" in daemon.output(), "a printed reply", daemon)
        wait_for(lambda: daemon.output().count("DRY RUN: would post") >= 2, "printed posts", daemon)
        assert daemon.terminate() == 0
    finally:
        daemon.ensure_stopped()
    assert fake_x.requests_for("POST") == [] and fake_x.posted == []
    assert fake_x.requests_for("GET", "/mentions")  # it did read through real tweepy
    assert mention in daemon.output()


def test_once_runs_each_job_and_exits(tmp_path: Path, fake_x: FakeX, tiny_model_dir: Path) -> None:
    hourly = FAST_SCHEDULE.replace('post_every = "2s"', 'post_every = "1h"')
    config = write_home(tmp_path / "bot", fake_x.base_url, tiny_model_dir, schedule=hourly)
    mention = fake_x.add_mention("@tweetbot_bot once?", author="fan", created_at=now_iso())["id"]
    daemon = DaemonProcess(config, "run", "--once")
    assert daemon.wait(120) == 0, daemon.output()[-2000:]
    assert _replies(fake_x) == [mention] and len(_originals(fake_x)) == 1
    again = DaemonProcess(config, "run", "--once")
    assert again.wait(120) == 0
    assert len(fake_x.posted) == 2  # the post was not due again; nothing new to answer
    assert state(config, "heartbeat")


def test_a_first_start_leaves_the_backlog_alone_and_answers_what_comes_next(
    tmp_path: Path, fake_x: FakeX, tiny_model_dir: Path
) -> None:
    hourly = FAST_SCHEDULE.replace('post_every = "2s"', 'post_every = "1h"')
    config = write_home(
        tmp_path / "bot", fake_x.base_url, tiny_model_dir, schedule=hourly, first_start=True
    )
    backlog = [
        fake_x.add_mention(f"@tweetbot_bot old {i}", author=f"fan{i}", created_at=now_iso())["id"]
        for i in range(5)
    ]
    first = DaemonProcess(config, "run", "--once")
    assert first.wait(120) == 0, first.output()[-2000:]
    assert _replies(fake_x) == []
    store = Store(load_config(config).db_path)
    try:
        assert store.mentions() == []  # no rows for the backlog
        assert store.since_id("mentions") == max(backlog, key=int)
    finally:
        store.close()
    fresh = fake_x.add_mention("@tweetbot_bot new one", author="fan", created_at=now_iso())["id"]
    again = DaemonProcess(config, "run", "--once")
    assert again.wait(120) == 0, again.output()[-2000:]
    assert _replies(fake_x) == [fresh]


def test_models_promote_rolls_a_running_daemon_back_without_a_restart(
    tmp_path: Path, fake_x: FakeX, tiny_model_dir: Path
) -> None:
    config = write_home(tmp_path / "bot", fake_x.base_url, tiny_model_dir)
    older = tmp_path / "older"
    shutil.copytree(tiny_model_dir, older)
    store = Store(load_config(config).db_path)
    try:
        store.add_model_version("older", str(older), base="scratch:tiny", eval_loss=3.5,
                                train_loss=3.5)  # fmt: skip
    finally:
        store.close()
    daemon = DaemonProcess(config, "run")
    try:
        wait_for(lambda: "daemon started" in daemon.output(), "the daemon to start", daemon)
        promoted = subprocess.run(
            [sys.executable, "-m", "bot", "--config", str(config), "models", "promote", "older"],
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert promoted.returncode == 0, promoted.stderr
        wait_for(
            lambda: "model switched to the registry's current version" in daemon.output(),
            "the switch",
            daemon,
        )
        wait_for(
            lambda: any(r["model_version"] == "older" for r in outbox(config)),
            "a post from the rolled-back version",
            daemon,
        )
        assert daemon.terminate() == 0
    finally:
        daemon.ensure_stopped()
    events = [json.loads(line) for line in daemon.output().splitlines() if line.startswith("{")]
    assert sum(e["event"] == "daemon started" for e in events) == 1
