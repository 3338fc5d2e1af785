"""toydd: toy models of superposition, memorization and double descent.

The public API: a `Config`, `train` it, save and load the run; `read_results` of a sweep
directory; `toydd.figures` draws the paper's figures as matplotlib Figures.
"""

import importlib

from ._config import INF, Config, ConfigError
from ._data import SparseRows, sample_rows, test_set, train_set
from ._metrics import fractional_dimensionality, hidden_vectors, max_data_dimensionality
from ._store import CorruptRun, StoredRun, load_run, save_run, verify_run
from ._sweep import read_results
from ._train import RunResult, TrainingDiverged, init_weights, train, train_runs

__version__ = "0.1.0"


def __getattr__(name: str):
    # `toydd.figures` imports matplotlib: only when first used, so `import toydd` stays light
    if name == "figures":
        return importlib.import_module(".figures", __name__)
    raise AttributeError(f"module 'toydd' has no attribute '{name}'")


__all__ = [
    "INF", "Config", "ConfigError", "CorruptRun", "RunResult", "SparseRows", "TrainingDiverged",
    "figures", "fractional_dimensionality", "hidden_vectors", "init_weights", "load_run", "max_data_dimensionality",
    "read_results", "sample_rows", "save_run", "StoredRun", "test_set", "train", "train_runs", "train_set", "verify_run", "__version__",
]  # fmt: skip
