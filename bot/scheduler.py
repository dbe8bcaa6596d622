"""When the daemon's jobs run: APScheduler 3 wiring, signals and a graceful shutdown.

Each job books its own next run when it finishes: the next post depends on what the last one
did (posted, skipped, rate limited), and a rate-limited job must pause alone until X's reset
time while the others keep going. So every booking is a one-shot APScheduler job (a
`DateTrigger`) with an id of its own, `<job>#<sequence>`, and the run books the next one under
a new id before it returns.

Why unique ids make this simple: APScheduler removes a spent one-shot job *by id* right after
submitting it, and counts running instances *per id*. With one id per booking, that clean-up
only ever removes the booking that just fired, never the next one, and `max_instances` never
compares two bookings. What is left to us is "one live booking per job": `book()` from outside
removes the current booking and adds a new one under a lock, and bumps the job's sequence
number, so a booking that fired in that same instant (APScheduler already removed it, hence
the `JobLookupError`) finds itself stale when it starts and does nothing. A booking made while
the job runs is kept until the run ends and then replaces the run's own next time, so a job
never runs twice at once. Late runs coalesce by construction (one booking is one run, and the
next one is booked from the present); `misfire_grace_time=None` means a late run still runs.

Every planned time is also written to the store as `next_run:<job>` (ISO UTC) for `status`, and
each job's run of consecutive failures as `job_failures:<job>` (JSON) for `status` and `health`.
"""

from __future__ import annotations

import itertools
import json
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger

from bot.daemon.jobs import Daemon, JobResult
from bot.daemon.networks import NetworkDaemons
from bot.logging import get_logger, redact_text
from bot.platform.base import PlatformError, RateLimited
from bot.store import Store, iso, parse_iso, utcnow

log = get_logger(__name__)

JOB_NAMES = ("heartbeat", "mentions", "post", "retrain")

# A run that starts this much later than booked is logged as late (a suspended machine, a
# stalled job); it still runs only once.
LATE_AFTER_S = 60
# The least time between the end of a run and the next start of the same job: a next time that
# is already past (timestamps stored to the second, a clock step, a bug) must not spin a core.
MIN_GAP_S = 0.1
# How long a stop waits for running jobs (a generation, a post in flight) before giving up.
STOP_GRACE_S = 5.0
# A job that failed this many times in a row turns `tweetbot health` red.
FAILING_AFTER = 3
# The stored last error is for a status line, not a log: keep it short.
_ERROR_CHARS = 300


@dataclass(frozen=True)
class JobFailures:
    """A job's current run of consecutive failures, as `status` and `health` show it."""

    job: str
    failures: int
    last_error: str
    since: str

    @property
    def failing(self) -> bool:
        """True once the job failed often enough in a row to call the daemon unhealthy."""
        return self.failures >= FAILING_AFTER


def job_failures(store: Store) -> list[JobFailures]:
    """Every job that failed at its last run, with how many times in a row (for status)."""
    found = []
    for name in JOB_NAMES:
        raw = store.get_state(f"job_failures:{name}")
        if not raw:
            continue
        try:
            record = json.loads(raw)
            entry = JobFailures(
                name, int(record["failures"]), str(record["last_error"]), str(record["since"])
            )
        except (ValueError, KeyError, TypeError):
            continue  # a hand-edited row must not break `status`
        if entry.failures > 0:
            found.append(entry)
    return found


def _one_line(error: BaseException) -> str:
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return redact_text(text)[:_ERROR_CHARS]


class DaemonScheduler:
    """Runs a Daemon's jobs on time until stopped."""

    def __init__(
        self,
        daemon: Daemon | NetworkDaemons,
        *,
        clock: Callable[[], datetime] = utcnow,
        rate_limit_backoff: float | None = None,
        stop_grace: float = STOP_GRACE_S,
    ) -> None:
        self.daemon = daemon
        self.config = daemon.config
        self.store = daemon.store
        self.clock = clock
        self.rate_limit_backoff = (
            rate_limit_backoff
            if rate_limit_backoff is not None
            else daemon.config.schedule.rate_limit_backoff
        )
        self.stop_grace = stop_grace
        self._jobs: dict[str, Callable[[], JobResult]] = {
            "heartbeat": daemon.heartbeat,
            "mentions": daemon.reply_to_mentions,
            "post": daemon.post_once,
            "retrain": daemon.retrain,
        }
        self._stop = threading.Event()
        # Guards the bookings below; APScheduler's own lock is only ever taken inside it.
        self._lock = threading.Lock()
        self._sequence = itertools.count(1)
        self._current: dict[str, int] = {}  # job -> sequence number of its live booking
        self._booked: dict[str, str] = {}  # job -> APScheduler id of its booking, until it fires
        self._active: set[str] = set()  # jobs in the middle of a run
        self._asked: dict[str, datetime] = {}  # bookings made during a run, for after it
        self._running = 0
        # On the bookings' lock: a run counts as started from the moment its booking claimed
        # it, so a stop never misses a run that is just about to call the job.
        self._idle = threading.Condition(self._lock)
        # One worker per job: each job has at most one run at a time, so a long retrain never
        # holds up posts, replies or the heartbeat.
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=len(JOB_NAMES))},
            timezone=UTC,
        )

    # ---- the job wrapper -----------------------------------------------------------------

    def run_job(self, name: str) -> datetime:
        """Run one job with its name bound to every log line; return when it should run next.

        No exception escapes: a failing job is logged, counted, and tried again at its next run.
        """
        with self._idle:
            self._running += 1
        try:
            with structlog.contextvars.bound_contextvars(job=name):
                return self._run_contained(name)
        finally:
            with self._idle:
                self._running -= 1
                self._idle.notify_all()

    def _run_contained(self, name: str) -> datetime:
        try:
            result = self._jobs[name]()
        except RateLimited as exc:
            # Not a failure: X told us when to come back.
            now = self.clock()
            until = exc.reset_at or now + timedelta(seconds=self.rate_limit_backoff)
            # A reset time in the past (clock skew) still gets a one-second breather.
            until = max(until, now + timedelta(seconds=1))
            log.warning("rate limited: job paused until the reset", until=iso(until))
            return until
        except PlatformError as exc:
            # X down, garbled or refusing: expected now and then, so no traceback.
            log.warning("X call failed; the job runs again at its next time", error=str(exc))
            self._record_failure(name, exc)
        except Exception as exc:
            log.exception("job failed; it runs again at its next time")
            self._record_failure(name, exc)
        else:
            # The frequent jobs log what they did themselves (a reply, an ignored mention).
            level = log.debug if name in ("heartbeat", "mentions") else log.info
            level("job done", outcome=result.outcome, detail=result.detail)
            self._record_success(name)
        return self.next_time(name)

    def _record_failure(self, name: str, error: BaseException) -> None:
        key = f"job_failures:{name}"
        try:
            previous = json.loads(self.store.get_state(key) or "{}")
            failures = int(previous.get("failures", 0)) + 1
            since = previous.get("since") if failures > 1 else None
            record = {
                "failures": failures,
                "last_error": _one_line(error),
                "since": since or iso(self.clock()),
            }
            self.store.set_state(key, json.dumps(record, ensure_ascii=False))
            if failures == FAILING_AFTER:
                log.error("job keeps failing; health is now red", failures=failures)
        except Exception:
            # The store itself may be what fails (a full disk); the log above already has it.
            log.warning("could not record the job failure", exc_info=True)

    def _record_success(self, name: str) -> None:
        key = f"job_failures:{name}"
        try:
            if self.store.get_state(key) is not None:
                cleared = {"failures": 0, "last_error": "", "since": ""}
                self.store.set_state(key, json.dumps(cleared))
        except Exception:
            log.warning("could not clear the job's failure count", exc_info=True)

    def next_time(self, name: str, now: datetime | None = None) -> datetime:
        """When a job runs next after a normal run."""
        now = now or self.clock()
        schedule = self.config.schedule
        if name == "post":
            return self.daemon.next_post_time(now)
        every = {
            "heartbeat": schedule.heartbeat_every,
            "mentions": schedule.mentions_every,
            "retrain": schedule.retrain_every,
        }[name]
        return now + timedelta(seconds=every)

    def first_time(self, name: str, now: datetime) -> datetime:
        """When a job first runs after a start: a retrain planned before a restart is kept."""
        if name == "retrain":
            planned = self.store.get_state("next_run:retrain")
            if planned:
                return max(parse_iso(planned), now)
            return self.next_time(name, now)
        if name == "post":
            return self.daemon.next_post_time(now)
        return now

    def book(self, name: str, when: datetime) -> None:
        """Plan a job's next run (replacing any plan) and record it for `status`.

        Called while the job runs, the plan takes effect when the run ends, in place of the
        time the run itself would book: a job never runs twice at once.
        """
        with self._lock:
            if self._stop.is_set():
                return
            if name in self._active:
                self._asked[name] = when
                self._record_next_run(name, when)
                log.debug("job booked for after its current run", job=name, at=iso(when))
            else:
                self._book_locked(name, when)

    def _book_locked(self, name: str, when: datetime) -> None:
        spent = self._booked.pop(name, None)
        if spent is not None:
            try:
                self.scheduler.remove_job(spent)
            except JobLookupError:
                # It fired in this very instant (APScheduler removes a one-shot job once it
                # submitted it); the new sequence number below makes that run a no-op.
                log.debug("booking fired while being replaced", job=name)
        sequence = next(self._sequence)
        job_id = f"{name}#{sequence}"
        self.scheduler.add_job(
            self._fire,
            DateTrigger(run_date=when, timezone=UTC),
            args=(name, sequence, when),
            id=job_id,
            name=name,
            # A late run still runs (once: a one-shot booking has one run time).
            misfire_grace_time=None,
            coalesce=True,
        )
        self._current[name] = sequence
        self._booked[name] = job_id
        self._record_next_run(name, when)
        log.debug("job booked", job=name, at=iso(when))

    def _record_next_run(self, name: str, when: datetime) -> None:
        try:
            self.store.set_state(f"next_run:{name}", iso(when))
        except Exception:
            # `status` shows a stale time; the run itself still happens on time.
            log.warning("could not record the next run", job=name, exc_info=True)

    # ---- one booking firing --------------------------------------------------------------

    def _fire(self, name: str, sequence: int, due: datetime) -> None:
        """Run a booking that came due, then book the job's next run under a new id."""
        with self._lock:
            if self._stop.is_set() or self._current.get(name) != sequence:
                return  # replaced by a later booking, or stopping: nothing to run
            self._booked.pop(name, None)  # spent: APScheduler removes it itself
            self._active.add(name)
        late = (self.clock() - due).total_seconds()
        if late > LATE_AFTER_S:
            log.warning("job ran late; running it once now", job=name, late_s=int(late))
        when = self.clock()
        try:
            when = self.run_job(name)
        finally:
            with self._lock:
                self._active.discard(name)
                when = self._asked.pop(name, when)
                if not self._stop.is_set():
                    soonest = self.clock() + timedelta(seconds=MIN_GAP_S)
                    self._book_locked(name, max(when, soonest))
                self._idle.notify_all()

    # ---- lifecycle -----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while the scheduler is started or a job is still running."""
        with self._idle:
            return self.scheduler.running or self._running > 0 or bool(self._active)

    def start(self) -> None:
        """Settle the outbox left by an earlier run, then book every job and start APScheduler."""
        self._contain("startup reconcile", self.daemon.reconcile_outbox)
        now = self.clock()
        for name in JOB_NAMES:
            # Failure counts describe the running daemon; a restart (maybe after a fix) starts
            # with a clean slate, and the next failure counts again.
            self._record_success(name)
            self.book(name, self.first_time(name, now))
        self.scheduler.start()
        log.info(
            "daemon started",
            dry_run=self.daemon.config.bot.dry_run,
            model_version=self.daemon.model_version,
        )

    def run_once(self) -> dict[str, str]:
        """Run each job once, in order, and return their outcomes (for cron and tests).

        The post job and the retrain job run only when due, so a cron entry that calls
        `run --once` every few minutes keeps to the schedule.
        """
        self._contain("startup reconcile", self.daemon.reconcile_outbox)
        outcomes: dict[str, str] = {}
        now = self.clock()
        for name in JOB_NAMES:
            if self._stop.is_set():
                break
            due = self.first_time(name, now)
            if name in ("post", "retrain") and due > now:
                outcomes[name] = "not due"
                self.store.set_state(f"next_run:{name}", iso(due))
                continue
            self.store.set_state(f"next_run:{name}", iso(self.run_job(name)))
            outcomes[name] = "ran"
        return outcomes

    def _contain(self, what: str, step: Callable[[], Any]) -> None:
        try:
            step()
        except Exception:
            log.exception(f"{what} failed; continuing")

    def wait(self, duration: float | None = None) -> None:
        """Block until stopped, or for `duration` seconds when given."""
        self._stop.wait(duration)

    def request_stop(self) -> None:
        """Ask everything to stop: no new job, no new post, the trainer child terminated.

        Safe from a signal handler; the main thread then calls `stop()`.
        """
        # No lock here: a signal handler may interrupt the main thread while it holds one.
        self._stop.set()
        self.daemon.request_stop()

    def stop(self) -> bool:
        """Stop starting jobs, stop the trainer, and wait briefly for running jobs.

        Returns True when every job finished within the grace period.
        """
        self.request_stop()
        deadline = time.monotonic() + self.stop_grace
        if self.scheduler.running:
            with self._lock:
                # Bookings go first. APScheduler 3.11's shutdown() marks itself stopped before
                # it takes its job-store lock, so a due booking it is processing in that instant
                # fails to remove itself (JobLookupError in its thread). remove_all_jobs() waits
                # for that processing to end, and with no bookings left there is none to race;
                # under our lock, and with the stop set, no run can book a new one.
                self.scheduler.remove_all_jobs()
                self._booked.clear()
            # Not wait=True: that waits for a stuck job forever.
            self.scheduler.shutdown(wait=False)
        with self._idle:
            finished = self._idle.wait_for(
                lambda: self._running == 0 and not self._active,
                timeout=max(0.0, deadline - time.monotonic()),
            )
        if not finished:
            log.warning("a job is still running after the grace period; exiting anyway")
        log.info("daemon stopped")
        return finished

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT ask for a graceful stop (the main thread does the stopping)."""

        def handler(signum: int, _frame: FrameType | None) -> None:
            log.info("signal received; stopping", signal=signal.Signals(signum).name)
            self.request_stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
