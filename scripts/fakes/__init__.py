"""Fakes of the outside services (X API v2), shared by tests, benches and the demo.

They live outside `tests/` so that `bench/` and `scripts/` can use them without importing the
test suite, and outside `bot/` so that no production module can. `FakeX` is the fake X server:
in-memory state (x_state.py), control API (x_control.py), HTTP server (x_server.py).
"""

from scripts.fakes.x_server import FakeX
from scripts.fakes.x_state import FAULTS, RecordedRequest

__all__ = ["FAULTS", "FakeX", "RecordedRequest"]
