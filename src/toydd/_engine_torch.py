"""The torch engine: the model written plainly with autograd and torch.optim.AdamW, on CPU or CUDA.

It is the readable reference for the cpu engine and the GPU path. Models of a stack train one
after another. Examples are made dense on the device in chunks of at most CHUNK_ELEMENTS entries
and gradients accumulate over chunks. A training set of up to KEEP_DENSE entries stays dense on
the device; a larger one stays there as CSR and each chunk is made dense when it is used, so that
T = 500,000 at n = 10,000 fits in a GPU's memory.

matmul_precision: on CUDA torch's own settings do the rounding (TF32 tensor cores through
torch.backends.cuda.matmul.allow_tf32, bfloat16 through autocast, which also rounds the products'
outputs to bfloat16); on CPU the operands of W x and W^T h are rounded as the cpu engine rounds
them (`round_operand`), so that the two engines agree.
"""

from __future__ import annotations

import contextlib
import time

import numpy as np

from . import _kernels
from ._checkpoint import Checkpoint, TrainState
from ._config import ConfigError
from ._data import SparseRows, infinite_batch_seed, sample_rows
from ._engine_cpu import fresh_state
from ._engines import Progress, StackJob, StackOutcome
from ._kernels import FLOAT32_MANTISSA_BITS, SCHEDULE_CODES

CHUNK_ELEMENTS = 1 << 26  # dense entries per chunk (256 MB in float32)
KEEP_DENSE = 1 << 28  # a training set up to this many entries (1 GB in float32) is kept dense


def _torch():
    try:
        import torch
    except ImportError:
        raise ConfigError("engine = \"torch\" needs PyTorch: pip install 'toydd[torch]'") from None
    return torch


class TorchEngine:
    name = "torch"

    def __init__(self, device: str = "auto"):
        torch = _torch()
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("device = \"cuda\" but torch sees no CUDA device")
        self.device = torch.device(device)

    def train(self, job: StackJob, progress: Progress | None = None, checkpoint: Checkpoint | None = None) -> StackOutcome:
        """Train the stack, model after model; with `checkpoint`, resume from it and write it as
        it goes (the model being trained, with its AdamW state, and the finished ones)."""
        torch = _torch()
        cfg = job.config
        dtype = torch.float64 if job.init_W.dtype == np.float64 else torch.float32
        state = fresh_state(job)
        if checkpoint is not None:
            state = checkpoint.load(state) or state
        fixed = None if job.train_set is None else self._dense_chunks(job.train_set, dtype)
        on_cuda = self.device.type == "cuda"
        bits = FLOAT32_MANTISSA_BITS if on_cuda else cfg.mantissa_bits  # on CUDA the hardware rounds
        schedule = SCHEDULE_CODES[cfg.lr_schedule]
        start = time.perf_counter() - state.seconds
        with _cuda_matmul_precision(cfg.matmul_precision if on_cuda else None) as autocast:
            self._train_models(job, state, fixed, dtype, bits, schedule, autocast, progress, checkpoint, start)
        seconds = time.perf_counter() - start
        threads = 0 if on_cuda else torch.get_num_threads()
        return StackOutcome(state.W, state.b, state.history_W, state.history_b, state.nan_step, seconds, self.name, threads)

    def _train_models(self, job: StackJob, state: TrainState, fixed, dtype, bits: int, schedule: int, autocast, progress, checkpoint, start: float) -> None:
        """The stack's models one after another, in `state`; `bits`: mantissa bits of the products'
        operands when rounded here (CPU), `autocast`: a context for the forward pass (CUDA bfloat16)."""
        torch = _torch()
        cfg = job.config
        K = job.n_models
        n = cfg.n_features
        report_every = max(1, cfg.steps // 100)
        for model in range(K):
            first = int(state.next_step[model])
            if state.nan_step[model] >= 0 or first >= cfg.steps:
                continue
            W = torch.tensor(state.W[model], dtype=dtype, device=self.device, requires_grad=True)
            b = torch.tensor(state.b[model], dtype=dtype, device=self.device, requires_grad=True)
            decay = float(job.weight_decays[model])
            optimizer = torch.optim.AdamW(
                [{"params": [W], "weight_decay": decay},
                 {"params": [b], "weight_decay": decay if cfg.decay_bias else 0.0}],
                lr=float(job.lrs[model]), betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, foreach=False,
            )  # fmt: skip
            if first > 0:
                self._restore_moments(optimizer, W, b, state.adam_state[model], first)
            recorded = int(np.searchsorted(job.history_steps, first, side="right")) if first > 0 else 0
            recorded = self._record(first, W, b, job.history_steps, state.history_W[model], state.history_b[model], recorded)
            for step in range(first, cfg.steps):
                chunks = fixed
                if chunks is None:
                    batch = sample_rows(cfg.batch_size, n, cfg.sparsity, infinite_batch_seed(cfg.data_seed, step), cfg.normalize)
                    chunks = self._dense_chunks(batch, dtype)
                n_rows = cfg.examples_per_step
                optimizer.zero_grad(set_to_none=True)
                loss = 0.0
                for X in chunks:
                    with autocast():
                        chunk_loss = loss_of(W, b, X(), bits) * (cfg.training_scale / n_rows)
                    chunk_loss.backward()
                    loss += chunk_loss.item()
                state.last_loss[model] = loss
                if not np.isfinite(loss):
                    state.nan_step[model] = step
                    break
                lr = _kernels.lr_at(step, cfg.steps, cfg.warmup_steps, float(job.lrs[model]), schedule)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                optimizer.step()
                recorded = self._record(step + 1, W, b, job.history_steps, state.history_W[model], state.history_b[model], recorded)
                state.next_step[model] = step + 1
                if progress is not None and (step + 1) % report_every == 0:
                    progress((model * cfg.steps + step + 1) / (K * cfg.steps), state.last_loss)
                if checkpoint is not None and checkpoint.due(step + 1):
                    self._keep(state, model, W, b, optimizer)
                    state.seconds = time.perf_counter() - start
                    checkpoint.at_boundary(state, step + 1)
            state.W[model] = W.detach().cpu().numpy()
            state.b[model] = b.detach().cpu().numpy()

    @staticmethod
    def _keep(state: TrainState, model: int, W, b, optimizer) -> None:
        """Copy the model's weights and AdamW moments into `state` (the cpu engine's layout)."""
        M, n = W.shape
        state.W[model] = W.detach().cpu().numpy()
        state.b[model] = b.detach().cpu().numpy()
        for param, row, size in ((W, 0, M * n), (b, 2, n)):
            moments = optimizer.state[param]
            state.adam_state[model, row, :size] = moments["exp_avg"].detach().cpu().numpy().reshape(-1)
            state.adam_state[model, row + 1, :size] = moments["exp_avg_sq"].detach().cpu().numpy().reshape(-1)

    def _restore_moments(self, optimizer, W, b, adam_state: np.ndarray, steps_done: int) -> None:
        """Give AdamW the moments of `adam_state` (4, (m + 1) n) after `steps_done` steps."""
        torch = _torch()
        M, n = W.shape
        for param, row, size in ((W, 0, M * n), (b, 2, n)):
            optimizer.state[param] = {
                "step": torch.tensor(float(steps_done)),  # torch keeps the count as a default-dtype CPU scalar
                "exp_avg": torch.tensor(adam_state[row, :size].reshape(param.shape), dtype=param.dtype, device=self.device),
                "exp_avg_sq": torch.tensor(adam_state[row + 1, :size].reshape(param.shape), dtype=param.dtype, device=self.device),
            }

    def _dense_chunks(self, rows: SparseRows, dtype) -> list:
        """Callables, one per chunk of examples, each returning that chunk as a dense (t, n) tensor."""
        torch = _torch()
        per_chunk = max(1, CHUNK_ELEMENTS // rows.n_features)
        keep_dense = rows.n_rows * rows.n_features <= KEEP_DENSE
        chunks = []
        for t0 in range(0, rows.n_rows, per_chunk):
            t1 = min(t0 + per_chunk, rows.n_rows)
            lo, hi = rows.indptr[t0], rows.indptr[t1]
            row_of_entry = torch.as_tensor(np.repeat(np.arange(t1 - t0), np.diff(rows.indptr[t0 : t1 + 1])), device=self.device)
            column = torch.as_tensor(rows.indices[lo:hi], device=self.device)
            value = torch.as_tensor(rows.values[lo:hi], device=self.device).to(dtype)

            def dense(t=t1 - t0, r=row_of_entry, c=column, v=value):
                X = torch.zeros((t, rows.n_features), dtype=dtype, device=self.device)
                X[r, c] = v
                return X

            if keep_dense:
                X = dense()
                chunks.append(lambda X=X: X)
            else:
                chunks.append(dense)
        return chunks

    @staticmethod
    def _record(done, W, b, steps, history_W, history_b, recorded):
        while recorded < len(steps) and steps[recorded] == done:
            history_W[recorded] = W.detach().cpu().numpy()
            history_b[recorded] = b.detach().cpu().numpy()
            recorded += 1
        return recorded


def loss_of(W, b, X, bits=FLOAT32_MANTISSA_BITS):
    """Unscaled loss sum_t sum_i (x_ti - ReLU(W^T W x_t + b)_i)^2.  W (m, n), b (n,), X (T, n).

    With bits < 23 (float32 tensors) W, X and h = W x enter the two products rounded to `bits`
    mantissa bits (`round_operand`), the residual x - x' keeps X as it is: what a GPU's TF32 or
    bfloat16 products compute, accumulating in float32."""
    if bits < FLOAT32_MANTISSA_BITS:
        W_seen, X_seen = round_operand(W, bits), round_operand(X, bits)
        hidden = round_operand(X_seen @ W_seen.T, bits)
        out = (hidden @ W_seen + b).relu()
    else:
        out = ((X @ W.T) @ W + b).relu()
    return ((X - out) ** 2).sum()


def round_operand(x, bits: int):
    """The float32 tensor x rounded to `bits` explicit mantissa bits (round to nearest, ties to
    even, as `_kernels.round_to_mantissa`), with the gradient passed straight through to x, as
    autograd treats the rounding inside a GPU's product. x + (r - x) is exactly r: r - x is exact
    (Sterbenz: r and x are within a factor 2) and the sum is the representable r."""
    torch = _torch()
    u = x.detach().view(torch.int32).to(torch.int64) & 0xFFFFFFFF
    drop = FLOAT32_MANTISSA_BITS - bits
    lowest_kept = (u >> drop) & 1
    r = (u + (1 << (drop - 1)) - 1 + lowest_kept) & ~((1 << drop) - 1)
    r = torch.where((u & 0x7F800000) == 0x7F800000, u, r)  # infinity and NaN unchanged
    r = torch.where(r >= 1 << 31, r - (1 << 32), r).to(torch.int32).view(torch.float32)
    return x + (r - x).detach()


@contextlib.contextmanager
def _cuda_matmul_precision(precision: str | None):
    """While training on CUDA: TF32 products on for "tf32" and off otherwise (whatever the
    process had set is restored after), and yields the forward pass's context: bfloat16 autocast
    for "bfloat16", else none. precision None (CPU): nothing is set."""
    if precision is None:
        yield contextlib.nullcontext
        return
    torch = _torch()
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    try:
        if precision == "bfloat16":
            yield lambda: torch.autocast("cuda", dtype=torch.bfloat16)
        else:
            yield contextlib.nullcontext
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before
