"""Clusters of training examples in memorizing solutions (docs/science.md section 7, "The July 2023
update": from about T = 1k on, memorization stores clusters of examples that share active features).

At m = 2 a model stores a training example as a direction of its hidden vector h_t = W x_t. A
cluster is a set of examples stored along one direction: the represented examples (norm at least
REPRESENTED_NORM of the largest) are sorted by angle, and neighbours closer than CLUSTER_GAP of the
even spacing join one cluster (single linkage along the circle, cut first at the widest gap so that
no cluster is split at -pi). A cluster of one is a single memorized example. Each cluster is then related to the data:
it *shares a feature* when one feature is active in every member, the mechanism SPEC names
(examples with a common active feature whose weight vector dominates their hidden vectors).

The same shares for a random W on the same rows are the chance level: what the data alone cluster.
Only m = 2 is measured (as for the polygon failures): directions on a circle have one natural order.
Runs with repeated examples are not measured: their copies would be clusters by construction.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ._data import SparseRows
from ._metrics import LEFT_OUT_NORM, Measurements, hidden_vectors

# An example counts as represented when its hidden vector is at least this share of the longest:
# the rest sit near the origin, stored by no direction (the bar of a left-out polygon vertex).
REPRESENTED_NORM = LEFT_OUT_NORM
# Neighbours (in angle) belong to one cluster when their gap is below this share of the even spacing
# 2 pi / R of the R represented examples: stored together, far closer than evenly spread directions.
# Uniformly random directions would put about 10% of the neighbours this close (1 - exp(-0.1)).
CLUSTER_GAP = 0.1
UNREPRESENTED = -1
CHANCE_SEED = 0  # the random W of the chance levels


def direction_clusters(hidden: np.ndarray) -> np.ndarray:
    """(T,) cluster label of each example from its hidden vector, hidden (T, 2); UNREPRESENTED (-1)
    for examples below REPRESENTED_NORM. Labels run 0, 1, ... in angle order from the widest gap."""
    labels = np.full(len(hidden), UNREPRESENTED, dtype=np.int64)
    norm = np.linalg.norm(hidden, axis=1)
    if len(hidden) == 0 or not norm.max() > 0:
        return labels
    represented = np.flatnonzero(norm >= REPRESENTED_NORM * norm.max())
    angle = np.arctan2(hidden[represented, 1], hidden[represented, 0])
    order = np.argsort(angle, kind="stable")
    angle = angle[order]
    gaps = np.diff(np.append(angle, angle[0] + 2 * np.pi))  # gaps[i]: from angle i to the next
    start = (int(np.argmax(gaps)) + 1) % len(angle)
    order, gaps = np.roll(order, -start), np.roll(gaps, -start)  # the widest gap is now the last
    new_cluster = np.r_[True, gaps[:-1] > CLUSTER_GAP * 2 * np.pi / len(angle)]
    labels[represented[order]] = np.cumsum(new_cluster) - 1
    return labels


def shares_feature(labels: np.ndarray, rows: SparseRows) -> np.ndarray:
    """(K,) bool per label 0 .. K-1: some feature is active in every example of the cluster.

    labels (T,) from `direction_clusters`; rows the T training rows."""
    n_clusters = int(labels.max()) + 1 if len(labels) else 0
    if n_clusters == 0:
        return np.zeros(0, dtype=bool)
    size = np.bincount(labels[labels >= 0], minlength=n_clusters)
    row_of_entry = np.repeat(np.arange(rows.n_rows), np.diff(rows.indptr))
    keep = (labels[row_of_entry] >= 0) & (rows.values[: rows.nnz] != 0)
    key = labels[row_of_entry[keep]] * rows.n_features + rows.indices[: rows.nnz][keep]
    # a feature appears at most once per row, so a key's count is the members holding that feature
    keys, counts = np.unique(key, return_counts=True)
    most_common = np.zeros(n_clusters, dtype=np.int64)
    np.maximum.at(most_common, keys // rows.n_features, counts)
    return most_common == size


def _scalars(labels: np.ndarray, rows: SparseRows) -> dict:
    represented = labels >= 0
    size = np.bincount(labels[represented])
    clusters = size >= 2
    shared = shares_feature(labels, rows)[clusters]
    return {
        "stored_directions": int(len(size)),
        "cluster_count": int(clusters.sum()),
        "cluster_size_mean": float(size[clusters].mean()) if clusters.any() else float("nan"),
        "cluster_size_max": int(size.max()) if clusters.any() else 1 if len(size) else 0,
        "clustered_share": float(size[clusters].sum() / represented.sum()) if represented.any() else float("nan"),
        "cluster_shared_feature_share": float(shared.mean()) if clusters.any() else float("nan"),
    }


def cluster_measurements(W: np.ndarray, rows: SparseRows) -> tuple[dict, np.ndarray]:
    """(scalars, labels (T,)) for weights W (2, n) and the T training rows.

    Scalars: cluster_count (clusters of >= 2 examples), cluster_size_mean and cluster_size_max
    over them (NaN without one), clustered_share (represented examples that sit in such a
    cluster), cluster_shared_feature_share (clusters whose members all hold one active feature),
    stored_directions (all clusters, single examples included); and the chance levels
    cluster_chance_share and cluster_chance_shared_feature_share: the same two shares for a random
    W (standard normal, fixed seed) on the same rows, what the data alone produce (examples that
    hold the same features point the same way under any W)."""
    labels = direction_clusters(hidden_vectors(np.asarray(W, dtype=np.float64), rows))
    scalars = _scalars(labels, rows)
    random_W = np.random.default_rng(CHANCE_SEED).standard_normal(np.shape(W))
    chance = _scalars(direction_clusters(hidden_vectors(random_W, rows)), rows)
    scalars["cluster_chance_share"] = chance["clustered_share"]
    scalars["cluster_chance_shared_feature_share"] = chance["cluster_shared_feature_share"]
    return scalars, labels


def with_clusters(measurements: Measurements, W: np.ndarray, rows: SparseRows) -> Measurements:
    """`measurements` plus the cluster scalars and the examples table's `cluster` column."""
    scalars, labels = cluster_measurements(W, rows)
    return dataclasses.replace(measurements, scalars={**measurements.scalars, **scalars}, examples={**measurements.examples, "cluster": labels})
