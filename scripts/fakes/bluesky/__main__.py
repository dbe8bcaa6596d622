"""`python -m scripts.fakes.bluesky [--port N]`: run the fake PDS until interrupted."""

from __future__ import annotations

import argparse
import time

from scripts.fakes.bluesky.server import FakePds


def main() -> None:
    """Serve the fake PDS; print `listening on URL` once it accepts connections."""
    parser = argparse.ArgumentParser(prog="python -m scripts.fakes.bluesky")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--handle", default="tweetbot.test")
    parser.add_argument("--password", default="app-pass-1234")
    args = parser.parse_args()
    fake = FakePds(args.handle, args.password)
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
