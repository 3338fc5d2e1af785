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
from ._checkpoint import Checkpoint, TrainState
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
    device = "cpu"

    def train(self, job: StackJob, progress: Progress | None = None, checkpoint: Checkpoint | None = None) -> StackOutcome:
        """Train the stack; with `checkpoint`, resume from it if it holds this stack's state, and
        write it between segments (see `_checkpoint`)."""
        cfg = job.config
        set_threads(cfg.threads)
        state = fresh_state(job)
        if checkpoint is not None:
            state = checkpoint.load(state) or state
        W, b, adam_state, history_W, history_b = state.W, state.b, state.adam_state, state.history_W, state.history_b
        nan_step, last_loss = state.nan_step, state.last_loss
        K, M, n = W.shape
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
        start = time.perf_counter() - state.seconds
        every_steps = checkpoint.every_steps if checkpoint is not None else 0
        for first, stop in segments(int(state.next_step.min()), cfg.steps, every_steps):
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
            state.next_step[:] = stop
            state.seconds = time.perf_counter() - start
            if progress is not None:
                progress(stop / cfg.steps, last_loss)
            if checkpoint is not None:
                checkpoint.at_boundary(state, stop)
        seconds = time.perf_counter() - start
        return StackOutcome(W, b, history_W, history_b, nan_step, seconds, self.name)


def fresh_state(job: StackJob) -> TrainState:
    """The state before the first step: initial weights, zero moments, nothing recorded."""
    K, M, n = job.init_W.shape
    P = len(job.history_steps)
    dtype = job.init_W.dtype
    return TrainState(
        W=job.init_W.copy(),
        b=job.init_b.copy(),
        adam_state=np.zeros((K, 4, (M + 1) * n), dtype),
        history_W=np.zeros((K, P, M, n), dtype),
        history_b=np.zeros((K, P, n), dtype),
        nan_step=np.full(K, -1, np.int64),
        last_loss=np.full(K, np.nan),
        next_step=np.zeros(K, np.int64),
    )


SEGMENT_SECONDS = 1.0  # Python regains control about this often: progress, checkpoints, signals


def segments(first: int, steps: int, align: int = 0, seconds: float = SEGMENT_SECONDS):
    """Yield ranges (a, b) covering [first, steps), each sized to take about `seconds` from the
    time the previous ones took (the first is one step), never crossing a multiple of `align`
    (when > 0). Python runs between ranges, never per step; where they fall does not change the
    numbers. At T = 500,000 (0.4 s a step) a range is two steps, so a signal waits about a second."""
    length = 1
    while first < steps:
        stop = min(steps, first + length)
        if align > 0:
            stop = min(stop, (first // align + 1) * align)
        started = time.perf_counter()
        yield first, stop
        per_step = (time.perf_counter() - started) / (stop - first)
        # grow at most 8x a time: one fast measurement (a tiny range) must not make a huge one
        length = max(1, min(8 * length, int(seconds / per_step) if per_step > 0 else 8 * length))
        first = stop


def set_threads(threads: int) -> None:
    """Use `threads` numba threads (0: every core numba may use)."""
    available = numba.config.NUMBA_NUM_THREADS
    numba.set_num_threads(available if threads == 0 else min(threads, available))
