"""Scratch models: the corpus-fitted tokenizer, the random GPT-2, and the shared tiny fixture."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.trainer.scratch import EOS_TOKEN, PAD_TOKEN, scratch_model, shape_of, train_tokenizer
from tests.fixtures_model import synthetic_tweets


def test_tokenizer_has_separate_pad_and_eos_and_round_trips_any_text() -> None:
    tokenizer = train_tokenizer(synthetic_tweets(200), vocab_size=600)
    assert tokenizer.eos_token == EOS_TOKEN
    assert tokenizer.pad_token == PAD_TOKEN
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    # Byte-level: text the corpus never showed (emoji, accents, CJK) still round-trips.
    text = "Café ☕ 東京 🐈 #life"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text
    # Merges were learned from the corpus: a frequent word is fewer tokens than its bytes.
    assert len(tokenizer(" trains")["input_ids"]) < len(" trains")
    assert len(tokenizer) <= 600


def test_tokenizer_refuses_a_vocabulary_too_small_for_the_bytes() -> None:
    with pytest.raises(ValueError, match="at least 300"):
        train_tokenizer(["a b c"], vocab_size=100)


def test_scratch_model_sizes_follow_the_tokenizer() -> None:
    tokenizer = train_tokenizer(synthetic_tweets(200), vocab_size=600)
    tiny = scratch_model("tiny", tokenizer)
    small = scratch_model("small", tokenizer)
    assert tiny.config.vocab_size == len(tokenizer)
    assert (tiny.config.n_layer, tiny.config.n_embd, tiny.config.n_head) == (2, 128, 4)
    assert (small.config.n_layer, small.config.n_embd) == (4, 256)
    assert tiny.config.eos_token_id == tokenizer.eos_token_id
    assert tiny.config.pad_token_id == tokenizer.pad_token_id
    assert tokenizer.model_max_length == shape_of("small").n_positions
    assert sum(p.numel() for p in small.parameters()) > sum(p.numel() for p in tiny.parameters())


def test_scratch_model_is_reproducible_by_seed() -> None:
    tokenizer = train_tokenizer(synthetic_tweets(200), vocab_size=600)
    a, b = scratch_model("tiny", tokenizer, seed=3), scratch_model("tiny", tokenizer, seed=3)
    assert a.transformer.wte.weight.equal(b.transformer.wte.weight)


def test_unknown_scratch_size_names_the_choices() -> None:
    with pytest.raises(ValueError, match="small or tiny"):
        shape_of("huge")


def test_tiny_model_dir_loads_with_pipeline_and_stops_on_eos(tiny_model_dir: Path) -> None:
    from transformers import pipeline, set_seed

    for name in ("config.json", "model.safetensors", "tokenizer.json", "generation_config.json"):
        assert (tiny_model_dir / name).is_file(), name
    generator = pipeline("text-generation", model=str(tiny_model_dir))
    set_seed(0)
    outputs = generator("The cat", num_return_sequences=4, return_full_text=True)
    texts = [o["generated_text"] for o in outputs]
    assert all(t.startswith("The cat") for t in texts)
    # Tweets in the fixture are 4-7 words: a model that learned EOS stops near there, far
    # below the saved max_new_tokens (40), instead of running on.
    tokenizer = generator.tokenizer
    assert all(len(tokenizer(t)["input_ids"]) < 30 for t in texts), texts
