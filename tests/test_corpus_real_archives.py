"""The ten real X archives in ../shared/conformance/archives, in every shape a user passes.

Counts are checked against samples.json, an independent count made outside this project. The
zips are built in tmp_path from the real files at test time; no archive is copied into the repo.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from bot.config import config_from_mapping
from bot.corpus import ArchiveError, data_table, import_archive
from bot.corpus.rows import expand_urls
from bot.corpus.rules import is_retweet, is_short
from bot.store import Store

ARCHIVES = Path(__file__).resolve().parents[1].parent / "shared" / "conformance" / "archives"
SAMPLES: list[dict[str, Any]] = json.loads((ARCHIVES / "samples.json").read_text())
BY_NAME = {sample["name"]: sample for sample in SAMPLES}
# The one archive where our CJK word count deliberately differs from huggingtweets' split().
CJK = "ytd-tweet-2020-ja-e31415926"
SHAPES = ("folder", "zip", "nested-zip", "file")


def _folder(sample: dict[str, Any]) -> Path:
    return ARCHIVES / sample["name"] / sample["shapes"]["folder"]


def _zip_from(folder: Path, out: Path, top: str = "") -> Path:
    """A zip of an extracted archive: data/ at its root, or under `top` with macOS junk."""
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.rglob("*")):
            if not file.is_file():
                continue
            member = file.relative_to(folder).as_posix()
            archive.write(file, f"{top}/{member}" if top else member)
            if top:
                # Finder's resource forks: same names, "._" in front, binary junk inside.
                parent, _, name = member.rpartition("/")
                junk = f"__MACOSX/{top}/{parent + '/' if parent else ''}._{name}"
                archive.writestr(junk, b"\x00\x05\x16\x07junk" * 8)
    return out


def _shape(sample: dict[str, Any], shape: str, tmp_path: Path) -> Path:
    folder = _folder(sample)
    if shape == "folder":
        return folder
    if shape == "zip":
        return _zip_from(folder, tmp_path / "archive.zip")
    if shape == "nested-zip":
        return _zip_from(folder, tmp_path / "nested.zip", top="twitter-2024-01-01-abc")
    return ARCHIVES / sample["name"] / sample["shapes"]["file"]


CASES = [
    pytest.param(sample["name"], shape, id=f"{sample['name']}-{shape}")
    for sample in SAMPLES
    for shape in SHAPES
    if shape != "file" or "file" in sample["shapes"]
]


@pytest.mark.parametrize(("name", "shape"), CASES)
def test_real_archive_counts_match_the_independent_count(
    name: str, shape: str, tmp_path: Path
) -> None:
    sample = BY_NAME[name]
    config = config_from_mapping({"source": {"usernames": [sample["username"]]}})
    store = Store(tmp_path / "tweetbot.db")
    # A lone tweets.js has no account.js: the user names the account.
    username = sample["username"] if shape == "file" else None
    if not sample["has_account_js"] and sample["name"] != "grailbird-2013-alokt":
        username = sample["username"]
    summary = import_archive(store, _shape(sample, shape, tmp_path), username=username,
                             config=config)  # fmt: skip
    assert summary.username.lower() == sample["username"].lower()
    assert (summary.found, summary.new) == (sample["tweets"], sample["tweets"])
    table = data_table(store, config).total
    assert table.downloaded == sample["tweets"]
    assert table.dropped.get("retweet", 0) == sample["retweets"]
    rows = store.tweets()
    # huggingtweets' rule with its own split() word count gives the independent count exactly.
    plain = sum(
        1
        for row in rows
        if not is_retweet(row["text"], row["kind"])
        and is_short(row["text"], 3, unspaced_scripts=False)
    )
    assert plain == sample["counts"]["short_huggingtweets"]
    if name == CJK:
        # Our documented deviation keeps Japanese sentences that split() sees as one word.
        assert table.dropped.get("short", 0) < sample["counts"]["short_huggingtweets"] // 2
    else:
        assert table.dropped.get("short", 0) == sample["counts"]["short_huggingtweets"]
    assert table.kept == sum(row["kept"] for row in rows)


def _entries(path: Path) -> list[Any]:
    text = path.read_text(encoding="utf-8-sig")
    return json.loads(text[text.index("=") + 1 :].strip().rstrip(";"))


NOTE_ARCHIVES = [s["name"] for s in SAMPLES if (_folder(s) / "data" / "note-tweet.js").exists()]


@pytest.mark.parametrize("name", NOTE_ARCHIVES)
def test_long_posts_take_their_full_text_from_note_tweet_js(name: str, tmp_path: Path) -> None:
    folder = _folder(BY_NAME[name])
    notes = [
        # Stored text has t.co links expanded, the note's own links included.
        expand_urls(core["text"], tuple((u["shortUrl"], u["expandedUrl"]) for u in core["urls"]))
        for core in (e["noteTweet"]["core"] for e in _entries(folder / "data" / "note-tweet.js"))
    ]
    store = Store(tmp_path / "tweetbot.db")
    summary = import_archive(store, _zip_from(folder, tmp_path / "a.zip"))
    assert summary.long_posts == len(notes)
    texts = [row["text"] for row in store.tweets()]
    for note in notes:
        # Every note is now the text (or, for a reply, the text after its @handles) of a tweet.
        assert sum(text == note or text.endswith(" " + note) for text in texts) == 1
    cut = {e["tweet"]["id_str"] for e in _entries(folder / "data" / "tweets.js")}
    assert {row["id"] for row in store.tweets()} == cut


DELETED_ARCHIVES = [
    s["name"] for s in SAMPLES if (_folder(s) / "data" / "deleted-tweets.js").exists()
]


@pytest.mark.parametrize("name", DELETED_ARCHIVES)
def test_deleted_tweets_are_never_imported(name: str, tmp_path: Path) -> None:
    folder = _folder(BY_NAME[name])
    deleted = {e["tweet"]["id_str"] for e in _entries(folder / "data" / "deleted-tweets.js")}
    assert deleted
    # Even a tweets.js that still holds a deleted tweet does not bring it back.
    copy = tmp_path / "archive"
    (copy / "data").mkdir(parents=True)
    for file in (folder / "data").iterdir():
        (copy / "data" / file.name).write_bytes(file.read_bytes())
    tweets = _entries(folder / "data" / "tweets.js")
    again = _entries(folder / "data" / "deleted-tweets.js")[:1]
    (copy / "data" / "tweets.js").write_text(
        "window.YTD.tweets.part0 = " + json.dumps(tweets + again), encoding="utf-8"
    )
    store = Store(tmp_path / "tweetbot.db")
    summary = import_archive(store, copy)
    assert summary.deleted_skipped == 1
    stored = {row["id"] for row in store.tweets()}
    assert len(stored) == len(tweets)
    assert not stored & deleted


LONE_FILES = [
    ("ytd-tweets-2026-milahu104", "deleted-tweets.js", r"this is deleted-tweets\.js, the tweets"),
    ("ytd-tweets-2024-alrocar-notes", "note-tweet.js", r"this is note-tweet\.js, only the full"),
    ("ytd-tweets-2025-ranigupta-notes-deleted", "tweet-headers.js", r"this is tweet-headers\.js"),
    ("ytd-tweets-2025-alystyle", "account.js", r"this is X's 'account' data, not tweets"),
]


@pytest.mark.parametrize(("name", "file", "pattern"), LONE_FILES)
def test_other_archive_files_given_alone_are_refused_by_name(
    name: str, file: str, pattern: str, tmp_path: Path
) -> None:
    store = Store(tmp_path / "tweetbot.db")
    path = _folder(BY_NAME[name]) / "data" / file
    with pytest.raises(ArchiveError, match=pattern) as failed:
        import_archive(store, path, username="someone")
    assert "\n" not in str(failed.value)
    assert str(failed.value).startswith(str(path))
    # Renamed, the content still says what it is.
    renamed = tmp_path / "tweets.js"
    renamed.write_bytes(path.read_bytes())
    if file != "account.js":
        with pytest.raises(ArchiveError, match=pattern.replace("this is", "")):
            import_archive(store, renamed, username="someone")
    assert store.tweets() == []


def test_a_real_archive_split_in_parts_imports_the_same_rows(tmp_path: Path) -> None:
    sample = BY_NAME["ytd-tweets-2026-milahu104"]
    folder = _folder(sample)
    whole = Store(tmp_path / "whole.db")
    import_archive(whole, folder)
    entries = _entries(folder / "data" / "tweets.js")
    third = len(entries) // 3
    parts = [entries[:third], entries[third : 2 * third], entries[2 * third :]]
    split = tmp_path / "split.zip"
    with zipfile.ZipFile(split, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(folder / "data" / "account.js", "data/account.js")
        for number, part in enumerate(parts):
            name = "data/tweets.js" if number == 0 else f"data/tweets-part{number}.js"
            archive.writestr(name, f"window.YTD.tweets.part{number} = " + json.dumps(part))
    parted = Store(tmp_path / "parted.db")
    summary = import_archive(parted, split)
    assert len(summary.files) == 3
    columns = ("id", "username", "author_id", "text", "created_at", "kind", "in_reply_to_id")
    assert [{k: r[k] for k in columns} for r in parted.tweets()] == [
        {k: r[k] for k in columns} for r in whole.tweets()
    ]


def test_grailbird_retweets_and_account_come_from_its_own_files(tmp_path: Path) -> None:
    sample = BY_NAME["grailbird-2013-alokt"]
    store = Store(tmp_path / "tweetbot.db")
    summary = import_archive(store, _folder(sample))
    assert summary.username == sample["username"]
    details = json.loads(
        (_folder(sample) / "data" / "js" / "user_details.js").read_text().split("=", 1)[1]
    )
    assert {row["author_id"] for row in store.tweets()} == {details["id"]}
    native = sum(
        "retweeted_status" in t
        for f in sorted((_folder(sample) / "data" / "js" / "tweets").glob("*.js"))
        for t in _entries(f)
    )
    kinds = [row["kind"] for row in store.tweets()]
    assert native <= kinds.count("retweet") == sample["retweets"]
