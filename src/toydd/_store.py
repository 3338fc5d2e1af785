"""A run directory on disk: written atomically, verified when read.

Layout (all open formats):
    config.json              {"toydd_version", "run_id", "config": {...every field...}}
    model.safetensors        W float32/float64 (m, n), b (n,); metadata: run_id, version
    train_set.safetensors    indptr int64 (T+1,), indices int64 (nnz,), values float32 (nnz,)
                             (absent for infinite data)
    metrics.json             scalar measurements, restart losses, engine, wall time (strict
                             JSON: a measurement that does not exist, NaN, is written null)
    history.parquet          step, lr and scalar metrics at log-spaced steps
    features.parquet         feature, dimensionality, norm, bias            (n rows)
    examples.parquet         example, dimensionality, max_dimensionality, norm, loss,
                             active_features                                (T rows)
    snapshots.safetensors    steps (P,), W (P, m, n), b (P, n)  (only with snapshots = true)
    manifest.json            size and sha256 of every file above, written last

Everything is written into a hidden sibling directory that is renamed into place at the end, so
a kill at any moment leaves either the complete run or none.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
from safetensors import safe_open
from safetensors.numpy import save

from ._config import INF, Config, ConfigError
from ._data import SparseRows

MANIFEST = "manifest.json"
FORMAT_VERSION = 1

# Files every run has; train_set.safetensors and examples.parquet exist for a finite training set
# only, snapshots.safetensors with snapshots = true only (`_required_files`).
ALWAYS_FILES = ("config.json", "model.safetensors", "metrics.json", "history.parquet", "features.parquet")

# The config fields every config.json has had since the first format: one absent was removed by
# hand, and Config would fill in its default silently. Fields added later (repeated_points,
# repeats, restart_rule, lr_schedule, gradient_chunks, matmul_precision, and any to come) may be
# absent from older runs; at their defaults they keep those runs' ids (Config.run_id).
CONFIG_KEYS_OF_FORMAT_1 = frozenset({
    "n_features", "sparsity", "normalize", "dataset_size", "batch_size", "test_size", "data_seed", "test_seed",
    "n_hidden", "init", "init_scale", "init_seed", "feature_reduction", "steps", "lr", "warmup_fraction",
    "weight_decay", "decay_bias", "beta1", "beta2", "eps", "restarts", "engine", "device", "dtype", "threads",
    "history_points", "snapshots",
})  # fmt: skip


class CorruptRun(ValueError):
    """A run directory is incomplete, edited or unreadable; the message names the file."""


def _version() -> str:
    from . import __version__

    return __version__


# How errors name the destination and the overwrite switch: save_run's arguments from Python,
# `toydd train`'s options from the command line.
PYTHON_NAMES = ("out", "overwrite=True")
COMMAND_NAMES = ("--out", "--overwrite")


def check_out(out: str | os.PathLike, overwrite: bool = False, names: tuple[str, str] = PYTHON_NAMES) -> Path:
    """Raise ConfigError unless `out` can receive a run: absent, empty, or, with overwrite, a
    run directory toydd wrote, in a folder toydd can write. Anything else is never deleted: a
    sweep's directory (hours of runs) no more than a user's. `names`: how the message names the
    destination and the overwrite switch."""
    out, (where, switch) = Path(out), names
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{where} {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise ConfigError(f"{where} {out} exists and is not empty (use {switch} to replace it)")
        if is_sweep_dir(out) or (out / "runs").is_dir():  # a runs/ of other things too: never a run's
            raise ConfigError(f"{where} {out} is a sweep directory: {switch} replaces only a run's directory, nothing was deleted")
        if not written_by_toydd(out):
            raise ConfigError(f"{where} {out} is not a toydd run directory: {switch} replaces only those, nothing was deleted")
    _check_writable_parent(out, where)
    return out


def _check_writable_parent(out: Path, where: str) -> None:
    """Raise ConfigError unless out's parent is, or can be made, a directory that takes a new one:
    `train` checks this before training, not when saving hours later. Creating a scratch directory
    is the test (os.access says yes to root even where nothing can be created, as in /proc)."""
    parent = out.parent
    existing = next((p for p in (parent, *parent.parents) if p.exists()), parent)  # the nearest that exists
    if not existing.is_dir():
        raise ConfigError(f"{where} {out}: {existing} is not a directory")
    probe = parent / f".{out.name}{_scratch_suffix('tmp')}"  # a writer's name: remove_leftovers knows it
    try:
        parent.mkdir(parents=True, exist_ok=True)
        probe.mkdir()
        probe.rmdir()
    except OSError as error:
        raise ConfigError(f"{where} {out}: cannot create a directory in {parent} ({error.strerror or error})") from None


def written_by_toydd(folder: Path) -> bool:
    """True for a run directory (its config.json or manifest.json is toydd's) or a sweep directory
    (results.parquet next to runs/)."""
    if (folder / "results.parquet").is_file() and (folder / "runs").is_dir():
        return True
    header, manifest = _read_json(folder / "config.json"), _read_json(folder / MANIFEST)
    return ("toydd_version" in header and "run_id" in header) or (manifest.get("format") == FORMAT_VERSION and "files" in manifest)


RUN_ID = re.compile(r"[0-9a-f]{16}")  # `Config.run_id`: the name of a sweep's run directory


def is_sweep_dir(out: Path) -> bool:
    """A sweep's directory: its plan or results table, or a runs/ folder of run directories only."""
    if (out / "plan.json").exists() or (out / "results.parquet").exists():
        return True
    runs = out / "runs"
    return runs.is_dir() and all(RUN_ID.fullmatch(p.name) or p.name.startswith(".") for p in runs.iterdir())


def stored_run_id(path: Path) -> str | None:
    """The run id that a run directory's config.json names, or None."""
    run_id = _read_json(path / "config.json").get("run_id")
    return run_id if isinstance(run_id, str) else None


def _read_json(path: Path) -> dict:
    """The JSON object in `path`, or {} when it is absent, unreadable or not an object."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def save_run(result, out: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write `result` (a RunResult) to directory `out` atomically; returns the path."""
    return write_run(result, check_out(out, overwrite))


def write_run(result, out: Path) -> Path:
    """Write `result` to `out`, which `check_out` has passed: all its files or, after a kill at
    any moment, none (a scratch directory renamed onto `out`)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}{_scratch_suffix('tmp')}"
    tmp.mkdir()
    try:
        _write_files(result, tmp)
        _replace_dir(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def copy_run(source: Path, out: Path, run_id: str) -> None:
    """Copy the complete run `run_id` from directory `source` to `out` atomically: into a
    writer-named scratch directory, each file synced, verified as that run, then renamed. Where
    `out` holds that run complete already (another process got there first), it stands."""
    tmp = out.parent / f".{out.name}{_scratch_suffix('tmp')}"
    try:
        shutil.copytree(source, tmp)
        for file in (p for p in tmp.iterdir() if p.is_file()):
            with open(file, "rb") as f:
                os.fsync(f.fileno())
        try:
            verify_run(tmp, run_id)
        except CorruptRun as error:  # the scratch copy's name means nothing to a user
            raise CorruptRun(f"{source}: changed while being copied ({error})") from None
        if out.is_dir() and any(out.iterdir()):
            try:
                verify_run(out, run_id)
                return
            except CorruptRun:
                pass
        _replace_dir(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _write_files(result, folder: Path) -> None:
    cfg: Config = result.config
    run_id = cfg.run_id()
    meta = {"run_id": run_id, "toydd_version": _version()}
    _write_json(folder / "config.json", {"toydd_version": _version(), "run_id": run_id, "config": cfg.to_dict()})
    _save_tensors(folder / "model.safetensors", {"W": np.ascontiguousarray(result.W), "b": np.ascontiguousarray(result.b)}, meta)
    if result.train_set is not None:
        rows = result.train_set
        _save_tensors(folder / "train_set.safetensors", {"indptr": rows.indptr, "indices": rows.indices, "values": rows.values}, meta)
    _write_json(folder / "metrics.json", result.metrics)
    pq.write_table(pa.table(result.history), folder / "history.parquet")
    features = {"feature": np.arange(cfg.n_features), **result.measurements.features}
    pq.write_table(pa.table(features), folder / "features.parquet")
    if result.measurements.examples:
        n_rows = len(next(iter(result.measurements.examples.values())))
        pq.write_table(pa.table({"example": np.arange(n_rows), **result.measurements.examples}), folder / "examples.parquet")
    if result.snapshots is not None:
        W_snap, b_snap = result.snapshots
        steps = np.asarray(result.history["step"], np.int64)
        _save_tensors(folder / "snapshots.safetensors", {"steps": steps, "W": np.ascontiguousarray(W_snap), "b": np.ascontiguousarray(b_snap)}, meta)
    files = {p.name: {"bytes": p.stat().st_size, "sha256": _sha256(p)} for p in sorted(folder.iterdir())}
    _write_json(folder / MANIFEST, {"format": FORMAT_VERSION, "files": files})


def _save_tensors(path: Path, tensors: dict[str, np.ndarray], meta: dict) -> None:
    """A safetensors file written as an ordinary file (readable as the umask allows, like the run's
    other files; safetensors' own writer makes it private to its owner, which hides runs on shared
    storage from the rest of a group)."""
    with open(path, "wb") as f:
        f.write(save(tensors, metadata=meta))
        f.flush()
        os.fsync(f.fileno())


def strict_json(value):
    """`value` with every non-finite float as None. RFC 8259 JSON has no NaN or Infinity: Python
    writes them as bare words that strict parsers (JavaScript's, serde's) refuse, so toydd writes
    null, and `nan_for_null` reads it back. No metric is ever null otherwise."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: strict_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(item) for item in value]
    return value


def nan_for_null(value):
    """The inverse of `strict_json` for metrics: every None (null) as NaN. Older runs' bare NaN
    words read as NaN already."""
    if value is None:
        return float("nan")
    if isinstance(value, dict):
        return {key: nan_for_null(item) for key, item in value.items()}
    if isinstance(value, list):
        return [nan_for_null(item) for item in value]
    return value


def _write_json(path: Path, payload) -> None:
    with open(path, "w") as f:
        json.dump(strict_json(payload), f, indent=2, sort_keys=True, allow_nan=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())


def _replace_dir(tmp: Path, out: Path) -> None:
    """Rename tmp onto out; a previous out (empty, or replaced under --overwrite) is removed."""
    if out.is_dir() and any(out.iterdir()):
        old = out.parent / f".{out.name}{_scratch_suffix('old')}"
        os.rename(out, old)
        os.rename(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        if out.is_dir():
            out.rmdir()
        os.rename(tmp, out)


def _scratch_suffix(kind: str) -> str:
    """".tmp-HOST-PID-RANDOM": names a scratch directory by its writer, so that a cleanup can tell
    the leftovers of a killed process from the work of a live one."""
    return f".{kind}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def remove_leftovers(folder: Path) -> None:
    """Remove scratch directories and files under `folder` whose writer, on this host, is no longer alive."""
    for path in list(folder.glob(".*.tmp-*")) + list(folder.glob(".*.old-*")):
        try:
            host, pid, _ = path.name.split(".tmp-" if ".tmp-" in path.name else ".old-", 1)[1].rsplit("-", 2)
            alive = host != socket.gethostname() or _pid_alive(int(pid))
        except ValueError:
            alive = False
        if not alive and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif not alive:
            path.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    """True if process `pid` runs; a killed process not yet reaped (a zombie) counts as dead."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file through a temporary name and a rename: readers see all of it or none."""
    write_atomic_via(path, lambda scratch: scratch.write_bytes(data))


def write_atomic_via(path: Path, write) -> None:
    """write(scratch) fills a hidden scratch file named after its writer (`remove_leftovers`) and
    ending in path's suffix (writers that choose the format by it); then fsync and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}{_scratch_suffix('tmp')}{path.suffix}")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as error:
        if error.filename is not None and str(error.filename) == str(tmp):  # the scratch name means nothing to a user
            raise OSError(error.errno, error.strerror, str(path)) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class StoredRun:
    """A run read back from disk. Tables are pandas DataFrames; examples is None for T = inf."""

    path: Path
    config: Config
    run_id: str
    W: np.ndarray
    b: np.ndarray
    metrics: dict
    history: pd.DataFrame
    features: pd.DataFrame
    examples: pd.DataFrame | None
    train_set: SparseRows | None

    def snapshots(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(steps (P,), W (P, m, n), b (P, n)) if the run kept snapshots."""
        path = self.path / "snapshots.safetensors"
        if not path.exists():
            raise CorruptRun(f"{path}: this run has no snapshots (train with snapshots = true)")
        data = _read_tensors(path, ("steps", "W", "b"), self.run_id)
        return data["steps"], data["W"], data["b"]


def verify_run(path: str | os.PathLike, run_id: str | None = None) -> dict:
    """Check the manifest against the files; returns the manifest or raises CorruptRun.

    A run is complete when its manifest lists every file the run must have (`_required_files`)
    and each matches its size and sha256: sweeps retrain what fails this (`is_complete`). With
    `run_id` (a sweep's runs/<run_id>), config.json must be that run's: a run copied or renamed
    into another's directory is not taken for it."""
    path = Path(path)
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise CorruptRun(f"{manifest_path}: missing (the run is incomplete)")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        raise CorruptRun(f"{manifest_path}: not a toydd manifest") from None
    files = _manifest_files(manifest_path, manifest)
    _check_listed(manifest_path, files, ALWAYS_FILES)
    for name, expected in files.items():
        file = path / name
        if not file.is_file():
            raise CorruptRun(f"{file}: missing")
        if file.stat().st_size != expected["bytes"] or _sha256(file) != expected["sha256"]:
            raise CorruptRun(f"{file}: contents do not match the manifest (truncated or edited)")
    _check_listed(manifest_path, files, _required_files(path / "config.json"))  # config.json verified above
    if run_id is not None:
        stored = stored_run_id(path)
        if stored != run_id:
            raise CorruptRun(f"{path / 'config.json'}: the config of run {stored}, not of {run_id} (a run moved into another's directory)")
    return manifest


def _manifest_files(manifest_path: Path, manifest) -> dict:
    """The manifest's {file name: {"bytes": int, "sha256": str}}, checked: any other shape, or a
    name that is not a plain file name in the run directory, is CorruptRun."""
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict):
        raise CorruptRun(f"{manifest_path}: not a toydd manifest (no files object)")
    for name, entry in files.items():
        if name in ("", ".", "..") or "/" in name or "\\" in name:
            raise CorruptRun(f"{manifest_path}: {name!r} is not a file of the run directory")
        size, digest = (entry.get("bytes"), entry.get("sha256")) if isinstance(entry, dict) else (None, None)
        if type(size) is not int or not isinstance(digest, str):
            raise CorruptRun(f"{manifest_path}: the entry of {name} is not {{bytes, sha256}}")
    return files


def _check_listed(manifest_path: Path, files: dict, required) -> None:
    """CorruptRun naming the first of `required` the manifest does not list (a run cut short, or
    a manifest written by hand)."""
    for name in required:
        if name not in files:
            raise CorruptRun(f"{manifest_path}: does not list {name} (the run is incomplete)")


def _required_files(config_file: Path) -> list[str]:
    """The files a run must have: ALWAYS_FILES, with a finite training set the set and its
    examples, with snapshots = true the snapshots (what `_write_files` writes)."""
    values = _read_json(config_file).get("config")
    values = values if isinstance(values, dict) else {}  # a broken config.json is load_run's to report
    required = list(ALWAYS_FILES)
    if values.get("dataset_size") != INF:
        required += ["train_set.safetensors", "examples.parquet"]
    if values.get("snapshots") is True:
        required.append("snapshots.safetensors")
    return required


def load_run(path: str | os.PathLike) -> StoredRun:
    """Read and verify a run directory written by `save_run`."""
    path = Path(path)
    if not path.is_dir():
        raise CorruptRun(f"{path}: no such run directory")
    manifest = verify_run(path)
    if manifest.get("format") != FORMAT_VERSION:
        raise CorruptRun(f"{path / MANIFEST}: format {manifest.get('format')!r}, this toydd reads {FORMAT_VERSION}")
    files = manifest["files"]
    config, run_id = _read_config(path / "config.json")
    model = _read_tensors(path / "model.safetensors", ("W", "b"), run_id)
    W, b = model["W"], model["b"]
    if W.shape != (config.n_hidden, config.n_features) or b.shape != (config.n_features,):
        raise CorruptRun(f"{path / 'model.safetensors'}: W {W.shape} and b {b.shape}, the config needs ({config.n_hidden}, {config.n_features}) and ({config.n_features},)")
    train_rows = None
    if "train_set.safetensors" in files:
        data = _read_tensors(path / "train_set.safetensors", ("indptr", "indices", "values"), run_id)
        try:
            train_rows = SparseRows(data["indptr"], data["indices"], data["values"], config.n_features)
        except ValueError as error:
            raise CorruptRun(f"{path / 'train_set.safetensors'}: {error}") from None
    metrics = nan_for_null(_read(path / "metrics.json", _json_object))
    history = _read(path / "history.parquet", pd.read_parquet)
    features = _read(path / "features.parquet", pd.read_parquet)
    examples = _read(path / "examples.parquet", pd.read_parquet) if "examples.parquet" in files else None
    return StoredRun(path, config, run_id, W, b, metrics, history, features, examples, train_rows)


def load_config(path: str | os.PathLike) -> Config:
    """The Config in a run directory's config.json, checked against its run id (`_read_config`)."""
    return _read_config(Path(path) / "config.json")[0]


def _read_config(file: Path) -> tuple[Config, str]:
    """config.json's Config and run id, checked against each other: a field removed or edited
    (with the manifest rewritten to match) is CorruptRun, never a default filled in silently."""
    try:
        header = json.loads(file.read_text())
        values, run_id = header["config"], header["run_id"]
    except (OSError, ValueError, KeyError, TypeError):
        raise CorruptRun(f"{file}: not a toydd config") from None
    if not isinstance(values, dict) or not isinstance(run_id, str):
        raise CorruptRun(f"{file}: not a toydd config (config must be an object, run_id a string)")
    missing = sorted(CONFIG_KEYS_OF_FORMAT_1 - values.keys())
    if missing:
        raise CorruptRun(f"{file}: the config has no {missing[0]} (edited)")
    try:
        config = Config.from_dict(values)
    except ConfigError as error:
        raise CorruptRun(f"{file}: {error}") from None
    if config.run_id() != run_id:
        raise CorruptRun(f"{file}: the config is that of run {config.run_id()}, not of its run_id {run_id} (edited)")
    return config, run_id


def _read_tensors(file: Path, names: tuple[str, ...], run_id: str) -> dict[str, np.ndarray]:
    """The tensors `names` of a safetensors file that run `run_id` wrote; a missing tensor, or a
    file of another run (its metadata's run_id), is CorruptRun naming the file."""

    def read(file: Path) -> dict[str, np.ndarray]:
        with safe_open(file, framework="numpy") as handle:
            written_for = (handle.metadata() or {}).get("run_id")
            missing = [name for name in names if name not in handle.keys()]
            if missing:
                raise CorruptRun(f"{file}: no tensor {missing[0]}")
            if written_for is None:
                raise CorruptRun(f"{file}: no run_id in its metadata (not written by toydd)")
            if written_for != run_id:
                raise CorruptRun(f"{file}: written for run {written_for}, not {run_id}")
            return {name: handle.get_tensor(name) for name in names}

    return _read(file, read)


def _json_object(file: Path) -> dict:
    """The JSON object in `file`: any other JSON value is an error (metrics are read by key)."""
    value = json.loads(file.read_text())
    if not isinstance(value, dict):
        raise ValueError(f"a JSON {type(value).__name__}, not an object")
    return value


def _read(file: Path, reader):
    """reader(file); any reader's failure is a corrupt file, named by the message."""
    try:
        return reader(file)
    except CorruptRun:
        raise
    except Exception as error:
        raise CorruptRun(f"{file}: unreadable ({type(error).__name__}: {error})") from None
