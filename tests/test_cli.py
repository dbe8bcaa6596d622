"""CLI contracts: help on every command, init never overwrites, health, status."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bot.cli import cli, main
from bot.config import load_config
from bot.store import Store, utcnow


def _all_commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        found.append((prefix + name, command))
        if isinstance(command, click.Group):
            found += _all_commands(command, prefix + name + " ")
    return found


def test_every_command_has_help_text() -> None:
    commands = _all_commands(cli)
    assert {"init", "status", "health"} <= {name for name, _ in commands}
    for name, command in commands:
        assert command.help and len(command.help.strip()) > 10, name


def test_init_writes_a_valid_config_and_never_overwrites(workdir: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["init"])
    assert result.exit_code == 0, result.output
    config = load_config(workdir / "config.toml")
    assert config.bot.dry_run is True
    (workdir / "config.toml").write_text("# mine\n")
    with pytest.raises(SystemExit) as exited:
        main(["init"])
    assert exited.value.code == 2
    assert (workdir / "config.toml").read_text() == "# mine\n"


def test_init_into_a_new_directory(workdir: Path) -> None:
    assert CliRunner().invoke(cli, ["init", "bots/alice"]).exit_code == 0
    assert (workdir / "bots" / "alice" / "config.toml").exists()


def _config(workdir: Path, text: str = "") -> Path:
    path = workdir / "config.toml"
    path.write_text("[schedule]\nheartbeat_every = '10s'\n" + text)
    return path


def test_health_follows_the_heartbeat(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _config(workdir)
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(path), "health"])
    assert exited.value.code == 1
    store = Store(load_config(path).db_path)
    store.beat()
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(path), "health"])
    assert exited.value.code == 0
    store.beat(utcnow() - timedelta(minutes=5))
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(path), "health"])
    assert exited.value.code == 1
    assert "unhealthy" in capsys.readouterr().err


def test_status_json_reports_outbox_budget_and_model(workdir: Path) -> None:
    path = _config(workdir)
    store = Store(load_config(path).db_path)
    post = store.add_post("post", "a fine tweet")
    store.mark_post(post.id, "posted", remote_id="5")
    store.add_post("post", "a rehearsal", dry_run=True)  # not in the live budget
    store.record_skip("reply", "blocked word")
    store.add_model_version("v1", "/m/v1", base="scratch:tiny", eval_loss=2.0, train_loss=2.0)
    store.set_current_model("v1")
    store.set_state("next_run:post", "2026-01-01T00:00:00+00:00")
    result = CliRunner().invoke(cli, ["--config", str(path), "status", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["model_version"] == "v1"
    assert report["budget"]["today"] == 1
    assert report["next_runs"] == {"post": "2026-01-01T00:00:00+00:00"}
    assert [(r["status"], r["dry_run"]) for r in report["recent"]] == [
        ("skipped", False),
        ("pending", True),
        ("posted", False),
    ]
    assert report["recent"][0]["reason"] == "blocked word"
    assert (report["recent"][2]["remote_id"], report["recent"][2]["tweet_id"]) == ("5", "5")
    assert report["recent"][2]["network"] == "x"
    text = CliRunner().invoke(cli, ["--config", str(path), "status"]).output
    assert "[blocked word]" in text and "1/17 today" in text


def test_a_corrupt_database_is_a_one_line_error(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _config(workdir)
    db = load_config(path).db_path
    db.parent.mkdir(parents=True)
    db.write_bytes(b"garbage" * 10)
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(path), "status"])
    assert exited.value.code == 1
    err = capsys.readouterr().err.strip()
    assert "not a SQLite database" in err and "\n" not in err
    assert db.read_bytes() == b"garbage" * 10
