"""Checkpoints: a stack's training state on disk, so that a killed or preempted run resumes where it
stopped instead of starting over, and ends with the same numbers bit for bit.

One safetensors file per stack, written through a temporary file and os.replace (a kill leaves the
previous checkpoint or the new one, never half of one):

    W           (K, m, n)        weights after `next_step` steps
    b           (K, n)
    adam_state  (K, 4, (m+1) n)  AdamW's first and second moments of W (rows 0, 1) and of b
                                 (rows 2, 3, first n entries)
    history_W   (K, P, m, n)     weights recorded so far at the history steps
    history_b   (K, P, n)
    nan_step    (K,) int64       step at which each model's loss stopped being finite, or -1
    last_loss   (K,) float64     latest loss of each model
    next_step   (K,) int64       steps each model has taken
    tree_order  (K, T) int64     the tree engine's ordering of the examples ((K, 0) for the dense pass)
    tree_stats  (K, N_STATS)     the tree engine's counts so far (`_tree.total_stats`)

Its metadata entry "toydd_checkpoint" is JSON: the format, the stack's key (a hash of everything
that determines the numbers: run ids in stack order, engine, device, history points, toydd
version), the run ids, the training seconds so far and the sha256 of the arrays. A checkpoint whose
key differs is never resumed; an unreadable one is reported in one line and training starts over.

SIGTERM and SIGUSR2 (sent by SLURM and submitit before a time limit), SIGHUP (a closed terminal, a
dropped ssh session; left ignored under nohup) and a first Ctrl-C (SIGINT) do not kill a process
that trains inside `StopSignals`: the engine writes a checkpoint at the next segment boundary
(about a second away, see `_engine_cpu.segments`) and raises `Interrupted`. On a Dask worker's thread, where
no signal handler can be set, the stop comes from the driver through `StopSignals(poll=...)`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import stat
import sys
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save

FORMAT = 1
CHECKPOINT_SECONDS = 300.0  # default interval: a kill loses at most five minutes of training
# SIGINT is Ctrl-C: the first writes a checkpoint and stops like SIGTERM; a second acts at once.
# SIGHUP is a hangup (the terminal closed): a process started under nohup ignores it, and still does
STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR2, signal.SIGHUP, signal.SIGINT)
_METADATA = "toydd_checkpoint"


@dataclass
class TrainState:
    """Where a stack's training stands; the array shapes are those of the module docstring."""

    W: np.ndarray
    b: np.ndarray
    adam_state: np.ndarray
    history_W: np.ndarray
    history_b: np.ndarray
    nan_step: np.ndarray
    last_loss: np.ndarray
    next_step: np.ndarray
    tree_order: np.ndarray  # (K, T) the tree engine's ordering of the examples, (K, 0) for the dense pass
    tree_stats: np.ndarray  # (K, N_STATS) the tree engine's counts (`_tree.total_stats`)
    seconds: float = 0.0  # training time spent so far, over every session

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: np.ascontiguousarray(getattr(self, f.name)) for f in fields(self) if f.name != "seconds"}


class Interrupted(Exception):
    """Training stopped on a signal after writing a checkpoint; the same command resumes it."""

    def __init__(self, signum: int, step: int, path: Path | None):
        self.signum, self.step, self.path = signum, step, path
        where = f"checkpoint at step {step} in {path}" if path else "no checkpoint"
        super().__init__(f"interrupted by {signal.Signals(signum).name}: {where}")


def warn(message: str) -> None:
    """One line on stderr: checkpoint problems never stop training, they only cost time. Nor does
    a stderr that cannot be written (a terminal that hung up, whose hangup went to the driver)."""
    with contextlib.suppress(OSError):
        print(f"warning: {message}", file=sys.stderr, flush=True)


@dataclass
class Checkpoint:
    """The checkpoint file of one stack: when to write it, how to read it back."""

    path: Path
    key: str
    run_ids: tuple[str, ...]
    every_seconds: float = CHECKPOINT_SECONDS
    every_steps: int = 0  # also write after every multiple of this many steps (0: time only)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self._last_write = time.monotonic()

    def load(self, fresh: TrainState) -> TrainState | None:
        """The stored state if this stack has a readable checkpoint shaped like `fresh`, else None."""
        if not self.path.is_file():
            return None
        try:
            with safe_open(str(self.path), framework="np") as f:
                meta = json.loads(f.metadata()[_METADATA])
                arrays = {name: f.get_tensor(name) for name in f.keys()}
        except Exception as error:  # any reader's failure: a truncated or foreign file
            warn(f"{self.path}: unreadable checkpoint ({type(error).__name__}), training from the start")
            return None
        if meta.get("key") != self.key:
            warn(f"{self.path}: checkpoint of another job (config, engine or version differ), training from the start")
            return None
        expected = fresh.arrays()
        if set(arrays) != set(expected) or any(arrays[k].shape != v.shape or arrays[k].dtype != v.dtype for k, v in expected.items()):
            warn(f"{self.path}: checkpoint arrays have the wrong shapes, training from the start")
            return None
        if _digest(arrays) != meta.get("sha256"):
            warn(f"{self.path}: checkpoint contents do not match their checksum, training from the start")
            return None
        state = TrainState(**arrays, seconds=float(meta.get("seconds", 0.0)))
        print(f"resuming from checkpoint {self.path} at step {int(state.next_step.min())}", file=sys.stderr, flush=True)
        return state

    def save(self, state: TrainState) -> None:
        from ._store import write_atomic

        arrays = state.arrays()
        meta = {"format": FORMAT, "key": self.key, "run_ids": list(self.run_ids), "seconds": state.seconds, "sha256": _digest(arrays)}
        write_atomic(self.path, save(arrays, metadata={_METADATA: json.dumps(meta)}))
        self._last_write = time.monotonic()

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def due(self, steps_done: int) -> bool:
        """True when a checkpoint should be written after `steps_done` steps: a stop signal came,
        `every_steps` divides it, or `every_seconds` have passed since the last one."""
        every_steps = self.every_steps > 0 and steps_done % self.every_steps == 0
        return bool(stop_requested()) or every_steps or time.monotonic() - self._last_write >= self.every_seconds

    def at_boundary(self, state: TrainState, steps_done: int) -> None:
        """Call between segments, with `state` current: writes the checkpoint when due, and after
        a stop signal raises Interrupted."""
        signum = stop_requested()  # read once: a signal arriving now waits for the next boundary
        if signum or self.due(steps_done):
            self.save(state)
        if signum:
            raise Interrupted(signum, steps_done, self.path)


def _digest(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(arrays[name]).tobytes())
    return digest.hexdigest()


def stored_progress(folder: Path) -> dict[Path, tuple[tuple[str, ...], int, int, float]]:
    """Path -> (run ids in stack order, the step the stack resumes at (its slowest model's), the
    steps its models have taken in all (the torch engine trains them one after another), seconds
    of training so far) of every readable checkpoint in `folder`. Reads the headers and one small
    array."""
    progress = {}
    for path in sorted(Path(folder).glob("[!.]*.safetensors")):
        try:
            with safe_open(str(path), framework="np") as f:
                meta = json.loads(f.metadata()[_METADATA])
                next_step = f.get_tensor("next_step")
                progress[path] = (tuple(meta["run_ids"]), int(next_step.min()), int(next_step.sum()), float(meta.get("seconds", 0.0)))
        except Exception:  # unreadable: its task reports it in one line when it tries to resume
            continue
    return progress


def stored_stacks(folder: Path) -> dict[Path, tuple[str, ...]]:
    """Path -> run ids (in stack order) of every readable checkpoint in `folder`."""
    return {path: run_ids for path, (run_ids, *_) in stored_progress(folder).items()}


# --- stop signals -------------------------------------------------------------------------------

# Each thread's innermost StopSignals: a Dask worker runs several tasks in threads of one process,
# and each task's stop is its own
_stacks = threading.local()
POLL_SECONDS = 1.0  # a `poll` (a stop from elsewhere, a Dask scheduler's) is asked at most this often
# A poll that keeps failing this long stops training: the scheduler is gone, not a passing blip (a
# reconnecting client, a busy scheduler), and nobody is left to report to or to pass a stop on
POLL_FAILURE_SECONDS = 10.0


class StopSignals:
    """While active, SIGTERM, SIGUSR2, SIGHUP (unless ignored: nohup) and a first SIGINT are
    recorded instead of ending the process; the engine checks `stop_requested()` between
    segments. A second SIGINT acts as before the first (Ctrl-C twice: stop now, with no checkpoint). Signal handlers can only be
    set from the main thread: elsewhere (a Dask worker thread) signals act as usual, and a stop
    comes from `poll` instead: a callable, asked at most every POLL_SECONDS (the engine asks at
    every segment boundary), that returns the signal the sweep's driver received, or None."""

    def __init__(self, poll=None) -> None:
        self.poll = poll

    def __enter__(self) -> "StopSignals":
        self.received: int | None = None
        self.previous = {}
        self._polled = -POLL_SECONDS
        self._failing_since: float | None = None  # when the unbroken series of failed polls began
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                handler = signal.getsignal(signum)
                if handler is None:  # set outside Python, which could not be put back
                    continue
                if signum == signal.SIGHUP and handler is signal.SIG_IGN:  # nohup: keep training
                    continue
                self.previous[signum] = signal.signal(signum, self._record)
        self._outer = getattr(_stacks, "active", None)
        _stacks.active = self
        return self

    def _record(self, signum, frame) -> None:
        self.received = signum
        if signum == signal.SIGHUP:
            _leave_hung_up_terminal()
        if signum == signal.SIGINT:  # the next Ctrl-C is not waited on (a pool worker's: ignored)
            signal.signal(signal.SIGINT, self.previous[signal.SIGINT])

    def stop(self) -> int | None:
        """The stop signal received here, or passed on through `poll`. A poll that has failed for
        POLL_FAILURE_SECONDS on end (the scheduler it asks is gone) stops training as SIGTERM
        would: with nobody left to report to, training on risks a second worker taking the same
        stack. A failure that passes (a poll that answers again) is forgotten."""
        now = time.monotonic()
        if self.received is None and self.poll is not None and now - self._polled >= POLL_SECONDS:
            self._polled = now
            try:
                self.received = self.poll()
                self._failing_since = None
            except Exception as error:
                failed_at = time.monotonic()  # after the call: a poll may block (a connect timeout)
                if self._failing_since is None:
                    self._failing_since = failed_at
                if failed_at - self._failing_since >= POLL_FAILURE_SECONDS:
                    warn(f"cannot ask whether the sweep was stopped ({type(error).__name__}: {error}) for "
                         f"{failed_at - self._failing_since:.0f} s; stopping at a checkpoint")  # fmt: skip
                    self.received = signal.SIGTERM
        return self.received

    def __exit__(self, *exc) -> bool:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        _stacks.active = self._outer
        return False


def _leave_hung_up_terminal() -> None:
    """Point stdout and stderr at /dev/null if they wrote to a terminal that hung up (still a
    character device, no longer a terminal): each write there fails (EIO), and the stop's progress
    and last line would end as an error instead of a checkpoint and exit status 129. Runs in a
    signal handler: a failure here (no /dev/null, no file descriptor left) is not the stop's."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            for fd in (1, 2):
                if stat.S_ISCHR(os.fstat(fd).st_mode) and not os.isatty(fd):
                    os.dup2(devnull, fd)
        finally:
            os.close(devnull)


def stop_requested() -> int | None:
    """The stop signal received by this thread's innermost active StopSignals, if any."""
    active = getattr(_stacks, "active", None)
    return active.stop() if active is not None else None
