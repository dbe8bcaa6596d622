"""The fast backend: same model, same distribution, valid candidates, filters and reload intact.

Everything runs on the trained scratch:tiny model (`tiny_model_dir`) and compares with the
transformers model loaded from the same directory.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from structlog.testing import capture_logs
from transformers import GPT2LMHeadModel
from transformers.generation.logits_process import (
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from bot.config import config_from_mapping
from bot.daemon.composer import Composer
from bot.errors import BotError
from bot.filters import Filters
from bot.generation import Generator, Sampling, native
from bot.generation.fast import (
    FastBackend,
    FastGPT2,
    UnsupportedModel,
    fp16_kernels_available,
    int8_kernels_available,
    onednn_int8_available,
    sample_tokens,
)
from bot.generation.sampling import (
    choose_tokens,
    nucleus_threshold,
    penalize_repeats,
    token_distribution,
    top_k,
)
from tests.fixtures_model import synthetic_tweets

# The fp16 kernel's deprecation notice (see bot/generation/fast.py for why it is still used).
pytestmark = pytest.mark.filterwarnings("ignore:fbgemm_linear_fp16_weight")


@pytest.fixture(scope="module")
def hf_model(tiny_model_dir: Path) -> GPT2LMHeadModel:
    return GPT2LMHeadModel.from_pretrained(tiny_model_dir).eval()


@pytest.fixture(scope="module")
def token_ids(tiny_model_dir: Path) -> list[int]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    text = "The cat loves the rain today. My dog misses fresh bread honestly!"
    return [tokenizer.eos_token_id, *tokenizer.encode(text)]


def _reference_logits(model: GPT2LMHeadModel, ids: list[int]) -> torch.Tensor:
    with torch.inference_mode():
        return model(torch.tensor([ids])).logits[0]


def test_incremental_logits_match_transformers_in_fp32(
    hf_model: GPT2LMHeadModel, token_ids: list[int]
) -> None:
    with torch.inference_mode():
        ours = FastGPT2(hf_model).logits_of(token_ids)
    reference = _reference_logits(hf_model, token_ids)
    assert ours.shape == reference.shape
    torch.testing.assert_close(ours, reference, atol=1e-4, rtol=1e-4)


# How far each packed precision's logits may stray from fp32 on the tiny model (measured: fp16
# ~1e-3, int8 up to ~0.12 on a logit, the eval loss within 0.1%); the loss bound is the issue's.
_LOGIT_TOLERANCE = {"fp16": 0.05, "int8": 0.5}


@pytest.mark.parametrize(
    ("precision", "use_native"), [("fp16", False), ("int8", True), ("int8", False)]
)
def test_packed_weights_stay_close_and_keep_the_eval_loss(
    hf_model: GPT2LMHeadModel, tiny_model_dir: Path, precision: str, use_native: bool
) -> None:
    # x86 torch builds ship fbgemm, and this machine runs the native kernels: the fast paths
    # are tested (int8 on both kernels), not their fp32 fallback.
    assert fp16_kernels_available() and int8_kernels_available() and native.available()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    eos = tokenizer.eos_token_id
    # Held out: the fixture trained on seed 0's sentences; seed 7 draws other combinations.
    held_out = synthetic_tweets(count=40, seed=7)
    packed = FastGPT2(hf_model, precision=precision, use_native=use_native)
    assert packed.native is use_native
    losses: dict[str, list[float]] = {"fp32": [], precision: []}
    for text in held_out:
        ids = [eos, *tokenizer.encode(text), eos]
        target = torch.tensor(ids[1:])
        with torch.inference_mode():
            reference = _reference_logits(hf_model, ids)[:-1]
            quantized = packed.logits_of(ids)[:-1]
        assert (quantized - reference).abs().max() < _LOGIT_TOLERANCE[precision]
        losses["fp32"].append(float(torch.nn.functional.cross_entropy(reference, target)))
        losses[precision].append(float(torch.nn.functional.cross_entropy(quantized, target)))
    fp32_loss = sum(losses["fp32"]) / len(held_out)
    packed_loss = sum(losses[precision]) / len(held_out)
    assert fp32_loss < 3.0  # a trained model, so the comparison means something
    assert abs(packed_loss - fp32_loss) / fp32_loss < 0.02


def test_int8_runs_on_the_native_kernels_where_they_run(hf_model: GPT2LMHeadModel) -> None:
    decoder = FastGPT2(hf_model, precision="int8")
    assert decoder.native
    assert decoder.head.native is not None and decoder.head.onednn is None
    assert all(b.fc.native is not None and b.fc.int8 is None for b in decoder.blocks)
    # The weights a step reads: int8 bytes (outputs padded to 32) plus scales and biases,
    # about a quarter of fp32's.
    fp32 = FastGPT2(hf_model, precision="fp32")
    assert 0.24 < decoder.step_bytes / fp32.step_bytes < 0.3
    # The tied token embeddings are read from the head's int8 rows: no copy, and the same
    # values as the int8 table the torch-kernel decoder keeps.
    assert decoder.wte_rows is None
    assert decoder.weight_bytes == decoder.step_bytes + decoder.wpe.numel() * 4
    tokens = torch.tensor([0, 1, 7, decoder.vocab - 1])
    on_torch = FastGPT2(hf_model, precision="int8", use_native=False)
    torch.testing.assert_close(decoder._embed(tokens), on_torch._embed(tokens), atol=0, rtol=1e-6)


@pytest.mark.parametrize(("n_embd", "n_head"), [(64, 4), (48, 4)])
def test_native_decoding_matches_fp32_for_any_head_size(n_embd: int, n_head: int) -> None:
    # Head size 16 runs the attention kernel; 12 (not a multiple of its 16-float lanes)
    # attends in torch, with the matmuls still native.
    from transformers import GPT2Config

    torch.manual_seed(4)
    # Untied embeddings too (their own int8 table), on the first size.
    config = GPT2Config(
        n_layer=2,
        n_embd=n_embd,
        n_head=n_head,
        n_positions=32,
        vocab_size=300,
        tie_word_embeddings=n_embd != 64,
    )
    model = GPT2LMHeadModel(config).eval()
    decoder = FastGPT2(model, precision="int8")
    assert decoder.native and decoder.native_attention is (n_embd // n_head == 16)
    assert (decoder.wte_rows is None) is (n_embd != 64)
    ids = list(range(5, 25))
    with torch.inference_mode():
        ours = decoder.logits_of(ids)
    reference = _reference_logits(model, ids)
    assert float((ours - reference).abs().max()) < 0.02 * float(reference.abs().max())


def test_the_int8_head_runs_on_onednn_and_matches_fp32(hf_model: GPT2LMHeadModel) -> None:
    # Without the native kernels (another CPU, no compiler), the loss test above covers the
    # int8 decoder on torch's kernels: its LM head on oneDNN's (fbgemm's is compute-bound
    # there), its blocks on fbgemm's, and (on CPUs with bf16 arithmetic, KV_BF16) its keys and
    # values in bf16.
    assert onednn_int8_available()
    decoder = FastGPT2(hf_model, precision="int8", use_native=False)
    assert decoder.head.onednn is not None
    assert all(b.qkv.int8 is not None and b.qkv.onednn is None for b in decoder.blocks)
    torch.manual_seed(3)
    hidden = torch.randn(8, decoder.d)
    with torch.inference_mode():
        ours = decoder.head(hidden)
    exact = hidden @ hf_model.lm_head.weight.detach().t()
    # Per-tensor uint8 inputs and per-row int8 weights: errors of a few hundredths of the
    # logits' spread, never more (a wrong scale or zero point would be off by whole units).
    spread = float(exact.std())
    assert float((ours - exact).abs().max()) < 0.1 * spread
    assert torch.equal(ours.argmax(dim=1), exact.argmax(dim=1)) or spread == 0


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_greedy_decoding_gives_transformers_tokens(
    hf_model: GPT2LMHeadModel, token_ids: list[int], precision: str
) -> None:
    prompt = token_ids[:4]
    eos = hf_model.config.eos_token_id
    sampling = Sampling(max_new_tokens=25, repetition_penalty=1.3)
    decoder = FastGPT2(hf_model, precision=precision)
    ours = sample_tokens(decoder, prompt, 2, sampling, eos_id=eos, pad_id=eos, greedy=True)
    with torch.inference_mode():
        reference = hf_model.generate(
            torch.tensor([prompt]),
            do_sample=False,
            max_new_tokens=25,
            repetition_penalty=1.3,
            eos_token_id=eos,
            pad_token_id=eos,
        )[0, len(prompt) :].tolist()
    reference = reference[: reference.index(eos) + 1] if eos in reference else reference
    assert ours.tokens == [reference, reference]


@pytest.mark.parametrize(
    "sampling",
    [
        Sampling(temperature=0.9, top_p=0.95, top_k=50, repetition_penalty=1.1),
        Sampling(temperature=0.5, top_p=0.5, top_k=0),
        Sampling(temperature=1.3, top_p=1.0, top_k=5),
    ],
)
def test_sampling_distribution_is_transformers(sampling: Sampling) -> None:
    """The reference warpers against token_distribution (the top-k path of choose_tokens)."""
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 500, generator=generator) * 4
    seen = torch.randint(0, 500, (3, 30), generator=generator)
    ours_logits = logits.clone()
    penalize_repeats(ours_logits, seen, sampling.repetition_penalty)
    probs, ids = token_distribution(ours_logits, sampling)
    ours = torch.zeros_like(logits).scatter_(1, ids, probs)

    scores = RepetitionPenaltyLogitsProcessor(sampling.repetition_penalty)(seen, logits.clone())
    for warper in (
        TemperatureLogitsWarper(sampling.temperature),
        *([TopKLogitsWarper(sampling.top_k)] if sampling.top_k else []),
        TopPLogitsWarper(sampling.top_p),
    ):
        scores = warper(seen, scores)
    torch.testing.assert_close(ours, scores.softmax(dim=1), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("vocab", [50257, 6400, 300])
@pytest.mark.parametrize("spread", [0.1, 3.0, 30.0])
def test_chunked_top_k_is_torch_topk(vocab: int, spread: float) -> None:
    # 50,257: GPT-2 (a partial last chunk); 6,400: whole chunks only; 300: too few chunks,
    # torch.topk itself. Peaked rows put the best logits in one chunk; masked (-inf) tokens
    # such as a held-back EOS must not count.
    generator = torch.Generator().manual_seed(int(spread * 10) + vocab)
    logits = torch.randn(8, vocab, generator=generator) * spread
    logits[0, :70] += 100.0  # row 0: every one of its 50 best in the first two chunks
    logits[1, -10:] += 100.0  # row 1: its best in the partial last chunk
    logits[2, ::3] = -math.inf
    values, ids = top_k(logits, 50)
    expected_values, expected_ids = torch.topk(logits, 50, dim=1)
    assert torch.equal(values, expected_values)
    assert torch.equal(ids, expected_ids)


def test_each_candidate_stops_at_its_own_eos(hf_model: GPT2LMHeadModel) -> None:
    eos = hf_model.config.eos_token_id
    pad = hf_model.config.pad_token_id
    torch.manual_seed(1)
    result = sample_tokens(
        FastGPT2(hf_model, precision="int8"),
        [eos],
        8,
        Sampling(max_new_tokens=40),
        eos_id=eos,
        pad_id=pad,
    )
    lengths = {len(row) for row in result.tokens}
    # The model learned short tweets: rows end at different steps, each at its own EOS; the
    # batch stops as soon as the last one ends, and no padding is returned.
    assert len(lengths) > 1 and result.steps == max(lengths) < 40
    for row in result.tokens:
        assert row[-1] == eos and eos not in row[:-1] and pad not in row


def test_min_new_tokens_holds_back_eos(hf_model: GPT2LMHeadModel) -> None:
    eos = hf_model.config.eos_token_id
    torch.manual_seed(2)
    sampling = Sampling(max_new_tokens=30, min_new_tokens=30)
    result = sample_tokens(
        FastGPT2(hf_model, precision="int8"), [eos], 4, sampling, eos_id=eos, pad_id=0
    )
    assert result.steps == 30 and all(len(row) == 30 and eos not in row for row in result.tokens)


def test_the_config_key_selects_the_fast_backend(tiny_model_dir: Path) -> None:
    config = config_from_mapping({"generation": {"backend": "fast"}})
    generator = Generator.load(tiny_model_dir, device="cpu", settings=config.generation)
    backend = generator._slot.backend
    assert isinstance(backend, FastBackend) and backend.decoder is not None
    assert backend.decoder.precision == "int8"
    assert backend.model is None  # fp32 copy freed after packing
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    candidates = generator.generate_scored("The cat", n=6, max_new_tokens=30)
    assert torch.get_num_threads() == threads  # the decoding thread count was only for the call
    assert len(candidates) == 6
    for candidate in candidates:
        assert candidate.text.startswith("The cat")
        assert "<|endoftext|>" not in candidate.text and "<|pad|>" not in candidate.text
        assert candidate.mean_logprob < 0 and 0 < candidate.tokens <= 30
    plain = Generator.load(tiny_model_dir, device="cpu", backend="torch")
    assert not isinstance(plain._slot.backend, FastBackend)
    assert plain.backend_in_use == "torch" and generator.backend_in_use == "fast (int8)"


def test_auto_is_the_default_and_picks_the_int8_decoder_on_cpu(tiny_model_dir: Path) -> None:
    assert config_from_mapping({}).generation.backend == "auto"
    generator = Generator.load(tiny_model_dir, device="cpu")
    backend = generator._slot.backend
    assert isinstance(backend, FastBackend) and backend.decoder is not None
    assert backend.decoder.precision == "int8" and generator.backend_name == "auto"
    assert len(generator.generate("The cat", n=3, max_new_tokens=10)) == 3


def test_auto_uses_torch_when_no_packed_precision_passes_the_probe(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bound no loss can meet stands for a model whose int8 and fp16 weights both hurt it.
    monkeypatch.setattr("bot.generation.probe.MAX_LOSS_INCREASE", -0.5)
    with capture_logs() as logs:
        generator = Generator.load(tiny_model_dir, device="cpu", backend="auto")
    assert not isinstance(generator._slot.backend, FastBackend)
    assert generator.backend_in_use == "torch"
    events = [e["event"] for e in logs]
    assert "int8 weights change this model's loss too much" in events
    assert "fp16 weights change this model's loss too much" in events
    assert len(generator.generate("The cat", n=2, max_new_tokens=8)) == 2


def test_int8_falls_back_to_fp16_on_a_model_it_would_hurt(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = config_from_mapping({"generation": {"backend": "fast"}}).generation
    # The load-time probe found int8 harmless on the tiny model (the test above); a bound
    # no loss can meet stands for a model with activation outliers.
    monkeypatch.setattr("bot.generation.probe.MAX_LOSS_INCREASE", -0.5)
    with capture_logs() as logs:
        generator = Generator.load(tiny_model_dir, device="cpu", settings=settings)
    backend = generator._slot.backend
    assert isinstance(backend, FastBackend) and backend.decoder is not None
    assert backend.decoder.precision == "fp16"
    warning = next(e for e in logs if e["event"].startswith("int8 weights change"))
    assert warning["int8_loss"] > 0 and warning["fp32_loss"] > 0
    assert generator.generate("The cat", n=2, max_new_tokens=8)


def test_scores_match_the_torch_backend_for_the_same_tokens(
    tiny_model_dir: Path, hf_model: GPT2LMHeadModel
) -> None:
    generator = Generator.load(tiny_model_dir, device="cpu", backend="fast")
    torch.manual_seed(3)
    candidate = generator.generate_scored(None, n=1, max_new_tokens=30)[0]
    backend = generator._slot.backend
    assert isinstance(backend, FastBackend)
    ids = [backend.start_id, *backend.tokenizer.encode(candidate.text), backend.eos_id]
    logprobs = _reference_logits(hf_model, ids).log_softmax(dim=1)[:-1]
    own = logprobs.gather(1, torch.tensor(ids[1:]).unsqueeze(1)).squeeze(1)
    # Decoding the text may re-tokenize differently; when it does not, the scores agree.
    if len(ids) - 1 == candidate.tokens:
        assert candidate.mean_logprob == pytest.approx(float(own.mean()), abs=5e-3)
    assert candidate.mean_logprob < 0


def test_filters_still_judge_fast_candidates(tiny_model_dir: Path) -> None:
    corpus = synthetic_tweets()
    config = config_from_mapping(
        {
            "generation": {"candidates": 8, "max_attempts": 2, "backend": "fast"},
            "filters": {"blocked_words": ["cat"]},
        }
    )
    generator = Generator.load(tiny_model_dir, device="cpu", settings=config.generation)
    filters = Filters.from_config(config, corpus, [])
    composer = Composer(generator, filters, config, random.Random(5))
    sources = {t.casefold().rstrip(".!") for t in corpus}
    rejected = {"blocked": 0, "copy": 0}
    torch.manual_seed(5)
    for _ in range(4):
        draft = composer.post()
        for judged in draft.candidates:
            failed = {v.rule for v in judged.verdicts if not v.passed}
            rejected["blocked"] += "blocked_words" in failed
            rejected["copy"] += judged.text.casefold().rstrip(".!") in sources
        if draft.text is not None:
            assert "cat" not in draft.text.casefold()
            assert draft.text.casefold().rstrip(".!") not in sources
            assert filters.passes(draft.text)
    # The model writes "the cat" and copies its corpus often: the filters had work to do.
    assert rejected["blocked"] > 0 and rejected["copy"] > 0


def _perturbed_copy(source: Path, target: Path) -> Path:
    """Another version: the same model with every weight shifted (different outputs)."""
    from transformers import AutoTokenizer

    model = GPT2LMHeadModel.from_pretrained(source)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.1)
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(source).save_pretrained(target)
    return target


def test_reload_swaps_the_fast_model(tiny_model_dir: Path, tmp_path: Path) -> None:
    second = _perturbed_copy(tiny_model_dir, tmp_path / "20260102-000000")
    generator = Generator.load(tiny_model_dir, device="cpu", backend="fast")
    old = generator._slot.backend
    assert isinstance(old, FastBackend)
    generator.reload(second)
    new = generator._slot.backend
    assert isinstance(new, FastBackend) and new is not old
    assert generator.version == "20260102-000000"
    assert old.decoder is None  # the retired version was freed
    # The decoder now in use is the new model's: its logits are the second directory's.
    ids = [new.start_id, *new.tokenizer.encode("The cat loves")]
    assert new.decoder is not None
    with torch.inference_mode():
        ours = new.decoder.logits_of(ids)
    reference = _reference_logits(GPT2LMHeadModel.from_pretrained(second).eval(), ids)
    first = _reference_logits(GPT2LMHeadModel.from_pretrained(tiny_model_dir).eval(), ids)
    tolerance = _LOGIT_TOLERANCE[new.decoder.precision]
    assert (ours - reference).abs().max() < tolerance < (ours - first).abs().max()
    assert len(generator.generate("The cat", n=3, max_new_tokens=10)) == 3

    broken = tmp_path / "20260103-000000"
    broken.mkdir()
    (broken / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(BotError):
        generator.reload(broken)
    assert generator._slot.backend is new and new.decoder is not None  # old model kept


def test_a_model_that_is_not_gpt2_is_refused(hf_model: GPT2LMHeadModel) -> None:
    class NotGpt2:
        config = type("Config", (), {"model_type": "llama"})()

    with pytest.raises(UnsupportedModel, match="GPT-2 only"):
        FastGPT2(NotGpt2())
    assert FastGPT2(hf_model).vocab == hf_model.config.vocab_size


def test_a_context_longer_than_the_model_is_a_clear_error(hf_model: GPT2LMHeadModel) -> None:
    eos = hf_model.config.eos_token_id
    too_long = Sampling(max_new_tokens=hf_model.config.n_positions)
    with pytest.raises(BotError, match="exceeds the model's context"):
        sample_tokens(FastGPT2(hf_model), [eos, eos], 2, too_long, eos_id=eos, pad_id=eos)


def _full_sort_nucleus(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Reference top-p: sort the whole vocabulary, keep each token whose better-ranked tokens
    hold less than top_p of the mass (TopPLogitsWarper's rule), always the best one."""
    values, ids = logits.double().sort(dim=1, descending=True)
    probs = values.softmax(dim=1)
    better = probs.cumsum(dim=1) - probs
    keep = better < top_p
    keep[:, 0] = True
    return torch.zeros_like(keep).scatter_(1, ids, keep)


@pytest.mark.parametrize("top_p", [0.05, 0.5, 0.9, 0.95, 0.999])
@pytest.mark.parametrize("spread", [0.05, 0.5, 2.0, 8.0, 60.0])
def test_the_histogram_nucleus_is_the_full_sort_nucleus(top_p: float, spread: float) -> None:
    generator = torch.Generator().manual_seed(int(spread * 100) + int(top_p * 1000))
    # GPT-2's vocabulary size, from nearly flat (random weights) to very peaked rows.
    logits = torch.randn(6, 50257, generator=generator) * spread
    logits[1, :100] += 12.0  # a cluster of strong tokens over a flat floor
    logits[2, 7] = 1e4  # one token holds all the mass
    logits[3] = torch.round(logits[3] * 4) / 4  # many exact ties
    logits[4, ::3] = -math.inf  # masked tokens (the min_new_tokens EOS ban, penalties)
    threshold = nucleus_threshold(logits, top_p)
    ours = logits >= threshold
    reference = _full_sort_nucleus(logits, top_p)
    possible = torch.isfinite(logits)
    for row in (0, 1, 2, 4, 5):  # no ties: the set is well defined
        assert torch.equal(ours[row] & possible[row], reference[row] & possible[row]), row
    # With ties the full sort breaks them arbitrarily: the nucleus may differ only in tokens
    # tied with the threshold.
    differ = ours[3] ^ reference[3]
    assert bool((logits[3][differ] == threshold[3]).all())
    assert not bool((ours & ~possible).any())


@pytest.mark.parametrize("top_p", [0.5, 0.9])
def test_nucleus_draws_over_a_large_vocabulary_follow_the_full_sort_distribution(
    top_p: float,
) -> None:
    # Thousands of tokens over hundreds of bins: the draw mixes the bins before the crossing
    # one (a bin by its mass, then a token by weight) with the crossing bin's own nucleus
    # tokens. Group the nucleus, best first, into ten slices of about equal mass: each slice
    # must be drawn as often as its mass says, and nothing outside the nucleus ever.
    generator = torch.Generator().manual_seed(11)
    logits = (torch.randn(1, 4000, generator=generator) * 2.5).repeat(8, 1)
    logits[:, ::7] = -math.inf  # masked tokens in the mix
    sampling = Sampling(temperature=1.0, top_p=top_p, top_k=0)
    inside = _full_sort_nucleus(logits, top_p)[0]
    probs = torch.where(inside, logits[0].double(), -math.inf).softmax(dim=0)
    order = probs.argsort(descending=True)
    slice_of = torch.empty(4000, dtype=torch.long)
    slice_of[order] = (probs[order].cumsum(dim=0) * 10).clamp(max=9.999).long()
    expected = torch.zeros(10, dtype=torch.float64).index_add_(0, slice_of, probs)
    draws = torch.cat([choose_tokens(logits, sampling, generator) for _ in range(1250)])
    assert bool(inside[draws].all())
    counts = torch.bincount(slice_of[draws], minlength=10).double() / draws.numel()
    # 10,000 draws: a slice's frequency has a standard error of at most 0.005.
    torch.testing.assert_close(counts, expected, atol=0.02, rtol=0)


def test_nucleus_only_sampling_draws_the_nucleus_distribution() -> None:
    logits = torch.tensor([[3.0, 2.5, 2.0, 0.0, -1.0, -math.inf, 1.0]]).repeat(4, 1)
    sampling = Sampling(temperature=0.8, top_p=0.9, top_k=0)
    scores = TopPLogitsWarper(0.9)(None, TemperatureLogitsWarper(0.8)(None, logits.clone()))
    expected = scores.softmax(dim=1)[0]
    generator = torch.Generator().manual_seed(0)
    draws = torch.cat([choose_tokens(logits, sampling, generator) for _ in range(5000)])
    counts = torch.bincount(draws, minlength=7).double() / draws.numel()
    assert set(draws.unique().tolist()) == set(expected.nonzero().squeeze(1).tolist())
    # 20,000 draws: a frequency's standard error is at most 0.0035.
    torch.testing.assert_close(counts, expected.double(), atol=0.015, rtol=0)
    assert choose_tokens(logits, replace(sampling, top_p=1.0), generator).shape == (4,)
