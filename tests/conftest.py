import numba
import pytest

from toydd import Config


@pytest.fixture
def tiny() -> Config:
    """A small, fast setting: 200 features, denser data, few steps."""
    return Config(n_features=200, sparsity=0.95, n_hidden=2, dataset_size=20, steps=300, test_size=500, history_points=8)


@pytest.fixture(autouse=True)
def _restore_threads():
    threads = numba.get_num_threads()
    yield
    numba.set_num_threads(threads)
