"""The engine interface: what a trainer is given and what it gives back, and the registry.

An engine trains a *stack*: K models that share everything but their initial weights, peak
learning rate and weight decay (restarts, init seeds, LR and decay sweeps at one T). The data,
schedule and history steps are the same for all K.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np

from ._config import Config, ConfigError
from ._data import SparseRows

if TYPE_CHECKING:
    from ._checkpoint import Checkpoint


@dataclass
class StackJob:
    """What to train.

    config: the shared settings (its lr, weight_decay and init_seed are ignored: see below)
    train_set: the fixed training set, or None for infinite data (config.dataset_size = "inf")
    init_W: (K, m, n) and init_b: (K, n) initial weights, in the dtype to train in
    lrs, weight_decays: (K,) peak learning rate and decay of each model
    history_steps: (P,) increasing step counts in [0, steps] after which weights are recorded
    """

    config: Config
    train_set: SparseRows | None
    init_W: np.ndarray
    init_b: np.ndarray
    lrs: np.ndarray
    weight_decays: np.ndarray
    history_steps: np.ndarray

    @property
    def n_models(self) -> int:
        return self.init_W.shape[0]


@dataclass
class StackOutcome:
    """What came back: final W (K, m, n) and b (K, n), recorded history_W (K, P, m, n) and
    history_b (K, P, n), and for each model the step at which its loss stopped being finite
    (-1 when it never did; its weights are then those before that step)."""

    W: np.ndarray
    b: np.ndarray
    history_W: np.ndarray
    history_b: np.ndarray
    nan_step: np.ndarray
    seconds: float
    engine: str
    threads: int  # CPU threads the stack trained on (`threads` capped at what the machine has); 0 on CUDA
    tree_stats: np.ndarray | None = None  # (K, N_STATS) the tree engine's counts (`_tree`)


# Called now and then during training with (fraction of the work done, latest loss of each model (K,)).
Progress = Callable[[float, np.ndarray], None]


class Engine(Protocol):
    name: str

    def train(self, job: StackJob, progress: Progress | None = None, checkpoint: Checkpoint | None = None) -> StackOutcome: ...


# Where "auto" takes the tree engine over the dense cpu engine: where its whole 50,000-step runs
# were measured faster than the dense engine's (benchmarks/bench_tree.py on both cores of a 2-core
# AMD EPYC, AVX2; the speedups are in docs/performance.md, the main ones in the README): at n = 10,000, S = 0.999 from
# T = 200 (1.3x) on, at n = 1,000, S = 0.99 from T = 10,000 (1.4x; 1.0x at 5,000). The tree's
# floor is the O(nonzeros) sparse passes and its walks grow with n more slowly than the dense
# pass, so it pays more with more features and fewer nonzeros per pair: a run goes to the tree
# when it has at least the n and S of one measured setting and at least that setting's T. Larger m
# keeps the dense pass (1.1x at m = 3, 0.7x at m = 4, n = 1,000, T = 10,000: `--hidden 3 4`).
TREE_SETTINGS = ((10_000, 0.999, 200), (1_000, 0.99, 10_000))  # (n at least, S at least, T at least)
TREE_MAX_UNITS = 2
# Where "auto" takes the tree engine over torch even with a CUDA device: where one CPU core running
# the tree was measured as fast as the torch engine on an NVIDIA H200 or faster (benchmarks/bench_gpu.py,
# 2026-12-04: 20.0, 36.6 and 180 ms a step at n = 10,000, S = 0.999, T = 50,000, 100,000 and 500,000,
# against the tree's 14.1, 36.7 and 184 single-threaded on a 2-core AMD EPYC, AVX2, the `paper`
# preset's runs), and a machine with a GPU has more cores than one. Below, the GPU was faster than
# one core (7.8 against 8.9 ms at T = 20,000; 2.4 against 4.2 at 5,000), and at n = 1,000, S = 0.99
# too (4.9 ms at T = 100,000 against the cost model's 16): torch stays there.
TREE_OVER_CUDA_SETTINGS = ((10_000, 0.999, 50_000),)  # (n at least, S at least, T at least)


def auto_engine(config: Config) -> str:
    """What engine = "auto" runs: torch for device = "cuda"; with device = "auto" and a CUDA
    device, torch unless the tree pays and one core of it was measured as fast as the GPU
    (`TREE_OVER_CUDA_SETTINGS`); otherwise (device = "cpu", or no CUDA device) tree where it is
    measured faster than the dense pass and the products are float32 (matmul_precision), else cpu."""
    if config.device == "cuda":
        return "torch"
    tree = tree_pays(config)
    # CUDA asked last: it may import torch (seconds), which a run the tree takes anyway never needs
    if config.device == "auto" and not (tree and _at_least(config, TREE_OVER_CUDA_SETTINGS)) and _cuda_available():
        return "torch"
    return "tree" if tree else "cpu"


def tree_pays(config: Config) -> bool:
    """Whether a CPU run of `config` goes to the tree engine under "auto": measured faster there
    (`TREE_SETTINGS`), and float32 products (the tree does not round the products' operands)."""
    if config.infinite_data or config.n_hidden > TREE_MAX_UNITS or config.matmul_precision != "float32":
        return False  # infinite data checked first: its dataset_size is the string "inf"
    return _at_least(config, TREE_SETTINGS)


def _at_least(config: Config, settings) -> bool:
    """Whether `config` has at least the n, S and T of one of `settings` ((n, S, T), ...)."""
    return any(config.n_features >= n and config.sparsity >= s and config.dataset_size >= t for n, s, t in settings)


def get_engine(config: Config) -> Engine:
    """The engine `config.engine` names; "auto" is `auto_engine`'s choice."""
    name = config.engine
    if name == "auto":
        name = auto_engine(config)
    if name in ("cpu", "tree"):
        if config.device == "cuda":  # only named, never chosen by auto
            raise ConfigError(f"device = \"cuda\" needs engine = \"torch\", not {name}")
        from ._engine_cpu import CpuEngine, TreeEngine

        return TreeEngine() if name == "tree" else CpuEngine()
    from ._engine_torch import TorchEngine

    return TorchEngine(config.device)


# Device files of a GPU driver that torch.cuda can use on Linux: NVIDIA's, WSL 2's (/dev/dxg),
# Jetson's (/dev/nvhost-ctrl-gpu) and ROCm's (/dev/kfd, AMD GPUs, which torch.cuda also reports).
# Without one of them torch.cuda.is_available() is False.
CUDA_DEVICE_FILES = ("/dev/nvidiactl", "/dev/dxg", "/dev/nvhost-ctrl-gpu", "/dev/kfd")


def _cuda_available() -> bool:
    """Whether torch sees a CUDA device. Importing torch takes seconds, and every process that
    trains under "auto" asks (each sweep worker, each `toydd train`), so the cases where CUDA
    cannot be there answer first without it: no torch, a CPU-only build of torch (a "+cpu"
    version), macOS, a Linux machine without a GPU driver's device files (`CUDA_DEVICE_FILES`)."""
    if importlib.util.find_spec("torch") is None or sys.platform == "darwin":
        return False
    try:
        if "+cpu" in importlib.metadata.version("torch"):
            return False
    except importlib.metadata.PackageNotFoundError:  # a torch that pip did not install: ask it
        pass
    if sys.platform.startswith("linux") and not any(os.path.exists(path) for path in CUDA_DEVICE_FILES):
        return False
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def history_steps(steps: int, points: int) -> np.ndarray:
    """(P,) distinct log-spaced step counts from 0 to `steps` (both included when points >= 2)."""
    if points <= 0:
        return np.zeros(0, np.int64)
    if points == 1:
        return np.array([steps], np.int64)
    raw = np.unique(np.round(np.geomspace(1, steps + 1, points - 1)).astype(np.int64) - 1)
    return np.unique(np.concatenate([[0], raw, [steps]])).astype(np.int64)
