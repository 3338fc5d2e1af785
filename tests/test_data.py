import numpy as np
import pytest

import toydd
from toydd import Config, SparseRows, sample_rows, train_set
from toydd._data import stream_seed


def test_active_fraction_values_and_unit_norm():
    rows = sample_rows(20_000, 1_000, 0.99, seed=1)
    active = rows.nnz / (rows.n_rows * rows.n_features)
    assert abs(active - 0.01) < 5 * np.sqrt(0.01 * 0.99 / (rows.n_rows * 1000))
    norms = np.sqrt(np.add.reduceat(rows.values.astype(np.float64) ** 2, rows.indptr[:-1])[np.diff(rows.indptr) > 0])
    np.testing.assert_allclose(norms, 1.0, rtol=1e-6)
    assert np.all(rows.values >= 0) and np.all(rows.values <= 1)
    for t in range(200):  # indices strictly increasing within each example (distinct)
        assert np.all(np.diff(rows.indices[rows.indptr[t] : rows.indptr[t + 1]]) > 0)


def test_unnormalized_values_are_uniform_and_zero_rows_stay_zero():
    rows = sample_rows(5_000, 100, 0.99, seed=2, normalize=False)
    assert abs(rows.values.mean() - 0.5) < 0.02
    dense = rows.to_dense()
    empty = np.flatnonzero(np.diff(rows.indptr) == 0)
    assert len(empty) > 1000 and np.all(dense[empty] == 0)  # (0.99)^100 = 37% of rows are empty


def test_dense_regime_is_sampled_correctly():
    rows = sample_rows(300, 64, 0.5, seed=3, normalize=False)
    assert abs(rows.nnz / (300 * 64) - 0.5) < 0.03
    assert np.bincount(rows.indices, minlength=64).min() > 100  # every feature is used


def test_paper_scale_set_is_sparse_and_small():
    rows = sample_rows(100_000, 10_000, 0.999, seed=4)  # the 500,000 case is 5x this
    assert rows.indices.nbytes + rows.values.nbytes + rows.indptr.nbytes < 30e6
    assert abs(rows.nnz / 100_000 - 10) < 0.1


def test_seeds_are_separate_and_prefixes_nest():
    cfg = Config(n_features=500, sparsity=0.98, dataset_size=50)
    a = train_set(cfg)
    b = train_set(cfg.replace(dataset_size=20))
    assert np.array_equal(a.indptr[:21], b.indptr) and np.array_equal(a.values[: b.nnz], b.values)
    assert not np.array_equal(a.values[: b.nnz], train_set(cfg.replace(data_seed=1)).values[: b.nnz])
    assert not np.array_equal(train_set(cfg.replace(data_seed=1)).values[:10], a.values[:10])
    test = toydd.test_set(cfg.replace(test_size=50))
    assert not np.array_equal(test.values[:10], a.values[:10])  # test seed 0 != data seed 0
    assert stream_seed(1, 2, 3) != stream_seed(1, 2, 4) and stream_seed(1, 2, 3) > 2**32  # 63-bit seeds


def test_sparse_rows_helpers_round_trip():
    dense = np.array([[0, 0.5, 0], [0, 0, 0], [1, 0, 2]], dtype=np.float32)
    rows = SparseRows.from_dense(dense)
    np.testing.assert_array_equal(rows.to_dense(np.float32), dense)
    np.testing.assert_array_equal(rows.take(np.array([2, 2, 0])).to_dense(np.float32), dense[[2, 2, 0]])
    with pytest.raises(ValueError, match="SparseRows: indices must lie in"):
        SparseRows(rows.indptr, rows.indices + 5, rows.values, 3)


def test_take_copies_rows_in_any_order_and_refuses_rows_out_of_range():
    rows = sample_rows(50, 40, 0.9, seed=5)
    picked = np.array([49, 0, 7, 7, 7, 31, 0])
    taken = rows.take(picked)
    np.testing.assert_array_equal(taken.to_dense(np.float32), rows.to_dense(np.float32)[picked])
    assert taken.indices.dtype == np.int64 and taken.values.dtype == np.float32
    assert rows.take(np.array([], np.int64)).n_rows == 0
    assert rows.take(np.arange(50)).values.tobytes() == rows.values.tobytes()
    for bad in (np.array([50]), np.array([0, -1])):
        with pytest.raises(IndexError, match=r"rows must lie in \[0, 50\)"):
            rows.take(bad)


def _parts():
    """indptr, indices, values of a valid 3 x 4 CSR matrix: rows {0, 2}, {}, {1, 3}."""
    return np.array([0, 2, 2, 4], np.int64), np.array([0, 2, 1, 3], np.int64), np.array([0.5, 0.5, 1.0, 1.0], np.float32)


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda p, i, v: (p, np.array([2, 0, 1, 3], np.int64), v), "indices must be sorted and distinct within each row"),
        (lambda p, i, v: (p, np.array([0, 0, 1, 3], np.int64), v), "indices must be sorted and distinct within each row"),
        (lambda p, i, v: (p, np.array([0, 2, 1, 4], np.int64), v), r"indices must lie in \[0, 4\)"),
        (lambda p, i, v: (p, np.array([0, 2, 1, -1], np.int64), v), r"indices must lie in \[0, 4\)"),
        (lambda p, i, v: (np.array([0, 2, 1, 4], np.int64), i, v), "indptr must start at 0 and not decrease"),
        (lambda p, i, v: (np.array([1, 2, 2, 4], np.int64), i, v), "indptr must start at 0"),
        (lambda p, i, v: (np.array([0, 2, 2, 3], np.int64), i, v), "indptr\\[-1\\], len\\(indices\\) and len\\(values\\) must agree"),
        (lambda p, i, v: (p.astype(np.int32), i, v), "indptr must be a 1-d int64 array, got int32"),
        (lambda p, i, v: (p, i.astype(np.float64), v), "indices must be a 1-d int64 array, got float64"),
        (lambda p, i, v: (p, i, v.astype(np.float64)), "values must be a 1-d float32 array, got float64"),
        (lambda p, i, v: (p, i, np.array([0.5, np.nan, 1, 1], np.float32)), "values must be finite"),
    ],
)  # fmt: skip
def test_sparse_rows_refuse_malformed_csr_naming_the_field(change, message):
    p, i, v = change(*_parts())
    with pytest.raises(ValueError, match=f"^SparseRows: {message}") as error:
        SparseRows(p, i, v, 4)
    assert "\n" not in str(error.value)


def test_rows_starting_with_a_smaller_index_are_fine():
    rows = SparseRows(*_parts(), 4)  # row 2 starts at 1 < row 0's last index 2: not a sort error
    assert rows.nnz == 4
