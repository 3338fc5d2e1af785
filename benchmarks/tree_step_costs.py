"""Per-step cost of the tree engine's phases against the dense pass, on the stored snapshots of a run.

    toydd train --dataset-size 100000 --steps 5000 --snapshots --history-points 8 --engine tree --out runs/t100k
    python benchmarks/tree_step_costs.py runs/t100k              # every snapshot after the first
    python benchmarks/tree_step_costs.py runs/t100k --threads 1

For each stored snapshot (W, b after some steps) it times one loss-and-gradient evaluation by the
tree engine, phase by phase (hidden vectors, boxes and moments, the features' walks, the push-down
of the gradient to h, the sparse correction), and by the dense pass, over --reps repetitions, in
one process. A whole run mixes these states (`bench_tree.py` times whole runs); this shows where a
step's time goes.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from safetensors.numpy import load_file

from toydd import Config, _data
from toydd import _kernels as kernels
from toydd import _tree as tree
from toydd._engine_cpu import set_threads

from bench_tree import cpu_name


def seconds_per_call(call, reps: int) -> float:
    call()  # compile or warm
    start = time.perf_counter()
    for _ in range(reps):
        call()
    return (time.perf_counter() - start) / reps


def step_costs(cfg: Config, rows, W: np.ndarray, b: np.ndarray, reps: int) -> dict[str, float]:
    """Milliseconds per call of each phase of the tree pass, of the whole tree pass, and of the
    dense pass, for weights W (m, n), b (n,) on the training set `rows`."""
    M, n = W.shape
    T = rows.n_rows
    units = (0,) * M
    values = rows.values.astype(W.dtype)
    c = W.dtype.type(2.0 / T)
    workspace, order = tree.tree_workspace(units, T, n), np.zeros(T, np.int64)
    hT, dhT = np.zeros((M, T), W.dtype), np.zeros((M, T), W.dtype)
    gW, gb = np.zeros((M, n), W.dtype), np.zeros(n, W.dtype)
    bounds = tree.sparse_chunk_bounds(T)
    parts = np.zeros(tree.FEATURE_GROUPS + len(bounds) - 1)
    whole = (units, W, b, rows.indptr, rows.indices, values)
    tree.tree_loss_grad(True, *whole, True, order, hT, dhT, gW, gb, workspace, c)
    tree._prepare(True, units, W, b, hT, order, False, workspace)
    tree._groups_parallel(units, float(c), workspace, parts)
    touched = workspace.leaf_touched.copy()
    phases = {
        "hidden vectors": lambda: tree._hidden_vectors_parallel(units, W, rows.indptr, rows.indices, values, bounds, hT),
        "boxes, moments": lambda: tree._prepare(True, units, W, b, hT, order, False, workspace),
        "walks": lambda: tree._groups_parallel(units, float(c), workspace, parts),
        # the walks' marks of touched leaves, which a push-down clears, restored before each call
        "push-down": lambda: (np.copyto(workspace.leaf_touched, touched), tree._push_down(units, order, workspace, dhT)),
        "sparse correction": lambda: tree._sparse_parallel(*whole, bounds, hT, dhT, workspace, c, parts),
        "rebuild (every 32 steps)": lambda: tree._prepare(True, units, W, b, hT, order, True, workspace),
        "tree step": lambda: tree.tree_loss_grad(True, *whole, False, order, hT, dhT, gW, gb, workspace, c),
    }
    costs = {name: 1e3 * seconds_per_call(call, reps) for name, call in phases.items()}
    chunks = kernels.chunk_bounds(T)
    dense_gW = np.zeros((len(chunks) - 1, M, n), W.dtype)
    dense_gb = np.zeros((len(chunks) - 1, n), W.dtype)
    gbuf = np.zeros((len(chunks) - 1, kernels.BLOCK), W.dtype)
    dense = lambda: kernels.loss_grad_parallel(*whole, chunks, hT, dhT, dense_gW, dense_gb, gbuf, c)  # noqa: E731
    costs["dense step"] = 1e3 * seconds_per_call(dense, max(1, reps // 5))
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a run directory with snapshots.safetensors")
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    set_threads(args.threads)
    cfg = Config(**json.load(open(f"{args.run}/config.json"))["config"])
    snapshots = load_file(f"{args.run}/snapshots.safetensors")
    rows = _data.train_set(cfg)
    print(f"CPU: {cpu_name()}; n = {cfg.n_features}, S = {cfg.sparsity}, T = {rows.n_rows}, m = {cfg.n_hidden}; ms per step")
    header = None
    for p, step in enumerate(snapshots["steps"]):
        if step == 0:
            continue
        costs = step_costs(cfg, rows, snapshots["W"][p], snapshots["b"][p], args.reps)
        if header is None:
            header = ["after step", *costs, "dense / tree"]
            print("| " + " | ".join(header) + " |")
            print("|" + "---|" * len(header))
        values = [f"{costs[name]:.2f}" for name in costs]
        print(f"| {int(step)} | " + " | ".join(values) + f" | {costs['dense step'] / costs['tree step']:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
