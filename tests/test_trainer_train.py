"""train_version: a real scratch:tiny run on disk, the saved directory, and every bad input."""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config, load_config
from bot.errors import BotError, UsageError
from bot.trainer.train import MIN_TRAINING_CHARS, TrainResult, train_version
from tests.fixtures_model import synthetic_tweets


class FakeTable:
    """Stands in for bot.corpus.DataTable: the two methods the trainer calls."""

    def to_dict(self) -> dict[str, Any]:
        return {"sources": {"catfan": {"downloaded": 700, "kept": 600}}, "total": {"kept": 600}}

    def markdown(self) -> str:
        return "| Data | Quantity |\n| --- | --- |\n| Tweets kept | 600 |"


def make_config(root: Path, **training: Any) -> Config:
    """A scratch:tiny config file under `root` that trains in a few seconds."""
    settings: dict[str, Any] = {
        "epochs": 2.0,
        "block_size": 64,
        "batch_size": 16,
        "eval_fraction": 0.1,
    }
    settings.update(training)
    base = settings.pop("base", "scratch:tiny")
    lines = [
        "[bot]",
        'name = "catbot"',
        "[model]",
        f"base = {json.dumps(base)}",
        'device = "cpu"',
        "[generation]",
        "max_new_tokens = 40",
        "[training]",
        *(f"{key} = {json.dumps(value)}" for key, value in settings.items()),
    ]
    path = root / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_config(path)


def versions_on_disk(config: Config) -> list[str]:
    if not config.models_dir.exists():
        return []
    return sorted(p.name for p in config.models_dir.iterdir())


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, TrainResult]:
    config = make_config(tmp_path_factory.mktemp("train"))
    return config, train_version(config, synthetic_tweets(600), FakeTable(), progress=False)


def test_a_version_directory_holds_everything_the_contract_names(
    trained: tuple[Config, TrainResult],
) -> None:
    config, result = trained
    assert result.path == config.models_dir / result.version
    assert versions_on_disk(config) == [result.version]  # no temporary directory left over
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
        "metrics.json",
        "README.md",
        "loss.png",
    ):
        assert (result.path / name).is_file(), name
    assert (result.path / "loss.png").read_bytes().startswith(b"\x89PNG")
    assert not (result.path / "checkpoints").exists()


def test_metrics_record_losses_data_and_provenance(trained: tuple[Config, TrainResult]) -> None:
    _, result = trained
    metrics = json.loads((result.path / "metrics.json").read_text())
    assert metrics["base"] == "scratch:tiny"
    assert metrics["tweets"]["train"] + metrics["tweets"]["eval"] == 600
    assert metrics["tokens"]["train"] > metrics["tokens"]["eval"] > 0
    assert metrics["hyperparameters"]["seed"] == 42
    assert metrics["hyperparameters"]["learning_rate"] == 3e-3  # scratch default
    assert set(metrics["libraries"]) >= {"torch", "transformers", "tokenizers", "python"}
    assert metrics["data"]["total"]["kept"] == 600
    assert metrics["duration_s"] > 0
    # Training did something: held-out loss far below the untrained model's.
    assert metrics["eval"]["loss"] < metrics["eval"]["initial_loss"] - 1.0
    assert metrics["eval"]["perplexity"] == pytest.approx(2.718281828 ** metrics["eval"]["loss"])
    assert any("eval_loss" in e for e in metrics["log_history"])


def test_model_card_has_the_table_procedure_and_usage(trained: tuple[Config, TrainResult]) -> None:
    _, result = trained
    card = (result.path / "README.md").read_text()
    assert "| Tweets kept | 600 |" in card
    assert "@catfan" in card
    assert "perplexity" in card and f"{result.metrics['eval']['perplexity']:.2f}" in card
    assert 'pipeline("text-generation"' in card
    assert "## Limitations and bias" in card
    assert "![train and eval loss](loss.png)" in card
    assert card.count("\n> ") == len(result.metrics["samples"]) == 5


def test_saved_directory_loads_offline_with_pipeline_and_its_defaults(
    trained: tuple[Config, TrainResult],
) -> None:
    from transformers import GenerationConfig, pipeline, set_seed

    _, result = trained
    defaults = GenerationConfig.from_pretrained(str(result.path))
    assert defaults.do_sample is True
    assert defaults.max_new_tokens == 40
    assert defaults.eos_token_id != defaults.pad_token_id
    generator = pipeline("text-generation", model=str(result.path))
    set_seed(1)
    outputs = generator("The cat", num_return_sequences=3)
    assert len(outputs) == 3
    assert all(o["generated_text"].startswith("The cat") for o in outputs)


def test_fine_tuning_a_local_directory_keeps_its_tokenizer(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    config = make_config(tmp_path, base=str(tiny_model_dir), epochs=1.0, learning_rate=1e-3)
    result = train_version(config, synthetic_tweets(400, seed=3), None, progress=False)
    assert result.base == str(tiny_model_dir)
    assert (result.path / "tokenizer.json").read_text() == (
        tiny_model_dir / "tokenizer.json"
    ).read_text()
    assert "(no data table was recorded)" in (result.path / "README.md").read_text()


def test_too_little_text_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    texts = ["short tweet number one"] * (MIN_TRAINING_CHARS // 30)
    with pytest.raises(BotError, match="too little text"):
        train_version(config, texts)
    with pytest.raises(BotError, match="fewer than two different kept tweets"):
        train_version(config, ["the same tweet over and over again"] * 500)
    assert versions_on_disk(config) == []


def test_a_hub_id_that_cannot_be_fetched_says_it_needs_the_hub_or_a_path(tmp_path: Path) -> None:
    config = make_config(tmp_path, base="no-such-org/no-such-model")
    with pytest.raises(BotError, match="needs the Hugging Face Hub or a local path"):
        train_version(config, synthetic_tweets(600))
    assert versions_on_disk(config) == []


def test_a_missing_local_directory_is_a_usage_error(tmp_path: Path) -> None:
    config = make_config(tmp_path, base="./models/not-there")
    with pytest.raises(UsageError, match="is not a directory"):
        train_version(config, synthetic_tweets(600))
    config = make_config(tmp_path, base="scratch:huge")
    with pytest.raises(UsageError, match="scratch:tiny or scratch:small"):
        train_version(config, synthetic_tweets(600))


def test_a_full_disk_while_saving_leaves_no_version_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import PreTrainedModel

    real_save = PreTrainedModel.save_pretrained

    def save_then_fill_disk(self: Any, directory: Any, *args: Any, **kwargs: Any) -> None:
        real_save(self, directory, *args, **kwargs)  # half the files are written ...
        raise OSError(errno.ENOSPC, "No space left on device")  # ... then the disk is full

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", save_then_fill_disk)
    config = make_config(tmp_path, epochs=0.2)
    with pytest.raises(BotError, match="disk full"):
        train_version(config, synthetic_tweets(600), progress=False)
    assert versions_on_disk(config) == []


def test_running_out_of_memory_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch
    from transformers import Trainer

    def exhausted(self: Any, *args: Any, **kwargs: Any) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(Trainer, "train", exhausted)
    config = make_config(tmp_path)
    with pytest.raises(BotError, match=r"out of memory .*lower \[training\] batch_size"):
        train_version(config, synthetic_tweets(600), progress=False)
    assert versions_on_disk(config) == []


def test_scratch_models_get_a_scratch_learning_rate_unless_one_is_chosen(tmp_path: Path) -> None:
    from bot.trainer.train import SCRATCH_LEARNING_RATE, effective_learning_rate

    # The starter config writes the default out; that still counts as not chosen.
    assert effective_learning_rate(make_config(tmp_path, learning_rate=5e-5)) == (
        SCRATCH_LEARNING_RATE
    )
    assert effective_learning_rate(make_config(tmp_path, learning_rate=2e-3)) == 2e-3
    hub = make_config(tmp_path, base="gpt2", learning_rate=5e-5)
    assert effective_learning_rate(hub) == 5e-5


def test_a_current_version_whose_files_are_gone_is_replaced(
    trained: tuple[Config, TrainResult], tmp_path: Path
) -> None:
    from bot.store import Store
    from bot.trainer.registry import judge

    _, result = trained
    store = Store(tmp_path / "db.sqlite")
    store.add_model_version("old", str(tmp_path / "deleted"), base="gpt2", eval_loss=0.1,
                            train_loss=0.1)  # fmt: skip
    store.set_current_model("old")
    decision = judge(store, result, tolerance=0.0)
    assert decision.promote is True
    assert decision.reason == "current version old does not load"
