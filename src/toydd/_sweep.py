"""A sweep on disk: plan the runs, train what is missing, keep the results table current.

    DIR/runs/<run_id>/       one complete run each (the layout of `_store`), or nothing
    DIR/failed/<run_id>.json a run that diverged or crashed: its config and the reason
    DIR/results.parquet      one row per complete run: run_id, every config field, every scalar
                             metric; rebuilt after every finished task, written atomically
    DIR/checkpoints/<key>.safetensors  training state of a stack in progress (see `_checkpoint`),
                             removed once its runs are saved
    DIR/engines.json         present when --allow-mixed-engines let another engine or device
                             train runs next to stored ones: which, and when
    DIR/plan.json            every planned run's config, as the latest `toydd sweep` or
                             `toydd reproduce` on DIR planned them (`toydd status` reads it)

A *task* is a stack of runs that share their data (see `_train.PER_MODEL_FIELDS`); the executor
runs tasks, largest estimated time first. A task saves each run as soon as its stack is trained,
and skips runs that are already complete, so any task may be run again (a resubmitted Dask task,
a requeued SLURM job, a resumed sweep) without duplicating or losing anything; a stack that was
stopped mid-way is planned as the same task again and resumes from its checkpoint.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import shutil
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ._checkpoint import Interrupted, StopSignals, stored_progress, stored_stacks
from ._config import _TYPES as CONFIG_TYPES
from ._config import Config, ConfigError
from ._presets import modelled, modelled_seconds, run_seconds
from ._store import RUN_ID, CorruptRun, copy_run, is_sweep_dir, load_config, nan_for_null, remove_leftovers, save_run, stored_run_id, strict_json, verify_run, write_atomic, written_by_toydd
from ._train import ENGINE_IDENTITIES, checkpoint_key, engine_identity, stack_checkpoint, stack_key

MAX_MODELS_PER_TASK = 64
MAX_TASK_BYTES = 2e9  # weights, optimizer state and history of one stack in memory
LOCK_NAME = ".toydd.lock"  # held by the process driving a sweep (`sweep_lock`)


@dataclass(frozen=True)
class Task:
    """Runs trained as one stack: their configs as plain dicts (for any executor's transport)."""

    configs: tuple[dict, ...]
    threads: int
    checkpoint_every: int = 0  # steps between checkpoints besides the time-based ones (0: none)

    @property
    def estimated_seconds(self) -> float:
        """Core-seconds by the cost model of `toydd reproduce --list` (`_presets.run_seconds`): unlike
        pairs, it counts the hidden units and the tree engine's far cheaper runs."""
        return sum(run_seconds(Config.from_dict(c)) for c in self.configs)


@dataclass(frozen=True)
class Outcome:
    run_id: str
    ok: bool
    reason: str = ""
    interrupted: int = 0  # the signal that stopped the run after a checkpoint (0: not interrupted)


# --- state of a sweep directory ----------------------------------------------------------------


def run_dir(out: Path, run_id: str) -> Path:
    return out / "runs" / run_id


def failure_file(out: Path, run_id: str) -> Path:
    return out / "failed" / f"{run_id}.json"


def checkpoint_folder(out: Path) -> Path:
    return out / "checkpoints"


def is_complete(out: Path, run_id: str) -> bool:
    """True if the run's directory exists and every file matches its manifest."""
    try:
        verify_run(run_dir(out, run_id), run_id)
    except CorruptRun:
        return False
    return True


def _move_or_remove(out: Path, path: Path) -> None:
    """Clear a run directory that is not the run its name says: a complete run of another id
    (copied or renamed by hand) goes to its own directory when that is free, anything else is
    removed, to be trained again."""
    own = stored_run_id(path)
    if own is not None and RUN_ID.fullmatch(own) and own != path.name and not run_dir(out, own).exists():
        try:
            verify_run(path, own)
            path.rename(run_dir(out, own))
            return
        except CorruptRun:  # not a whole run either
            pass
    shutil.rmtree(path)


@dataclass
class Status:
    complete: list[Config]
    failed: list[Config]
    todo: list[Config]
    redone: list[str]  # messages about incomplete or corrupt runs that will be trained again
    reused: list[Config] = field(default_factory=list)  # complete runs copied in from --reuse (in `complete` too)


def survey(out: Path, configs: list[Config], retry_failed: bool) -> Status:
    """Sort the planned runs into complete, failed (kept unless retry_failed) and to do.

    Incomplete or corrupt run directories are removed here, so they are trained again, and so are
    the checkpoints of stacks whose runs are all complete (a kill between saving and removing).
    Scratch files of killed writers go too: of runs, checkpoints, and DIR's own files (plan.json,
    results.parquet, sweep.toml).
    """
    remove_leftovers(out)
    remove_leftovers(out / "runs")
    remove_leftovers(checkpoint_folder(out))
    status = Status([], [], [], [])
    for config in configs:
        run_id = config.run_id()
        path = run_dir(out, run_id)
        if path.exists():
            try:
                verify_run(path, run_id)
                status.complete.append(config)
                failure_file(out, run_id).unlink(missing_ok=True)  # finished after all
                continue
            except CorruptRun as error:
                status.redone.append(str(error))
                _move_or_remove(out, path)
        if failure_file(out, run_id).exists() and not retry_failed:
            status.failed.append(config)
        else:
            failure_file(out, run_id).unlink(missing_ok=True)
            status.todo.append(config)
    remove_dead_checkpoints(out, {c.run_id() for c in status.complete})
    return status


def remove_dead_checkpoints(out: Path, complete: set[str]) -> None:
    """Remove the checkpoints of stacks holding a complete run: a stack resumes only whole
    (`_resumed_tasks`), so such a checkpoint never would (a kill between saving a stack's runs,
    or a run reused from elsewhere); its other runs start again in a new stack."""
    for path, run_ids in stored_stacks(checkpoint_folder(out)).items():
        if complete.intersection(run_ids):
            path.unlink(missing_ok=True)


def check_reuse_sources(out: Path, sources: Sequence[Path]) -> None:
    """Refuse, in one line, a --reuse that is not a sweep directory or a `toydd train` run, or is --out itself."""
    for source in sources:
        if not source.is_dir():
            raise ConfigError(f"--reuse {source}: not a directory")
        if not is_sweep_dir(source) and stored_run_id(source) is None:
            raise ConfigError(f"--reuse {source}: neither a toydd sweep directory nor a toydd run")
        if out.exists() and source.resolve() == out.resolve():
            raise ConfigError(f"--reuse {source}: is --out itself")


def reusable_runs(configs: list[Config], sources: Sequence[Path]) -> tuple[dict[str, Path], list[str]]:
    """The complete runs of `configs` that `sources` hold (in a sweep directory's runs/, or a
    `toydd train` run directory itself), by run id, the first source first; and a note for each
    candidate left out (it is trained instead): one that fails verification or cannot be read,
    or one that records other history points or snapshots than planned (fields outside the id,
    but the report's figures read them). A run id hashes every field that determines a run's
    numbers, so a complete run of the same id is this run; which engine trained it is in its
    row, for `check_engines`."""
    planned = {c.run_id(): c for c in configs}
    found: dict[str, Path] = {}
    notes: list[str] = []
    for source in sources:
        if is_sweep_dir(source):
            candidates = [(r, run_dir(source, r)) for r in sorted(planned) if run_dir(source, r).is_dir()]
        else:
            candidates = [(stored_run_id(source), source)] if stored_run_id(source) in planned else []
        for run_id, path in candidates:
            if run_id in found:
                continue
            try:
                verify_run(path, run_id)
                recorded = load_config(path)
            except (CorruptRun, OSError) as error:
                notes.append(f"not reused: {error}")
                continue
            wanted = planned[run_id]
            if (recorded.history_points, recorded.snapshots) != (wanted.history_points, wanted.snapshots):
                notes.append(
                    f"not reused: {path} records history_points = {recorded.history_points}, snapshots = {str(recorded.snapshots).lower()}; "
                    f"the plan has {wanted.history_points}, {str(wanted.snapshots).lower()}"
                )
                continue
            found[run_id] = path
    return found, notes


def _keep_resumable_stacks(out: Path, todo: list[Config], found: dict[str, Path]) -> list[str]:
    """Take out of `found` the runs of a stack that a checkpoint resumes (all its runs to do),
    unless all of them were found: reusing some would start the others again from step 0.
    Returns a note for each run kept training."""
    by_id = {c.run_id(): c for c in todo}
    notes = []
    for path, run_ids in stored_stacks(checkpoint_folder(out)).items():
        taken = [r for r in run_ids if r in found]
        if not taken or len(taken) == len(run_ids) or not set(run_ids) <= by_id.keys():
            continue
        stack = [by_id[r] for r in run_ids]  # resumed only if written for this job: this toydd, engine and device
        if path.stem == checkpoint_key(stack, *engine_identity(stack[0])):
            for run_id in taken:
                del found[run_id]
                notes.append(f"not reused: run {run_id} resumes with its stack from {path} (remove that file to reuse it instead)")
    return notes


def check_sweep_out(out: Path, writes: tuple[str, ...] = ()) -> None:
    """Refuse an --out that a sweep would spoil: a file, a `toydd train` run, a runs/ folder of
    other things, or a folder that is not a sweep's holding one of `writes` (the files the command
    writes besides a sweep's own: `reproduce` writes sweep.toml, report.html and figures/). A
    folder holding the sweep file and notes is fine: `toydd sweep DIR/sweep.toml --out DIR`."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: not a directory")
    if not out.is_dir() or is_sweep_dir(out):
        return
    if written_by_toydd(out):  # not a sweep's (above), so a run's
        raise ConfigError(f"--out {out}: a toydd train run, not a sweep directory; choose a new or empty directory")
    if (out / "runs").exists():
        raise ConfigError(f"--out {out}: its runs/ holds more than toydd run directories; choose a new or empty directory")
    clash = [name for name in writes if (out / name).exists()]
    if clash:
        raise ConfigError(f"--out {out}: not a toydd sweep directory, and this would overwrite its {clash[0]}; choose a new or empty directory")


def runs_outside_plan(out: Path, configs: list[Config]) -> list[str]:
    """Run directories in DIR/runs that no config of `configs` plans: kept on disk, left out of
    results.parquet (a narrowed preset, or another sweep's runs)."""
    planned = {c.run_id() for c in configs}
    folder = out / "runs"
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in planned) if folder.is_dir() else []


def plan_file(out: Path) -> Path:
    return out / "plan.json"


def write_plan(out: Path, configs: list[Config], sweep_text: str | None = None) -> None:
    """DIR/plan.json: the configs of every planned run, so that `toydd status` knows the whole
    sweep, and the sweep file (or preset) that planned them, for the report."""
    record = {"format": 1, "written": time.strftime("%Y-%m-%d %H:%M"), "runs": [c.to_dict() for c in configs]}
    if sweep_text is not None:
        record["sweep"] = sweep_text
    write_atomic(plan_file(out), json.dumps(record).encode())


def planned_sweep_text(out: Path) -> str | None:
    """The sweep file or preset text that last planned DIR (plan.json), or None where none was
    recorded (a plan of an older toydd, or of `run_sweep` called without it)."""
    try:
        text = json.loads(plan_file(out).read_text()).get("sweep")
    except (OSError, ValueError, AttributeError):
        return None
    return text if isinstance(text, str) else None


def read_plan(out: Path) -> tuple[list[Config], str]:
    """The planned configs of DIR/plan.json and when they were last planned (each sweep or
    reproduce on DIR plans again, resuming included)."""
    path = plan_file(out)
    if not path.is_file():
        raise CorruptRun(f"{path}: no plan here (`toydd sweep` and `toydd reproduce` write it when they start)")
    try:
        record = json.loads(path.read_text())
        return [Config.from_dict(c) for c in record["runs"]], str(record["written"])
    except (ValueError, KeyError, TypeError, ConfigError) as error:
        raise CorruptRun(f"{path}: unreadable plan ({type(error).__name__}: {error})") from None


@dataclass
class StackProgress:
    """A stack that a checkpoint resumes: its runs, the step it resumes at, the steps its models
    have taken in all, its training so far."""

    configs: list[Config]
    step: int
    steps_done: int
    seconds: float

    @property
    def seconds_left(self) -> float | None:
        """Training left at the stack's pace so far (seconds per model step), None before a step."""
        total = sum(c.steps * c.restarts for c in self.configs)  # a run's restarts are models of its stack
        return self.seconds / self.steps_done * (total - self.steps_done) if self.steps_done else None


@dataclass
class SweepProgress:
    planned: list[Config]
    planned_at: str
    complete: list[Config]
    failed: list[Config]
    in_progress: list[StackProgress]
    estimated_seconds: float  # core-seconds of every modelled planned run (`_presets.modelled`)
    remaining_seconds: float  # of the modelled runs not complete or failed, less what the checkpoints hold
    corrupt: list[Config] = field(default_factory=list)  # not complete, but with a run directory that fails verification
    # checkpoints this plan does not resume (an earlier plan's stack, another toydd's): kept, since
    # the plan that wrote them resumes them, but space a user may want back
    idle_checkpoints: list[Path] = field(default_factory=list)

    @property
    def unmodelled(self) -> int:
        """Planned torch runs: the cost model leaves them out of both estimates."""
        return sum(not modelled(c) for c in self.planned)

    @property
    def failed_seconds(self) -> float:
        """Core-seconds of the failed runs: not in `remaining_seconds` (a sweep skips them); at
        most what `--retry-failed` would add (a failed stack's checkpoint, if any, is resumed)."""
        return modelled_seconds(self.failed)

    @property
    def resuming(self) -> int:
        """Runs in progress: in a stack that a checkpoint resumes."""
        return sum(len(stack.configs) for stack in self.in_progress)

    @property
    def not_started(self) -> int:
        return len(self.planned) - len(self.complete) - len(self.failed) - self.resuming


def sweep_progress(out: Path) -> SweepProgress:
    """Where the sweep in `out` stands, read only (unlike `survey`, nothing is removed): which
    planned runs are complete, failed and in progress at a checkpoint, and the estimated training
    time left."""
    out = Path(out)
    planned, planned_at = read_plan(out)
    by_id = {c.run_id(): c for c in planned}
    stored = {c.run_id() for c in planned if run_dir(out, c.run_id()).is_dir()}  # before verifying: a run saved meanwhile is not corrupt
    complete = [c for c in planned if c.run_id() in stored and is_complete(out, c.run_id())]
    done = {c.run_id() for c in complete}
    failed = [c for c in planned if c.run_id() not in done and failure_file(out, c.run_id()).exists()]
    settled = done | {c.run_id() for c in failed}
    in_progress, fraction_left, idle = [], {}, []
    for path, (run_ids, step, steps_done, seconds) in stored_progress(checkpoint_folder(out)).items():
        # only what a sweep resumes (`_resumed_tasks`, then the key): every run of the stack
        # still to train, none claimed by another checkpoint, and this toydd; the rest (another
        # version's, a stack partly complete) start again from step 0. Any engine and device: the
        # machine reading the status need not be the one that trains (a GPU sweep's login node)
        if len(set(run_ids)) != len(run_ids) or not all(r in by_id and r not in settled and r not in fraction_left for r in run_ids):
            if done.isdisjoint(run_ids):  # one holding a complete run the next sweep removes (`remove_dead_checkpoints`)
                idle.append(path)
            continue
        configs = [by_id[r] for r in run_ids]
        if path.stem not in {checkpoint_key(configs, engine, device) for engine, device in ENGINE_IDENTITIES}:
            idle.append(path)
            continue
        in_progress.append(StackProgress(configs, step, steps_done, seconds))
        fraction_left.update({c.run_id(): max(0.0, 1.0 - step / c.steps) for c in configs})
    remaining = sum(run_seconds(c) * fraction_left.get(c.run_id(), 1.0) for c in planned if c.run_id() not in settled and modelled(c))
    corrupt = [c for c in planned if c.run_id() in stored and c.run_id() not in settled]
    return SweepProgress(planned, planned_at, complete, failed, in_progress, modelled_seconds(planned), remaining, corrupt, idle)


def check_engines(out: Path, stored: list[tuple[Config, dict]], todo: list[Config], allow_mixed: bool, adding: bool = False) -> None:
    """Refuse, in one line, to mix engines or devices in one sweep (float32 trajectories differ
    between them): when a stored run (its config and its row of the results table) was trained by
    another engine or device than would train it now, or when a run to train names an engine that
    trained none of the stored runs. Runs that "auto" gives different engines by the same rule
    (`_engines.TREE_SETTINGS`, and on CUDA `TREE_OVER_CUDA_SETTINGS`: the tree from some T on) are no mix; a stored run that a newer rule
    would give another engine is. With allow_mixed the mix goes ahead
    and is recorded in DIR/engines.json. With nothing to train the stored runs stand as they
    are, unless runs are `adding` (copied in by --reuse), which are checked like runs trained."""
    if not stored or not (todo or adding):
        return
    have, changed = set(), set()
    for config, row in stored:
        device = row.get("device") if isinstance(row.get("device"), str) else None
        have.add((row.get("engine"), device))
        now = engine_identity(config)
        if now[0] != row.get("engine") or (device is not None and now[1] != device):
            changed.add(now)
    for config in {(c.engine, c.device): c for c in todo if c.engine != "auto"}.values():
        wanted = engine_identity(config)
        if wanted not in have and (wanted[0], None) not in have:
            changed.add(wanted)
    new = sorted(changed)
    if not new:
        return
    named = ", ".join(f"{engine} on {device or 'an unrecorded device'}" for engine, device in sorted(have, key=str))
    if not allow_mixed:
        raise ConfigError(
            f"{out}: stored{' and reused' if adding else ''} runs were trained by engine {named}; this would train with engine {new[0][0]} on {new[0][1]}, "
            "whose float32 numbers differ (set engine and device to match: in the sweep file, or `--set engine=...` for reproduce; "
            "or pass --allow-mixed-engines)"
        )
    path = out / "engines.json"
    record = _engines_record(path)
    record["mixed"].append({"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "stored": sorted(map(list, have), key=str), "added": [list(w) for w in new]})
    write_atomic(path, json.dumps(record, indent=2).encode())


def _engines_record(path: Path) -> dict:
    """DIR/engines.json's record of mixes ({"mixed": [...]}), empty when there is none yet."""
    if not path.is_file():
        return {"mixed": []}
    try:
        record = json.loads(path.read_text())
        if isinstance(record, dict) and isinstance(record.get("mixed"), list):
            return record
    except ValueError:
        pass
    raise CorruptRun(f"{path}: unreadable record of mixed engines (expected {{\"mixed\": [...]}}); move it aside to start a new one")


# --- planning ----------------------------------------------------------------------------------


def plan_tasks(configs: list[Config], workers: int, threads: int, checkpoint_every: int = 0, resumable=()) -> list[Task]:
    """Group runs that can share a stack, split groups so every worker has work, order the
    tasks by estimated seconds (`Task.estimated_seconds`), largest first, so that the longest
    stacks do not start last and leave the other workers idle at the end. A group estimated at
    more than a worker's share of the whole (the sum over `configs` over `workers`) is split too,
    into as few near-equal pieces as bring each under it: one stack of the envelope's five
    T = 1,000,000 runs would hold a worker longer than all the other runs hold the other.

    `resumable` lists the run ids of stacks with a checkpoint: each whose runs are all planned
    becomes the same task again, so that it resumes however the rest is grouped now.
    """
    tasks, claimed = _resumed_tasks(configs, resumable, threads, checkpoint_every)
    groups: dict[str, list[Config]] = {}
    for config in configs:
        if config.run_id() not in claimed:
            groups.setdefault(stack_key(config), []).append(config)
    total_models = sum(c.restarts for c in configs)
    spread = max(1, math.ceil(total_models / max(1, workers)))
    share = sum(map(run_seconds, configs)) / max(1, workers)
    for group in groups.values():
        c = group[0]
        per_model = 4 * (c.n_hidden + 1) * c.n_features * (c.history_points + 8)
        limit = max(1, min(MAX_MODELS_PER_TASK, int(MAX_TASK_BYTES // per_model)))  # what one stack may hold
        models = sum(p.restarts for p in group)
        pieces = max(math.ceil(models / limit), math.ceil(models / spread))
        if workers > 1 and share > 0:
            pieces = max(pieces, math.ceil(sum(map(run_seconds, group)) / share))
        for piece in _split(group, pieces, limit):
            tasks.append(Task(tuple(p.to_dict() for p in piece), threads, checkpoint_every))
    return sorted(tasks, key=lambda t: -t.estimated_seconds)


def _split(group: list[Config], pieces: int, limit: int) -> list[list[Config]]:
    """`group` in consecutive pieces of near-equal models (restarts), about `pieces` of them, none
    over `limit` models unless one run alone is (a piece ends once it reaches its share of the
    models, or before a run that would take it over the limit)."""
    total = sum(c.restarts for c in group)
    out: list[list[Config]] = [[]]
    held = done = 0  # models in the current piece, and in the pieces before it
    for config in group:
        if out[-1] and (held + config.restarts > limit or done + held >= total * len(out) / pieces):
            out.append([])
            done, held = done + held, 0
        out[-1].append(config)
        held += config.restarts
    return out


def _resumed_tasks(configs: list[Config], resumable, threads: int, checkpoint_every: int) -> tuple[list[Task], set[str]]:
    """Tasks re-forming the stacks of `resumable` (run id tuples) whose runs are all in `configs`,
    and the run ids they claim."""
    by_id = {c.run_id(): c for c in configs}
    tasks, claimed = [], set()
    for run_ids in resumable:
        if len(set(run_ids)) == len(run_ids) and all(r in by_id and r not in claimed for r in run_ids):
            tasks.append(Task(tuple(by_id[r].to_dict() for r in run_ids), threads, checkpoint_every))
            claimed.update(run_ids)
    return tasks, claimed


# --- the work of one task (runs on any executor's worker) ---------------------------------------


def run_task(task: Task, out: str, stop_poll=None) -> list[Outcome]:
    """Train the task's runs that are not complete yet and save each one. A run that diverges,
    or a stack that crashes, is recorded as failed rather than raised. The stack resumes from
    its checkpoint in DIR/checkpoints and writes it as it trains; SIGTERM, SIGUSR2, SIGHUP or
    Ctrl-C, or a stop that `stop_poll` reports (`StopSignals`), stops it at a checkpoint, and its
    runs come back as interrupted (not failed)."""
    from ._train import train_runs

    out = Path(out)
    outcomes, todo = [], []
    for config in (Config.from_dict(c) for c in task.configs):
        if is_complete(out, config.run_id()):
            outcomes.append(Outcome(config.run_id(), True))
        else:
            todo.append(config.replace(threads=task.threads))
    if not todo:
        return outcomes
    try:
        checkpoint = stack_checkpoint(todo, folder=checkpoint_folder(out), every_steps=task.checkpoint_every)
        with StopSignals(poll=stop_poll):
            results = train_runs(todo, raise_divergence=False, checkpoint=checkpoint)
    except Interrupted as stop:
        return outcomes + [Outcome(c.run_id(), False, str(stop), interrupted=stop.signum) for c in todo]
    except Exception as error:  # a crash of the whole stack fails each of its runs, with the reason
        reason = f"{type(error).__name__}: {error}"
        detail = traceback.format_exc()
        return outcomes + [record_failure(out, c, reason, detail) for c in todo]
    for config, result in zip(todo, results):
        if isinstance(result, Exception):
            outcomes.append(record_failure(out, config, f"diverged: {result}"))
        else:
            outcomes.append(_save(out, config, result))
    checkpoint.remove()
    return outcomes


def _save(out: Path, config: Config, result) -> Outcome:
    run_id = config.run_id()
    try:
        save_run(result, run_dir(out, run_id))
    except Exception:
        if not is_complete(out, run_id):  # another worker finished it first: that copy stands
            raise
    failure_file(out, run_id).unlink(missing_ok=True)
    return Outcome(run_id, True)


def record_failure(out: Path, config: Config, reason: str, detail: str = "") -> Outcome:
    """Write DIR/failed/<run_id>.json, unless the run is complete after all (then it succeeded)."""
    if is_complete(out, config.run_id()):
        return Outcome(config.run_id(), True)
    payload = {"run_id": config.run_id(), "reason": reason, "detail": detail, "config": config.to_dict()}
    write_atomic(failure_file(out, config.run_id()), json.dumps(payload, indent=2).encode())
    return Outcome(config.run_id(), False, reason)


# --- the results table -------------------------------------------------------------------------


def result_row(path: Path) -> dict:
    """One row of results.parquet from a complete run directory: config.json and metrics.json only.

    Nothing is hashed here. What is verified, and when: `survey` checks every stored run against
    its manifest (size and sha256 of every file) once, when a sweep starts or resumes; a worker's
    `run_task` does the same before it skips a run as complete; a run a worker has just saved was
    written with its manifest from those very bytes. The table, rebuilt after every task, trusts
    those checks instead of re-hashing every run's files each time.
    """
    path = Path(path)
    try:
        header = json.loads((path / "config.json").read_text())
        config = Config.from_dict(header["config"])
        metrics = nan_for_null(json.loads((path / "metrics.json").read_text()))
        if not isinstance(metrics, dict):
            raise TypeError(f"metrics.json holds a {type(metrics).__name__}, not an object")
    except (OSError, ValueError, KeyError, TypeError, ConfigError) as error:
        raise CorruptRun(f"{path}: unreadable config.json or metrics.json ({type(error).__name__}: {error})") from None
    row = {"run_id": header.get("run_id", ""), **config.to_dict()}
    row["dataset_size"] = config.dataset_size_number
    for key, value in metrics.items():
        row[key] = json.dumps(strict_json(value), allow_nan=False) if isinstance(value, list) else value
    return row


def write_results(out: Path, rows: list[dict]) -> Path:
    """results.parquet from the given rows, sorted by config, written atomically."""
    table = pd.DataFrame(rows)
    # one column order whichever run comes first: the config, then the measurements by name (runs
    # differ in which they have: infinite data has no clusters, only repeated data has repeats)
    settings = ["run_id", *Config.__dataclass_fields__]
    table = table[[c for c in settings if c in table] + sorted(c for c in table if c not in settings)]
    if len(table):
        order = [c for c in ("n_features", "sparsity", "n_hidden", "dataset_size", "data_seed", "init_seed", "lr", "weight_decay", "steps") if c in table]
        table = table.sort_values(order + ["run_id"], kind="stable").reset_index(drop=True)
    path = out / "results.parquet"
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), sink)
    write_atomic(path, sink.getvalue().to_pybytes())
    return path


# The config columns every results table has had (newer fields may be absent in older tables).
RESULT_CONFIG_COLUMNS = ("n_features", "sparsity", "dataset_size", "n_hidden", "steps", "data_seed", "init_seed")


def read_results(out: Path) -> pd.DataFrame:
    path = Path(out) / "results.parquet"
    if not path.is_file():
        raise CorruptRun(f"{path}: no results here (run `toydd sweep` first)")
    try:
        table = pd.read_parquet(path)
    except Exception as error:
        raise CorruptRun(f"{path}: unreadable ({type(error).__name__})") from None
    # a table with rows has each run's id and config (`result_row`): figures and claims group by them
    missing = [name for name in ("run_id", *RESULT_CONFIG_COLUMNS) if name not in table.columns]
    if len(table) and missing:
        raise CorruptRun(f"{path}: not a toydd results table (no column '{missing[0]}')")
    return table


def row_config(row: pd.Series) -> Config | None:
    """The Config a results row was trained with, or None where the row cannot make one (a missing
    or empty value, an older toydd's columns). Results store T as a float (inf for infinite data),
    an integer column with a gap as floats, and numpy scalars."""
    values = {}
    try:
        for name, kind in CONFIG_TYPES.items():
            if name not in row.index:
                continue
            value = row[name].item() if isinstance(row[name], np.generic) else row[name]
            if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
                return None
            if name == "dataset_size":
                value = "inf" if value == np.inf else int(value)
            elif kind == "int" and isinstance(value, float) and value.is_integer():
                value = int(value)
            values[name] = value
        return Config.from_dict(values)
    except (ConfigError, TypeError, ValueError, OverflowError):
        return None


# --- the driver --------------------------------------------------------------------------------


@dataclass
class SweepReport:
    planned: int
    already_complete: int
    trained: int
    failed: list[Outcome]
    redone: list[str]
    interrupted: list[Outcome]
    outside_plan: list[str]  # run directories kept from an earlier, other plan (`runs_outside_plan`)
    reused: int = 0  # of already_complete: copied in from --reuse
    not_run: int = 0  # runs of the tasks that ended reporting no outcome for them (stopped before they began, cancelled)


def run_sweep(
    configs: list[Config],
    out: str | Path,
    execute: Callable[[list[Task], str, Callable[[Task, list[Outcome]], None]], None],
    workers: int,
    threads: int,
    retry_failed: bool = False,
    on_start: Callable[[Status, list[Task], int], None] | None = None,
    on_task_done: Callable[[Task, list[Outcome]], None] | None = None,
    checkpoint_every: int = 0,
    allow_mixed_engines: bool = False,
    reuse: Sequence[Path] = (),
    sweep_text: str | None = None,
) -> SweepReport:
    """Train every run of `configs` not complete in `out` with `execute`; resumable at any point.
    Runs complete in a `reuse` directory (`reusable_runs`) are copied in instead of trained.
    `sweep_text` (the sweep file or preset that planned `configs`) is kept in DIR/plan.json.

    on_start(status, tasks, resuming) learns how many runs resume from checkpoints.
    """
    out = Path(out)
    check_sweep_out(out)
    check_reuse_sources(out, reuse)
    created = not out.is_dir()
    out.mkdir(parents=True, exist_ok=True)  # the lock lives in DIR: taken before anything in DIR is touched
    with sweep_lock(out):  # one driver at a time: a second would train the same runs again
        try:
            status = survey(out, configs, retry_failed)
            rows = {c.run_id(): result_row(run_dir(out, c.run_id())) for c in status.complete}
            found, notes = reusable_runs(status.todo + status.failed, reuse)
            status.redone += notes + _keep_resumable_stacks(out, status.todo, found)
            reused = [c for c in status.todo + status.failed if c.run_id() in found]
            rows.update({c.run_id(): result_row(found[c.run_id()]) for c in reused})
            todo = [c for c in status.todo if c.run_id() not in found]
            check_engines(out, [(c, rows[c.run_id()]) for c in status.complete + reused], todo, allow_mixed_engines, adding=bool(reused))
        except (ConfigError, CorruptRun):
            if created:  # a refused sweep leaves no DIR behind, not even its lock (the open lock file unlinks)
                (out / LOCK_NAME).unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    out.rmdir()
            raise
        (out / "runs").mkdir(exist_ok=True)  # accepted
        write_plan(out, configs, sweep_text)
        for config in reused:  # copied only now, so that a refused sweep leaves DIR as it was
            try:
                copy_run(found[config.run_id()], run_dir(out, config.run_id()), config.run_id())
            except (CorruptRun, OSError) as error:  # changed or unreadable since it was checked: trained instead
                status.redone.append(f"not reused: {error}")
                del rows[config.run_id()]
                continue
            failure_file(out, config.run_id()).unlink(missing_ok=True)
            status.reused.append(config)
        copied = {c.run_id() for c in status.reused}
        status.complete += status.reused
        status.todo = [c for c in status.todo if c.run_id() not in copied]
        status.failed = [c for c in status.failed if c.run_id() not in copied]
        remove_dead_checkpoints(out, copied)
        resumable = list(stored_stacks(checkpoint_folder(out)).values())
        tasks = plan_tasks(status.todo, workers, threads, checkpoint_every, resumable)
        write_results(out, list(rows.values()))
        failed: list[Outcome] = []
        interrupted: list[Outcome] = []
        trained = not_run = 0
        if on_start is not None:
            on_start(status, tasks, len(_resumed_tasks(status.todo, resumable, threads, checkpoint_every)[1]))

        def done(task: Task, outcomes: list[Outcome]) -> None:
            nonlocal trained, not_run
            not_run += len(task.configs) - len(outcomes)
            for outcome in outcomes:
                if outcome.ok:
                    rows[outcome.run_id] = result_row(run_dir(out, outcome.run_id))
                    trained += 1
                elif outcome.interrupted:
                    interrupted.append(outcome)
                else:
                    failed.append(outcome)
            write_results(out, list(rows.values()))
            if on_task_done is not None:
                on_task_done(task, outcomes)

        if tasks:
            execute(tasks, str(out), done)
    return SweepReport(len(configs), len(status.complete), trained, failed, status.redone, interrupted, runs_outside_plan(out, configs), len(status.reused), not_run)


@contextlib.contextmanager
def sweep_lock(out: Path):
    """Hold DIR/.toydd.lock (an advisory lock, released when this process ends however it ends)
    while a sweep drives DIR; refuse, in one line, when another process holds it. On a file
    system without locks (some network mounts) the sweep goes on unguarded, with a note."""
    with open(out / LOCK_NAME, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            locked = True
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            raise ConfigError(f"{out}: a sweep is already running on it ({holder}); wait for it, or stop it, before starting another") from None
        except OSError as error:
            print(f"note: {out}: no file lock here ({error.strerror}); nothing stops a second sweep on it", file=sys.stderr, flush=True)
            locked = False
        if locked:
            lock.seek(0)
            lock.truncate()
            lock.write(f"pid {os.getpid()} on {socket.gethostname()}")
            lock.flush()
        try:
            yield
        finally:
            if locked:
                fcntl.flock(lock, fcntl.LOCK_UN)


def lock_holder(out: Path) -> str | None:
    """Who drives the sweep in `out` now, as its lock file names it ("pid 123 on host"), or None
    when no process on this machine holds the lock. Read from the kernel's table of locks
    (/proc/locks) without touching the lock, so a sweep starting meanwhile is never refused on
    status's account. Where there is no such table, or the sweep runs on another machine of a
    shared file system, it says None."""
    path = Path(out) / LOCK_NAME
    try:
        stat = path.stat()
        table = Path("/proc/locks").read_text()
    except OSError:
        return None
    for line in table.splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 17014 fe:00:5457472 0 EOF" (blocked waiters add "->"; on NFS
        # the kernel takes flock as a POSIX lock and lists it so)
        if len(fields) < 6 or fields[1] not in ("FLOCK", "POSIX") or fields[3] != "WRITE":
            continue
        try:
            major, minor, inode = fields[5].split(":")
            held = (int(major, 16), int(minor, 16), int(inode)) == (os.major(stat.st_dev), os.minor(stat.st_dev), stat.st_ino)
        except ValueError:
            continue
        if held:
            return path.read_text().strip() or f"pid {fields[4]}"
    return None


def failure_reasons(out: Path, configs: list[Config]) -> dict[str, str]:
    """run_id -> reason for each run of `configs` recorded as failed. (A record never outlives
    its run's completion: `survey`, `_save` and `record_failure` see to that.)"""
    reasons = {}
    for config in configs:
        path = failure_file(Path(out), config.run_id())
        if not path.exists():
            continue
        try:
            reasons[path.stem] = str(json.loads(path.read_text())["reason"])
        except (ValueError, KeyError, TypeError):  # not JSON, no reason, or JSON of another shape
            reasons[path.stem] = "(unreadable failure record)"
    return reasons


