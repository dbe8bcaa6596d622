"""X archive import: the sample archive, every accepted layout, and every malformed input."""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest

from bot.config import config_from_mapping
from bot.corpus import ArchiveError, ArchiveLimits, data_table, import_archive
from bot.corpus.archive import ImportSummary, archive_rows, parse_created_at
from bot.corpus.archive_files import open_archive
from bot.store import Store
from tests.fixtures_corpus import sample_script

SAMPLE = sample_script()
CONFIG = config_from_mapping({"source": {"usernames": ["skerryhorn"]}})
# Columns that describe the tweet itself (fetched_at and source say when and how it came).
TWEET_COLUMNS = (
    "id", "username", "author_id", "text", "created_at", "kind",
    "in_reply_to_id", "in_reply_to_user_id",
)  # fmt: skip


def _rows(store: Store) -> list[dict[str, Any]]:
    return [{k: row[k] for k in TWEET_COLUMNS} for row in store.tweets()]


def _store(tmp_path: Path, name: str = "tweetbot.db") -> Store:
    return Store(tmp_path / name)


def _small_tweets(count: int = 60) -> list[dict[str, Any]]:
    return SAMPLE.sample_tweets(count, seed=11)


def _zip(tmp_path: Path, members: dict[str, str | bytes], name: str = "archive.zip") -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return path


# ---- the sample archive --------------------------------------------------------------------


def test_sample_archive_is_deterministic_and_realistic(
    sample_archive: Path, tmp_path: Path
) -> None:
    again = SAMPLE.build_archive(tmp_path / "again.zip")
    assert again.read_bytes() == sample_archive.read_bytes()
    tweets = SAMPLE.sample_tweets()
    texts = [t["full_text"] for t in tweets]
    n = len(tweets)
    assert n >= 2000
    retweets = sum(t.startswith("RT @") for t in texts)
    assert 0.20 * n < retweets < 0.30 * n
    replies = sum(bool(t.get("in_reply_to_status_id_str")) for t in tweets)
    assert 0.10 * n < replies < 0.20 * n
    assert sum(len(t.split()) < 3 and not any(c in t for c in "@#h") for t in texts) > 0.04 * n
    assert sum(bool(t["entities"]["urls"]) for t in tweets) > 0.04 * n
    assert sum(bool(t["entities"]["hashtags"]) for t in tweets) > 0.05 * n
    assert sum("&amp;" in t or "&lt;" in t or "&gt;" in t for t in texts) > 0.01 * n
    assert sum(any(ord(c) > 0x1F000 for c in t) for t in texts) > 0.05 * n  # emoji
    assert sum(any(0x0400 <= ord(c) <= 0x04FF or 0x3040 <= ord(c) <= 0x9FFF for c in t)
               for t in texts) > 0.01 * n  # fmt: skip
    # The voice: recurring phrases a small model can pick up.
    assert sum("Lamp lit" in t or "Gertrude" in t or "Tide log" in t for t in texts) > 0.1 * n


def test_import_sample_archive(sample_archive: Path, tmp_path: Path) -> None:
    store = _store(tmp_path)
    summary = import_archive(store, sample_archive, config=CONFIG)
    assert (summary.username, summary.found, summary.new) == ("skerryhorn", 2400, 2400)
    rows = store.tweets()
    assert len(rows) == 2400
    assert {r["author_id"] for r in rows} == {SAMPLE.ACCOUNT_ID}
    assert {r["source"] for r in rows} == {"archive"}
    kinds = {r["kind"] for r in rows}
    assert kinds == {"original", "retweet", "reply"}
    # t.co links are expanded from the entities.
    assert not any("https://t.co/" in r["text"] for r in rows)
    assert any("https://skerryhorn.example/log/" in r["text"] for r in rows)
    first = SAMPLE.sample_tweets(1)[0]
    stored = store.tweets()[0]
    assert stored["id"] == first["id_str"]
    assert stored["created_at"] == parse_created_at(first["created_at"]).isoformat()
    # Verdicts were stored with the import.
    assert all(r["kept"] in (0, 1) for r in rows)
    assert sum(r["kept"] for r in rows) == data_table(store, CONFIG).total.kept
    assert all((r["drop_reason"] is None) == bool(r["kept"]) for r in rows)


def test_reimport_is_a_no_op(sample_archive: Path, tmp_path: Path) -> None:
    store = _store(tmp_path)
    import_archive(store, sample_archive, config=CONFIG)
    before = store.tweets()
    table = data_table(store, CONFIG).to_dict()
    again = import_archive(store, sample_archive, config=CONFIG)
    assert (again.found, again.new) == (2400, 0)
    assert store.tweets() == before
    assert data_table(store, CONFIG).to_dict() == table


def test_created_at_parsing() -> None:
    moment = parse_created_at("Wed Oct 10 20:19:24 +0000 2018")
    assert moment.isoformat() == "2018-10-10T20:19:24+00:00"
    assert parse_created_at("Wed Oct 10 20:19:24 +0200 2018").hour == 18
    with pytest.raises(ValueError):
        parse_created_at("2018-10-10 20:19:24")


# ---- accepted layouts ----------------------------------------------------------------------


def test_folder_single_file_parts_and_legacy_names_give_the_same_rows(tmp_path: Path) -> None:
    tweets = _small_tweets()
    reference = _store(tmp_path, "ref.db")
    import_archive(reference, SAMPLE.write_zip(tmp_path / "a.zip", SAMPLE.archive_members(tweets)))
    expected = _rows(reference)
    assert len(expected) == 60

    folder = tmp_path / "extracted"
    for member, text in SAMPLE.archive_members(tweets).items():
        (folder / member).parent.mkdir(parents=True, exist_ok=True)
        (folder / member).write_text(text, encoding="utf-8")
    layouts = {
        "folder": folder,
        "data folder": folder / "data",
        "parts": SAMPLE.write_zip(tmp_path / "p.zip", SAMPLE.archive_members(tweets, parts=3)),
        "legacy": SAMPLE.write_zip(tmp_path / "l.zip", SAMPLE.archive_members(tweets, legacy=True)),
        "nested": _zip(
            tmp_path,
            {f"twitter-2024/{m}": t for m, t in SAMPLE.archive_members(tweets).items()},
            "nested.zip",
        ),
    }
    for label, path in layouts.items():
        store = _store(tmp_path, f"{label}.db")
        summary = import_archive(store, path)
        assert summary.username == "skerryhorn", label
        assert _rows(store) == expected, label
    parts = SAMPLE.archive_members(tweets, parts=3)
    assert {"data/tweets.js", "data/tweets-part1.js", "data/tweets-part2.js"} <= set(parts)
    assert (
        "window.YTD.tweet.part0 = [" in SAMPLE.archive_members(tweets, legacy=True)["data/tweet.js"]
    )


def test_single_tweets_js_needs_a_username(tmp_path: Path) -> None:
    tweets = _small_tweets(10)
    js = tmp_path / "tweets.js"
    js.write_text(SAMPLE.ytd_js("tweets", 0, [{"tweet": t} for t in tweets]), encoding="utf-8")
    store = _store(tmp_path)
    with pytest.raises(ArchiveError, match=r"tweets\.js: has no data/account\.js.*--username"):
        import_archive(store, js)
    assert store.tweets() == []
    # The one configured source is the default ...
    assert import_archive(store, js, config=CONFIG).username == "skerryhorn"
    # ... and an explicit --username wins.
    other = _store(tmp_path, "other.db")
    assert import_archive(other, js, username="@Keeper_2").username == "Keeper_2"
    assert {r["username"] for r in other.tweets()} == {"Keeper_2"}
    assert {r["author_id"] for r in other.tweets()} == {None}
    with pytest.raises(ArchiveError, match="not an X username"):
        import_archive(other, js, username="no spaces allowed")


def test_old_exports_without_the_tweet_wrapper(tmp_path: Path) -> None:
    tweets = _small_tweets(5)
    js = tmp_path / "tweet.js"
    js.write_text("window.YTD.tweet.part0 = " + json.dumps(tweets), encoding="utf-8")
    store = _store(tmp_path)
    assert import_archive(store, js, username="keeper").new == 5


def test_retweet_detection_by_field_and_prefix(tmp_path: Path) -> None:
    base = {"created_at": "Wed Oct 10 20:19:24 +0000 2018", "entities": {}}
    entries = [
        {"tweet": {**base, "id_str": "1", "full_text": "RT @bob: a manual retweet of it"}},
        {"tweet": {**base, "id_str": "2", "full_text": "looks original but is not",
                   "retweeted_status": {"id_str": "77"}}},
        {"tweet": {**base, "id_str": "3", "full_text": "a quote of something",
                   "quoted_status_id_str": "88"}},
        {"tweet": {**base, "id_str": "4", "full_text": "@bob a reply to bob",
                   "in_reply_to_status_id_str": "99", "in_reply_to_user_id_str": "5"}},
    ]  # fmt: skip
    js = tmp_path / "tweets.js"
    js.write_text(SAMPLE.ytd_js("tweets", 0, entries), encoding="utf-8")
    store = _store(tmp_path)
    import_archive(store, js, username="alice")
    got = {r["id"]: (r["kind"], r["referenced_id"], r["in_reply_to_id"]) for r in store.tweets()}
    assert got == {
        "1": ("retweet", None, None),
        "2": ("retweet", "77", None),
        "3": ("quote", "88", None),
        "4": ("reply", "99", "99"),
    }


# ---- malformed input: one clear error naming the file, and nothing stored -------------------


def _ytd(entries: list[Any]) -> str:
    return SAMPLE.ytd_js("tweets", 0, entries)


def _valid_js(count: int = 5) -> str:
    return _ytd([{"tweet": t} for t in _small_tweets(count)])


def _malformed_cases(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """label -> (path to import, regex the error must match)."""
    good = _valid_js(20)
    cases: dict[str, tuple[str | bytes, str]] = {
        "not json": ("window.YTD.tweets.part0 = [ {,} ]", r"line 1, column \d+"),
        "bad json deep": (
            good.replace('"full_text"', "full_text", 1),
            r"malformed at line \d+, column \d+",
        ),
        "truncated": (good[: len(good) // 2], r"truncated: the data ends at line \d+"),
        "not an archive": ("console.log('hello')", r"not an X archive data file"),
        "html": ("<!doctype html><p>Your archive</p>", r"not an X archive data file"),
        "empty file": ("", r"not an X archive data file"),
        "not utf-8": (
            good.encode()[:200] + b"\xff\xfe" + good.encode()[200:],
            r"not UTF-8 text \(bad byte at offset 200\)",
        ),
        "object not list": ("window.YTD.tweets.part0 = {}", r"expected a list of entries"),
        "missing text": (
            _ytd([{"tweet": {"id_str": "5", "created_at": "Wed Oct 10 20:19:24 +0000 2018"}}]),
            r"entry 1: tweet 5 has no full_text",
        ),
        "missing id": (_ytd([{"tweet": {"full_text": "x"}}]), r"entry 1: no numeric id_str"),
        "bad date": (
            _ytd([{"tweet": {"id_str": "5", "full_text": "x", "created_at": "yesterday"}}]),
            r"entry 1: tweet 5: unrecognized time 'yesterday'",
        ),
        "entry not object": (_ytd([1, 2]), r"entry 1: an entry is not a tweet object"),
    }
    paths = {}
    for number, (label, (content, pattern)) in enumerate(cases.items()):
        path = tmp_path / f"case{number}" / "tweets.js"
        path.parent.mkdir()
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        paths[label] = (path, pattern)
    return paths


def test_malformed_tweets_js_files(tmp_path: Path) -> None:
    cases = _malformed_cases(tmp_path)
    store = _store(tmp_path)
    for label, (path, pattern) in cases.items():
        with pytest.raises(ArchiveError) as failed:
            import_archive(store, path, username="keeper")
        message = str(failed.value)
        assert message.startswith(str(path)), label
        assert "\n" not in message, label
        assert failed.value.exit_code == 2
        assert re.search(pattern, message), (label, message)
    assert store.tweets() == []


def test_a_bad_later_part_imports_nothing(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.insert_tweets(
        [{"id": "1", "username": "keeper", "text": "already here", "kind": "original"}]
    )
    members = SAMPLE.archive_members(_small_tweets(30), parts=3)
    members["data/tweets-part2.js"] = members["data/tweets-part2.js"][:-40]
    path = _zip(tmp_path, members)  # type: ignore[arg-type]
    with pytest.raises(ArchiveError, match=r"archive\.zip:data/tweets-part2\.js: truncated"):
        import_archive(store, path)
    assert [r["id"] for r in store.tweets()] == ["1"]


def test_zip_problems(tmp_path: Path) -> None:
    good = SAMPLE.write_zip(tmp_path / "good.zip", SAMPLE.archive_members(_small_tweets(30)))
    data = good.read_bytes()
    (tmp_path / "cut.zip").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.zip").write_text("I am not a zip")
    # Garble the deflated tweets.js inside an otherwise intact zip: CRC or inflate error.
    garbled = bytearray(data)
    start = data.index(b"data/tweets.js") + len("data/tweets.js") + 200
    garbled[start : start + 50] = bytes(50)
    (tmp_path / "garbled.zip").write_bytes(bytes(garbled))
    _zip(
        tmp_path,
        {"photos/cat.jpg": b"\xff\xd8", "data/deleted-tweets.js": _valid_js()},
        "other.zip",
    )
    expected = {
        "cut.zip": r"cut\.zip: not a readable zip file",
        "text.zip": r"text\.zip: not a readable zip file",
        "garbled.zip": r"garbled\.zip:data/tweets\.js: corrupt or truncated zip member",
        "other.zip": r"other\.zip: no data/tweets\.js in this zip; is it an X archive",
    }
    store = _store(tmp_path)
    for name, pattern in expected.items():
        with pytest.raises(ArchiveError, match=pattern):
            import_archive(store, tmp_path / name, username="keeper")
    assert store.tweets() == []


def test_missing_paths_and_empty_folders(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with pytest.raises(ArchiveError, match=r"nope\.zip: no such file or folder"):
        import_archive(store, tmp_path / "nope.zip")
    (tmp_path / "empty" / "data").mkdir(parents=True)
    with pytest.raises(ArchiveError, match=r"empty: no tweets\.js here .*extracted X archive"):
        import_archive(store, tmp_path / "empty")


def test_malformed_account_js(tmp_path: Path) -> None:
    members = SAMPLE.archive_members(_small_tweets(5))
    members["data/account.js"] = 'window.YTD.account.part0 = [{"account": {}}]'
    with pytest.raises(ArchiveError, match=r"archive\.zip:data/account\.js: no account username"):
        import_archive(_store(tmp_path), _zip(tmp_path, members))  # type: ignore[arg-type]


def test_zip_bomb_is_refused_before_inflating(tmp_path: Path) -> None:
    # 64 MiB of one repeated tweet compresses about 1000:1, far beyond any real archive.
    entry = json.dumps({"tweet": SAMPLE.sample_tweets(1)[0]})
    body = "window.YTD.tweets.part0 = [" + ",".join([entry] * (64 * 2**20 // len(entry))) + "]"
    path = _zip(tmp_path, {"data/tweets.js": body}, "bomb.zip")
    assert path.stat().st_size < 2**20
    store = _store(tmp_path)
    with pytest.raises(ArchiveError, match=r"bomb\.zip:data/tweets\.js: compressed \d+:1"):
        import_archive(store, path, username="keeper")
    assert store.tweets() == []


def test_size_limits(tmp_path: Path) -> None:
    tiny = ArchiveLimits(max_file_bytes=4096, max_total_bytes=8192)
    zipped = SAMPLE.write_zip(
        tmp_path / "a.zip", SAMPLE.archive_members(_small_tweets(30), parts=3)
    )
    store = _store(tmp_path)
    with pytest.raises(ArchiveError, match=r"a\.zip:data/tweets\.js: .* over the 4096 bytes limit"):
        import_archive(store, zipped, limits=tiny)
    js = tmp_path / "tweets.js"
    js.write_text(_valid_js(30), encoding="utf-8")
    with pytest.raises(ArchiveError, match=r"tweets\.js: \d+ bytes, over the 4096 bytes limit"):
        import_archive(store, js, username="keeper", limits=tiny)
    roomy = ArchiveLimits(max_file_bytes=2**30, max_total_bytes=4096)
    with pytest.raises(ArchiveError, match=r"a\.zip: data files are .* over the 4096 bytes limit"):
        import_archive(store, zipped, limits=roomy)
    assert store.tweets() == []


def test_a_member_that_inflates_past_its_declared_size_is_refused(tmp_path: Path) -> None:
    path = SAMPLE.write_zip(tmp_path / "lies.zip", SAMPLE.archive_members(_small_tweets(30)))
    data = bytearray(path.read_bytes())
    # Shrink the uncompressed size recorded in the central directory entry for data/tweets.js.
    name = b"data/tweets.js"
    central = data.index(b"PK\x01\x02", data.rindex(b"PK\x03\x04"))
    entry = data.index(name, central) - 46
    assert data[entry : entry + 4] == b"PK\x01\x02"
    data[entry + 24 : entry + 28] = (1000).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    store = _store(tmp_path)
    with pytest.raises(ArchiveError, match=r"lies\.zip:data/tweets\.js: "):
        import_archive(store, path)
    assert store.tweets() == []


def test_zip_slip_names_are_read_in_memory_never_extracted(tmp_path: Path) -> None:
    inside = tmp_path / "inside"
    inside.mkdir()
    members = {
        "../../data/tweets.js": _valid_js(5),
        "/etc/data/account.js": SAMPLE.account_js("slipper", "42"),
    }
    path = _zip(inside, members, "slip.zip")
    before = sorted(p for p in tmp_path.rglob("*"))
    store = _store(inside)
    summary = import_archive(store, path)
    assert (summary.username, summary.new) == ("slipper", 5)
    after = sorted(p for p in tmp_path.rglob("*") if not p.name.startswith("tweetbot.db"))
    assert after == before


def test_folder_total_size_limit(tmp_path: Path) -> None:
    folder = tmp_path / "extracted"
    for member, text in SAMPLE.archive_members(_small_tweets(30), parts=3).items():
        (folder / member).parent.mkdir(parents=True, exist_ok=True)
        (folder / member).write_text(text, encoding="utf-8")
    store = _store(tmp_path)
    with pytest.raises(ArchiveError, match=r"extracted: data files are .* over the 4096 bytes"):
        import_archive(store, folder, limits=ArchiveLimits(max_total_bytes=4096))
    assert store.tweets() == []


def test_sample_script_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "small.zip"
    assert SAMPLE.main([str(out), "--count", "40", "--parts", "2", "--seed", "3"]) == 0
    assert "wrote" in capsys.readouterr().out
    with zipfile.ZipFile(out) as archive:
        assert {"data/tweets.js", "data/tweets-part1.js", "data/account.js"} <= set(
            archive.namelist()
        )
    store = _store(tmp_path)
    assert import_archive(store, out).found == 40
    with pytest.raises(SystemExit):
        SAMPLE.main([str(out), "--count", "0"])


# ---- bounded input: what is not a file, hostile sizes and shapes ---------------------------


def _refused(store: Store, path: Path, pattern: str, **kwargs: Any) -> str:
    with pytest.raises(ArchiveError) as failed:
        import_archive(store, path, **kwargs)
    message = str(failed.value)
    assert "\n" not in message
    assert failed.value.exit_code == 2
    assert re.search(pattern, message), message
    assert store.tweets() == []
    return message


def test_what_is_not_a_regular_file_is_refused_unread(tmp_path: Path) -> None:
    store = _store(tmp_path)
    fifo = tmp_path / "tweets.js"
    os.mkfifo(fifo)  # no writer: reading it would hang forever
    _refused(store, fifo, r"tweets\.js: is a FIFO, not a regular file", username="keeper")
    _refused(store, Path("/dev/zero"), r"/dev/zero: is a device, not a regular file",
             username="keeper")  # fmt: skip
    # Inside a folder: a directory or FIFO where data/tweets.js should be.
    for label, make in (("a directory", Path.mkdir), ("a FIFO", os.mkfifo)):
        folder = tmp_path / label.replace(" ", "_")
        (folder / "data").mkdir(parents=True)
        make(folder / "data" / "tweets.js")  # type: ignore[operator]
        _refused(store, folder, rf"data/tweets\.js: is {label}, not a regular file",
                 username="keeper")  # fmt: skip


def test_a_bomb_of_many_small_parts_is_refused_by_its_total_ratio(tmp_path: Path) -> None:
    members = {f"data/tweets-part{n}.js": " " * 60_000 for n in range(40)}
    path = _zip(tmp_path, members, "parts.zip")  # type: ignore[arg-type]
    assert path.stat().st_size < 200_000
    limits = ArchiveLimits(ratio_exempt_bytes=64 * 1024)
    _refused(_store(tmp_path), path, r"parts\.zip: data files compressed \d+:1 in total",
             username="keeper", limits=limits)  # fmt: skip


def test_deep_nesting_and_huge_entries_get_one_line(tmp_path: Path) -> None:
    store = _store(tmp_path)
    deep = tmp_path / "deep" / "tweets.js"
    deep.parent.mkdir()
    deep.write_text(
        "window.YTD.tweets.part0 = [" + _valid_js(1).split("[", 1)[1].rstrip().rstrip("]")
        + ", " + "[" * 100_000 + "]" * 100_000 + "]"
    )  # fmt: skip
    _refused(store, deep, r"deep/tweets\.js: entry 2 is nested too deeply", username="keeper")
    members = SAMPLE.archive_members(_small_tweets(5))
    members["data/account.js"] = "window.YTD.account.part0 = " + "[" * 100_000 + "]" * 100_000
    _refused(store, _zip(tmp_path, members), r"account\.js: entry 1 is nested too deeply")  # type: ignore[arg-type]
    huge = tmp_path / "huge" / "tweets.js"
    huge.parent.mkdir()
    huge.write_text(_ytd([{"tweet": {"id_str": "1", "full_text": "x" * 300_000}}]))
    _refused(store, huge, r"huge/tweets\.js: entry 1 is over 65536 bytes", username="keeper",
             limits=ArchiveLimits(max_entry_bytes=65_536))  # fmt: skip


def test_ids_must_be_ascii_digits(tmp_path: Path) -> None:
    tweets = _small_tweets(3)
    tweets[2] = {**tweets[2], "id_str": "²³¹", "id": "²³¹"}
    js = tmp_path / "tweets.js"
    js.write_text(_ytd([{"tweet": t} for t in tweets]), encoding="utf-8")
    _refused(_store(tmp_path), js, r"tweets\.js: entry 3: id '²³¹' is not a tweet id",
             username="keeper")  # fmt: skip


def test_trailing_data_after_the_list_is_malformed(tmp_path: Path) -> None:
    js = tmp_path / "tweets.js"
    js.write_text(_valid_js(3) + ";\n\nalert(1)\n", encoding="utf-8")
    _refused(_store(tmp_path), js, r"malformed at line \d+, column 1: extra data after the list",
             username="keeper")  # fmt: skip
    js.write_text(_valid_js(3) + " ;\n", encoding="utf-8")
    assert import_archive(_store(tmp_path, "ok.db"), js, username="keeper").new == 3


def test_rows_are_validated_as_they_stream_and_a_bad_one_stores_nothing(tmp_path: Path) -> None:
    tweets = [{"tweet": t} for t in _small_tweets(500)]
    tweets[449] = {"tweet": {**tweets[449]["tweet"], "created_at": "soon"}}
    path = _zip(tmp_path, {**SAMPLE.archive_members([]), "data/tweets.js": _ytd(tweets)})
    # The rows come one at a time: 449 good ones, then the error, never a list built first.
    with open_archive(path) as files:
        summary = ImportSummary(path=path, username="")
        rows = archive_rows(files, summary, None, None)
        got = [next(rows) for _ in range(449)]
        assert summary.found == 449 and len({r["id"] for r in got}) == 449
        with pytest.raises(ArchiveError, match=r"tweets\.js: entry 450: .*unrecognized time"):
            next(rows)
    store = _store(tmp_path)
    store.insert_tweets(
        [{"id": "1", "username": "keeper", "text": "already here", "kind": "original"}]
    )
    with pytest.raises(ArchiveError, match=r"entry 450"):
        import_archive(store, path)
    assert [r["id"] for r in store.tweets()] == ["1"]
