"""Sweep files: TOML with a [base] table of config keys, a [grid] of lists, and [[points]].

    [sweep]                      # optional: name and description, shown by `toydd reproduce --list`
    name = "quick"
    description = "..."

    [base]                       # any config key (see Config); unlisted keys keep their defaults
    n_features = 1000

    [grid]                       # the product of these lists, each point applied over [base]
    dataset_size = [5, 50, "inf"]
    data_seed = [0, 1, 2, 3]
                                 # or several grids, [[grid]] tables: the union of their products

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

from ._config import _DEFAULTS, Config, ConfigError, check_keys, checked_value


class SweepError(ConfigError):
    """A sweep file is malformed or names a bad key or value."""


@dataclass(frozen=True)
class SweepSpec:
    name: str
    description: str
    base: dict[str, Any]
    grids: list[dict[str, list]]
    points: list[dict[str, Any]]
    source: str

    def configs(self) -> list[Config]:
        """Every run of the sweep, grid order first, then the points; duplicates dropped."""
        runs: dict[str, Config] = {}
        for g, grid in enumerate(self.grids):
            keys = list(grid)
            for values in itertools.product(*(grid[k] for k in keys)):
                self._add(runs, {**self.base, **dict(zip(keys, values))}, "grid" if len(self.grids) == 1 else f"grid[{g}]")
        for i, point in enumerate(self.points):
            self._add(runs, {**self.base, **point}, f"points[{i}]")
        return list(runs.values())

    def _add(self, runs: dict, values: dict, where: str) -> None:
        try:
            config = Config.from_dict(values)
        except ConfigError as error:
            raise SweepError(f"{self.source}: {where}: {error}") from None
        # The same run named twice is trained once; if either asks for weight snapshots, keep them.
        run_id = config.run_id()
        if run_id not in runs or (config.snapshots and not runs[run_id].snapshots):
            runs[run_id] = config


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and fully check a sweep file (every run's config is validated here)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SweepError(f"{path}: cannot read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise SweepError(f"{path}: not a text file (TOML must be UTF-8)") from None
    return parse_sweep(text, str(path))


def parse_sweep(text: str, source: str = "<sweep>") -> SweepSpec:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SweepError(f"{source}: not valid TOML: {error}") from None
    for key, value in data.items():
        if key not in ("sweep", "base", "grid", "points"):
            if not isinstance(value, (dict, list)):
                raise SweepError(f"{source}: top-level key '{key}': config keys go in [base], [grid] or [[points]]")
            raise SweepError(f"{source}: unknown table '{key}' (expected sweep, base, grid, points)")
    meta = _table(data, "sweep", source)
    for key in meta:
        if key not in ("name", "description"):
            raise SweepError(f"{source}: unknown key 'sweep.{key}' (expected name, description)")
    base = _table(data, "base", source)
    grids = data.get("grid", [])
    grids = [grids] if isinstance(grids, dict) else grids
    if not isinstance(grids, list) or not all(isinstance(g, dict) for g in grids):
        raise SweepError(f"{source}: grid must be a table ([grid]) or an array of tables ([[grid]])")
    for grid in grids:
        for key, values in grid.items():
            if not isinstance(values, list):
                raise SweepError(f"{source}: grid.{key} must be a list, got {values!r}")
            if not values:
                raise SweepError(f"{source}: grid.{key} is an empty list")
    points = data.get("points", [])
    if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
        raise SweepError(f"{source}: points must be an array of tables ([[points]])")
    if not any(grids) and not points:
        raise SweepError(f"{source}: no runs: give a [grid] or [[points]]")
    tables = [("base", base)] + [("grid" if len(grids) == 1 else f"grid[{g}]", grid) for g, grid in enumerate(grids)]
    for where, table in tables + [(f"points[{i}]", point) for i, point in enumerate(points)]:
        try:
            check_keys(table)
        except ConfigError as error:
            raise SweepError(f"{source}: {where}: {error}") from None
    spec = SweepSpec(
        name=str(meta.get("name", Path(source).stem)),
        description=str(meta.get("description", "")),
        base=base,
        grids=[g for g in grids if g],
        points=points,
        source=source,
    )
    spec.configs()  # validate every run now, before anything is written
    return spec


def with_overrides(spec: SweepSpec, overrides: dict[str, Any]) -> SweepSpec:
    """The sweep with KEY=VALUE overrides: a list makes KEY an axis of every grid and every point
    (each point once per value); a single value sets KEY for every run. For a key that grids
    vary each their own way (`_tied_to_grids`), values that the grids have instead keep the runs
    at those values, each as its grid has it (`_selects`): an axis in every grid would train
    each T of `quick` once per grid, with and without restarts."""
    base, grids, points = dict(spec.base), [dict(g) for g in spec.grids], [dict(p) for p in spec.points]
    try:  # named here, not as the preset's first grid that the key would reach
        check_keys(overrides)
    except ConfigError as error:
        raise SweepError(f"--set: {error}") from None
    for key, value in overrides.items():
        try:  # a value of the wrong type is named as --set's, not as the preset's
            value = [checked_value(key, v) for v in value] if isinstance(value, list) else checked_value(key, value)
        except ConfigError as error:
            raise SweepError(f"--set {key}: {error}") from None
        if isinstance(value, list) and not value:
            raise SweepError(f"--set {key}: empty list")
        values = value if isinstance(value, list) else [value]
        if _tied_to_grids(grids, key) and _selects(spec, base, grids, points, key, values):
            grids, points = _select(base, grids, points, key, values)
            continue
        if isinstance(value, list):
            base.pop(key, None)
            grids = [{**g, key: value} for g in grids]
            points = [{**p, key: v} for p in points for v in value]
        else:
            base[key] = value
            grids = [{k: v for k, v in g.items() if k != key} for g in grids]  # an emptied grid is one run
            points = [{**p, key: value} for p in points]
    changed = SweepSpec(spec.name, spec.description, base, grids, points, spec.source)
    changed.configs()
    return changed


SEED_KEYS = ("data_seed", "init_seed", "test_seed")  # replicates, never tied to a grid's settings


def _tied_to_grids(grids: list[dict], key: str) -> bool:
    """True when two or more grids have `key` as an axis with different values: each grid's other
    settings go with its own values (quick gives small T more restarts, onset each sparsity its
    own T), so an override selects among them rather than crossing every grid with it. Seeds are
    replicates: fewer for costly grids, but `--set data_seed=[0, 1]` means two everywhere."""
    axes = [{checked_value(key, v) for v in g[key]} for g in grids if key in g]
    return key not in SEED_KEYS and len(axes) > 1 and any(a != axes[0] for a in axes)


def _fixed_apart(base: dict, grids: list[dict], key: str) -> str | None:
    """A key other than `key` that every grid fixes to one value, not the same in all (quick's
    restarts: 4 in one grid, 1 in the other): crossing `key` over such grids would train each of
    its values once per grid, differing in that key alone. None if there is none."""
    for other in sorted({k for g in grids for k in g} - {key}):
        values = [g.get(other, [base.get(other, _DEFAULTS[other])]) for g in grids]
        if all(len(v) == 1 for v in values) and len({checked_value(other, v[0]) for v in values}) > 1:
            return other
    return None


def _base_value(base: dict, key: str) -> Any:
    """`key`'s value where a grid or point leaves it to base (or the default), in a Config's
    spelling (1_000 or 1000.0, inf or "inf")."""
    return checked_value(key, base.get(key, _DEFAULTS[key]))


def _values_of(base: dict, grids: list[dict], points: list[dict], key: str) -> list:
    """Every value that the grids and points give `key`, in a Config's spelling."""
    default = _base_value(base, key)
    return [checked_value(key, v) for g in grids for v in g.get(key, [default])] + [checked_value(key, p.get(key, default)) for p in points]


def _selects(spec: SweepSpec, base: dict, grids: list[dict], points: list[dict], key: str, values: list) -> bool:
    """Whether an override of a key tied to the grids selects their runs: every value is one
    they have. None is: the override sets every run, as for any key (appendix's smoke runs at
    30 steps), unless the grids fix another key apart (`_fixed_apart`: quick's T = 7 would train
    with 4 restarts and with 1). Some but not all: refused, since no grid says how to run the
    others."""
    have = _values_of(base, grids, points, key)
    among = [v for v in values if v in have]
    apart = _fixed_apart(base, grids, key)
    if among and len(among) < len(values) or not among and apart:
        missing = next(v for v in values if v not in have)
        shown = ", ".join(map(str, sorted(set(have), key=lambda v: (isinstance(v, str), 0 if isinstance(v, str) else v))))
        why = f"each grid with its own {apart}" if apart else "each with its own other settings"
        raise SweepError(
            f"--set {key}: {missing!r} is not among the values {spec.name}'s grids give it ({shown}), {why}; "
            f"choose among those, or run a sweep file (`toydd sweep FILE --out DIR`) with the grids you want"
        )
    return bool(among)


def _select(base: dict, grids: list[dict], points: list[dict], key: str, values: list):
    """The grids and points narrowed to the runs whose `key` is among `values` (all of them
    values the grids have, `_selects`; a grid or point without the key has base's value), each
    as its grid has it."""
    default = _base_value(base, key)
    narrowed = []
    for grid in grids:
        if key not in grid:
            if default in values:
                narrowed.append(grid)
        elif kept := [v for v in grid[key] if checked_value(key, v) in values]:
            narrowed.append({**grid, key: kept})
    return narrowed, [p for p in points if checked_value(key, p.get(key, default)) in values]


def parse_overrides(items: tuple[str, ...]) -> dict[str, Any]:
    """--set KEY=VALUE items, VALUE in TOML syntax (20, 0.5, "inf", [1, 2]); bare words are strings."""
    overrides = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise SweepError(f"--set {item!r}: expected KEY=VALUE")
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError as error:
            if text.strip()[:1] in ('[', '"', "'", "{"):  # meant as TOML, not a bare word
                raise SweepError(f"--set {key.strip()}: {text!r} is not valid TOML ({error})") from None
            value = text
        overrides[key.strip()] = value
    return overrides


def _table(data: dict, name: str, source: str) -> dict:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise SweepError(f"{source}: '{name}' must be a table ([{name}])")
    return table
