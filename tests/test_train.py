"""End to end: config -> data -> engine -> metrics, at toy and at the paper's scale."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from toydd import Config, TrainingDiverged, train, train_runs


def test_paper_scale_T5_memorizes_a_regular_pentagon():
    # n = 10,000, S = 0.999, m = 2, 50,000 steps: the paper's setting, in seconds
    from toydd._metrics import hidden_vectors

    result = train(Config(dataset_size=5, n_hidden=2, history_points=5))
    dims = result.measurements.examples["dimensionality"]
    assert len(dims) == 5
    np.testing.assert_allclose(dims, 0.4, atol=0.04)  # "within a few hundredths"
    hidden = hidden_vectors(result.W, result.train_set)
    angles = np.sort(np.degrees(np.arctan2(hidden[:, 1], hidden[:, 0])))
    gaps = np.diff(np.concatenate([angles, [angles[0] + 360]]))
    np.testing.assert_allclose(gaps, 72, atol=3)  # evenly spaced: a regular pentagon
    assert result.measurements.scalars["train_loss"] < 0.01
    assert result.measurements.scalars["test_loss"] > 0.9  # memorized, nothing general learned
    assert abs(result.measurements.scalars["max_data_dimensionality_sum"] - 2) < 1e-6


def test_restarts_keep_the_lowest_final_train_loss(tiny):
    result = train(tiny.replace(restarts=3, steps=200))
    losses = result.restart_train_losses
    assert len(losses) == 3 and len(set(losses)) == 3
    assert result.kept_restart == int(np.argmin(losses))
    assert result.metrics["train_loss"] == pytest.approx(min(losses))
    assert result.metrics["kept_init_seed"] == tiny.init_seed + result.kept_restart


@pytest.mark.parametrize("engine,T", [("cpu", 20), ("tree", 700)])
def test_runs_in_one_stack_equal_runs_alone(tiny, engine, T):
    """Bit for bit, so that a run's id names its numbers wherever it was trained (`--reuse`
    copies a run trained alone into a sweep that stacks it with others, as the envelope does)."""
    base = tiny.replace(engine=engine, dataset_size=T)
    configs = [base.replace(lr=lr, weight_decay=wd, init_seed=s) for lr, wd, s in [(1e-3, 0.0, 1), (3e-3, 0.1, 2)]]
    together = train_runs(configs)
    for cfg, result in zip(configs, together):
        alone = train(cfg)
        assert result.engine == alone.engine == engine
        np.testing.assert_array_equal(result.W, alone.W)
        np.testing.assert_array_equal(result.b, alone.b)
        assert result.metrics["test_loss"] == alone.metrics["test_loss"]


def test_infinite_data_run(tiny):
    result = train(tiny.replace(dataset_size="inf", batch_size=64, steps=100))
    assert result.train_set is None and result.measurements.examples == {}
    assert np.isfinite(result.metrics["train_loss"]) and np.isfinite(result.metrics["test_loss"])


def test_history_has_every_scalar_at_log_spaced_steps(tiny):
    result = train(tiny)
    h = result.history
    assert h["step"][0] == 0 and h["step"][-1] == tiny.steps
    for name in ("train_loss", "test_loss", "W_norm", "b_norm", "feature_dimensionality_sum", "lr"):
        assert len(h[name]) == len(h["step"])
    assert h["b_norm"][0] == 0 and h["train_loss"][-1] == pytest.approx(result.metrics["train_loss"])


def test_same_config_same_numbers(tiny):
    a, b = train(tiny), train(tiny)
    np.testing.assert_array_equal(a.W, b.W)
    c = train(tiny.replace(init_seed=1))
    assert not np.array_equal(a.W, c.W)
    np.testing.assert_array_equal(a.train_set.values, c.train_set.values)  # data seed unchanged


TRAIN_AND_HASH = """
import hashlib, json, sys, toydd
result = toydd.train(toydd.Config.from_dict(json.loads(sys.argv[1])))
print(hashlib.sha256(result.W.tobytes() + result.b.tobytes()).hexdigest())
"""


@pytest.mark.parametrize("engine", ["cpu", "tree"])
def test_same_numbers_whether_numba_compiled_the_kernels_or_loaded_them_from_its_cache(engine, tmp_path):
    """numba links a copy of each kernel into every kernel that calls it and optimizes that copy
    again; a process that compiled the training loop calls the kernels it compiled on their own,
    one that loaded the loop from the cache calls those copies. At m = 2 (the paper's) they must
    agree: here a process with an empty cache directory, then one that loads what it wrote. (At
    m = 1 they differ in the last bits on an AVX-512 Zen 4: README, "Compiled or loaded from numba's cache".)"""
    config = Config(n_features=200, sparsity=0.95, n_hidden=2, dataset_size=3_000, steps=40, test_size=100, history_points=2, threads=1, engine=engine)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}

    def weights_hash() -> str:
        finished = subprocess.run([sys.executable, "-c", TRAIN_AND_HASH, json.dumps(config.to_dict())], env=env, capture_output=True, text=True)
        assert finished.returncode == 0, finished.stderr[-2000:]
        return finished.stdout.strip()

    compiled = weights_hash()
    assert any(tmp_path.rglob("*.nbi")), "the first process wrote no cache"
    assert weights_hash() == compiled


def test_divergence_raises_with_the_step(tiny):
    with pytest.raises(TrainingDiverged, match="not finite at step"):
        train(tiny.replace(lr=1e30, warmup_fraction=0.0))


def test_torch_engine_end_to_end(tiny):
    ours, theirs = train(tiny.replace(steps=100)), train(tiny.replace(steps=100, engine="torch", device="cpu"))
    assert theirs.engine == "torch"
    assert abs(ours.metrics["train_loss"] - theirs.metrics["train_loss"]) < 1e-4


def test_metrics_record_the_threads_a_run_trained_on(tiny):
    """`threads` asks (0: all cores); metrics record what ran: more threads than the machine has
    are capped, so a rerun elsewhere can ask for the same count."""
    import numba

    cores = numba.config.NUMBA_NUM_THREADS
    assert train(tiny.replace(steps=10, threads=1)).metrics["threads_used"] == 1
    assert train(tiny.replace(steps=10, threads=0)).metrics["threads_used"] == cores
    assert train(tiny.replace(steps=10, threads=cores + 1000)).metrics["threads_used"] == cores
    torch = pytest.importorskip("torch")
    assert train(tiny.replace(steps=10, engine="torch", device="cpu")).metrics["threads_used"] == torch.get_num_threads()
