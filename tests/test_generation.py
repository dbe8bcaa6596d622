"""The Generator on a real (tiny, trained) model: batching, EOS, scores, reload under load."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
import torch
from structlog.testing import capture_logs

from bot.errors import BotError, UsageError
from bot.generation import Generator, Sampling, resolve_device


@pytest.fixture(scope="module")
def generator(tiny_model_dir: Path) -> Generator:
    return Generator.load(tiny_model_dir, device="cpu", backend="torch")


@pytest.fixture
def two_versions(tiny_model_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Two version directories (copies of the tiny model) as the registry would hold them."""
    first = tmp_path / "20260101-000000"
    second = tmp_path / "20260102-000000"
    shutil.copytree(tiny_model_dir, first)
    shutil.copytree(tiny_model_dir, second)
    return first, second


def test_generate_makes_n_candidates_in_one_batched_call(generator: Generator) -> None:
    backend: Any = generator._slot.backend
    calls: list[tuple[int, ...]] = []
    real = backend.model.generate

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(tuple(kwargs["input_ids"].shape))
        return real(*args, **kwargs)

    backend.model.generate = counting
    try:
        texts = generator.generate("The cat", n=5)
    finally:
        del backend.model.generate
    assert len(texts) == 5
    assert len(calls) == 1 and calls[0][0] == 5  # one call, a batch of 5 rows
    assert all(t.startswith("The cat") for t in texts)


def test_each_candidate_stops_at_its_own_eos(generator: Generator) -> None:
    torch.manual_seed(1)
    candidates = generator.generate_scored(None, n=8, max_new_tokens=40)
    lengths = {c.tokens for c in candidates}
    # The model learned short tweets: rows end at different EOS positions, well before 40,
    # and nothing generated after a row's EOS (batch padding) leaks into its text.
    assert max(lengths) < 40 and len(lengths) > 1
    for candidate in candidates:
        assert "<|endoftext|>" not in candidate.text and "<|pad|>" not in candidate.text
        assert candidate.text == candidate.text.strip() and candidate.text


def test_scores_are_mean_token_log_probs(generator: Generator) -> None:
    torch.manual_seed(2)
    scored = generator.generate_scored("My dog", n=4)
    for candidate in scored:
        assert -20 < candidate.mean_logprob < 0
    # Near-greedy sampling picks the likeliest tokens, so its mean log-prob is higher.
    torch.manual_seed(2)
    greedy = generator.generate_scored("My dog", n=4, temperature=0.05, top_k=1)
    torch.manual_seed(2)
    wild = generator.generate_scored("My dog", n=4, temperature=3.0, top_k=0, top_p=1.0)
    mean = lambda cs: sum(c.mean_logprob for c in cs) / len(cs)  # noqa: E731
    assert mean(greedy) > mean(wild)


def test_sampling_overrides_and_unknown_parameters(generator: Generator) -> None:
    candidates = generator.generate_scored(None, n=3, max_new_tokens=2)
    assert all(c.tokens <= 2 for c in candidates)
    with pytest.raises(UsageError, match="unknown sampling parameter"):
        generator.generate("x", n=1, temprature=0.5)
    with pytest.raises(UsageError, match="n must be"):
        generator.generate("x", n=0)


def test_context_conditions_but_is_not_part_of_the_candidate(generator: Generator) -> None:
    texts = generator.generate(None, n=3, context="The coffee loves the rain today")
    assert len(texts) == 3
    assert not any(t.startswith("The coffee loves the rain today") for t in texts)


def test_sampling_defaults_come_from_the_config() -> None:
    from bot.config import config_from_mapping

    settings = config_from_mapping({"generation": {"temperature": 0.5, "top_k": 7}}).generation
    sampling = Sampling.from_settings(settings)
    assert (sampling.temperature, sampling.top_k, sampling.max_new_tokens) == (0.5, 7, 60)


def test_device_resolution() -> None:
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_load_errors_are_one_clear_line(tmp_path: Path, tiny_model_dir: Path) -> None:
    with pytest.raises(BotError, match="model directory not found"):
        Generator.load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BotError, match=r"no config\.json"):
        Generator.load(tmp_path / "empty")
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    (broken / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(BotError, match="cannot load model"):
        Generator.load(broken)
    with pytest.raises(UsageError, match="backend = 'turbo' is not available"):
        Generator.load(tiny_model_dir, backend="turbo")


def test_failed_reload_keeps_the_old_model(two_versions: tuple[Path, Path], tmp_path: Path) -> None:
    first, _ = two_versions
    gen = Generator.load(first, device="cpu")
    broken = tmp_path / "broken"
    shutil.copytree(first, broken)
    (broken / "config.json").write_text("{ not json")
    with pytest.raises(BotError):
        gen.reload(broken)
    with pytest.raises(BotError, match="not found"):
        gen.reload(tmp_path / "missing")
    assert gen.version == first.name and gen.model_dir == first
    assert len(gen.generate("The cat", n=2)) == 2


def test_reload_lets_in_flight_generation_finish_on_the_old_model(
    two_versions: tuple[Path, Path],
) -> None:
    first, second = two_versions
    gen = Generator.load(first, device="cpu", backend="torch")
    old_backend: Any = gen._slot.backend
    started, release = threading.Event(), threading.Event()
    real_sample = old_backend.sample

    def held_sample(*args: Any) -> Any:
        started.set()
        assert release.wait(60)
        return real_sample(*args)

    old_backend.sample = held_sample
    results: dict[str, Any] = {}

    def in_flight() -> None:
        try:
            results["old"] = gen.generate_scored("The cat", n=3)
        except Exception as exc:  # reported below
            results["error"] = exc

    worker = threading.Thread(target=in_flight)
    worker.start()
    assert started.wait(60)
    gen.reload(second)  # returns while the call above still holds the old model
    assert gen.version == second.name
    assert old_backend.model is not None, "freed while a generation was still using it"
    # New calls use the new model at once, without waiting for the old call.
    assert len(gen.generate("My dog", n=2)) == 2
    release.set()
    worker.join(60)
    assert "error" not in results
    assert len(results["old"]) == 3 and all(c.text.startswith("The cat") for c in results["old"])
    assert old_backend.model is None, "the old model was not freed after its last call"


def test_reload_during_concurrent_generation(two_versions: tuple[Path, Path]) -> None:
    first, second = two_versions
    gen = Generator.load(first, device="cpu")
    errors: list[BaseException] = []
    counts: list[int] = []
    versions_seen: set[str] = set()
    stop = threading.Event()

    def keep_generating() -> None:
        while not stop.is_set():
            try:
                versions_seen.add(gen.version)
                counts.append(len(gen.generate(None, n=2, max_new_tokens=8)))
            except BaseException as exc:
                errors.append(exc)
                return

    workers = [threading.Thread(target=keep_generating) for _ in range(3)]
    for worker in workers:
        worker.start()
    try:
        for target in (second, first, second):
            gen.reload(target)
    finally:
        stop.set()
        for worker in workers:
            worker.join(60)
    assert not errors, errors
    assert counts and set(counts) == {2}
    assert gen.version == second.name
    assert versions_seen >= {first.name}


def _broken_copy(source: Path, target: Path, value: float) -> Path:
    """A copy of the model whose final layer norm is filled with `value` (NaN or inf), saved
    as a real model directory: it loads, and every logit it yields is non-finite."""
    from transformers import GPT2LMHeadModel

    shutil.copytree(source, target)
    model = GPT2LMHeadModel.from_pretrained(source)
    with torch.no_grad():
        model.transformer.ln_f.weight.fill_(value)
    model.save_pretrained(target)
    return target


@pytest.mark.parametrize("backend", ["auto", "torch", "fast"])
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_model_with_non_finite_logits_is_refused_at_load(
    tiny_model_dir: Path, tmp_path: Path, backend: str, value: float
) -> None:
    broken = _broken_copy(tiny_model_dir, tmp_path / "diverged", value)
    with pytest.raises(BotError, match="NaN or infinite logits") as refused:
        Generator.load(broken, device="cpu", backend=backend)
    assert str(broken) in str(refused.value) and "\n" not in str(refused.value)


def test_a_hot_swap_to_a_nan_model_keeps_the_old_one(
    two_versions: tuple[Path, Path], tmp_path: Path
) -> None:
    first, _ = two_versions
    gen = Generator.load(first, device="cpu")
    broken = _broken_copy(first, tmp_path / "20260103-000000", float("nan"))
    with capture_logs() as logs, pytest.raises(BotError, match="NaN or infinite logits"):
        gen.reload(broken)
    refused = next(e for e in logs if e["event"].startswith("model reload refused"))
    assert refused["refused"] == broken.name and refused["version"] == first.name
    assert gen.version == first.name and gen.model_dir == first
    texts = gen.generate("The cat", n=3, max_new_tokens=10)
    assert len(texts) == 3 and all(t.startswith("The cat") for t in texts)
