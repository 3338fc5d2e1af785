"""Clusters of training examples stored along one direction (issue 8, section 3)."""

import numpy as np

from toydd import Config, SparseRows, load_run, save_run, train
from toydd._clusters import CLUSTER_GAP, UNREPRESENTED, cluster_measurements, direction_clusters, shares_feature


def at_angles(angles, norms=None) -> np.ndarray:
    """(T, 2) hidden vectors at these angles (radians), unit length unless norms are given."""
    angles = np.asarray(angles, dtype=float)
    norms = np.ones_like(angles) if norms is None else np.asarray(norms, dtype=float)
    return np.stack([np.cos(angles), np.sin(angles)], axis=1) * norms[:, None]


def rows_of(active: list[list[int]], n_features: int) -> SparseRows:
    """SparseRows with value 1 at each row's listed features."""
    indptr = np.cumsum([0] + [len(a) for a in active]).astype(np.int64)
    indices = np.array([f for a in active for f in sorted(a)], dtype=np.int64)
    return SparseRows(indptr, indices, np.ones(len(indices), dtype=np.float32), n_features)


def test_a_regular_polygon_is_single_examples():
    labels = direction_clusters(at_angles(np.arange(7) * 2 * np.pi / 7))
    assert sorted(labels) == list(range(7))


def test_close_neighbours_form_one_cluster_and_the_cut_respects_the_wrap():
    # 3 examples straddling -pi / pi, 2 near 0, 1 alone at pi / 2; spacing 2 pi / 6, bar 0.1 of it
    close = 0.2 * CLUSTER_GAP * 2 * np.pi / 6
    angles = [np.pi - close / 2, -np.pi + close / 2, -np.pi + 1.5 * close, 0.0, close, np.pi / 2]
    labels = direction_clusters(at_angles(angles))
    assert labels[0] == labels[1] == labels[2]
    assert labels[3] == labels[4] != labels[0]
    assert len(set(labels)) == 3


def test_a_gap_just_above_the_bar_separates():
    spacing = 2 * np.pi / 4
    labels = direction_clusters(at_angles([0.0, 1.01 * CLUSTER_GAP * spacing, 2.0, 4.0]))
    assert len(set(labels)) == 4
    labels = direction_clusters(at_angles([0.0, 0.99 * CLUSTER_GAP * spacing, 2.0, 4.0]))
    assert len(set(labels)) == 3


def test_short_hidden_vectors_are_unrepresented_and_do_not_count():
    hidden = at_angles([0.0, 1.0, 2.0, 3.0], norms=[1.0, 0.05, 1.0, 0.0])
    labels = direction_clusters(hidden)
    assert labels[1] == labels[3] == UNREPRESENTED
    assert sorted(labels[[0, 2]]) == [0, 1]
    assert (direction_clusters(np.zeros((3, 2))) == UNREPRESENTED).all()


def test_shared_feature_means_one_feature_active_in_every_member():
    labels = np.array([0, 0, 0, 1, 1, UNREPRESENTED, 2])
    rows = rows_of([[1, 4], [4, 7], [2, 4], [3], [5], [3, 5], [9]], n_features=10)
    # cluster 0 all hold feature 4; cluster 1 hold 3 and 5 but never both (the unrepresented row
    # holding both must not count); a cluster of one trivially shares its features
    assert shares_feature(labels, rows).tolist() == [True, False, True]


def test_cluster_scalars_on_a_known_layout():
    # features 0 and 1 point at angles 0 and 2; rows 0-2 hold feature 0 (with small extras), row 3
    # holds feature 1, row 4 feature 2 at angle 4, row 5 nothing (unrepresented)
    W = np.zeros((2, 6))
    W[:, :3] = at_angles([0.0, 2.0, 4.0]).T
    W[:, 3:] = 1e-4
    rows = rows_of([[0], [0, 3], [0, 4], [1], [2], []], n_features=6)
    scalars, labels = cluster_measurements(W, rows)
    assert labels[0] == labels[1] == labels[2] and labels[5] == UNREPRESENTED
    assert scalars["stored_directions"] == 3
    assert scalars["cluster_count"] == 1 and scalars["cluster_size_mean"] == 3 and scalars["cluster_size_max"] == 3
    assert scalars["clustered_share"] == 3 / 5
    assert scalars["cluster_shared_feature_share"] == 1.0
    assert 0.0 <= scalars["cluster_chance_share"] <= 1.0


def test_the_chance_level_is_what_a_random_W_clusters_on_the_same_rows():
    # every row holds one of two features: under any W the rows of a feature share one direction
    rows = rows_of([[0]] * 6 + [[1]] * 4, n_features=2)
    W = at_angles([0.0, 2.0]).T
    scalars, _ = cluster_measurements(W, rows)
    assert scalars["cluster_chance_share"] == 1.0 and scalars["cluster_chance_shared_feature_share"] == 1.0
    assert scalars["clustered_share"] == 1.0  # the model clusters them too: no more than chance
    # distinct single features: no cluster for the model (a regular polygon) nor by chance
    polygon = rows_of([[i] for i in range(5)], n_features=5)
    scalars, _ = cluster_measurements(at_angles(np.arange(5) * 2 * np.pi / 5).T, polygon)
    assert scalars["clustered_share"] == 0.0 and scalars["cluster_chance_share"] < 1.0


def test_runs_at_m_2_store_clusters_with_their_examples(tmp_path):
    config = Config(n_features=200, sparsity=0.95, dataset_size=60, steps=300, test_size=100, history_points=2)
    result = train(config)
    labels = result.measurements.examples["cluster"]
    assert labels.shape == (60,) and labels.max() + 1 == result.measurements.scalars["stored_directions"]
    stored = load_run(save_run(result, tmp_path / "run"))
    assert np.array_equal(stored.examples["cluster"], labels)
    assert stored.metrics["cluster_count"] == result.measurements.scalars["cluster_count"]
    assert "cluster" not in train(config.replace(n_hidden=3)).measurements.examples
    # copies of a repeated example would be a cluster by construction: not measured
    repeated = train(config.replace(repeated_points=1, repeats=4)).measurements
    assert "cluster" not in repeated.examples and "cluster_count" not in repeated.scalars
