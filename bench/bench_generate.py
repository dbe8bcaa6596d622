"""Benchmark: Generator.generate against transformers' pipeline, and decoding against the
memory-bandwidth floor, on one GPT-2 124M-sized model directory (random weights).

    .venv/bin/python bench/bench_generate.py [--device cpu|cuda] [--backends torch,fast]
        [--repeats 3] [--threads N] [--model DIR]

What it prints, all from one run on one model directory:
1. the time of `Generator.generate(prompt, n=8, max_new_tokens=64)` and of
   `pipeline("text-generation")` doing the same work (same prompt tokens, 8 sequences, the same
   sampling parameters, min_new_tokens=64 on both so every row decodes exactly 64 steps), and
   their ratio (pipeline / generator: > 1 means the generator is faster), in rounds that
   alternate the two so load from other users of the machine hits both alike;
2. ms per decoding step at batch 1, next to the floor set by memory bandwidth: each step must
   read every weight once, so it cannot take less than model bytes / read bandwidth (measured
   here by summing a large array, best of 5).
The machine may be shared: the load average (`uptime`) is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
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


def once(run: Callable[[], object]) -> float:
    """Seconds one call of `run` takes (GPU work included)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    run()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start


def best_of(run: Callable[[], object], repeats: int) -> float:
    """Fastest of `repeats` runs after a warm-up: on a shared machine the least disturbed one."""
    run()
    return min(once(run) for _ in range(repeats))


def read_bandwidth(device: str) -> float:
    """Bytes per second a full read of a large array achieves (sum of 256M floats = 1 GiB,
    or 256 MiB on CPU to spare shared memory)."""
    count = (256 if device.startswith("cuda") else 64) * 2**20
    data = torch.ones(count, dtype=torch.float32, device=device)
    seconds = best_of(lambda: data.sum().item(), repeats=5)
    return data.numel() * data.element_size() / seconds


def load_pipeline(
    model_dir: Path, device: str, work: dict[str, float]
) -> tuple[Callable[[], object], int, int]:
    """A callable doing the benchmark's work with the HF pipeline; parameters; model bytes."""
    from transformers import pipeline

    pipe = pipeline("text-generation", model=str(model_dir), device=device)
    params = sum(p.numel() for p in pipe.model.parameters())
    model_bytes = sum(p.numel() * p.element_size() for p in pipe.model.parameters())
    # The generator starts every candidate after an <|endoftext|>; give the pipeline the same
    # tokens so both process identical inputs.
    text = pipe.tokenizer.eos_token + PROMPT

    def run() -> object:
        return pipe(text, num_return_sequences=CANDIDATES, do_sample=True, **work)

    return run, params, model_bytes


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
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--model", type=Path, help="use this model directory instead")
    args = parser.parse_args()
    # Figures appear as they are measured, also when piped to a file.
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]

    from bot.generation import Generator

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"before: {uptime()}")
    print(f"torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model or build_gpt2_124m(Path(tmp) / "gpt2-124m-random")
        work = {"max_new_tokens": NEW_TOKENS, "min_new_tokens": NEW_TOKENS, **SAMPLING}

        run_pipeline, params, model_bytes = load_pipeline(model_dir, args.device, work)
        print(f"model: {params / 1e6:.1f}M parameters, {model_bytes / 2**20:.0f} MiB")
        contenders: dict[str, Callable[[], object]] = {"pipeline": run_pipeline}
        generators = {}
        for backend in args.backends.split(","):
            gen = Generator.load(model_dir, args.device, backend=backend)
            generators[backend] = gen
            contenders[f"Generator[{backend}]"] = partial(gen.generate, PROMPT, CANDIDATES, **work)

        # Rounds alternate the contenders, so a load spike from other users of a shared
        # machine hits all of them alike; each round's ratio compares neighbouring runs.
        for run in contenders.values():
            run()  # warm-up
        times: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(args.repeats):
            for name, run in contenders.items():
                times[name].append(once(run))
        print(f"n={CANDIDATES}, {NEW_TOKENS} new tokens each, {args.repeats} alternating rounds:")
        for name, samples in times.items():
            print(
                f"  {name:<20} median {statistics.median(samples) * 1000:8.0f} ms   "
                f"best {min(samples) * 1000:8.0f} ms"
            )
        for backend in generators:
            ratios = [
                p / g
                for p, g in zip(times["pipeline"], times[f"Generator[{backend}]"], strict=True)
            ]
            print(
                f"  ratio pipeline / Generator[{backend}]: median {statistics.median(ratios):.2f}x "
                f"(per round: {', '.join(f'{r:.2f}' for r in ratios)})"
            )

        bandwidth = read_bandwidth(args.device)
        floor_ms = model_bytes / bandwidth * 1000
        print(f"read bandwidth (best of 5): {bandwidth / 1e9:.1f} GB/s")
        print(f"floor: {model_bytes / 2**20:.0f} MiB / bandwidth = {floor_ms:.1f} ms per step")
        for backend, gen in generators.items():
            # Batch 1: 64 steps minus 1 step leaves 63 pure decoding steps (prefill and the
            # fixed per-call overhead cancel out).
            one = {**work, "max_new_tokens": 1, "min_new_tokens": 1}
            t1 = best_of(partial(gen.generate, PROMPT, 1, **one), args.repeats)
            t64 = best_of(partial(gen.generate, PROMPT, 1, **work), args.repeats)
            step_ms = (t64 - t1) / (NEW_TOKENS - 1) * 1000
            print(
                f"Generator[{backend}] batch 1: {step_ms:.1f} ms per decoding step "
                f"(floor {floor_ms:.1f} ms, {step_ms / floor_ms:.2f}x the floor)"
            )
            print_fast_floor(backend, gen, step_ms, bandwidth)
        for backend in generators:
            print_memory_held(backend, model_dir, args.device, params)
    print(f"after: {uptime()}")


def print_fast_floor(backend: str, gen: object, step_ms: float, bandwidth: float) -> None:
    """The floor for the weights the backend actually reads (int8 or fp16 for "fast" on CPU)."""
    decoder = getattr(getattr(gen, "_slot", None), "backend", None)
    decoder = getattr(decoder, "decoder", None)
    if decoder is None:
        return
    own_floor = decoder.step_bytes / bandwidth * 1000
    print(
        f"Generator[{backend}] reads {decoder.step_bytes / 2**20:.0f} MiB of weights per step "
        f"({decoder.precision} weights): floor {own_floor:.1f} ms, "
        f"{step_ms / own_floor:.2f}x that floor"
    )


def print_memory_held(backend: str, model_dir: Path, device: str, params: int) -> None:
    """RSS growth of loading the backend in a fresh process (bench/memory_probe.py)."""
    probe = Path(__file__).with_name("memory_probe.py")
    command = [sys.executable, str(probe), str(model_dir), "--backend", backend, "--device", device]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"Generator[{backend}] memory probe failed: {done.stderr.strip()[-300:]}")
        return
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    held = figures["model_held"]
    used = figures["rss_after_generate"] - figures["rss_before"] - figures["tokenizer_bytes"]
    # transformers maps the weights file and pages it in on first use, so what a running daemon
    # holds is the larger of the two figures, not the one right after load.
    steady = max(held, used)
    print(
        f"Generator[{backend}] memory held: {held / 2**20:.0f} MiB after load, "
        f"{used / 2**20:.0f} MiB after one n={CANDIDATES} call (tokenizer excluded); "
        f"weights it keeps {figures['weight_bytes'] / 2**20:.0f} MiB -> "
        f"{steady / figures['weight_bytes']:.2f}x; "
        f"{steady / (params * 2):.2f}x the fp16 size, {steady / (params * 4):.2f}x the fp32 size"
    )


if __name__ == "__main__":
    main()
