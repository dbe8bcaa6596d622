"""`tweetbot fetch` and `tweetbot import` with Bluesky and Mastodon sources, through the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.store import Store
from scripts.fakes.bluesky import FakePds
from scripts.fakes.mastodon import FakeMastodon
from tests.networks_archives import mastodon_export, note

WORDS = "the quiet river keeps its own counsel"


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_fetch_of_network_sources_needs_no_x_credentials(
    workdir: Path,
    fake_pds: FakePds,
    fake_mastodon: FakeMastodon,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("TWITTER_BEARER_TOKEN", "TWITTER_CONSUMER_KEY", "BLUESKY_APP_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    fake_pds.add_post("carol.test", f"{WORDS} one")
    fake_mastodon.add_status("dana", f"{WORDS} two")
    masto = f"mastodon:dana@{fake_mastodon.domain}"
    (workdir / "config.toml").write_text(
        f'[source]\nusernames = ["bluesky:carol.test", "{masto}"]\n'
        f'[bluesky]\nservice_url = "{fake_pds.base_url}"\n',
        encoding="utf-8",
    )
    code, out, err = _run(capsys, "fetch")
    assert code == 0, err
    assert "fetched 2 new" in out
    assert {r["username"] for r in Store(workdir / "data" / "tweetbot.db").tweets()} == {
        "bluesky:carol.test",
        masto,
    }


def test_import_of_a_mastodon_export_and_a_bad_car(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "config.toml").write_text("[source]\nusernames = []\n", encoding="utf-8")
    archive = mastodon_export(workdir / "export.zip", [note(1, f"<p>{WORDS}</p>")])
    code, out, err = _run(capsys, "import", str(archive))
    assert code == 0, err
    assert "imported 1 new" in out and "mastodon:dana@social.example" in out
    bad = workdir / "repo.car"
    bad.write_bytes(b"\x00garbage")
    code, out, err = _run(capsys, "import", str(bad))
    assert code == 2
    [line] = [line for line in err.splitlines() if line.strip()]
    assert line.startswith("error: ") and "not a readable CAR file" in line
    assert "Traceback" not in err
    assert len(Store(workdir / "data" / "tweetbot.db").tweets()) == 1
