"""`tweetbot review`: the list (text and --json), approve, reject, edit through the filters,
and the one-line errors with their exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import load_config
from bot.store import Store
from bot.store import review as queue

GOOD_TEXT = "the lamp was lit early tonight because the fog came in fast"


@pytest.fixture
def config_path(workdir: Path) -> Path:
    path = workdir / "config.toml"
    path.write_text('[bot]\nname = "cli"\n\n[filters]\nblocked_words = ["kraken"]\n')
    return path


def _run(config_path: Path, *args: str) -> int:
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(config_path), "review", *args])
    return int(exited.value.code or 0)


def _store(config_path: Path) -> Store:
    return Store(load_config(config_path).db_path)


def test_review_json_lists_the_contract_fields(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _store(config_path)
    post_id = queue.add_for_review(store, "post", "waiting words", ["alt a", "alt b"]).id
    store.close()
    assert _run(config_path, "--json") == 0
    items = json.loads(capsys.readouterr().out)
    assert items == [
        {
            **items[0],
            "id": post_id,
            "text": "waiting words",
            "network": "x",
            "kind": "post",
            "status": "awaiting_review",
            "alternates": ["alt a", "alt b"],
        }
    ]
    assert _run(config_path) == 0
    out = capsys.readouterr().out
    assert "waiting words" in out and "alt 2: alt b" in out


def test_approve_and_reject_then_the_queue_is_empty(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _store(config_path)
    one = queue.add_for_review(store, "post", "one").id
    two = queue.add_for_review(store, "post", "two").id
    store.close()
    assert _run(config_path, "approve", str(one)) == 0
    assert _run(config_path, "reject", str(two)) == 0
    assert f"post {two} rejected" in capsys.readouterr().out
    assert _run(config_path, "--json") == 0
    assert json.loads(capsys.readouterr().out) == []
    # Settling twice, or an unknown id, is a user error: one line, exit 2.
    assert _run(config_path, "reject", str(one)) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: post {one} is approved, not awaiting_review"
    assert _run(config_path, "approve", "404") == 2
    assert "no outbox row with id 404" in capsys.readouterr().err
    store = _store(config_path)
    assert [queue.item(store, i).status for i in (one, two)] == ["approved", "rejected"]  # type: ignore[union-attr]
    store.close()


def test_edit_passes_the_filters_or_names_the_refusing_one(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _store(config_path)
    post_id = queue.add_for_review(store, "post", "first words").id
    store.close()
    assert _run(config_path, "edit", str(post_id), "wake the kraken") == 1
    err = capsys.readouterr().err
    assert "blocked_words" in err and "Traceback" not in err
    assert _run(config_path, "edit", str(post_id), GOOD_TEXT) == 0
    assert GOOD_TEXT in capsys.readouterr().out
    store = _store(config_path)
    assert queue.item(store, post_id).text == GOOD_TEXT  # type: ignore[union-attr]
    store.close()


def test_a_non_numeric_id_is_a_usage_error(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(config_path, "approve", "seven") == 2
    assert "ID" in capsys.readouterr().err


def test_a_bad_review_mode_is_a_config_error_naming_the_key(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = workdir / "config.toml"
    path.write_text('[review]\nposts = "sometimes"\n')
    assert _run(path) == 2
    assert "[review] posts" in capsys.readouterr().err
