"""The native int8 kernels (bot/generation/native.py): the same numbers as torch's fp32 ops
within int8's error, and a build that is cached, atomic and falls back cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from bot.generation import native

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _kernels_here() -> None:
    # This machine kind (CI's too) has AVX-512 VNNI and gcc: the kernels are tested, never
    # skipped; a machine without them fails here rather than testing nothing.
    assert native.available(), "native kernels unavailable: they need AVX-512 VNNI and gcc"


def _weights(k: int, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(k, n, generator=generator) * 0.05  # (in, out), as GPT-2's Conv1D
    bias = torch.randn(n, generator=generator)
    return weight, bias


def _close(ours: torch.Tensor, exact: torch.Tensor) -> None:
    # int8 inputs (per row) and int8 weights (per output): about 1% of the outputs' range.
    # A wrong tile layout, scale or +128 correction is off by the whole range.
    assert ours.shape == exact.shape
    error = float((ours - exact).abs().max())
    assert error < 0.02 * float(exact.abs().max())


@pytest.mark.parametrize(("k", "n"), [(64, 96), (37, 45), (300, 1000), (768, 33)])
@pytest.mark.parametrize("rows", [1, 3, 8, 11])
def test_linear_is_the_fp32_matmul(k: int, n: int, rows: int) -> None:
    weight, bias = _weights(k, n, seed=k + n)
    x = torch.randn(rows, k, generator=torch.Generator().manual_seed(rows))
    _close(native.Int8Linear(weight, bias)(x), x @ weight + bias)
    _close(native.Int8Linear(weight, None)(x), x @ weight)


def test_linear_folds_in_the_layer_norm_the_gelu_and_the_residual_sum() -> None:
    weight, bias = _weights(96, 160, seed=1)
    linear = native.Int8Linear(weight, bias)
    x = torch.randn(5, 96) * 4 + 3  # far from normalized, so a missing norm shows
    x[4] = 3 + torch.randn(96) * 1e-3  # variance ~1e-6, below eps: a missing eps shows
    gamma, beta = torch.rand(96) + 0.5, torch.randn(96)
    normed = F.layer_norm(x, (96,), gamma, beta, 1e-5)
    _close(linear(x, norm=(gamma, beta, 1e-5)), normed @ weight + bias)
    _close(linear(x, gelu=True), F.gelu(x @ weight + bias, approximate="tanh"))
    residual = torch.randn(5, 160) * 10
    expected = residual + x @ weight + bias
    out = linear(x, into=residual)
    assert out.data_ptr() == residual.data_ptr()
    assert float((residual - expected).abs().max()) < 0.02 * float((x @ weight).abs().max())


def test_the_fused_gelu_is_gpt2s_to_float_precision() -> None:
    # Identity weights and inputs on int8's grid: the matmul is exact, so what remains is the
    # kernel's exp() polynomial against torch's tanh GELU.
    grid = torch.arange(-127, 128, dtype=torch.float32) / 127 * 9.0  # -9 .. 9 on each row
    x = torch.stack([grid, grid.flip(0), grid.roll(40)])
    linear = native.Int8Linear(torch.eye(255), None)
    torch.testing.assert_close(linear(x), x, atol=1e-6, rtol=1e-6)
    # Float32 rounding of torch's own formula differs by ~1e-7 of the value.
    exact = F.gelu(x, approximate="tanh")
    torch.testing.assert_close(linear(x, gelu=True), exact, atol=2e-6, rtol=2e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("position", [0, 6])
def test_attend_step_is_torch_attention_over_the_cache(dtype: torch.dtype, position: int) -> None:
    rows, heads, head_dim, capacity = 3, 4, 32, 9
    d = heads * head_dim
    generator = torch.Generator().manual_seed(position)
    keys = torch.randn(rows, heads, capacity, head_dim, generator=generator).to(dtype)
    values = torch.randn(rows, heads, capacity, head_dim, generator=generator).to(dtype)
    qkv = torch.randn(rows, 3 * d, generator=generator) * 2
    expected_keys, expected_values = keys.clone(), values.clone()
    parts = qkv.view(rows, 3, heads, head_dim)
    expected_keys[:, :, position] = parts[:, 1].to(dtype)
    expected_values[:, :, position] = parts[:, 2].to(dtype)
    out = native.attend_step(qkv, keys, values, position, heads)
    # The new position is stored as torch would store it (bf16: round to nearest even), and
    # nothing else in the cache changes.
    assert torch.equal(keys, expected_keys) and torch.equal(values, expected_values)
    seen = slice(0, position + 1)
    reference = F.scaled_dot_product_attention(
        parts[:, 0].unsqueeze(2),  # (rows, heads, 1, head_dim), fp32
        expected_keys[:, :, seen].float(),
        expected_values[:, :, seen].float(),
    )
    torch.testing.assert_close(out, reference.reshape(rows, d), atol=1e-5, rtol=1e-5)


def test_bad_arguments_are_refused_not_read_out_of_bounds() -> None:
    linear = native.Int8Linear(*_weights(64, 96, seed=2))
    with pytest.raises(native.KernelError):
        linear(torch.randn(2, 63))
    with pytest.raises(native.KernelError):
        linear(torch.randn(2, 64), into=torch.zeros(3, 96))
    with pytest.raises(native.KernelError):
        linear(torch.randn(2, 64).double())
    with pytest.raises(native.KernelError):  # a layer norm of the wrong width
        linear(torch.randn(2, 64), norm=(torch.ones(32), torch.zeros(32), 1e-5))
    keys = torch.zeros(2, 2, 4, 16)
    with pytest.raises(native.KernelError):  # position past the cache's capacity
        native.attend_step(torch.zeros(2, 96), keys, keys.clone(), 4, heads=2)
    with pytest.raises(native.KernelError):  # the cache is not (rows, heads, capacity, hd)
        native.attend_step(torch.zeros(2, 96), keys[:1], keys[:1].clone(), 0, heads=2)


_PROBE = (
    "from bot.generation import native; import sys; "
    "print('AVAILABLE' if native.available() else 'OFF', file=sys.stderr)"
)


def _probe(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _PROBE],
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def _state(done: subprocess.CompletedProcess[str]) -> str:
    return done.stderr.strip().splitlines()[-1]


def test_two_processes_building_at_once_share_one_whole_library(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(tmp_path)}
    both = [
        subprocess.Popen([sys.executable, "-c", _PROBE], env=env, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for process in both:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0 and err.strip().splitlines()[-1] == "AVAILABLE"
    folder = tmp_path / "tweetbot" / "kernels"
    assert [p.name for p in folder.iterdir()] == [native._library_name()]
    # Built once, the library needs no compiler: a container image can ship it.
    assert _state(_probe({"XDG_CACHE_HOME": str(tmp_path), "CC": "no-such-cc"})) == "AVAILABLE"


def test_a_failing_compiler_falls_back_with_a_warning(tmp_path: Path) -> None:
    done = _probe({"XDG_CACHE_HOME": str(tmp_path / "cache"), "CC": "false"})
    assert _state(done) == "OFF"
    said = done.stdout + done.stderr
    assert "native int8 kernels off: cannot build or load them" in said and "false failed" in said
    leftovers = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert leftovers == []  # no half-written library to load next time
    assert _state(_probe({"XDG_CACHE_HOME": str(tmp_path), "CC": "no-such-cc"})) == "OFF"


def test_an_unwritable_cache_builds_in_the_temp_folder(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    done = _probe({"XDG_CACHE_HOME": str(not_a_folder), "TMPDIR": str(tmp_path)})
    assert _state(done) == "AVAILABLE"
    assert (tmp_path / "tweetbot-kernels" / native._library_name()).is_file()


def test_the_switch_turns_the_kernels_off(tmp_path: Path) -> None:
    done = _probe({"XDG_CACHE_HOME": str(tmp_path), "TWEETBOT_NATIVE_KERNELS": "0"})
    assert _state(done) == "OFF"
    assert not (tmp_path / "tweetbot").exists()


def test_helper_threads_give_the_same_numbers_as_one_thread() -> None:
    # Calls of every shape in a row (more rows than one pass takes, tails, each mode), on one
    # thread and then on three: each tile is computed whole by one thread, so the results are
    # bit for bit the same, whichever thread claimed it.
    generator = torch.Generator().manual_seed(5)
    linears = [native.Int8Linear(*_weights(k, n, seed=k)) for k, n in [(96, 1000), (300, 70)]]
    calls = []
    for i in range(30):
        linear = linears[i % 2]
        calls.append((linear, torch.randn(1 + i % 11, linear.k, generator=generator), i % 3))

    def run_all() -> list[torch.Tensor]:
        out = []
        for linear, x, mode in calls:
            if mode == 1:
                out.append(linear(x, into=torch.ones(x.shape[0], linear.n)))
            else:
                out.append(linear(x, gelu=mode == 2))
        return out

    try:
        assert native.set_threads(1) == 1
        alone = run_all()
        assert native.set_threads(3) == 3
        shared = run_all()
    finally:
        native.set_threads(1)
    assert all(torch.equal(a, b) for a, b in zip(alone, shared, strict=True))


def test_calls_from_several_python_threads_do_not_mix(tmp_path: Path) -> None:
    import threading

    linear = native.Int8Linear(*_weights(200, 900, seed=9))
    inputs = [torch.randn(8, 200, generator=torch.Generator().manual_seed(i)) for i in range(6)]
    expected = [linear(x) for x in inputs]
    results: dict[int, list[bool]] = {}

    def caller(index: int) -> None:
        # ctypes releases the GIL, so these calls really overlap; the job slot is shared.
        results[index] = [torch.equal(linear(inputs[index]), expected[index]) for _ in range(40)]

    native.set_threads(2)
    try:
        workers = [threading.Thread(target=caller, args=(i,)) for i in range(6)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
    finally:
        native.set_threads(1)
    assert sorted(results) == list(range(6))
    assert all(all(ok) for ok in results.values())


def test_the_kernels_can_be_built_ahead_of_time_as_the_image_does(tmp_path: Path) -> None:
    assert "-m bot.generation.native" in (ROOT / "Dockerfile").read_text()
    command = [sys.executable, "-m", "bot.generation.native"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(tmp_path / "a")}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    built = Path(done.stdout.strip().splitlines()[-1])
    assert built == tmp_path / "a" / "tweetbot" / "kernels" / native._library_name()
    assert built.is_file()
    # Without a compiler: one line and a non-zero exit, nothing written.
    env.update(XDG_CACHE_HOME=str(tmp_path / "b"), CC="no-such-cc", TMPDIR=str(tmp_path / "t"))
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        == "error: cannot build the native kernels: no C compiler found (set CC)"
    )
    assert not (tmp_path / "b").exists()


def test_rows_are_the_dequantized_weight_rows() -> None:
    weight, _ = _weights(37, 70, seed=3)  # (in, out): output j's row is weight[:, j]
    linear = native.Int8Linear(weight, None)
    outputs = torch.tensor([0, 31, 32, 69, 5, 5])
    rows = weight.t()
    scale = rows.abs().amax(dim=1, keepdim=True) / 127
    expected = (torch.round(rows / scale) * scale)[outputs]
    torch.testing.assert_close(linear.rows(outputs), expected, atol=0, rtol=1e-6)


def test_attention_on_helper_threads_is_the_same_as_on_one() -> None:
    generator = torch.Generator().manual_seed(11)
    cache = torch.randn(2, 8, 12, 7, 64, generator=generator).to(torch.bfloat16)
    qkv = torch.randn(8, 3 * 12 * 64, generator=generator)
    outputs = []
    for threads in (1, 3):
        keys, values = cache[0].clone(), cache[1].clone()
        try:
            native.set_threads(threads)
            outputs.append((native.attend_step(qkv, keys, values, 5, heads=12), keys, values))
        finally:
            native.set_threads(1)
    assert all(torch.equal(a, b) for a, b in zip(*outputs, strict=True))
