"""Sweep files: TOML with a [base] table of config keys, a [grid] of lists, and [[points]].

    [sweep]                      # optional: name and description, shown by `toydd reproduce --list`
    name = "quick"
    description = "..."

    [base]                       # any config key (see Config); unlisted keys keep their defaults
    n_features = 1000

    [grid]                       # the product of these lists, each point applied over [base]
    dataset_size = [5, 50, "inf"]
    data_seed = [0, 1, 2, 3]

    [[points]]                   # extra points, each applied over [base] (not crossed with [grid])
    dataset_size = 7
    n_hidden = 3

Every problem is a `SweepError` naming the file and the key or line; nothing is run.
"""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._config import Config, ConfigError


class SweepError(ConfigError):
    """A sweep file is malformed or names a bad key or value."""


@dataclass(frozen=True)
class SweepSpec:
    name: str
    description: str
    base: dict[str, Any]
    grid: dict[str, list]
    points: list[dict[str, Any]]
    source: str

    def configs(self) -> list[Config]:
        """Every run of the sweep, grid order first, then the points; duplicates dropped."""
        runs: dict[str, Config] = {}
        keys = list(self.grid)
        for values in itertools.product(*(self.grid[k] for k in keys)):
            self._add(runs, {**self.base, **dict(zip(keys, values))}, "grid")
        for i, point in enumerate(self.points):
            self._add(runs, {**self.base, **point}, f"points[{i}]")
        return list(runs.values())

    def _add(self, runs: dict, values: dict, where: str) -> None:
        try:
            config = Config.from_dict(values)
        except ConfigError as error:
            raise SweepError(f"{self.source}: {where}: {error}") from None
        runs.setdefault(config.run_id(), config)


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and fully check a sweep file (every run's config is validated here)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise SweepError(f"{path}: cannot read ({error.strerror})") from None
    return parse_sweep(text, str(path))


def parse_sweep(text: str, source: str = "<sweep>") -> SweepSpec:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SweepError(f"{source}: not valid TOML: {error}") from None
    for key in data:
        if key not in ("sweep", "base", "grid", "points"):
            raise SweepError(f"{source}: unknown table '{key}' (expected sweep, base, grid, points)")
    meta = _table(data, "sweep", source)
    for key in meta:
        if key not in ("name", "description"):
            raise SweepError(f"{source}: unknown key 'sweep.{key}' (expected name, description)")
    base = _table(data, "base", source)
    grid = _table(data, "grid", source)
    for key, values in grid.items():
        if not isinstance(values, list):
            raise SweepError(f"{source}: grid.{key} must be a list, got {values!r}")
        if not values:
            raise SweepError(f"{source}: grid.{key} is an empty list")
    points = data.get("points", [])
    if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
        raise SweepError(f"{source}: points must be an array of tables ([[points]])")
    if not grid and not points:
        raise SweepError(f"{source}: no runs: give a [grid] or [[points]]")
    spec = SweepSpec(
        name=str(meta.get("name", Path(source).stem)),
        description=str(meta.get("description", "")),
        base=base,
        grid=grid,
        points=points,
        source=source,
    )
    spec.configs()  # validate every run now, before anything is written
    return spec


def _table(data: dict, name: str, source: str) -> dict:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise SweepError(f"{source}: '{name}' must be a table ([{name}])")
    return table
