"""The standalone runner shared by the fakes' command lines (`python -m scripts.fakes.NAME`)."""

from __future__ import annotations

import argparse
import time
from typing import Protocol


class Servable(Protocol):
    """A fake server that starts on a loopback port and can be stopped."""

    @property
    def base_url(self) -> str:
        """The URL clients connect to once started."""
        ...

    def start(self, port: int = 0) -> object:
        """Start serving on `port` (0 picks a free one)."""
        ...

    def stop(self) -> None:
        """Stop serving and release the port."""
        ...


def fake_parser(
    prog: str, *, description: str | None = None, port_help: str | None = None
) -> argparse.ArgumentParser:
    """An argument parser for `prog` with the `--port` option every fake takes (default 0)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--port", type=int, default=0, help=port_help)
    return parser


def serve_until_interrupted(fake: Servable, port: int) -> None:
    """Start `fake` on `port`, print `listening on URL` once it accepts connections, and
    serve until Ctrl-C (KeyboardInterrupt); the fake is stopped however the wait ends."""
    fake.start(port)
    # Tests and scripts that spawn a fake read this line to learn its port.
    print(f"listening on {fake.base_url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
