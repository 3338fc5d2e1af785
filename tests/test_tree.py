"""The tree engine against the dense kernels and the cpu engine (the tree must change no number
beyond rounding), on random states and on real trained ones."""

import numpy as np
import pytest

import toydd
from toydd import Config, ConfigError, _data, _engines
from toydd import _tree as tree

from test_engines import train_in_pieces
from test_kernels import fused, random_problem

VISITS, DENSE_PAIRS, LINEAR_SETTLED, INACTIVE_SETTLED = tree.VISITS, tree.DENSE_PAIRS, tree.LINEAR_SETTLED, tree.INACTIVE_SETTLED


def tree_pass(rows, W, b, parallel=False, kept=None, rebuild=True):
    """Loss, gW (m, n), gb (n,) and the counts (N_STATS,) of one tree evaluation, c = 2 (the
    gradient of the unscaled loss, as `fused` returns). kept: (workspace, order) of an earlier
    call, to evaluate with its ordering (rebuild=False) as training does between rebuilds."""
    M, n = W.shape
    T = rows.n_rows
    dims = (0,) * M
    hT = np.zeros((M, T), W.dtype)
    dhT = np.zeros_like(hT)
    gW = np.zeros((M, n), W.dtype)
    gb = np.zeros(n, W.dtype)
    workspace, order = kept if kept is not None else (tree.tree_workspace(dims, T, n), np.zeros(T, np.int64))
    values = rows.values.astype(W.dtype)
    args = (rebuild, order, hT, dhT, gW, gb, workspace, W.dtype.type(2.0))
    loss = tree.tree_loss_grad(parallel, dims, W, b, rows.indptr, rows.indices, values, *args)
    counts = np.zeros(tree.N_STATS, np.int64)
    tree.total_stats(workspace, counts)
    return loss, gW, gb, counts


def assert_equal_to_dense(rows, W, b, parallel=False, kept=None, rebuild=True):
    loss, gW, gb, counts = tree_pass(rows, W, b, parallel, kept, rebuild)
    ref_loss, ref_gW, ref_gb = fused(rows, W, b, parallel=False)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-10)
    np.testing.assert_allclose(gW, ref_gW, rtol=1e-10, atol=1e-12 * np.abs(ref_gW).max())
    np.testing.assert_allclose(gb, ref_gb, rtol=1e-10, atol=1e-12 * np.abs(ref_gb).max())
    return counts


@pytest.mark.parametrize("T,n,m", [(1, 7, 1), (5, 33, 2), (17, 40, 2), (300, 64, 1), (700, 64, 2), (1500, 30, 3), (900, 50, 5)])
def test_random_states_equal_dense_kernels(T, n, m):
    """Random W and b of both signs; row 0 is all zero (h = 0), row 1 dense (see random_problem).
    Serial and parallel in one test: one compiled tree pass for m serves both."""
    _, rows, W, b = random_problem(T, n, m, seed=7 * T + n)
    for parallel in (False, True):
        counts = assert_equal_to_dense(rows, W, b, parallel)
        assert counts[VISITS] >= n  # the root sees every feature


@pytest.mark.parametrize("m", [1, 2, 3])
def test_kept_ordering_equals_dense_kernels_after_the_weights_move(m):
    """Between rebuilds the ordering is kept and only the boxes follow the hidden vectors: still
    exact when the weights (hence every h_t) have moved."""
    _, rows, W, b = random_problem(2000, 60, m, seed=3)
    workspace, order = tree.tree_workspace((0,) * m, rows.n_rows, 60), np.zeros(rows.n_rows, np.int64)
    assert_equal_to_dense(rows, W, b, kept=(workspace, order))
    rng = np.random.default_rng(4)
    moved_W = W + 0.05 * rng.standard_normal(W.shape)
    moved_b = b + 0.05 * rng.standard_normal(b.shape)
    counts = assert_equal_to_dense(rows, moved_W, moved_b, kept=(workspace, order), rebuild=False)
    assert counts[LINEAR_SETTLED] > 0 and counts[DENSE_PAIRS] > 0


def test_several_sparse_chunks_and_groups_equal_dense_kernels():
    """T >= 2 SPARSE_CHUNK_MIN: the sparse passes run over two chunks with their own
    accumulators, summed in order, beside the feature groups."""
    T = 2 * tree.SPARSE_CHUNK_MIN + 5
    assert len(tree.sparse_chunk_bounds(T)) - 1 == 2
    _, rows, W, b = random_problem(T, 12, 2, seed=1)
    assert_equal_to_dense(rows, W, b, parallel=True)


def test_threads_change_no_bit():
    """The same chunks and feature groups in the same order, on one thread or several."""
    _, rows, W, b = random_problem(3 * tree.SPARSE_CHUNK_MIN, 90, 2, seed=5)
    W, b = W.astype(np.float32), b.astype(np.float32)
    serial = tree_pass(rows, W, b, parallel=False)
    parallel = tree_pass(rows, W, b, parallel=True)
    assert serial[0] == parallel[0]
    np.testing.assert_array_equal(serial[1], parallel[1])
    np.testing.assert_array_equal(serial[2], parallel[2])
    # and between rebuilds (most steps): the kept ordering, re-boxed around moved weights
    T, n = rows.n_rows, W.shape[1]
    kept = [(tree.tree_workspace((0, 0), T, n), np.zeros(T, np.int64)) for _ in range(2)]
    for threads, state in zip((False, True), kept):
        tree_pass(rows, W, b, threads, state)
    moved = W * np.float32(1.1) + np.float32(0.01)
    serial = tree_pass(rows, moved, b, False, kept[0], rebuild=False)
    parallel = tree_pass(rows, moved, b, True, kept[1], rebuild=False)
    assert serial[0] == parallel[0]
    np.testing.assert_array_equal(serial[1], parallel[1])
    np.testing.assert_array_equal(serial[2], parallel[2])


def test_sparse_chunks_depend_on_T_only():
    assert list(tree.sparse_chunk_bounds(10)) == [0, 10]
    bounds = tree.sparse_chunk_bounds(10**7)
    assert len(bounds) - 1 == tree.SPARSE_CHUNKS_MAX and np.all(np.diff(bounds) >= tree.SPARSE_CHUNK_MIN)


def test_build_order_is_a_kd_tree():
    """Every node's examples lie on one side of its median split, and each chunk's ordering is a
    permutation: the structure the exactness argument needs (every pair counted once)."""
    rng = np.random.default_rng(0)
    T = 1000
    hT = rng.standard_normal((2, T))
    order = np.zeros(T, np.int64)
    tree.build_order(False, (0, 0), hT, order, np.zeros((2, T)))
    assert sorted(order) == list(range(T))
    on_threads = np.zeros(T, np.int64)
    tree.build_order(True, (0, 0), hT, on_threads, np.zeros((2, T)))
    assert np.array_equal(on_threads, order)  # the levels' nodes split in parallel: the same tree
    points = hT[:, order]
    levels = tree.tree_levels(T)
    assert (T + (1 << levels) - 1) >> levels <= tree.LEAF
    for level in range(levels):
        for j in range(1 << level):
            s, e = (T * j) >> level, (T * (j + 1)) >> level
            middle = (T * (2 * j + 1)) >> (level + 1)
            split = [d for d in range(2) if points[d, s:middle].max() <= points[d, middle:e].min()]
            assert split, f"node {level}/{j} is not split along a unit"


def trained_states():
    """Float64 snapshots of real runs: memorizing (small T), intermediate and generalizing (large
    T), at several points of training, with their training sets."""
    states = []
    for T, steps in [(40, 3000), (400, 3000), (3000, 3000)]:
        cfg = Config(
            n_features=200, sparsity=0.97, dataset_size=T, steps=steps, test_size=200, engine="cpu",
            dtype="float64", history_points=4, snapshots=True,
        )  # fmt: skip
        result = toydd.train(cfg)
        rows = _data.train_set(cfg)
        W_steps, b_steps = result.snapshots
        for p in range(1, len(W_steps)):
            states.append((f"T={T} snapshot {p}", rows, W_steps[p], b_steps[p]))
    return states


@pytest.fixture(scope="module")
def trained():
    return trained_states()


def test_trained_states_equal_dense_kernels(trained):
    """Every node kind occurs on real states (closed-form groups, skipped groups, dense leaves)."""
    totals = np.zeros(tree.N_STATS, np.int64)
    for name, rows, W, b in trained:
        try:
            totals += assert_equal_to_dense(rows, W, b)
        except AssertionError as error:
            raise AssertionError(f"{name}: {error}") from None
    assert totals[LINEAR_SETTLED] > 0 and totals[INACTIVE_SETTLED] > 0 and totals[DENSE_PAIRS] > 0


@pytest.mark.parametrize("m", [2, 3])  # the loops the engine tests compile; the tree pass at m = 1 and 5: above
def test_float64_trajectory_equals_cpu_engine(m):
    base = Config(n_features=120, sparsity=0.95, n_hidden=m, dataset_size=600, steps=300, test_size=200, history_points=6, dtype="float64")
    dense = toydd.train(base.replace(engine="cpu"))
    by_tree = toydd.train(base.replace(engine="tree"))
    assert by_tree.engine == "tree"
    np.testing.assert_allclose(by_tree.W, dense.W, rtol=0, atol=1e-10)
    np.testing.assert_allclose(by_tree.b, dense.b, rtol=0, atol=1e-10)
    assert abs(by_tree.metrics["train_loss"] - dense.metrics["train_loss"]) < 1e-10
    # along the way too: every recorded step's training loss
    assert len(dense.history["step"]) >= 4 and np.array_equal(by_tree.history["step"], dense.history["step"])
    np.testing.assert_allclose(by_tree.history["train_loss"], dense.history["train_loss"], rtol=1e-10, atol=0)
    shares = by_tree.metrics
    assert 0 < shares["tree_dense_share"] < 1 and 0 < shares["tree_visit_share"] < 1


def test_float32_full_run_agrees_with_cpu_engine():
    """A full 50,000-step-style run in float32 (shortened): final metrics within float32 noise
    and the same regime. m = 3 in the generalizing regime, where training is not chaotic."""
    # one thread: the thread count changes no bit (tested above), and under pytest -n 2 every
    # parallel region would wait for the other test process's time slice
    base = Config(n_features=300, sparsity=0.97, n_hidden=3, dataset_size=4000, steps=4000, test_size=1000, history_points=0, threads=1)
    dense = toydd.train(base.replace(engine="cpu")).metrics
    by_tree = toydd.train(base.replace(engine="tree")).metrics
    for key in ("train_loss", "test_loss", "W_norm", "b_norm"):
        assert by_tree[key] == pytest.approx(dense[key], rel=1e-3), key
    assert by_tree["regime"] == dense["regime"]


def test_resuming_mid_rebuild_period_changes_nothing():
    """The ordering is rebuilt at multiples of REBUILD_EVERY and carried between calls, so
    training in calls that split off a multiple gives the same bits as one call."""
    cfg = Config(n_features=100, sparsity=0.95, dataset_size=500, steps=40, test_size=100)
    rows = _data.train_set(cfg)
    no_history = np.zeros(0, np.int64)
    split = tree.REBUILD_EVERY + 3
    once = train_in_pieces(cfg, rows, no_history, [0, cfg.steps], tree=True)
    twice = train_in_pieces(cfg, rows, no_history, [0, split, cfg.steps], tree=True)
    np.testing.assert_array_equal(once.W, twice.W)
    np.testing.assert_array_equal(once.b, twice.b)
    assert once.tree_stats[VISITS] > 0


def test_paper_setting_T5_memorizes_a_regular_pentagon():
    result = toydd.train(Config(dataset_size=5, engine="tree", threads=1))  # one thread: see above
    dims = result.measurements.examples["dimensionality"]
    np.testing.assert_allclose(dims, 0.4, atol=0.04)


def test_diverging_run_is_caught():
    """A loss that stops being finite stops the tree engine too (no NaN classified as zero)."""
    cfg = Config(n_features=100, sparsity=0.95, dataset_size=300, steps=200, lr=1e30, test_size=100, engine="tree")
    with pytest.raises(toydd.TrainingDiverged):
        toydd.train(cfg)


def test_non_finite_weights_are_ordered_without_crashing():
    """A float32 run whose gradient overflows gets NaN weights; the next step orders the features
    by direction, and a NaN direction once indexed far outside its buckets (a segfault)."""
    _, rows, W, b = random_problem(300, 40, 2, seed=2)
    W[0, 5], W[1, 7], b[3] = np.nan, np.inf, np.nan
    loss = tree_pass(rows, W, b)[0]
    assert np.isnan(loss)
    cfg = Config(n_features=100, sparsity=0.95, dataset_size=300, steps=60, lr=1e8, test_size=100, engine="tree", dtype="float32", threads=1)
    with pytest.raises(toydd.TrainingDiverged):
        toydd.train(cfg)


def test_with_cuda_auto_takes_the_tree_only_where_one_core_of_it_kept_up_with_the_gpu(monkeypatch):
    """On an H200 the torch engine was measured no faster than one core of the tree from T = 50,000
    at n = 10,000, S = 0.999 (`TREE_OVER_CUDA_SETTINGS`); below that, at the reduced setting and
    wherever the tree does not pay, a CUDA device takes the run."""
    monkeypatch.setattr(_engines, "_cuda_available", lambda: True)
    paper, reduced = Config(n_features=10_000, sparsity=0.999), Config(n_features=1_000, sparsity=0.99)
    assert [_engines.auto_engine(paper.replace(dataset_size=t)) for t in (200, 49_999, 50_000, 500_000)] == ["torch", "torch", "tree", "tree"]
    assert _engines.auto_engine(reduced.replace(dataset_size=100_000)) == "torch"
    assert _engines.auto_engine(paper.replace(dataset_size=10**5, matmul_precision="tf32")) == "torch"  # the tree does not round products
    assert _engines.auto_engine(paper.replace(dataset_size=10**5, n_hidden=_engines.TREE_MAX_UNITS + 1)) == "torch"
    assert _engines.auto_engine(paper.replace(dataset_size="inf")) == "torch"
    # a device named is obeyed: cuda always takes torch, cpu the numba engines
    assert _engines.auto_engine(paper.replace(dataset_size=500_000, device="cuda")) == "torch"
    assert [_engines.auto_engine(paper.replace(dataset_size=t, device="cpu")) for t in (199, 200)] == ["cpu", "tree"]


def test_device_cuda_without_cuda_stops_in_one_line_naming_it(monkeypatch):
    """engine = "auto" with device = "cuda" goes to torch, which says that it sees no CUDA device."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match='^device = "cuda" but torch sees no CUDA device$'):
        _engines.get_engine(Config(device="cuda"))


def test_auto_takes_the_tree_where_it_was_measured_faster():
    """On the CPU (device = "cpu", so that a machine with CUDA tests the same rule)."""
    paper, reduced = Config(n_features=10_000, sparsity=0.999, device="cpu"), Config(n_features=1_000, sparsity=0.99, device="cpu")
    assert [_engines.auto_engine(paper.replace(dataset_size=t)) for t in (199, 200, 500_000)] == ["cpu", "tree", "tree"]
    assert [_engines.auto_engine(reduced.replace(dataset_size=t)) for t in (9_999, 10_000)] == ["cpu", "tree"]
    assert _engines.auto_engine(reduced.replace(n_features=20_000, sparsity=0.9999, dataset_size=200)) == "tree"  # fewer nonzeros still
    assert _engines.auto_engine(paper.replace(sparsity=0.99, dataset_size=5_000)) == "cpu"  # denser: the reduced setting's T
    assert _engines.auto_engine(reduced.replace(n_features=999, dataset_size=10**5)) == "cpu"
    assert _engines.auto_engine(paper.replace(dataset_size="inf")) == "cpu"
    assert _engines.auto_engine(paper.replace(dataset_size=10**5, n_hidden=_engines.TREE_MAX_UNITS + 1)) == "cpu"
    small = Config(n_features=1_000, sparsity=0.99, dataset_size=10_000, steps=5, test_size=50, device="cpu")
    result = toydd.train(small)
    assert result.metrics["engine"] == "tree" and result.metrics["tree_visit_share"] > 0

