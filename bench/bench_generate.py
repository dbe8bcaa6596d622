"""Benchmark: Generator.generate against transformers' pipeline and CTranslate2 int8, at
top_k = 0 (nucleus only) and top_k = 50, on one GPT-2 124M-sized model (random weights).

    .venv/bin/python bench/bench_generate.py [--device cpu|cuda] [--repeats 3] [--threads N]
        [--backends torch,fast,auto] [--model DIR] [--details]

What it prints, all from one run on one model directory:
1. for each top_k (0 and 50), the time of 8 candidates x 64 new tokens (temperature 0.9,
   top_p 0.95, repetition_penalty 1.1, min_new_tokens = 64 everywhere so every row decodes
   exactly 64 steps, the same prompt tokens) by `pipeline("text-generation")`, by
   `Generator[backend]` for each backend, and by CTranslate2's int8 Generator (the model
   converted in the temp dir; one thread, and as many as torch uses when that is more):
   the median of alternating rounds, and the median of each round's ratio pipeline / contender
   (> 1: faster than the pipeline). Rounds alternate every contender so load from other
   users of a shared machine hits all of them alike;
2. with --details: ms per decoding step at batch 1 against the memory-bandwidth floor, and the
   memory each backend holds (bench/memory_probe.py in a fresh process).
The load average (`uptime`) is printed before and after.
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
from typing import Any

# Run from a checkout without installing: make `bot` importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch

PROMPT = "The best thing about mornings is"
NEW_TOKENS = 64
CANDIDATES = 8
SAMPLING = {"temperature": 0.9, "top_p": 0.95, "repetition_penalty": 1.1}
TOP_KS = (0, 50)


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
    model_dir: Path, device: str
) -> tuple[Callable[[dict[str, float]], object], int, int]:
    """A callable doing the benchmark's work with the HF pipeline; parameters; model bytes."""
    from transformers import pipeline

    pipe = pipeline("text-generation", model=str(model_dir), device=device)
    params = sum(p.numel() for p in pipe.model.parameters())
    model_bytes = sum(p.numel() * p.element_size() for p in pipe.model.parameters())
    # The generator starts every candidate after an <|endoftext|>; give the pipeline the same
    # tokens so both process identical inputs.
    text = pipe.tokenizer.eos_token + PROMPT

    def run(work: dict[str, float]) -> object:
        return pipe(text, num_return_sequences=CANDIDATES, do_sample=True, **work)

    return run, params, model_bytes


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return f"load average: {os.getloadavg()}"


def load_ctranslate2(
    model_dir: Path, work_dir: Path, device: str, threads: int
) -> Callable[[dict[str, float]], object]:
    """CTranslate2's int8 Generator on the same model (converted once into `work_dir`): a
    callable doing the benchmark's work for given sampling parameters."""
    import ctranslate2
    from ctranslate2.converters import TransformersConverter
    from transformers import AutoTokenizer

    converted = work_dir / "ctranslate2-int8"
    if not converted.exists():
        TransformersConverter(str(model_dir)).convert(str(converted), quantization="int8")
    compute_type = "int8_float16" if device.startswith("cuda") else "int8"
    generator = ctranslate2.Generator(
        str(converted),
        device=device.split(":")[0],
        compute_type=compute_type,
        intra_threads=threads,
    )
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    # The same prompt tokens as the others: <|endoftext|> then the prompt.
    start = tokenizer.convert_ids_to_tokens(
        [tokenizer.eos_token_id, *tokenizer.encode(PROMPT, add_special_tokens=False)]
    )

    def run(work: dict[str, float]) -> object:
        return generator.generate_batch(
            [start] * CANDIDATES,
            max_length=NEW_TOKENS,  # new tokens: the prompt is not part of the result
            min_length=NEW_TOKENS,
            sampling_topk=int(work["top_k"]),  # 0: the whole vocabulary
            sampling_topp=work["top_p"],
            sampling_temperature=work["temperature"],
            repetition_penalty=work["repetition_penalty"],
            include_prompt_in_result=False,
            end_token=tokenizer.eos_token,
        )

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--backends", default="torch,fast,auto", help="comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--model", type=Path, help="use this model directory instead")
    parser.add_argument("--details", action="store_true", help="batch-1 floor and memory too")
    args = parser.parse_args()
    # Figures appear as they are measured, also when piped to a file.
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]

    from bot.generation import Generator

    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    print(f"before: {uptime()}")
    print(f"torch {torch.__version__}, device {args.device}, threads {threads}")
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model or build_gpt2_124m(Path(tmp) / "gpt2-124m-random")
        works = {
            top_k: {
                "max_new_tokens": NEW_TOKENS,
                "min_new_tokens": NEW_TOKENS,
                "top_k": top_k,
                **SAMPLING,
            }
            for top_k in TOP_KS
        }
        run_pipeline, params, model_bytes = load_pipeline(model_dir, args.device)
        print(f"model: {params / 1e6:.1f}M parameters, {model_bytes / 2**20:.0f} MiB")
        contenders: dict[str, Callable[[dict[str, float]], object]] = {"pipeline": run_pipeline}
        generators = {}
        for backend in args.backends.split(","):
            gen = Generator.load(model_dir, args.device, backend)
            generators[backend] = gen
            name = f"Generator[{backend}]"
            print(f"{name}: {gen.backend_in_use} on {gen.device}")
            contenders[name] = partial(_generate, gen)
        for ct2_threads in sorted({1, threads}):
            contenders[f"CTranslate2 int8, {ct2_threads} thr"] = load_ctranslate2(
                model_dir, Path(tmp), args.device, ct2_threads
            )

        # Rounds alternate the contenders, so a load spike from other users of a shared
        # machine hits all of them alike; each round's ratio compares neighbouring runs.
        for run in contenders.values():
            for work in works.values():
                run(work)  # warm-up
        times = {(name, k): [] for name in contenders for k in TOP_KS}
        for _ in range(args.repeats):
            for top_k, work in works.items():
                for name, run in contenders.items():
                    times[(name, top_k)].append(once(partial(run, work)))
        print(
            f"n={CANDIDATES} x {NEW_TOKENS} new tokens, {args.repeats} alternating rounds, "
            "median seconds and median of the per-round ratios to the pipeline:"
        )
        header = "".join(f" | top_k={k:<2} s   ratio" for k in TOP_KS)
        print(f"  {'contender':<26}{header}")
        for name in contenders:
            cells = []
            for top_k in TOP_KS:
                samples = times[(name, top_k)]
                ratios = [p / c for p, c in zip(times[("pipeline", top_k)], samples, strict=True)]
                cells.append(
                    f" | {statistics.median(samples):9.2f} {statistics.median(ratios):6.2f}x"
                )
            print(f"  {name:<26}{''.join(cells)}")
        for name in contenders:
            for top_k in TOP_KS:
                ratios = [
                    p / c
                    for p, c in zip(times[("pipeline", top_k)], times[(name, top_k)], strict=True)
                ]
                print(f"  rounds {name} top_k={top_k}: " + ", ".join(f"{r:.2f}x" for r in ratios))
        if args.details:
            print_details(
                generators, model_dir, args.device, params, model_bytes, works[50], args.repeats
            )
    print(f"after: {uptime()}")


def _generate(gen: Any, work: dict[str, float]) -> object:
    return gen.generate(PROMPT, CANDIDATES, **work)


def print_details(
    generators: dict[str, Any],
    model_dir: Path,
    device: str,
    params: int,
    model_bytes: int,
    work: dict[str, float],
    repeats: int,
) -> None:
    """Batch-1 ms per step against the bandwidth floor, and the memory each backend holds."""
    bandwidth = read_bandwidth(device)
    floor_ms = model_bytes / bandwidth * 1000
    print(f"read bandwidth (best of 5): {bandwidth / 1e9:.1f} GB/s")
    print(f"floor: {model_bytes / 2**20:.0f} MiB / bandwidth = {floor_ms:.1f} ms per step")
    for backend, gen in generators.items():
        # Batch 1: 64 steps minus 1 step leaves 63 pure decoding steps (prefill and the
        # fixed per-call overhead cancel out).
        one = {**work, "max_new_tokens": 1, "min_new_tokens": 1}
        t1 = best_of(partial(gen.generate, PROMPT, 1, **one), repeats)
        t64 = best_of(partial(gen.generate, PROMPT, 1, **work), repeats)
        step_ms = (t64 - t1) / (NEW_TOKENS - 1) * 1000
        print(
            f"Generator[{backend}] batch 1: {step_ms:.1f} ms per decoding step "
            f"(floor {floor_ms:.1f} ms, {step_ms / floor_ms:.2f}x the floor)"
        )
        print_fast_floor(backend, gen, step_ms, bandwidth)
    for backend in generators:
        print_memory_held(backend, model_dir, device, params)


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
