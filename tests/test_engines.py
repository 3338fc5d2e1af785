"""The cpu engine against the torch engine (autograd + torch.optim.AdamW), and against itself."""

import numba
import numpy as np
import pytest

from toydd import Config, init_weights, train_set
from toydd._engine_cpu import CpuEngine
from toydd._engine_torch import TorchEngine
from toydd._engines import StackJob, history_steps


def job_for(cfg: Config, seeds=(0,), lrs=None, decays=None) -> StackJob:
    dtype = np.float64 if cfg.dtype == "float64" else np.float32
    inits = [init_weights(cfg.replace(init_seed=s), dtype) for s in seeds]
    K = len(seeds)
    return StackJob(
        config=cfg,
        train_set=train_set(cfg),
        init_W=np.stack([w for w, _ in inits]),
        init_b=np.stack([b for _, b in inits]),
        lrs=np.full(K, cfg.lr) if lrs is None else np.asarray(lrs),
        weight_decays=np.full(K, cfg.weight_decay) if decays is None else np.asarray(decays),
        history_steps=history_steps(cfg.steps, cfg.history_points),
    )


CASES = {
    "paper defaults": {},
    "three hidden, mean over features, no bias decay": {"n_hidden": 3, "feature_reduction": "mean", "decay_bias": False},
    "large T, chunked": {"dataset_size": 1100, "n_features": 60},
    "infinite data": {"dataset_size": "inf", "batch_size": 30},
    "uniform init, one hidden": {"init": "xavier_uniform", "n_hidden": 1, "weight_decay": 0.5},
}


@pytest.mark.parametrize("changes", CASES.values(), ids=CASES.keys())
def test_cpu_engine_follows_torch_in_float64(tiny, changes):
    cfg = tiny.replace(dtype="float64", steps=150, lr=3e-3, **changes)
    cpu = CpuEngine().train(job_for(cfg))
    ref = TorchEngine("cpu").train(job_for(cfg))
    np.testing.assert_allclose(cpu.W, ref.W, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(cpu.b, ref.b, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(cpu.history_W, ref.history_W, rtol=1e-7, atol=1e-9)


def test_cpu_engine_follows_torch_in_float32(tiny):
    from toydd._metrics import example_losses

    cfg = tiny.replace(steps=300, lr=3e-3)
    job = job_for(cfg, seeds=(0, 1))
    cpu, ref = CpuEngine().train(job), TorchEngine("cpu").train(job)
    for k in range(2):
        ours = example_losses(cpu.W[k], cpu.b[k], job.train_set, 1.0)[0].mean()
        theirs = example_losses(ref.W[k], ref.b[k], job.train_set, 1.0)[0].mean()
        assert abs(ours - theirs) < 1e-4 * max(1.0, abs(theirs))
    assert np.abs(cpu.W - ref.W).max() < 1e-3


def test_training_reduces_the_loss(tiny):
    from toydd._metrics import example_losses

    job = job_for(tiny.replace(lr=1e-2))
    out = CpuEngine().train(job)
    before = example_losses(job.init_W[0], job.init_b[0], job.train_set, 1.0)[0].mean()
    after = example_losses(out.W[0], out.b[0], job.train_set, 1.0)[0].mean()
    assert after < 0.7 * before  # 20 points in 2 dimensions: far below the start, not to 0


def two_threads() -> int:
    """2, or skip the calling test: comparing thread counts needs numba to have two threads."""
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip(f"numba has {numba.config.NUMBA_NUM_THREADS} thread on this machine: a 2-thread run would silently use 1")
    return 2


def train_recording_loss(job: StackJob):
    """The outcome and each model's training loss (K,) at the last step, as the engine computed it."""
    reports = []
    out = CpuEngine().train(job, progress=lambda done, last_loss: reports.append((done, last_loss.copy())))
    done, last_loss = reports[-1]
    assert done == 1.0
    return out, last_loss


@pytest.mark.parametrize("T", [20, 1500])
def test_stack_equals_each_model_alone_bit_for_bit(tiny, T):
    cfg = tiny.replace(dataset_size=T, threads=two_threads(), steps=120)
    seeds, lrs, decays = (3, 4, 5), (1e-3, 3e-3, 1e-2), (0.0, 1e-2, 0.3)
    stacked, stacked_loss = train_recording_loss(job_for(cfg, seeds, lrs, decays))
    assert numba.get_num_threads() == 2
    for k, (seed, lr, decay) in enumerate(zip(seeds, lrs, decays)):
        alone, alone_loss = train_recording_loss(job_for(cfg.replace(threads=1), (seed,), (lr,), (decay,)))
        np.testing.assert_array_equal(stacked.W[k], alone.W[0])
        np.testing.assert_array_equal(stacked.b[k], alone.b[0])
        np.testing.assert_array_equal(stacked.history_W[k], alone.history_W[0])
        assert stacked_loss[k] == alone_loss[0]


def test_same_weights_for_any_thread_count(tiny):
    # 4,096 examples: 16 chunks, shared between the threads
    cfg = tiny.replace(dataset_size=4096, steps=50)
    one, _ = train_recording_loss(job_for(cfg.replace(threads=1)))
    two, _ = train_recording_loss(job_for(cfg.replace(threads=two_threads())))
    assert numba.get_num_threads() == 2
    np.testing.assert_array_equal(one.W, two.W)
    np.testing.assert_array_equal(one.b, two.b)


def test_same_losses_for_any_thread_count(tiny):
    # a last-bit difference shows in about half of all losses: compare the final losses of 12 runs
    cfg = tiny.replace(dataset_size=4096)
    threads = two_threads()
    one = [train_recording_loss(job_for(cfg.replace(steps=steps, threads=1)))[1] for steps in range(1, 13)]
    two = [train_recording_loss(job_for(cfg.replace(steps=steps, threads=threads)))[1] for steps in range(1, 13)]
    assert numba.get_num_threads() == 2
    np.testing.assert_array_equal(one, two)


def test_history_records_weights_at_the_requested_steps(tiny):
    cfg = tiny.replace(steps=40, history_points=5)
    job = job_for(cfg)
    out = CpuEngine().train(job)
    assert job.history_steps[0] == 0 and job.history_steps[-1] == 40
    np.testing.assert_array_equal(out.history_W[0, 0], job.init_W[0])
    np.testing.assert_array_equal(out.history_W[0, -1], out.W[0])


def test_training_in_segments_equals_one_call(tiny):
    """The engine runs steps in segments between progress updates; the cut must not show."""
    cfg = tiny.replace(steps=60)
    job = job_for(cfg)
    results = []
    for cuts in ([0, 60], [0, 7, 31, 60]):
        model = train_in_pieces(cfg, job.train_set, job.history_steps, cuts)
        results.append((model.W, model.history_W))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_divergence_is_reported_with_its_step(tiny):
    cfg = tiny.replace(lr=1e30, warmup_fraction=0.0)
    for engine in (CpuEngine(), TorchEngine("cpu")):
        out = engine.train(job_for(cfg))
        assert 0 < out.nan_step[0] < 10
        assert np.all(np.isfinite(out.W))


def test_history_steps_are_log_spaced():
    steps = history_steps(50_000, 30)
    assert steps[0] == 0 and steps[-1] == 50_000 and np.all(np.diff(steps) > 0)
    assert 20 <= len(steps) <= 30 and steps[5] < 10
    assert list(history_steps(10, 1)) == [10] and len(history_steps(10, 0)) == 0


def test_torch_engine_accumulates_gradients_over_chunks(tiny, monkeypatch):
    from toydd import _engine_torch

    cfg = tiny.replace(dtype="float64", steps=60, lr=3e-3)
    job = job_for(cfg)
    whole = TorchEngine("cpu").train(job)
    monkeypatch.setattr(_engine_torch, "CHUNK_ELEMENTS", 7 * cfg.n_features)  # 20 examples: chunks of 7, 7, 6
    assert len(TorchEngine("cpu")._dense_chunks(job.train_set, torch_dtype("float64"))) == 3
    chunked = TorchEngine("cpu").train(job)
    cpu = CpuEngine().train(job)
    for out in (chunked, cpu):
        np.testing.assert_allclose(out.W, whole.W, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(out.b, whole.b, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("changes", [{}, {"dataset_size": "inf", "batch_size": 30}], ids=["fixed training set", "infinite data"])
def test_torch_engine_keeps_large_sets_sparse_on_the_device(tiny, monkeypatch, changes):
    from toydd import _engine_torch

    cfg = tiny.replace(dtype="float64", steps=60, lr=3e-3, **changes)
    job = job_for(cfg)
    monkeypatch.setattr(_engine_torch, "CHUNK_ELEMENTS", 7 * cfg.n_features)
    dense = TorchEngine("cpu").train(job)
    monkeypatch.setattr(_engine_torch, "KEEP_DENSE", 10 * cfg.n_features)  # below any set of 20 or 30 examples
    rows = job.train_set if job.train_set is not None else train_set(cfg.replace(dataset_size=30))
    chunk = TorchEngine("cpu")._dense_chunks(rows, torch_dtype("float64"))[0]
    assert chunk() is not chunk()  # made dense anew at each use: the set itself stays CSR
    sparse = TorchEngine("cpu").train(job)
    np.testing.assert_array_equal(sparse.W, dense.W)  # the same chunks, the same arithmetic
    np.testing.assert_array_equal(sparse.b, dense.b)
    cpu = CpuEngine().train(job)
    np.testing.assert_allclose(sparse.W, cpu.W, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(sparse.b, cpu.b, rtol=1e-7, atol=1e-9)


def torch_dtype(name: str):
    import torch

    return getattr(torch, name)


def train_in_pieces(cfg, rows, history_steps, cuts, tree=False):
    """Call the compiled loop directly over [cuts[0], cuts[1]), [cuts[1], cuts[2]), ...; returns
    the ModelState it trained (m = 2)."""
    from toydd._engine_cpu import ModelState, Recipe, TrainData, train_loop
    from toydd._tree import N_STATS
    from toydd._train import init_weights

    W, b = init_weights(cfg)
    n, P = cfg.n_features, len(history_steps)
    model = ModelState(
        W, b, np.zeros((4, 3 * n), W.dtype), np.zeros((P, 2, n), W.dtype), np.zeros((P, n), W.dtype),
        np.zeros(rows.n_rows if tree else 0, np.int64), np.zeros(N_STATS, np.int64),
    )  # fmt: skip
    data = TrainData(rows.indptr, rows.indices, rows.values, False, 1, 1.0 - cfg.sparsity, True, cfg.data_seed)
    recipe = Recipe(cfg.steps, cfg.warmup_steps, True, 0.9, 0.999, 1e-8, 1.0)
    for first, stop in zip(cuts[:-1], cuts[1:]):
        train_loop(False, (0, 0), model, data, recipe, cfg.lr, cfg.weight_decay, history_steps, first, stop)
    return model
