"""Docker cannot run here, so check that what the Dockerfile and compose file invoke exists."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bot.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def _exec_form(line: str) -> list[str]:
    value = line.split(None, 1)[1].strip()
    return json.loads(value) if value.startswith("[") else shlex.split(value)


def _dockerfile_commands() -> list[list[str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    entry = next(_exec_form(line) for line in lines if line.startswith("ENTRYPOINT"))
    cmd = next(_exec_form(line) for line in lines if line.startswith("CMD"))
    health = next(line for line in lines if line.startswith("HEALTHCHECK"))
    health_cmd = json.loads(health[health.index("CMD") + 3 :].strip())
    return [entry + cmd, health_cmd]


def _compose_commands() -> list[list[str]]:
    text = (ROOT / "compose.example.yaml").read_text()
    command = json.loads(re.search(r"^\s+command:\s*(\[.*\])", text, re.M).group(1))  # type: ignore[union-attr]
    test = json.loads(re.search(r"^\s+test:\s*(\[.*\])", text, re.M).group(1))  # type: ignore[union-attr]
    assert test[0] == "CMD"
    return [["tweetbot", *command], test[1:]]


def _resolve(argv: list[str]) -> click.Command:
    assert argv[0] == "tweetbot", argv
    command: click.Command = cli
    for word in argv[1:]:
        if word.startswith("-"):
            continue
        assert isinstance(command, click.Group), f"{word!r} given to a command, not a group"
        assert word in command.commands, f"`tweetbot {word}` does not exist"
        command = command.commands[word]
    return command


@pytest.mark.parametrize("argv", _dockerfile_commands() + _compose_commands())
def test_container_commands_exist_in_the_cli(argv: list[str]) -> None:
    _resolve(argv)
    words = [w for w in argv[1:] if not w.startswith("-")]
    result = CliRunner().invoke(cli, [*words, "--help"])
    assert result.exit_code == 0, result.output


def test_dockerfile_runs_as_non_root_with_volumes_and_stop_signal() -> None:
    text = (ROOT / "Dockerfile").read_text()
    user = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert user and user[-1] not in ("root", "0")
    assert re.search(r'^VOLUME \["/data", "/models"\]', text, re.M)
    assert re.search(r"^STOPSIGNAL SIGTERM", text, re.M)
    assert "cuda" in text.lower()


def test_compose_reserves_a_gpu() -> None:
    text = (ROOT / "compose.example.yaml").read_text()
    assert "driver: nvidia" in text and "capabilities: [gpu]" in text
