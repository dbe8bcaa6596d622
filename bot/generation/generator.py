"""The model held once in memory, sampling batches of candidate tweets, swapped on retrain.

`Generator.load(model_dir)` loads a Hugging Face directory onto the GPU (fp16/bf16) when there
is one, else the CPU, through a *backend*: "torch" (transformers, always available), "fast"
(bot.generation.fast, the int8 CPU decoder) or another registered with `register_backend`.
"auto" (the default) picks per model: torch in bf16/fp16 on CUDA, the fast backend on a CPU
when it can run the model and its packed weights pass their quality probe, else torch. A model
whose logits are NaN or inf is refused by every backend (bot.generation.probe). `generate()`
samples n candidates in one batched call; `reload()` swaps versions while other threads keep
generating: calls already running finish on the old model, which is freed once the last one
returns, and a version that fails to load leaves the old one in place.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bot.config import GenerationSection
from bot.errors import BotError, UsageError
from bot.generation.backend import Backend, Candidate
from bot.generation.sampling import Sampling
from bot.generation.torch_backend import TorchBackend
from bot.logging import get_logger

log = get_logger(__name__)


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
        # As configured ("auto" stays "auto", so each reloaded version is judged anew).
        self.backend_name = backend_name
        self._slot = _Slot(slot_backend, slot_backend.model_dir.name)
        self._swap_lock = threading.Lock()  # guards _slot and the users counts
        self._reload_lock = threading.Lock()  # one reload at a time

    @classmethod
    def load(
        cls,
        model_dir: str | Path,
        device: str = "auto",
        backend: str | None = None,
        *,
        settings: GenerationSection | None = None,
    ) -> Generator:
        """Load a model directory once. `backend` (default: `settings.backend`, "auto") is
        "auto", "torch", "fast" or a registered name; `settings` default to `[generation]`'s
        defaults. Raises BotError naming the directory when it cannot be used."""
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
        """Device of the model now in use ("cpu", "cuda", ...)."""
        return self._slot.backend.device

    @property
    def backend_in_use(self) -> str:
        """The backend actually serving the current version ("auto" resolved)."""
        return _backend_label(self._slot.backend)

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
            try:
                loaded = _load_backend(self.backend_name, path, device)
            except BotError as exc:
                log.error(
                    "model reload refused; keeping the old model",
                    version=self.version,
                    refused=path.name,
                    error=str(exc),
                )
                raise
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


def _backend_label(backend: Backend) -> str:
    label = getattr(backend, "label", None)
    return label if isinstance(label, str) else type(backend).__name__


def _load_auto(model_dir: Path, device: str) -> Backend:
    """ "auto": torch on CUDA (bf16/fp16 `generate()` is already bandwidth-bound there); on a
    CPU the fast decoder, unless it cannot run the model or none of its packed precisions
    passes the load-time quality probe, then torch."""
    if device.startswith("cuda"):
        return TorchBackend(model_dir, device)
    from bot.generation.fast import FastBackend, UnsupportedModel

    try:
        return FastBackend(model_dir, device, require_packed=True)
    except UnsupportedModel as exc:
        log.info("fast backend cannot serve this model; using torch", reason=str(exc))
    return TorchBackend(model_dir, device)


def _load_backend(name: str, model_dir: Path, device: str) -> Backend:
    """Load `model_dir` with the named backend; every failure is one clear BotError."""
    loader = _load_auto if name == "auto" else _backend_loader(name)
    if loader is None:
        known = ", ".join(sorted({"auto", *_BACKENDS, *_OPTIONAL_BACKENDS}))
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
