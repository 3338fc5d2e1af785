"""The sweeps shipped with toydd (presets/*.toml) and their estimated cost."""

from __future__ import annotations

from importlib import resources

from ._config import Config, ConfigError
from ._engines import tree_pays
from ._kernels import WIDE_UNITS
from ._sweep_spec import SweepSpec, parse_sweep

# The cost model of the estimates: the dense cpu engine on one free core of a 2-core AMD EPYC (AVX2,
# no AVX-512), 2026-11-30. A training step costs a fixed part, a part per (feature, example) pair of
# the dense pass (times `hidden_factor(m)`) and a part per nonzero of the sparse passes. Pair and nonzero costs solved from `toydd train --engine cpu
# --threads 1 --history-points 0` at n = 10,000, S = 0.999, T = 20,000 and 500,000 (2.9e9 and 3.0e9
# pairs/s) and n = 1,000, S = 0.99, T = 2,000 and 20,000 (2.2e9 and 2.4e9); the fixed part from the
# step times of small-T runs.
STEP_SECONDS = 3e-5
PAIR_SECONDS = 3.3e-10
NONZERO_SECONDS = 9e-9
# Runs that "auto" gives the tree engine (`_engines.tree_pays`, m <= 2): whole 50,000-step runs on
# both cores of the same machine (benchmarks/bench_tree.py, 2026-12-01) took 423 s at n = 10,000,
# S = 0.999, T = 20,000, 1,107 s at T = 100,000, and 135 s at n = 1,000, S = 0.99, T = 20,000.
# Counted as two cores' seconds: the sparse passes at NONZERO_SECONDS a nonzero, and the rest
# (the walks, which cross ~sqrt(T) leaves per feature) growing as T^TREE_GROWTH between the two
# paper-setting runs and as n^TREE_FEATURE_GROWTH between the two settings. A whole run's
# average: early steps cost more (docs/performance.md), so runs much shorter than 50,000 steps cost more per
# step than this. Beyond TREE_LARGE_EXAMPLES the rest grows as T^TREE_LARGE_GROWTH instead: there the
# examples' data leave the caches and the passes over them (the push-down's scattered writes, the
# sparse correction) cost more per example; fitted to T = 500,000 mid-run: the state of the paper
# preset's run of data seed 1 after 33,208 steps from the sweep's checkpoint, its steps timed in
# sequence as `benchmarks/tree_step_costs.py --sweep` does, on both cores, the sweep paused,
# 2026-12-01, after the sparse passes took unsigned indices (`_kernels.U`): 91.2 and 88.2 ms a
# step in two rounds, alternating with the code before it (117.2 and 109.0 ms, as measured at
# step 9,000 before: 110.9), so 179.4 ms of two cores' seconds, less 45 ms of sparse passes, over
# the model's 35.3 at T = 100,000: 3.8 times for 5 times the examples; beyond 500,000 an
# extrapolation. The whole runs at T <= 100,000 predate unsigned indices, which took 5 to 25% off
# a step there, round by round, in the same alternating timing (T = 20,000 and 100,000, the same
# weights): there the model is that much too high. Below
# T = 20,000 the same model is within 25% of the whole runs measured later (the same script, both
# cores): at n = 10,000, S = 0.999, T = 200, 500, 1,000, 2,000, 5,000 and 10,000 it gives 68, 110,
# 160, 234, 387 and 570 core-seconds against 62, 96, 130, 198, 404 and 558 measured; at n = 1,000,
# S = 0.99, T = 10,000, 171 against 180.
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
TREE_WALK_SECONDS = 0.01512  # core-seconds per step besides the sparse passes at TREE_EXAMPLES, TREE_FEATURES
TREE_EXAMPLES = 20_000
TREE_FEATURES = 10_000
TREE_GROWTH = 0.527  # log(35.28 / 15.12) / log(5): the T = 100,000 run's 44.28 ms less 9.0 of sparse passes
TREE_FEATURE_GROWTH = 0.62  # log(15.12 / 3.6) / log(10): n = 1,000's 5.4 ms less 1.8 of sparse passes
TREE_LARGE_EXAMPLES = 100_000
TREE_LARGE_GROWTH = 0.83  # log(134.4 / 35.3) / log(5)


def names() -> list[str]:
    return sorted(p.name.removesuffix(".toml") for p in resources.files("toydd.presets").iterdir() if p.name.endswith(".toml"))


def preset_text(name: str) -> str:
    if name not in names():
        raise ConfigError(f"unknown preset '{name}' (presets: {', '.join(names())})")
    return resources.files("toydd.presets").joinpath(f"{name}.toml").read_text()


def load_preset(name: str) -> SweepSpec:
    return parse_sweep(preset_text(name), f"preset {name}")


def run_seconds(config: Config) -> float:
    """Estimated seconds of one run on one core (all restarts), from the cost model above."""
    pairs = float(config.n_features) * config.examples_per_step
    nonzeros = pairs * (1 - config.sparsity)
    if config.engine in ("auto", "tree") and tree_pays(config):  # else outside what the tree runs measured
        examples = config.dataset_size
        growth = (min(examples, TREE_LARGE_EXAMPLES) / TREE_EXAMPLES) ** TREE_GROWTH * (max(examples, TREE_LARGE_EXAMPLES) / TREE_LARGE_EXAMPLES) ** TREE_LARGE_GROWTH
        walks = TREE_WALK_SECONDS * growth * (config.n_features / TREE_FEATURES) ** TREE_FEATURE_GROWTH
        return (walks + NONZERO_SECONDS * nonzeros) * config.steps * config.restarts
    step = STEP_SECONDS + PAIR_SECONDS * pairs * hidden_factor(config.n_hidden) + NONZERO_SECONDS * nonzeros
    return step * config.steps * config.restarts


def estimated_hours(spec: SweepSpec, cores: int) -> float:
    """Hours of training of every run of `spec` on `cores` cores (`run_seconds`, runs in parallel)."""
    return sum(run_seconds(c) for c in spec.configs()) / cores / 3600


def hidden_factor(n_hidden: int) -> float:
    """The dense pass's cost per pair at m hidden units over its cost at m = 2."""
    if n_hidden <= 2:
        return 1.0
    if n_hidden in REGISTER_PAIR_FACTORS:
        return REGISTER_PAIR_FACTORS[n_hidden]
    return (WIDE_PAIR_FACTOR if n_hidden <= WIDE_UNITS else HIDDEN_PAIR_FACTOR) * n_hidden
