import numpy as np
import pytest

from toydd import Config, SparseRows, fractional_dimensionality, max_data_dimensionality, train
from toydd._config import REGULAR_LOSS_FLOOR, REGULAR_LOSS_TOLERANCE
from toydd._metrics import (
    ANGLE_TOLERANCE, FAILURES, LEFT_OUT_NORM, NO_FAILURE, RADIUS_TOLERANCE, SYMMETRIC, TAIL_MARGIN, TWO_CIRCLES, TWO_CIRCLES_RATIO,
    hidden_vectors, is_regular_polygon, measure, optimization_failure, polygon_irregularity, tail_share, zero_output_losses,
)  # fmt: skip
from toydd._train import choose_restart


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


# --- test loss beyond its mean: median and tail share ------------------------------------------


def dense_example_losses(W, b, X, feature_scale):
    """Per-example loss of x' = ReLU(W^T W x + b) by the definition, in float64: (T,)."""
    W = W.astype(np.float64)
    out = np.maximum(X @ W.T @ W + b, 0.0)
    return ((X - out) ** 2).sum(1) * feature_scale


def heavy_tailed_test_set(T=200, n=30, seed=0):
    """Test examples of varied norm (not normalized), one all-zero, and weights that overshoot on
    some of them: per-example losses from below to far above the zero-output loss."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (T, n)) * (rng.uniform(0, 1, (T, n)) < 0.2) * rng.uniform(0.5, 2.0, (T, 1))
    X[7] = 0.0
    W = (rng.standard_normal((2, n)) * 0.4).astype(np.float32)
    b = (rng.standard_normal(n) * 0.02).astype(np.float32)
    return X, W, b


@pytest.mark.parametrize("feature_scale", [1.0, 1 / 30], ids=["sum", "mean"])
def test_median_and_tail_share_against_numpy(feature_scale):
    X, W, b = heavy_tailed_test_set()
    rows = SparseRows.from_dense(X)
    X = rows.to_dense()  # the float32 values the kernels see
    out = measure(W, b, rows, rows, feature_scale, fixed_train_set=True)
    losses = dense_example_losses(W, b, X, feature_scale)
    zero = (X**2).sum(1) * feature_scale
    np.testing.assert_allclose(zero_output_losses(rows, feature_scale), zero, rtol=1e-6)
    np.testing.assert_allclose(out.scalars["test_loss_median"], np.median(losses), rtol=1e-5)
    threshold = (1 + TAIL_MARGIN) * zero
    nonzero = zero > 0
    assert np.min(np.abs(losses[nonzero] / threshold[nonzero] - 1)) > 1e-5  # none within float32 rounding of the edge
    expected = np.mean(losses[nonzero] > threshold[nonzero])  # the all-zero example has no scale
    assert 0.05 < expected < 0.95  # the set has a real tail and a real body
    assert out.scalars["test_loss_tail_share"] == expected
    assert abs(out.scalars["test_loss"] - losses.mean()) < 1e-5 * losses.mean()


def test_tail_share_counts_examples_just_past_the_margin():
    assert TAIL_MARGIN == 0.05
    zero = np.array([1.0, 1.0, 1.0, 2.0, 0.0])
    losses = np.array([1.0499, 1.0501, 0.5, 2.11, 0.3])  # 2.11 > 2.1; the all-zero example has no scale: left out
    assert tail_share(losses, zero) == 2 / 4
    assert np.isnan(tail_share(np.array([1e-9]), np.array([0.0])))


# --- optimization failures at m = 2 ------------------------------------------------------------


def rotated(points, angle):
    c, s = np.cos(angle), np.sin(angle)
    return points @ np.array([[c, s], [-s, c]])


@pytest.mark.parametrize("T", [3, 5, 8, 30])
def test_a_regular_T_gon_is_no_failure(T):
    polygon = rotated(regular_polygon(T, 2.3), 0.4)
    assert is_regular_polygon(polygon)
    assert optimization_failure(polygon) == NO_FAILURE
    assert polygon_irregularity(polygon) < 1e-12


def two_circle_points(T, ratio):
    """A regular T-gon whose every other vertex is pushed out to `ratio` times the radius."""
    polygon = regular_polygon(T)
    polygon[1::2] *= ratio
    return polygon


@pytest.mark.parametrize("T", [4, 6, 8])
def test_two_radii_are_two_circles(T):
    points = two_circle_points(T, 1.6)
    assert optimization_failure(points) == TWO_CIRCLES
    assert not is_regular_polygon(points)
    assert 0 < polygon_irregularity(points) < 1


@pytest.mark.parametrize("inside", [True, False])
def test_two_circles_must_be_more_than_the_ratio_apart(inside):
    ratio = TWO_CIRCLES_RATIO * (1 + 1e-3) if inside else TWO_CIRCLES_RATIO * (1 - 1e-3)
    assert optimization_failure(two_circle_points(6, ratio)) == (TWO_CIRCLES if inside else NO_FAILURE)


def test_two_circles_need_two_points_each_and_round_circles():
    one_stray = regular_polygon(6)
    one_stray[0] *= 2.0  # a single long vector is not a second circle
    assert optimization_failure(one_stray) == NO_FAILURE
    ragged = two_circle_points(6, 2.0)
    ragged[1] *= 1 + 1.5 * RADIUS_TOLERANCE  # the outer "circle" is not round
    assert optimization_failure(ragged) == NO_FAILURE


@pytest.mark.parametrize("left_out_length", [0.0, 0.05])
def test_a_polygon_with_one_example_left_out_is_symmetric(left_out_length):
    points = np.concatenate([rotated(regular_polygon(4, 1.5), 0.3), [[left_out_length, 0.0]]])
    assert optimization_failure(points) == SYMMETRIC
    assert optimization_failure(points[::-1]) == SYMMETRIC  # wherever the left-out example sits
    assert polygon_irregularity(points) == pytest.approx(1.0, abs=0.02)


def test_symmetric_needs_a_short_vector_and_a_regular_rest():
    not_left_out = np.concatenate([regular_polygon(4, 1.0), [[2 * LEFT_OUT_NORM, 0.0]]])
    assert optimization_failure(not_left_out) == NO_FAILURE
    gap = regular_polygon(5)[:4]  # a pentagon with one vertex missing: gaps 72, 72, 72, 144 degrees
    assert optimization_failure(np.concatenate([gap, [[0.0, 0.0]]])) == NO_FAILURE
    angle_off = regular_polygon(4)
    angle_off[0] = rotated(angle_off[:1], 1.5 * ANGLE_TOLERANCE * np.pi / 2)[0]
    assert not is_regular_polygon(angle_off)
    assert optimization_failure(np.concatenate([angle_off, [[0.0, 0.0]]])) == NO_FAILURE


def memorizer(hidden):
    """Weights and one-hot training examples whose hidden vectors are `hidden` (T, m)."""
    T, m = hidden.shape
    n = T + 3
    W = np.zeros((m, n), np.float32)
    W[:, :T] = hidden.T
    return W, np.zeros(n, np.float32), SparseRows.from_dense(np.eye(T, n))


@pytest.mark.parametrize(
    "hidden,failure",
    [(regular_polygon(5), NO_FAILURE), (two_circle_points(6, 1.6), TWO_CIRCLES), (np.concatenate([regular_polygon(4), [[0.0, 0.0]]]), SYMMETRIC)],
    ids=["pentagon", "two circles", "square and one left out"],
)  # fmt: skip
def test_measure_records_the_failure_of_an_m2_run(hidden, failure):
    W, b, rows = memorizer(hidden)
    out = measure(W, b, rows, rows, 1.0, fixed_train_set=True)
    assert out.scalars["failure"] == failure
    assert out.scalars["polygon_irregularity"] == pytest.approx(polygon_irregularity(hidden), abs=1e-5)


def test_failure_is_not_judged_at_m3_or_without_training_examples():
    W, b, rows = memorizer(np.concatenate([regular_polygon(5), np.zeros((5, 1))], axis=1))
    assert measure(W, b, rows, rows, 1.0, fixed_train_set=True).scalars["failure"] == ""
    W, b, rows = memorizer(regular_polygon(5))
    scalars = measure(W, b, rows, rows, 1.0, fixed_train_set=False).scalars
    assert scalars["failure"] == "" and np.isnan(scalars["polygon_irregularity"])


# --- the restart rule --------------------------------------------------------------------------


def test_restart_rule_regular_prefers_the_most_regular_of_the_near_best():
    losses = [1.0, 1.005, 2.0, float("nan")]
    irregularity = {0: 0.5, 1: 0.0, 2: 0.0, 3: 0.0}.__getitem__  # restart 2 is regular but far worse
    assert choose_restart(losses, "lowest_loss", irregularity) == 0
    assert choose_restart(losses, "regular", irregularity) == 1


@pytest.mark.parametrize("inside", [True, False])
def test_restart_rule_regular_keeps_to_the_loss_tolerance(inside):
    factor = 1 + REGULAR_LOSS_TOLERANCE * (1 - 1e-3 if inside else 1 + 1e-3)
    kept = choose_restart([0.2, 0.2 * factor], "regular", {0: 1.0, 1: 0.0}.__getitem__)
    assert kept == (1 if inside else 0)


def test_restart_rule_regular_counts_perfect_memorizers_as_equal():
    """Losses of restarts that memorize perfectly differ by far more than 1% of each other (quick's
    T = 3 kept 3.20e-8 among 3.20e-8 to 3.54e-8): within REGULAR_LOSS_FLOOR they are equal."""
    irregularity = {0: 0.3, 1: 0.2, 2: 0.05, 3: 0.0}.__getitem__
    assert choose_restart([3.20e-8, 3.39e-8, 3.54e-8, 3.0e-6], "regular", irregularity) == 2
    assert choose_restart([0.0, 0.0, 0.9 * REGULAR_LOSS_FLOOR, 1.1 * REGULAR_LOSS_FLOOR], "regular", irregularity) == 2
    # where the loss is large, the relative tolerance is the wider and the floor changes nothing
    assert choose_restart([0.5, 0.5 + 2 * REGULAR_LOSS_FLOOR, 0.6], "regular", irregularity) == 1
    # the floor in the losses' units: feature_reduction = "mean" divides them by n (training passes floor * feature_scale)
    assert choose_restart([0.0, 0.5 * REGULAR_LOSS_FLOOR], "regular", irregularity, floor=REGULAR_LOSS_FLOOR / 1_000) == 0


def test_restart_rule_regular_breaks_ties_by_loss_and_distrusts_nan():
    assert choose_restart([1.003, 1.0, 1.001], "regular", lambda i: 0.2) == 1
    assert choose_restart([1.0, 1.001], "regular", {0: float("nan"), 1: 0.9}.__getitem__) == 1


def test_training_with_the_regular_rule_keeps_a_restart_at_least_as_regular():
    config = Config(n_features=100, sparsity=0.95, dataset_size=5, steps=300, test_size=200, history_points=2, restarts=3)
    lowest = train(config)
    regular = train(config.replace(restart_rule="regular"))
    losses = regular.restart_train_losses
    assert losses == lowest.restart_train_losses  # the same restarts, only the choice differs
    assert losses[regular.kept_restart] <= min(losses) + max(min(losses) * REGULAR_LOSS_TOLERANCE, REGULAR_LOSS_FLOOR)
    assert regular.metrics["polygon_irregularity"] <= lowest.metrics["polygon_irregularity"]
    assert regular.metrics["failure"] in FAILURES and regular.config.run_id() != lowest.config.run_id()
