"""The Quickstart demo (`make demo`): a whole bot, offline, in dry run, in a few minutes on a CPU.

Each step runs the real `tweetbot` CLI in ./demo (recreated on every run):
1. build a sample X archive of a fictional account (scripts/make_sample_archive.py);
2. `tweetbot import` it and show the cleaning table (`tweetbot corpus`);
3. `tweetbot train`: a scratch:tiny GPT-2 with its own tokenizer, registered and promoted;
4. `tweetbot run` in dry run for a bounded time, with simulated mentions arriving over time:
   scheduled posts and replies are printed ("DRY RUN: ..."), nothing is sent anywhere
   (`DEMO_NETWORK=bluesky` or `mastodon` plays the same bot on that network);
5. `tweetbot status`: what the daemon did, with skip reasons, budget and next job times.

`DEMO_REVIEW=1 make demo` shows review mode instead: posts and replies wait in the review queue
(`[review] posts = "approve"`), the console (`tweetbot web`) serves it on 127.0.0.1:8350 while
the daemon runs, and a scripted operator approves, edits or rejects each waiting item with
`tweetbot review`; only approved items are "sent" (printed, as ever in dry run).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo"
# How long the daemon runs; long enough for several posts and every simulated mention.
RUN_FOR = os.environ.get("DEMO_RUN_FOR", "60s")
REVIEW = os.environ.get("DEMO_REVIEW", "") not in ("", "0")

REVIEW_CONFIG = """
# DEMO_REVIEW=1: every post and reply waits for the operator.
[review]
posts = "approve"
replies = "approve"
expire_after = "10m"
"""
# Where the demo bot "posts" (still dry run): `DEMO_NETWORK=bluesky make demo`.
NETWORK = os.environ.get("DEMO_NETWORK", "x")
NETWORKS = ("x", "bluesky", "mastodon")

DEMO_CONFIG = """\
# The demo bot: a fictional account, a model trained from scratch, dry run only.
[bot]
name = "demo"
data_dir = "data"
models_dir = "models"
dry_run = true

[source]
usernames = ["skerryhorn"]

[model]
base = "scratch:tiny"
device = "cpu"

[training]
epochs = 3.0
learning_rate = 2e-3
batch_size = 16
block_size = 64
min_new_tweets = 50

[generation]
candidates = 6
max_new_tokens = 40
# Scheduled posts start from one of these, like the source account's habits.
prompts = ["Lamp lit at", "Fog horn count today", "Tide log:", "Gertrude"]

# Seconds instead of hours, so a minute shows everything the daemon does.
[schedule]
post_every = "12s"
post_jitter = "3s"
mentions_every = "4s"
heartbeat_every = "5s"
retrain_every = "7d"

[replies]
max_per_user_per_hour = 2
max_age = "10m"
blocked_users = ["spam_o_matic"]

[limits]
posts_per_day = 40
"""

# Fictional accounts talking to the bot; `after` is when each appears once the daemon runs.
MENTIONS = {
    "mentions": [
        {"author": "harbour_cat", "text": "@{bot} how is Gertrude doing today?", "after": "2s"},
        {"author": "north_sea_sam", "text": "@{bot} any fog out there tonight?", "after": "10s"},
        {"author": "spam_o_matic", "text": "@{bot} WIN FREE CRYPTO click now", "after": "14s"},
        {"author": "harbour_cat", "text": "@{bot} and the tide?", "after": "22s"},
        {"author": "harbour_cat", "text": "@{bot} one more question!", "after": "30s"},
        {"author": "lamp_fan", "text": "@{bot} what time is the lamp lit?", "after": "38s"},
    ]
}


def tweetbot(*args: str) -> None:
    """Run one CLI command in the demo directory, echoing it first."""
    print(f"\n$ tweetbot {' '.join(args)}", flush=True)
    # Console logs for people; the daemon's DRY RUN lines go to stdout alongside them.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    subprocess.run(
        [sys.executable, "-m", "bot", "--log-format", "console", *args],
        cwd=DEMO,
        check=True,
        env=env,
    )


def _review_json() -> list[dict[str, object]]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "--log-format", "json", "review", "--json"],
        cwd=DEMO, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    items: list[dict[str, object]] = json.loads(done.stdout)
    return items


def operator(*args: str) -> bool:
    """One `tweetbot review ...` of the scripted operator; False when it was refused."""
    try:
        tweetbot("review", *args)
    except subprocess.CalledProcessError:
        return False
    return True


def run_with_operator() -> None:
    """Review mode: the daemon and the console run while a scripted operator works the queue."""
    import secrets

    token = secrets.token_urlsafe(18)
    token_file = DEMO / "web-token"
    token_file.write_text(token + "\n", encoding="utf-8")
    token_file.chmod(0o600)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "TWEETBOT_WEB_TOKEN": token}  # fmt: skip
    base = [sys.executable, "-m", "bot", "--log-format", "console"]
    print(f"\n$ tweetbot run --for {RUN_FOR} --simulate-mentions mentions.json &", flush=True)
    daemon = subprocess.Popen(
        [*base, "run", "--for", RUN_FOR, "--simulate-mentions", "mentions.json"], cwd=DEMO, env=env
    )
    print("$ tweetbot web &   # http://127.0.0.1:8350/ (token in demo/web-token)", flush=True)
    console = subprocess.Popen([*base, "web"], cwd=DEMO, env=env, stderr=subprocess.DEVNULL)
    seen: set[object] = set()
    turn = 0
    try:
        while daemon.poll() is None:
            time.sleep(3)
            for item in _review_json():
                if item["id"] in seen:
                    continue
                seen.add(item["id"])
                turn += 1
                # The operator: approves most, rewrites some, turns one in four down.
                alternates = item.get("alternates")
                if turn % 4 == 0:
                    operator("reject", str(item["id"]))
                    continue
                if turn % 4 == 2 and isinstance(alternates, list) and alternates:
                    # The edited text must pass the filters again, or the command says why.
                    operator("edit", str(item["id"]), str(alternates[0]))
                operator("approve", str(item["id"]))
    finally:
        daemon.wait()
        console.terminate()
        console.wait(20)


def main() -> None:
    """Recreate ./demo and run each step, timing the whole."""
    started = time.monotonic()
    if NETWORK not in NETWORKS:
        print(f"error: DEMO_NETWORK must be one of {', '.join(NETWORKS)}", file=sys.stderr)
        sys.exit(2)
    if DEMO.exists():
        shutil.rmtree(DEMO)
    DEMO.mkdir()
    config_text = DEMO_CONFIG.replace(
        "dry_run = true\n", f'dry_run = true\nnetworks = ["{NETWORK}"]\n'
    ) + (REVIEW_CONFIG if REVIEW else "")
    (DEMO / "config.toml").write_text(config_text, encoding="utf-8")
    (DEMO / "mentions.json").write_text(json.dumps(MENTIONS, indent=2), encoding="utf-8")
    print("$ python scripts/make_sample_archive.py demo/sample.zip", flush=True)
    script = ROOT / "scripts" / "make_sample_archive.py"
    subprocess.run([sys.executable, str(script), str(DEMO / "sample.zip")], check=True)
    tweetbot("import", "sample.zip")
    tweetbot("corpus")
    tweetbot("train")
    if REVIEW:
        run_with_operator()
        tweetbot("review")
    else:
        tweetbot("run", "--for", RUN_FOR, "--simulate-mentions", "mentions.json")
    tweetbot("status", "-n", "20")
    print(f"\ndemo finished in {time.monotonic() - started:.0f}s", flush=True)


if __name__ == "__main__":
    main()
