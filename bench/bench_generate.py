"""Benchmark: Generator.generate against transformers' pipeline, and decoding against the
memory-bandwidth floor, on one GPT-2 124M-sized model directory (random weights).

    .venv/bin/python bench/bench_generate.py [--device cpu|cuda] [--backends torch,fast]
        [--repeats 3] [--model DIR]

What it prints, all from one run on one model directory:
1. the median time of `Generator.generate(prompt, n=8, max_new_tokens=64)` and of
   `pipeline("text-generation")` doing the same work (same prompt tokens, 8 sequences, the same
   sampling parameters, min_new_tokens=64 on both so every row decodes exactly 64 steps), and
   their ratio (pipeline / generator: > 1 means the generator is faster);
2. ms per decoding step at batch 1, next to the floor set by memory bandwidth: each step must
   read every weight once, so it cannot take less than model bytes / read bandwidth (measured
   here by summing a large array).
The machine may be shared: the load average (`uptime`) is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# Run from a checkout without installing: make `bot` importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch

PROMPT = "The best thing about mornings is"
NEW_TOKENS = 64
CANDIDATES = 8
SAMPLING = {"temperature": 0.9, "top_p": 0.95, "top_k": 50, "repetition_penalty": 1.1}


def build_gpt2_124m(directory: Path) -> Path:
    """Save a randomly initialised GPT-2 124M (the default GPT2Config) with a BPE tokenizer."""
    from transformers import GenerationConfig, GPT2Config, GPT2LMHeadModel

    from bot.trainer.scratch import train_tokenizer

    lines = [f"tweet number {i} about coffee, trains and the weather #{i % 7}" for i in range(400)]
    tokenizer = train_tokenizer(lines, vocab_size=2000)
    config = GPT2Config(
        vocab_size=50257,  # GPT-2's vocabulary size, so the embedding matrix is full-sized
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    # The tokenizer knows fewer ids than the model can emit; extra placeholder tokens let every
    # sampled id decode (random weights sample all 50257 ids).
    tokenizer.add_tokens([f"<t{i}>" for i in range(config.vocab_size - len(tokenizer))])
    torch.manual_seed(0)
    model = GPT2LMHeadModel(config)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def timed(run: Callable[[], object], repeats: int) -> float:
    """Median seconds of `repeats` runs after one warm-up run."""
    run()
    samples = []
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def read_bandwidth(device: str) -> float:
    """Bytes per second a full read of a large array achieves (sum of 256M floats = 1 GiB,
    or 256 MiB on CPU to spare shared memory)."""
    count = (256 if device.startswith("cuda") else 64) * 2**20
    data = torch.ones(count, dtype=torch.float32, device=device)
    seconds = timed(lambda: data.sum().item(), repeats=5)
    return data.numel() * data.element_size() / seconds


def time_pipeline(
    model_dir: Path, device: str, work: dict[str, float], repeats: int
) -> tuple[float, int, int]:
    """Median seconds of the HF pipeline doing the benchmark's work; parameters; model bytes."""
    from transformers import pipeline

    pipe = pipeline("text-generation", model=str(model_dir), device=device)
    params = sum(p.numel() for p in pipe.model.parameters())
    model_bytes = sum(p.numel() * p.element_size() for p in pipe.model.parameters())
    # The generator starts every candidate after an <|endoftext|>; give the pipeline the same
    # tokens so both process identical inputs.
    text = pipe.tokenizer.eos_token + PROMPT

    def run() -> object:
        return pipe(text, num_return_sequences=CANDIDATES, do_sample=True, **work)

    return timed(run, repeats), params, model_bytes


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return f"load average: {os.getloadavg()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--backends", default="torch", help="comma-separated, e.g. torch,fast")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", type=Path, help="use this model directory instead")
    args = parser.parse_args()
    # Figures appear as they are measured, also when piped to a file.
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]

    from bot.generation import Generator

    print(f"before: {uptime()}")
    print(f"torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model or build_gpt2_124m(Path(tmp) / "gpt2-124m-random")
        work = {"max_new_tokens": NEW_TOKENS, "min_new_tokens": NEW_TOKENS, **SAMPLING}

        pipeline_s, params, model_bytes = time_pipeline(model_dir, args.device, work, args.repeats)
        print(f"model: {params / 1e6:.1f}M parameters, {model_bytes / 2**20:.0f} MiB")
        print(
            f"pipeline(text-generation), n={CANDIDATES}, {NEW_TOKENS} tokens: "
            f"{pipeline_s * 1000:.0f} ms"
        )
        bandwidth = read_bandwidth(args.device)
        floor_ms = model_bytes / bandwidth * 1000
        print(f"read bandwidth: {bandwidth / 1e9:.1f} GB/s -> floor {floor_ms:.1f} ms per step")

        for backend in args.backends.split(","):
            gen = Generator.load(model_dir, args.device, backend=backend)
            gen_s = timed(lambda g=gen: g.generate(PROMPT, n=CANDIDATES, **work), args.repeats)
            print(
                f"Generator[{backend}].generate, n={CANDIDATES}, {NEW_TOKENS} tokens: "
                f"{gen_s * 1000:.0f} ms  ratio pipeline/generator = {pipeline_s / gen_s:.2f}x"
            )
            # Batch 1: the time of 64 steps minus the time of 1 step leaves 63 pure decoding
            # steps (prefill and fixed per-call overhead cancel out).
            one = {**work, "max_new_tokens": 1, "min_new_tokens": 1}
            t1 = timed(lambda g=gen, o=one: g.generate(PROMPT, n=1, **o), args.repeats)
            t64 = timed(lambda g=gen: g.generate(PROMPT, n=1, **work), args.repeats)
            step_ms = (t64 - t1) / (NEW_TOKENS - 1) * 1000
            print(
                f"Generator[{backend}] batch 1: {step_ms:.1f} ms per decoding step "
                f"(floor {floor_ms:.1f} ms, {step_ms / floor_ms:.1f}x the floor)"
            )
            del gen
    print(f"after: {uptime()}")


if __name__ == "__main__":
    main()
