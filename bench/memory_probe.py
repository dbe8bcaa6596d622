"""How much memory a loaded Generator holds: the RSS growth of a fresh process across
`Generator.load(model_dir, backend=...)`, next to the bytes of the weights it keeps.

    .venv/bin/python bench/memory_probe.py MODEL_DIR [--backend auto|fast|torch] [--device cpu]

Prints one JSON line: rss_before, rss_loaded (after load), rss_after_generate (after one
n=8 x 64-token call: the per-call key/value cache is freed again), tokenizer_bytes (RSS growth
of loading the tokenizer once more), model_held = rss_loaded - rss_before - tokenizer_bytes,
weight_bytes (the weights at the precision the backend keeps them, unpadded: int8 matrices
for "fast" on CPU, the fp32 parameters for "torch"), and held_ratio = model_held / weight_bytes.
For "torch", transformers maps the safetensors file and pages weights in on first use, so only
rss_after_generate says what it holds.
A fresh process, because RSS in a process that already ran the pipeline says little.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def rss() -> int:
    """Resident set size of this process in bytes."""
    import psutil

    return int(psutil.Process().memory_info().rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    # Import everything and touch torch first, so the baseline holds the code, not the model.
    import torch
    import transformers  # noqa: F401

    import bot.generation.fast  # noqa: F401
    from bot.generation import Generator

    torch.ones(4, 4) @ torch.ones(4, 4)
    gc.collect()
    before = rss()
    gen = Generator.load(args.model_dir, args.device, backend=args.backend)
    gc.collect()
    loaded = rss()
    gen.generate("hello", n=8, max_new_tokens=64, min_new_tokens=64)
    gc.collect()
    after = rss()
    # The tokenizer is not model memory (the bench's has 48k placeholder tokens): a second
    # copy's growth estimates what the first one holds.
    from transformers import AutoTokenizer

    extra_tokenizer = AutoTokenizer.from_pretrained(args.model_dir)
    gc.collect()
    tokenizer_bytes = rss() - after
    del extra_tokenizer
    backend = gen._slot.backend
    decoder = getattr(backend, "decoder", None)
    if decoder is not None:
        weight_bytes = decoder.weight_bytes
    else:
        model = backend.model  # type: ignore[attr-defined]
        weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    print(
        json.dumps(
            {
                "backend": args.backend,
                "rss_before": before,
                "rss_loaded": loaded,
                "rss_after_generate": after,
                "tokenizer_bytes": tokenizer_bytes,
                "model_held": loaded - before - tokenizer_bytes,
                "weight_bytes": weight_bytes,
                "held_ratio": round((loaded - before - tokenizer_bytes) / weight_bytes, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
