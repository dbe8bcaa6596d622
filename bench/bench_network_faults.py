"""Bluesky and Mastodon faults: which error each becomes, and how long the call took.

    python bench/bench_network_faults.py [--timeout 2s]

Runs the real atproto and Mastodon.py clients (through BlueskyPlatform / MastodonPlatform)
against the fake PDS and the fake Mastodon instance on loopback, serving each fault once to a
post (createRecord / POST /api/v1/statuses), and prints fault, network, error type, latency.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import Secrets, config_from_mapping
from bot.platform.base import PlatformError
from bot.platform.bluesky import BlueskyPlatform
from bot.platform.mastodon import MastodonPlatform
from scripts.fakes.bluesky import FakePds
from scripts.fakes.mastodon import FakeMastodon
from scripts.fakes.net.faults import KINDS

# The fakes' accounts are made with these credentials below.
BSKY_PASSWORD, MASTO_TOKEN = "bench-app-password", "bench-token"
BSKY_SECRETS = Secrets(bluesky_app_password=BSKY_PASSWORD)
MASTO_SECRETS = Secrets(mastodon_access_token=MASTO_TOKEN)


def main() -> None:
    """Print one line per (fault, network)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout", default="2s")
    args = parser.parse_args()
    pds = FakePds("tweetbot.test", BSKY_PASSWORD).start()
    masto = FakeMastodon("tweetbot", MASTO_TOKEN).start()
    config = config_from_mapping(
        {
            "bluesky": {
                "service_url": pds.base_url,
                "handle": "tweetbot.test",
                "timeout": args.timeout,
            },
            "mastodon": {"api_base_url": masto.base_url, "timeout": args.timeout},
        }
    )
    bsky = BlueskyPlatform(config, BSKY_SECRETS)
    toots = MastodonPlatform(config, MASTO_SECRETS)
    bsky.me()
    toots.me()
    print(f"{'fault':<22}{'network':<10}{'error':<14}latency")
    try:
        for kind in sorted(KINDS):
            for name, fake, platform, path in (
                ("bluesky", pds, bsky, "createRecord"),
                ("mastodon", masto, toots, "/api/v1/statuses"),
            ):
                fake.fail_next(kind, path=path)
                start = time.perf_counter()
                try:
                    platform.post("hello", key=f"bench-{kind}")
                    outcome = "posted"
                except PlatformError as exc:
                    outcome = type(exc).__name__
                elapsed = time.perf_counter() - start
                print(f"{kind:<22}{name:<10}{outcome:<14}{elapsed * 1000:.0f} ms")
    finally:
        pds.stop()
        masto.stop()


if __name__ == "__main__":
    main()
