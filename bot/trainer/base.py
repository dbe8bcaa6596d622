"""The base model named by `[model] base`: a hub id, a local directory, or scratch:tiny|small."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import BotError, UsageError

SCRATCH_PREFIX = "scratch:"


@dataclass
class BaseModel:
    """A model and tokenizer ready to train, and where they came from."""

    model: Any
    tokenizer: Any
    name: str  # the configured `[model] base`, recorded in metrics and the model card
    kind: str  # "scratch" | "local" | "hub"


def is_scratch(base: str) -> bool:
    """Whether `base` names a model trained from scratch."""
    return base.startswith(SCRATCH_PREFIX)


def _looks_like_path(base: str) -> bool:
    # Hub ids are "name" or "org/name"; anything starting like a path is meant as a directory.
    return base.startswith(("/", "./", "../", "~")) or base.count("/") > 1 or "\\" in base


def load_base(base: str, train_texts: Sequence[str], *, base_dir: Path, seed: int) -> BaseModel:
    """Load or build the base model; a base that cannot be loaded is one clear BotError."""
    if is_scratch(base):
        from bot.trainer.scratch import SHAPES, scratch_model, shape_of, train_tokenizer

        size = base.removeprefix(SCRATCH_PREFIX)
        if size not in SHAPES:
            raise UsageError(
                f"[model] base: unknown scratch size {size!r} (use scratch:tiny or scratch:small)"
            )
        # Fitted to the training side only: the eval tweets stay unseen, tokenizer included.
        tokenizer = train_tokenizer(train_texts, shape_of(size).vocab_size)
        return BaseModel(scratch_model(size, tokenizer, seed=seed), tokenizer, base, "scratch")

    local = (base_dir / Path(base).expanduser()).resolve()
    if local.is_dir():
        return _from_pretrained(str(local), base, "local")
    if _looks_like_path(base):
        raise UsageError(f"[model] base: {base!r} is not a directory ({local} does not exist)")
    return _from_pretrained(base, base, "hub")


def _from_pretrained(source: str, name: str, kind: str) -> BaseModel:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source)
    except Exception as exc:
        # OSError when offline or unknown, ValueError for a directory that is not a model:
        # either way the user must point at something loadable.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BotError(
            f"cannot load base model {name!r}: it needs the Hugging Face Hub or a local path "
            f"to a saved model ({reason[:200]})"
        ) from None
    if tokenizer.eos_token_id is None:
        raise BotError(f"base model {name!r} has no end-of-text token; tweets could not end")
    if tokenizer.pad_token_id is None:
        # Safe here: labels are precomputed (padding is -100), no collator masks pad == eos.
        tokenizer.pad_token = tokenizer.eos_token
    return BaseModel(model, tokenizer, name, kind)


def context_size(model: Any) -> int:
    """The longest sequence the model accepts (GPT-2: n_positions)."""
    config = model.config
    for attribute in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(config, attribute, None)
        if isinstance(value, int) and value > 0:
            return value
    return 1024


# Below this many parameters one CPU thread beats several: the matrices are too small to
# split, and on a busy machine contending threads made scratch:tiny ~5x (generation ~50x)
# slower in our measurements.
SMALL_MODEL_PARAMETERS = 20_000_000


@contextlib.contextmanager
def cpu_threads(model: Any, device: str) -> Iterator[None]:
    """Train a small model on one CPU thread; leave GPUs and big models alone."""
    import torch

    on_cpu = device == "cpu" or not torch.cuda.is_available()
    small = sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMETERS
    if not (on_cpu and small) or "OMP_NUM_THREADS" in os.environ:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
