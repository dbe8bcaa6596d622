"""Shared fixtures. Every test runs with a guard that fails any connection off loopback."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

# Fixture modules of each area register themselves here (fake X server, sample corpus, models).
pytest_plugins: list[str] = [
    "tests.fixtures_model",
    "tests.fixtures_x",
    "tests.fixtures_corpus",
    "tests.fixtures_networks",
]

# No test may reach the Hugging Face Hub; transformers honours these before any request.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
for _name in (
    "TWITTER_CONSUMER_KEY",
    "TWITTER_CONSUMER_SECRET",
    "TWITTER_ACCESS_TOKEN",
    "TWITTER_ACCESS_TOKEN_SECRET",
    "TWITTER_BEARER_TOKEN",
    "TWEETBOT_CONFIG",
):
    os.environ.pop(_name, None)

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _is_loopback(address: object) -> bool:
    if not isinstance(address, tuple) or not address:
        return True  # AF_UNIX paths and the like never leave the machine
    host = str(address[0])
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class OffLoopbackConnection(AssertionError):
    """A test tried to open a connection to something other than loopback."""


def _guarded(real):  # type: ignore[no-untyped-def]
    def connect(self: socket.socket, address: object) -> object:
        if not _is_loopback(address):
            raise OffLoopbackConnection(f"test tried to connect off loopback: {address!r}")
        return real(self, address)

    return connect


def _guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
    # A name lookup is itself a packet off the machine (DNS), so it fails before the connect
    # guard would; IP literals, localhost and our own hostname resolve locally.
    name = host.decode() if isinstance(host, bytes) else host
    if isinstance(name, str) and name not in ("", "localhost", socket.gethostname()):
        try:
            ipaddress.ip_address(name.split("%")[0])
        except ValueError:
            raise OffLoopbackConnection(f"test tried to resolve {name!r} (DNS)") from None
    return _real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail any test that connects or resolves a name anywhere but loopback (X, the Hub...)."""
    monkeypatch.setattr(socket.socket, "connect", _guarded(_real_connect))
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded(_real_connect_ex))
    monkeypatch.setattr(socket, "getaddrinfo", _guarded_getaddrinfo)
    yield


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary directory that is also the current directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_config(directory: Path, text: str, name: str = "config.toml") -> Path:
    """Write a config file for a test and return its path."""
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path
