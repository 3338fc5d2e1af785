"""One run's configuration: every default in one place, validated on the way in.

The defaults are the paper's (docs/science.md sections 2 to 4). A `Config` is immutable; build one with
`Config(...)`, `Config.from_dict(...)` or `config.replace(...)`. Every check raises `ConfigError`
with a one-line message naming the field, which the CLI prints without a traceback.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import numbers
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

INF = "inf"  # dataset_size value for infinite data: a fresh batch every step
MAX_SEED = 2**63  # seeds are int64 inside the compiled sampler, and so is every other integer setting
# A stack holds every restart's weights at once, and its inits are drawn one by one in Python:
# beyond this many the drawing alone takes minutes before memory runs out.
MAX_RESTARTS = 1_000_000


class ConfigError(ValueError):
    """A config value is missing, unknown, of the wrong type or out of range."""


@dataclass(frozen=True)
class Config:
    # data (docs/science.md section 2)
    n_features: int = 10_000
    sparsity: float = 0.999
    normalize: bool = True
    dataset_size: int | str = 1_000  # T, or "inf"
    batch_size: int = 1_024  # examples per step when dataset_size = "inf"
    test_size: int = 10_000
    data_seed: int = 0
    test_seed: int = 0  # its own stream: test_seed 0 never equals data_seed 0's examples
    repeated_points: int = 0  # distinct training examples that appear `repeats` times (README "Repeated data")
    repeats: int = 1  # R, copies of each repeated example; dataset_size counts every copy
    # model (docs/science.md section 3)
    n_hidden: int = 2
    init: str = "xavier_normal"  # or "xavier_uniform"
    init_scale: float = 1.0  # multiplies the Xavier scale
    init_seed: int = 0
    feature_reduction: str = "sum"  # loss: "sum" over features (paper) or "mean"
    # training recipe (docs/science.md section 4)
    steps: int = 50_000
    lr: float = 1e-3
    warmup_fraction: float = 0.05
    weight_decay: float = 1e-2
    decay_bias: bool = True
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    restarts: int = 1  # init seeds init_seed .. init_seed + restarts - 1; keep lowest train loss
    restart_rule: str = "lowest_loss"  # or "regular": the most regular polygon among near-best restarts
    lr_schedule: str = "half_cosine"  # after warmup: "half_cosine" to 0 (the paper's), or "quarter_cosine"
    gradient_chunks: int = 1  # k: the gradient as k equal chunks each averaged (k times the mean over T)
    matmul_precision: str = "float32"  # operands of W x and W^T h: "float32", or rounded as "tf32" / "bfloat16"
    # execution and recording
    engine: str = "auto"  # "auto", "cpu" (numba, dense), "tree" (numba, exact by tree) or "torch"
    device: str = "auto"  # torch engine only: "auto", "cpu" or "cuda"
    dtype: str = "float32"  # or "float64" for checks
    threads: int = 0  # 0: all cores
    history_points: int = 30  # log-spaced steps at which weights are kept for the history
    snapshots: bool = False  # also save those weights (for animations)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = _normalize(f.name, getattr(self, f.name))
            _check_type(f.name, value)
            object.__setattr__(self, f.name, value)
        _check_ranges(self)

    # construction -------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Config":
        """Build from a mapping (TOML, JSON, CLI); unknown keys are errors, not ignored."""
        check_keys(values)
        return cls(**dict(values))

    def replace(self, **changes: Any) -> "Config":
        return Config.from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    # derived quantities -------------------------------------------------------------------
    @property
    def infinite_data(self) -> bool:
        return self.dataset_size == INF

    @property
    def dataset_size_number(self) -> float:
        """T as results.parquet stores it: a float, inf for infinite data."""
        return math.inf if self.infinite_data else float(self.dataset_size)

    @property
    def warmup_steps(self) -> int:
        return int(round(self.warmup_fraction * self.steps))

    @property
    def examples_per_step(self) -> int:
        return self.batch_size if self.infinite_data else int(self.dataset_size)

    @property
    def feature_scale(self) -> float:
        """Factor on the loss summed over features: 1 (the paper's "sum") or 1/n ("mean")."""
        return 1.0 if self.feature_reduction == "sum" else 1.0 / self.n_features

    @property
    def training_scale(self) -> float:
        """Factor on each example's loss (summed over features) in what training minimizes, whose
        mean over the examples of a step the engines take: feature_scale times gradient_chunks.
        With k chunks of T / k examples, each averaged and their losses added, the objective is k
        times the mean over T. Measurements (test and training loss) use feature_scale alone."""
        return self.feature_scale * self.gradient_chunks

    @property
    def mantissa_bits(self) -> int:
        """Explicit mantissa bits the matmul operands keep: 23 (float32), 10 (tf32) or 7 (bfloat16)."""
        return MANTISSA_BITS[self.matmul_precision]

    @property
    def restart_rule_matters(self) -> bool:
        """Whether restart_rule can change the kept model: a rule other than the default, more than
        one restart, and training examples to judge their polygon by."""
        return self.restart_rule != "lowest_loss" and self.restarts > 1 and not self.infinite_data

    @property
    def cost(self) -> float:
        """(feature, example) pairs processed by training: the engine's cost driver."""
        return float(self.n_features) * self.examples_per_step * self.steps * self.restarts

    def run_id(self) -> str:
        """Stable hash of the fields that determine the numbers (not how they were computed)."""
        science = {k: v for k, v in self.to_dict().items() if k not in _EXECUTION_FIELDS}
        if not self.infinite_data:
            del science["batch_size"]  # unused with a fixed training set
        if self.repeated_points == 0:  # no repeats (then repeats is 1): ids stay those from before these keys
            del science["repeated_points"], science["repeats"]
        if not self.restart_rule_matters:  # ids stay those from before this key
            del science["restart_rule"]
        for name in _KEYS_HASHED_WHEN_SET:  # at their defaults, ids stay those from before these keys
            if science[name] == _DEFAULTS[name]:
                del science[name]
        text = json.dumps(science, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# Fields that change how, not what, is computed: the cpu engine gives the same numbers for any
# thread count, and the engines and devices agree to float32 rounding (dtype does count).
_EXECUTION_FIELDS = frozenset({"threads", "history_points", "snapshots", "engine", "device"})

# Keys added after run ids were in use: part of the id only where they differ from the default.
_KEYS_HASHED_WHEN_SET = ("lr_schedule", "gradient_chunks", "matmul_precision")

# Explicit mantissa bits of each matmul_precision: float32 keeps 23; NVIDIA's TF32 10 and
# bfloat16 7, both with float32's 8 exponent bits (issue 9: a GPU replication's products).
MANTISSA_BITS = {"float32": 23, "tf32": 10, "bfloat16": 7}

CHOICES = {
    "init": ("xavier_normal", "xavier_uniform"),
    "feature_reduction": ("sum", "mean"),
    "engine": ("auto", "cpu", "tree", "torch"),
    "device": ("auto", "cpu", "cuda"),
    "dtype": ("float32", "float64"),
    "restart_rule": ("lowest_loss", "regular"),
    "lr_schedule": ("half_cosine", "quarter_cosine"),
    "matmul_precision": tuple(MANTISSA_BITS),
}

# restart_rule = "regular" counts restarts whose final training loss is within this relative
# tolerance of the lowest as equally good, and keeps the most regular polygon among them (issue 8
# section 4). Judgment, not measured: a kept restart is then as good as the best by the training
# loss to 1% (or to REGULAR_LOSS_FLOOR where that is wider), and the tolerance is orders of
# magnitude above float32 rounding of a loss.
REGULAR_LOSS_TOLERANCE = 0.01
# ... or within this much of it in absolute terms, a millionth of the zero output's loss of a
# unit-norm example (times feature_scale: 1/n with feature_reduction = "mean"): restarts that
# memorize small T perfectly end at 0 to 4e-8, apart by far more than 1% of each other (quick's
# T = 3: 3.20e-8 to 3.54e-8), and a relative tolerance alone would never let the rule choose among
# them, where the choice matters most.
REGULAR_LOSS_FLOOR = 1e-6

_TYPES = {f.name: f.type for f in fields(Config)}
_DEFAULTS = {f.name: f.default for f in fields(Config)}


def is_default(name: str, value: Any) -> bool:
    """Whether `value`, a results-table cell of field `name`, is Config's default: strings and bools
    exactly, numbers to a relative 1e-12 (floats read back from Parquet)."""
    default = _DEFAULTS[name]
    if isinstance(default, (bool, str)):
        return value == default
    return bool(np.isclose(float(value), float(default), rtol=1e-12, atol=0.0))


# The fields that make two runs' settings differ: all but T, the seeds, the restarts (a run's best
# of k inits) and where and how a run is computed. The report's main series and the follow-ups'
# comparisons group runs by them, so runs with repeated data, another batch size or float64 never
# join a series of others. The first twelve come first: runs_at_common_setting chooses in this order.
SETTING_FIELDS = (
    "n_features", "sparsity", "n_hidden", "steps", "weight_decay", "lr", "normalize", "feature_reduction",
    "init", "init_scale", "repeated_points", "repeats", "eps", "beta1", "beta2", "decay_bias", "warmup_fraction",
    "lr_schedule", "gradient_chunks", "matmul_precision", "batch_size", "test_size", "restart_rule", "dtype",
)  # fmt: skip


# One line per field, for `toydd train --help` (the README's table says the same).
FIELD_HELP = {
    "n_features": "n, the number of features",
    "sparsity": "S: each feature is 0 with probability S, else uniform on [0, 1)",
    "normalize": "scale every example to unit norm",
    "dataset_size": "T, or inf for a fresh batch every step",
    "batch_size": "examples per step when dataset_size is inf",
    "test_size": "examples in the fixed test set",
    "data_seed": "seed of the training set (or of the batches for inf)",
    "test_seed": "seed of the test set",
    "repeated_points": "distinct training examples that appear --repeats times (the first ones with an active feature)",
    "repeats": "R, copies of each repeated example; dataset_size counts every copy",
    "n_hidden": "m, the number of hidden dimensions",
    "init": "initialization of W (b starts at 0)",
    "init_scale": "factor on the Xavier scale",
    "init_seed": "seed of the initial weights (restarts use the next ones)",
    "feature_reduction": "loss summed over features (the paper) or averaged",
    "steps": "full-batch AdamW steps",
    "lr": "peak learning rate",
    "warmup_fraction": "fraction of steps of linear warmup before the cosine decay",
    "weight_decay": "AdamW weight decay",
    "decay_bias": "apply the weight decay to b too",
    "beta1": "AdamW beta1",
    "beta2": "AdamW beta2",
    "eps": "AdamW epsilon",
    "restarts": "init seeds to train; the lowest final training loss is kept",
    "restart_rule": f"lowest_loss, or regular: among restarts within {REGULAR_LOSS_TOLERANCE:.0%} (or {REGULAR_LOSS_FLOOR:g}) of the lowest final training loss, keep the most regular polygon",
    "lr_schedule": "decay after warmup: half_cosine, lr = peak (1 + cos(pi p)) / 2, or quarter_cosine, lr = peak cos(pi p / 2), p from 0 to 1",
    "gradient_chunks": "k: the gradient of k equal chunks of the examples, each averaged, added (k times the mean over T, as one replication does)",
    "matmul_precision": "float32, or tf32 / bfloat16: the operands of W x and W^T h rounded to 10 / 7 mantissa bits (round to nearest even), as GPU tensor cores do",
    "engine": "cpu (numba, dense pass), tree (numba, the same loss by k-d tree) or torch; auto: torch on CUDA (but tree at n >= 10,000, S >= 0.999, T >= 50,000, measured as fast on one core), else tree where it is faster (with float32 products), else cpu",
    "device": "cpu or cuda: where the torch engine runs; with engine = auto, cpu takes the numba engines and cuda torch",
    "dtype": "float32, or float64 for checks",
    "threads": "numba threads (0: all cores)",
    "history_points": "log-spaced steps at which the history is measured",
    "snapshots": "also store the weights at those steps (for animations)",
}


def _normalize(name: str, value: Any) -> Any:
    """One spelling per value, so that equal configs hash equally: 0 and 0.0 for a float field,
    numpy integers as int, and TOML's bare inf for dataset_size."""
    kind = _TYPES[name]
    if isinstance(value, np.floating):  # np.float32(1e-3) as 0.001, its shortest spelling, not 0.0010000000474974513
        value = float(str(value))
    elif isinstance(value, np.generic):  # numpy integers and np.bool_ as Python's
        value = value.item()
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = int(value)
        if kind == "float":
            return float(value)
    if name == "dataset_size" and isinstance(value, float) and math.isinf(value) and value > 0:
        return INF
    return value


def checked_value(name: str, value: Any) -> Any:
    """`value` (as a sweep file or --set spells it) in the one spelling a Config holds; ConfigError
    unless it has field `name`'s type."""
    value = _normalize(name, value)
    _check_type(name, value)
    return value


def _check_type(name: str, value: Any) -> None:
    kind = _TYPES[name]
    if kind == "int | str":  # dataset_size
        if value == INF or (isinstance(value, int) and not isinstance(value, bool)):
            return
        raise ConfigError(f"{name} must be a positive integer or \"inf\", got {value!r}")
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{name} must be true or false, got {value!r}")
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name} must be an integer, got {value!r}")
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, got {value!r}")
    elif kind == "str":
        if not isinstance(value, str):
            raise ConfigError(f"{name} must be a string, got {value!r}")
        if name in CHOICES and value not in CHOICES[name]:
            raise ConfigError(f"{name} must be one of {', '.join(CHOICES[name])}; got {value!r}")


def check_keys(keys) -> None:
    """Refuse a key that is no Config field, suggesting the closest one."""
    known = {f.name for f in fields(Config)}
    for key in keys:
        if key not in known:
            hint = difflib.get_close_matches(key, known, n=1)
            extra = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise ConfigError(f"unknown config key '{key}'{extra}")


def _check_ranges(c: Config) -> None:
    def need(ok: bool, message: str) -> None:
        if not ok:
            raise ConfigError(message)

    need(c.n_features >= 1, f"n_features must be >= 1, got {c.n_features}")
    need(0.0 <= c.sparsity < 1.0, f"sparsity must be in [0, 1), got {c.sparsity}")
    need(c.infinite_data or int(c.dataset_size) >= 1, f"dataset_size must be >= 1 or \"inf\", got {c.dataset_size}")
    need(c.batch_size >= 1, f"batch_size must be >= 1, got {c.batch_size}")
    need(c.test_size >= 1, f"test_size must be >= 1, got {c.test_size}")
    _check_repeats(c)
    need(c.n_hidden >= 1, f"n_hidden must be >= 1, got {c.n_hidden}")
    need(c.init_scale > 0, f"init_scale must be > 0, got {c.init_scale}")
    need(c.steps >= 1, f"steps must be >= 1, got {c.steps}")
    need(c.lr > 0, f"lr must be > 0, got {c.lr}")
    need(0.0 <= c.warmup_fraction < 1.0, f"warmup_fraction must be in [0, 1), got {c.warmup_fraction}")
    need(c.weight_decay >= 0, f"weight_decay must be >= 0, got {c.weight_decay}")
    need(0.0 <= c.beta1 < 1.0, f"beta1 must be in [0, 1), got {c.beta1}")
    need(0.0 <= c.beta2 < 1.0, f"beta2 must be in [0, 1), got {c.beta2}")
    need(c.eps > 0, f"eps must be > 0, got {c.eps}")
    need(1 <= c.restarts <= MAX_RESTARTS, f"restarts must be in [1, {MAX_RESTARTS:,}], got {c.restarts}")
    need(c.gradient_chunks >= 1, f"gradient_chunks must be >= 1, got {c.gradient_chunks}")
    need(c.gradient_chunks <= c.examples_per_step, f"gradient_chunks must not exceed the examples per step ({c.examples_per_step}), got {c.gradient_chunks}")
    rounded = c.matmul_precision != "float32"
    need(not rounded or c.dtype == "float32", f"matmul_precision = \"{c.matmul_precision}\" needs dtype = \"float32\", got {c.dtype!r}")
    need(not rounded or c.engine != "tree", f"matmul_precision = \"{c.matmul_precision}\" is not supported by engine = \"tree\" (use cpu or torch)")
    need(c.threads >= 0, f"threads must be >= 0, got {c.threads}")
    need(c.history_points >= 0, f"history_points must be >= 0, got {c.history_points}")
    for name in ("data_seed", "test_seed", "init_seed"):  # seeds are mixed as 64-bit integers in numba
        need(0 <= getattr(c, name) < MAX_SEED, f"{name} must be in [0, 2^63), got {getattr(c, name)}")
    need(c.init_seed + c.restarts - 1 < MAX_SEED, f"init_seed + restarts - 1 must be < 2^63, got {c.init_seed + c.restarts - 1}")
    for f in fields(Config):  # sizes and counts become int64 too; after the fields' own checks, which say more
        value = getattr(c, f.name)
        need(not isinstance(value, int) or isinstance(value, bool) or abs(value) < MAX_SEED, f"{f.name} must be below 2^63, got {value}")


def _check_repeats(c: Config) -> None:
    """repeated_points and repeats: copies that fit in the T examples, which count every copy."""
    if c.repeated_points < 0:
        raise ConfigError(f"repeated_points must be >= 0, got {c.repeated_points}")
    if c.repeats < 1:
        raise ConfigError(f"repeats must be >= 1, got {c.repeats}")
    if c.repeated_points == 0 and c.repeats != 1:  # else two configs with one training set would differ in id
        raise ConfigError(f"repeats must be 1 when repeated_points is 0, got {c.repeats}")
    if c.repeated_points and c.infinite_data:
        raise ConfigError(f"repeated_points must be 0 when dataset_size is \"inf\" (no fixed examples to repeat), got {c.repeated_points}")
    if not c.infinite_data and c.repeated_points * c.repeats > int(c.dataset_size):
        raise ConfigError(f"repeated_points * repeats must not exceed dataset_size, got {c.repeated_points} * {c.repeats} > {c.dataset_size}")


def parse_dataset_size(text: str) -> int | str:
    """CLI helper: "inf" or an integer (also "1e4", "10_000")."""
    text = text.strip().lower()
    if text in ("inf", "infinity"):
        return INF
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise ConfigError(f"dataset_size must be a positive integer or \"inf\", got {text!r}") from None
    if not value.is_integer():
        raise ConfigError(f"dataset_size must be a positive integer or \"inf\", got {text!r}")
    return int(value)


__all__ = ["Config", "ConfigError", "FIELD_HELP", "INF", "parse_dataset_size"]
