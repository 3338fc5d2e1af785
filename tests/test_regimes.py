"""The regime classifier on constructed models."""

import numpy as np
import pytest

from toydd import SparseRows, sample_rows
from toydd._metrics import SILENT_GAIN, classify, collapsed, measure


def test_a_regular_T_gon_memorizer():
    # 5 examples with 10 active features each (disjoint), every feature of example t along u_t
    T, per, n = 5, 10, 60
    angles = 2 * np.pi * np.arange(T) / T
    directions = np.stack([np.cos(angles), np.sin(angles)])
    dense = np.zeros((T, n))
    W = np.zeros((2, n))
    for t in range(T):
        features = np.arange(t * per, (t + 1) * per)
        dense[t, features] = 1 / np.sqrt(per)
        W[:, features] = directions[:, [t]] * 3 / np.sqrt(per)
    rows = SparseRows.from_dense(dense)
    out = measure(W.astype(np.float32), np.full(n, -1.0, np.float32), rows, rows, 1.0, fixed_train_set=True)
    np.testing.assert_allclose(out.examples["dimensionality"], 2 / T, rtol=1e-5)
    assert out.scalars["feature_dimensionality_max"] < 0.1 and out.scalars["feature_share"] == 0
    assert out.scalars["data_regularity"] > 0.99
    assert out.scalars["regime"] == "memorizing"


def test_a_pentagon_generalizer():
    n = 1000
    angles = 2 * np.pi * np.arange(5) / 5
    W = np.zeros((2, n))
    W[:, :5] = np.stack([np.cos(angles), np.sin(angles)])
    rows = sample_rows(2000, n, 0.99, seed=0)
    out = measure(W.astype(np.float32), np.zeros(n, np.float32), rows, rows, 1.0, fixed_train_set=True)
    assert out.scalars["features_learned"] == 5
    assert abs(out.scalars["feature_share"] - 1.0) < 1e-6
    assert out.scalars["data_regularity"] < 0.1  # most examples miss all five features
    assert out.scalars["regime"] == "generalizing"


def test_neither_is_intermediate_and_ties_go_to_memorizing():
    assert classify(0.2, 0.2) == "intermediate"
    assert classify(0.9, float("nan")) == "generalizing"
    assert classify(0.1, float("nan")) == "intermediate"
    assert classify(0.8, 0.8) == "memorizing" and classify(0.9, 0.6) == "generalizing"


@pytest.mark.parametrize("scale", [1e-20, 1e-4])
def test_a_model_whose_weights_vanished_is_collapsed_not_any_other_regime(scale):
    # dimensionalities do not depend on scale: the pentagon shrunk to nothing still reads as 5
    # features of 2/5, but below SILENT_GAIN it passes nothing on (the envelope's lr 3e-1 ends so)
    n = 1000
    angles = 2 * np.pi * np.arange(5) / 5
    W = np.zeros((2, n))
    W[:, :5] = np.stack([np.cos(angles), np.sin(angles)]) * scale
    rows = sample_rows(2000, n, 0.99, seed=0)
    out = measure(W, np.zeros(n), rows, rows, 1.0, fixed_train_set=True)
    np.testing.assert_allclose(out.scalars["feature_dimensionality_max"], 0.4, rtol=1e-6)
    silent = scale**2 < SILENT_GAIN
    assert collapsed(W) == silent
    assert out.scalars["regime"] == ("collapsed" if silent else "generalizing")
    assert out.scalars["features_learned"] == (0 if silent else 5)
    assert out.scalars["feature_share"] == (0.0 if silent else pytest.approx(1.0))


def test_collapsed_goes_before_the_shares():
    assert classify(0.9, 0.9, is_collapsed=True) == "collapsed" and classify(0.9, 0.9) == "memorizing"
    assert collapsed(np.zeros((2, 3))) and not collapsed(np.array([[0.0, 1e-3], [0.0, 0.0]]))
