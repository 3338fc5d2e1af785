"""toydd: toy models of superposition, memorization and double descent.

The public API: a `Config`, `train` it, save and load the run.
"""

from ._config import INF, Config, ConfigError
from ._data import SparseRows, sample_rows, test_set, train_set
from ._metrics import fractional_dimensionality, max_data_dimensionality
from ._store import CorruptRun, StoredRun, load_run, save_run, verify_run
from ._train import RunResult, TrainingDiverged, init_weights, train, train_runs

__version__ = "0.1.0"

__all__ = [
    "INF", "Config", "ConfigError", "CorruptRun", "RunResult", "SparseRows", "TrainingDiverged",
    "fractional_dimensionality", "init_weights", "load_run", "max_data_dimensionality", "sample_rows",
    "save_run", "StoredRun", "test_set", "train", "train_runs", "train_set", "verify_run", "__version__",
]  # fmt: skip
