"""Bluesky and Mastodon sources: incremental fetch, the two archive imports, the data table."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from bot.config import Config, config_from_mapping
from bot.corpus import ArchiveError, data_table, fetch_sources, import_archive
from bot.platform import DryRunPlatform
from bot.store import Store
from scripts.fakes.bluesky import FakePds
from scripts.fakes.mastodon import FakeMastodon
from tests.networks_archives import (
    MASTO_HOST,
    bluesky_repo,
    boost,
    mastodon_export,
    note,
    post_record,
)

# Long enough to be kept by the default rules (3 words, no link).
WORDS = "the quiet river keeps its own counsel"


def _config(fake_pds: FakePds | None = None, *sources: str, **rules: object) -> Config:
    raw: dict[str, object] = {"source": {"usernames": list(sources), **rules}}
    if fake_pds is not None:
        raw["bluesky"] = {"service_url": fake_pds.base_url, "timeout": "2s"}
    return config_from_mapping(raw)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "tweetbot.db")


@pytest.fixture(autouse=True)
def _no_network_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BLUESKY_APP_PASSWORD", raising=False)


def _nowhere() -> DryRunPlatform:
    return DryRunPlatform(None, None, "bot")


def test_fetch_reads_both_networks_incrementally_and_drops_reposts(
    store: Store, fake_pds: FakePds, fake_mastodon: FakeMastodon
) -> None:
    other = fake_pds.add_post("zed.test", "someone else entirely here")
    fake_pds.add_post("carol.test", f"{WORDS} one")
    fake_pds.add_repost("carol.test", other)
    first = fake_mastodon.add_status(
        "dana", f"{WORDS} & two", content_html=f"<p>{WORDS} &amp; two</p>"
    )
    fake_mastodon.add_status("dana", "", reblog_of=first)
    fake_mastodon.add_status("dana", f"{WORDS} reply", reply_to=first)
    masto = f"mastodon:dana@{fake_mastodon.domain}"
    config = _config(fake_pds, "bluesky:carol.test", masto, drop_replies=True)

    summary = fetch_sources(store, _nowhere(), config)
    assert summary.new_by_source() == {"bluesky:carol.test": 2, masto: 3}
    rows = {r["text"]: r for r in store.tweets()}
    assert rows[f"{WORDS} & two"]["kept"] == 1
    assert rows["someone else entirely here"]["kind"] == "retweet"
    assert rows["someone else entirely here"]["drop_reason"] == "retweet"
    assert rows[f"{WORDS} reply"]["drop_reason"] == "reply"

    fake_pds.add_post("carol.test", f"{WORDS} three")
    fake_mastodon.add_status("dana", f"{WORDS} four")
    again = fetch_sources(store, _nowhere(), config)
    assert again.new_by_source() == {"bluesky:carol.test": 1, masto: 1}
    # Incremental: the second run asked only for what is newer.
    assert [s.seen for s in again.sources] == [1, 1]
    table = data_table(store, config).to_dict()
    assert table["sources"][masto]["retweets"] == 1
    assert table["sources"]["bluesky:carol.test"]["kept"] == 2


def test_a_failing_page_keeps_the_marker_so_nothing_is_skipped(
    store: Store, fake_mastodon: FakeMastodon
) -> None:
    for n in range(45):  # two pages of 40
        fake_mastodon.add_status("dana", f"{WORDS} {n}")
    masto = f"mastodon:dana@{fake_mastodon.domain}"
    config = _config(None, masto)
    fake_mastodon.fail_next("server_error", path="statuses", times=1)
    from bot.platform.base import Unavailable

    with pytest.raises(Unavailable):
        fetch_sources(store, _nowhere(), config)
    assert store.get_state(f"since:{masto.lower()}") is None
    summary = fetch_sources(store, _nowhere(), config)
    assert summary.new == 45


def test_a_mastodon_export_imports_notes_as_text_and_boosts_as_retweets(
    store: Store, tmp_path: Path
) -> None:
    archive = mastodon_export(
        tmp_path / "archive.zip",
        [
            note(1, f"<p>{WORDS}<br>second line &lt;3</p>"),
            note(2, f"<p>{WORDS} again</p>", reply_to=f"https://{MASTO_HOST}/users/x/statuses/9"),
            boost(3, "https://elsewhere.example/users/y/statuses/4"),
            {"type": "Like", "object": "https://elsewhere.example/x"},
        ],
    )
    config = _config(None)
    summary = import_archive(store, archive, config=config)
    assert (summary.username, summary.found, summary.new) == (f"mastodon:dana@{MASTO_HOST}", 3, 3)
    rows = {r["id"]: r for r in store.tweets()}
    first = rows[f"https://{MASTO_HOST}/users/dana/statuses/1"]
    assert first["text"] == f"{WORDS}\nsecond line <3" and first["kind"] == "original"
    assert rows[f"https://{MASTO_HOST}/users/dana/statuses/2"]["kind"] == "reply"
    assert sum(r["drop_reason"] == "retweet" for r in rows.values()) == 1
    # Importing again adds nothing.
    assert import_archive(store, archive, config=config).new == 0


def test_a_bad_mastodon_export_is_a_clear_error_and_stores_nothing(
    store: Store, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("outbox.json", '{"orderedItems": [')
    with pytest.raises(ArchiveError, match=r"outbox\.json: not valid JSON") as caught:
        import_archive(store, broken)
    assert caught.value.exit_code == 2
    bad_item = mastodon_export(tmp_path / "bad.zip", [note(1, "fine words here"), "junk"])
    with pytest.raises(ArchiveError, match="item 2"):
        import_archive(store, bad_item)
    nameless = mastodon_export(tmp_path / "nameless.zip", [note(1, WORDS)], actor=False)
    with pytest.raises(ArchiveError, match="--username"):
        import_archive(store, nameless)
    assert store.tweets() == []


def test_a_bluesky_repo_car_imports_its_posts(store: Store, tmp_path: Path) -> None:
    did = "did:plc:erinrepo"
    car = bluesky_repo(
        tmp_path / "repo.car",
        did,
        {
            "app.bsky.feed.post/3kaaaaaaaaaa2": post_record(f"{WORDS} first"),
            "app.bsky.feed.post/3kaaaaaaaaab2": post_record(
                f"{WORDS} reply", reply_to="at://did:plc:other/app.bsky.feed.post/3kzzzzzzzzzz2"
            ),
            "app.bsky.feed.like/3kaaaaaaaaac2": {
                "$type": "app.bsky.feed.like",
                "subject": {"uri": "at://x", "cid": "y"},
                "createdAt": "2025-04-01T12:00:00.000Z",
            },
            "app.bsky.actor.profile/self": {"$type": "app.bsky.actor.profile"},
        },
    )
    config = _config(None, "bluesky:erin.test")
    summary = import_archive(store, car, config=config)
    assert (summary.username, summary.found, summary.new) == ("bluesky:erin.test", 2, 2)
    rows = {r["id"]: r for r in store.tweets()}
    first = rows[f"at://{did}/app.bsky.feed.post/3kaaaaaaaaaa2"]
    assert first["text"] == f"{WORDS} first" and first["kept"] == 1
    assert rows[f"at://{did}/app.bsky.feed.post/3kaaaaaaaaab2"]["kind"] == "reply"
    table = data_table(store, config).to_dict()
    assert table["sources"]["bluesky:erin.test"]["downloaded"] == 2


def test_a_file_that_is_not_a_car_is_a_clear_error(store: Store, tmp_path: Path) -> None:
    fake = tmp_path / "repo.car"
    fake.write_bytes(b"not a car at all")
    with pytest.raises(ArchiveError, match="not a readable CAR file"):
        import_archive(store, fake)
    assert store.tweets() == []
