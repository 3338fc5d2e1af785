"""Per-step cost of the tree engine's phases against the dense pass, on stored states of training.

    toydd train --dataset-size 100000 --steps 5000 --snapshots --history-points 8 --engine tree --out runs/t100k
    python benchmarks/tree_step_costs.py runs/t100k              # every snapshot after the first
    python benchmarks/tree_step_costs.py runs/t100k --threads 1
    python benchmarks/tree_step_costs.py --sweep runs/paper      # the state in each checkpoint of a sweep
    python benchmarks/tree_step_costs.py --sweep runs/paper --dataset-size 100000   # those weights at another T

For each stored state (W, b after some steps: a run's snapshots, or the first model of each stack
a sweep has checkpointed, which is how a T = 500,000 state is had without a 50,000-step run) it
times one loss-and-gradient evaluation by the tree engine phase by phase (hidden vectors, boxes
and moments, the features' walks, the push-down of the gradient to h, the sparse correction),
and by the dense pass, over --reps repetitions, in one process. Two tables: each phase called
on its own, again and again (its data stay in the caches), and the phases one after the other
as a step runs them (at large T each evicts the last one's data, so they cost more). A whole
run mixes these states (`bench_tree.py` times whole runs); this shows where a step's time goes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from toydd import Config, _data
from toydd._checkpoint import stored_progress
from toydd._sweep import read_plan
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


def tree_calls(rows, W: np.ndarray, b: np.ndarray):
    """The tree pass for weights W (m, n), b (n,) on the training set `rows`, ready to time, each
    call without arguments: its phases in the order of `_tree.tree_loss_grad` between rebuilds;
    then a rebuild, the whole tree step and the dense step. The ordering is built (and every
    phase compiled) first. Returns (phases, others, the tree's workspace)."""
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
    phases = {
        "hidden vectors": lambda: tree._hidden_vectors_parallel(units, W, rows.indptr, rows.indices, values, bounds, hT),
        "boxes, moments": lambda: tree._prepare(True, units, W, b, hT, order, False, workspace),
        "walks": lambda: tree._groups_parallel(units, float(c), workspace, parts),
        "push-down": lambda: tree._push_down(units, order, workspace, dhT),
        "sparse correction": lambda: tree._sparse_parallel(*whole, bounds, hT, dhT, workspace, c, parts),
        "sum": lambda: tree._finish(workspace, len(bounds) - 1, gW, gb),
    }
    for call in phases.values():  # each entry point warm (called from Python it loads on its own)
        call()
    chunks = kernels.chunk_bounds(T)
    dense_gW = np.zeros((len(chunks) - 1, M, n), W.dtype)
    dense_gb = np.zeros((len(chunks) - 1, n), W.dtype)
    gbuf = np.zeros((len(chunks) - 1, kernels.BLOCK), W.dtype)
    others = {
        "rebuild (every 32 steps)": lambda: tree._prepare(True, units, W, b, hT, order, True, workspace),
        "tree step": lambda: tree.tree_loss_grad(True, *whole, False, order, hT, dhT, gW, gb, workspace, c),
        "dense step": lambda: kernels.loss_grad_parallel(*whole, chunks, hT, dhT, dense_gW, dense_gb, gbuf, c),
    }
    return phases, others, workspace


def step_costs(rows, W: np.ndarray, b: np.ndarray, reps: int) -> dict[str, float]:
    """Milliseconds per call of each phase of the tree pass called alone, again and again, of the
    whole tree pass, and of the dense pass."""
    phases, others, workspace = tree_calls(rows, W, b)
    phases.pop("sum")  # a sum over n: nothing to see
    phases["boxes, moments"]()
    phases["walks"]()
    # the walks' marks of touched leaves, which a push-down clears, restored before each call
    touched, push_down = workspace.leaf_touched.copy(), phases["push-down"]
    phases["push-down"] = lambda: (np.copyto(workspace.leaf_touched, touched), push_down())
    costs = {name: 1e3 * seconds_per_call(call, reps) for name, call in phases.items()}
    costs["rebuild (every 32 steps)"] = 1e3 * seconds_per_call(others["rebuild (every 32 steps)"], reps)
    costs["tree step"] = 1e3 * seconds_per_call(others["tree step"], reps)
    costs["dense step"] = 1e3 * seconds_per_call(others["dense step"], max(1, reps // 5))
    return costs


def sequence_costs(rows, W: np.ndarray, b: np.ndarray, reps: int) -> dict[str, float]:
    """Milliseconds per call of each phase when the phases run one after the other, as a step
    runs them (median over reps), and of the whole tree pass."""
    phases, others, _ = tree_calls(rows, W, b)
    seconds: dict[str, list[float]] = {name: [] for name in phases}
    for _ in range(reps):
        for name, call in phases.items():
            start = time.perf_counter()
            call()
            seconds[name].append(time.perf_counter() - start)
    whole_step = []
    for _ in range(reps):
        start = time.perf_counter()
        others["tree step"]()
        whole_step.append(time.perf_counter() - start)
    costs = {name: 1e3 * float(np.median(times)) for name, times in seconds.items()}
    costs["tree step"] = 1e3 * float(np.median(whole_step))
    return costs


def run_states(run: str):
    """(step, config, W, b) of every snapshot of a run directory after the first."""
    cfg = Config(**json.load(open(f"{run}/config.json"))["config"])
    snapshots = load_file(f"{run}/snapshots.safetensors")
    return [(int(step), cfg, snapshots["W"][p], snapshots["b"][p]) for p, step in enumerate(snapshots["steps"]) if step > 0]


def sweep_states(sweep: str):
    """(step, config, W, b) of the first model of every stack checkpointed in a sweep directory
    (its plan.json names the configs)."""
    configs, _ = read_plan(Path(sweep))
    by_id = {c.run_id(): c for c in configs}
    states = []
    for path, (run_ids, step, _) in stored_progress(Path(sweep) / "checkpoints").items():
        if run_ids[0] in by_id:
            arrays = load_file(str(path))
            states.append((step, by_id[run_ids[0]], arrays["W"][0], arrays["b"][0]))
    return states


def print_table(title: str, rows: list[tuple[int, dict[str, float]]]) -> None:
    print(f"\n{title}")
    names = list(rows[0][1])
    print("| after step | " + " | ".join(names) + " |")
    print("|" + "---|" * (len(names) + 1))
    for step, costs in rows:
        print(f"| {step:,} | " + " | ".join(f"{costs[name]:.2f}" for name in names) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", nargs="?", help="a run directory with snapshots.safetensors")
    parser.add_argument("--sweep", help="a sweep directory: the states in its checkpoints instead")
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--dataset-size", type=int, help="time each state's weights on a training set of this T instead (same data seed)")
    args = parser.parse_args()
    if (args.run is None) == (args.sweep is None):
        parser.error("give a run directory or --sweep DIR")
    set_threads(args.threads)
    states = run_states(args.run) if args.run else sweep_states(args.sweep)
    if not states:
        parser.error("no stored states there")
    alone, in_sequence = [], []
    for step, cfg, W, b in states:
        rows = _data.train_set(cfg.replace(dataset_size=args.dataset_size) if args.dataset_size else cfg)
        print(f"CPU: {cpu_name()}; n = {cfg.n_features}, S = {cfg.sparsity}, T = {rows.n_rows}, m = {cfg.n_hidden}, after step {step:,}", flush=True)
        costs = step_costs(rows, W, b, args.reps)
        costs["dense / tree"] = costs["dense step"] / costs["tree step"]
        alone.append((step, costs))
        in_sequence.append((step, sequence_costs(rows, W, b, args.reps)))
    print_table("ms per call, each phase alone (the dense step too):", alone)
    print_table("ms per call, the phases one after the other as in a step:", in_sequence)


if __name__ == "__main__":
    main()
