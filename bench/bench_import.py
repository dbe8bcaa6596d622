"""Import figures: peak memory and time of `import` on a large generated tweets.js.

    python bench/bench_import.py [--mb 200] [--parsers]

Writes a tweets.js of about `--mb` MB (pretty-printed like X's own, with entities, replies and
retweets) into a temp folder, then runs the real import (`bot.corpus.import_archive` into a
fresh SQLite file) in a child process and prints its peak RSS (ru_maxrss) and wall time. With
`--parsers` it also times parsing alone with the streaming reader, ijson's `items()` and one
`json.loads` of the whole file, each in its own child, for comparison. Nothing here is asserted:
the issue's bound is 600 MB RSS for a 200 MB file.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_EPOCH_MS = 1288834974657  # X's snowflake epoch (2010-11-04)
_WORDS = ("lamp", "tide", "fog", "gull", "bread", "starter", "rock", "sea", "light", "keeper")


def _tweet(number: int, rng: random.Random) -> dict[str, object]:
    moment_ms = 1_600_000_000_000 + number * 60_000
    tweet_id = str(((moment_ms - _EPOCH_MS) << 22) + number % 4096)
    words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 40)))
    text = ("RT @friend: " if number % 5 == 0 else "") + words + " https://t.co/abcdefghij"
    stamp = time.strftime("%a %b %d %H:%M:%S +0000 %Y", time.gmtime(moment_ms / 1000))
    tweet: dict[str, object] = {
        "edit_info": {
            "initial": {
                "editTweetIds": [tweet_id],
                "editableUntil": "2020-09-13T12:26:40.000Z",
                "editsRemaining": "5",
                "isEditEligible": True,
            }
        },
        "retweeted": False,
        "source": '<a href="https://mobile.twitter.com" rel="nofollow">Twitter Web App</a>',
        "entities": {
            "hashtags": [],
            "symbols": [],
            "user_mentions": [],
            "urls": [
                {
                    "url": "https://t.co/abcdefghij",
                    "expanded_url": "https://example.org/x",
                    "display_url": "example.org/x",
                    "indices": ["0", "23"],
                }
            ],
        },
        "display_text_range": ["0", str(len(text))],
        "favorite_count": str(rng.randint(0, 50)),
        "id_str": tweet_id,
        "truncated": False,
        "retweet_count": "0",
        "id": tweet_id,
        "created_at": stamp,
        "favorited": False,
        "full_text": text,
        "lang": "en",
    }
    if number % 7 == 0:
        tweet["in_reply_to_status_id_str"] = str(int(tweet_id) - 1000)
        tweet["in_reply_to_user_id_str"] = "12345"
    return {"tweet": tweet}


def write_tweets_js(path: Path, megabytes: int, seed: int = 1) -> int:
    """Write a tweets.js of about `megabytes` MB; returns the number of tweets."""
    rng = random.Random(seed)
    target = megabytes * 1_000_000
    written = count = 0
    with path.open("w", encoding="utf-8") as out:
        out.write("window.YTD.tweets.part0 = [ ")
        while written < target:
            chunk = json.dumps(_tweet(count, rng), indent=2)
            out.write((", " if count else "") + chunk)
            written += len(chunk) + 2
            count += 1
        out.write(" ]")
    return count


_IMPORT = """
import resource, sys, time
from pathlib import Path
from bot.corpus import import_archive
from bot.store import Store
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
summary = import_archive(Store(Path(sys.argv[2])), Path(sys.argv[1]), username="bench")
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{summary.new} {seconds:.1f} {peak:.0f} {base:.0f}")
"""

_PARSE = {
    "stream (bot.corpus.jsstream)": """
from bot.corpus.jsstream import DataStream
with open(sys.argv[1], "rb") as f:
    n = sum(1 for _ in DataStream(f, "tweets.js").entries())
""",
    "ijson.items (yajl2_c)": """
import ijson
with open(sys.argv[1], "rb") as f:
    f.read(len("window.YTD.tweets.part0 = "))
    n = sum(1 for _ in ijson.items(f, "item"))
""",
    "json.loads whole file": """
import json
text = open(sys.argv[1], encoding="utf-8").read()
n = len(json.loads(text[text.index("=") + 1 :]))
""",
}


def _child(code: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    return result.stdout.strip().splitlines()[-1]


def main(argv: list[str] | None = None) -> int:
    """Generate the file, run the import (and the parsers) in children, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="size of tweets.js in MB")
    parser.add_argument("--parsers", action="store_true", help="also compare JSON parsers")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        js = Path(tmp) / "tweets.js"
        count = write_tweets_js(js, args.mb)
        size = js.stat().st_size / 1e6
        print(f"tweets.js: {size:.0f} MB, {count} tweets")
        figures = _child(_IMPORT, str(js), str(Path(tmp) / "bench.db")).split()
        new, seconds, peak, base = figures
        ratio = float(peak) / size
        print(f"import: {new} tweets stored in {seconds} s, peak RSS {peak} MB ({ratio:.2f}x file;")
        print(f"        {base} MB of it after the imports, before reading)")
        if args.parsers:
            for label, body in _PARSE.items():
                code = (
                    "import resource, sys, time\nstart = time.perf_counter()\n" + body
                    + "\nprint(n, round(time.perf_counter() - start, 1), "
                    "round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))"
                )  # fmt: skip
                n, secs, rss = _child(code, str(js)).split()
                print(f"parse only, {label}: {n} entries in {secs} s, peak RSS {rss} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
