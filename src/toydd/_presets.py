"""The sweeps shipped with toydd (presets/*.toml) and their estimated cost."""

from __future__ import annotations

from importlib import resources

import numpy as np

from ._config import Config, ConfigError
from ._engines import tree_pays
from ._kernels import WIDE_UNITS, chunk_bounds, example_inner
from ._sweep_spec import SweepSpec, parse_sweep

# The cost model of the estimates: the dense cpu engine on one free core of a 2-core AMD EPYC (AVX2,
# no AVX-512), 2026-11-30. A training step costs a part per feature (AdamW and the dense pass's
# per-feature work), a part per (feature, example) pair of the dense pass (times
# `hidden_factor(m)`) and a part per nonzero of the sparse passes. Pair and nonzero costs solved
# from `toydd train --engine cpu --threads 1 --history-points 0` at n = 10,000, S = 0.999,
# T = 20,000 and 500,000 (2.9e9 and 3.0e9 pairs/s) and n = 1,000, S = 0.99, T = 2,000 and 20,000
# (2.2e9 and 2.4e9). The per-feature parts from whole runs at small T, two single-threaded runs
# side by side (2026-12-02): the paper preset's T = 3 to 50 (n = 10,000, 4 restarts: 60 to 240 us a
# step) and the heatmap preset's T = 10 and 30 at m = 2 (n = 1,000: 11 and 19 us), 5 ns a feature;
# above `_kernels.FEW_EXAMPLES` examples a chunk the dense pass takes its example-inner loop, whose short
# loops cost more a feature: at T = 100, 0.76 ms a step at n = 10,000 (paper) and 67 us at n =
# 1,000 (heatmap), 38 and 25 ns a feature over the rest of the model. With infinite data every
# step also samples its batch: 4.0 ms a step at n = 10,000 (paper, T = inf, batch 1,024) and
# 0.87 ms at n = 1,000 (heatmap), about 0.45 ms over the rest, 0.4 us an example.
FEATURE_SECONDS = 5e-9
BLOCKED_FEATURE_SECONDS = 3e-8
PAIR_SECONDS = 3.3e-10
NONZERO_SECONDS = 9e-9
SAMPLE_SECONDS = 4e-7
# Runs that "auto" gives the tree engine (`_engines.tree_pays`, m <= 2): a step costs the sparse
# passes (NONZERO_SECONDS a nonzero, as for the dense engine) and the rest (the walks, which cross
# ~sqrt(T) leaves per feature, the boxes and the push-down), interpolated log-log between these
# measured points at n = TREE_FEATURES, S = 0.999, and growing as n^TREE_FEATURE_GROWTH between the
# two settings. Each is a whole 50,000-step run's seconds per step (per restart) less its sparse
# passes, from the `paper` preset's own runs on a 2-core AMD EPYC (AVX2), two single-threaded runs
# side by side at the lowest priority (the layout `reproduce` picks by default), 2026-12-02: the
# quickest run of each T (`toydd results runs/paper`; the others ran beside test runs). Seconds a
# run: 173 at T = 500 (4 restarts), 211 at 5,000, 328 at 10,000, 445 at 20,000, 707 at 50,000,
# 1,834 at 100,000 (beside short test runs), 3,182 at 200,000, and at 500,000 the pace of its runs
# with nothing else running, 0.182 and 0.187 s a step (9,200 s a run). From 50,000 to 100,000 the
# rest grows 2.9 times: the 100,000 runs ran beside short test runs, and there two runs' examples
# no longer fit together in the shared 32 MB L3; how much each accounts for is not measured. It
# grows as T^1.2 from 200,000 to 500,000. Below T = 500 it follows the line through 500 and 5,000
# (checked quietly on a 2-core AMD EPYC with AVX-512, a Zen 4, 2026-12-02: T = 200 with 4 restarts,
# 1,000 and 2,000 took 101, 56 and 94 s single-threaded against the model's 93, 70 and 112). Beyond
# 500,000 (envelope_paper's 1,000,000) it is taken to grow as T, each pass over the examples
# costing the same per example once none fit: an extrapolation. One run on
# both cores costs more core-seconds (`benchmarks/bench_tree.py`: 846 at T = 20,000, against 445
# single-threaded). n = 1,000, S = 0.99, T = 20,000 took 135 s on both cores (5.4 ms a step less
# 1.8 of sparse passes against 15.1 at n = 10,000 the same way: TREE_FEATURE_GROWTH).
TREE_FEATURES = 10_000
TREE_REST_SECONDS = (
    (500, 0.822e-3), (5_000, 3.77e-3), (10_000, 5.66e-3), (20_000, 7.09e-3), (50_000, 9.64e-3),
    (100_000, 27.7e-3), (200_000, 45.6e-3), (500_000, 139.5e-3),
)  # fmt: skip
TREE_GROWTH_BEYOND = 1.0  # the rest's growth as T^this past the last measured T (an assumption, above)
TREE_FEATURE_GROWTH = 0.62  # log(15.12 / 3.6) / log(10): n = 1,000's 5.4 ms less 1.8 of sparse passes
# m > 12 takes the dense pass's other loop order (`_kernels._dense_few_examples`): a pair cost
# HIDDEN_PAIR_FACTOR * m times the m = 2 one, from m = 5 to 12 when those took it (the README's
# "before" column: 3.5, 4.3, 5.6, 8.4 and 9.6 times at m = 5, 6, 8, 10 and 12; 6.4 at m = 8 in an
# earlier round; 2.1 and 3.4 at m = 3 and 4). The example-inner loop: whole steps of 1,000-step runs
# (`toydd train --engine cpu --threads 1 --history-points 0`) at n = 1,000, S = 0.99, T = 10,000,
# one free core, 2026-12-01, less 0.9 ms of sparse passes, over the m = 2 step's 2.9 ms of dense
# pass (3.8 ms less the same 0.9). m = 3 and 4 (`_kernels.REGISTER_UNITS`; two rounds): 4.4 and
# 6.85 ms, 1.2 and 2.05 times. m = 5 to 12 (`_kernels.WIDE_UNITS`; the fastest of two rounds): 8.9,
# 10.2, 14.6, 19.6 and 23.9 ms at m = 5, 6, 8, 10 and 12, 2.8, 3.2, 4.7, 6.5 and 8.0 times:
# WIDE_PAIR_FACTOR * m within 12%.
HIDDEN_PAIR_FACTOR = 0.8
WIDE_PAIR_FACTOR = 0.6
REGISTER_PAIR_FACTORS = {3: 1.2, 4: 2.05}


def names() -> list[str]:
    return sorted(p.name.removesuffix(".toml") for p in resources.files("toydd.presets").iterdir() if p.name.endswith(".toml"))


def preset_text(name: str) -> str:
    if name not in names():
        raise ConfigError(f"unknown preset '{name}' (presets: {', '.join(names())})")
    return resources.files("toydd.presets").joinpath(f"{name}.toml").read_text()


def load_preset(name: str) -> SweepSpec:
    return parse_sweep(preset_text(name), f"preset {name}")


def modelled(config: Config) -> bool:
    """Whether the cost model below covers `config`: the numba engines it was measured on (cpu,
    tree, and auto on a CPU). The torch engine, on a CPU or a GPU, was never measured for it."""
    return config.engine != "torch" and config.device != "cuda"


def run_seconds(config: Config) -> float:
    """Estimated seconds of one run on one core (all restarts), from the cost model above, as if
    a numba engine trained it (`modelled`); also what the sweep balances its workers' tasks by."""
    pairs = float(config.n_features) * config.examples_per_step
    nonzeros = pairs * (1 - config.sparsity)
    if config.engine in ("auto", "tree") and tree_pays(config):  # else outside what the tree runs measured
        rest = tree_rest_seconds(config.dataset_size) * (config.n_features / TREE_FEATURES) ** TREE_FEATURE_GROWTH
        return (rest + NONZERO_SECONDS * nonzeros) * config.steps * config.restarts
    blocked = example_inner(config.n_hidden, chunk_bounds(config.examples_per_step)[1])  # the kernels' own choice of loop
    step = (
        (FEATURE_SECONDS + BLOCKED_FEATURE_SECONDS * blocked) * config.n_features
        + PAIR_SECONDS * pairs * hidden_factor(config.n_hidden)
        + NONZERO_SECONDS * nonzeros
        + SAMPLE_SECONDS * config.examples_per_step * config.infinite_data
    )
    return step * config.steps * config.restarts


def tree_rest_seconds(examples: float) -> float:
    """A tree step's core-seconds besides the sparse passes at n = TREE_FEATURES (TREE_REST_SECONDS,
    log-log between the measured T; beyond the largest as T^TREE_GROWTH_BEYOND, below the
    smallest along the first two's line)."""
    sizes, seconds = np.log([t for t, _ in TREE_REST_SECONDS]), np.log([r for _, r in TREE_REST_SECONDS])
    x = np.log(examples)
    if x > sizes[-1]:
        return float(np.exp(seconds[-1] + TREE_GROWTH_BEYOND * (x - sizes[-1])))
    if x < sizes[0]:
        return float(np.exp(seconds[0] + (seconds[1] - seconds[0]) / (sizes[1] - sizes[0]) * (x - sizes[0])))
    return float(np.exp(np.interp(x, sizes, seconds)))


def modelled_seconds(configs) -> float:
    """Core-seconds of the runs of `configs` that the cost model covers (`modelled`); torch runs
    add nothing."""
    return sum(run_seconds(c) for c in configs if modelled(c))


def estimated_hours(spec: SweepSpec, cores: int) -> float:
    """Hours of training of every modelled run of `spec` on `cores` cores (runs in parallel)."""
    return modelled_seconds(spec.configs()) / cores / 3600


def hidden_factor(n_hidden: int) -> float:
    """The dense pass's cost per pair at m hidden units over its cost at m = 2."""
    if n_hidden <= 2:
        return 1.0
    if n_hidden in REGISTER_PAIR_FACTORS:
        return REGISTER_PAIR_FACTORS[n_hidden]
    return (WIDE_PAIR_FACTOR if n_hidden <= WIDE_UNITS else HIDDEN_PAIR_FACTOR) * n_hidden
