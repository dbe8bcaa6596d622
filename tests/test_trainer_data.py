"""Training data: the seeded split by tweet, EOS joining and packing with precomputed labels."""

from __future__ import annotations

from bot.trainer.data import IGNORE_INDEX, build_dataset, pack_blocks, split_texts, token_stream
from bot.trainer.scratch import train_tokenizer
from tests.fixtures_model import synthetic_tweets


def test_split_is_deterministic_and_keeps_copies_of_a_tweet_together() -> None:
    texts = [f"tweet {i} about the sea" for i in range(200)] + ["a repeated tweet"] * 5
    first = split_texts(texts, 0.2, seed=1)
    assert first == split_texts(texts, 0.2, seed=1)
    assert len(first.train) + len(first.eval) == len(texts)
    assert not set(first.train) & set(first.eval)
    assert 20 <= len(set(first.eval)) <= 60  # about 20% of 201 distinct tweets
    assert split_texts(texts, 0.2, seed=2).eval != first.eval


def test_a_held_out_tweet_stays_held_out_when_the_corpus_grows() -> None:
    old = [f"old tweet number {i}" for i in range(300)]
    new = old + [f"new tweet number {i}" for i in range(300)]
    before = set(split_texts(old, 0.1, seed=5).eval)
    after = set(split_texts(new, 0.1, seed=5).eval)
    assert before <= after


def test_both_sides_get_a_tweet_even_when_the_fraction_rounds_to_nothing() -> None:
    split = split_texts(["one tweet here", "another tweet there"], 0.01, seed=0)
    assert len(split.train) == 1 and len(split.eval) == 1


def test_tweets_end_with_eos_and_eos_labels_survive_packing_when_pad_equals_eos() -> None:
    tokenizer = train_tokenizer(synthetic_tweets(100), vocab_size=400)
    # The trap: a tokenizer whose pad is its eos (as GPT-2's usually is made to be).
    tokenizer.pad_token = tokenizer.eos_token
    eos = tokenizer.eos_token_id
    ids = token_stream(tokenizer, ["The cat loves the rain", "My dog misses the moon"])
    assert ids.count(eos) == 2 and ids[-1] == eos
    blocks = pack_blocks(ids, 8, pad_id=eos)
    labels = [label for block in blocks for label in block["labels"]]
    # Every EOS is a label the model learns; only the padding after the stream is ignored.
    assert labels.count(eos) == 2
    assert labels[: len(ids)] == ids
    assert all(label == IGNORE_INDEX for label in labels[len(ids) :])
    assert all(len(b["input_ids"]) == 8 for b in blocks)
    last = blocks[-1]
    padded = 8 - sum(last["attention_mask"])
    assert padded == len(blocks) * 8 - len(ids)


def test_dataset_counts_real_tokens_only() -> None:
    tokenizer = train_tokenizer(synthetic_tweets(100), vocab_size=400)
    texts = synthetic_tweets(10)
    dataset = build_dataset(tokenizer, texts, 16)
    assert dataset.tokens == len(token_stream(tokenizer, texts))
    item = dataset[0]
    assert item["input_ids"].shape == item["labels"].shape == (16,)
