"""The sweeps shipped with toydd (presets/*.toml) and their estimated cost."""

from __future__ import annotations

from importlib import resources

from ._config import ConfigError
from ._sweep_spec import SweepSpec, parse_sweep

# Throughput for estimates: the cpu engine at m = 2 on one core here (T = 500,000, n = 10,000),
# (feature, example) pairs per second; cost grows about linearly with m (see the benchmark).
PAIRS_PER_CORE_SECOND = 6e9


def names() -> list[str]:
    return sorted(p.name.removesuffix(".toml") for p in resources.files("toydd.presets").iterdir() if p.name.endswith(".toml"))


def preset_text(name: str) -> str:
    if name not in names():
        raise ConfigError(f"unknown preset '{name}' (presets: {', '.join(names())})")
    return resources.files("toydd.presets").joinpath(f"{name}.toml").read_text()


def load_preset(name: str) -> SweepSpec:
    return parse_sweep(preset_text(name), f"preset {name}")


def estimated_hours(spec: SweepSpec, cores: int) -> float:
    """Hours of training on `cores` cores at PAIRS_PER_CORE_SECOND, times max(1, m / 2)."""
    pair_steps = sum(c.cost * max(1.0, c.n_hidden / 2) for c in spec.configs())
    return pair_steps / (PAIRS_PER_CORE_SECOND * cores) / 3600
