"""The scheduler's job wrapper, booking, rate-limit pauses, --once and a short real run."""

from __future__ import annotations

import io
import itertools
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.daemon.jobs import JobResult
from bot.logging import configure_logging
from bot.platform.base import RateLimited
from bot.scheduler import FAILING_AFTER, MIN_GAP_S, DaemonScheduler, job_failures
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
    answered = threading.Event()
    original_mentions = rig.daemon.reply_to_mentions

    def mentions_and_notice() -> JobResult:
        result = original_mentions()
        answered.set()
        return result

    def post_and_notice() -> JobResult:
        # The first mentions run goes first, so the cap below is reached with the reply in it
        # whatever the threads' timing on a busy machine.
        answered.wait(30)
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
    sched._jobs["mentions"] = mentions_and_notice
    sched._jobs["heartbeat"] = counted_beat
    sched.start()
    try:
        assert capped.wait(30), "the post job never reached the daily cap"
        assert beating.wait(30), f"the heartbeat ran {len(beats)} time(s) only"
    finally:
        assert sched.stop() is True
    assert not sched.running
    assert rig.trainer.terminated
    # Three sends in all (the cap counts the reply), one of them the reply to mention 5.
    assert len(rig.platform.posted) == 3
    assert [p["in_reply_to"] for p in rig.platform.posted].count("5") == 1
    assert parse_iso(rig.store.get_state("next_run:heartbeat") or "") > datetime(
        2020, 1, 1, tzinfo=UTC
    )
    assert rig.store.last_heartbeat() is not None


def test_a_job_whose_next_run_is_already_due_runs_again(tmp_path: Path) -> None:
    # A job that books a run already due from inside itself must run again: with one shared
    # APScheduler id it was skipped as "max instances" and dropped as spent, never to run
    # again. Here every heartbeat books its next run in the past.
    config = make_config(tmp_path, schedule={"post_every": "1h"})
    rig = make_rig(tmp_path, config)
    sched = DaemonScheduler(rig.daemon)
    beats: list[int] = []
    enough = threading.Event()

    starts: list[datetime] = []

    def counted_beat() -> JobResult:
        starts.append(datetime.now(UTC))
        beats.append(1)
        if len(beats) >= 20:
            enough.set()
        return rig.daemon.heartbeat()

    sched._jobs["heartbeat"] = counted_beat
    sched.next_time = lambda name, now=None: (  # type: ignore[method-assign]
        datetime.now(UTC) - timedelta(seconds=1)
        if name == "heartbeat"
        else datetime.now(UTC) + timedelta(hours=1)
    )
    sched.start()
    try:
        assert enough.wait(30), f"the heartbeat ran {len(beats)} time(s) only"
    finally:
        assert sched.stop() is True
    # ... but never back to back: a next time in the past must not spin a core.
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= MIN_GAP_S - 0.001, gaps


def test_missed_runs_coalesce_into_one(tmp_path: Path) -> None:
    # A machine that slept through many planned heartbeats runs the job once, then books the
    # next run from the present, not once per missed slot.
    config = make_config(tmp_path, schedule={"heartbeat_every": "1h", "post_every": "1h"})
    rig = make_rig(tmp_path, config)
    sched = DaemonScheduler(rig.daemon)
    beats: list[int] = []
    ran = threading.Event()

    def counted_beat() -> JobResult:
        beats.append(1)
        ran.set()
        return rig.daemon.heartbeat()

    sched._jobs["heartbeat"] = counted_beat
    sched.first_time = lambda name, now: now - timedelta(hours=10)  # type: ignore[method-assign]
    sched.start()
    try:
        assert ran.wait(30)
        booked = parse_iso(rig.store.get_state("next_run:heartbeat") or "")
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while booked < datetime.now(UTC) and datetime.now(UTC) < deadline:
            booked = parse_iso(rig.store.get_state("next_run:heartbeat") or "")
    finally:
        assert sched.stop() is True
    assert beats == [1]
    assert booked > datetime.now(UTC) + timedelta(minutes=50)


def test_a_job_that_keeps_failing_is_counted_and_cleared_by_a_success(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    sched = DaemonScheduler(rig.daemon)
    calls: list[int] = []

    def flaky() -> JobResult:
        calls.append(1)
        if len(calls) <= FAILING_AFTER:
            raise RuntimeError("logits are NaN\nsecond line")
        return JobResult("posted")

    sched._jobs["post"] = flaky
    for _ in range(FAILING_AFTER - 1):
        sched.run_job("post")
    [entry] = job_failures(rig.store)
    assert (entry.job, entry.failures, entry.failing) == ("post", FAILING_AFTER - 1, False)
    sched.run_job("post")
    [entry] = job_failures(rig.store)
    assert entry.failing and entry.last_error == "RuntimeError: logits are NaN second line"
    sched.run_job("post")  # a success ends the run of failures
    assert job_failures(rig.store) == []


def test_a_rate_limit_is_not_a_failure(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    sched = DaemonScheduler(rig.daemon)
    for _ in range(FAILING_AFTER + 1):
        rig.platform.fail_next("mentions", RateLimited("429", None))
        sched.run_job("mentions")
    assert job_failures(rig.store) == []


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


def _pending(sched: DaemonScheduler, name: str) -> list[datetime]:
    # The trigger, not next_run_time: a booking made before start() has no next_run_time yet.
    return [job.trigger.run_date for job in sched.scheduler.get_jobs() if job.name == name]


def test_bookings_hammered_from_many_threads_keep_one_booking_and_one_run(tmp_path: Path) -> None:
    # An operator re-booking a job (say, "send soon") while it runs, from several threads at
    # once: there is never more than one live booking per job, the job never runs twice at
    # once, and its chain of runs goes on afterwards.
    config = make_config(tmp_path, schedule={"post_every": "1h", "mentions_every": "1h"})
    rig = make_rig(tmp_path, config)
    sched = DaemonScheduler(rig.daemon)
    guard = threading.Lock()
    in_flight, most_in_flight, most_pending = [0], [0], [0]
    runs: list[int] = []
    more = threading.Condition()

    def slow_beat() -> JobResult:
        with guard:
            in_flight[0] += 1
            most_in_flight[0] = max(most_in_flight[0], in_flight[0])
        threading.Event().wait(0.005)  # long enough for bookings to land mid-run
        with guard:
            in_flight[0] -= 1
        with more:
            runs.append(1)
            more.notify_all()
        return JobResult("alive")

    def look() -> None:
        with guard:
            most_pending[0] = max(most_pending[0], len(_pending(sched, "heartbeat")))

    def hammer(seed: int) -> None:
        for i in range(150):
            soon = datetime.now(UTC) + timedelta(milliseconds=(seed * 7 + i) % 20)
            sched.book("heartbeat", soon)
            look()

    sched._jobs["heartbeat"] = slow_beat
    sched.next_time = lambda name, now=None: (  # type: ignore[method-assign]
        datetime.now(UTC) + (timedelta(0) if name == "heartbeat" else timedelta(hours=1))
    )
    sched.start()
    try:
        threads = [threading.Thread(target=hammer, args=(seed,)) for seed in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        with more:
            after = len(runs)
            assert more.wait_for(lambda: len(runs) >= after + 5, 30), "the chain of runs broke"
        look()
        assert len(_pending(sched, "post")) == 1  # the other jobs kept their single booking
    finally:
        assert sched.stop() is True
    assert most_in_flight[0] == 1
    assert most_pending[0] == 1


def test_a_booking_that_fired_while_being_replaced_does_not_run(tmp_path: Path) -> None:
    # The instant a booking fires, APScheduler drops it; a book() in that same instant adds a
    # new one. The run of the replaced booking must then do nothing, or the job would run
    # twice and book two chains.
    rig = make_rig(tmp_path)
    sched = DaemonScheduler(rig.daemon)
    beats: list[int] = []

    def counted_beat() -> JobResult:
        beats.append(1)
        return JobResult("alive")

    sched._jobs["heartbeat"] = counted_beat
    due = datetime.now(UTC) + timedelta(hours=1)
    sched.book("heartbeat", due)
    replaced = sched._current["heartbeat"]
    sched.book("heartbeat", due + timedelta(hours=1))
    sched._fire("heartbeat", replaced, due)  # what APScheduler's worker would call
    assert beats == []
    assert _pending(sched, "heartbeat") == [due + timedelta(hours=1)]


def test_a_booking_made_during_a_run_replaces_the_runs_own_next_time(tmp_path: Path) -> None:
    config = make_config(tmp_path, schedule={"post_every": "1h", "heartbeat_every": "1h"})
    rig = make_rig(tmp_path, config)
    sched = DaemonScheduler(rig.daemon)
    entered, release, done = threading.Event(), threading.Event(), threading.Event()

    def held_post() -> JobResult:
        entered.set()
        release.wait(30)
        return JobResult("posted")

    sched._jobs["post"] = held_post
    sched.first_time = lambda name, now: (  # type: ignore[method-assign]
        now if name == "post" else now + timedelta(hours=1)
    )
    sched.start()
    try:
        assert entered.wait(30)
        asked = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
        sched.book("post", asked)
        assert _pending(sched, "post") == []  # nothing may fire while the run goes on
        assert rig.store.get_state("next_run:post") == asked.isoformat()
        release.set()
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while not _pending(sched, "post") and datetime.now(UTC) < deadline:
            done.wait(0.01)
        assert _pending(sched, "post") == [asked]
    finally:
        release.set()
        assert sched.stop() is True


def test_stop_waits_for_a_run_its_booking_already_claimed(tmp_path: Path) -> None:
    # A booking that fired just before the stop has claimed its run but not yet called the
    # job: the stop must count it as running, or the CLI would close the store under it.
    rig = make_rig(tmp_path)
    sched = DaemonScheduler(rig.daemon, stop_grace=0.2)
    claimed, release = threading.Event(), threading.Event()
    plain_run_job = sched.run_job

    def slow_to_start(name: str) -> datetime:
        claimed.set()
        release.wait(30)  # the worker thread was descheduled right here
        return plain_run_job(name)

    sched.run_job = slow_to_start  # type: ignore[method-assign]
    due = datetime.now(UTC)
    sched.book("heartbeat", due)
    worker = threading.Thread(
        target=sched._fire, args=("heartbeat", sched._current["heartbeat"], due)
    )
    worker.start()
    try:
        assert claimed.wait(30)
        assert sched.stop() is False
        assert sched.running
    finally:
        release.set()
        worker.join(30)
    assert not sched.running
