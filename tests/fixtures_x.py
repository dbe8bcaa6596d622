"""The `fake_x` fixture: a running fake X API v2 server (scripts/fakes) on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scripts.fakes import FakeX


@pytest.fixture
def fake_x() -> Iterator[FakeX]:
    """A running fake X API v2 server; point `[twitter] api_base_url` at `fake_x.base_url`."""
    server = FakeX().start()
    try:
        yield server
    finally:
        server.stop()
