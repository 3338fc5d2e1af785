"""The cpu engine: the whole training loop (data, loss, gradient, AdamW, schedule) compiled by numba.

One Python call trains a stack of models; no Python runs per step. Two ways to use the cores:
- across models: small problems (T up to a few thousand) train one model per thread;
- inside a model: large T splits each step's examples over threads (see `_kernels`).
Both run the same chunks in the same order, so they give the same numbers.
"""

from __future__ import annotations

import time
from collections import namedtuple

import numba
import numpy as np

from . import _kernels as kernels
from . import _tree
from ._checkpoint import Checkpoint, TrainState
from ._data import INFINITE_STREAM, sample_csr, stream_seed
from ._engines import Progress, StackJob, StackOutcome

# Below this many (feature, example) pairs per step a model is too small to split across threads.
ACROSS_MODELS_MAX_PAIRS = 10_000 * 2_048


# The compiled loop's inputs, grouped by what they are (numba compiles named tuples like tuples).
TrainData = namedtuple("TrainData", "indptr indices values infinite batch_size density normalize data_seed")
TrainData.__doc__ = """The training set as CSR (ignored for infinite data, whose batch of step s is drawn
from (data_seed, s) with batch_size examples of the given density)."""
Recipe = namedtuple("Recipe", "steps warmup_steps decay_bias beta1 beta2 eps loss_scale schedule mantissa_bits")
Recipe.__doc__ = """The schedule and AdamW settings shared by a stack (peak lr and decay are per model):
loss_scale is Config.training_scale (each example's loss is multiplied by it, then averaged over
the step's examples); schedule a `_kernels.SCHEDULE_CODES` value; mantissa_bits the bits the
operands of W x and W^T h keep (23: float32, no rounding; Config.matmul_precision)."""
ModelState = namedtuple("ModelState", "W b adam_state history_W history_b tree_order tree_stats")
ModelState.__doc__ = """One model's arrays, updated in place and carried between calls:
W (m, n), b (n,); adam_state (4, (m + 1) n): AdamW's moments; history_W (P, m, n), history_b (P, n):
weights after history_steps[p] updates; tree_order (T,) int64: the tree engine's ordering of the
examples (see `_tree`; empty for the dense pass); tree_stats (N_STATS,) int64: the tree's counts.
For a stack, every array gains a leading K axis."""


@numba.njit(cache=True)
def train_loop(parallel, units, model, data, recipe, lr_peak, weight_decay, history_steps, first_step, stop_step):
    """Train one model (a ModelState) in place over steps [first_step, stop_step) of a
    recipe.steps-step schedule on `data` (a TrainData). `units` is a tuple of length m: it
    specializes the kernels for m (see `_kernels`). `parallel` splits each step's examples over
    threads. Returns (first step whose loss is not finite or -1, last loss); after a non-finite
    loss the weights are those from before that step.
    """
    W, b, history_W, history_b, tree_order = model.W, model.b, model.history_W, model.history_b, model.tree_order
    indptr, indices, values = data.indptr, data.indices, data.values
    M, n = W.shape
    n_rows = data.batch_size if data.infinite else len(indptr) - 1
    bounds = kernels.chunk_bounds(n_rows)
    n_chunks = len(bounds) - 1
    use_tree = len(tree_order) > 0
    grad_chunks = 1 if use_tree else n_chunks  # the tree sums its parts itself, in float64
    hT = np.zeros((M, n_rows), W.dtype)
    dhT = np.zeros((M, n_rows), W.dtype)
    gW = np.zeros((grad_chunks, M, n), W.dtype)
    gb = np.zeros((grad_chunks, n), W.dtype)
    gbuf = np.zeros((n_chunks, kernels.BLOCK), W.dtype)
    W_flat = W.reshape(M * n)
    gW_flat = gW.reshape(grad_chunks, M * n)
    avg_W, avg_sq_W = model.adam_state[0, : M * n], model.adam_state[1, : M * n]
    avg_b, avg_sq_b = model.adam_state[2, :n], model.adam_state[3, :n]
    scale = recipe.loss_scale / n_rows
    c = W.dtype.type(2.0 * scale)
    bias_decay = weight_decay if recipe.decay_bias else 0.0
    # matmul_precision: the products see W, x and h rounded (h inside the kernel), the loss's
    # target stays x (`exact_target_correction`), and AdamW updates W itself
    bits = recipe.mantissa_bits
    rounded = bits < kernels.FLOAT32_MANTISSA_BITS
    W_seen = np.empty_like(W) if rounded else W
    values_seen = values
    if rounded:
        values_seen = np.empty_like(values)
        kernels.round_to_mantissa(values, values_seen, bits)
    tree_ws = _tree.tree_workspace(units, n_rows if use_tree else 1, n if use_tree else 0)

    recorded = np.searchsorted(history_steps, first_step, side="right")  # next to record
    if first_step == 0 and len(history_steps) > 0 and history_steps[0] == 0:
        history_W[0] = W
        history_b[0] = b
    loss = np.nan
    for step in range(first_step, stop_step):
        if data.infinite:
            seed = stream_seed(INFINITE_STREAM, data.data_seed, step)
            indptr, indices, batch_values = sample_csr(data.batch_size, n, data.density, seed, data.normalize)
            values = batch_values.astype(W.dtype)
            values_seen = values
            if rounded:
                values_seen = np.empty_like(values)
                kernels.round_to_mantissa(values, values_seen, bits)
        if rounded:
            kernels.round_to_mantissa(W_flat, W_seen.reshape(M * n), bits)
        if use_tree:  # a fresh batch, or a step that rebuilds the ordering (a multiple, so resumable)
            rebuild = data.infinite or step % _tree.REBUILD_EVERY == 0
            tree_args = (rebuild, tree_order, hT, dhT, gW[0], gb[0], tree_ws, c)
            raw = _tree.tree_loss_grad(parallel, units, W, b, indptr, indices, values, *tree_args)
        elif parallel:
            raw = kernels.loss_grad_parallel(units, W_seen, b, indptr, indices, values_seen, bounds, hT, dhT, gW, gb, gbuf, c, bits)
        else:
            raw = kernels.loss_grad_serial(units, W_seen, b, indptr, indices, values_seen, bounds, hT, dhT, gW, gb, gbuf, c, bits)
        if rounded:
            raw += kernels.exact_target_correction(units, W_seen, b, indptr, indices, values_seen, values, 0, n_rows, hT, gW[0], gb[0], c)
        loss = raw * scale
        if not np.isfinite(loss):
            _tree.total_stats(tree_ws, model.tree_stats)
            return step, loss
        lr = kernels.lr_at(step, recipe.steps, recipe.warmup_steps, lr_peak, recipe.schedule)
        adam = (step + 1, lr, weight_decay, recipe.beta1, recipe.beta2, recipe.eps)
        kernels.adamw_update(W_flat, gW_flat, avg_W, avg_sq_W, *adam)
        kernels.adamw_update(b, gb, avg_b, avg_sq_b, step + 1, lr, bias_decay, recipe.beta1, recipe.beta2, recipe.eps)
        if recorded < len(history_steps) and history_steps[recorded] == step + 1:
            history_W[recorded] = W
            history_b[recorded] = b
            recorded += 1
    _tree.total_stats(tree_ws, model.tree_stats)
    return -1, loss


@numba.njit(cache=True, parallel=True)
def train_across_models(units, stack, data, recipe, lrs, weight_decays, history_steps, first_step, stop_step, nan_step, last_loss):
    """`train_loop` for each of K models of `stack` (a ModelState with a leading K axis), one
    model per thread; lrs, weight_decays, nan_step, last_loss (K,)."""
    # bool(): a bare False would be typed Literal[bool](False) and compile a second train_loop
    within_step_parallel = bool(False)  # each model on one thread: its steps run serially
    for i in numba.prange(stack.W.shape[0]):
        if nan_step[i] >= 0:
            continue
        model = ModelState(
            stack.W[i], stack.b[i], stack.adam_state[i], stack.history_W[i], stack.history_b[i],
            stack.tree_order[i], stack.tree_stats[i],
        )  # fmt: skip
        nan_step[i], last_loss[i] = train_loop(
            within_step_parallel, units, model, data, recipe, lrs[i], weight_decays[i], history_steps, first_step, stop_step
        )


class CpuEngine:
    name = "cpu"
    device = "cpu"
    tree = False  # the dense pass by tree (`_tree`): the "tree" engine

    @staticmethod
    def splits(n_rows: int) -> bool:
        """Whether one model's step can be shared out over threads: several example chunks."""
        return len(kernels.chunk_bounds(n_rows)) > 2

    def train(self, job: StackJob, progress: Progress | None = None, checkpoint: Checkpoint | None = None) -> StackOutcome:
        """Train the stack; with `checkpoint`, resume from it if it holds this stack's state, and
        write it between segments (see `_checkpoint`)."""
        cfg = job.config
        set_threads(cfg.threads)
        state = fresh_state(job, self.tree)
        if checkpoint is not None:
            state = checkpoint.load(state) or state
        W, nan_step, last_loss = state.W, state.nan_step, state.last_loss
        K, M, n = W.shape
        if job.train_set is None:
            indptr, indices, values = np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0, W.dtype)
        else:
            indptr, indices = job.train_set.indptr, job.train_set.indices
            values = job.train_set.values.astype(W.dtype)
        data = TrainData(
            indptr, indices, values, cfg.infinite_data, cfg.batch_size, 1.0 - cfg.sparsity, cfg.normalize, cfg.data_seed
        )
        recipe = Recipe(
            cfg.steps, cfg.warmup_steps, cfg.decay_bias, cfg.beta1, cfg.beta2, cfg.eps, cfg.training_scale,
            kernels.SCHEDULE_CODES[cfg.lr_schedule], cfg.mantissa_bits,
        )  # fmt: skip
        stack = ModelState(*(getattr(state, name) for name in ModelState._fields))
        units = (0,) * M
        lrs = np.asarray(job.lrs, np.float64)
        decays = np.asarray(job.weight_decays, np.float64)
        threads = numba.get_num_threads()
        split = threads > 1 and self.splits(cfg.examples_per_step)
        # one model per thread when a model is small, or when its examples are too few to split
        across = K > 1 and threads > 1 and (n * cfg.examples_per_step <= ACROSS_MODELS_MAX_PAIRS or not split)
        start = time.perf_counter() - state.seconds
        every_steps = checkpoint.every_steps if checkpoint is not None else 0
        for first, stop in segments(int(state.next_step.min()), cfg.steps, every_steps):
            if across:
                train_across_models(units, stack, data, recipe, lrs, decays, job.history_steps, first, stop, nan_step, last_loss)
            else:
                for i in np.flatnonzero(nan_step < 0):
                    model = ModelState(*(array[i] for array in stack))
                    nan_step[i], last_loss[i] = train_loop(
                        split, units, model, data, recipe, lrs[i], decays[i], job.history_steps, first, stop
                    )
            state.next_step[:] = stop
            state.seconds = time.perf_counter() - start
            if progress is not None:
                progress(stop / cfg.steps, last_loss)
            if checkpoint is not None:
                checkpoint.at_boundary(state, stop)
        seconds = time.perf_counter() - start
        tree_stats = state.tree_stats if self.tree else None
        return StackOutcome(W, state.b, state.history_W, state.history_b, nan_step, seconds, self.name, threads, tree_stats)


def fresh_state(job: StackJob, tree: bool = False) -> TrainState:
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
        tree_order=np.zeros((K, job.config.examples_per_step if tree else 0), np.int64),
        tree_stats=np.zeros((K, _tree.N_STATS), np.int64),
    )


SEGMENT_SECONDS = 1.0  # Python regains control about this often: progress, checkpoints, signals


def segments(first: int, steps: int, align: int = 0, seconds: float = SEGMENT_SECONDS):
    """Yield ranges (a, b) covering [first, steps), each sized to take about `seconds` from the
    time the previous ones took (the first is one step), never crossing a multiple of `align`
    (when > 0). Python runs between ranges, never per step; where they fall does not change the
    numbers. At T = 500,000 (about 0.1 to 0.2 s a tree step) a range is several steps, so a signal
    waits about a second."""
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


class TreeEngine(CpuEngine):
    """The cpu engine with the dense pass done exactly by tree (`_tree`): the same loop, the same
    numbers up to rounding, far less work where the tree can classify groups of examples."""

    name = "tree"
    tree = True

    @staticmethod
    def splits(n_rows: int) -> bool:
        """The tree's feature groups share out any step."""
        return True
