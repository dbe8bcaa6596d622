"""Load-time checks of a model: finite logits, and how much a cheaper precision costs.

A model whose weights hold NaN or inf (a diverged training run, a corrupt file) still loads,
and then every generate call fails or samples garbage; `check_finite_logits` refuses it at
load, so `Generator.load` and `Generator.reload` keep it out (a reload keeps the old model).
`probe_losses` measures the fast backend's packed weights against fp32 on a probe text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from bot.errors import BotError

# The bound for packed (int8, fp16) weights: at most 2% more probe loss than fp32.
MAX_LOSS_INCREASE = 0.02
# Ordinary prose for the load-time checks: any model trained on tweets predicts it with a
# loss it should keep whatever the weights' precision.
PROBE_TEXT = (
    "Good morning! The coffee is on and the rain has finally stopped. I walked down to the "
    "harbour to watch the boats come in, and the light on the water was something else. "
    "Tomorrow I will try the new bread recipe, if the starter wakes up in time. What are you "
    "all doing this weekend? Tell me something good that happened to you today."
)
# Tokens of the probe text the finite check runs (one short forward pass at load).
FINITE_CHECK_TOKENS = 32


class NonFiniteModel(BotError):
    """The model's logits hold NaN or inf: it cannot sample, so it is not loaded."""


def probe_ids(tokenizer: Any, start_id: int, limit: int) -> list[int]:
    """The probe text's token ids after the start token, at most `limit` in all."""
    # Truncated by the tokenizer, which otherwise warns about texts longer than the model.
    text = tokenizer.encode(
        PROBE_TEXT, add_special_tokens=False, truncation=True, max_length=max(limit - 1, 1)
    )
    return [start_id, *text][:limit]


def check_finite_logits(model: Any, ids: list[int], model_dir: Path) -> None:
    """Raise NonFiniteModel (naming `model_dir`) unless the model's logits on `ids` are all
    finite. Runs on the model's own device and dtype, so an fp16 overflow counts too."""
    device = next(model.parameters()).device
    with torch.inference_mode():
        logits = model(torch.tensor([ids], device=device)).logits
        finite = bool(torch.isfinite(logits).all())
    if not finite:
        raise NonFiniteModel(
            f"{model_dir}: the model yields NaN or infinite logits (broken weights?); "
            "refusing to load it"
        )


def probe_losses(model: Any, decoder: Any, ids: list[int]) -> tuple[float, float]:
    """Mean next-token loss of `ids` under the transformers model and under the fast decoder
    (a `FastGPT2`); a non-finite loss of the decoder comes back as inf."""
    labels = torch.tensor(ids[1:])
    with torch.inference_mode():
        reference = model(torch.tensor([ids])).logits[0, :-1].float()
        decoder.start(1, len(ids))
        try:
            packed = decoder.prefill(ids, every_position=True)[:-1]
        finally:
            decoder.release()
    packed_loss = float(F.cross_entropy(packed.float(), labels))
    if not torch.isfinite(torch.tensor(packed_loss)):
        packed_loss = float("inf")
    return float(F.cross_entropy(reference, labels)), packed_loss
