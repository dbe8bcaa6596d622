"""NetworkDaemons: one daemon per network behind one scheduler interface (fakes in memory)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.daemon.jobs import Daemon
from bot.daemon.networks import NetworkDaemons
from bot.platform.base import RateLimited
from bot.store import Store
from tests.daemon_fakes import FakeComposer, FakeGenerator, FakePlatform, make_config


def _rig(tmp_path: Path) -> tuple[NetworkDaemons, dict[str, FakePlatform], Store]:
    config = make_config(tmp_path, limits={"posts_per_day": 2})
    store = Store(config.db_path)
    platforms = {"x": FakePlatform(), "bluesky": FakePlatform()}
    daemons = []
    for network, platform in platforms.items():
        store.set_mentions_baseline(None, network)
        daemons.append(
            Daemon(config, store, platform, FakeComposer(), FakeGenerator(), network=network)
        )
    return NetworkDaemons(daemons), platforms, store


def test_a_scheduled_post_is_one_outbox_row_per_network(tmp_path: Path) -> None:
    both, platforms, store = _rig(tmp_path)
    result = both.post_once()
    assert result.detail == "x: posted; bluesky: posted"
    assert sorted(r.network for r in store.posts()) == ["bluesky", "x"]
    assert all(len(p.posted) == 1 for p in platforms.values())


def test_caps_count_per_network(tmp_path: Path) -> None:
    both, platforms, _store = _rig(tmp_path)
    platforms["bluesky"].fail_next("post", RateLimited("429"))
    for _ in range(3):
        both.post_once()
    # X reached its own cap of 2; Bluesky's 429 paused only Bluesky (no post there yet).
    assert len(platforms["x"].posted) == 2
    assert platforms["bluesky"].posted == []
    assert "bluesky: paused until" in both.post_once().detail


def test_a_reply_goes_out_on_the_network_of_its_mention(tmp_path: Path) -> None:
    both, platforms, store = _rig(tmp_path)
    platforms["bluesky"].mention(7001, "carol")
    both.reply_to_mentions()
    assert [p["in_reply_to"] for p in platforms["bluesky"].posted] == ["7001"]
    assert platforms["x"].posted == []
    [row] = store.posts()
    assert (row.network, row.kind, row.mention_id) == ("bluesky", "reply", "7001")


def test_status_shows_each_network(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    both, _platforms, store = _rig(tmp_path)
    both.post_once()
    store.close()
    capsys.readouterr()  # the jobs' own log lines
    config = tmp_path / "config.toml"
    config.write_text(
        '[bot]\nname = "unit"\ndry_run = false\nnetworks = ["x", "bluesky"]\n'
        "[limits]\nposts_per_day = 2\n",
        encoding="utf-8",
    )
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(config), "status", "--json"])
    assert exited.value.code in (0, None)
    report = json.loads(capsys.readouterr().out)
    assert {n: b["today"] for n, b in report["networks"].items()} == {"x": 1, "bluesky": 1}
    with pytest.raises(SystemExit):
        main(["--config", str(config), "status"])
    out = capsys.readouterr().out
    assert "x:" in out and "bluesky:" in out and "1/2 today" in out
