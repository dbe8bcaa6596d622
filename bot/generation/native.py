"""The fast decoder's own int8 kernels (kernels/int8_decoder.c), for x86 CPUs with AVX-512 VNNI.

Why a kernel of our own: decoding 8 candidates reads every weight once per step, so a step is
bound by memory bandwidth. Called from torch, fbgemm's int8 GEMM reads the 768-wide matrices
padded to 1024 (a third more bytes) and each of the ~60 small ops between the matmuls costs a
dispatch; CTranslate2 was ~1.5x faster than the decoder built on them. These kernels read
each int8 weight byte once for up to 8 rows, prefetch ahead of the stream, and fold the layer
norm, input quantization, bias, GELU and residual sum into the matmul call; one more kernel
runs a decoding step's attention over the key/value cache. Helper threads (`set_threads`)
claim the tiles (and attention heads) of each call in blocks, with the caller, so the output
is the same on any number of threads and a helper held off its core by another process
stalls nobody.

The C file ships with the package and is compiled at first use with the system's C compiler
(`$CC`, else `cc` or `gcc`; ~1 s) into `$XDG_CACHE_HOME/tweetbot/kernels/` (a temporary folder
when that is not writable), named by a hash of the source and flags, and loaded with ctypes
(calls release the GIL). Without a compiler, on other CPUs, or with `TWEETBOT_NATIVE_KERNELS=0`
the decoder runs on fbgemm's and oneDNN's kernels instead (`available()` is False); why is
logged once.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import torch

from bot.logging import get_logger

log = get_logger(__name__)

SOURCE = Path(__file__).with_name("kernels") / "int8_decoder.c"
# Fixed instruction sets rather than -march=native: the library runs on any CPU with these
# (checked in _cpu_supported), so a cached build stays valid on a migrated container.
FLAGS = (
    "-O3",
    "-std=gnu11",
    "-mavx512f",
    "-mavx512bw",
    "-mavx512vl",
    "-mavx512dq",
    "-mavx512vnni",
    "-mfma",
    "-shared",
    "-fPIC",
)
LIBRARIES = ("-lm", "-lpthread")
REQUIRED_CPU_FLAGS = frozenset(
    {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "fma"}
)
TILE = 32  # outputs per weight tile
STORE, ACCUMULATE, GELU_TANH = 0, 1, 2

_p = ctypes.c_void_p
_i64 = ctypes.c_int64


class KernelError(RuntimeError):
    """A kernel refused its arguments (a bug in the caller, never bad user input)."""


def cpu_flags() -> set[str]:
    """The CPU's feature flags (empty where /proc/cpuinfo is missing)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def _cpu_supported() -> bool:
    return cpu_flags() >= REQUIRED_CPU_FLAGS


def _compiler() -> str | None:
    wanted = os.environ.get("CC")
    if wanted:
        return shutil.which(wanted)
    return shutil.which("cc") or shutil.which("gcc")


def _cache_dirs() -> list[Path]:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return [Path(base) / "tweetbot" / "kernels", Path(tempfile.gettempdir()) / "tweetbot-kernels"]


def _library_name() -> str:
    """The library's file name: a hash of the source and the flags, so an edit rebuilds it."""
    build = SOURCE.read_bytes() + " ".join(FLAGS + LIBRARIES).encode()
    return f"int8_decoder-{hashlib.sha256(build).hexdigest()[:16]}.so"


def _built() -> Path | None:
    """A library already built from this source (a container image can ship one)."""
    name = _library_name()
    return next((d / name for d in _cache_dirs() if (d / name).is_file()), None)


def _build(compiler: str) -> Path:
    """Compile the library into the first writable cache folder; its path."""
    name = _library_name()
    errors = []
    for folder in _cache_dirs():
        target = folder / name
        partial = folder / f".{name}.{os.getpid()}.tmp"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            # Built under a private name, then renamed: a reader never sees half a library,
            # and two processes building at once both end with a whole one.
            done = subprocess.run(
                [compiler, *FLAGS, "-o", str(partial), str(SOURCE), *LIBRARIES],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            if done.returncode != 0:
                raise OSError(f"{compiler} failed: {done.stderr.strip()[-300:]}")
            os.replace(partial, target)
            return target
        except (OSError, subprocess.SubprocessError) as exc:
            with contextlib.suppress(OSError):
                partial.unlink()
            errors.append(f"{folder}: {exc}")
    raise OSError("; ".join(errors))


def build_library() -> Path:
    """The library, compiled now unless already built (on any x86 host: the instruction sets
    are named, not detected). Raises OSError when it cannot be built."""
    path = _built()
    if path is not None:
        return path
    compiler = _compiler()
    if compiler is None:
        raise OSError("no C compiler found (set CC)")
    return _build(compiler)


@cache
def library() -> ctypes.CDLL | None:
    """The loaded kernel library, or None where it cannot run here (why is logged once)."""
    if os.environ.get("TWEETBOT_NATIVE_KERNELS", "1") == "0":
        return None
    if not _cpu_supported():
        log.info("native int8 kernels off: this CPU lacks AVX-512 VNNI")
        return None
    try:
        lib = ctypes.CDLL(str(build_library()))
    except OSError as exc:
        log.warning("native int8 kernels off: cannot build or load them", error=str(exc))
        return None
    lib.tb_linear.restype = ctypes.c_int
    lib.tb_linear.argtypes = [_p, _i64, _i64, _i64, _p, _p, ctypes.c_float]
    lib.tb_linear.argtypes += [_p, _i64, _i64, _p, _p, _p, _i64, ctypes.c_int]
    lib.tb_set_threads.restype = ctypes.c_int
    lib.tb_set_threads.argtypes = [ctypes.c_int]
    lib.tb_attend_step.restype = ctypes.c_int
    lib.tb_attend_step.argtypes = [_p, _i64, _i64, _i64, _p, _p, _i64, _i64, ctypes.c_int, _p]
    return lib


def available() -> bool:
    """Whether the native kernels run on this machine."""
    return library() is not None


def _loaded() -> ctypes.CDLL:
    lib = library()
    if lib is None:
        raise KernelError("native kernels are not available here")
    return lib


def int8_scales(weight_out_in: torch.Tensor) -> torch.Tensor:
    """One symmetric scale per output row of a (out, in) weight: its largest magnitude maps
    to 127, so each output keeps its own resolution."""
    return (weight_out_in.float().abs().amax(dim=1).clamp(min=1e-12) / 127.0).contiguous()


def int8_rows(weight_out_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A (out, in) weight as int8 rows and their scales (int8_scales)."""
    scales = int8_scales(weight_out_in)
    rows = torch.round(weight_out_in.float() / scales.unsqueeze(1)).clamp_(-127, 127)
    return rows.to(torch.int8), scales


def set_threads(threads: int) -> int:
    """Threads each matmul call uses, the caller included (helpers start once and sleep when
    idle); returns how many it got."""
    return int(_loaded().tb_set_threads(threads))


def _pointer(tensor: torch.Tensor | None) -> int | None:
    return None if tensor is None else tensor.data_ptr()


class Int8Linear:
    """y = x @ W + b for one (in, out) weight, int8 with one symmetric scale per output.

    The weight is stored +128 as uint8 in tiles of 32 outputs x 4 inputs (the layout the VNNI
    kernel streams); outputs are padded to a multiple of 32, inputs to a multiple of 4.
    """

    def __init__(self, weight_in_out: torch.Tensor, bias: torch.Tensor | None) -> None:
        self._lib = _loaded()
        signed, self.scales = int8_rows(weight_in_out.detach().t())  # (out, in)
        self.n, self.k = int(signed.shape[0]), int(signed.shape[1])
        rows = (signed.to(torch.int16) + 128).to(torch.uint8)
        padded_n = -self.n % TILE
        self.kp = self.k + (-self.k % 4)
        rows = torch.nn.functional.pad(rows, (0, self.kp - self.k, 0, padded_n), value=128)
        tiles = (self.n + padded_n) // TILE
        self.tiles = rows.view(tiles, TILE, self.kp // 4, 4).permute(0, 2, 1, 3).contiguous()
        self.bias = None if bias is None else bias.detach().float().clone().contiguous()
        # What one call reads: the tiles, the scales and the bias.
        self.nbytes = self.tiles.numel() + self.n * 4 * (1 if bias is None else 2)

    def rows(self, outputs: torch.Tensor) -> torch.Tensor:
        """The weight's rows for these output indices, dequantized: (len, in) fp32. GPT-2's
        LM head is its token embedding table, so the embeddings need no copy of their own."""
        lanes = self.tiles[outputs // TILE, :, outputs % TILE, :]  # (len, in/4, 4)
        values = lanes.reshape(len(outputs), self.kp)[:, : self.k].to(torch.int16) - 128
        return values.float() * self.scales[outputs].unsqueeze(1)

    def __call__(
        self,
        x: torch.Tensor,
        *,
        norm: tuple[torch.Tensor, torch.Tensor, float] | None = None,
        into: torch.Tensor | None = None,
        gelu: bool = False,
    ) -> torch.Tensor:
        """x (rows, in) fp32 -> (rows, out); `norm` (weight, bias, eps) layer-norms each row
        first; `into` adds the result to that (rows, out) tensor in place and returns it;
        `gelu` applies GPT-2's tanh GELU to the result."""
        if x.dtype != torch.float32 or x.dim() != 2 or x.shape[1] != self.k or x.stride(1) != 1:
            raise KernelError(f"input must be (rows, {self.k}) fp32 with unit stride")
        rows = int(x.shape[0])
        if into is None:
            y = torch.empty((rows, self.n), dtype=torch.float32)
            mode = GELU_TANH if gelu else STORE
        else:
            if into.shape != (rows, self.n) or into.dtype != torch.float32 or into.stride(1) != 1:
                raise KernelError("into must be (rows, out) fp32 with unit stride")
            if gelu:
                raise KernelError("gelu and into are exclusive")
            y, mode = into, ACCUMULATE
        gamma, beta, eps = norm if norm is not None else (None, None, 0.0)
        for vector in (gamma, beta):
            if vector is not None and not (
                vector.dtype == torch.float32
                and vector.is_contiguous()
                and vector.numel() == self.k
            ):
                raise KernelError(f"layer norm weights must be {self.k} contiguous fp32 values")
        rc = self._lib.tb_linear(
            x.data_ptr(),
            rows,
            x.stride(0),
            self.k,
            _pointer(gamma),
            _pointer(beta),
            eps,
            self.tiles.data_ptr(),
            self.n,
            self.kp,
            self.scales.data_ptr(),
            _pointer(self.bias),
            y.data_ptr(),
            y.stride(0),
            mode,
        )
        if rc != 0:
            raise KernelError("tb_linear refused its arguments")
        return y


def attend_step(
    qkv: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, position: int, heads: int
) -> torch.Tensor:
    """One decoding position's attention: store the keys and values of `qkv` (rows, 3d) at
    `position` of `keys`/`values` (rows, heads, capacity, head_dim; fp32 or bf16,
    contiguous), then attend over positions 0..position; (rows, d) fp32."""
    lib = _loaded()
    rows, width = int(qkv.shape[0]), int(qkv.shape[1])
    head_dim = width // 3 // heads
    capacity = int(keys.shape[2])
    if (
        qkv.dtype != torch.float32
        or not qkv.is_contiguous()
        or keys.shape != (rows, heads, capacity, head_dim)
        or values.shape != keys.shape
        or keys.dtype != values.dtype
        or keys.dtype not in (torch.float32, torch.bfloat16)
        or not (keys.is_contiguous() and values.is_contiguous())
    ):
        raise KernelError("attend_step: qkv or cache has the wrong shape, type or layout")
    out = torch.empty((rows, heads * head_dim), dtype=torch.float32)
    rc = lib.tb_attend_step(
        qkv.data_ptr(),
        rows,
        heads,
        head_dim,
        keys.data_ptr(),
        values.data_ptr(),
        capacity,
        position,
        int(keys.dtype == torch.bfloat16),
        out.data_ptr(),
    )
    if rc != 0:
        raise KernelError("tb_attend_step refused its arguments")
    return out


if __name__ == "__main__":
    # `python -m bot.generation.native`: build ahead of time (the container image does, so a
    # running bot needs no compiler).
    try:
        print(build_library())
    except OSError as exc:
        raise SystemExit(f"error: cannot build the native kernels: {exc}") from None
