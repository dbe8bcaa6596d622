"""Config validation: every bad case is exit 2 with one line naming the file and the key."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bot.config import (
    Config,
    Secrets,
    config_from_mapping,
    example_config_text,
    load_config,
    parse_duration,
)
from bot.errors import ConfigError
from tests.conftest import write_config

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("text", "must_mention"),
    [
        ('[bot]\nname = "x\n', ["line 2"]),
        ("[bot]\nnmae = 'x'\n", ["[bot] nmae", "unknown key"]),
        ("[bots]\nname = 'x'\n", ["bots", "unknown section"]),
        ("[bot]\ndry_run = 'yes'\n", ["[bot] dry_run", "wrong type"]),
        ("[generation]\ncandidates = '8'\n", ["[generation] candidates", "wrong type"]),
        ("[generation]\ntemperature = 0\n", ["[generation] temperature"]),
        ("[generation]\ntemperature = -0.5\n", ["[generation] temperature"]),
        ('[schedule]\npost_every = "-5m"\n', ["[schedule] post_every", "negative"]),
        ('[schedule]\npost_every = "0s"\n', ["[schedule] post_every"]),
        ("[schedule]\npost_every = 300\n", ["[schedule] post_every", "duration"]),
        ('[schedule]\nmentions_every = "soon"\n', ["[schedule] mentions_every"]),
        ('[schedule]\nquiet_hours = "1-7"\n', ["[schedule] quiet_hours"]),
        ('[schedule]\ntimezone = "Mars/Olympus"\n', ["[schedule] timezone"]),
        ("[training]\neval_fraction = 1.5\n", ["[training] eval_fraction"]),
        ("[source]\nusernames = ['not a name!']\n", ["[source] usernames"]),
        ("[source]\nweights = { alice = -1.0 }\n", ["[source] weights"]),
        ("[generation]\ntop_p = 1.5\n", ["[generation] top_p"]),
        ("[limits]\nposts_per_day = -1\n", ["[limits] posts_per_day"]),
    ],
)
def test_bad_config_is_exit_2_naming_file_and_key(
    tmp_path: Path, text: str, must_mention: list[str]
) -> None:
    path = write_config(tmp_path, text, "bad.toml")
    result = run_cli("--config", str(path), "status", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "bad.toml" in lines[0]
    for fragment in must_mention:
        assert fragment in lines[0]


def test_missing_file_is_exit_2(tmp_path: Path) -> None:
    result = run_cli("--config", "nowhere.toml", "status", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "nowhere.toml" in result.stderr and "not found" in result.stderr


def test_empty_source_list_is_an_error_only_when_fetching(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, ""))
    with pytest.raises(ConfigError, match=r"config\.toml: \[source\] usernames"):
        config.require_sources()
    named = load_config(write_config(tmp_path, "[source]\nusernames = ['@alice', 'bob']\n"))
    assert named.require_sources() == ["alice", "bob"]


def test_example_file_holds_every_key_with_the_defaults() -> None:
    example = tomllib.loads(example_config_text())
    defaults = Config().model_dump()
    assert set(example) == set(defaults)
    for section, keys in defaults.items():
        assert set(example[section]) == set(keys), section
    assert config_from_mapping(example).model_dump() == defaults
    assert (ROOT / "config.example.toml").read_text() == example_config_text()


def test_every_example_key_has_a_comment() -> None:
    lines = example_config_text().splitlines()
    for index, line in enumerate(lines):
        if "=" in line and not line.startswith("#"):
            assert lines[index - 1].startswith("#"), f"no comment above {line!r}"


def test_defaults_are_safe() -> None:
    config = Config()
    assert config.bot.dry_run is True
    assert config.filters.allow_urls is False and config.filters.allow_mentions is False
    assert config.limits.posts_per_day <= 17


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    sub = tmp_path / "bots" / "alice"
    sub.mkdir(parents=True)
    config = load_config(write_config(sub, "[bot]\nname = 'alice'\ndata_dir = 'state'\n"))
    assert config.db_path == (sub / "state" / "tweetbot.db").resolve()
    assert config.models_dir == (sub / "models" / "alice").resolve()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("2h", 7200), ("7d", 604800), ("1.5s", 1.5), ("250ms", 0.25)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "5", "5 minutes", "-1s", "h", 5, True, None])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_secrets_come_from_the_environment_and_never_print() -> None:
    secrets = Secrets.from_env(
        {
            "TWITTER_CONSUMER_KEY": "ck-123456",
            "TWITTER_CONSUMER_SECRET": "cs-123456",
            "TWITTER_ACCESS_TOKEN": "at-123456",
            "TWITTER_ACCESS_TOKEN_SECRET": "as-123456",
        }
    )
    assert secrets.can_post
    assert sorted(secrets.values()) == ["as-123456", "at-123456", "ck-123456", "cs-123456"]
    for value in secrets.values():
        assert value not in repr(secrets) and value not in str(secrets)
    assert not Secrets.from_env({}).can_post


def test_secrets_in_the_file_are_unknown_keys(tmp_path: Path) -> None:
    path = write_config(tmp_path, "[twitter]\nconsumer_key = 'abc'\n")
    with pytest.raises(ConfigError, match=r"\[twitter\] consumer_key: unknown key"):
        load_config(path)


def test_blocked_words_file(tmp_path: Path) -> None:
    (tmp_path / "blocked.txt").write_text("# comment\nspam\n\nscam coin\n")
    config = load_config(
        write_config(
            tmp_path, "[filters]\nblocked_words = ['crypto']\nblocked_words_file = 'blocked.txt'\n"
        )
    )
    assert config.blocked_words() == ["crypto", "spam", "scam coin"]
    missing = load_config(write_config(tmp_path, "[filters]\nblocked_words_file = 'nope.txt'\n"))
    with pytest.raises(ConfigError, match="blocked_words_file"):
        missing.blocked_words()


def test_dedupe_for_is_a_duration_and_the_old_dedupe_days_says_what_to_write(
    tmp_path: Path,
) -> None:
    config = load_config(write_config(tmp_path, '[filters]\ndedupe_for = "12h"\n'))
    assert config.filters.dedupe_for == 12 * 3600
    old = write_config(tmp_path, "[filters]\ndedupe_days = 7\n")
    with pytest.raises(ConfigError, match=r'\[filters\].*dedupe_for = "7d"'):
        load_config(old)
    # Through the CLI: one line, exit 2.
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(old), "status"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and 'dedupe_for = "7d"' in result.stderr
