"""The store under several real processes: imports that overlap, promotions in a loop seen by
a reader, and a SIGTERM in the middle of an import."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from bot.store import Store

ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def _python(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


IMPORT = """
    import sys, time
    from pathlib import Path
    from bot.store import Store

    db, start, stop, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    store = Store(db)
    while not go.exists():
        time.sleep(0.005)
    rows = ({"id": str(i), "username": "alice", "text": f"t{i}", "kind": "original"}
            for i in range(start, stop))
    print(store.insert_tweets(rows))
"""


def test_two_overlapping_imports_at_once_count_each_new_row_once(tmp_path: Path) -> None:
    db = tmp_path / "tweetbot.db"
    Store(db).close()
    go = tmp_path / "go"
    first = _python(IMPORT, str(db), "0", "20000", str(go))
    second = _python(IMPORT, str(db), "10000", "30000", str(go))
    time.sleep(0.5)  # both are waiting at the start line
    go.touch()
    counts = []
    for proc in (first, second):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        counts.append(int(out))
    assert Store(db).tweet_count() == 30000
    assert sum(counts) == 30000  # not 20000 + 20000


PROMOTE = """
    import sys
    from bot.store import Store

    store = Store(sys.argv[1])
    for i in range(int(sys.argv[2])):
        store.set_current_model(sys.argv[3 + i % 2])
    print("done")
"""


def test_exactly_one_version_is_current_at_every_instant(tmp_path: Path) -> None:
    db = tmp_path / "tweetbot.db"
    store = Store(db)
    for version in ("v1", "v2", "v3", "v4"):
        store.add_model_version(version, f"/m/{version}", base="gpt2", eval_loss=1, train_loss=1)
    store.set_current_model("v1")
    store.close()
    promoters = [
        _python(PROMOTE, str(db), "300", "v1", "v2"),
        _python(PROMOTE, str(db), "300", "v3", "v4"),
    ]
    seen: dict[int, int] = {}
    reader = sqlite3.connect(db, timeout=30)
    while any(p.poll() is None for p in promoters):
        count = reader.execute("SELECT count(*) FROM model_versions WHERE current = 1").fetchone()
        seen[count[0]] = seen.get(count[0], 0) + 1
    for proc in promoters:
        out, err = proc.communicate()
        assert proc.returncode == 0 and out.strip() == "done", err
    assert set(seen) == {1}, seen
    assert sum(seen.values()) > 10  # the reader really ran alongside


SLOW_IMPORT = """
    import sys, time
    from pathlib import Path
    from bot.store import Store

    store = Store(sys.argv[1])
    marker = Path(sys.argv[2])

    def rows():
        for i in range(100000):
            if i == 5000:
                marker.touch()  # 5,000 rows are inside the transaction: stop here
                time.sleep(60)
            yield {"id": str(i), "username": "alice", "text": f"t{i}", "kind": "original"}

    store.insert_tweets(rows())
"""


def test_sigterm_in_the_middle_of_an_import_stores_nothing(tmp_path: Path) -> None:
    db = tmp_path / "tweetbot.db"
    Store(db).close()
    marker = tmp_path / "halfway"
    proc = _python(SLOW_IMPORT, str(db), str(marker))
    _wait_for(marker, proc)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGTERM
    store = Store(db)
    assert store.tweet_count() == 0
    assert store.insert_tweets([{"id": "1", "username": "a", "text": "t", "kind": "original"}]) == 1
