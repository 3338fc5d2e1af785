"""The fused kernels against float64 torch autograd on the same inputs."""

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


def fused(rows, W, b, parallel):
    M, n = W.shape
    bounds = k.chunk_bounds(rows.n_rows)
    chunks = len(bounds) - 1
    hT = np.zeros((M, rows.n_rows), W.dtype)
    dhT = np.zeros_like(hT)
    gW = np.zeros((chunks, M, n), W.dtype)
    gb = np.zeros((chunks, n), W.dtype)
    gbuf = np.zeros((chunks, k.BLOCK), W.dtype)
    run = k.loss_grad_parallel if parallel else k.loss_grad_serial
    values = rows.values.astype(W.dtype)
    # c = 2 makes the returned gradient that of the unscaled loss
    loss = run((0,) * M, W, b, rows.indptr, rows.indices, values, bounds, hT, dhT, gW, gb, gbuf, W.dtype.type(2.0))
    return loss, gW.sum(0), gb.sum(0)


@pytest.mark.parametrize("T,n,m", [(1, 7, 1), (5, 33, 2), (40, 50, 3), (600, 64, 2), (1500, 20, 5), (9, 300, 10), (12, 2500, 3), (130, 1100, 4)])
@pytest.mark.parametrize("parallel", [False, True])
def test_loss_and_gradient_equal_float64_autograd(T, n, m, parallel):
    dense, rows, W, b = random_problem(T, n, m, seed=T * 1000 + n)
    loss, gW, gb = fused(rows, W, b, parallel)
    ref_loss, ref_gW, ref_gb = torch_reference(dense, W, b)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-10)
    np.testing.assert_allclose(gW, ref_gW, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(gb, ref_gb, rtol=1e-9, atol=1e-9)


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
