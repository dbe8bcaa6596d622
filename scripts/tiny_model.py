"""A real scratch:tiny GPT-2, trained for seconds on synthetic tweet-like sentences.

Tests (the `tiny_model_dir` fixture), benches and the demo use the same recipe, so it lives
here rather than in tests/ (benches never import the test suite).
"""

from __future__ import annotations

import random
from pathlib import Path

_SUBJECTS = ["the cat", "my dog", "the coffee", "this city", "the train", "our garden", "the sea"]
_VERBS = ["loves", "hates", "watches", "forgets", "finds", "misses", "paints"]
_OBJECTS = ["the rain", "a good book", "sunny mornings", "late trains", "fresh bread", "the moon"]
_ENDINGS = ["today", "again", "every single day", "and I get it", "honestly", "no regrets"]


def synthetic_tweets(count: int = 600, seed: int = 0) -> list[str]:
    """Deterministic tweet-like sentences: enough structure for a tiny model to learn quickly."""
    rng = random.Random(seed)
    tweets = []
    for _ in range(count):
        words = [rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS)]
        if rng.random() < 0.6:
            words.append(rng.choice(_ENDINGS))
        text = " ".join(words)
        tweets.append(text[0].upper() + text[1:] + rng.choice([".", "!", "", " #life"]))
    return tweets


def train_tiny_model(directory: Path, texts: list[str], steps: int = 80, seed: int = 0) -> Path:
    """Train a scratch:tiny model on `texts` for a few steps and save it as an HF directory."""
    import torch

    # One thread: on a small shared CPU, two contending threads run a model this size ~5x slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train_and_save(directory, texts, steps, seed)
    finally:
        torch.set_num_threads(threads)


def _train_and_save(directory: Path, texts: list[str], steps: int, seed: int) -> Path:
    import torch
    from transformers import GenerationConfig

    from bot.trainer.scratch import scratch_model, train_tokenizer

    tokenizer = train_tokenizer(texts, vocab_size=1024)
    model = scratch_model("tiny", tokenizer, seed=seed)
    eos = tokenizer.eos_token_id
    ids: list[int] = []
    for text in texts:
        ids.extend(tokenizer(text)["input_ids"])
        ids.append(eos)
    block = 64
    blocks = torch.tensor([ids[i : i + block] for i in range(0, len(ids) - block, block)])
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        batch = blocks[torch.randint(len(blocks), (16,), generator=generator)]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    model.generation_config = GenerationConfig(
        do_sample=True,
        temperature=0.9,
        top_p=0.95,
        top_k=50,
        max_new_tokens=40,
        eos_token_id=eos,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=eos,
    )
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
