"""Text generation: the Generator holds one model in memory and swaps it without a restart.

Backends: `torch` (transformers' model) and `fast` (bot.generation.fast, a small int8 decoder
for CPUs). This package knows no network and no database.
"""

from bot.generation.generator import (
    Backend,
    Candidate,
    Generator,
    Sampling,
    register_backend,
    resolve_device,
)

__all__ = ["Backend", "Candidate", "Generator", "Sampling", "register_backend", "resolve_device"]
