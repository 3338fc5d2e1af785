"""What a model did with its repeated training examples (docs/science.md section 7, "Repeated data").

A run with `repeated_points` = k > 0 holds k distinct examples R = `repeats` times each (see
`_data.repeat_layout`). Whether such a point is memorized is judged among the distinct examples,
one copy each: the R copies share one hidden vector, so over all T rows each copy's dimensionality
is about 1/R of what the point holds. The point's dimensionality among the distinct examples (the
formula of `_metrics.fractional_dimensionality`) is compared with the rest of that distribution.

Its share of the model is R D / m with D a copy's dimensionality among all T rows (examples.parquet's
`dimensionality`): the R copies' part of the at most m dimensions that the T rows hold together, so
a point that has a direction to itself takes 1/m, like a feature. (R times the distinct-only value
would count the point's own R - 1 other copies out of its denominator and can exceed 1.)
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ._config import Config
from ._data import RepeatLayout, SparseRows, repeat_layout
from ._metrics import Measurements, collapsed, fractional_dimensionality, hidden_vectors

# Issue 8 (after the follow-up on repeated data): a repeated point is memorized when its
# distinct-only dimensionality is among the top 0.1% of the distinct examples' (at least the top one).
MEMORIZED_TOP_FRACTION = 0.001


def distinct_dimensionality(hidden: np.ndarray, layout: RepeatLayout) -> np.ndarray:
    """(D,) dimensionality of each distinct example among the distinct examples only.

    hidden: (T, m) hidden vectors of the training rows; each distinct example is taken once, from
    its first row (every copy has the same hidden vector).
    """
    first_rows = np.unique(layout.distinct_example, return_index=True)[1]
    return fractional_dimensionality(hidden[first_rows])


def in_top_fraction(values: np.ndarray, which: np.ndarray, fraction: float) -> np.ndarray:
    """(k,) bool: values[which] is positive and among the ceil(fraction N) largest of values (N,).

    Rank by strictly larger values, so ties with the last place count as inside; a zero never
    counts (a point with no dimension of its own is not memorized, even when all are zero).
    """
    places = max(1, math.ceil(fraction * len(values)))
    ordered = np.sort(values)
    larger = len(values) - np.searchsorted(ordered, values[which], side="right")  # (k,)
    return (larger < places) & (values[which] > 0)


def memorized_cap(dataset_size: int, repeated_points: int, repeats: int) -> int:
    """The most repeated points that `in_top_fraction` can count memorized in a run: the top
    MEMORIZED_TOP_FRACTION places (at least one) of its D = T - k (R - 1) distinct examples (T
    counts every copy of the k repeated points)."""
    distinct = int(dataset_size) - int(repeated_points) * (int(repeats) - 1)
    return max(1, math.ceil(MEMORIZED_TOP_FRACTION * distinct))


def top_fraction_threshold(values: np.ndarray, fraction: float) -> float:
    """The smallest value inside the top `fraction` of values (N,): the bar a point must reach."""
    places = max(1, math.ceil(fraction * len(values)))
    return float(np.sort(values)[-places])


def repeat_measurements(config: Config, W: np.ndarray, train_rows: SparseRows, examples: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """(scalars, example columns) of the repeated points of a run with repeated_points > 0.

    W (m, n) the kept model; train_rows the T training rows, copies included; examples the
    per-row measurements of `_metrics.measure` ("dimensionality" and "loss", each (T,)).
    Per-point values are lists in the order of `layout.chosen`; the columns are (T,) arrays.
    """
    layout = repeat_layout(config, train_rows)
    hidden = hidden_vectors(W, train_rows)  # (T, m)
    dims = distinct_dimensionality(hidden, layout)  # (D,)
    point_dims = dims[layout.chosen]  # (k,)
    # a collapsed model stores nothing, whatever its scale-free dimensionalities say
    memorized = in_top_fraction(dims, layout.chosen, MEMORIZED_TOP_FRACTION) & (not collapsed(W))
    # row c holds distinct example c's first copy; every copy has the same hidden vector and loss
    shares = layout.repeats * np.asarray(examples["dimensionality"], dtype=np.float64)[layout.chosen] / W.shape[0]
    losses = np.asarray(examples["loss"], dtype=np.float64)[layout.chosen]
    scalars = {
        "repeated_memorized": int(memorized.sum()),
        "repeated_dimensionality_max": float(point_dims.max()),
        "repeated_share": float(shares.sum()),
        "repeated_loss_mean": float(losses.mean()),
        "distinct_dimensionality_threshold": top_fraction_threshold(dims, MEMORIZED_TOP_FRACTION),
        "repeated_point_example": layout.chosen.tolist(),
        "repeated_point_dimensionality": point_dims.tolist(),
        "repeated_point_memorized": memorized.tolist(),
        "repeated_point_share": shares.tolist(),
        "repeated_point_loss": losses.tolist(),
    }
    columns = {
        "repeated": layout.repeated,
        "distinct_example": layout.distinct_example,
        "distinct_dimensionality": dims[layout.distinct_example],
    }
    return scalars, columns


def with_repeats(measurements: Measurements, config: Config, W: np.ndarray, train_rows: SparseRows) -> Measurements:
    """`measurements` of a run with repeated points, plus the repeated points' scalars and the
    examples table's `repeated`, `distinct_example` and `distinct_dimensionality` columns."""
    scalars, columns = repeat_measurements(config, W, train_rows, measurements.examples)
    return dataclasses.replace(measurements, scalars={**measurements.scalars, **scalars}, examples={**measurements.examples, **columns})
