"""The "fast" generation backend: a lean GPT-2 decoder for the CPU.

Why it is faster than `model.generate()` on two CPU cores, for the same distribution:
- the n candidates share one prompt, so the prompt runs once (batch 1) and its key/value
  cache is copied to the n rows instead of being computed n times;
- the matmuls use int8 weights with one scale per output channel, inputs quantized per call:
  on this kind of CPU, MKL's fp32 GEMM crawls at a few rows (8 candidates: ~4 GB/s of weights
  read, against ~30 at one row), while int8 kernels stay fast from 1 to 8 rows and read a
  quarter of the bytes. On CPUs with AVX-512 VNNI they are the project's own (native.py: they
  also fold in the layer norms, GELU and residual sums, and run a step's attention), else
  fbgemm's (blocks) and oneDNN's (head). On the tiny test model the logits stay within ~0.12
  of fp32 and the held-out eval loss within 0.1%. fbgemm's fp16-weight GEMM (the fallback
  where int8 is missing) keeps logits within ~1e-3 but is half as fast;
- a preallocated (static) key/value cache, one fused QKV matmul per layer, almost no Python per
  step, sampling on the top-k logits only (top-p inside those k), and every candidate stopping
  at its own EOS, the loop ending when all have stopped.

The HF directory stays the source of truth: weights are packed from the transformers model at
load, which is then freed (memory held: the packed weights; the key/value cache lives only
during a call). Without fbgemm's kernels (non-x86 builds) the decoder runs in fp32 on the
model's own tensors. On CUDA the backend is transformers' `generate()` in half precision, unchanged.
Only plain GPT-2 is supported; anything else is a clear load error.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import math
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from bot.errors import BotError
from bot.generation import native, probe
from bot.generation.backend import Candidate
from bot.generation.sampling import Sampling, choose_tokens, penalize_repeats
from bot.generation.torch_backend import TorchBackend
from bot.logging import get_logger

log = get_logger(__name__)
# Calling the fp16 kernel warns about its deprecation on first use; _pack_fp16 explains why
# it is still the one to use.
warnings.filterwarnings("ignore", message="fbgemm_linear_fp16_weight.* is deprecated")


# Whether the int8 decoder keeps keys and values in bf16 (on CPUs with bf16 arithmetic). A step
# reads the whole cache once per layer (8 rows at 40 positions: ~2 MB a layer in fp32), and on
# a shared machine these reads run near the memory bandwidth like the weights': bf16 halves
# them (12 layers' attention: ~1.8 ms -> ~1.2 in isolation). bf16 keeps 8 bits of mantissa,
# well inside the int8 weights' own error; the load-time probe measures the whole decoder.
KV_BF16 = bool(native.cpu_flags() & {"avx512_bf16", "amx_bf16"})
# Weight precisions of the CPU decoder (see _Linear).
PRECISIONS = ("fp32", "fp16", "int8")
# The weights the CPU decoder keeps (falling back to fp16, then fp32, where the torch build lacks
# the kernels). int8: ~2x faster per step than fp16 at 1 and 8 rows, eval loss within 2% of fp32
# (tests/test_fastgen.py); "fp16" keeps logits within ~1e-3 of fp32.
PRECISION = "int8"
# The int8 matmuls that use oneDNN's kernel instead of fbgemm's (see _OneDnnInt8): only the LM
# head, where fbgemm is compute-bound at 8 rows (~9 ms against ~2.5). In the blocks both kernels
# run alike in isolation (768 x 2304 at 8 rows: 0.12 ms against 0.13), and whole decoding steps
# with every matmul (and the fused GELU) on oneDNN were slower (46 ms against 39, same process).
ONEDNN_LINEARS = frozenset({"head"})

# GPT-2's "gelu_new" is the tanh approximation of GELU.
_TANH_GELU = {"gelu_new", "gelu_pytorch_tanh", "gelu_fast"}


class _Linear:
    """y = x @ W + b for one Conv1D weight W (in, out): fp32, fp16-packed or int8-packed weights.

    fp32 calls `torch.addmm` on the model's own tensor (no copy). On this kind of CPU, MKL's
    fp32 GEMM is slow for a handful of rows (n candidates: ~4 GB/s of weights against ~30 at
    one row). fbgemm's fp16-weight GEMM (fp32 activations and accumulation) runs near the
    memory bandwidth at 1 to 8 rows and reads half the bytes ("fp16"); its int8 GEMM
    (per-output-channel symmetric int8 weights, each call quantizing its input to 7 bits over
    its own range, int32 accumulation) reads a quarter of the bytes and skips the
    fp16->fp32 conversion that bounds the fp16 kernel at 8 rows ("int8": 2x faster per step).
    """

    def __init__(
        self,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        precision: str,
        *,
        use_onednn: bool = False,
        use_native: bool = False,
    ) -> None:
        packed = precision != "fp32"
        self.weight: torch.Tensor | None = None
        self.packed: torch.Tensor | None = None
        self.int8: Any = None
        self.onednn: _OneDnnInt8 | None = None
        self.native: native.Int8Linear | None = None
        if precision == "int8" and use_native:
            # The kernel keeps its own copies of the weight and the bias (None: no bias).
            self.native = native.Int8Linear(weight, bias)
            self.nbytes = self.native.nbytes
            return
        if bias is None:
            bias = torch.zeros(weight.shape[1])
        # A copy when packing: a view would keep the model's whole storage (often one mmap of
        # the safetensors file) alive after the model is dropped.
        self.bias = bias.detach().float().clone() if packed else bias.detach()
        if precision == "int8" and use_onednn:
            self.onednn = _OneDnnInt8(weight.detach().t())
            self.nbytes = weight.numel() + weight.shape[1] * 4 + self.bias.numel() * 4
        elif precision == "int8":
            self.int8 = _pack_int8(weight.detach().t(), self.bias)
            # int8 values plus one fp32 scale per output channel.
            self.nbytes = weight.numel() + weight.shape[1] * 4 + self.bias.numel() * 4
        elif precision == "fp16":
            self.packed = _pack_fp16(weight.detach().t())
            self.nbytes = weight.numel() * 2 + self.bias.numel() * 4
        else:
            self.weight = weight.detach()
            self.nbytes = weight.numel() * 4 + self.bias.numel() * 4
        # nbytes: what one call reads (packed copies are opaque; fbgemm's padding not counted).

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        # A native linear is called through `.native`, with its fused options (_forward_native).
        assert self.native is None
        if self.onednn is not None:
            return self.onednn(x, self.bias)
        if self.int8 is not None:
            # reduce_range: 7-bit inputs. AVX2's u8 x s8 multiply adds pairs into int16, which
            # saturates with full 8-bit inputs (all-ones 8x8 gives 4.05 instead of 8).
            return torch.ops.quantized.linear_dynamic(x, self.int8, True)
        if self.packed is not None:
            return torch.fbgemm_linear_fp16_weight(x, self.packed, self.bias)
        assert self.weight is not None
        return torch.addmm(self.bias, x, self.weight)


def _pack_fp16(weight_out_in: torch.Tensor) -> torch.Tensor:
    """fbgemm's packed fp16 copy of a (out, in) weight (an opaque tensor of its own)."""
    with warnings.catch_warnings():
        # Deprecated in favour of torchao, still shipped and the fastest kernel here; fp16
        # support is probed at load and the backend falls back to fp32 when it is gone.
        warnings.simplefilter("ignore")
        return torch.fbgemm_pack_gemm_matrix_fp16(weight_out_in.float().contiguous())


def _pack_int8(weight_out_in: torch.Tensor, bias: torch.Tensor) -> Any:
    """fbgemm's packed int8 copy of a (out, in) weight: one symmetric scale per output row
    (its largest magnitude maps to 127), so each output keeps its own resolution."""
    weight = weight_out_in.float().contiguous()
    scales = native.int8_scales(weight)
    zero_points = torch.zeros(weight.shape[0], dtype=torch.long)
    with warnings.catch_warnings():
        # Quantized tensors are deprecated in favour of torchao (not installed); they are
        # only the input format of fbgemm's packing, probed at load like the fp16 kernel.
        warnings.simplefilter("ignore")
        quantized = torch.quantize_per_channel(
            weight, scales.double(), zero_points, axis=0, dtype=torch.qint8
        )
        return torch.ops.quantized.linear_prepack(quantized, bias)


class _OneDnnInt8:
    """oneDNN's int8 linear (the kernel behind torch's x86 quantization): int8 weights with one
    symmetric scale per output channel, each call quantizing its input per tensor to uint8.

    At 8 rows it is several times faster than fbgemm's on the LM head, where fbgemm is bound by
    compute (768 x 50,257 at 8 rows: ~9 ms against ~2.5): oneDNN uses VNNI / AMX int8 where
    the CPU has them. On CPUs without VNNI the 8-bit products would saturate AVX2's 16-bit pair
    sums (see _Linear), so the input keeps 7 bits there.
    """

    def __init__(self, weight_out_in: torch.Tensor) -> None:
        rows, self.scales = native.int8_rows(weight_out_in)
        self.zero_points = torch.zeros(rows.shape[0], dtype=torch.long)
        self.packed = torch.ops.onednn.qlinear_prepack(rows, None)

    def __call__(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # quantized tensors: see _pack_int8
            quantized = torch.quantize_per_tensor_dynamic(x, torch.quint8, not _HAS_VNNI)
        scale, zero_point = quantized.q_scale(), quantized.q_zero_point()
        return torch.ops.onednn.qlinear_pointwise(
            quantized.int_repr(),
            scale,
            zero_point,
            self.packed,
            self.scales,
            self.zero_points,
            bias,
            1.0,
            0,
            torch.float32,
            "none",
            [],
            "",
        )


# VNNI (or AMX) int8 dot products accumulate in 32 bits: full 8-bit inputs are safe there.
_HAS_VNNI = bool(native.cpu_flags() & {"avx512_vnni", "avx_vnni", "amx_int8"})


def onednn_int8_available() -> bool:
    """Whether this torch build runs oneDNN's int8 linear (x86 builds with mkldnn do)."""
    try:
        linear = _OneDnnInt8(torch.ones(8, 8))
        out = linear(torch.ones(1, 8), torch.zeros(8))
    except (RuntimeError, AttributeError, NotImplementedError):
        return False
    return bool(torch.allclose(out, torch.full((1, 8), 8.0), rtol=0.02))


def fp16_kernels_available() -> bool:
    """Whether this torch build has fbgemm's fp16-weight GEMM (x86 builds do)."""
    try:
        packed = _pack_fp16(torch.ones(8, 8))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = torch.fbgemm_linear_fp16_weight(torch.ones(1, 8), packed, torch.zeros(8))
    except (RuntimeError, AttributeError):
        return False
    return bool(torch.allclose(out, torch.full((1, 8), 8.0)))


def int8_kernels_available() -> bool:
    """Whether this torch build runs fbgemm's dynamic int8 linear (x86 builds do)."""
    try:
        packed = _pack_int8(torch.ones(8, 8), torch.zeros(8))
        out = torch.ops.quantized.linear_dynamic(torch.ones(1, 8), packed, True)
    except (RuntimeError, AttributeError, NotImplementedError):
        return False
    return bool(torch.allclose(out, torch.full((1, 8), 8.0), rtol=0.02))


@dataclass(frozen=True)
class _Block:
    """One transformer block: layer norms (the model's tensors) and its four matmuls."""

    ln1_w: torch.Tensor
    ln1_b: torch.Tensor
    qkv: _Linear  # fused query/key/value projection, (d -> 3d)
    proj: _Linear
    ln2_w: torch.Tensor
    ln2_b: torch.Tensor
    fc: _Linear
    out: _Linear


def _norms(block: _Block) -> tuple[torch.Tensor, ...]:
    return (block.ln1_w, block.ln1_b, block.ln2_w, block.ln2_b)


def _copy(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().float().clone()


def _view(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach()


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.data_ptr() == b.data_ptr() and a.shape == b.shape


def _nbytes(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size()


class UnsupportedModel(BotError):
    """The model is not a plain GPT-2, so the fast decoder cannot run it."""


class ProbeFailed(UnsupportedModel):
    """No packed precision keeps this model's probe loss within bounds ("auto" uses torch)."""


class FastGPT2:
    """Incremental GPT-2 decoding over a `GPT2LMHeadModel`'s own tensors (fp32, CPU).

    `prefill(ids)` runs the prompt once; `step(tokens)` feeds one token per row. Keys and values
    live in one preallocated tensor per call (`start(batch, capacity)`), so a step allocates
    only small activations.
    """

    def __init__(
        self, model: Any, *, precision: str = "fp32", use_native: bool | None = None
    ) -> None:
        """Pack `model`'s weights in `precision`. With int8, `use_native` picks the project's
        own kernels (bot/generation/native.py; default: wherever they run) over fbgemm's."""
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS} (got {precision!r})")
        config = model.config
        if getattr(config, "model_type", None) != "gpt2":
            raise UnsupportedModel(f"fast backend runs GPT-2 only (got {config.model_type!r})")
        if config.activation_function not in _TANH_GELU | {"gelu"}:
            raise UnsupportedModel(
                f"fast backend: unsupported activation {config.activation_function!r}"
            )
        if getattr(config, "scale_attn_by_inverse_layer_idx", False) or getattr(
            config, "reorder_and_upcast_attn", False
        ):
            raise UnsupportedModel("fast backend: non-standard GPT-2 attention options are set")
        if not getattr(config, "scale_attn_weights", True):
            raise UnsupportedModel("fast backend: unscaled attention is not supported")
        self.gelu = "tanh" if config.activation_function in _TANH_GELU else "none"
        self.d = int(config.n_embd)
        self.heads = int(config.n_head)
        self.head_dim = self.d // self.heads
        self.eps = float(config.layer_norm_epsilon)
        self.max_positions = int(config.n_positions)
        body = model.transformer
        self.precision = precision
        # Packed (fp16/int8) weights are opaque copies: the model's tensors are not kept.
        self.half = half = precision != "fp32"
        # With packed weights the small tensors are copied too, so that nothing references the
        # model's storage (often one mmap of the whole safetensors file) once it is dropped.
        own = _copy if half else _view
        self.wpe = own(body.wpe.weight)
        self.lnf_w = own(body.ln_f.weight)
        self.lnf_b = own(body.ln_f.bias)
        head = model.lm_head.weight.detach()  # (vocab, d); in GPT-2 the same tensor as wte
        self.vocab = int(head.shape[0])
        if use_native is None:
            use_native = native.available()
        # The native kernels fold layer norms, GELU and residual sums into their calls.
        self.native = precision == "int8" and use_native
        # The attention kernel works in 16-float lanes; other head sizes attend in torch.
        self.native_attention = self.native and self.head_dim % 16 == 0 and self.head_dim <= 256
        onednn: frozenset[str] | set[str] = set()
        if precision == "int8" and not self.native and onednn_int8_available():
            onednn = ONEDNN_LINEARS

        def linear(weight: torch.Tensor, bias: torch.Tensor | None, name: str) -> _Linear:
            return _Linear(
                weight, bias, precision, use_onednn=name in onednn, use_native=self.native
            )

        # The head has no bias (GPT-2 ties it to the token embeddings).
        self.head = linear(head.t(), None, "head")
        wte = body.wte.weight.detach()
        self.wte_rows: torch.Tensor | None
        self.wte_scale: torch.Tensor | None = None
        if self.native and _same(wte, head):
            # The native head's int8 rows are the token embeddings (tied in GPT-2), readable
            # in place: no second copy (37 MiB for GPT-2 124M).
            self.wte_rows = None
        elif half:
            # The LM head is packed (opaque), so token embeddings need their own rows; int8
            # with one scale per row keeps them at a quarter of fp32 (error < 0.4% of the row's
            # largest value), so the packed model stays within ~1.2x its fp16 size.
            self.wte_rows, scale = native.int8_rows(wte)
            self.wte_scale = scale.unsqueeze(1)
        else:
            self.wte_rows = wte
        self.blocks = [
            _Block(
                ln1_w=own(h.ln_1.weight),
                ln1_b=own(h.ln_1.bias),
                qkv=linear(h.attn.c_attn.weight, h.attn.c_attn.bias, "qkv"),
                proj=linear(h.attn.c_proj.weight, h.attn.c_proj.bias, "proj"),
                ln2_w=own(h.ln_2.weight),
                ln2_b=own(h.ln_2.bias),
                fc=linear(h.mlp.c_fc.weight, h.mlp.c_fc.bias, "fc"),
                out=linear(h.mlp.c_proj.weight, h.mlp.c_proj.bias, "out"),
            )
            for h in body.h
        ]
        small = [self.lnf_w, self.lnf_b, *(t for b in self.blocks for t in _norms(b))]
        linears = [self.head, *(m for b in self.blocks for m in (b.qkv, b.proj, b.fc, b.out))]
        # Bytes a decoding step reads (every matmul weight and norm once: the bandwidth floor)
        # and bytes the weights occupy (plus the embedding tables, of which a step reads rows).
        self.step_bytes = sum(m.nbytes for m in linears) + sum(_nbytes(t) for t in small)
        tables = [self.wpe]
        if self.wte_rows is not None and (half or not _same(wte, head)):
            tables.append(self.wte_rows)
        if self.wte_scale is not None:
            tables.append(self.wte_scale)
        self.weight_bytes = self.step_bytes + sum(_nbytes(t) for t in tables)
        # int8 weights: keys and values in bf16 where the CPU computes in it (see KV_BF16).
        self.cache_dtype = torch.bfloat16 if precision == "int8" and KV_BF16 else torch.float32
        self.cache: torch.Tensor | None = None  # (layers, 2, batch, heads, capacity, head_dim)
        self.length = 0  # positions filled in the cache

    def start(self, batch: int, capacity: int) -> None:
        """Allocate the key/value cache for `batch` rows of up to `capacity` positions."""
        if capacity > self.max_positions:
            raise BotError(
                f"prompt plus max_new_tokens ({capacity}) exceeds the model's context "
                f"({self.max_positions} tokens)"
            )
        shape = (len(self.blocks), 2, batch, self.heads, capacity, self.head_dim)
        self.cache = torch.empty(shape, dtype=self.cache_dtype)
        self.length = 0

    def release(self) -> None:
        """Drop the key/value cache (it is per call; the weights stay)."""
        self.cache = None
        self.length = 0

    def _forward(self, x: torch.Tensor, rows: int) -> torch.Tensor:
        """Run the blocks on hidden states x (rows*t, d) at positions length..length+t-1."""
        if self.native:
            return self._forward_native(x, rows)
        cache = self.cache
        assert cache is not None, "start() first"
        t = x.shape[0] // rows
        d = self.d
        for layer, blk in enumerate(self.blocks):
            h = F.layer_norm(x, (d,), blk.ln1_w, blk.ln1_b, self.eps)
            attn = self._attend(blk.qkv(h), layer, rows, t)
            x = x + blk.proj(attn)
            h = F.layer_norm(x, (d,), blk.ln2_w, blk.ln2_b, self.eps)
            h = _gelu(blk.fc(h), self.gelu)
            x = x + blk.out(h)
        self.length += t
        return x

    def _forward_native(self, x: torch.Tensor, rows: int) -> torch.Tensor:
        """_forward on the native kernels: each matmul call also layer-norms its input, applies
        the GELU or adds into the residual stream x (updated in place); a decoding step's
        attention runs in the attention kernel."""
        cache = self.cache
        assert cache is not None, "start() first"
        t = x.shape[0] // rows
        fused_gelu = self.gelu == "tanh"
        for layer, blk in enumerate(self.blocks):
            qkv = _native(blk.qkv)(x, norm=(blk.ln1_w, blk.ln1_b, self.eps))
            if t == 1 and self.native_attention:
                keys, values = cache[layer, 0, :rows], cache[layer, 1, :rows]
                attn = native.attend_step(qkv, keys, values, self.length, self.heads)
            else:
                attn = self._attend(qkv, layer, rows, t)
            _native(blk.proj)(attn, into=x)
            h = _native(blk.fc)(x, norm=(blk.ln2_w, blk.ln2_b, self.eps), gelu=fused_gelu)
            _native(blk.out)(h if fused_gelu else _gelu(h, self.gelu), into=x)
        self.length += t
        return x

    def _attend(self, qkv: torch.Tensor, layer: int, rows: int, t: int) -> torch.Tensor:
        """Store the keys and values of qkv (rows*t, 3d) in the cache, then attend: (rows*t, d)."""
        cache = self.cache
        assert cache is not None
        begin, end = self.length, self.length + t
        heads, hd = self.heads, self.head_dim
        parts = qkv.view(rows, t, 3, heads, hd)
        q = parts[:, :, 0].transpose(1, 2).to(cache.dtype)  # (rows, heads, t, hd)
        keys = cache[layer, 0, :rows]
        values = cache[layer, 1, :rows]
        keys[:, :, begin:end] = parts[:, :, 1].transpose(1, 2)
        values[:, :, begin:end] = parts[:, :, 2].transpose(1, 2)
        # One new position sees every cached one: no mask. A prompt needs the causal mask.
        mask = None
        if t > 1:  # position begin+i sees positions 0..begin+i
            mask = torch.ones(t, end, dtype=torch.bool).tril(diagonal=begin)
        attn = F.scaled_dot_product_attention(
            q, keys[:, :, :end], values[:, :, :end], attn_mask=mask
        )
        return attn.transpose(1, 2).reshape(rows * t, self.d).float()

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.wte_rows is None:
            return _native(self.head).rows(tokens)
        rows = self.wte_rows[tokens]
        if self.wte_scale is None:
            return rows
        return rows.float() * self.wte_scale[tokens]

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        if self.native:
            return _native(self.head)(x, norm=(self.lnf_w, self.lnf_b, self.eps))
        x = F.layer_norm(x, (self.d,), self.lnf_w, self.lnf_b, self.eps)
        return self.head(x)

    def prefill(self, ids: list[int], *, every_position: bool = False) -> torch.Tensor:
        """Run `ids` in row 0 after the positions already cached; logits of the last position
        (1, vocab), or of every one (len(ids), vocab)."""
        if not ids:
            raise ValueError("prefill needs at least one token")
        positions = torch.arange(self.length, self.length + len(ids))
        x = self._embed(torch.tensor(ids)) + self.wpe[positions]
        x = self._forward(x, rows=1)
        return self._logits(x if every_position else x[-1:])

    def share_prompt(self, rows: int) -> None:
        """Copy row 0's cached prompt to rows 1..rows-1 (all candidates start from it)."""
        assert self.cache is not None
        if rows > 1:
            filled = self.cache[:, :, :rows, :, : self.length]
            filled[:, :, 1:] = filled[:, :, :1]

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed one token per row at the next position; logits (rows, vocab)."""
        x = self._embed(tokens) + self.wpe[self.length]
        return self._logits(self._forward(x, rows=tokens.shape[0]))

    def logits_of(self, ids: list[int]) -> torch.Tensor:
        """Logits at every position of `ids` (len(ids), vocab): the first half as one prompt,
        then one token at a time, as generation runs. The equivalence test compares it with
        the transformers model's full forward pass."""
        half = max(1, len(ids) // 2)
        self.start(1, len(ids))
        try:
            rows = [self.prefill(ids[:half], every_position=True)]
            for token in ids[half:]:
                rows.append(self.step(torch.tensor([token])))
            return torch.cat(rows)
        finally:
            self.release()


def _native(linear: _Linear) -> native.Int8Linear:
    assert linear.native is not None
    return linear.native


# tanh-GELU as x * sigmoid(2z), z = sqrt(2/pi) * (x + 0.044715 x^3): the same function, since
# (1 + tanh z) / 2 = sigmoid(2z). torch's tanh-approximate F.gelu is not vectorised on this CPU
# build (8 x 3072: ~77 us); these five in-place passes take ~38 (12 layers: ~0.5 ms a step).
_GELU_LINEAR = 2 * math.sqrt(2 / math.pi)
_GELU_CUBIC = _GELU_LINEAR * 0.044715


def _gelu(x: torch.Tensor, approximate: str) -> torch.Tensor:
    """GELU of x (consumed: computed in place), exact ("none") or tanh-approximated."""
    if approximate != "tanh":
        return F.gelu(x)
    return x.square().mul_(_GELU_CUBIC).add_(_GELU_LINEAR).mul_(x).sigmoid_().mul_(x)


@dataclass
class Sampled:
    """Generated token ids per row (up to and including its EOS), mean raw log-probs, and how
    many decoding steps the batch ran."""

    tokens: list[list[int]]
    mean_logprobs: list[float]
    steps: int


def sample_tokens(
    decoder: FastGPT2,
    prompt_ids: list[int],
    n: int,
    sampling: Sampling,
    *,
    eos_id: int,
    pad_id: int,
    scored: bool = False,
    greedy: bool = False,
    generator: torch.Generator | None = None,
) -> Sampled:
    """n continuations of `prompt_ids` in one batch; each row stops at its own EOS."""
    if not prompt_ids:
        raise ValueError("prompt_ids must hold at least one token (the start token)")
    steps = sampling.max_new_tokens
    with torch.inference_mode():
        decoder.start(n, len(prompt_ids) + steps)
        try:
            logits = decoder.prefill(prompt_ids).expand(n, -1)
            decoder.share_prompt(n)
            # Every id of the row so far (for the repetition penalty): prompt, then generated.
            seen = torch.empty((n, len(prompt_ids) + steps), dtype=torch.long)
            seen[:, : len(prompt_ids)] = torch.tensor(prompt_ids)
            out = torch.full((n, steps), pad_id, dtype=torch.long)
            logprob_sum = torch.zeros(n)
            finished = torch.zeros(n, dtype=torch.bool)
            made = 0
            for step in range(steps):
                # The penalty works in place: on a copy where the raw logits are still needed
                # (scores) or are the prompt's row expanded to n rows (the first step).
                processed = logits.clone() if scored or step == 0 else logits
                if sampling.repetition_penalty != 1.0:
                    so_far = seen[:, : len(prompt_ids) + step]
                    penalize_repeats(processed, so_far, sampling.repetition_penalty)
                if step < sampling.min_new_tokens:
                    processed[:, eos_id] = -math.inf
                chosen = (
                    processed.argmax(dim=1)
                    if greedy
                    else choose_tokens(processed, sampling, generator)
                )
                # A finished row only pads; the loop ends when every row has finished.
                chosen = chosen.masked_fill(finished, pad_id)
                if scored:
                    # The model's own (raw) confidence, as the torch backend reports it.
                    picked = logits.gather(1, chosen.unsqueeze(1)).squeeze(1)
                    own = picked - logits.logsumexp(dim=1)
                    logprob_sum += own.masked_fill(finished, 0.0)
                out[:, step] = chosen
                seen[:, len(prompt_ids) + step] = chosen
                made = step + 1
                finished |= chosen == eos_id
                if bool(finished.all()) or step == steps - 1:
                    break
                logits = decoder.step(chosen)
        finally:
            decoder.release()
    tokens: list[list[int]] = []
    means: list[float] = []
    for row, sums in zip(out[:, :made].tolist(), logprob_sum.tolist(), strict=True):
        # The EOS counts as a token and is scored (choosing to stop is part of the candidate),
        # as the torch backend does; it is not part of the text.
        counted = row.index(eos_id) + 1 if eos_id in row else len(row)
        tokens.append(row[:counted])
        means.append(sums / max(counted, 1))
    return Sampled(tokens, means, made)


class FastBackend(TorchBackend):
    """`[generation] backend = "fast"`: the lean decoder on CPU, transformers on CUDA.

    Loading, tokenization and text assembly are the torch backend's, so both backends turn the
    same tokens into the same candidate texts. On CPU the decoder keeps int8-packed weights
    (fp16 where int8 is missing) and the fp32 transformers model is freed; without fbgemm it
    runs on the fp32 model itself.
    """

    def __init__(self, model_dir: Path, device: str, *, require_packed: bool = False) -> None:
        """Load `model_dir`; with `require_packed` (backend "auto") raise UnsupportedModel
        instead of running a model that the decoder cannot serve well in packed weights."""
        super().__init__(model_dir, device)
        self.decoder: FastGPT2 | None = None
        if device.startswith("cuda"):
            return  # half precision generate() on the GPU is already bandwidth-bound
        available = [
            precision
            for precision, present in (
                ("int8", PRECISION == "int8" and int8_kernels_available()),
                ("fp16", fp16_kernels_available()),
            )
            if present
        ]
        if not available:
            if require_packed:
                raise UnsupportedModel("fast backend: this torch build has no fbgemm kernels")
            self.decoder = FastGPT2(self.model, precision="fp32")
        else:
            self.decoder = self._first_harmless(available, require_packed)
            # The decoder holds its own packed copy: drop the fp32 model (about 2/3 of the
            # memory) and hand the freed pages back to the OS.
            self.model = None
            _release_freed_memory()
        log.info(
            "fast decoder ready",
            model_dir=str(model_dir),
            weights=self.decoder.precision,
            kernels="native" if self.decoder.native else "torch",
        )

    @property
    def label(self) -> str:
        """ "fast (int8)", "fast (fp16)" ..., or "torch" where the decoder is not used (CUDA)."""
        return f"fast ({self.decoder.precision})" if self.decoder else "torch"

    def _first_harmless(self, precisions: list[str], require_packed: bool) -> FastGPT2:
        """Packed weights were checked on the models we can train here, not on every model a
        user loads (real GPT-2 has activation outliers): measure this model's loss on a probe
        text in fp32 and in each packed precision while both exist, and keep the first within
        probe.MAX_LOSS_INCREASE. When none is, "auto" refuses (torch serves the model) and an
        explicit "fast" keeps the last one, with a warning."""
        ids = probe.probe_ids(self.tokenizer, self.start_id, int(self.model.config.n_positions))
        decoder: FastGPT2 | None = None
        for precision in precisions:
            decoder = FastGPT2(self.model, precision=precision)
            fp32_loss, loss = probe.probe_losses(self.model, decoder, ids)
            if loss <= fp32_loss * (1 + probe.MAX_LOSS_INCREASE):
                return decoder
            log.warning(
                f"{precision} weights change this model's loss too much",
                fp32_loss=round(fp32_loss, 4),
                **{f"{precision}_loss": round(loss, 4)},
            )
        if require_packed:
            raise ProbeFailed(f"{self.model_dir}: packed weights fail the quality probe")
        assert decoder is not None
        return decoder

    def sample(
        self, prompt: str | None, context: str | None, n: int, sampling: Sampling, scored: bool
    ) -> list[Candidate]:
        if self.decoder is None:
            return super().sample(prompt, context, n, sampling, scored)
        ids, text_start = self._prefix_ids(prompt, context)
        with _decoding_threads(self.decoder):
            result = sample_tokens(
                self.decoder,
                ids,
                n,
                sampling,
                eos_id=self.eos_id,
                pad_id=self.pad_id,
                scored=scored,
            )
        head = ids[text_start:]
        candidates = []
        for own, mean in zip(result.tokens, result.mean_logprobs, strict=True):
            text = self.tokenizer.decode(head + own, skip_special_tokens=True).strip()
            candidates.append(Candidate(text, float(mean) if scored else 0.0, len(own)))
        return candidates

    def close(self) -> None:
        self.decoder = None
        super().close()
        _release_freed_memory()


# Measured on 2 shared EPYC cores (GPT-2 124M, fp16 weights): one thread already reaches the
# memory bandwidth (batch 1: 21.1 ms/step with one thread, 21.4 with two; n=8: 48 vs 47 ms),
# while two threads stall on each other whenever another process takes a core (n=8 x 64
# tokens: 17.5 s with two, 4.6 s with one, same load). More cores leave room for two.
DECODING_THREADS = 1 if (os.cpu_count() or 1) <= 2 else 2
# The native matmuls share their tiles out on demand (a descheduled helper's share is done by
# the caller), so they use two threads even on two cores: measured on 2 shared Xeon cores,
# n=8 x 64 tokens at top_k = 50, 0.78 s against 1.12 on one (6 alternating rounds), and with
# a busy-looping process on one core 1.84 s against 1.82 (no stall). More were not measured.
NATIVE_THREADS = min(os.cpu_count() or 1, 2)


@contextlib.contextmanager
def _decoding_threads(decoder: FastGPT2) -> Iterator[None]:
    """Run torch with DECODING_THREADS intra-op threads for one call (then as before), and
    the native matmuls with NATIVE_THREADS."""
    before = torch.get_num_threads()
    wanted = min(before, DECODING_THREADS)
    if decoder.native:
        native.set_threads(NATIVE_THREADS)
    if wanted != before:
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        if wanted != before:
            torch.set_num_threads(before)


def _release_freed_memory() -> None:
    """Collect garbage and ask glibc to return free heap pages (a no-op elsewhere)."""
    gc.collect()
    # Not glibc: the allocator keeps the pages for reuse, which is harmless.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
