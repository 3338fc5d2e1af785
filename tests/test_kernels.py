"""The fused kernels against float64 torch autograd on the same inputs."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from toydd import _kernels as k
from toydd._data import SparseRows
from toydd._engine_torch import loss_of


def random_problem(T, n, m, seed, dtype=np.float64):
    """Rows with varied activity: an all-zero row, a dense row and sparse ones; biases of both signs."""
    rng = np.random.default_rng(seed)
    dense = (rng.random((T, n)) < 0.2) * rng.random((T, n))
    dense[0] = 0.0
    if T > 2:
        dense[1] = rng.random(n)
    dense /= np.maximum(np.linalg.norm(dense, axis=1, keepdims=True), 1e-300)
    W = rng.standard_normal((m, n)) * 0.7
    b = rng.standard_normal(n) * 0.3
    rows = SparseRows.from_dense(dense)  # stores float32 values: compare on exactly those
    return rows.to_dense(), rows, W.astype(dtype), b.astype(dtype)


def torch_reference(dense, W, b):
    Wt = torch.tensor(W, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    loss = loss_of(Wt, bt, torch.tensor(dense, dtype=torch.float64))
    loss.backward()
    return loss.item(), Wt.grad.numpy(), bt.grad.numpy()


def dense_buffers(rows, W):
    """(bounds, hT, dhT, gW, gb, gbuf): the dense kernels' chunk bounds and zeroed arrays."""
    M, n = W.shape
    bounds = k.chunk_bounds(rows.n_rows)
    chunks = len(bounds) - 1
    hT = np.zeros((M, rows.n_rows), W.dtype)
    return bounds, hT, np.zeros_like(hT), np.zeros((chunks, M, n), W.dtype), np.zeros((chunks, n), W.dtype), np.zeros((chunks, k.BLOCK), W.dtype)


def fused(rows, W, b, parallel):
    M, n = W.shape
    bounds, hT, dhT, gW, gb, gbuf = dense_buffers(rows, W)
    run = k.loss_grad_parallel if parallel else k.loss_grad_serial
    values = rows.values.astype(W.dtype)
    # c = 2 makes the returned gradient that of the unscaled loss
    loss = run((0,) * M, W, b, rows.indptr, rows.indices, values, bounds, hT, dhT, gW, gb, gbuf, W.dtype.type(2.0))
    return loss, gW.sum(0), gb.sum(0)


# every loop: few examples per chunk (T <= 64 a chunk) or m > 12 take the feature-inner loop; large
# T gives chunks of several blocks of the example-inner loop, at m = 3 and 4 and at m = 6, 9 and 12
# (wide: its second gradient pass partly filled, its third partly filled, all three full)
@pytest.mark.parametrize("T,n,m", [(1, 7, 1), (5, 33, 2), (40, 50, 3), (600, 64, 2), (1500, 20, 5), (9, 300, 10), (12, 2500, 3), (130, 1100, 4),
                                   (17_000, 16, 3), (20_000, 12, 4), (200, 30, 1),
                                   (9_000, 14, 6), (6_000, 13, 9), (12_000, 9, 12), (2_000, 25, 13)])  # fmt: skip
def test_loss_and_gradient_equal_float64_autograd(T, n, m):
    """Both entry points, serial and parallel, in one test: they share the kernels compiled for
    m, which two test processes would otherwise compile at the same time."""
    dense, rows, W, b = random_problem(T, n, m, seed=T * 1000 + n)
    ref_loss, ref_gW, ref_gb = torch_reference(dense, W, b)
    for parallel in (False, True):
        loss, gW, gb = fused(rows, W, b, parallel)
        np.testing.assert_allclose(loss, ref_loss, rtol=1e-10, err_msg=f"parallel={parallel}")
        np.testing.assert_allclose(gW, ref_gW, rtol=1e-9, atol=1e-9, err_msg=f"parallel={parallel}")
        np.testing.assert_allclose(gb, ref_gb, rtol=1e-9, atol=1e-9, err_msg=f"parallel={parallel}")


def fused_equals_blocks_by_hand(m: int) -> bool:
    """Whether `chunk_loss_grad` over 1,250 examples equals, bit for bit, `hidden_vectors`, then
    `_dense_block` (m <= REGISTER_UNITS) or `_dense_block_wide` over the blocks we expect, then
    `sparse_correction`, called one by one. The pieces are called first: numba links a copy of
    each kernel into every kernel that calls it and optimizes that copy again, and a process runs
    whichever copy it loaded first (at m = 1 the two give different last bits; see README,
    "Compiled or loaded from numba's cache"). Loaded first, the pieces are what chunk_loss_grad calls, as in the process
    that compiled it."""
    dense, rows, W, b = random_problem(1_250, 40, m, seed=7, dtype=np.float32)
    values, units, c = rows.values.astype(np.float32), (0,) * m, np.float32(0.01)
    _, hT, dhT, gW, gb, gbuf = dense_buffers(rows, W)
    by_hand = [np.zeros_like(a) for a in (hT, dhT, gW[0], gb[0])]
    h, dh, gW_hand, gb_hand = by_hand
    k.hidden_vectors(units, W, rows.indptr, rows.indices, values, 0, 1_250, h)
    # 1,250 examples in equal blocks within 24 KB of h and dh: 2 at m = 3 and 4, 3 at 6, 5 at 12
    block = {1: k.BLOCK, 2: k.BLOCK, 3: 625, 4: 625, 6: 417, 12: 250}[m]
    expected = 0.0
    for s in range(0, 1_250, block):
        if m > k.REGISTER_UNITS:
            expected += k._dense_block_wide(units, W, b, h, dh, gW_hand, gb_hand, np.zeros(k.BLOCK, np.float32), s, min(s + block, 1_250), c)
        else:
            expected += k._dense_block(units, W, b, h, dh, gW_hand, gb_hand, s, min(s + block, 1_250), c)
    expected += k.sparse_correction(units, W, b, rows.indptr, rows.indices, values, 0, 1_250, h, dh, gW_hand, gb_hand, c)
    loss = k.chunk_loss_grad(units, W, b, rows.indptr, rows.indices, values, 0, 1_250, hT, dhT, gW[0], gb[0], gbuf[0], c)
    return loss == expected and all(np.array_equal(a, e) for a, e in zip((hT, dhT, gW[0], gb[0]), by_hand))


@pytest.mark.parametrize("m", [1, 2, 3, 4, 6, 12])
def test_up_to_twelve_units_take_the_example_inner_loop_in_equal_blocks(m):
    """A chunk of more than FEW_EXAMPLES examples at m <= WIDE_UNITS is `_dense_block` (m <=
    REGISTER_UNITS) or `_dense_block_wide` over equal blocks (m > 2) or blocks of BLOCK (m <= 2),
    then the sparse correction: bit for bit. In a fresh process, where nothing has loaded
    chunk_loss_grad before its pieces (`fused_equals_blocks_by_hand`)."""
    check = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); from test_kernels import fused_equals_blocks_by_hand as f; sys.exit(0 if f({m}) else 1)"
    finished = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr[-2000:] or "chunk_loss_grad differs from its blocks by hand"


def test_float32_kernel_close_to_float64():
    dense, rows, W, b = random_problem(700, 200, 2, seed=3)
    loss32, gW32, gb32 = fused(rows, W.astype(np.float32), b.astype(np.float32), parallel=True)
    ref_loss, ref_gW, ref_gb = torch_reference(dense, W, b)
    np.testing.assert_allclose(loss32, ref_loss, rtol=1e-4)
    np.testing.assert_allclose(gW32, ref_gW, rtol=1e-3, atol=1e-3 * np.abs(ref_gW).max())
    np.testing.assert_allclose(gb32, ref_gb, rtol=1e-3, atol=1e-3 * np.abs(ref_gb).max())


def test_example_losses_equal_autograd_per_example():
    dense, rows, W, b = random_problem(300, 40, 3, seed=5)
    bounds = k.chunk_bounds(rows.n_rows)
    losses = np.zeros(rows.n_rows)
    active = np.zeros(rows.n_rows, np.int64)
    hT = np.zeros((3, rows.n_rows))
    k.example_losses((0,) * 3, W, b, rows.indptr, rows.indices, rows.values.astype(np.float64), bounds, hT, losses, active)
    z = (dense @ W.T) @ W + b
    np.testing.assert_allclose(losses, ((dense - np.maximum(z, 0)) ** 2).sum(1), rtol=1e-10)
    np.testing.assert_array_equal(active, (z > 0).sum(1))


def test_chunk_bounds_depend_on_T_only():
    assert list(k.chunk_bounds(10)) == [0, 10]
    assert len(k.chunk_bounds(100_000)) - 1 == k.MAX_CHUNKS
    bounds = k.chunk_bounds(1000)
    assert bounds[0] == 0 and bounds[-1] == 1000 and np.all(np.diff(bounds) >= 256)


def test_lr_schedule_warmup_then_half_cosine():
    steps, warm = 100, 5
    lrs = np.array([k.lr_at(s, steps, warm, 1e-3) for s in range(steps)])
    np.testing.assert_allclose(lrs[:5], 1e-3 * np.arange(1, 6) / 5)
    np.testing.assert_allclose(lrs[5], 1e-3)
    assert np.all(np.diff(lrs[5:]) < 0) and lrs[-1] < 1e-6
    np.testing.assert_allclose(lrs[5 + 95 // 2 + 1], 1e-3 * 0.5 * (1 + np.cos(np.pi * 48 / 95)))


def test_quarter_cosine_schedule_closed_form():
    steps, warm = 100, 5
    lrs = np.array([k.lr_at(s, steps, warm, 1e-3, k.QUARTER_COSINE) for s in range(steps)])
    np.testing.assert_allclose(lrs[:5], 1e-3 * np.arange(1, 6) / 5)  # the same warmup
    progress = (np.arange(5, steps) - warm) / (steps - warm)
    np.testing.assert_allclose(lrs[5:], 1e-3 * np.cos(np.pi / 2 * progress), rtol=1e-12)
    half = np.array([k.lr_at(s, steps, warm, 1e-3, k.HALF_COSINE) for s in range(steps)])
    np.testing.assert_allclose(half[5:], 1e-3 * 0.5 * (1 + np.cos(np.pi * progress)), rtol=1e-12)
    assert np.all(lrs[6:] > half[6:])  # the quarter cosine stays higher all the way down


def test_lr_after_follows_the_configured_schedule():
    from toydd import Config
    from toydd._train import _lr_after

    cfg = Config(steps=1000, warmup_fraction=0.1, lr=2e-3, lr_schedule="quarter_cosine")
    assert _lr_after(cfg, 0) == 0.0
    np.testing.assert_allclose(_lr_after(cfg, 100), 2e-3)
    np.testing.assert_allclose(_lr_after(cfg, 551), 2e-3 * np.cos(np.pi / 2 * 450 / 900), rtol=1e-12)


# --- reduced-precision products (Config.matmul_precision) --------------------------------------


def manual_round(x: np.ndarray, bits: int) -> np.ndarray:
    """float32 x rounded to `bits` mantissa bits by integer arithmetic on numpy uint32 views:
    quotient and remainder by 2^drop, up when the remainder is over half, or exactly half with an
    odd quotient (ties to even). Finite values only."""
    drop = 23 - bits
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    quotient, remainder = u >> drop, u & ((1 << drop) - 1)
    half = 1 << (drop - 1)
    up = (remainder > half) | ((remainder == half) & (quotient % 2 == 1))
    return ((quotient + up) << drop).astype(np.uint32).view(np.float32)


def rounded(x: np.ndarray, bits: int) -> np.ndarray:
    out = np.empty_like(x)
    k.round_to_mantissa(x, out, bits)
    return out


def test_bfloat16_rounding_on_known_values_with_ties_to_even():
    x = np.array([
        1.0, 1 + 2**-8,           # a tie between 1 and 1 + 2^-7: to even, 1
        1 + 3 * 2**-8,            # a tie between 1 + 2^-7 and 1 + 2^-6: to even, 1 + 2^-6
        1 + 2**-8 + 2**-20,       # just over the tie: up
        -(1 + 3 * 2**-8), 3.0, 0.0, -0.0,
        np.float32(3.4e38),       # past bfloat16's largest finite value: infinity
        1e-40,                    # a subnormal
    ], np.float32)  # fmt: skip
    expected = np.array([1.0, 1.0, 1 + 2**-6, 1 + 2**-7, -(1 + 2**-6), 3.0, 0.0, -0.0, np.inf], np.float32)
    out = rounded(x, 7)
    np.testing.assert_array_equal(out[:9], expected)
    assert np.signbit(out[7])
    np.testing.assert_array_equal(out[9:], manual_round(x[9:], 7))


def test_tf32_rounding_on_known_values_with_ties_to_even():
    x = np.array([1 + 2**-11, 1 + 3 * 2**-11, 1 + 2**-11 + 2**-23, 2 - 2**-12, -(1 + 5 * 2**-11)], np.float32)
    expected = np.array([1.0, 1 + 2**-9, 1 + 2**-10, 2.0, -(1 + 2**-9)], np.float32)  # 2.5 ulp: to even, 2
    np.testing.assert_array_equal(rounded(x, 10), expected)


@pytest.mark.parametrize("bits", [7, 10])
def test_rounding_equals_integer_arithmetic_and_torch(bits):
    rng = np.random.default_rng(bits)
    x = np.concatenate([
        rng.standard_normal(20_000) * 10.0 ** rng.integers(-30, 30, 20_000),
        # exact ties and their neighbours: values whose dropped bits are exactly half
        (rng.integers(1, 2**bits, 2_000) * 2 + 1).astype(np.float64) * 2.0 ** (-bits - 1),
    ]).astype(np.float32)  # fmt: skip
    x = np.concatenate([x, np.nextafter(x, np.float32(np.inf)), np.nextafter(x, np.float32(-np.inf))])
    out = rounded(x, bits)
    np.testing.assert_array_equal(out, manual_round(x, bits))
    if bits == 7:  # torch's float32 -> bfloat16 conversion rounds to nearest even as well
        np.testing.assert_array_equal(out, torch.tensor(x).to(torch.bfloat16).float().numpy())
    from toydd._engine_torch import round_operand  # the torch engine's CPU rounding

    np.testing.assert_array_equal(round_operand(torch.tensor(x), bits).numpy(), out)


def test_rounding_keeps_infinity_and_nan_and_full_width_copies():
    x = np.array([np.inf, -np.inf, np.nan, 1.2345678], np.float32)
    out = rounded(x, 7)
    assert out[0] == np.inf and out[1] == -np.inf and np.isnan(out[2])
    np.testing.assert_array_equal(rounded(x, 23)[3], x[3])


@pytest.mark.parametrize("bits", [7, 10])
def test_rounded_products_gradient_equals_float64_autograd(bits):
    """The dense kernels with W, x and h rounded (h inside the kernel) plus the exact-target
    correction: the loss and gradient of float64 autograd whose products see the rounded
    operands and whose residual keeps x exact."""
    dense, rows, W, b = random_problem(300, 150, 2, seed=bits, dtype=np.float32)
    M, n = W.shape
    bounds, hT, dhT, gW, gb, gbuf = dense_buffers(rows, W)
    W_seen = rounded(W.reshape(-1), bits).reshape(M, n)
    values_seen = rounded(rows.values, bits)
    two = np.float32(2.0)
    loss = k.loss_grad_serial((0,) * M, W_seen, b, rows.indptr, rows.indices, values_seen, bounds, hT, dhT, gW, gb, gbuf, two, bits)
    loss += k.exact_target_correction((0,) * M, W_seen, b, rows.indptr, rows.indices, values_seen, rows.values, 0, rows.n_rows, hT, gW[0], gb[0], two)
    for unit in range(M):  # h as W^T h sees it: on the reduced grid, within half its unit of the exact product
        np.testing.assert_array_equal(rounded(hT[unit].copy(), bits), hT[unit])
    X_seen = SparseRows(rows.indptr, rows.indices, values_seen, rows.n_features).to_dense().astype(np.float64)
    exact_h = X_seen @ W_seen.T.astype(np.float64)
    assert np.all(np.abs(hT.T - exact_h) <= 2.0 ** (-bits - 1) * np.abs(exact_h) * (1 + 1e-5) + 1e-30)
    Wt = torch.tensor(W_seen, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    h = torch.tensor(X_seen) @ Wt.T
    h = h + (torch.tensor(hT.T, dtype=torch.float64) - h).detach()  # the rounded value, autograd's gradient
    ref = ((torch.tensor(dense, dtype=torch.float64) - (h @ Wt + bt).relu()) ** 2).sum()
    ref.backward()
    np.testing.assert_allclose(loss, ref.item(), rtol=1e-6)
    np.testing.assert_allclose(gW.sum(0), Wt.grad.numpy(), rtol=1e-4, atol=1e-5 * np.abs(Wt.grad.numpy()).max())
    np.testing.assert_allclose(gb.sum(0), bt.grad.numpy(), rtol=1e-4, atol=1e-5 * np.abs(bt.grad.numpy()).max())
