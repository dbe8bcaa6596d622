"""The trainer child as the retrain job drives it: result line, failures, and a stop mid-run."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from bot.daemon.retraining import TrainerProcess, TrainingFailed, parse_result_line


class ScriptedTrainer(TrainerProcess):
    """The real process handling, with a small Python script standing in for the trainer."""

    def __init__(self, script: str) -> None:
        super().__init__(Path("config.toml"))
        self.script = script

    def command(self) -> list[str]:
        return [sys.executable, "-c", self.script]


def test_the_last_json_line_is_the_result() -> None:
    stdout = (
        'progress 10%\n{"not": "this one"}\nnoise\n'
        '{"version": "v2", "promoted": true, "eval_loss": 2.5}\n'
    )
    outcome = parse_result_line(stdout)
    assert (outcome.version, outcome.promoted, outcome.eval_loss) == ("v2", True, 2.5)
    with pytest.raises(TrainingFailed):
        parse_result_line("Traceback (most recent call last):\n  ...\n")


def test_a_successful_child() -> None:
    trainer = ScriptedTrainer(
        "import json, sys; print('step 1', file=sys.stderr); "
        "print(json.dumps({'version': 'v3', 'promoted': False, 'eval_loss': 3.0}))"
    )
    outcome = trainer.run()
    assert outcome.version == "v3" and outcome.promoted is False


def test_a_failing_child_is_training_failed() -> None:
    trainer = ScriptedTrainer("import sys; print('{\"version\": null}'); sys.exit(1)")
    with pytest.raises(TrainingFailed, match="exited with code 1"):
        trainer.run()


def test_terminate_stops_a_running_child_and_refuses_new_runs() -> None:
    trainer = ScriptedTrainer("import time; print('training', flush=True); time.sleep(600)")
    failure: list[BaseException] = []

    def run() -> None:
        try:
            trainer.run()
        except TrainingFailed as exc:
            failure.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    while trainer._child is None and worker.is_alive():
        threading.Event().wait(0.05)
    trainer.terminate()
    worker.join(30)
    assert not worker.is_alive()
    assert "shutting down" in str(failure[0])
    with pytest.raises(TrainingFailed, match="stopping"):
        trainer.run()
