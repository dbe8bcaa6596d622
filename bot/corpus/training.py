"""From stored tweets to training text: verdicts per source, weighting, novelty reference."""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from bot.config import Config
from bot.corpus.rules import CleaningRules, Verdict, clean_tweets, normalize
from bot.store import Store


def corpus_sources(store: Store, config: Config) -> list[str]:
    """The sources the bot learns from: the configured ones, else every account in the store."""
    if config.source.usernames:
        return list(config.source.usernames)
    return store.tweet_usernames()


def source_verdicts(
    store: Store, username: str, rules: CleaningRules
) -> list[tuple[dict[str, Any], Verdict]]:
    """Each stored tweet of one source (oldest first) with its verdict under `rules`."""
    rows = [row.to_dict() for row in store.tweets(username)]
    return list(zip(rows, clean_tweets(rows, rules), strict=True))


def apply_rules(store: Store, config: Config) -> None:
    """Recompute and store the verdict (clean_text, kept, drop_reason) of every stored tweet."""
    rules = CleaningRules.from_config(config)
    usernames = store.tweet_usernames()
    updates = []
    for username in usernames:
        for row, verdict in source_verdicts(store, username, rules):
            updates.append(
                {
                    "network": row["network"],
                    "id": row["id"],
                    "clean_text": verdict.text if verdict.kept else None,
                    "kept": int(verdict.kept),
                    "drop_reason": verdict.reason,
                }
            )
    store.update_verdicts(updates)


def weighted_texts(
    texts_by_source: Mapping[str, Sequence[str]],
    weights: Mapping[str, float],
    seed: int,
) -> list[str]:
    """Oversample smaller sources so each contributes about its weight's share; never drops.

    The source with the most texts per unit of weight sets the scale and is used once; every
    other source is repeated whole as often as fits and topped up with a seeded sample. The
    inputs are read, never changed (huggingtweets extended its own list on every epoch).
    """
    sizes = {name: len(texts) for name, texts in texts_by_source.items() if texts}
    if not sizes:
        return []
    weight = {name: weights.get(name, 1.0) for name in sizes}
    unit = max(sizes[name] / weight[name] for name in sizes)
    combined: list[str] = []
    for name, texts in texts_by_source.items():
        if not texts:
            continue
        target = max(len(texts), math.floor(unit * weight[name] + 0.5))
        whole, rest = divmod(target, len(texts))
        combined.extend(list(texts) * whole)
        # crc32, not hash(): str hashes change between interpreter runs.
        rng = random.Random(seed ^ zlib.crc32(name.lower().encode()))
        combined.extend(rng.sample(list(texts), rest))
    return combined


def _weights(config: Config) -> dict[str, float]:
    return {name.lower(): w for name, w in config.source.weights.items()}


def training_texts(store: Store, config: Config) -> list[str]:
    """The clean kept texts of every source, weighted by oversampling; deterministic.

    Each source's texts are in chronological order, sources in config order; mixing and the
    train/eval split are the trainer's job.
    """
    rules = CleaningRules.from_config(config)
    by_source: dict[str, list[str]] = {}
    for username in corpus_sources(store, config):
        texts = [v.text for _, v in source_verdicts(store, username, rules) if v.kept]
        by_source[username.lower()] = texts
    if len(by_source) == 1:
        return next(iter(by_source.values()))
    return weighted_texts(by_source, _weights(config), config.training.seed)


def source_texts(store: Store) -> list[str]:
    """Every stored source tweet's text, normalized like training text (for the novelty filter).

    Retweets and dropped tweets are included: a generated tweet must not copy any of them.
    """
    seen: set[str] = set()
    texts = []
    for raw in store.tweet_texts():
        text = normalize(raw or "")
        if text and text not in seen:
            seen.add(text)
            texts.append(text)
    return texts
