"""A run directory on disk: written atomically, verified when read.

Layout (all open formats):
    config.json              {"toydd_version", "run_id", "config": {...every field...}}
    model.safetensors        W float32/float64 (m, n), b (n,); metadata: run_id, version
    train_set.safetensors    indptr int64 (T+1,), indices int64 (nnz,), values float32 (nnz,)
                             (absent for infinite data)
    metrics.json             scalar measurements, restart losses, engine, wall time
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
import os
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
from safetensors.numpy import load_file, save_file

from ._config import Config, ConfigError
from ._data import SparseRows

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


class CorruptRun(ValueError):
    """A run directory is incomplete, edited or unreadable; the message names the file."""


def _version() -> str:
    from . import __version__

    return __version__


def check_out(out: str | os.PathLike, overwrite: bool = False) -> Path:
    """Raise ConfigError unless `out` can receive a run: absent, empty, or, with overwrite, a
    directory toydd wrote (a run or a sweep). Anything else is never deleted."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise ConfigError(f"--out {out} exists and is not empty (use --overwrite to replace it)")
        if not written_by_toydd(out):
            raise ConfigError(f"--out {out} is not a toydd run or sweep directory: --overwrite replaces only those, nothing was deleted")
    return out


def written_by_toydd(folder: Path) -> bool:
    """True for a run directory (its config.json or manifest.json is toydd's) or a sweep directory
    (results.parquet next to runs/)."""
    if (folder / "results.parquet").is_file() and (folder / "runs").is_dir():
        return True
    header, manifest = _read_json(folder / "config.json"), _read_json(folder / MANIFEST)
    return ("toydd_version" in header and "run_id" in header) or (manifest.get("format") == FORMAT_VERSION and "files" in manifest)


def _read_json(path: Path) -> dict:
    """The JSON object in `path`, or {} when it is absent, unreadable or not an object."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def save_run(result, out: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write `result` (a RunResult) to directory `out` atomically; returns the path."""
    out = check_out(out, overwrite)
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


def _write_files(result, folder: Path) -> None:
    cfg: Config = result.config
    run_id = cfg.run_id()
    meta = {"run_id": run_id, "toydd_version": _version()}
    _write_json(folder / "config.json", {"toydd_version": _version(), "run_id": run_id, "config": cfg.to_dict()})
    save_file({"W": np.ascontiguousarray(result.W), "b": np.ascontiguousarray(result.b)}, folder / "model.safetensors", metadata=meta)
    if result.train_set is not None:
        rows = result.train_set
        save_file({"indptr": rows.indptr, "indices": rows.indices, "values": rows.values}, folder / "train_set.safetensors", metadata=meta)
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
        save_file({"steps": steps, "W": np.ascontiguousarray(W_snap), "b": np.ascontiguousarray(b_snap)}, folder / "snapshots.safetensors", metadata=meta)
    files = {p.name: {"bytes": p.stat().st_size, "sha256": _sha256(p)} for p in sorted(folder.iterdir())}
    _write_json(folder / MANIFEST, {"format": FORMAT_VERSION, "files": files})


def _write_json(path: Path, payload) -> None:
    with open(path, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=True, allow_nan=True)
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
        data = load_file(path)
        return data["steps"], data["W"], data["b"]


def verify_run(path: str | os.PathLike) -> dict:
    """Check the manifest against the files; returns the manifest or raises CorruptRun."""
    path = Path(path)
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise CorruptRun(f"{manifest_path}: missing (the run is incomplete)")
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
    except (ValueError, KeyError, TypeError):
        raise CorruptRun(f"{manifest_path}: not a toydd manifest") from None
    for name, expected in files.items():
        file = path / name
        if not file.is_file():
            raise CorruptRun(f"{file}: missing")
        if file.stat().st_size != expected.get("bytes") or _sha256(file) != expected.get("sha256"):
            raise CorruptRun(f"{file}: contents do not match the manifest (truncated or edited)")
    return manifest


def load_run(path: str | os.PathLike) -> StoredRun:
    """Read and verify a run directory written by `save_run`."""
    path = Path(path)
    if not path.is_dir():
        raise CorruptRun(f"{path}: no such run directory")
    manifest = verify_run(path)
    if manifest.get("format") != FORMAT_VERSION:
        raise CorruptRun(f"{path / MANIFEST}: format {manifest.get('format')!r}, this toydd reads {FORMAT_VERSION}")
    files = manifest["files"]
    try:
        header = json.loads((path / "config.json").read_text())
        config = Config.from_dict(header["config"])
    except ConfigError as error:
        raise CorruptRun(f"{path / 'config.json'}: {error}") from None
    except (ValueError, KeyError, TypeError):
        raise CorruptRun(f"{path / 'config.json'}: not a toydd config") from None
    try:
        model = load_file(path / "model.safetensors")
        train_rows = None
        if "train_set.safetensors" in files:
            data = load_file(path / "train_set.safetensors")
            try:
                train_rows = SparseRows(data["indptr"], data["indices"], data["values"], config.n_features)
            except ValueError as error:
                raise CorruptRun(f"{path / 'train_set.safetensors'}: {error}") from None
        metrics = json.loads((path / "metrics.json").read_text())
        history = pd.read_parquet(path / "history.parquet")
        features = pd.read_parquet(path / "features.parquet")
        examples = pd.read_parquet(path / "examples.parquet") if "examples.parquet" in files else None
    except CorruptRun:
        raise
    except Exception as error:  # any reader's failure is a corrupt file, named by the message
        raise CorruptRun(f"{path}: unreadable run file ({type(error).__name__}: {error})") from None
    return StoredRun(path, config, header.get("run_id", ""), model["W"], model["b"], metrics, history, features, examples, train_rows)
