"""When the daemon's jobs run: APScheduler 3 wiring, signals and a graceful shutdown.

Each job books its own next run when it finishes, rather than keeping a fixed interval: the
next post depends on what the last one did (posted, skipped, rate limited), and a rate-limited
job must pause alone until X's reset time while the others keep going. So every job is one
permanent APScheduler job on a "parked" trigger: once it fires, APScheduler parks it years
ahead, and the "job executed" event (fired after the job's instance slot is released, so
`max_instances=1` never drops the next run) hands the real next time to a booking thread, which
moves the parked job there. Jobs are never removed and re-added, so no booking can race
APScheduler's own clean-up of a spent job. Booking never happens inside the event itself: a job
that finishes very quickly has its event delivered on the scheduler's own thread while it still
holds its job-store lock, before it parks the job, which would overwrite the fresh booking; the
booking thread waits for that lock and so always moves the job after it was parked.

Every planned time is also written to the store as `next_run:<job>` (ISO UTC) for `status`.
"""

from __future__ import annotations

import queue
import signal
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

import structlog
from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
    JobExecutionEvent,
)
from apscheduler.executors.base import BaseExecutor
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.daemon.jobs import Daemon, JobResult
from bot.daemon.networks import NetworkDaemons
from bot.logging import get_logger
from bot.platform.base import PlatformError, RateLimited
from bot.store import iso, parse_iso, utcnow

log = get_logger(__name__)

JOB_NAMES = ("heartbeat", "mentions", "post", "retrain")

# A run that starts this late is reported missed; the "missed" handler books it again at once,
# so late runs are coalesced into one rather than lost.
MISFIRE_GRACE_S = 60
# Where a job waits after it fired until its run books the real next time (ten years).
PARKED_S = 10 * 365 * 86400
# How long a stop waits for running jobs (a generation, a post in flight) before giving up.
STOP_GRACE_S = 5.0


class DaemonScheduler:
    """Runs a Daemon's jobs on time until stopped."""

    def __init__(
        self,
        daemon: Daemon | NetworkDaemons,
        *,
        clock: Callable[[], datetime] = utcnow,
        rate_limit_backoff: float | None = None,
        stop_grace: float = STOP_GRACE_S,
        executor: BaseExecutor | None = None,
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
        self._bookings: queue.Queue[tuple[str, datetime] | None] = queue.Queue()
        self._booker: threading.Thread | None = None
        self._running = 0
        self._idle = threading.Condition()
        # Four workers: a long retrain must never hold up posts, replies or the heartbeat.
        self.scheduler = BackgroundScheduler(
            executors={"default": executor or ThreadPoolExecutor(max_workers=len(JOB_NAMES))},
            job_defaults={
                "max_instances": 1,
                "coalesce": True,
                "misfire_grace_time": MISFIRE_GRACE_S,
            },
            timezone="UTC",
        )
        self.scheduler.add_listener(
            self._on_event,
            EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES,
        )

    # ---- the job wrapper -----------------------------------------------------------------

    def run_job(self, name: str) -> datetime:
        """Run one job with its name bound to every log line; return when it should run next.

        No exception escapes: a failing job is logged and tried again at its next run.
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
            now = self.clock()
            until = exc.reset_at or now + timedelta(seconds=self.rate_limit_backoff)
            # A reset time in the past (clock skew) still gets a one-second breather.
            until = max(until, now + timedelta(seconds=1))
            log.warning("rate limited: job paused until the reset", until=iso(until))
            return until
        except PlatformError as exc:
            # X down, garbled or refusing: expected now and then, so no traceback.
            log.warning("X call failed; the job runs again at its next time", error=str(exc))
        except Exception:
            log.exception("job failed; it runs again at its next time")
        else:
            # The frequent jobs log what they did themselves (a reply, an ignored mention).
            level = log.debug if name in ("heartbeat", "mentions") else log.info
            level("job done", outcome=result.outcome, detail=result.detail)
        return self.next_time(name)

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
        """Plan a job's next run (replacing any plan) and record it for `status`."""
        if self._stop.is_set():
            return
        self.store.set_state(f"next_run:{name}", iso(when))
        if self.scheduler.get_job(name) is not None:
            self.scheduler.modify_job(name, next_run_time=when)
        else:
            self.scheduler.add_job(
                self.run_job,
                trigger=IntervalTrigger(seconds=PARKED_S, timezone="UTC"),
                next_run_time=when,
                args=[name],
                id=name,
                name=name,
            )
        log.debug("job booked", job=name, at=iso(when))

    def _on_event(self, event: JobEvent) -> None:
        name = event.job_id
        if name not in self._jobs or self._stop.is_set():
            return
        if isinstance(event, JobExecutionEvent) and isinstance(event.retval, datetime):
            when = event.retval
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            when = self.clock() + timedelta(seconds=1)
        elif event.code == EVENT_JOB_MISSED:
            log.warning("job ran late; running it now", job=name)
            when = self.clock()
        else:
            when = self.clock() + timedelta(seconds=1)
        self._bookings.put((name, when))

    def _book_from_queue(self) -> None:
        while (item := self._bookings.get()) is not None:
            try:
                self.book(*item)
            except Exception:
                # The store may be closing under a shutdown; never let this thread die.
                log.exception("could not book the next run", job=item[0])

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Settle the outbox left by an earlier run, then book every job and start."""
        self._contain("startup reconcile", self.daemon.reconcile_outbox)
        now = self.clock()
        for name in JOB_NAMES:
            self.book(name, self.first_time(name, now))
        self._booker = threading.Thread(target=self._book_from_queue, name="booker", daemon=True)
        self._booker.start()
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
        for name in ("heartbeat", "mentions", "post", "retrain"):
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
        self._stop.set()
        self.daemon.request_stop()

    def stop(self) -> bool:
        """Stop starting jobs, stop the trainer, and wait briefly for running jobs.

        Returns True when every job finished within the grace period.
        """
        self._stop.set()
        self.daemon.request_stop()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self._bookings.put(None)
        with self._idle:
            finished = self._idle.wait_for(lambda: self._running == 0, timeout=self.stop_grace)
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
