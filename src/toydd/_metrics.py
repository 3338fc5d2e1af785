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
STRONG_FEATURE = 0.1
REGIME_THRESHOLD = 0.5


def classify(feature_share: float, data_regularity: float) -> str:
    """The regime of one model from its two shares (see the rule above)."""
    memorizes = np.isfinite(data_regularity) and data_regularity >= REGIME_THRESHOLD
    generalizes = feature_share >= REGIME_THRESHOLD
    if memorizes and (not generalizes or data_regularity >= feature_share):
        return "memorizing"
    return "generalizing" if generalizes else "intermediate"


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
    W64 = np.asarray(W, dtype=np.float64)
    feature_dim = fractional_dimensionality(W64.T)
    feature_norm = np.linalg.norm(W64, axis=0)
    hidden = hidden_vectors(W64, train_rows)
    data_dim = fractional_dimensionality(hidden)
    hidden_norm = np.linalg.norm(hidden, axis=1)
    leverage = max_data_dimensionality(hidden)
    m = W.shape[0]
    strong_features = float(feature_dim[feature_dim >= STRONG_FEATURE].sum() / m)
    data_regularity = float(np.median(data_dim) * len(data_dim) / m) if fixed_train_set else float("nan")
    scalars = {
        "train_loss": float(train_loss.mean()),
        "test_loss": float(test_loss.mean()),
        "test_loss_sem": float(test_loss.std(ddof=1) / np.sqrt(len(test_loss))) if len(test_loss) > 1 else float("nan"),
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
        "features_learned": int(np.sum(feature_dim >= STRONG_FEATURE)),
        "feature_share": strong_features,
        "data_regularity": data_regularity,
        "regime": classify(strong_features, data_regularity),
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
