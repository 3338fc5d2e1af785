"""toydd's cpu engine against the naive PyTorch loop a researcher writes today, in one process.

    python benchmarks/bench_engine.py            # the README's table (a few minutes)
    python benchmarks/bench_engine.py --quick    # fewer steps, for a smoke test

The baseline: dense X (T, n), autograd, torch.optim.AdamW, full batch, one model at a time.
Both sides run the paper's setting n = 10,000, S = 0.999, m = 2 on all cores, after a warm-up
(numba compilation is excluded; it is cached on disk after the first run anyway).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from toydd import Config, init_weights, train_set
from toydd import _kernels
from toydd._engine_cpu import CpuEngine, set_threads
from toydd._engines import StackJob


def naive_ms_per_step(cfg: Config, steps: int, device: str = "cpu") -> float:
    """The notebook loop: dense data, autograd, AdamW with the paper's schedule set per step, on
    `device`."""
    X = torch.as_tensor(train_set(cfg).to_dense(np.float32)).to(device)
    W0, b0 = init_weights(cfg)
    W = torch.nn.Parameter(torch.tensor(W0, device=device))
    b = torch.nn.Parameter(torch.tensor(b0, device=device))
    optimizer = torch.optim.AdamW([W, b], lr=cfg.lr, weight_decay=cfg.weight_decay)

    def step(s: int) -> None:
        out = torch.relu((X @ W.T) @ W + b)
        loss = ((X - out) ** 2).sum(-1).mean()
        optimizer.zero_grad()
        loss.backward()
        for group in optimizer.param_groups:
            group["lr"] = _kernels.lr_at(s, cfg.steps, cfg.warmup_steps, cfg.lr)
        optimizer.step()

    for s in range(3):
        step(s)
    _synchronize(device)
    start = time.perf_counter()
    for s in range(steps):
        step(s)
    _synchronize(device)
    return (time.perf_counter() - start) / steps * 1e3


def _synchronize(device: str) -> None:
    """Wait for the device's queued work, so that a timer read after it counts that work."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def toydd_ms_per_model_step(cfg: Config, n_models: int) -> float:
    """Wall time of the cpu engine per step and per model, for a stack of n_models."""
    job = _job(cfg, n_models)
    outcome = CpuEngine().train(job)
    return outcome.seconds / cfg.steps / n_models * 1e3


def fused_pass_pairs_per_second(cfg: Config, repeats: int) -> float:
    """(feature, example) pairs per second of the fused loss-and-gradient pass alone."""
    rows = train_set(cfg)
    W, b = init_weights(cfg)
    b[:] = 0.01  # some z > 0, as in training
    M, n = W.shape
    bounds = _kernels.chunk_bounds(rows.n_rows)
    chunks = len(bounds) - 1
    args = (
        (0,) * M, W, b, rows.indptr, rows.indices, rows.values, bounds,
        np.zeros((M, rows.n_rows), np.float32), np.zeros((M, rows.n_rows), np.float32),
        np.zeros((chunks, M, n), np.float32), np.zeros((chunks, n), np.float32),
        np.zeros((chunks, _kernels.BLOCK), np.float32), np.float32(2.0 / rows.n_rows),
    )  # fmt: skip
    _kernels.loss_grad_parallel(*args)
    start = time.perf_counter()
    for _ in range(repeats):
        _kernels.loss_grad_parallel(*args)
    return rows.n_rows * n * repeats / (time.perf_counter() - start)


def _job(cfg: Config, n_models: int) -> StackJob:
    inits = [init_weights(cfg.replace(init_seed=s)) for s in range(n_models)]
    return StackJob(
        config=cfg,
        train_set=train_set(cfg),
        init_W=np.stack([w for w, _ in inits]),
        init_b=np.stack([b for _, b in inits]),
        lrs=np.full(n_models, cfg.lr),
        weight_decays=np.full(n_models, cfg.weight_decay),
        history_steps=np.zeros(0, np.int64),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (smoke test)")
    parser.add_argument("--threads", type=int, default=0, help="cores to use (0: all)")
    args = parser.parse_args()
    set_threads(args.threads)
    if args.threads:
        torch.set_num_threads(args.threads)
    work = 2e8 if args.quick else 2e9  # pairs to time per measurement
    base = Config(n_features=10_000, sparsity=0.999, n_hidden=2, history_points=0, threads=args.threads)
    for T, n_models in ((10, 1), (10, 2), (1_000, 1)):  # compile every path outside the timings
        toydd_ms_per_model_step(base.replace(dataset_size=T, steps=10), n_models)

    print(f"n = 10,000, S = 0.999, m = 2; torch {torch.__version__} on {torch.get_num_threads()} threads")
    print(f"{'T':>7} {'models':>6} {'naive ms/step':>14} {'toydd ms/step':>14} {'speedup':>8} {'toydd pairs/s':>14}")
    rows = [(10, 1), (10, 64), (100, 1), (1_000, 1), (10_000, 1)]
    for T, n_models in rows:
        pairs = 10_000 * T
        naive_steps = int(max(5, min(2_000, work / 10 / pairs)))
        toydd_steps = int(max(20, work / pairs / n_models))
        naive = naive_ms_per_step(base.replace(dataset_size=T, steps=naive_steps), naive_steps)
        ours = toydd_ms_per_model_step(base.replace(dataset_size=T, steps=toydd_steps), n_models)
        print(f"{T:>7} {n_models:>6} {naive:>14.3f} {ours:>14.4f} {naive / ours:>7.0f}x {pairs / ours * 1e3:>14.2e}")
    fused = fused_pass_pairs_per_second(base.replace(dataset_size=10_000), repeats=20 if args.quick else 200)
    print(f"fused loss-and-gradient pass at T = 10,000: {fused:.2e} pairs/s")


if __name__ == "__main__":
    main()
