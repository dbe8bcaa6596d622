"""`train_version`: kept tweets in, a new model version directory out, written atomically.

Everything is written into a hidden temporary directory beside the target and renamed into
place only when complete, so a run that fails, runs out of disk or memory, or is interrupted
leaves no half-written version behind and never touches the current one.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import json
import math
import os
import platform
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from bot.config import Config, TrainingSection
from bot.errors import BotError
from bot.logging import get_logger
from bot.trainer.base import context_size, cpu_threads, is_scratch, load_base
from bot.trainer.card import LOSS_PLOT, model_card, plot_losses
from bot.trainer.data import build_dataset, shuffled, split_texts
from bot.trainer.evaluate import held_out_loss

log = get_logger(__name__)

# huggingtweets refused accounts with less text than this; below it a model only memorises.
MIN_TRAINING_CHARS = 6000
# Learning rate for scratch models while the config leaves `learning_rate` at its default
# (5e-5 suits fine-tuning GPT-2; random weights need far larger steps).
SCRATCH_LEARNING_RATE = 3e-3
TEMP_PREFIX = ".tmp-"
SAMPLE_COUNT = 5


class DataTableLike(Protocol):
    """What the trainer needs of `bot.corpus.DataTable`."""

    def to_dict(self) -> dict[str, Any]: ...

    def markdown(self) -> str: ...


@dataclass(frozen=True)
class TrainResult:
    """A finished version on disk and what the promotion rule needs to judge it."""

    version: str
    path: Path
    base: str
    train_loss: float
    eval_loss: float
    eval_loss_per_char: float
    eval_texts: list[str]
    block_size: int
    metrics: dict[str, Any] = field(repr=False)
    # False on the extra processes of a multi-GPU run: only the main one saves and registers.
    is_main_process: bool = True


def new_version_name(models_dir: Path, now: datetime | None = None) -> str:
    """A sortable UTC timestamp name (`20260101-120000`), suffixed when it already exists."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    name, n = stamp, 1
    while (models_dir / name).exists():
        n += 1
        name = f"{stamp}-{n}"
    return name


def library_versions() -> dict[str, str]:
    """Versions of what produced the model, for metrics.json and the card."""
    import tokenizers
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
    }


def effective_learning_rate(config: Config) -> float:
    """The configured learning rate, or the scratch one while the config keeps the default."""
    # The starter config spells the default out, so "left at the default" is judged by value.
    default = TrainingSection.model_fields["learning_rate"].default
    if is_scratch(config.model.base) and config.training.learning_rate == default:
        return SCRATCH_LEARNING_RATE
    return config.training.learning_rate


def _precision(use_cpu: bool) -> str:
    import torch

    if use_cpu or not torch.cuda.is_available():
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


# How the libraries report a full disk when they do not raise OSError: safetensors' Rust
# writer raises SafetensorError("... No space left on device (os error 28)"), and torch's zip
# writer a RuntimeError that names only a file position.
_DISK_FULL_TEXT = ("no space left on device", "os error 28", "storagefull", "disk quota exceeded")
_TORCH_WRITER_TEXT = ("inline_container", "pytorchstreamwriter", "file write failed")
# Below this much free space, a failed torch write is taken for a full disk.
_NEARLY_FULL_BYTES = 16 * 1024 * 1024


def is_disk_full(exc: BaseException, target: Path) -> bool:
    """True when `exc` is a write that failed because the disk under `target` is full."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc).lower()
    if any(marker in text for marker in _DISK_FULL_TEXT):
        return True
    if isinstance(exc, RuntimeError) and any(m in text for m in _TORCH_WRITER_TEXT):
        try:
            return shutil.disk_usage(target.parent).free < _NEARLY_FULL_BYTES
        except OSError:
            return False
    return False


@contextlib.contextmanager
def resource_errors(what: str, target: Path) -> Iterator[None]:
    """Turn a full disk or exhausted memory into one clear BotError."""
    import torch

    try:
        yield
    except (torch.OutOfMemoryError, MemoryError) as exc:
        raise BotError(
            f"out of memory while {what} ({type(exc).__name__}); nothing was changed "
            "(lower [training] batch_size or block_size, or use a smaller [model] base)"
        ) from None
    except Exception as exc:
        if is_disk_full(exc, target):
            raise BotError(
                f"disk full while {what} under {target.parent}; nothing was changed "
                "(free some space, or lower [training] keep_versions, and retry)"
            ) from None
        # The CPU allocator reports exhaustion as a plain RuntimeError.
        if isinstance(exc, RuntimeError) and (
            "can't allocate memory" in str(exc) or "out of memory" in str(exc).lower()
        ):
            raise BotError(
                f"out of memory while {what}; nothing was changed "
                "(lower [training] batch_size or block_size, or use a smaller [model] base)"
            ) from None
        raise


def _agree_across_processes(value: str) -> str:
    """In a multi-process (torchrun / accelerate) run, every rank uses rank 0's value."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return str(box[0])
    return value


def _samples(model: Any, tokenizer: Any, count: int, seed: int) -> list[dict[str, Any]]:
    """Unprompted samples with the saved generation defaults, and whether each ended on EOS."""
    import torch

    torch.manual_seed(seed)
    device = next(model.parameters()).device
    start = torch.tensor([[tokenizer.eos_token_id]], device=device)
    model.eval()
    settings = copy.deepcopy(model.generation_config)
    settings.num_return_sequences = count
    with torch.no_grad():
        out = model.generate(
            input_ids=start, attention_mask=torch.ones_like(start), generation_config=settings
        )
    samples = []
    for row in out[:, 1:].tolist():
        ended = tokenizer.eos_token_id in row
        tokens = row[: row.index(tokenizer.eos_token_id)] if ended else row
        text = tokenizer.decode(tokens, skip_special_tokens=True).strip()
        samples.append({"text": " ".join(text.split()), "tokens": len(tokens), "ended": ended})
    return samples


def _generation_config(config: Config, tokenizer: Any) -> Any:
    from transformers import GenerationConfig

    gen = config.generation
    # Without saved defaults, generate() stops at 20 tokens and samples greedily.
    return GenerationConfig(
        do_sample=True,
        temperature=gen.temperature,
        top_p=gen.top_p,
        top_k=gen.top_k,
        repetition_penalty=gen.repetition_penalty,
        max_new_tokens=gen.max_new_tokens,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def train_version(
    config: Config,
    texts: Sequence[str],
    data_table: DataTableLike | None = None,
    *,
    version: str | None = None,
    callbacks: Sequence[Any] = (),
    progress: bool | None = None,
) -> TrainResult:
    """Train a version on `texts` (kept tweets) and write `<models_dir>/<version>/` atomically.

    Raises BotError with one clear sentence for too little text, an unloadable base, a full
    disk or exhausted memory; on any failure or interrupt the temporary directory is removed
    and nothing else on disk has changed. `callbacks` are extra `TrainerCallback`s.
    """
    # First, before any work: a folder we cannot write is a config error (exit 2).
    models_dir = config.writable_dir("models_dir")
    chars = sum(len(t) for t in texts)
    if chars < MIN_TRAINING_CHARS:
        raise BotError(
            f"too little text to train on: {len(texts)} kept tweets, {chars:,} characters "
            f"(need at least {MIN_TRAINING_CHARS:,}); fetch or import more tweets"
        )
    training = config.training
    split = split_texts(texts, training.eval_fraction, training.seed)
    if not split.eval or not split.train:
        raise BotError("too little text to train on: fewer than two different kept tweets")
    train_texts = shuffled(split.train, training.seed)
    name = version or new_version_name(models_dir)
    temp = models_dir / f"{TEMP_PREFIX}{name}-{os.getpid()}"
    started = time.monotonic()
    with resource_errors("loading the base model", temp):
        base = load_base(
            config.model.base, train_texts, base_dir=config.base_dir, seed=training.seed
        )
    block_size = min(training.block_size, context_size(base.model))
    train_ds = build_dataset(base.tokenizer, train_texts, block_size)
    eval_ds = build_dataset(base.tokenizer, split.eval, block_size)
    try:
        with resource_errors("training", temp), cpu_threads(base.model, config.model.device):
            temp.mkdir()
            return _train(
                config, base, split.train, split.eval, train_ds, eval_ds, block_size,
                name, temp, data_table, list(callbacks), progress, started,
            )  # fmt: skip
    finally:
        # Gone on success (renamed) and on failure (removed): never a half version.
        shutil.rmtree(temp, ignore_errors=True)


def _train(
    config: Config,
    base: Any,
    train_texts: list[str],
    eval_texts: list[str],
    train_ds: Any,
    eval_ds: Any,
    block_size: int,
    name: str,
    temp: Path,
    data_table: DataTableLike | None,
    callbacks: list[Any],
    progress: bool | None,
    started: float,
) -> TrainResult:
    import torch
    from transformers import (
        EarlyStoppingCallback,
        PrinterCallback,
        Trainer,
        TrainingArguments,
        default_data_collator,
    )
    from transformers.utils import logging as hf_logging

    training = config.training
    show_progress = sys.stderr.isatty() if progress is None else progress
    if not show_progress:
        hf_logging.disable_progress_bar()
    device = config.model.device
    # Explicit on a machine without CUDA: only then does the Trainer run DDP (gloo) on CPUs.
    use_cpu = device == "cpu" or (device != "mps" and not torch.cuda.is_available())
    precision = _precision(use_cpu)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    steps_per_epoch = max(1, math.ceil(len(train_ds) / (training.batch_size * world)))
    # Two evaluations per epoch: early stopping gets a say even in short runs.
    eval_every = max(1, math.ceil(steps_per_epoch / 2))
    total_steps = max(1, math.ceil(steps_per_epoch * training.epochs))
    warmup = min(100, total_steps // 20)
    learning_rate = effective_learning_rate(config)
    args = TrainingArguments(
        output_dir=str(temp / "checkpoints"),
        num_train_epochs=training.epochs,
        learning_rate=learning_rate,
        per_device_train_batch_size=training.batch_size,
        per_device_eval_batch_size=training.batch_size,
        warmup_steps=warmup,
        weight_decay=0.01,
        eval_strategy="steps",
        eval_steps=eval_every,
        save_strategy="steps",
        save_steps=eval_every,
        # Model weights only, one checkpoint (plus the best): the optimizer state of GPT-2
        # would triple the disk used while training.
        save_only_model=True,
        save_total_limit=1,
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_strategy="steps",
        logging_steps=eval_every,
        seed=training.seed,
        data_seed=training.seed,
        use_cpu=use_cpu,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        disable_tqdm=not show_progress,
        report_to="none",
        dataloader_pin_memory=not use_cpu and torch.cuda.is_available(),
    )
    # Every rank must write to the same temporary directory: rank 0's name wins.
    temp = Path(_agree_across_processes(str(temp)))
    trainer = Trainer(
        model=base.model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=base.tokenizer,
        data_collator=default_data_collator,
        callbacks=[
            EarlyStoppingCallback(early_stopping_patience=training.early_stopping_patience),
            *callbacks,
        ],
    )
    # Without a progress bar the Trainer prints its log dicts to stdout, which must carry
    # only the final JSON line (the daemon parses it); our log lines go to stderr instead.
    trainer.remove_callback(PrinterCallback)
    initial = trainer.evaluate()["eval_loss"]
    log.info("training", base=base.name, steps=total_steps, tweets=len(train_texts),
             tokens=train_ds.tokens, initial_eval_loss=round(initial, 4))  # fmt: skip
    output = trainer.train()
    model: Any = trainer.model
    if not trainer.is_world_process_zero():
        return _partial_result(name, temp, base.name, block_size, eval_texts)
    held = held_out_loss(model, base.tokenizer, eval_texts, block_size, training.batch_size)
    model.generation_config = _generation_config(config, base.tokenizer)
    samples = _samples(model, base.tokenizer, SAMPLE_COUNT, training.seed)
    state = trainer.state
    # The untrained model's eval loss starts the curve (train() resets the Trainer's history).
    history = [{"step": 0, "eval_loss": float(initial)}]
    history += [dict(entry) for entry in state.log_history]
    metrics: dict[str, Any] = {
        "version": name,
        "bot": config.bot.name,
        "base": base.name,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "train_loss": float(output.training_loss),
        "eval_loss": held.per_token,
        "eval": {
            "loss": held.per_token,
            "perplexity": held.perplexity,
            "loss_per_char": held.per_char,
            "initial_loss": float(initial),
            "best_trainer_eval_loss": state.best_metric,
        },
        "tweets": {"train": len(train_texts), "eval": len(eval_texts)},
        "tokens": {"train": train_ds.tokens, "eval": eval_ds.tokens},
        "blocks": {"train": len(train_ds), "eval": len(eval_ds)},
        "steps": state.global_step,
        "epochs_run": float(state.epoch or 0.0),
        "train_runtime_s": float(output.metrics.get("train_runtime", 0.0)),
        "planned_steps": state.max_steps,
        "stopped_early": state.global_step < state.max_steps,
        "duration_s": round(time.monotonic() - started, 2),
        "device": str(args.device),
        "processes": world,
        "hyperparameters": {
            "epochs": training.epochs,
            "learning_rate": learning_rate,
            "batch_size": training.batch_size,
            "block_size": block_size,
            "warmup_steps": warmup,
            "weight_decay": args.weight_decay,
            "eval_every_steps": eval_every,
            "early_stopping_patience": training.early_stopping_patience,
            "eval_fraction": training.eval_fraction,
            "seed": training.seed,
            "precision": precision,
        },
        "samples": [s["text"] for s in samples],
        "sample_stats": {
            "ended_on_eos": sum(s["ended"] for s in samples),
            "count": len(samples),
            "mean_tokens": sum(s["tokens"] for s in samples) / max(len(samples), 1),
        },
        "libraries": library_versions(),
        "data": data_table.to_dict() if data_table is not None else None,
        "log_history": history,
    }
    _write_version(temp, model, base.tokenizer, metrics, data_table)
    target = config.models_dir / name
    os.rename(temp, target)
    log.info("version saved", version=name, path=str(target), eval_loss=round(held.per_token, 4))
    return TrainResult(
        version=name,
        path=target,
        base=base.name,
        train_loss=float(output.training_loss),
        eval_loss=held.per_token,
        eval_loss_per_char=held.per_char,
        eval_texts=list(eval_texts),
        block_size=block_size,
        metrics=metrics,
    )


def _partial_result(
    name: str, temp: Path, base: str, block_size: int, eval_texts: list[str]
) -> TrainResult:
    return TrainResult(
        version=name, path=temp, base=base, train_loss=math.nan, eval_loss=math.nan,
        eval_loss_per_char=math.nan, eval_texts=eval_texts, block_size=block_size,
        metrics={}, is_main_process=False,
    )  # fmt: skip


def _write_version(
    temp: Path,
    model: Any,
    tokenizer: Any,
    metrics: dict[str, Any],
    data_table: DataTableLike | None,
) -> None:
    """Everything a version holds, written into the temporary directory."""
    shutil.rmtree(temp / "checkpoints", ignore_errors=True)
    temp.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(temp)
    tokenizer.save_pretrained(temp)
    has_plot = plot_losses(metrics["log_history"], temp / LOSS_PLOT)
    (temp / "metrics.json").write_text(
        json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    card = model_card(metrics, data_table.markdown() if data_table is not None else None, has_plot)
    (temp / "README.md").write_text(card, encoding="utf-8")
