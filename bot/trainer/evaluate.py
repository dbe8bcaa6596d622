"""Held-out loss of a model on a list of tweets, comparable across tokenizers.

The promotion rule compares the new version with the current one on the same held-out tweets.
Two scratch versions have different tokenizers, so a mean loss per token would compare unequal
units; the total loss divided by the characters predicted (each tweet plus its EOS) does not
depend on how the text was cut into tokens. For two models sharing a tokenizer it orders them
exactly as the per-token loss does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.trainer.data import IGNORE_INDEX, build_dataset


@dataclass(frozen=True)
class HeldOutLoss:
    """Total loss over held-out tweets, per token and per character."""

    per_token: float
    per_char: float
    tokens: int
    chars: int

    @property
    def perplexity(self) -> float:
        """exp(loss per token), capped so a diverged model still serializes to JSON."""
        return math.exp(min(self.per_token, 50.0))


def held_out_loss(
    model: Any, tokenizer: Any, texts: Sequence[str], block_size: int, batch_size: int = 16
) -> HeldOutLoss:
    """Sum of next-token losses over `texts` (packed as in training), per token and per char."""
    import torch

    dataset = build_dataset(tokenizer, texts, block_size)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(dataset), batch_size):
            items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
            batch = {k: torch.stack([it[k] for it in items]).to(device) for k in items[0]}
            logits = model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).logits.float()
            # Token t predicts token t+1; padding labels are skipped.
            labels = batch["labels"][:, 1:]
            losses = torch.nn.functional.cross_entropy(
                logits[:, :-1].reshape(-1, logits.size(-1)),
                labels.reshape(-1),
                ignore_index=IGNORE_INDEX,
                reduction="sum",
            )
            total += float(losses)
            tokens += int((labels != IGNORE_INDEX).sum())
    if was_training:
        model.train()
    chars = sum(len(t) + 1 for t in texts)
    return HeldOutLoss(
        per_token=total / max(tokens, 1), per_char=total / max(chars, 1), tokens=tokens, chars=chars
    )


def held_out_loss_of(
    model_dir: Path, texts: Sequence[str], block_size: int, device: str = "cpu"
) -> HeldOutLoss:
    """Load a saved version and measure it on `texts`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from bot.trainer.base import context_size, cpu_threads

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model: Any = AutoModelForCausalLM.from_pretrained(str(model_dir))
    model.to(device)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    with cpu_threads(model, device):
        return held_out_loss(model, tokenizer, texts, min(block_size, context_size(model)))
