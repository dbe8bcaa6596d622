"""The scheduler's job wrapper, booking, rate-limit pauses, --once and a short real run."""

from __future__ import annotations

import io
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.executors.debug import DebugExecutor

from bot.daemon.jobs import JobResult
from bot.logging import configure_logging
from bot.platform.base import RateLimited
from bot.scheduler import DaemonScheduler
from bot.store import parse_iso
from tests.daemon_fakes import make_config, make_rig


def _json_lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]


def test_a_failing_job_is_logged_with_its_name_and_booked_again(tmp_path: Path) -> None:
    buffer = io.StringIO()
    configure_logging("json", stream=buffer)
    rig = make_rig(tmp_path)

    def broken() -> JobResult:
        raise ValueError("model exploded")

    rig.daemon.post_once = broken  # type: ignore[method-assign]
    sched = DaemonScheduler(rig.daemon)
    before = datetime.now(UTC)
    nxt = sched.run_job("post")
    assert nxt >= before  # booked again, not dropped
    [failure] = [e for e in _json_lines(buffer) if e["event"].startswith("job failed")]
    assert failure["job"] == "post" and failure["level"] == "error"
    assert "model exploded" in str(failure.get("exception"))


def test_rate_limit_pauses_only_that_job_until_the_reset(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    sched = DaemonScheduler(rig.daemon, rate_limit_backoff=600)
    reset = datetime.now(UTC) + timedelta(minutes=7)
    rig.platform.fail_next("mentions", RateLimited("429", reset))
    assert sched.run_job("mentions") == reset
    # Without a reset time: the default backoff.
    rig.platform.fail_next("mentions", RateLimited("429", None))
    paused = sched.run_job("mentions")
    assert timedelta(seconds=590) < paused - datetime.now(UTC) <= timedelta(seconds=600)
    # The post job is not affected.
    assert sched.run_job("post") > datetime.now(UTC)
    assert len(rig.platform.posted) == 1


def test_intervals_come_from_the_config(tmp_path: Path) -> None:
    config = make_config(
        tmp_path, schedule={"mentions_every": "90s", "heartbeat_every": "5s", "retrain_every": "2d"}
    )
    sched = DaemonScheduler(make_rig(tmp_path, config).daemon)
    now = datetime.now(UTC)
    assert sched.next_time("mentions", now) == now + timedelta(seconds=90)
    assert sched.next_time("heartbeat", now) == now + timedelta(seconds=5)
    assert sched.next_time("retrain", now) == now + timedelta(days=2)


def test_run_once_runs_each_due_job_and_records_next_runs(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.platform.mention(7)
    outcomes = DaemonScheduler(rig.daemon).run_once()
    assert outcomes == {"heartbeat": "ran", "mentions": "ran", "post": "ran", "retrain": "not due"}
    assert len(rig.platform.posted) == 2  # one reply, one post
    keys = set(rig.store.state_items())
    assert {f"next_run:{job}" for job in ("heartbeat", "mentions", "post", "retrain")} <= keys
    # A second --once right after: the post is not due again.
    assert DaemonScheduler(rig.daemon).run_once()["post"] == "not due"
    assert len(rig.platform.posted) == 2


def test_a_retrain_planned_before_a_restart_is_kept(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    planned = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=5)
    rig.store.set_state("next_run:retrain", planned.isoformat())
    sched = DaemonScheduler(rig.daemon)
    assert sched.first_time("retrain", datetime.now(UTC)) == planned


def test_the_real_scheduler_runs_jobs_and_stops_cleanly(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        schedule={"post_every": "300ms", "post_jitter": "0s", "mentions_every": "200ms",
                  "heartbeat_every": "100ms"},
        limits={"posts_per_day": 3},
    )  # fmt: skip
    rig = make_rig(tmp_path, config)
    rig.platform.mention(5)
    sched = DaemonScheduler(rig.daemon)
    capped = threading.Event()
    original = rig.daemon.post_once

    def post_and_notice() -> JobResult:
        result = original()
        if result.outcome == "capped":
            capped.set()
        return result

    beats: list[int] = []
    beating = threading.Event()

    def counted_beat() -> JobResult:
        beats.append(1)
        if len(beats) >= 5:
            beating.set()
        return rig.daemon.heartbeat()

    sched._jobs["post"] = post_and_notice
    sched._jobs["heartbeat"] = counted_beat
    sched.start()
    try:
        assert capped.wait(30), "the post job never reached the daily cap"
        assert beating.wait(30), f"the heartbeat ran {len(beats)} time(s) only"
    finally:
        assert sched.stop() is True
    assert not sched.scheduler.running
    assert rig.trainer.terminated
    # Three sends in all (the cap counts the reply), one of them the reply to mention 5.
    assert len(rig.platform.posted) == 3
    assert [p["in_reply_to"] for p in rig.platform.posted].count("5") == 1
    assert parse_iso(rig.store.get_state("next_run:heartbeat") or "") > datetime(
        2020, 1, 1, tzinfo=UTC
    )
    assert rig.store.last_heartbeat() is not None


# The debug executor runs jobs on the scheduler's thread, which can then trip over the job store
# being shut down under it at the end of the test; the thread pool used in production cannot.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_job_that_finishes_inside_the_submit_is_still_booked_again(tmp_path: Path) -> None:
    # APScheduler delivers a job's "executed" event on its own thread, under its job-store
    # lock, when the job finished before the submit returned (the debug executor always does
    # that). A regression: such a job was booked, then removed as spent, and never ran again.
    config = make_config(tmp_path, schedule={"heartbeat_every": "50ms", "post_every": "1h"})
    rig = make_rig(tmp_path, config)
    sched = DaemonScheduler(rig.daemon, executor=DebugExecutor())
    beats: list[int] = []
    enough = threading.Event()

    def counted_beat() -> JobResult:
        beats.append(1)
        if len(beats) >= 4:
            enough.set()
        return rig.daemon.heartbeat()

    sched._jobs["heartbeat"] = counted_beat
    sched.start()
    try:
        assert enough.wait(30), f"the heartbeat ran {len(beats)} time(s) only"
    finally:
        sched.stop()


def test_stop_does_not_wait_forever_for_a_stuck_job(tmp_path: Path) -> None:
    config = make_config(tmp_path, schedule={"post_every": "1h"})
    rig = make_rig(tmp_path, config)
    sched = DaemonScheduler(rig.daemon, stop_grace=0.2)
    entered, release = threading.Event(), threading.Event()

    def stuck_generation() -> JobResult:
        entered.set()
        release.wait(30)
        return JobResult("late")

    sched._jobs["post"] = stuck_generation
    sched.start()
    try:
        assert entered.wait(30)
        # The CLI exits anyway when this is False (the outbox is consistent at every step).
        assert sched.stop() is False
    finally:
        release.set()
