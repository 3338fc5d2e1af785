"""Config in, trained and measured models out: data -> engine -> metrics.

`train(config)` trains one run (with its restarts). `train_runs(configs)` trains several runs that
share their data as one stack on the engine; the sweep uses it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import _clusters, _data, _repeats
from ._checkpoint import CHECKPOINT_SECONDS, Checkpoint
from ._config import CHOICES, REGULAR_LOSS_FLOOR, REGULAR_LOSS_TOLERANCE, Config, ConfigError
from ._engines import Progress, StackJob, StackOutcome, get_engine, history_steps
from ._kernels import SCHEDULE_CODES, lr_at
from ._metrics import Measurements, example_losses, hidden_vectors, history_row, measure, polygon_irregularity

# Fields a stack's runs may differ in; everything else must be equal.
PER_MODEL_FIELDS = ("lr", "weight_decay", "init_seed", "restarts")


class TrainingDiverged(RuntimeError):
    """Every restart of a run reached a non-finite loss."""


@dataclass
class RunResult:
    """One run: the kept model, its measurements and how it was trained.

    W (m, n), b (n,) float32 or float64; history: column -> (P,) values at `history_steps`;
    snapshots: (P, m, n) and (P, n) weights at those steps when config.snapshots.
    """

    config: Config
    W: np.ndarray
    b: np.ndarray
    measurements: Measurements
    history: dict[str, np.ndarray]
    restart_train_losses: list[float]
    kept_restart: int
    train_set: _data.SparseRows | None
    engine: str
    device: str
    threads: int
    seconds: float
    snapshots: tuple[np.ndarray, np.ndarray] | None = None
    info: dict = field(default_factory=dict)

    @property
    def metrics(self) -> dict:
        """Scalars of metrics.json: the measurements plus restarts and cost."""
        cfg = self.config
        return {
            **self.measurements.scalars,
            "restart_train_losses": self.restart_train_losses,
            "kept_restart": self.kept_restart,
            "kept_init_seed": cfg.init_seed + self.kept_restart,
            "engine": self.engine,
            "device": self.device,
            "threads_used": self.threads,
            "wall_seconds": self.seconds,
            "steps_per_second": cfg.steps * cfg.restarts / self.seconds if self.seconds > 0 else float("nan"),
            "pairs_per_second": cfg.cost / self.seconds if self.seconds > 0 else float("nan"),
            **self.info,
        }


def train(config: Config, progress: Progress | None = None, checkpoint: Checkpoint | None = None) -> RunResult:
    """Train `config.restarts` models from init seeds init_seed, init_seed + 1, ... on one
    training set, keep one by `config.restart_rule` (see `choose_restart`), and measure it."""
    return train_runs([config], progress, checkpoint=checkpoint)[0]


def train_runs(configs: list[Config], progress: Progress | None = None, raise_divergence: bool = True, checkpoint: Checkpoint | None = None) -> list:
    """Train runs that share data and schedule as one stack (see PER_MODEL_FIELDS).

    Returns one RunResult per config; with raise_divergence=False a run whose every restart
    diverged is returned as its TrainingDiverged error instead of raising it. With `checkpoint`
    (from `stack_checkpoint` for these configs) training resumes from it and writes it as it goes;
    the caller removes it once the runs are saved.
    """
    base = _check_stackable(configs)
    train_rows = _data.train_set(base)
    test_rows = _data.test_set(base)
    dtype = np.float64 if base.dtype == "float64" else np.float32
    inits = [init_weights(c.replace(init_seed=c.init_seed + r), dtype) for c in configs for r in range(c.restarts)]
    owners = [i for i, c in enumerate(configs) for _ in range(c.restarts)]
    job = StackJob(
        config=base,
        train_set=train_rows,
        init_W=np.stack([w for w, _ in inits]),
        init_b=np.stack([b for _, b in inits]),
        lrs=np.array([configs[o].lr for o in owners]),
        weight_decays=np.array([configs[o].weight_decay for o in owners]),
        history_steps=history_steps(base.steps, base.history_points),
    )
    engine = get_engine(base)
    outcome = engine.train(job, progress) if checkpoint is None else engine.train(job, progress, checkpoint)
    device = str(getattr(engine, "device", "cpu"))
    # For infinite data the training loss is measured on a fresh batch from the training stream.
    eval_rows = train_rows if train_rows is not None else _data.sample_rows(
        base.batch_size, base.n_features, base.sparsity, _data.infinite_batch_seed(base.data_seed, base.steps), base.normalize
    )
    results = []
    for index, cfg in enumerate(configs):
        models = [k for k, o in enumerate(owners) if o == index]
        try:
            results.append(_finish_run(cfg, job, outcome, device, models, train_rows, eval_rows, test_rows))
        except TrainingDiverged as error:
            if raise_divergence:
                raise
            results.append(error)
    return results


def engine_identity(config: Config) -> tuple[str, str]:
    """(engine, device) that would train `config` here, "auto" resolved: what makes float32
    numbers differ between machines (thread counts do not)."""
    engine = get_engine(config)
    return engine.name, str(getattr(engine, "device", "cpu"))


def stack_checkpoint(configs: list[Config], path: Path | None = None, folder: Path | None = None, every_steps: int = 0,
                     every_seconds: float = CHECKPOINT_SECONDS) -> Checkpoint:  # fmt: skip
    """The checkpoint of the stack `configs`: at `path`, or in `folder` named by its key.

    The key hashes everything that determines the numbers: the run ids in stack order (config,
    seeds, restarts, dtype), the engine and device that will train them, the history points and
    the toydd version. A checkpoint never resumes a different job.
    """
    key = checkpoint_key(configs, *engine_identity(configs[0]))
    where = Path(path) if path is not None else Path(folder) / f"{key}.safetensors"
    return Checkpoint(where, key, tuple(c.run_id() for c in configs), every_seconds, every_steps)


# Every (engine, device) that `engine_identity` could answer on some machine: the config's named
# choices, "auto" resolved (a pair no engine writes, like tree on cuda, only never matches).
ENGINE_IDENTITIES = tuple((engine, device) for engine in CHOICES["engine"] if engine != "auto" for device in CHOICES["device"] if device != "auto")


def checkpoint_key(configs: list[Config], engine: str, device: str) -> str:
    """The key of the stack `configs` trained by `engine` on `device` with this toydd (see
    `stack_checkpoint`)."""
    from . import __version__

    identity = {
        "run_ids": [c.run_id() for c in configs], "engine": engine, "device": device, "history_points": configs[0].history_points, "toydd_version": __version__,
    }  # fmt: skip
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


def init_weights(config: Config, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Xavier init of W (m, n) from config.init_seed, b = 0 (docs/science.md section 3)."""
    m, n = config.n_hidden, config.n_features
    rng = np.random.default_rng(_data.stream_seed(_data.INIT_STREAM, config.init_seed, 0))
    if config.init == "xavier_normal":
        W = rng.standard_normal((m, n)) * np.sqrt(2.0 / (n + m))
    else:
        bound = np.sqrt(6.0 / (n + m))
        W = rng.uniform(-bound, bound, (m, n))
    return (W * config.init_scale).astype(dtype), np.zeros(n, dtype)


def _shared(config: Config) -> dict:
    """The fields every run of a stack must agree on: all but PER_MODEL_FIELDS."""
    return {k: v for k, v in config.to_dict().items() if k not in PER_MODEL_FIELDS}


def stack_key(config: Config) -> str:
    """Runs with equal keys can train as one stack."""
    return json.dumps(_shared(config), sort_keys=True)


def _check_stackable(configs: list[Config]) -> Config:
    if not configs:
        raise ConfigError("no runs to train")
    first = _shared(configs[0])
    for config in configs[1:]:
        other = _shared(config)
        differing = [k for k in first if first[k] != other[k]]
        if differing:
            raise ConfigError(f"runs in one stack must share {differing[0]}")
    return configs[0]


def choose_restart(final_losses: list[float], rule: str, irregularity, floor: float = REGULAR_LOSS_FLOOR) -> int:
    """Index of the restart to keep, given each restart's final training loss (NaN: diverged; at
    least one finite) and `irregularity(i)`, restart i's polygon irregularity (called only under
    "regular"). "lowest_loss": the lowest loss. "regular": among the restarts within
    REGULAR_LOSS_TOLERANCE (relative) or `floor` (absolute: REGULAR_LOSS_FLOOR in the loss's
    units) of the lowest loss, whichever is wider, the lowest irregularity; ties, and NaN
    irregularities, go to the lower loss."""
    finite = [i for i, loss in enumerate(final_losses) if np.isfinite(loss)]
    best = min(finite, key=lambda i: final_losses[i])
    if rule == "lowest_loss":
        return best
    lowest = final_losses[best]
    near = [i for i in finite if final_losses[i] <= lowest + max(lowest * REGULAR_LOSS_TOLERANCE, floor)]

    def badness(i: int) -> tuple[float, float]:
        value = irregularity(i)
        return (value if np.isfinite(value) else np.inf, final_losses[i])

    return min(near, key=badness)


def _finish_run(cfg, job: StackJob, outcome: StackOutcome, device: str, models, train_rows, eval_rows, test_rows) -> RunResult:
    scale = cfg.feature_scale
    final_losses = []
    for k in models:
        if outcome.nan_step[k] >= 0:
            final_losses.append(float("nan"))
        else:
            final_losses.append(float(example_losses(outcome.W[k], outcome.b[k], eval_rows, scale)[0].mean()))
    finite = [i for i, loss in enumerate(final_losses) if np.isfinite(loss)]
    if not finite:
        steps = sorted({int(outcome.nan_step[k]) for k in models})
        raise TrainingDiverged(f"loss is not finite at step {steps[0]} (lr {cfg.lr}, weight_decay {cfg.weight_decay})")
    rule = cfg.restart_rule if cfg.restart_rule_matters else "lowest_loss"

    def irregularity(i: int) -> float:
        return polygon_irregularity(hidden_vectors(outcome.W[models[i]], train_rows))

    kept = choose_restart(final_losses, rule, irregularity, REGULAR_LOSS_FLOOR * scale)  # the floor in the losses' units
    k = models[kept]
    W, b = outcome.W[k], outcome.b[k]
    fixed = train_rows is not None
    measurements = measure(W, b, eval_rows, test_rows, scale, fixed)
    if cfg.repeated_points:  # mark the repeated examples and measure them among the distinct ones
        measurements = _repeats.with_repeats(measurements, cfg, W, train_rows)
    if fixed and cfg.n_hidden == 2 and not cfg.repeated_points:  # which examples the model stores together
        measurements = _clusters.with_clusters(measurements, W, train_rows)
    history = {"step": job.history_steps.copy(), "lr": np.array([_lr_after(cfg, s) for s in job.history_steps])}
    rows = [history_row(outcome.history_W[k, p], outcome.history_b[k, p], eval_rows, test_rows, scale, fixed) for p in range(len(job.history_steps))]
    for name in rows[0] if rows else ():
        history[name] = np.array([r[name] for r in rows])
    snapshots = (outcome.history_W[k].copy(), outcome.history_b[k].copy()) if cfg.snapshots else None
    return RunResult(
        config=cfg,
        W=W.copy(),
        b=b.copy(),
        measurements=measurements,
        history=history,
        restart_train_losses=final_losses,
        kept_restart=kept,
        train_set=train_rows,
        engine=outcome.engine,
        device=device,
        threads=outcome.threads,
        seconds=outcome.seconds * len(models) / job.n_models,
        snapshots=snapshots,
        info={"stack_models": job.n_models, **_tree_shares(cfg, outcome, k)},
    )


def _tree_shares(cfg: Config, outcome: StackOutcome, model: int) -> dict:
    """The tree engine's work as shares of the dense pass's pairs (n T per step, over every step):
    feature-node visits and pairs still done densely at the leaves. Empty for other engines."""
    if outcome.tree_stats is None:
        return {}
    pairs = float(cfg.n_features) * cfg.examples_per_step * cfg.steps
    visits, dense_pairs = outcome.tree_stats[model, :2]
    return {"tree_visit_share": float(visits) / pairs, "tree_dense_share": float(dense_pairs) / pairs}


def _lr_after(cfg: Config, steps_done: int) -> float:
    """Learning rate of the last step taken after `steps_done` steps (0 before training)."""
    if steps_done <= 0:
        return 0.0
    return float(lr_at(steps_done - 1, cfg.steps, cfg.warmup_steps, cfg.lr, SCHEDULE_CODES[cfg.lr_schedule]))
