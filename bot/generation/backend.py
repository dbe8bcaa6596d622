"""What a generation backend is: a loaded model version that samples candidates."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.generation.sampling import Sampling


@dataclass(frozen=True)
class Candidate:
    """One generated text and the model's mean log-probability of its tokens (higher = surer)."""

    text: str
    mean_logprob: float
    tokens: int


class Backend(Protocol):
    """A loaded model that samples candidates; one instance per model version."""

    model_dir: Path
    device: str

    def sample(
        self, prompt: str | None, context: str | None, n: int, sampling: Sampling, scored: bool
    ) -> list[Candidate]:
        """n candidates in one batch. Each is `prompt` plus its continuation; `context` (a
        tweet being answered) precedes the candidate but is not part of it. Without `scored`
        the backend may skip computing log-probs (mean_logprob is then 0.0)."""
        ...

    def close(self) -> None:
        """Free the model's memory (called once no generation uses it any more)."""
        ...
