"""The model held once in memory, sampling batches of candidate tweets, swapped on retrain.

`Generator.load(model_dir)` loads a Hugging Face directory onto the GPU (fp16/bf16) when there
is one, else the CPU, through a *backend*: "torch" (transformers, always available) or another
registered with `register_backend` (the optional fast backend plugs in there). `generate()`
samples n candidates in one batched call; `reload()` swaps versions while other threads keep
generating: calls already running finish on the old model, which is freed once the last one
returns, and a version that fails to load leaves the old one in place.
"""

from __future__ import annotations

import gc
import importlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from bot.config import GenerationSection
from bot.errors import BotError, UsageError
from bot.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class Sampling:
    """Sampling parameters of one generate call (defaults: `[generation]` of the config)."""

    temperature: float = 0.9
    top_p: float = 0.95
    top_k: int = 50
    repetition_penalty: float = 1.1
    max_new_tokens: int = 60
    # Only benchmarks set this: it forbids EOS until this many tokens exist.
    min_new_tokens: int = 0

    @classmethod
    def from_settings(cls, settings: GenerationSection) -> Sampling:
        """The sampling part of `[generation]`."""
        return cls(
            temperature=settings.temperature,
            top_p=settings.top_p,
            top_k=settings.top_k,
            repetition_penalty=settings.repetition_penalty,
            max_new_tokens=settings.max_new_tokens,
        )

    def updated(self, overrides: dict[str, Any]) -> Sampling:
        """A copy with some parameters replaced; an unknown name is a UsageError."""
        unknown = sorted(set(overrides) - set(asdict(self)))
        if unknown:
            raise UsageError(f"unknown sampling parameter(s): {', '.join(unknown)}")
        return replace(self, **overrides)


@dataclass(frozen=True)
class Candidate:
    """One generated text and the model's mean log-probability of its tokens (higher = surer)."""

    text: str
    mean_logprob: float
    tokens: int


class Backend(Protocol):
    """A loaded model that samples candidates; one instance per model version."""

    model_dir: Path
    device: str

    def sample(
        self, prompt: str | None, context: str | None, n: int, sampling: Sampling, scored: bool
    ) -> list[Candidate]:
        """n candidates in one batch. Each is `prompt` plus its continuation; `context` (a
        tweet being answered) precedes the candidate but is not part of it. Without `scored`
        the backend may skip computing log-probs (mean_logprob is then 0.0)."""
        ...

    def close(self) -> None:
        """Free the model's memory (called once no generation uses it any more)."""
        ...


BackendLoader = Callable[[Path, str], Backend]
_BACKENDS: dict[str, BackendLoader] = {}


def register_backend(name: str, loader: BackendLoader) -> None:
    """Make `[generation] backend = name` load models with `loader(model_dir, device)`."""
    _BACKENDS[name] = loader


def resolve_device(device: str = "auto") -> str:
    """ "auto" -> "cuda" when a CUDA GPU is usable, else "cpu"; anything else as given."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"[model] device = {device!r}, but no CUDA GPU is available")
    return device


class TorchBackend:
    """transformers' `generate()` on a causal LM (GPT-2 and friends)."""

    def __init__(self, model_dir: Path, device: str) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_dir = model_dir
        self.device = device
        # Half precision on GPU halves memory traffic, which is what bounds decoding speed;
        # bf16 where supported (no overflow), else fp16. The CPU stays in fp32 (fp16 is slow there).
        dtype = torch.float32
        if device.startswith("cuda"):
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.tokenizer: Any = AutoTokenizer.from_pretrained(model_dir)
        model: Any = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
        self.model: Any = model.to(device).eval()
        eos = self.tokenizer.eos_token_id
        if eos is None:
            eos = self.model.generation_config.eos_token_id
        if isinstance(eos, list):
            eos = eos[0]
        if eos is None:
            raise BotError(f"{model_dir}: the tokenizer has no end-of-text token")
        self.eos_id: int = int(eos)
        bos = self.tokenizer.bos_token_id
        # GPT-2 uses <|endoftext|> as both separator and start; training joined tweets with it,
        # so a tweet "starts" right after one.
        self.start_id: int = int(bos) if bos is not None else self.eos_id
        pad = self.tokenizer.pad_token_id
        self.pad_id: int = int(pad) if pad is not None else self.eos_id

    def _prefix_ids(self, prompt: str | None, context: str | None) -> tuple[list[int], int]:
        """Token ids fed to the model, and where the candidate's own text starts."""
        ids = [self.start_id]
        if context:
            ids += [*self.tokenizer.encode(context, add_special_tokens=False), self.eos_id]
        start = len(ids)
        if prompt:
            ids += self.tokenizer.encode(prompt, add_special_tokens=False)
        return ids, start

    def sample(
        self, prompt: str | None, context: str | None, n: int, sampling: Sampling, scored: bool
    ) -> list[Candidate]:
        import torch

        ids, text_start = self._prefix_ids(prompt, context)
        # The same prompt n times: one batch, no padding needed.
        input_ids = torch.tensor([ids] * n, dtype=torch.long, device=self.device)
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                do_sample=True,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                top_k=sampling.top_k,
                repetition_penalty=sampling.repetition_penalty,
                max_new_tokens=sampling.max_new_tokens,
                min_new_tokens=sampling.min_new_tokens or None,
                eos_token_id=self.eos_id,
                pad_token_id=self.pad_id,
                return_dict_in_generate=True,
                output_logits=scored,
            )
        sequences = out.sequences
        new = sequences[:, len(ids) :]
        # Each row stops at its own first EOS; what follows is padding of the batch.
        is_eos = new == self.eos_id
        after_eos = (is_eos.cumsum(dim=1) - is_eos.int()) > 0
        keep = ~after_eos
        lengths = keep.sum(dim=1)
        means = [0.0] * n
        if scored and out.logits:
            # Raw logits (before temperature/top-k): the model's own confidence in each token.
            steps = torch.stack(out.logits, dim=1).float()  # (n, steps, vocab)
            logprobs = torch.log_softmax(steps, dim=-1)
            chosen = logprobs.gather(2, new[:, : steps.shape[1]].unsqueeze(-1)).squeeze(-1)
            mask = keep[:, : steps.shape[1]].float()
            means = ((chosen * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)).tolist()
        candidates = []
        for row in range(n):
            own = new[row][keep[row]].tolist()
            body = sequences[row, text_start : len(ids)].tolist() + own
            text = self.tokenizer.decode(body, skip_special_tokens=True).strip()
            candidates.append(Candidate(text, float(means[row]), int(lengths[row])))
        return candidates

    def close(self) -> None:
        import torch

        self.model = None
        gc.collect()
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()


register_backend("torch", TorchBackend)


class _Slot:
    """One loaded version and how many generate calls are using it right now."""

    def __init__(self, backend: Backend, version: str) -> None:
        self.backend = backend
        self.version = version
        self.users = 0
        self.retired = False
        self.closed = False
        # transformers' generate() is not documented as thread-safe, and parallel calls on the
        # same cores gain nothing: one call at a time per model.
        self.lock = threading.Lock()


class Generator:
    """The current model in memory; thread-safe; `reload()` swaps versions atomically."""

    def __init__(
        self, slot_backend: Backend, *, sampling: Sampling, backend_name: str = "torch"
    ) -> None:
        self.sampling = sampling
        self.backend_name = backend_name
        self._slot = _Slot(slot_backend, slot_backend.model_dir.name)
        self._swap_lock = threading.Lock()  # guards _slot and the users counts
        self._reload_lock = threading.Lock()  # one reload at a time

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        device: str = "auto",
        *,
        settings: GenerationSection | None = None,
        backend: str | None = None,
    ) -> Generator:
        """Load a model directory once; `settings` default to `[generation]`'s defaults."""
        settings = settings or GenerationSection()
        name = backend or settings.backend
        loaded = _load_backend(name, Path(model_dir), device)
        return cls(loaded, sampling=Sampling.from_settings(settings), backend_name=name)

    @property
    def model_dir(self) -> Path:
        """Directory of the model now in use."""
        return self._slot.backend.model_dir

    @property
    def version(self) -> str:
        """Version name of the model now in use (its directory name)."""
        return self._slot.version

    @property
    def device(self) -> str:
        return self._slot.backend.device

    @contextmanager
    def _use(self) -> Iterator[_Slot]:
        with self._swap_lock:
            slot = self._slot
            slot.users += 1
        try:
            yield slot
        finally:
            with self._swap_lock:
                slot.users -= 1
                free = slot.retired and slot.users == 0 and not slot.closed
                if free:
                    slot.closed = True
            if free:
                _close(slot)

    def generate_scored(
        self, prompt: str | None = None, n: int = 1, *, context: str | None = None, **sampling: Any
    ) -> list[Candidate]:
        """n candidates (texts with mean token log-prob) from one batched call.

        `prompt` starts each candidate (None: unprompted, from the start-of-text token);
        `context` is a tweet the candidates answer (not included in their text). `sampling`
        overrides temperature, top_p, top_k, repetition_penalty, max_new_tokens.
        """
        return self._sample(prompt, n, context, sampling, scored=True)

    def generate(
        self, prompt: str | None = None, n: int = 1, *, context: str | None = None, **sampling: Any
    ) -> list[str]:
        """n candidate texts from one batched call (see `generate_scored`)."""
        return [c.text for c in self._sample(prompt, n, context, sampling, scored=False)]

    def _sample(
        self,
        prompt: str | None,
        n: int,
        context: str | None,
        overrides: dict[str, Any],
        *,
        scored: bool,
    ) -> list[Candidate]:
        if n < 1:
            raise UsageError(f"n must be at least 1 (got {n})")
        sampling = self.sampling.updated(overrides)
        with self._use() as slot, slot.lock:
            return slot.backend.sample(prompt, context, n, sampling, scored)

    def reload(self, model_dir: str | Path) -> None:
        """Swap to another model version; raises BotError (old model kept) if it fails to load.

        Loading happens before the swap, outside the lock, so generation continues meanwhile;
        calls already running keep the old model, which is freed when the last one finishes.
        """
        path = Path(model_dir)
        with self._reload_lock:
            device = self.device
            loaded = _load_backend(self.backend_name, path, device)
            with self._swap_lock:
                old = self._slot
                self._slot = _Slot(loaded, path.name)
                old.retired = True
                free = old.users == 0 and not old.closed
                if free:
                    old.closed = True
            if free:
                _close(old)
            log.info("model reloaded", old_version=old.version, version=path.name)


def _close(slot: _Slot) -> None:
    try:
        slot.backend.close()
    except Exception:  # freeing must never break the caller that happened to finish last
        log.exception("failed to free a retired model", version=slot.version)


# Backends in optional modules, imported only when a config asks for them.
_OPTIONAL_BACKENDS = {"fast": ("bot.generation.fast", "FastBackend")}


def _backend_loader(name: str) -> BackendLoader | None:
    if name not in _BACKENDS and name in _OPTIONAL_BACKENDS:
        module_name, attribute = _OPTIONAL_BACKENDS[name]
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise UsageError(f"[generation] backend = {name!r} cannot be imported ({exc})") from exc
        _BACKENDS.setdefault(name, getattr(module, attribute))
    return _BACKENDS.get(name)


def _load_backend(name: str, model_dir: Path, device: str) -> Backend:
    """Load `model_dir` with the named backend; every failure is one clear BotError."""
    loader = _backend_loader(name)
    if loader is None:
        known = ", ".join(sorted(_BACKENDS))
        raise UsageError(f"[generation] backend = {name!r} is not available (have: {known})")
    if not model_dir.is_dir():
        raise BotError(f"{model_dir}: model directory not found")
    if not (model_dir / "config.json").is_file():
        raise BotError(f"{model_dir}: not a model directory (no config.json)")
    target = resolve_device(device)
    try:
        backend = loader(model_dir, target)
    except BotError:
        raise
    except Exception as exc:
        raise BotError(f"{model_dir}: cannot load model ({type(exc).__name__}: {exc})") from exc
    log.info("model loaded", model_dir=str(model_dir), device=target, backend=name)
    return backend
