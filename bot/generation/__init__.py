"""Text generation: the Generator holds one model in memory and swaps it without a restart.

Modules: generator (Generator, backend choice, reload), sampling (parameters and the fast
sampler), backend (what a backend is), torch_backend (transformers' `generate()`), fast (the
int8 GPT-2 decoder for CPUs), probe (load-time checks: finite logits, packed-weight quality).
This package knows no network and no database.
"""

from bot.generation.backend import Backend, Candidate
from bot.generation.generator import Generator, register_backend, resolve_device
from bot.generation.sampling import Sampling
from bot.generation.torch_backend import TorchBackend

__all__ = [
    "Backend",
    "Candidate",
    "Generator",
    "Sampling",
    "TorchBackend",
    "register_backend",
    "resolve_device",
]
