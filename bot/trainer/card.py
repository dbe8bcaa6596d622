"""The model card (README.md) and the loss plot saved with every version.

In the spirit of the cards huggingtweets published: where the data came from and how much was
kept, how the model was trained, how well it does on held-out tweets, how to use it, what it
cannot be trusted with, and a few things it wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

LOSS_PLOT = "loss.png"


def plot_losses(log_history: Sequence[dict[str, Any]], path: Path) -> bool:
    """Draw train and eval loss against the training step into a PNG; False if nothing to draw."""
    import matplotlib

    # Agg: no display on servers and in the daemon's child process.
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    train = [(e["step"], e["loss"]) for e in log_history if "loss" in e and "step" in e]
    evals = [(e["step"], e["eval_loss"]) for e in log_history if "eval_loss" in e and "step" in e]
    if not train and not evals:
        return False
    figure, axes = plt.subplots(figsize=(6, 3.5), dpi=100)
    if train:
        axes.plot(*zip(*train, strict=True), label="train loss", color="tab:blue")
    if evals:
        axes.plot(*zip(*evals, strict=True), label="eval loss", color="tab:orange", marker="o")
    axes.set_xlabel("step")
    axes.set_ylabel("loss (nats per token)")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return True


def _sources(data: dict[str, Any] | None) -> list[str]:
    if not data:
        return []
    return list(data.get("sources", {}))


def model_card(metrics: dict[str, Any], data_markdown: str | None, has_plot: bool) -> str:
    """The README.md text of one version, built from its metrics.json content."""
    sources = _sources(metrics.get("data"))
    who = ", ".join(f"@{s}" for s in sources) or "the configured accounts"
    hp = metrics["hyperparameters"]
    ev = metrics["eval"]
    base = metrics["base"]
    base_line = (
        f"a GPT-2 architecture trained from scratch (`{base}`) on these tweets, with a "
        "byte-level BPE tokenizer fitted to them"
        if base.startswith("scratch:")
        else f"the pre-trained `{base}`, fine-tuned on these tweets"
    )
    lines = [
        "---",
        "tags:",
        "- tweetbot",
        "- text-generation",
        "library_name: transformers",
        "pipeline_tag: text-generation",
        "---",
        "",
        f"# {metrics['bot']} — version {metrics['version']}",
        "",
        f"A small language model that writes tweets in the manner of {who}. It was made by "
        "tweetbot, which fetches an account's tweets, cleans them, trains a GPT-2 on them and "
        "posts what the model writes.",
        "",
        "## Training data",
        "",
        f"The model learned from the public tweets of {who}. Retweets and very short tweets "
        "were dropped and links removed before training.",
        "",
        data_markdown or "(no data table was recorded)",
        "",
        f"Training used {metrics['tweets']['train']} tweets ({metrics['tokens']['train']} "
        f"tokens); {metrics['tweets']['eval']} tweets ({metrics['tokens']['eval']} tokens) were "
        "held out to measure the model.",
        "",
        "## Training procedure",
        "",
        f"The model is {base_line}, using the Hugging Face `Trainer`. Tweets are "
        "joined with `<|endoftext|>` so the model learns where a tweet ends, and packed into "
        f"blocks of {hp['block_size']} tokens. Training stops early once the eval loss has not "
        f"improved for {hp['early_stopping_patience']} evaluations, and the best checkpoint "
        "is kept.",
        "",
        "| Hyper-parameter | Value |",
        "| --- | --- |",
    ]
    for name in (
        "epochs",
        "learning_rate",
        "batch_size",
        "block_size",
        "warmup_steps",
        "weight_decay",
        "seed",
        "precision",
    ):
        lines.append(f"| {name} | {hp.get(name, '')} |")
    lines += [
        f"| steps run | {metrics['steps']} |",
        f"| stopped early | {'yes' if metrics['stopped_early'] else 'no'} |",
        "",
        "## Evaluation",
        "",
        "| Metric | Value |",
        "| --- | --- |",
        f"| eval loss (nats/token) | {ev['loss']:.4f} |",
        f"| eval perplexity | {ev['perplexity']:.2f} |",
        f"| eval loss before training | {ev['initial_loss']:.4f} |",
        f"| train loss | {metrics['train_loss']:.4f} |",
        f"| training time | {metrics['duration_s']:.0f} s on {metrics['device']} |",
        "",
    ]
    if has_plot:
        lines += [f"![train and eval loss]({LOSS_PLOT})", ""]
    lines += [
        "## How to use",
        "",
        "```python",
        "from transformers import pipeline",
        "",
        'generator = pipeline("text-generation", model="PATH/TO/THIS/DIRECTORY")',
        'print(generator("My dream is", num_return_sequences=3))',
        "```",
        "",
        "Sampling defaults (temperature, top-p, top-k, a tweet-sized length, stopping at "
        "`<|endoftext|>`) are saved in `generation_config.json`.",
        "",
        "## Limitations and bias",
        "",
        "The model repeats the topics, opinions and biases of the tweets it learned from, and, "
        "when it starts from GPT-2, those of GPT-2's web training data too. It knows nothing "
        "after its training data, states falsehoods with confidence and can reproduce phrases "
        "of its sources. It is not the account it imitates: label what it posts as automated. "
        "tweetbot filters every candidate before posting; raw samples from this model are "
        "unfiltered.",
        "",
        "## Sample generations",
        "",
        "Unprompted and unfiltered, with the saved sampling defaults:",
        "",
    ]
    samples = metrics.get("samples") or []
    for sample in samples:
        # One quote per sample, each its own paragraph.
        lines += [f"> {sample.strip() or '(empty)'}", ""]
    if not samples:
        lines += ["(none)", ""]
    lines += [
        "## Reproducibility",
        "",
        "Library versions, the data table and every figure above are in `metrics.json`. "
        + ", ".join(f"{k} {v}" for k, v in metrics.get("libraries", {}).items())
        + ".",
        "",
    ]
    return "\n".join(lines)
