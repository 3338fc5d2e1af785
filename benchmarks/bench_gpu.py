"""The torch engine on a GPU at the paper's setting, against the naive PyTorch loop on the same GPU.

    python benchmarks/bench_gpu.py                          # T = 100,000 and 500,000 on CUDA
    python benchmarks/bench_gpu.py --ways shipped --sizes 200,1000,5000,20000
    python benchmarks/bench_gpu.py --ways shipped --features 1000 --sparsity 0.99 --sizes 10000,20000
    python benchmarks/bench_gpu.py --device cpu --sizes 2000 --steps 3   # a smoke test anywhere

n = 10,000, S = 0.999 (or --features, --sparsity), m = 2, float32. On a GPU a step does the same dense work whatever the
model has learned, so a step's cost times 50,000 is a whole run's (printed as such, not a run).
Each toydd figure is the difference between runs of WARM + steps and WARM steps over the
steps, which leaves out the first steps and the copies to and from the device (the set-up runs
before the engine's timer starts). Three ways: the naive loop (the whole
training set dense on the device, autograd, AdamW), the torch engine as it ships (a set over
`_engine_torch.KEEP_DENSE` entries stays CSR and each chunk is made dense when used), and the
torch engine with the whole set kept dense (KEEP_DENSE raised), to show what making chunks dense
costs. Running out of the GPU's memory is reported, not raised.
"""

from __future__ import annotations

import argparse

import torch
from bench_engine import _job, naive_ms_per_step

from toydd import Config, _engine_torch
from toydd._engine_torch import TorchEngine

WARM = 5  # steps of the shorter run, whose time (set-up and first steps) is taken off
RUN_STEPS = 50_000


def engine_ms_per_step(cfg: Config, steps: int, keep_dense: bool) -> float:
    """The torch engine's ms per step: (run of WARM + steps) - (run of WARM), over steps."""
    kept = _engine_torch.KEEP_DENSE
    if keep_dense:
        _engine_torch.KEEP_DENSE = cfg.dataset_size * cfg.n_features
    try:
        engine = TorchEngine(cfg.device)
        short = engine.train(_job(cfg.replace(steps=WARM), 1)).seconds
        long = engine.train(_job(cfg.replace(steps=WARM + steps), 1)).seconds
    finally:
        _engine_torch.KEEP_DENSE = kept
    return (long - short) / steps * 1e3


def measured(what, *args) -> str:
    """ms per step of what(*args), or why not (out of the device's memory)."""
    try:
        return f"{what(*args):.2f}"
    except torch.cuda.OutOfMemoryError:
        return "out of memory"
    finally:
        if torch.cuda.is_available():  # harmless on CPU; frees what a failed measurement left
            torch.cuda.empty_cache()


def whole_run(ms: str) -> str:
    return f"{float(ms) * RUN_STEPS / 60e3:.1f} min" if ms[0].isdigit() else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--sizes", default="100000,500000", help="comma-separated T")
    parser.add_argument("--steps", type=int, default=100, help="timed steps per measurement")
    parser.add_argument("--features", type=int, default=10_000)
    parser.add_argument("--sparsity", type=float, default=0.999)
    parser.add_argument("--ways", default="naive,shipped,dense", help="comma-separated: naive, shipped, dense (kept dense)")
    args = parser.parse_args()
    base = Config(n_features=args.features, sparsity=args.sparsity, n_hidden=2, history_points=0, engine="torch", device=args.device)
    engine_ms_per_step(base.replace(dataset_size=100), 2, keep_dense=False)  # the device's start-up, outside the timings
    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    print(f"n = {args.features:,}, S = {args.sparsity:g}, m = 2, float32; torch {torch.__version__} on {name}; {args.steps} timed steps each")
    print(f"{'T':>9} {'way':<34} {'ms/step':>13} {'x 50,000 steps':>15} {'peak GiB':>9}")
    for T in (int(t) for t in args.sizes.split(",")):
        cfg = base.replace(dataset_size=T)
        ways = {
            "naive": ("naive loop, whole set dense", naive_ms_per_step, (cfg, args.steps, args.device)),
            "shipped": ("toydd torch engine (as shipped)", engine_ms_per_step, (cfg, args.steps, False)),
            "dense": ("toydd torch engine, set kept dense", engine_ms_per_step, (cfg, args.steps, True)),
        }
        for label, what, what_args in (ways[way] for way in args.ways.split(",")):
            if args.device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            ms = measured(what, *what_args)
            peak = torch.cuda.max_memory_allocated() / 2**30 if args.device == "cuda" else float("nan")
            print(f"{T:>9,} {label:<34} {ms:>13} {whole_run(ms):>15} {peak:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
