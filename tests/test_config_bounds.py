"""Hostile config input: deep nesting, unsafe bot names, read-only folders -> exit 2, one line.

Each case runs the real CLI in a child process, so what is checked is what a user sees.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(config), *args],
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize(
    "nested",
    [
        "x = " + "[" * 100_000 + "]" * 100_000,
        "x = " + "{a = " * 5_000 + "1" + "}" * 5_000,
        "[bot]\nname = " + "[" * 600 + "]" * 600,
    ],
    ids=["arrays", "inline-tables", "under-a-key"],
)
def test_toml_nested_deep_enough_for_recursion_is_one_line(tmp_path: Path, nested: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(nested + "\n")
    line = _one_error_line(_cli(config, "status"))
    assert str(config) in line and "nested too deeply" in line


@pytest.mark.parametrize(
    "name",
    ["..", ".", ".hidden", "a/b", "..\\\\x", "a\\u0000b", "", "bot name", "bøt", "x" * 65],
    ids=["dotdot", "dot", "leading-dot", "slash", "backslash", "nul", "empty", "space",
         "non-ascii", "too-long"],
)  # fmt: skip
def test_an_unsafe_bot_name_is_refused_naming_the_key(tmp_path: Path, name: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[bot]\nname = "{name}"\n', encoding="utf-8")
    line = _one_error_line(_cli(config, "status"))
    assert "[bot] name" in line
    # Nothing was created from the name (no models/.., no data folder).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_a_safe_bot_name_is_kept(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[bot]\nname = "Alice_bot-2.v1"\n')
    done = _cli(config, "status", "--json")
    assert done.returncode == 0, done.stderr
    assert '"bot": "Alice_bot-2.v1"' in done.stdout


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder nobody can write to: a read-only mount as root (root ignores permission
    bits), permission bits otherwise."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    if os.geteuid() == 0:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)],
                       check=True)  # fmt: skip
        try:
            yield folder
        finally:
            subprocess.run(["umount", str(folder)], check=True)
    else:
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(0o755)


@pytest.mark.parametrize("command", [["status"], ["run", "--once", "--dry-run"]])
def test_a_read_only_data_dir_is_one_line_naming_the_folder(
    tmp_path: Path, read_only_dir: Path, command: list[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[bot]\ndata_dir = "{read_only_dir}"\n')
    line = _one_error_line(_cli(config, *command))
    assert "[bot] data_dir" in line and str(read_only_dir) in line


def test_a_read_only_models_dir_is_one_line_naming_the_folder(
    tmp_path: Path, read_only_dir: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[bot]\nname = "keeper"\nmodels_dir = "{read_only_dir}"\n'
        '[model]\nbase = "scratch:tiny"\ndevice = "cpu"\n'
    )
    # The folder is checked before anything else (the corpus here is empty).
    line = _one_error_line(_cli(config, "train"))
    assert "[bot] models_dir" in line and str(read_only_dir / "keeper") in line, line
