"""Faults a fake server can serve instead of a request's real answer.

Kinds: `rate_limit` (429 with the network's reset header), `rate_limit_no_reset` (429 without),
`server_error` (500 JSON), `unavailable_html` (503 HTML page), `html_200` (200 with an HTML
page), `malformed_json` (200, JSON cut off), `hang` (no answer until the client gives up) and
`drop` (the connection is closed without an answer), and `slow_then_ok` (the request is
served normally, but only after `FakeServer.slow_seconds`: a client that dies meanwhile never
learns that it worked).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

KINDS = frozenset(
    {
        "rate_limit",
        "rate_limit_no_reset",
        "server_error",
        "unavailable_html",
        "html_200",
        "malformed_json",
        "hang",
        "drop",
        "slow_then_ok",
    }
)


@dataclass
class Fault:
    """One queued fault: served to the next `times` requests matching method and path."""

    kind: str
    method: str | None
    path: re.Pattern[str]
    times: int


class FaultQueue:
    """Thread-safe queue of faults, taken by the request they match."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        # Set to release hanging requests when the server stops.
        self.release = threading.Event()

    def add(self, kind: str, method: str | None = None, path: str = ".*", times: int = 1) -> None:
        """Queue `kind` for the next `times` requests to `method` `path` (a regex)."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {sorted(KINDS)}")
        with self._lock:
            self._faults.append(Fault(kind, method, re.compile(path), times))

    def take(self, method: str, path: str) -> str | None:
        """The fault the request `method path` gets, if any (counted off its queue entry)."""
        with self._lock:
            for fault in self._faults:
                if (fault.method in (None, method)) and fault.path.search(path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault.kind
        return None
