"""The tree engine against the dense cpu engine, over whole training runs, in one process.

    python benchmarks/bench_tree.py                       # the first table of docs/performance.md (about half an hour)
    python benchmarks/bench_tree.py --settings reduced    # one setting
    python benchmarks/bench_tree.py --steps 2000          # shorter runs, for a smoke test
    python benchmarks/bench_tree.py --settings reduced --sizes 10000 --hidden 3 4   # other m

The work per step of the tree engine changes as training moves between regimes, so it is timed
over a whole run (50,000 steps by default). The dense engine's work does not: it is n T pairs every
step. Where a dense full run is affordable (--dense-full-max-pairs) it is timed too; otherwise its
cost is its measured time per step over --dense-steps steps times the run's steps, and the table
says "estimated". Both engines run on all cores after a warm-up (numba compiles once and caches).
"""

from __future__ import annotations

import argparse
import platform
import re
import subprocess
import time

from toydd import Config, train

SETTINGS = {
    # name: (n, S, T values)
    "reduced": (1_000, 0.99, [20_000]),
    "paper": (10_000, 0.999, [20_000, 100_000]),
}


def cpu_name() -> str:
    """The CPU model and its widest vector extension, from lscpu (the numbers move with them)."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown CPU"
    model = re.search(r"Model name:\s*(.+)", text)
    flags = re.search(r"Flags:\s*(.+)", text)
    vector = "AVX-512" if flags and "avx512f" in flags.group(1).split() else "AVX2" if flags and "avx2" in flags.group(1) else "no AVX2"
    return f"{model.group(1).strip() if model else 'unknown CPU'} ({vector})"


def run_seconds(cfg: Config) -> tuple[float, dict]:
    """Training wall time of one run (measurements excluded) and its metrics."""
    result = train(cfg)
    return result.seconds, result.metrics


def dense_seconds(cfg: Config, dense_steps: int, full_max_pairs: float) -> tuple[float, str]:
    """The dense engine's time for the whole run: measured, or per-step time times the steps."""
    if cfg.cost <= full_max_pairs:
        return run_seconds(cfg.replace(engine="cpu"))[0], "measured"
    short = cfg.replace(engine="cpu", steps=dense_steps)
    return run_seconds(short)[0] / dense_steps * cfg.steps, f"estimated from {dense_steps} steps"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", nargs="+", choices=sorted(SETTINGS), default=["reduced", "paper"])
    parser.add_argument("--sizes", type=int, nargs="+", help="T values instead of the settings' own")
    parser.add_argument("--hidden", type=int, nargs="+", default=[2], help="values of m (hidden units)")
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--dense-steps", type=int, default=300)
    parser.add_argument("--dense-full-max-pairs", type=float, default=2e12, help="time dense full runs up to this many pairs")
    args = parser.parse_args()

    print(f"CPU: {cpu_name()}; m = {', '.join(map(str, args.hidden))}, {args.steps} steps, all cores")
    warm = Config(n_features=200, sparsity=0.95, dataset_size=300, steps=20, test_size=100, history_points=0)
    for engine in ("cpu", "tree"):  # compile (or load) the kernels outside the timings
        for m in args.hidden:
            train(warm.replace(engine=engine, n_hidden=m))
    print("| setting | m | T | dense s | how | tree s | speedup | tree: visits, dense pairs (share of n T per step) | regime |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.settings:
        n, sparsity, sizes = SETTINGS[name]
        for m, T in ((m, T) for m in args.hidden for T in args.sizes or sizes):
            cfg = Config(n_features=n, sparsity=sparsity, dataset_size=T, n_hidden=m, steps=args.steps, history_points=0, test_size=2_000)
            tree_s, metrics = run_seconds(cfg.replace(engine="tree"))
            dense_s, how = dense_seconds(cfg, args.dense_steps, args.dense_full_max_pairs)
            shares = f"{metrics['tree_visit_share']:.4f}, {metrics['tree_dense_share']:.4f}"
            print(f"| n = {n}, S = {sparsity} | {m} | {T} | {dense_s:.0f} | {how} | {tree_s:.0f} | {dense_s / tree_s:.1f}x | {shares} | {metrics['regime']} |", flush=True)


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - start:.0f} s")
