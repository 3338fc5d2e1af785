import numpy as np

from toydd import SparseRows, fractional_dimensionality, max_data_dimensionality
from toydd._metrics import hidden_vectors, measure


def regular_polygon(T, radius=1.0):
    angles = 2 * np.pi * np.arange(T) / T
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def naive_dimensionality(v):
    """The definition, term by term: O(N^2)."""
    out = np.zeros(len(v))
    for i in range(len(v)):
        norm = np.linalg.norm(v[i])
        if norm > 0:
            out[i] = norm**2 / sum((v[i] / norm @ v[j]) ** 2 for j in range(len(v)))
    return out


def test_regular_polygon_gives_two_over_T():
    for T in (3, 5, 8, 30):
        np.testing.assert_allclose(fractional_dimensionality(regular_polygon(T, 1.7)), 2 / T, rtol=1e-12)


def test_antipodal_pairs_give_one_half_and_unused_give_zero():
    v = np.array([[1.0, 0], [-1, 0], [0, 2], [0, -2], [0, 0]])
    np.testing.assert_allclose(fractional_dimensionality(v), [0.5, 0.5, 0.5, 0.5, 0.0])


def test_gram_form_equals_the_definition():
    v = np.random.default_rng(0).standard_normal((40, 3))
    v[7] = 0
    np.testing.assert_allclose(fractional_dimensionality(v), naive_dimensionality(v), rtol=1e-12)


def test_leverage_sums_to_rank_and_is_the_supremum():
    rng = np.random.default_rng(1)
    H = rng.standard_normal((30, 4))
    lev = max_data_dimensionality(H)
    assert abs(lev.sum() - 4) < 1e-10
    H[:, 3] = H[:, 0]  # rank 3
    lev = max_data_dimensionality(H)
    assert abs(lev.sum() - 3) < 1e-10
    # no direction beats the closed form (random search from below)
    directions = rng.standard_normal((20_000, 4))
    ratios = (directions @ H[5]) ** 2 / ((directions @ H.T) ** 2).sum(1)
    assert ratios.max() <= lev[5] + 1e-12 and ratios.max() > 0.9 * lev[5]


def test_measure_a_hand_built_pentagon_memorizer():
    # T = 5 one-hot examples whose hidden vectors W e_t form a regular pentagon
    n, T = 12, 5
    W = np.zeros((2, n))
    W[:, :T] = regular_polygon(T).T
    rows = SparseRows.from_dense(np.eye(T, n))
    np.testing.assert_allclose(hidden_vectors(W, rows), regular_polygon(T), atol=1e-7)
    out = measure(W.astype(np.float32), np.zeros(n, np.float32), rows, rows, 1.0, fixed_train_set=True)
    np.testing.assert_allclose(out.examples["dimensionality"], 0.4, atol=1e-6)
    np.testing.assert_allclose(out.examples["max_dimensionality"].sum(), 2.0, atol=1e-6)
    assert abs(out.scalars["W_norm"] - np.sqrt(5)) < 1e-5 and out.scalars["b_norm"] == 0
    # W^T W e_t = e_t + cos terms: neighbours at 72 degrees contribute cos(72) > 0
    z = W.T @ W
    expected = ((np.eye(T, n) - np.maximum(z[:T], 0)) ** 2).sum(1).mean()
    assert abs(out.scalars["train_loss"] - expected) < 1e-5
