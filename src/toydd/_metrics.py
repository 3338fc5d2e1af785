"""Measurements of a trained model (docs/science.md section 5).

Fractional dimensionality of vector v_i among vectors v_1..v_N (features: columns of W; data
points: hidden vectors h_t) is D_i = ||v_i||^2 / sum_j (v_i_hat . v_j)^2. The denominator is
v_i_hat^T G v_i_hat with the m x m Gram matrix G = sum_j v_j v_j^T, so D costs O(N m^2), not
O(N^2 m). Zero vectors get 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _kernels
from ._data import SparseRows


def fractional_dimensionality(vectors: np.ndarray) -> np.ndarray:
    """(N,) dimensionality of each row of `vectors` (N, m) among all rows (itself included)."""
    v = np.asarray(vectors, dtype=np.float64)
    gram = v.T @ v
    norm_sq = np.einsum("ij,ij->i", v, v)
    spread = np.einsum("ij,jk,ik->i", v, gram, v)  # ||v_i||^2 * sum_j (v_i_hat . v_j)^2
    out = np.zeros(len(v))
    nonzero = norm_sq > 0
    out[nonzero] = norm_sq[nonzero] ** 2 / spread[nonzero]
    return out


def max_data_dimensionality(hidden: np.ndarray) -> np.ndarray:
    """(T,) sup over directions u of (u . h_t)^2 / sum_s (u . h_s)^2 for hidden (T, m).

    Closed form: the leverage h_t^T (H^T H)^+ h_t, which sums to rank(H).
    """
    H = np.asarray(hidden, dtype=np.float64)
    if not H.size:
        return np.zeros(len(H))
    U, singular, _ = np.linalg.svd(H, full_matrices=False)
    rank = int(np.sum(singular > singular.max() * max(H.shape) * np.finfo(float).eps)) if singular.size else 0
    return np.einsum("ij,ij->i", U[:, :rank], U[:, :rank])


def hidden_vectors(W: np.ndarray, rows: SparseRows) -> np.ndarray:
    """(T, m) hidden vectors h_t = W x_t, in float64."""
    W64 = np.asarray(W, dtype=np.float64)
    hT = np.zeros((W64.shape[0], rows.n_rows))
    _kernels.hidden_vectors((0,) * W64.shape[0], W64, rows.indptr, rows.indices, rows.values.astype(np.float64), 0, rows.n_rows, hT)
    return hT.T


def zero_output_losses(rows: SparseRows, feature_scale: float) -> np.ndarray:
    """(T,) float64 loss of the all-zero output x' = 0 on each example: feature_scale * ||x_t||^2
    (1 for a unit-norm example under the paper's sum over features, 0 for an all-zero one)."""
    values = np.asarray(rows.values, dtype=np.float64)
    row_of_entry = np.repeat(np.arange(rows.n_rows), np.diff(rows.indptr))
    return np.bincount(row_of_entry, weights=values * values, minlength=rows.n_rows) * feature_scale


def example_losses(W: np.ndarray, b: np.ndarray, rows: SparseRows, feature_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-example loss (T,) float64 and number of features with z > 0 (T,), computed in W's dtype."""
    m = W.shape[0]
    losses = np.zeros(rows.n_rows)
    active = np.zeros(rows.n_rows, np.int64)
    hT = np.zeros((m, rows.n_rows), W.dtype)
    bounds = _kernels.chunk_bounds(rows.n_rows)
    values = rows.values.astype(W.dtype)
    _kernels.example_losses((0,) * m, W, b, rows.indptr, rows.indices, values, bounds, hT, losses, active)
    # r^2 + x^2 - 2xr can round to just below 0 when an example is fitted exactly
    return np.maximum(losses, 0.0) * feature_scale, active


# The regime rule (documented in the README). A feature is "learned" when its dimensionality is
# at least STRONG_FEATURE (a pentagon's features have 2/5, an antipodal pair's 1/2).
#   feature_share   = (sum of learned features' dimensionalities) / m: the share of the m
#                     dimensions held by well-defined features (1 for a pentagon at m = 2)
#   data_regularity = median_t(D_t) * T / m: 1 when the T hidden vectors share the dimensions
#                     equally (a regular T-gon), near 0 when most examples get none
# memorizing if data_regularity >= 0.5 and it beats feature_share; generalizing if feature_share
# >= 0.5; intermediate otherwise. Infinite data has no training examples: never memorizing.
# Dimensionalities do not depend on scale, so a model whose weights have all but vanished would
# read as any regime. A feature's gain ||W_i||^2 is the share of x_i its own reconstruction passes
# on; a feature whose gain is below SILENT_GAIN is never counted learned, and a model whose every
# feature is below it is "collapsed": its output is ReLU(b) whatever the input (the envelope's
# lr 3e-1 ends there, with W and b near 1e-29).
STRONG_FEATURE = 0.1
REGIME_THRESHOLD = 0.5
SILENT_GAIN = 1e-6


def collapsed(W: np.ndarray) -> bool:
    """Whether every feature's gain ||W_i||^2 (W: (m, n)) is below SILENT_GAIN."""
    W64 = np.asarray(W, dtype=np.float64)
    return not bool(np.any(np.einsum("ij,ij->j", W64, W64) >= SILENT_GAIN))


def classify(feature_share: float, data_regularity: float, is_collapsed: bool = False) -> str:
    """The regime of one model from its two shares (see the rule above)."""
    if is_collapsed:
        return "collapsed"
    memorizes = np.isfinite(data_regularity) and data_regularity >= REGIME_THRESHOLD
    generalizes = feature_share >= REGIME_THRESHOLD
    if memorizes and (not generalizes or data_regularity >= feature_share):
        return "memorizing"
    return "generalizing" if generalizes else "intermediate"


# --- test loss beyond its mean ------------------------------------------------------------------
# The paper reports the mean test loss; in the middle regime its per-example losses have a heavy
# tail (docs/science.md section 9: at T = 200 the median is 1.001 while 9% of test examples exceed
# 1.05 and the mean is 30 to 90). A test example is in the tail when its loss exceeds its own
# zero-output loss by more than TAIL_MARGIN (that 1.05 for unit-norm examples). An all-zero
# example has no such scale (any output above 0 would count) and is left out: rare at the paper's
# and the reduced setting (probability S^n, about 4.5e-5), common only in tiny test settings.
TAIL_MARGIN = 0.05


def tail_share(losses: np.ndarray, zero_losses: np.ndarray) -> float:
    """Share of the examples with an active feature (zero-output loss (T,) above 0) whose loss (T,)
    exceeds (1 + TAIL_MARGIN) times their zero-output loss; NaN if there are none."""
    losses, zero_losses = np.asarray(losses), np.asarray(zero_losses)
    active = zero_losses > 0
    if not active.any():
        return float("nan")
    return float(np.mean(losses[active] > (1.0 + TAIL_MARGIN) * zero_losses[active]))


# --- optimization failures at m = 2 (docs/science.md section 7) -------------------------------
# At m = 2 and small T a memorizing run should end with its T hidden vectors on one regular T-gon.
# Two known local optima, judged from the training examples' hidden vectors h_t = W x_t:
#   "two_circles": the vectors lie on two circles of clearly different radii;
#   "symmetric":   one vector is left out (near zero) and the others form a regular (T - 1)-gon.
# Judgment thresholds. Points share a circle when the largest radius is at most RADIUS_TOLERANCE
# above the smallest (as the report's T-gon check allows 10% around 2/T); two circles are distinct
# when the outer circle's smallest radius is at least TWO_CIRCLES_RATIO times the inner circle's
# largest (a gap twice that tolerance); each circle holds at least MIN_CIRCLE_POINTS vectors (one
# stray vector is not a circle). A regular N-gon's angular gaps lie within ANGLE_TOLERANCE of 2 pi / N.
# A vector is left out when shorter than LEFT_OUT_NORM times the median length of the others.
RADIUS_TOLERANCE = 0.10
TWO_CIRCLES_RATIO = 1.2
MIN_CIRCLE_POINTS = 2
ANGLE_TOLERANCE = 0.10
LEFT_OUT_NORM = 0.1
NO_FAILURE, TWO_CIRCLES, SYMMETRIC = "none", "two_circles", "symmetric"
FAILURES = (NO_FAILURE, TWO_CIRCLES, SYMMETRIC)  # "" where not applicable (m != 2, infinite data)


def _on_one_circle(radii: np.ndarray) -> bool:
    return bool(radii.min() > 0 and radii.max() <= (1.0 + RADIUS_TOLERANCE) * radii.min())


def angular_gaps(points: np.ndarray) -> np.ndarray:
    """(N,) angles between neighbouring points (N, 2) around the origin, summing to 2 pi."""
    angles = np.sort(np.arctan2(points[:, 1], points[:, 0]))
    return np.diff(np.concatenate([angles, [angles[0] + 2 * np.pi]]))


def angular_gap_to_next(points: np.ndarray) -> np.ndarray:
    """(N,) for each point (N, 2) the angle to the next point counterclockwise around the origin
    (`angular_gaps`, in the points' order)."""
    order = np.argsort(np.arctan2(points[:, 1], points[:, 0]), kind="stable")
    gaps = np.empty(len(points))
    gaps[order] = angular_gaps(points)
    return gaps


def is_regular_polygon(points: np.ndarray) -> bool:
    """Whether points (N, 2), N >= 2, are the vertices of one regular N-gon centred on the origin:
    lengths within RADIUS_TOLERANCE of each other, angular gaps within ANGLE_TOLERANCE of 2 pi / N."""
    p = np.asarray(points, dtype=np.float64)
    if len(p) < 2 or not _on_one_circle(np.linalg.norm(p, axis=1)):
        return False
    gap = 2 * np.pi / len(p)
    return bool(np.all(np.abs(angular_gaps(p) - gap) <= ANGLE_TOLERANCE * gap))


def is_two_circles(points: np.ndarray) -> bool:
    """Whether the lengths of points (N, 2) split, at their largest ratio gap, into two circles of
    at least MIN_CIRCLE_POINTS each, each within RADIUS_TOLERANCE, the outer TWO_CIRCLES_RATIO
    times the inner or more."""
    radii = np.sort(np.linalg.norm(np.asarray(points, dtype=np.float64), axis=1))
    if len(radii) < 2 * MIN_CIRCLE_POINTS or radii[0] <= 0:
        return False
    # split after position k: inner radii[: k + 1], outer radii[k + 1 :], both big enough
    splits = np.arange(MIN_CIRCLE_POINTS - 1, len(radii) - MIN_CIRCLE_POINTS)
    ratios = radii[splits + 1] / radii[splits]
    k = int(splits[np.argmax(ratios)])
    inner, outer = radii[: k + 1], radii[k + 1 :]
    return bool(outer[0] >= TWO_CIRCLES_RATIO * inner[-1] and _on_one_circle(inner) and _on_one_circle(outer))


def is_symmetric_failure(points: np.ndarray) -> bool:
    """Whether one of points (N, 2), N >= 3, is left out (shorter than LEFT_OUT_NORM times the
    median length of the others) and the other N - 1 form a regular (N - 1)-gon."""
    p = np.asarray(points, dtype=np.float64)
    if len(p) < 3:
        return False
    radii = np.linalg.norm(p, axis=1)
    shortest = int(np.argmin(radii))
    others = np.delete(p, shortest, axis=0)
    left_out = radii[shortest] < LEFT_OUT_NORM * np.median(np.delete(radii, shortest))
    return bool(left_out and is_regular_polygon(others))


def optimization_failure(hidden: np.ndarray) -> str:
    """SYMMETRIC, TWO_CIRCLES or NO_FAILURE for the training hidden vectors (T, 2) of an m = 2 run."""
    if is_symmetric_failure(hidden):
        return SYMMETRIC
    if is_two_circles(hidden):
        return TWO_CIRCLES
    return NO_FAILURE


def polygon_irregularity(hidden: np.ndarray) -> float:
    """How unequally the T hidden vectors (T, m) share the dimensions: max_t |D_t / s - 1|, with D_t
    the data-point dimensionality and s = min(m, T) / T the share of each in a regular arrangement.
    0 for a regular T-gon at m = 2, 1 when an example is left out (D_t = 0), in between for two
    circles (the outer vectors take more, the inner less). Used by restart_rule = "regular"."""
    return share_irregularity(fractional_dimensionality(hidden), hidden.shape[1])


def share_irregularity(data_dimensionality: np.ndarray, m: int) -> float:
    """`polygon_irregularity` from the T data-point dimensionalities (T,) at m hidden dimensions."""
    T = len(data_dimensionality)
    if T == 0:
        return float("nan")
    return float(np.max(np.abs(data_dimensionality / (min(m, T) / T) - 1.0)))


@dataclass
class Measurements:
    """Scalars (dict of floats) and per-item arrays of one model."""

    scalars: dict[str, float | int | str]
    features: dict[str, np.ndarray]  # each (n,)
    examples: dict[str, np.ndarray]  # each (T,); empty for infinite data


def measure(W, b, train_rows: SparseRows, test_rows: SparseRows, feature_scale: float, fixed_train_set: bool) -> Measurements:
    """Everything docs/science.md section 5 lists, for weights W (m, n) and b (n,).

    `train_rows` is the training set (or, for infinite data, a fresh batch standing in for it:
    then the training loss is measured on it, but there are no training examples to measure, so
    the data-point metrics are NaN and no per-example table is kept).
    """
    train_loss, active = example_losses(W, b, train_rows, feature_scale)
    test_loss, _ = example_losses(W, b, test_rows, feature_scale)
    test_zero_loss = zero_output_losses(test_rows, feature_scale)
    W64 = np.asarray(W, dtype=np.float64)
    feature_dim = fractional_dimensionality(W64.T)
    feature_norm = np.linalg.norm(W64, axis=0)
    hidden = hidden_vectors(W64, train_rows)
    data_dim = fractional_dimensionality(hidden)
    hidden_norm = np.linalg.norm(hidden, axis=1)
    leverage = max_data_dimensionality(hidden)
    m = W.shape[0]
    learned = (feature_dim >= STRONG_FEATURE) & (feature_norm**2 >= SILENT_GAIN)
    strong_features = float(feature_dim[learned].sum() / m)
    data_regularity = float(np.median(data_dim) * len(data_dim) / m) if fixed_train_set else float("nan")
    scalars = {
        "train_loss": float(train_loss.mean()),
        "test_loss": float(test_loss.mean()),
        "test_loss_sem": float(test_loss.std(ddof=1) / np.sqrt(len(test_loss))) if len(test_loss) > 1 else float("nan"),
        "test_loss_median": float(np.median(test_loss)),
        "test_loss_tail_share": tail_share(test_loss, test_zero_loss),
        "feature_dimensionality_sum": float(feature_dim.sum()),
        "feature_dimensionality_max": float(feature_dim.max()),
        "data_dimensionality_sum": float(data_dim.sum()) if fixed_train_set else float("nan"),
        "data_dimensionality_max": float(data_dim.max()) if fixed_train_set else float("nan"),
        "max_data_dimensionality_sum": float(leverage.sum()) if fixed_train_set else float("nan"),
        "W_norm": float(np.linalg.norm(W64)),
        "b_norm": float(np.linalg.norm(np.asarray(b, dtype=np.float64))),
        "feature_norm_max": float(feature_norm.max()),
        "hidden_norm_mean": float(hidden_norm.mean()) if fixed_train_set else float("nan"),
        "hidden_norm_max": float(hidden_norm.max()) if fixed_train_set else float("nan"),
        "active_fraction": float(active.sum() / (W.shape[1] * train_rows.n_rows)),
        "features_learned": int(learned.sum()),
        "feature_share": strong_features,
        "data_regularity": data_regularity,
        "regime": classify(strong_features, data_regularity, collapsed(W64)),
        "polygon_irregularity": share_irregularity(data_dim, m) if fixed_train_set else float("nan"),
        "failure": optimization_failure(hidden) if fixed_train_set and m == 2 else "",
    }
    features = {"dimensionality": feature_dim, "norm": feature_norm, "bias": np.asarray(b, dtype=np.float64)}
    examples = {}
    if fixed_train_set:
        examples = {
            "dimensionality": data_dim,
            "max_dimensionality": leverage,
            "norm": hidden_norm,
            "loss": train_loss,
            "active_features": np.diff(train_rows.indptr),
        }
    return Measurements(scalars, features, examples)


HISTORY_COLUMNS = (
    "train_loss", "test_loss", "W_norm", "b_norm",
    "feature_dimensionality_sum", "data_dimensionality_sum", "feature_dimensionality_max", "data_dimensionality_max",
)  # fmt: skip


def history_row(W, b, train_rows: SparseRows, test_rows: SparseRows, feature_scale: float, fixed_train_set: bool) -> dict[str, float]:
    """The scalar metrics recorded over training, at one recorded step."""
    everything = measure(W, b, train_rows, test_rows, feature_scale, fixed_train_set).scalars
    return {name: everything[name] for name in HISTORY_COLUMNS}
