"""`tweetbot run`'s user errors: one line and the right exit code, before anything starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.store import Store
from tests.conftest import write_config


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    return int(exited.value.code or 0), capsys.readouterr().err


def test_run_without_a_current_model_says_what_to_do(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(workdir, "[bot]\nname = 'x'\n")
    code, err = _run(["run", "--once"], capsys)
    assert code == 1
    assert err.strip().splitlines()[0].startswith("error: no model version is current yet")


def test_run_with_a_bad_duration_is_a_usage_error(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(workdir, "")
    code, err = _run(["run", "--for", "soon"], capsys)
    assert code == 2 and err.startswith("error: --for: must be a duration")


def test_a_live_run_without_credentials_is_refused_before_loading_anything(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(workdir, "[bot]\ndry_run = false\n")
    store = Store(workdir / "data" / "tweetbot.db")
    store.add_model_version("v1", str(workdir / "nowhere"), base="gpt2", eval_loss=1.0,
                            train_loss=1.0)  # fmt: skip
    store.set_current_model("v1")
    store.close()
    code, err = _run(["--config", str(config), "run"], capsys)
    assert code == 2 and "posting needs TWITTER_CONSUMER_KEY" in err


def test_run_gives_back_the_callers_signal_handlers(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import signal

    before = signal.getsignal(signal.SIGINT)
    write_config(workdir, "")
    _run(["run", "--once"], capsys)  # fails: no model yet
    assert signal.getsignal(signal.SIGINT) is before


def test_status_shows_the_mode_the_daemon_ran_in_not_only_the_file(
    workdir: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(workdir, "[bot]\ndry_run = false\n")
    store = Store(workdir / "data" / "tweetbot.db")
    store.add_model_version("tiny", str(tiny_model_dir), base="scratch:tiny", eval_loss=1.0,
                            train_loss=1.0)  # fmt: skip
    store.set_current_model("tiny")
    store.close()
    code, err = _run(["--config", str(config), "run", "--dry-run", "--once"], capsys)
    assert code == 0, err
    assert "Loading weights" not in err  # no progress bars in a log that is not a terminal
    with pytest.raises(SystemExit):
        main(["--config", str(config), "status", "--json"])
    assert json.loads(capsys.readouterr().out)["dry_run"] is True
