"""`python -m scripts.fakes.mastodon [--port N]`: the fake Mastodon instance, until interrupted."""

from __future__ import annotations

import argparse
import time

from scripts.fakes.mastodon.server import FakeMastodon


def main() -> None:
    """Serve the fake instance; print `listening on URL` once it accepts connections."""
    parser = argparse.ArgumentParser(prog="python -m scripts.fakes.mastodon")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--username", default="tweetbot")
    parser.add_argument("--token", default="masto-token-1234")
    args = parser.parse_args()
    fake = FakeMastodon(args.username, args.token)
    fake.start(args.port)
    print(f"listening on {fake.base_url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
