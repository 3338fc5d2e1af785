"""The cpu engine: the whole training loop (data, loss, gradient, AdamW, schedule) compiled by numba.

One Python call trains a stack of models; no Python runs per step. Two ways to use the cores:
- across models: small problems (T up to a few thousand) train one model per thread;
- inside a model: large T splits each step's examples over threads (see `_kernels`).
Both run the same chunks in the same order, so they give the same numbers.
"""

from __future__ import annotations

import time

import numba
import numpy as np

from . import _kernels as k
from ._data import INFINITE_STREAM, sample_csr, stream_seed
from ._engines import Progress, StackJob, StackOutcome

# Below this many (feature, example) pairs per step a model is too small to split across threads.
ACROSS_MODELS_MAX_PAIRS = 10_000 * 2_048


@numba.njit(cache=True)
def train_loop(
    parallel, dims, W, b, adam_state, indptr, indices, values,
    infinite, batch_size, density, normalize, data_seed,
    steps, warmup_steps, lr_peak, weight_decay, decay_bias, beta1, beta2, eps, feature_scale,
    history_steps, history_W, history_b, first_step, stop_step,
):  # fmt: skip
    """Train one model in place over steps [first_step, stop_step) of a `steps`-step schedule.

    W (m, n), b (n,): weights; adam_state (4, (m + 1) n): AdamW's moments, carried between
    calls. For infinite data the CSR arrays are ignored and the batch of step s is drawn from
    (data_seed, s). history_W (P, m, n) and history_b (P, n) receive the weights after
    history_steps[p] updates. Returns (first step whose loss is not finite or -1, last loss);
    after a non-finite loss the weights are those from before that step.
    """
    M, n = W.shape
    n_rows = batch_size if infinite else len(indptr) - 1
    bounds = k.chunk_bounds(n_rows)
    n_chunks = len(bounds) - 1
    hT = np.zeros((M, n_rows), W.dtype)
    dhT = np.zeros((M, n_rows), W.dtype)
    gW = np.zeros((n_chunks, M, n), W.dtype)
    gb = np.zeros((n_chunks, n), W.dtype)
    gbuf = np.zeros((n_chunks, k.BLOCK), W.dtype)
    W_flat = W.reshape(M * n)
    gW_flat = gW.reshape(n_chunks, M * n)
    avg_W, avg_sq_W = adam_state[0, : M * n], adam_state[1, : M * n]
    avg_b, avg_sq_b = adam_state[2, :n], adam_state[3, :n]
    scale = feature_scale / n_rows
    c = W.dtype.type(2.0 * scale)
    bias_decay = weight_decay if decay_bias else 0.0

    recorded = np.searchsorted(history_steps, first_step, side="right")  # next to record
    if first_step == 0 and len(history_steps) > 0 and history_steps[0] == 0:
        history_W[0] = W
        history_b[0] = b
    loss = np.nan
    for step in range(first_step, stop_step):
        if infinite:
            seed = stream_seed(INFINITE_STREAM, data_seed, step)
            indptr, indices, batch_values = sample_csr(batch_size, n, density, seed, normalize)
            values = batch_values.astype(W.dtype)
        if parallel:
            raw = k.loss_grad_parallel(dims, W, b, indptr, indices, values, bounds, hT, dhT, gW, gb, gbuf, c)
        else:
            raw = k.loss_grad_serial(dims, W, b, indptr, indices, values, bounds, hT, dhT, gW, gb, gbuf, c)
        loss = raw * scale
        if not np.isfinite(loss):
            return step, loss
        lr = k.lr_at(step, steps, warmup_steps, lr_peak)
        k.adamw_update(W_flat, gW_flat, avg_W, avg_sq_W, step + 1, lr, weight_decay, beta1, beta2, eps)
        k.adamw_update(b, gb, avg_b, avg_sq_b, step + 1, lr, bias_decay, beta1, beta2, eps)
        if recorded < len(history_steps) and history_steps[recorded] == step + 1:
            history_W[recorded] = W
            history_b[recorded] = b
            recorded += 1
    return -1, loss


@numba.njit(cache=True, parallel=True)
def train_across_models(
    dims, W, b, adam_state, indptr, indices, values,
    infinite, batch_size, density, normalize, data_seed,
    steps, warmup_steps, lrs, weight_decays, decay_bias, beta1, beta2, eps, feature_scale,
    history_steps, history_W, history_b, first_step, stop_step, nan_step, last_loss,
):  # fmt: skip
    """`train_loop` for each of K models, one model per thread; arrays gain a leading K axis."""
    for model in numba.prange(W.shape[0]):
        if nan_step[model] >= 0:
            continue
        nan_step[model], last_loss[model] = train_loop(
            False, dims, W[model], b[model], adam_state[model], indptr, indices, values,
            infinite, batch_size, density, normalize, data_seed,
            steps, warmup_steps, lrs[model], weight_decays[model], decay_bias, beta1, beta2, eps, feature_scale,
            history_steps, history_W[model], history_b[model], first_step, stop_step,
        )  # fmt: skip


class CpuEngine:
    name = "cpu"

    def train(self, job: StackJob, progress: Progress | None = None) -> StackOutcome:
        cfg = job.config
        set_threads(cfg.threads)
        W = job.init_W.copy()
        b = job.init_b.copy()
        K, M, n = W.shape
        P = len(job.history_steps)
        history_W = np.zeros((K, P, M, n), W.dtype)
        history_b = np.zeros((K, P, n), W.dtype)
        adam_state = np.zeros((K, 4, (M + 1) * n), W.dtype)
        nan_step = np.full(K, -1, np.int64)
        last_loss = np.full(K, np.nan)
        if job.train_set is None:
            indptr, indices, values = np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0, W.dtype)
        else:
            indptr, indices = job.train_set.indptr, job.train_set.indices
            values = job.train_set.values.astype(W.dtype)
        data = (
            indptr, indices, values,
            cfg.infinite_data, cfg.batch_size, 1.0 - cfg.sparsity, cfg.normalize, cfg.data_seed,
            cfg.steps, cfg.warmup_steps,
        )  # fmt: skip
        recipe = (cfg.decay_bias, cfg.beta1, cfg.beta2, cfg.eps, cfg.feature_scale)
        dims = (0,) * M
        lrs = np.asarray(job.lrs, np.float64)
        decays = np.asarray(job.weight_decays, np.float64)
        threads = numba.get_num_threads()
        across = K > 1 and threads > 1 and n * cfg.examples_per_step <= ACROSS_MODELS_MAX_PAIRS
        split = threads > 1 and len(k.chunk_bounds(cfg.examples_per_step)) > 2  # chunks to share out
        start = time.perf_counter()
        for first, stop in segments(cfg.steps):
            if across:
                train_across_models(
                    dims, W, b, adam_state, *data, lrs, decays, *recipe,
                    job.history_steps, history_W, history_b, first, stop, nan_step, last_loss,
                )  # fmt: skip
            else:
                for model in np.flatnonzero(nan_step < 0):
                    nan_step[model], last_loss[model] = train_loop(
                        split, dims, W[model], b[model], adam_state[model], *data, lrs[model], decays[model],
                        *recipe, job.history_steps, history_W[model], history_b[model], first, stop,
                    )  # fmt: skip
            if progress is not None:
                progress(stop / cfg.steps, last_loss)
        seconds = time.perf_counter() - start
        return StackOutcome(W, b, history_W, history_b, nan_step, seconds, self.name)


def segments(steps: int, count: int = 100) -> list[tuple[int, int]]:
    """Split [0, steps) into about `count` ranges: Python runs between them, never per step."""
    edges = np.unique(np.linspace(0, steps, min(count, steps) + 1).astype(np.int64))
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def set_threads(threads: int) -> None:
    """Use `threads` numba threads (0: every core numba may use)."""
    available = numba.config.NUMBA_NUM_THREADS
    numba.set_num_threads(available if threads == 0 else min(threads, available))
