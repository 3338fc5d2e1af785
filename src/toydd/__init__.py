"""toydd: toy models of superposition, memorization and double descent.

The public API: a `Config`, `train` it, save and load the run; `read_results` of a sweep
directory; `toydd.figures` draws the paper's figures as matplotlib Figures.
"""

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Each public name and the private module that defines it. They load on first use (PEP 562), so
# that `import toydd` takes milliseconds, not the second that numba, pandas and pyarrow take: the
# `toydd` command can then catch a Ctrl-C while it loads (`_launch`), and `toydd.figures` does not
# pull in matplotlib until drawn.
_PUBLIC = {
    "INF": "_config", "Config": "_config", "ConfigError": "_config",
    "SparseRows": "_data", "sample_rows": "_data", "test_set": "_data", "train_set": "_data",
    "fractional_dimensionality": "_metrics", "hidden_vectors": "_metrics", "max_data_dimensionality": "_metrics",
    "CorruptRun": "_store", "StoredRun": "_store", "load_run": "_store", "save_run": "_store", "verify_run": "_store",
    "read_results": "_sweep",
    "RunResult": "_train", "TrainingDiverged": "_train", "init_weights": "_train", "train": "_train", "train_runs": "_train",
}  # fmt: skip

if TYPE_CHECKING:  # what type checkers and editors see
    from . import figures
    from ._config import INF, Config, ConfigError
    from ._data import SparseRows, sample_rows, test_set, train_set
    from ._metrics import fractional_dimensionality, hidden_vectors, max_data_dimensionality
    from ._store import CorruptRun, StoredRun, load_run, save_run, verify_run
    from ._sweep import read_results
    from ._train import RunResult, TrainingDiverged, init_weights, train, train_runs


def __getattr__(name: str):
    if name == "figures":
        return importlib.import_module(".figures", __name__)
    if name in _PUBLIC:
        value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'toydd' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [*_PUBLIC, "figures", "__version__"]
