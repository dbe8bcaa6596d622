"""Helpers for end-to-end daemon runs on Bluesky and Mastodon: a bot home pointed at a fake.

The child is the real CLI (`tests/e2e_daemon.DaemonProcess`) with the real atproto or
Mastodon.py client talking to the fake PDS or the fake Mastodon instance in the test process.
"""

from __future__ import annotations

from pathlib import Path

from bot.config import load_config
from bot.store import Store
from scripts.fakes.bluesky import FakePds
from scripts.fakes.mastodon import FakeMastodon
from tests.e2e_daemon import FAST_SCHEDULE, MODEL_AND_POLICY, child_env
from tests.fixtures_networks import BSKY_HANDLE, BSKY_PASSWORD, MASTO_TOKEN

NETWORK_SECRETS = {"BLUESKY_APP_PASSWORD": BSKY_PASSWORD, "MASTODON_ACCESS_TOKEN": MASTO_TOKEN}


def network_home(
    home: Path,
    network: str,
    fake: FakePds | FakeMastodon,
    model_dir: Path,
    *,
    schedule: str = FAST_SCHEDULE,
    dry_run: bool = False,
) -> Path:
    """A bot directory posting on `network` through `fake`, with a current tiny model; its
    mentions were looked at before, so those already on the fake are answered."""
    home.mkdir(parents=True, exist_ok=True)
    section = (
        f'[bluesky]\nservice_url = "{fake.base_url}"\nhandle = "{BSKY_HANDLE}"\ntimeout = "2s"\n'
        if network == "bluesky"
        else f'[mastodon]\napi_base_url = "{fake.base_url}"\ntimeout = "2s"\n'
    )
    config_path = home / "config.toml"
    config_path.write_text(
        f"""
[bot]
name = "e2e"
dry_run = {str(dry_run).lower()}
networks = ["{network}"]

{section}
{MODEL_AND_POLICY}{schedule}
""",
        encoding="utf-8",
    )
    store = Store(load_config(config_path).db_path)
    try:
        store.add_model_version(
            "tiny", str(model_dir), base="scratch:tiny", eval_loss=3.0, train_loss=3.0
        )
        store.set_current_model("tiny")
        store.set_mentions_baseline(None, network)
    finally:
        store.close()
    return config_path


def network_env() -> dict[str, str]:
    """The child's environment with the network secrets set."""
    return child_env(**NETWORK_SECRETS)


def bot_posts(fake: FakePds | FakeMastodon) -> list[dict[str, object]]:
    """What the bot has on the fake: id and whether it is a reply (and to what)."""
    if isinstance(fake, FakePds):
        return [
            {
                "id": p["uri"],
                "text": p["text"],
                "reply_to": (p["reply"] or {}).get("parent", {}).get("uri"),
            }
            for p in fake.posted()
        ]
    return [
        {"id": p["id"], "text": p["text"], "reply_to": p["in_reply_to_id"]} for p in fake.posted()
    ]


def writes(fake: FakePds | FakeMastodon) -> list[str]:
    """Every write request the fake saw (opening a Bluesky session is not a write)."""
    return [
        r.path
        for r in fake.requests
        if r.method == "POST" and not r.path.endswith(("createSession", "refreshSession"))
    ]
