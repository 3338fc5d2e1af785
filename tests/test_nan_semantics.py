"""NaN and infinity survive the kernels' fastmath, so a diverging run is detected by definition."""

import numba
import numpy as np
import pytest

import toydd
from toydd import _kernels


def _compiled_kernels():
    """Every numba dispatcher defined in toydd's modules."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(toydd.__path__):
        module = importlib.import_module(f"toydd.{info.name}")
        for value in vars(module).values():
            if isinstance(value, numba.core.registry.CPUDispatcher) and value.__module__ == module.__name__:
                yield value


def test_no_kernel_assumes_away_nan_or_inf():
    kernels = list(_compiled_kernels())
    assert len(kernels) > 10
    for kernel in kernels:
        flags = kernel.targetoptions.get("fastmath", False)
        assert flags is not True, f"{kernel.__name__}: fastmath=True includes nnan and ninf"
        assert not {"nnan", "ninf", "fast"} & set(flags or ()), kernel.__name__
    assert {"nnan", "ninf"}.isdisjoint(_kernels.FASTMATH)


def test_inf_and_nan_inputs_come_out_of_the_loss_as_non_finite(tiny):
    from toydd._data import train_set

    rows = train_set(tiny)
    W = np.ones((2, tiny.n_features), np.float32)
    b = np.zeros(tiny.n_features, np.float32)
    for bad in (np.inf, np.nan):
        W[0, rows.indices[0]] = bad
        loss, _, _ = _kernels_loss(W, b, rows)
        assert not np.isfinite(loss)


def _kernels_loss(W, b, rows):
    M, n = W.shape
    bounds = _kernels.chunk_bounds(rows.n_rows)
    chunks = len(bounds) - 1
    hT, dhT = np.zeros((M, rows.n_rows), W.dtype), np.zeros((M, rows.n_rows), W.dtype)
    gW, gb, gbuf = np.zeros((chunks, M, n), W.dtype), np.zeros((chunks, n), W.dtype), np.zeros((chunks, _kernels.BLOCK), W.dtype)
    loss = _kernels.loss_grad_serial((0,) * M, W, b, rows.indptr, rows.indices, rows.values, bounds, hT, dhT, gW, gb, gbuf, W.dtype.type(2.0))
    return loss, gW, gb


@pytest.mark.parametrize("engine", ["cpu", "torch"])
def test_a_huge_learning_rate_diverges_at_a_step(tiny, engine):
    with pytest.raises(toydd.TrainingDiverged, match=r"not finite at step \d+"):
        toydd.train(tiny.replace(lr=1e30, warmup_fraction=0.0, engine=engine, device="cpu"))
