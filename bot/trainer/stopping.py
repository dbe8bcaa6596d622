"""How a training process ends when asked to: SIGTERM unwinds, and a trainer child dies with
the daemon that started it.

Both `tweetbot train` and `python -m bot.trainer` turn SIGTERM into an exception, so the same
clean-up runs as for Ctrl-C: the temporary version directory is removed and the training run is
recorded as failed ("stopped"), instead of the process vanishing mid-write.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

# The daemon puts its pid here when it starts a trainer child (see bot/daemon/retraining.py).
PARENT_ENV = "TWEETBOT_TRAINER_PARENT"
# prctl option from <linux/prctl.h>.
PR_SET_PDEATHSIG = 1
# What a training run row records when a signal ended it.
STOPPED = "stopped"


class Terminated(BaseException):
    """SIGTERM arrived: unwind like Ctrl-C so the temporary directory is removed."""

    def __str__(self) -> str:
        return STOPPED


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    # A second SIGTERM during the clean-up must not cut the clean-up short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


@contextlib.contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """Within the block, SIGTERM raises Terminated (in the main thread); restored afterwards."""
    previous: Any = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def was_stopped(exc: BaseException) -> bool:
    """True for the exceptions a stop request unwinds with (SIGTERM, Ctrl-C)."""
    return isinstance(exc, Terminated | KeyboardInterrupt)


def die_with_parent() -> None:
    """In a trainer child the daemon started: get SIGTERM when the daemon dies, even by -9.

    The child does this itself, first thing, rather than the daemon doing it between fork and
    exec: `preexec_fn` is documented as unsafe in a process with threads (the daemon has one
    per job), since the forked child may deadlock on a lock another thread held. A daemon that
    died before the prctl took effect would go unnoticed by the kernel, so the child then
    compares its parent with the pid the daemon passed down and leaves if it was re-parented.
    The child runs in its own session (a terminal's Ctrl-C reaches only the daemon), so
    without this a daemon killed with -9 would leave a trainer that could promote a version
    behind a restarted daemon's back.
    """
    expected = os.environ.get(PARENT_ENV)
    if not expected:
        return  # run by hand or by cron: nobody to die with
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):  # no prctl: the graceful stop still terminates it
            pass
    if str(os.getppid()) != expected:
        print("error: the daemon that started this trainer is gone; exiting", file=sys.stderr)
        sys.exit(143)
