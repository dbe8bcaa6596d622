"""The corpus commands end to end: `import`, `corpus [--json]` and `fetch` through the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import load_config
from bot.corpus import data_table
from bot.store import Store
from tests.fakex import FakeX
from tests.fixtures_corpus import sample_script

REPO = Path(__file__).resolve().parent.parent
SAMPLE = sample_script()


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


def _config(workdir: Path, sources: str = '["skerryhorn"]', extra: str = "") -> Path:
    path = workdir / "config.toml"
    path.write_text(f"[source]\nusernames = {sources}\n{extra}", encoding="utf-8")
    return path


def test_import_then_corpus(
    workdir: Path, sample_archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(workdir)
    code, out, _ = _run(capsys, "--config", str(config), "import", str(sample_archive))
    assert code == 0
    assert out.strip() == (
        f"imported 2400 new tweets of @skerryhorn from {sample_archive} "
        "(2400 in the archive, 0 already stored)"
    )
    code, out, _ = _run(capsys, "--config", str(config), "import", str(sample_archive))
    assert (code, "imported 0 new tweets" in out) == (0, True)

    table = data_table(Store(load_config(config).db_path), load_config(config))
    code, out, _ = _run(capsys, "--config", str(config), "corpus")
    assert code == 0
    assert out.strip() == table.markdown()
    assert out.startswith("@skerryhorn\n\n| Data | Quantity |\n| --- | --- |\n")
    assert "| Tweets downloaded | 2400 |" in out
    code, out, _ = _run(capsys, "--config", str(config), "corpus", "--json")
    assert json.loads(out) == table.to_dict()
    assert json.loads(out)["total"]["downloaded"] == 2400


def test_import_of_another_account_says_it_is_not_a_source(
    workdir: Path, sample_archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(workdir, '["someone_else"]')
    code, _, err = _run(capsys, "--config", str(config), "import", str(sample_archive))
    assert code == 0
    assert "@skerryhorn is not in [source] usernames" in err


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"PK\x03\x04 broken zip", "not a readable zip file"),
        (b"window.YTD.tweets.part0 = [ {", "truncated"),
        (b"hello", "not an X archive data file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_and_stores_nothing(
    workdir: Path, capsys: pytest.CaptureFixture[str], content: bytes, pattern: str
) -> None:
    config = _config(workdir)
    bad = workdir / ("bad.zip" if content.startswith(b"PK") else "tweets.js")
    bad.write_bytes(content)
    code, out, err = _run(capsys, "--config", str(config), "import", str(bad))
    assert code == 2
    assert out == ""
    (line,) = _errors(err)
    assert str(bad) in line and pattern in line
    assert "Traceback" not in err
    assert Store(load_config(config).db_path).tweets() == []


def test_import_missing_path(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "--config", str(_config(workdir)), "import", "nope.zip")
    assert code == 2
    assert _errors(err) == ["error: nope.zip: no such file or folder"]


def test_corpus_on_an_empty_store(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "--config", str(_config(workdir)), "corpus")
    assert code == 0
    assert "| Tweets downloaded | 0 |" in out
    assert "run `tweetbot fetch` or `tweetbot import ARCHIVE`" in err


def test_fetch_needs_sources_and_credentials(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, "--config", str(_config(workdir, "[]")), "fetch")
    assert code == 2
    (line,) = _errors(err)
    assert "[source] usernames" in line
    code, _, err = _run(capsys, "--config", str(_config(workdir)), "fetch")
    assert code == 2
    (line,) = _errors(err)
    assert "no X credentials" in line


def test_fetch_from_x(
    workdir: Path,
    fake_x: FakeX,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("TWITTER_BEARER_TOKEN", "fake-bearer")
    config = _config(workdir, extra=f'[twitter]\napi_base_url = "{fake_x.base_url}"\n')
    fake_x.add_user("skerryhorn", SAMPLE.ACCOUNT_ID)
    fake_x.add_tweets("skerryhorn", [SAMPLE.to_api_v2(t) for t in SAMPLE.sample_tweets(150)])
    code, out, _ = _run(capsys, "--config", str(config), "fetch")
    assert code == 0
    assert out.strip() == "fetched 150 new tweets (@skerryhorn 150 new of 150)"
    code, out, _ = _run(capsys, "--config", str(config), "fetch")
    assert out.strip() == "fetched 0 new tweets (@skerryhorn 0 new of 0)"

    fake_x.add_tweets("skerryhorn", [{"text": "Lamp lit at dusk, one more time tonight."}])
    fake_x.fail_next(r"/2/users/\d+/tweets", "server_error")
    code, out, err = _run(capsys, "--config", str(config), "fetch")
    assert code == 1
    (line,) = _errors(err)
    assert line.startswith("error: fetch stopped:")
    assert "run `tweetbot fetch` again to resume" in line
    assert "fake-bearer" not in err
    code, out, _ = _run(capsys, "--config", str(config), "fetch")
    assert out.strip() == "fetched 1 new tweets (@skerryhorn 1 new of 1)"


def test_commands_in_a_real_process(workdir: Path, sample_archive: Path) -> None:
    config = _config(workdir)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "bot", "--config", str(config)]
    bad = workdir / "broken.zip"
    bad.write_bytes(sample_archive.read_bytes()[:5000])
    failed = subprocess.run(
        [*command, "import", str(bad)], capture_output=True, text=True, env=env, check=False
    )
    assert failed.returncode == 2
    assert _errors(failed.stderr) == [
        f"error: {bad}: not a readable zip file (File is not a zip file)"
    ]
    done = subprocess.run(
        [*command, "import", str(sample_archive)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    shown = subprocess.run(
        [*command, "corpus", "--json"], capture_output=True, text=True, env=env, check=True
    )
    assert json.loads(shown.stdout)["sources"]["skerryhorn"]["downloaded"] == 2400


def test_ctrl_c_mid_pagination_keeps_pages_and_the_next_fetch_resumes(
    workdir: Path, fake_x: FakeX
) -> None:
    # A long client timeout: the interrupt, not a timeout, must be what stops the fetch.
    twitter = f'[twitter]\napi_base_url = "{fake_x.base_url}"\ntimeout = "300s"\n'
    config = _config(workdir, extra=twitter)
    fake_x.add_user("skerryhorn", SAMPLE.ACCOUNT_ID)
    fake_x.add_tweets("skerryhorn", [SAMPLE.to_api_v2(t) for t in SAMPLE.sample_tweets(350)])
    # The third page hangs, so the interrupt lands while two pages are stored.
    fake_x.slow_seconds = 120
    fake_x.fail_next(r"/tweets\?.*pagination_token=page_200", "slow")
    env = {**os.environ, "PYTHONPATH": str(REPO), "TWITTER_BEARER_TOKEN": "fake-bearer"}
    command = [sys.executable, "-m", "bot", "--config", str(config), "fetch"]
    child = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        deadline = time.monotonic() + 120
        while not any(r.query.get("pagination_token") == "page_200" for r in fake_x.requests):
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the fetch never reached page 3"
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130
    assert "fetch interrupted" in err
    store = Store(load_config(config).db_path)
    assert len(store.tweets()) == 200
    assert store.since_id("source:skerryhorn") is None
    store.close()

    resumed = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == "fetched 150 new tweets (@skerryhorn 150 new of 350)"


def test_hostile_inputs_in_a_real_process_are_one_line_exit_2(workdir: Path) -> None:
    """/dev/zero, a FIFO, a lone deleted-tweets.js and a zip bomb: refused, nothing stored."""
    config = _config(workdir)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "bot", "--config", str(config)]
    fifo = workdir / "tweets.js"
    os.mkfifo(fifo)
    deleted = (
        REPO.parent / "shared" / "conformance" / "archives" / "ytd-tweets-2026-milahu104"
        / "archive" / "data" / "deleted-tweets.js"
    )  # fmt: skip
    bomb = workdir / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data/tweets.js", "window.YTD.tweets.part0 = [" + " " * 200_000_000)
    assert bomb.stat().st_size < 1_000_000
    cases = {
        Path("/dev/zero"): "is a device, not a regular file",
        fifo: "is a FIFO, not a regular file",
        deleted: "this is deleted-tweets.js, the tweets their owner deleted",
        bomb: "refusing a possible zip bomb",
    }
    for path, expected in cases.items():
        failed = subprocess.run(
            [*command, "import", str(path), "--username", "keeper"],
            capture_output=True, text=True, env=env, check=False, timeout=120,
        )  # fmt: skip
        assert failed.returncode == 2, (path, failed.stderr)
        errors = _errors(failed.stderr)
        assert len(errors) == 1 and errors[0].startswith(f"error: {path}:"), failed.stderr
        assert expected in errors[0]
    assert Store(load_config(config).db_path).tweets() == []
