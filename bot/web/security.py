"""The console's locks: the operator token, server-side sessions, CSRF tokens, login throttle.

The token lives only in the process (from `TWEETBOT_WEB_TOKEN`); the browser holds a random
session id in an HttpOnly, SameSite=Strict cookie, and the session holds its CSRF token. Keeping
sessions on the server (not in a signed cookie) means signing out really ends a session and no
signing key is needed; a restart of `tweetbot web` signs everybody out, which is acceptable for
a one-operator console.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

WEB_TOKEN_ENV = "TWEETBOT_WEB_TOKEN"
SESSION_COOKIE = "tweetbot_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

# An idle session ends after this long; the operator signs in again.
SESSION_IDLE_SECONDS = 12 * 3600
# After this many failed sign-ins within the window from one client, /login answers 429.
LOGIN_FAILURES_ALLOWED = 5
LOGIN_WINDOW_SECONDS = 60.0


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison, so response timing reveals nothing of the expected value."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


@dataclass
class Session:
    """One signed-in browser: its CSRF token and a one-shot message for the next page."""

    csrf_token: str
    last_seen: float
    flash: str | None = None

    def pop_flash(self) -> str | None:
        """The pending message, once."""
        message, self.flash = self.flash, None
        return message


@dataclass
class Sessions:
    """Sessions by id, in memory; ids and CSRF tokens are 256-bit random values."""

    clock: Callable[[], float] = time.monotonic
    idle_seconds: float = SESSION_IDLE_SECONDS
    _by_id: dict[str, Session] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def create(self) -> tuple[str, Session]:
        """A new session; returns its id (for the cookie) and the session."""
        now = self.clock()
        with self._lock:
            self._prune(now)
            session_id = secrets.token_urlsafe(32)
            session = Session(csrf_token=secrets.token_urlsafe(32), last_seen=now)
            self._by_id[session_id] = session
            return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        """The live session of a cookie value, or None (unknown or idle too long)."""
        if not session_id:
            return None
        now = self.clock()
        with self._lock:
            session = self._by_id.get(session_id)
            if session is None:
                return None
            if now - session.last_seen > self.idle_seconds:
                del self._by_id[session_id]
                return None
            session.last_seen = now
            return session

    def end(self, session_id: str | None) -> None:
        """Forget a session (sign out)."""
        with self._lock:
            self._by_id.pop(session_id or "", None)

    def _prune(self, now: float) -> None:
        stale = [k for k, s in self._by_id.items() if now - s.last_seen > self.idle_seconds]
        for key in stale:
            del self._by_id[key]


@dataclass
class LoginThrottle:
    """Failed sign-ins per client over a sliding window; too many means 429 for a while."""

    clock: Callable[[], float] = time.monotonic
    allowed: int = LOGIN_FAILURES_ALLOWED
    window: float = LOGIN_WINDOW_SECONDS
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def retry_after(self, client: str) -> int | None:
        """Seconds until `client` may try again, or None when it may try now."""
        now = self.clock()
        with self._lock:
            recent = self._recent(client, now)
            if len(recent) < self.allowed:
                return None
            return max(1, int(recent[0] + self.window - now) + 1)

    def failed(self, client: str) -> None:
        """Record one failed sign-in (a wrong password or a wrong Bearer token)."""
        now = self.clock()
        with self._lock:
            self._recent(client, now).append(now)

    def _recent(self, client: str, now: float) -> deque[float]:
        # Forget clients whose failures are all past the window, so the table stays small.
        for other in [k for k, v in self._failures.items() if v and now - v[-1] >= self.window]:
            del self._failures[other]
        recent = self._failures.setdefault(client, deque())
        while recent and now - recent[0] >= self.window:
            recent.popleft()
        return recent
