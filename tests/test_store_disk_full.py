"""A full disk during an import: one clear line, and what was stored before is all still there.

The data_dir is a real 384 KiB tmpfs when the tests run as root (as in CI). Elsewhere the child
gets the same SQLITE_FULL from SQLite itself, through a page limit set by a sitecustomize hook.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import load_config
from bot.store import Store
from tests.fixtures_corpus import sample_script

REPO = Path(__file__).resolve().parent.parent
SAMPLE = sample_script()

# Pages of 4 KiB: enough for the schema and a small import, far too few for the big one.
PAGE_LIMIT_HOOK = """
import sqlite3
_connect = sqlite3.connect
def connect(*args, **kwargs):
    conn = _connect(*args, **kwargs)
    conn.execute("PRAGMA max_page_count = 90")
    return conn
sqlite3.connect = connect
"""


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A data folder that fills up after a few hundred KiB, and the env the child needs."""
    data = tmp_path / "data"
    data.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if os.geteuid() == 0:
        mount = ["mount", "-t", "tmpfs", "-o", "size=384k", "tmpfs", str(data)]
        if subprocess.run(mount, capture_output=True).returncode == 0:
            try:
                yield data, env
            finally:
                subprocess.run(["umount", str(data)], check=True)
            return
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(PAGE_LIMIT_HOOK, encoding="utf-8")
    yield data, {**env, "PYTHONPATH": f"{hook}{os.pathsep}{REPO}"}


def _tweets_js(path: Path, count: int, seed: int) -> Path:
    tweets = SAMPLE.sample_tweets(count, seed=seed)
    path.write_text(SAMPLE.ytd_js("tweets", 0, [{"tweet": t} for t in tweets]), encoding="utf-8")
    return path


def test_a_full_disk_mid_import_stores_nothing_of_it_and_loses_nothing(
    tmp_path: Path, small_disk: tuple[Path, dict[str, str]]
) -> None:
    data, env = small_disk
    config = tmp_path / "config.toml"
    config.write_text(
        f'[bot]\ndata_dir = "{data}"\n[source]\nusernames = ["skerryhorn"]\n', encoding="utf-8"
    )
    command = [sys.executable, "-m", "bot", "--config", str(config), "import"]
    (tmp_path / "small").mkdir()
    small = _tweets_js(tmp_path / "small" / "tweets.js", 20, seed=1)
    first = subprocess.run(
        [*command, str(small), "--username", "skerryhorn"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    db = load_config(config).db_path
    store = Store(db)
    kept_before = store.tweet_count()
    store.close()
    assert kept_before > 0

    (tmp_path / "big").mkdir()
    big = _tweets_js(tmp_path / "big" / "tweets.js", 2400, seed=2)
    failed = subprocess.run(
        [*command, str(big), "--username", "skerryhorn"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    errors = [line for line in failed.stderr.splitlines() if line.strip()]
    assert failed.returncode == 1, failed.stderr
    assert len(errors) == 1, failed.stderr
    assert "disk full; nothing of this change was stored" in errors[0]
    assert "Traceback" not in failed.stderr

    store = Store(db)
    try:
        assert store.tweet_count() == kept_before
    finally:
        store.close()
