"""Daemon figures: resident memory of `tweetbot run` per model size, and one retrain cycle.

    python bench/bench_daemon.py rss [--seconds 40]   # tiny model, then a GPT-2-124M-sized one
    python bench/bench_daemon.py retrain              # fetch + train child + promote + reload

RSS is sampled from outside (psutil) while the daemon runs in dry run with simulated mentions,
posting every few seconds, so the figure includes generation. The GPT-2-sized model has random
weights (nothing comes from the Hub); its memory is the same as the real one's. The retrain
cycle runs the real retrain job against the fake X server serving the sample corpus (2,400
tweets of @skerryhorn) with the demo's training settings.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import Secrets, load_config  # noqa: E402
from bot.store import Store  # noqa: E402

MENTIONS = {
    "mentions": [
        {"author": f"fan{i}", "text": "@{bot} hello, how is the lamp?", "after": f"{3 * i}s"}
        for i in range(8)
    ]
}

CONFIG = """
[bot]
name = "bench"
dry_run = true
[model]
base = "scratch:tiny"
device = "cpu"
[schedule]
post_every = "5s"
post_jitter = "0s"
mentions_every = "3s"
heartbeat_every = "5s"
retrain_every = "7d"
[replies]
max_per_user_per_hour = 10
[limits]
posts_per_day = 1000
"""


def tiny_model(directory: Path) -> Path:
    """A scratch:tiny model trained for a few seconds (the test fixture's recipe)."""
    from tests.fixtures_model import synthetic_tweets, train_tiny_model

    return train_tiny_model(directory, synthetic_tweets())


def gpt2_sized_model(directory: Path, tokenizer_from: Path) -> Path:
    """GPT-2 124M's architecture with random weights, saved with a scratch tokenizer."""
    from transformers import AutoTokenizer, GenerationConfig, GPT2Config, GPT2LMHeadModel

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_from)
    model = GPT2LMHeadModel(GPT2Config())  # n_layer=12, n_embd=768, vocab 50257: 124M
    model.generation_config = GenerationConfig.from_pretrained(tokenizer_from)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    params = sum(p.numel() for p in model.parameters())
    print(f"gpt2-sized model: {params / 1e6:.0f}M parameters", flush=True)
    return directory


def home_with(model_dir: Path, base: Path, config_text: str = CONFIG) -> Path:
    """A bot directory whose current model is `model_dir`."""
    base.mkdir(parents=True, exist_ok=True)
    (base / "config.toml").write_text(config_text, encoding="utf-8")
    (base / "mentions.json").write_text(json.dumps(MENTIONS), encoding="utf-8")
    store = Store(load_config(base / "config.toml").db_path)
    store.add_model_version("bench", str(model_dir), base="bench", eval_loss=1.0, train_loss=1.0)
    store.set_current_model("bench")
    store.close()
    return base / "config.toml"


def measure_rss(config: Path, seconds: float) -> dict[str, float]:
    """Peak and final RSS (MiB) of `tweetbot run --dry-run` over `seconds`."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(config), "--log-format", "json", "run",
         "--for", f"{seconds:g}s", "--simulate-mentions", str(config.parent / "mentions.json")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    watched = psutil.Process(proc.pid)
    peak = last = 0.0
    while proc.poll() is None:
        try:
            last = watched.memory_info().rss / 2**20
        except psutil.NoSuchProcess:
            break
        peak = max(peak, last)
        time.sleep(0.5)
    out = proc.stdout.read() if proc.stdout else ""
    posts = out.count("DRY RUN: would post")
    replies = out.count("DRY RUN: would reply")
    return {"peak_mib": round(peak), "last_mib": round(last), "posts": posts, "replies": replies}


def bench_rss(seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tiny = tiny_model(work / "tiny")
        print("tiny:", measure_rss(home_with(tiny, work / "home-tiny"), seconds), flush=True)
        big = gpt2_sized_model(work / "gpt2", tiny)
        print("gpt2-124M-sized:", measure_rss(home_with(big, work / "home-gpt2"), seconds))


def bench_retrain() -> None:
    from bot.app import build_daemon
    from tests.fakex import FakeX
    from tests.fixtures_corpus import sample_script

    sample = sample_script()
    fake = FakeX().start()
    try:
        fake.add_user("skerryhorn", sample.ACCOUNT_ID)
        fake.add_tweets("skerryhorn", [sample.to_api_v2(t) for t in sample.sample_tweets()])
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            text = (
                CONFIG
                + f"""
[twitter]
api_base_url = "{fake.base_url}"
[source]
usernames = ["skerryhorn"]
[training]
epochs = 3.0
learning_rate = 2e-3
batch_size = 16
block_size = 64
min_new_tweets = 50
"""
            )
            config_path = home_with(tiny_model(work / "tiny"), work / "home", text)
            config = load_config(config_path)
            store = Store(config.db_path)
            os.environ["PYTHONPATH"] = str(ROOT)
            daemon = build_daemon(config, store, Secrets(bearer_token="bench-token"), dry_run=True)
            started = time.monotonic()
            result = daemon.retrain()
            elapsed = time.monotonic() - started
            print(f"retrain cycle: {elapsed:.1f}s -> {result.outcome} {result.detail}")
            print(f"tweets fetched: {store.tweet_count()}")
            store.close()
    finally:
        fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", choices=["rss", "retrain"])
    parser.add_argument("--seconds", type=float, default=40)
    args = parser.parse_args()
    if args.what == "rss":
        bench_rss(args.seconds)
    else:
        bench_retrain()


if __name__ == "__main__":
    main()
