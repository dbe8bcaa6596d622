"""`tweetbot check`: a given text judged by exactly the filters a candidate faces."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli, main
from bot.config import load_config
from bot.store import Store

REPO = Path(__file__).resolve().parents[1]
SOURCE = "the harbour fog rolls in every single morning before the ferry leaves"
OWN_POST = "gulls argue about chips on the pier while the tide comes in slowly"


@pytest.fixture
def config_path(workdir: Path) -> Path:
    """A bot with one source tweet and one own post in its real SQLite file."""
    path = workdir / "config.toml"
    path.write_text(
        "[bot]\ndry_run = false\n[filters]\nblocked_words = ['gertrude']\n", encoding="utf-8"
    )
    store = Store(load_config(path).db_path)
    store.insert_tweets(
        [{"id": "1", "username": "src", "text": SOURCE, "kind": "original", "source": "api"}]
    )
    post = store.add_post("post", OWN_POST)
    store.mark_post(post.id, "posted", remote_id="9")
    store.close()
    return path


def _check(config_path: Path, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--config", str(config_path), "check", *args], input=stdin)
    return result.exit_code, result.output


def test_a_fine_text_would_be_posted(config_path: Path) -> None:
    code, output = _check(config_path, "a quiet thought about lighthouses")
    assert code == 0, output
    assert "[PASS] blocked_words" in output and "[PASS] novelty" in output
    assert output.strip().endswith("would be posted (x): a quiet thought about lighthouses")


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("TheGertrude is here", "blocked_words"),
        ("visit gulls.rocks today", "urls"),
        (SOURCE, "novelty"),  # the store's corpus
        (OWN_POST, "dedupe"),  # the store's own posts
        ("abc\u202edef ghi", "invisible"),
        ("word " * 60, "length"),  # judged as given, not trimmed
    ],
)
def test_a_rejected_text_exits_1_naming_the_rule(config_path: Path, text: str, rule: str) -> None:
    code, output = _check(config_path, text)
    assert code == 1
    assert f"[FAIL] {rule}:" in output
    assert "rejected (x)" in output


def test_reply_to_adds_the_handle_and_exempts_it(config_path: Path) -> None:
    code, output = _check(config_path, "--reply-to", "gertrude_fan", "thanks, lovely evening")
    assert code == 0, output
    assert "would be posted (x): @gertrude_fan thanks, lovely evening" in output
    code, output = _check(config_path, "@gertrude_fan thanks")  # not a reply: the handle counts
    assert code == 1 and "[FAIL] blocked_words" in output and "[FAIL] mentions" in output


def test_network_changes_only_the_length_limit(config_path: Path) -> None:
    text = "a " * 150  # 299 characters: over X's 280, within Bluesky's 300
    assert _check(config_path, text)[0] == 1
    assert _check(config_path, "--network", "bluesky", text)[0] == 0
    assert _check(config_path, "--network", "mastodon", text)[0] == 0


def test_stdin_and_json(config_path: Path) -> None:
    code, output = _check(config_path, "-", "--json", stdin="oh gertrude\n")
    assert code == 1
    report = json.loads(output)
    assert report["text"] == "oh gertrude" and report["passed"] is False
    assert {v["rule"] for v in report["verdicts"] if not v["passed"]} == {"blocked_words"}


@pytest.mark.parametrize(
    "args", [[], ["--network", "myspace", "hello"], ["--reply-to"], ["a", "b"]]
)
def test_bad_usage_exits_2(
    config_path: Path, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(config_path), "check", *args])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "rror:" in err and "Traceback" not in err


def test_check_as_a_real_subprocess(config_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "bot", "--config", str(config_path), "check"]
    passed = subprocess.run(
        [*command, "a calm and ordinary sentence"], env=env, capture_output=True, text=True
    )
    assert passed.returncode == 0, passed.stderr
    assert "would be posted" in passed.stdout
    rejected = subprocess.run(
        [*command, "-"], input="ɢᴇʀᴛʀᴜᴅᴇ\n", env=env, capture_output=True, text=True
    )
    assert rejected.returncode == 1
    assert "blocked word: 'gertrude'" in rejected.stdout
    missing = subprocess.run(command, env=env, capture_output=True, text=True)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines() == [
        "error: check: give the TEXT to judge, or - to read it from stdin"
    ]
