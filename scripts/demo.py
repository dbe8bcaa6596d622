"""The Quickstart demo: everything offline on the embedded sample account, in dry run.

It grows with the project; each step runs the real `tweetbot` CLI in ./demo.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo"

DEMO_CONFIG = """\
# The demo bot: a fictional account, a model trained from scratch, dry run only.
[bot]
name = "demo"
data_dir = "data"
models_dir = "models"
dry_run = true

[model]
base = "scratch:tiny"
"""


def tweetbot(*args: str) -> None:
    """Run one CLI command in the demo directory, echoing it first."""
    print(f"\n$ tweetbot {' '.join(args)}", flush=True)
    subprocess.run([sys.executable, "-m", "bot", *args], cwd=DEMO, check=True)


def main() -> None:
    """Set up ./demo and run each step."""
    started = time.monotonic()
    DEMO.mkdir(exist_ok=True)
    (DEMO / "config.toml").write_text(DEMO_CONFIG, encoding="utf-8")
    tweetbot("status")
    print(f"\ndemo finished in {time.monotonic() - started:.0f}s", flush=True)


if __name__ == "__main__":
    main()
