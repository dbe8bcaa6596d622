"""Screenshots of the operator console for the README: docs/console-*.png.

Builds a throwaway bot home with made-up content (a fictional lighthouse account: posts
waiting for review, an outbox, mentions, two model versions with loss plots, a corpus), starts
`tweetbot web` on a free loopback port, signs in with Debian's chromium through Playwright and
saves one small PNG per page. Nothing is downloaded and nothing is posted anywhere.

    python scripts/screenshots.py [--out docs]
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import load_config  # noqa: E402
from bot.store import Store, iso  # noqa: E402
from bot.store import review as queue  # noqa: E402
from bot.trainer.card import LOSS_PLOT, plot_losses  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
PAGES = {"overview": "/", "queue": "/queue", "outbox": "/outbox", "mentions": "/mentions",
         "models": "/models", "corpus": "/corpus"}  # fmt: skip

CONFIG = """\
[bot]
name = "skerrybot"

[source]
usernames = ["skerryhorn"]

[limits]
posts_per_day = 17
posts_per_month = 500

[review]
posts = "approve"
replies = "approve"
"""


def _fill(home: Path) -> None:
    """Made-up state: what a day of a bot in approve mode looks like."""
    config = load_config(home / "config.toml")
    store = Store(config.db_path)
    try:
        store.insert_tweets(
            {"id": str(n), "username": "skerryhorn", "kind": "retweet" if n % 7 == 0 else
             "original", "created_at": f"2026-01-{1 + n % 28:02d}T08:00:00",
             "text": ("RT @harbour: " if n % 7 == 0 else "") + (
                 "fog" if n % 11 == 0 else f"Tide log {n}: calm water, lamp lit at dusk")}
            for n in range(1, 240)
        )  # fmt: skip
        for n, text in enumerate(
            [
                "Lamp lit at seven, the keeper counts the gulls",
                "Fog horn count today: nine, and one for luck",
            ]
        ):
            row = store.add_post("post", text, model_version="v2")
            store.mark_post(row.id, "posted", remote_id=str(900 + n))
        store.record_skip("post", "no candidate passed the filters (novelty)")
        store.insert_mentions(
            [
                {"id": "501", "author_username": "harbour_cat", "text":
                 "@skerrybot how is Gertrude doing today?", "created_at": "2026-12-01T07:10:00"},
                {"id": "502", "author_username": "spam_o_matic", "text":
                 "@skerrybot WIN FREE CRYPTO", "created_at": "2026-12-01T07:12:00"},
            ]
        )  # fmt: skip
        store.mark_mention("502", "ignored", "blocked user")
        queue.reject(store, queue.add_for_review(store, "post", "Gertrude sulks in the fog").id)
        queue.add_for_review(store, "post", "Tide log: the rocks are out and so is the seal",
                             ["Tide log: grey water, grey sky, one seal",
                              "Lamp trimmed, wick good, fog rolling in from the north"],
                             prompt="Tide log:", model_version="v2")  # fmt: skip
        queue.add_for_review(store, "reply", "@harbour_cat Gertrude is fine, she ate a crab",
                             ["@harbour_cat she is asleep on the warm stone"],
                             mention_id="501", model_version="v2")  # fmt: skip
        for version, base_loss in (("v1", 4.1), ("v2", 3.6)):
            directory = config.models_dir / version
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "config.json").write_text("{}")
            history = [{"step": s, "loss": base_loss + 2.5 * math.exp(-s / 40)}
                       for s in range(0, 201, 10)]  # fmt: skip
            history += [{"step": s, "eval_loss": base_loss + 0.2 + 2.4 * math.exp(-s / 40)}
                        for s in range(50, 201, 50)]  # fmt: skip
            plot_losses(history, directory / LOSS_PLOT)
            store.add_model_version(
                version,
                str(directory),
                base="gpt2",
                eval_loss=base_loss + 0.2,
                train_loss=base_loss,
                metrics={"eval_perplexity": math.exp(base_loss + 0.2)},
            )
        store.set_current_model("v2")
        store.beat()
        now = datetime.now(UTC)
        for job, minutes in (("post", 42), ("mentions", 1), ("retrain", 6 * 24 * 60)):
            store.set_state(f"next_run:{job}", iso(now + timedelta(minutes=minutes)))
        store.set_state("dry_run", "false")
    finally:
        store.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("tweetbot web exited before it answered")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise SystemExit("tweetbot web never answered")


def main() -> None:
    """Build the home, serve it, take the screenshots."""
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch)
        (home / "config.toml").write_text(CONFIG)
        _fill(home)
        port = _free_port()
        env = {**os.environ, "TWEETBOT_WEB_TOKEN": token, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(home / "config.toml"), "web",
             "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            _wait(f"{base}/login", proc)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 960, "height": 640})
                page.goto(f"{base}/login")
                page.get_by_label("Console token").fill(token)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(f"{base}/")
                for name, path in PAGES.items():
                    page.goto(base + path)
                    if name == "queue":
                        page.locator("details.alternates").first.evaluate("d => d.open = true")
                    target = out / f"console-{name}.png"
                    page.screenshot(path=str(target), full_page=name == "models")
                    print(f"{target.relative_to(ROOT)}: {target.stat().st_size // 1024} KB")
                browser.close()
        finally:
            proc.terminate()
            proc.wait(20)


if __name__ == "__main__":
    main()
