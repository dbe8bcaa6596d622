"""Model fixtures: a real scratch:tiny GPT-2 directory, trained for seconds, for other areas' tests.

`tiny_model_dir` is what the generator and daemon tests load: a plain Hugging Face directory
(config, safetensors weights, tokenizer, generation defaults) that
`transformers.pipeline("text-generation", model=DIR)` loads offline.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.tiny_model import synthetic_tweets, train_tiny_model

__all__ = ["synthetic_tweets", "tiny_model_dir", "train_tiny_model"]


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained scratch:tiny model directory (session-scoped; treat it as read-only)."""
    return train_tiny_model(tmp_path_factory.mktemp("tiny_model") / "model", synthetic_tweets())
