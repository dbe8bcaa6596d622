"""GPT-2 models trained from scratch: a byte-level BPE tokenizer fitted to the corpus, random init.

`scratch:tiny` and `scratch:small` need nothing from the Hugging Face Hub, so they serve offline
installs, the tests and the demo. The architecture is plain GPT-2, so the saved directory loads
with `pipeline("text-generation", model=DIR)` like any fine-tuned `gpt2`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

EOS_TOKEN = "<|endoftext|>"
# A pad token of its own: with pad == eos, the language-modelling collator masks every EOS label
# and the model never learns to end a tweet (see DESIGN.md).
PAD_TOKEN = "<|pad|>"

ScratchSize = Literal["tiny", "small"]


@dataclass(frozen=True)
class ScratchShape:
    """The GPT-2 hyper-parameters of one scratch size."""

    n_layer: int
    n_embd: int
    n_head: int
    n_positions: int
    vocab_size: int


SHAPES: dict[str, ScratchShape] = {
    # Seconds per epoch on two CPU cores for a few thousand tweets.
    "tiny": ScratchShape(n_layer=2, n_embd=128, n_head=4, n_positions=128, vocab_size=4096),
    "small": ScratchShape(n_layer=4, n_embd=256, n_head=4, n_positions=256, vocab_size=8192),
}


def shape_of(size: str) -> ScratchShape:
    """The shape for "tiny" or "small"; anything else is a ValueError naming the choices."""
    try:
        return SHAPES[size]
    except KeyError:
        raise ValueError(
            f"unknown scratch size {size!r} (choose {' or '.join(sorted(SHAPES))})"
        ) from None


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Fit a byte-level BPE tokenizer (GPT-2 style) to `texts`.

    Byte-level means every string is encodable (emoji, any script) with no unknown token. The
    vocabulary may come out smaller than `vocab_size` when the text has fewer merges to offer.
    """
    if vocab_size < 300:
        # 256 byte symbols + the special tokens must fit, with room for some merges.
        raise ValueError(f"vocab_size must be at least 300 (got {vocab_size})")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[EOS_TOKEN, PAD_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token=EOS_TOKEN,
        bos_token=EOS_TOKEN,
        unk_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
    )


def scratch_model(size: str, tokenizer: PreTrainedTokenizerFast, seed: int = 0) -> GPT2LMHeadModel:
    """A randomly initialised GPT-2 of the given size, sized to `tokenizer`'s vocabulary."""
    import torch

    shape = shape_of(size)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=shape.n_positions,
        n_embd=shape.n_embd,
        n_layer=shape.n_layer,
        n_head=shape.n_head,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    # The seed makes the initial weights, and so a whole scratch run, reproducible.
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config)
    tokenizer.model_max_length = shape.n_positions
    return model
