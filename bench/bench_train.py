"""Benchmark: training throughput on the sample corpus (tokens/s, seconds per epoch).

    .venv/bin/python bench/bench_train.py [--device cpu|cuda|auto] [--epochs 4]
        [--gpt2-steps 5] [--skip-gpt2]

1. `scratch:tiny`, trained for real by `train_version` with the default [training] settings
   (4 epochs, batch 8, blocks of 128) on the kept tweets of the sample archive
   (scripts/make_sample_archive.py): wall time of the whole run, train tokens/s, seconds per
   epoch, eval loss before and after, and how many unprompted samples ended on EOS.
2. A GPT-2 124M-sized model (12 layers, 768 wide, GPT-2's 50,257-token vocabulary) with random
   weights, run for a few optimizer steps through the same HF `Trainer` on the same packed
   blocks: tokens/s and the seconds an epoch of the sample corpus would take at that rate.
The machine may be shared: the load average is printed before and after each part.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} CPUs"


def sample_corpus(root: Path) -> tuple[Any, list[str], Any]:
    """Import the sample archive into a fresh store; return (config, kept texts, data table)."""
    import importlib.util

    from bot.config import load_config
    from bot.corpus import data_table, import_archive, training_texts
    from bot.store import Store

    spec = importlib.util.spec_from_file_location("sample", REPO / "scripts/make_sample_archive.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    archive = module.build_archive(root / "sample.zip")
    (root / "config.toml").write_text('[bot]\nname = "bench"\n[model]\nbase = "scratch:tiny"\n')
    config = load_config(root / "config.toml")
    store = Store(config.db_path)
    import_archive(store, archive, config=config)
    texts, table = training_texts(store, config), data_table(store, config)
    store.close()
    return config, texts, table


def bench_tiny(config: Any, texts: list[str], table: Any, epochs: float) -> dict[str, Any]:
    from bot.trainer.train import train_version

    config = config.model_copy(
        update={"training": config.training.model_copy(update={"epochs": epochs})}
    )
    started = time.perf_counter()
    result = train_version(config, texts, table, progress=False)
    wall = time.perf_counter() - started
    m = result.metrics
    hp = m["hyperparameters"]
    seen = m["steps"] * hp["batch_size"] * hp["block_size"]
    per_epoch = m["train_runtime_s"] / max(m["epochs_run"], 1e-9)
    return {
        "model": "scratch:tiny",
        "wall_s": round(wall, 1),
        "train_runtime_s": round(m["train_runtime_s"], 1),
        "tokens_per_s": round(seen / m["train_runtime_s"]),
        "s_per_epoch": round(per_epoch, 1),
        "epochs_run": round(m["epochs_run"], 2),
        "steps": m["steps"],
        "stopped_early": m["stopped_early"],
        "train_tokens": m["tokens"]["train"],
        "eval_loss_untrained": round(m["eval"]["initial_loss"], 3),
        "eval_loss": round(m["eval"]["loss"], 3),
        "eval_perplexity": round(m["eval"]["perplexity"], 1),
        "samples_ended_on_eos": f"{m['sample_stats']['ended_on_eos']}/{m['sample_stats']['count']}",
        "sample_mean_tokens": m["sample_stats"]["mean_tokens"],
        "samples": m["samples"],
        "device": m["device"],
    }


def bench_gpt2_sized(texts: list[str], steps: int, device: str) -> dict[str, Any]:
    import torch
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        PrinterCallback,
        Trainer,
        TrainerCallback,
        TrainingArguments,
        default_data_collator,
    )

    from bot.trainer.data import build_dataset
    from bot.trainer.scratch import train_tokenizer

    # No Hub here: a corpus tokenizer feeds token ids to a model with GPT-2's exact shape.
    tokenizer = train_tokenizer(texts, 4096)
    dataset = build_dataset(tokenizer, texts, 128)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config())
    params = sum(p.numel() for p in model.parameters())
    use_cpu = device == "cpu" or not torch.cuda.is_available()
    bf16 = not use_cpu and torch.cuda.is_bf16_supported()
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, max_steps=steps + 1, per_device_train_batch_size=8,
            learning_rate=5e-5, save_strategy="no", report_to="none", disable_tqdm=True,
            logging_strategy="no", use_cpu=use_cpu, bf16=bf16, fp16=not use_cpu and not bf16,
        )  # fmt: skip
        trainer = Trainer(
            model=model, args=args, train_dataset=dataset, data_collator=default_data_collator
        )

        # Step ends are timed; the first step (allocation, warm-up) is left out of the rate.
        marks: list[float] = []

        class Mark(TrainerCallback):  # type: ignore[misc]
            def on_step_end(self, *args: Any, **kwargs: Any) -> None:
                if torch.cuda.is_available() and not use_cpu:
                    torch.cuda.synchronize()
                marks.append(time.perf_counter())

        trainer.add_callback(Mark())
        trainer.remove_callback(PrinterCallback)  # keep stdout to the figures
        trainer.train()
    timed = marks[-1] - marks[0]
    tokens = steps * 8 * 128
    rate = tokens / timed
    return {
        "model": f"GPT-2 124M-sized, random weights ({params / 1e6:.0f}M parameters)",
        "steps_timed": steps,
        "tokens_per_s": round(rate),
        "s_per_step": round(timed / steps, 2),
        "s_per_epoch_estimate": round(dataset.tokens / rate, 1),
        "epoch_tokens": dataset.tokens,
        "precision": "bf16" if bf16 else ("fp16" if not use_cpu else "fp32"),
        "device": "cpu" if use_cpu else torch.cuda.get_device_name(0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--epochs", type=float, default=4.0)
    parser.add_argument("--gpt2-steps", type=int, default=5)
    parser.add_argument("--skip-gpt2", action="store_true")
    args = parser.parse_args()
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        config, texts, table = sample_corpus(Path(tmp))
        if args.device != "auto":
            config = config.model_copy(
                update={"model": config.model.model_copy(update={"device": args.device})}
            )
        print(f"sample corpus: {len(texts)} kept tweets, {sum(map(len, texts)):,} characters")
        tiny = bench_tiny(config, texts, table, args.epochs)
        print(f"after scratch:tiny: {load()}")
        for key, value in tiny.items():
            if key != "samples":
                print(f"  {key:<22} {value}")
        for sample in tiny["samples"]:
            print(f"  > {sample}")
        results = [tiny]
        if not args.skip_gpt2:
            big = bench_gpt2_sized(texts, args.gpt2_steps, args.device)
            print(f"after GPT-2 124M-sized: {load()}")
            for key, value in big.items():
                print(f"  {key:<22} {value}")
            results.append(big)
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
