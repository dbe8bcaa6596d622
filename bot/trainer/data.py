"""Training data: a seeded train/eval split by tweet, and EOS-joined tweets packed into blocks.

Tweets are split before packing, so no tweet straddles train and eval. Blocks carry their own
labels (a copy of the input ids, -100 on padding), so no collator ever masks the EOS tokens the
model must learn to end a tweet with (DESIGN.md: the pad == eos trap).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

IGNORE_INDEX = -100  # label value the loss skips


@dataclass(frozen=True)
class Split:
    """Tweets for training and tweets held out to measure eval loss."""

    train: list[str]
    eval: list[str]


def _bucket(text: str, seed: int) -> float:
    # crc32, not hash(): str hashes change between interpreter runs, the split must not.
    return zlib.crc32(f"{seed}\x00{text}".encode()) / 2**32


def split_texts(texts: Sequence[str], eval_fraction: float, seed: int) -> Split:
    """Hold out about `eval_fraction` of the distinct tweets, chosen by a seeded hash of the text.

    A tweet's side depends only on its text and the seed, so a tweet held out once stays held
    out when the corpus grows, and the current model has not trained on the next run's eval
    set. Copies of one tweet (oversampled sources) all land on the same side. Both sides get at
    least one distinct tweet whenever there are two.
    """
    distinct = sorted(set(texts), key=lambda t: (_bucket(t, seed), t))
    held = {t for t in distinct if _bucket(t, seed) < eval_fraction}
    if len(distinct) >= 2 and not held:
        held = {distinct[0]}
    elif len(distinct) >= 2 and len(held) == len(distinct):
        held = set(distinct[: max(1, math.floor(len(distinct) * eval_fraction))])
    return Split(
        train=[t for t in texts if t not in held],
        eval=[t for t in texts if t in held],
    )


def shuffled(texts: Sequence[str], seed: int) -> list[str]:
    """A seeded shuffle, so blocks mix old and new tweets (and sources) without changing inputs."""
    import random

    order = list(texts)
    random.Random(seed).shuffle(order)
    return order


def token_stream(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    """Every tweet's token ids, each followed by EOS (huggingtweets joined with <|endoftext|>)."""
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("the tokenizer has no end-of-text token")
    ids: list[int] = []
    for encoded in tokenizer(list(texts), add_special_tokens=False)["input_ids"]:
        ids.extend(encoded)
        ids.append(eos)
    return ids


def pack_blocks(ids: Sequence[int], block_size: int, pad_id: int) -> list[dict[str, list[int]]]:
    """Cut a token stream into blocks of `block_size`; the last short block is padded.

    Padding is masked out of attention and loss, so nothing is thrown away and a small eval set
    still yields a block.
    """
    blocks = []
    for start in range(0, len(ids), block_size):
        chunk = list(ids[start : start + block_size])
        pad = block_size - len(chunk)
        blocks.append(
            {
                "input_ids": chunk + [pad_id] * pad,
                "attention_mask": [1] * len(chunk) + [0] * pad,
                "labels": chunk + [IGNORE_INDEX] * pad,
            }
        )
    return blocks


class BlockDataset:
    """Packed blocks as a map-style dataset of tensors (what `Trainer` iterates over)."""

    def __init__(self, blocks: list[dict[str, list[int]]]) -> None:
        self.blocks = blocks

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, index: int) -> dict[str, Any]:
        import torch

        return {k: torch.tensor(v, dtype=torch.long) for k, v in self.blocks[index].items()}

    @property
    def tokens(self) -> int:
        """Real (unpadded) tokens in the dataset."""
        return sum(sum(b["attention_mask"]) for b in self.blocks)


def build_dataset(tokenizer: Any, texts: Sequence[str], block_size: int) -> BlockDataset:
    """Tokenize, join with EOS, and pack `texts` into a dataset of blocks."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return BlockDataset(pack_blocks(token_stream(tokenizer, texts), block_size, pad))
