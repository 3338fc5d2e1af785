"""Where a sweep's tasks run: a local process pool, Dask distributed, or SLURM through submitit.

Each executor is a function execute(tasks, out, done) that runs `_sweep.run_task(task, out)`
for every task and calls done(task, outcomes) in the driver as each one finishes. Workers write
their runs to the shared `out` directory themselves; only the small outcome lists travel back.

Dask (`toydd[dask]`) and submitit (`toydd[slurm]`) are optional: imported only when their
executor is used, so `import toydd` stays light and works without them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from ._checkpoint import STOP_SIGNALS, stop_requested, warn
from ._config import Config, ConfigError
from ._sweep import Outcome, Task, record_failure, run_task

EXECUTORS = ("local", "dask", "slurm")


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _distributed():
    try:
        import distributed
    except ImportError:
        raise ConfigError("--executor dask needs Dask distributed: pip install 'toydd[dask]'") from None
    return distributed


def _submitit():
    try:
        import submitit
    except ImportError:
        raise ConfigError("--executor slurm needs submitit: pip install 'toydd[slurm]'") from None
    return submitit


def _failed(task: Task, out: str, reason: str) -> list[Outcome]:
    """Record every run of a task that could not finish, with the reason."""
    return [record_failure(Path(out), Config.from_dict(c), reason) for c in task.configs]


def _outcomes(task: Task, out: str, result) -> list[Outcome]:
    """The outcomes a finished task returned, or, if it raised, its runs recorded as crashed."""
    try:
        return result()
    except Exception as error:  # a dead worker, KilledWorker after repeated deaths, a failed job
        lines = str(error).strip().splitlines()
        return _failed(task, out, f"crashed: {type(error).__name__}: {lines[-1] if lines else ''}")


def local(workers: int):
    """A pool of `workers` fresh processes on this machine. A worker that dies breaks the pool:
    the unfinished tasks submitted to it are recorded as failed, with the reason (runs they had
    already saved stay complete), and a new pool takes the tasks not yet submitted. After a stop
    signal (SIGTERM, SIGUSR2, SIGHUP, Ctrl-C) in the driver no more tasks start, and the running
    ones stop at a checkpoint: SLURM and a terminal signal the whole process group, and a signal
    sent to the driver alone (`kill PID`, the pid `toydd status` names) is passed on
    (`_pass_on_stop`). A stop does not end a worker outside a task (`_start_worker`)."""

    def execute(tasks: list[Task], out: str, done) -> None:
        pending = list(tasks)
        _start_resource_tracker()
        while pending:
            with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_start_worker, initargs=(os.getpid(), signal.pthread_sigmask(signal.SIG_BLOCK, []))) as pool:
                running = {}
                broken = False
                while (pending or running) and not broken:
                    if stop_requested() and not running:
                        return
                    while pending and len(running) < workers and not stop_requested():
                        task = pending.pop(0)
                        running[_submit(pool, task, out)] = task
                    finished, _ = wait(running, timeout=PASS_ON_SECONDS, return_when=FIRST_COMPLETED)
                    if stop_requested():
                        _pass_on_stop(pool)
                    for future in finished:
                        broken |= isinstance(future.exception(), BrokenProcessPool)
                        task = running.pop(future)
                        done(task, _outcomes(task, out, future.result))
                if broken:  # the tasks still in the broken pool failed with it, unless they finished
                    for future, task in running.items():
                        finished_ok = future.done() and future.exception() is None
                        done(task, future.result() if finished_ok else _failed(task, out, "crashed: the worker process died"))

    return execute


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker, the helper process of every pool, with SIGHUP
    blocked, as it blocks SIGINT and SIGTERM itself: a hangup reaching the whole process group
    would kill it, and the tracker started in its place prints a traceback for each of the pool's
    semaphores it never saw. Blocked in the tracker for good, so never delivered there; here a
    hangup that comes meanwhile waits until the mask is put back."""
    from multiprocessing import resource_tracker

    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    try:
        resource_tracker.ensure_running()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _submit(pool: ProcessPoolExecutor, task: Task, out: str):
    """pool.submit(task) with the stop signals blocked in this thread: submit may start a worker,
    which inherits the mask, and a stop to the whole process group then waits in it until
    `_start_worker` has set what a stop does there, instead of killing it as it starts (a dead
    worker breaks the pool: the running stacks would be recorded as crashed). The pool's manager
    thread, started by the first submit, keeps the mask, so signals here reach the main thread."""
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        return pool.submit(_run_local_task, task, out)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _start_worker(driver: int, mask: set) -> None:
    """Each local pool worker as it starts (its stop signals blocked, `_submit`; `mask`: the
    driver's own, put back once the handlers are set): a stop outside training does not end it
    (StopSignals catches stops while a stack trains). A terminal or a scheduler signals the whole
    process group, and a worker that died of it between tasks would break the pool: the running
    tasks, stopped at their checkpoints, would be recorded as crashed, and a worker killed while it
    waited for a task dies holding the pool's queue lock, so that the others, and the driver, would
    wait for it for ever. The driver got the signal too, or passes it on, and ends the pool. A
    SIGTERM, SIGUSR2 or SIGHUP here is kept for the worker's next stack, which stops at its first
    checkpoint (`_run_local_task`): a pool that breaks terminates its workers with SIGTERM, and one
    that had just taken a task would otherwise train it to the end while the driver waits. A worker
    whose driver is gone (killed outright) ends on them between tasks, and ends by itself
    (`_watch_driver`)."""

    def between_tasks(signum, frame):
        global _stop_between_tasks
        if os.getppid() != driver and not _in_task:
            raise SystemExit(128 + signum)
        _stop_between_tasks = signum  # also while a task saves its runs: never cut that short

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C, also what the driver passes a stop on as, every second
    for signum in (signal.SIGTERM, signal.SIGUSR2, signal.SIGHUP):
        if signal.getsignal(signum) is not signal.SIG_IGN:  # ignored: nohup, kept
            signal.signal(signum, between_tasks)
    # started while the stop signals are blocked here, which the thread keeps: they go to the main thread
    threading.Thread(target=_watch_driver, args=(driver,), name="toydd-watch-driver", daemon=True).start()
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a stop that came while it started arrives now


# A local worker's state: the stop signal it received outside training (`_start_worker`), for its
# next stack, and whether it runs a task.
_stop_between_tasks: int | None = None
_in_task = False


def _run_local_task(task: Task, out: str) -> list[Outcome]:
    """run_task in a local pool worker: a stop that came before the stack trains stops it at its
    first checkpoint (its StopSignals asks `_take_stop_between_tasks` at once)."""
    global _in_task
    _in_task = True
    try:
        return run_task(task, out, stop_poll=_take_stop_between_tasks)
    finally:
        _in_task = False


def _take_stop_between_tasks() -> int | None:
    """The stop kept for the stack that trains now, handed over once (StopSignals remembers it).
    One that a stack never asks for (all of its runs complete, or a signal of its own first) is
    kept for the next: it came while the driver stops or its pool breaks, when no task follows."""
    global _stop_between_tasks
    received, _stop_between_tasks = _stop_between_tasks, None
    return received


# How often a local worker looks whether its driver still lives.
DRIVER_WATCH_SECONDS = 2.0


def _watch_driver(driver: int) -> None:
    """Once the driver is gone (killed outright: nobody is left to take results or hand out
    tasks): end this worker if it waits for a task, else send it SIGTERM every
    DRIVER_WATCH_SECONDS, so that its stack stops at a checkpoint and saves, and end it once the
    task is over. Training on would risk a second worker taking the same stack when the sweep is
    run again."""
    while True:
        time.sleep(DRIVER_WATCH_SECONDS)
        if os.getppid() == driver:
            continue
        if not _in_task:
            os._exit(128 + signal.SIGTERM)  # its runs are on disk, nothing here is left to write
        os.kill(os.getpid(), signal.SIGTERM)


# How often a stop is passed on again while tasks still run: a worker that had just taken a task
# when the stop came may not yet be inside its StopSignals, and ignores Ctrl-C until it is.
PASS_ON_SECONDS = 1.0


def _pass_on_stop(pool: ProcessPoolExecutor) -> None:
    """Send Ctrl-C (SIGINT) to every worker of `pool`. SIGINT whatever the driver received: a
    worker running a task records its first one and stops at a checkpoint, and one idle, or one
    that already stopped on the first, ignores it, where a SIGTERM to an idle worker would stop the
    next task it took. The workers are the pool's own processes (`_processes`, the pid of each: the
    standard library has no public accessor), not the resource tracker beside them."""
    for pid in list(getattr(pool, "_processes", None) or {}):
        try:
            os.kill(pid, signal.SIGINT)
        except (ProcessLookupError, PermissionError):  # it ended meanwhile
            pass


def check_scheduler(scheduler: str) -> None:
    """Refuse, before anything is written, a --scheduler address whose scheme Dask does not know
    (tcp://HOST:PORT, or HOST:PORT for tcp)."""
    _distributed()  # installed, or the one-line error saying how
    from distributed.comm import parse_address, registry

    try:
        registry.get_backend(parse_address(scheduler)[0])
    except (ValueError, TypeError) as error:
        raise ConfigError(f"--scheduler {scheduler!r}: {error}") from None


# How long a stopped Dask driver waits for its running tasks to confirm that they stopped. A task
# asks at every segment boundary (about a second apart) once it trains; before that it may still be
# compiling kernels or building its data. Tasks that never started (a cluster with no free worker)
# would never answer: after this they are cancelled.
STOP_GRACE_SECONDS = 300.0


def dask(workers: int, scheduler: str | None):
    """Dask distributed: a LocalCluster of `workers` single-threaded processes, or the cluster at
    `scheduler` (tcp://HOST:PORT). Dask resubmits the task of a worker that dies, and it resumes
    from the task's checkpoint in the shared directory. After a stop signal in the driver no more
    tasks start, and the running ones stop at a checkpoint: the driver sets a Dask Event that each
    task asks about at its segment boundaries, at most once a second (`run_dask_task`), and waits
    for them (at most STOP_GRACE_SECONDS), so that a sweep started again does not train a stack that
    an earlier driver's worker still trains."""
    distributed = _distributed()
    if scheduler is not None:
        check_scheduler(scheduler)

    def execute(tasks: list[Task], out: str, done) -> None:
        cluster = None
        if scheduler is None:
            cluster = distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None, preload=[__name__],
            )  # fmt: skip
            client = distributed.Client(cluster)
        else:
            client = distributed.Client(scheduler)
        try:
            stop = distributed.Event(f"toydd-stop-{uuid.uuid4().hex}", client=client)
            pending = {client.submit(run_dask_task, task, out, stop.name, pure=False): task for task in tasks}
            _drive(pending, out, done, stop)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()

    return execute


def _drive(pending: dict, out: str, done, stop, kind: str = "Dask", poll_seconds: float = 0.2) -> None:
    """Report each future of `pending` (future -> task: a Dask future, or a `_JobFuture`) to `done`
    as it finishes, looking every `poll_seconds`; after a stop signal, set `stop` (a Dask Event,
    or a `_StopFile`) and wait for the running tasks to stop at a checkpoint. A task
    that ends without a result once stopping (its worker killed by the same signal, the scheduler
    gone) leaves its runs as they were: a later sweep trains them, so they are not recorded as
    failed. Neither is a task the cluster cancelled (the client lost its connection to the
    scheduler): its worker may still be training it, so the Event is set, as a stop would, and
    left set."""
    stopped_at = None
    cancelled: list[Task] = []
    while pending:
        finished = [future for future in pending if future.done()]  # before the stop: these ended before it
        stopping = stopped_at is not None
        if stop_requested() and stopped_at is None:  # start nothing more; the running tasks stop at a checkpoint
            stopped_at = time.monotonic()
            try:
                stop.set()
            except Exception as error:  # the scheduler is gone: its workers' tasks stop on their own (StopSignals)
                warn(f"could not pass the stop on to the {kind} tasks ({type(error).__name__}: {error})")
        for future in finished:
            task = pending.pop(future)
            if future.status == "cancelled":
                if not cancelled and stopped_at is None:  # its worker may train on: stop it, as a stop would
                    with contextlib.suppress(Exception):
                        stop.set()
                cancelled.append(task)
                done(task, [])
            elif stopped_at is not None and (stopping or future.status == "finished"):  # a result fetched within a bound
                done(task, _stopped_outcomes(future))
            else:  # a crash seen as the stop came in ended before it
                done(task, _outcomes(task, out, future.result))
        if stopped_at is not None and pending and time.monotonic() - stopped_at > STOP_GRACE_SECONDS:
            runs = sum(len(task.configs) for task in pending.values())
            warn(f"{len(pending)} {kind} task(s) ({runs} run(s)) did not confirm stopping within {STOP_GRACE_SECONDS:g} s "
                 "and were cancelled; a worker may still train one: wait a while before starting the sweep again")  # fmt: skip
            for future in pending:
                future.cancel()
            return
        if not finished:
            time.sleep(poll_seconds)
    if cancelled:
        runs = sum(len(task.configs) for task in cancelled)
        warn(f"{len(cancelled)} {kind} task(s) ({runs} run(s)) were cancelled by the cluster (the connection to its scheduler "
             "was lost?) and are not trained; a worker may still train one: wait a while before starting the sweep again")  # fmt: skip
    else:
        with contextlib.suppress(Exception):  # every task has ended on its worker: removes the Event from a long-lived scheduler
            stop.clear()


# How long a stopped driver waits for the result of a task that finished: normally instant, but
# Dask computes it again if the worker that held it is gone
RESULT_WAIT_SECONDS = 30.0


def _stopped_outcomes(future) -> list[Outcome]:
    """The outcomes of a task that ended while the sweep stops, or none (its runs stay as they
    were) if it ended without a result."""
    if future.status != "finished":
        return []
    try:
        return future.result(timeout=RESULT_WAIT_SECONDS)
    except Exception:
        return []


def dask_setup(worker) -> None:
    """Dask's preload hook, run as each of our LocalCluster's worker processes starts: ignore
    Ctrl-C, as the local pool's workers do. A terminal's Ctrl-C reaches the whole process group,
    these workers too, and a Dask worker dies of it, losing its stack's training since the last
    checkpoint; the stop reaches the task through the driver's Event instead."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_dask_task(task: Task, out: str, stop_name: str) -> list[Outcome]:
    """run_task on a Dask worker, where no signal reaches the task: a stop comes from the
    driver's Event `stop_name` instead, as SIGTERM. A task that starts after the stop trains
    nothing and reports nothing (its runs stay as they were)."""
    stop = _distributed().Event(stop_name)
    with contextlib.suppress(Exception):  # asked again at every checkpoint, where a lasting failure stops training
        if stop.is_set():
            return []
    return run_task(task, out, stop_poll=lambda: signal.SIGTERM if stop.is_set() else None)


def dask_workers(scheduler: str) -> int:
    """How many workers the Dask cluster at `scheduler` has now (at least 1)."""
    check_scheduler(scheduler)
    with _distributed().Client(scheduler) as client:
        return max(1, len(client.scheduler_info().get("workers", {})))


@dataclass(frozen=True)
class SlurmOptions:
    partition: str | None = None
    time_minutes: int = 240
    cpus_per_task: int = 2
    gpus_per_task: int = 0
    max_parallel: int = 64
    cluster: str | None = None  # None or "slurm": SLURM (sbatch must exist); "local": local processes


def slurm(options: SlurmOptions):
    """SLURM job arrays through submitit; a job that hits its time limit is requeued and
    continues with the runs it had not finished (finished runs are on disk already) from their
    checkpoints. A stop signal in the driver reaches the jobs as a file in DIR/slurm that they
    look for at their checkpoints (`_StopFile`); the driver waits for them as the Dask one does
    (`_drive`)."""
    submitit = _submitit()
    if options.cluster != "local" and shutil.which("sbatch") is None:
        raise ConfigError("--executor slurm: no SLURM on this machine (sbatch not found); --submitit-cluster local runs the jobs here")

    def execute(tasks: list[Task], out: str, done) -> None:
        executor = submitit.AutoExecutor(folder=Path(out) / "slurm", cluster=options.cluster)
        params = {
            "timeout_min": options.time_minutes,
            "cpus_per_task": options.cpus_per_task,
            "slurm_array_parallelism": options.max_parallel,
        }
        if options.gpus_per_task:
            params["gpus_per_node"] = options.gpus_per_task
        if options.partition:
            params["slurm_partition"] = options.partition
        executor.update_parameters(**params)
        stop = _StopFile(Path(out) / "slurm" / f"stop-{uuid.uuid4().hex}")
        jobs = executor.map_array(RequeueingTask(), tasks, [out] * len(tasks), [str(stop.path)] * len(tasks))
        _drive({_JobFuture(job): task for job, task in zip(jobs, tasks)}, out, done, stop, kind="SLURM", poll_seconds=1.0)

    return execute


class _StopFile:
    """A SLURM sweep's stop, passed from its driver to its jobs as a file in the shared sweep
    directory (the jobs run elsewhere, and SLURM signals only what it sends itself): `set` creates
    it, each job looks for it at its checkpoints (`RequeueingTask`), and `clear` removes it once
    every job has ended. Its name is the driver's own, so a stale one stops nothing else."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def set(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


class _JobFuture:
    """A submitit job as `_drive` sees a Dask future: done(), status ("finished" or "error"),
    result(), cancel(). Its result (or error) is read once, when it is done."""

    def __init__(self, job) -> None:
        self.job, self.status = job, None

    def done(self) -> bool:
        if self.status is None and self.job.done():
            try:
                self._result, self.status = self.job.result(), "finished"
            except Exception as error:  # the job failed, or was cancelled
                self._error, self.status = error, "error"
        return self.status is not None

    def result(self, timeout=None):
        if self.status == "error":
            raise self._error
        return self._result

    def cancel(self) -> None:
        self.job.cancel(check=False)


class RequeueingTask:
    """run_task as a submitit checkpointable callable. Before a time limit SLURM sends SIGUSR2:
    run_task stops at a checkpoint, and then submitit's own handler for that signal (restored
    when run_task returns) requeues the job with the same arguments (`checkpoint`). The requeued
    job skips the runs already saved and resumes the others from their checkpoints. A stop of
    the sweep's driver arrives as the file `stop_file` (`_StopFile`): looked for before the task
    starts (then it trains nothing and reports nothing) and at its checkpoints, at most once a
    second, where it stops training as SIGTERM would."""

    def __call__(self, task: Task, out: str, stop_file: str | None = None) -> list[Outcome]:
        def stop_poll() -> int | None:
            return signal.SIGTERM if stop_file is not None and Path(stop_file).exists() else None

        if stop_poll() is not None:
            return []
        outcomes = run_task(task, out, stop_poll=stop_poll)
        requeue = signal.getsignal(signal.SIGUSR2)
        if any(o.interrupted == signal.SIGUSR2 for o in outcomes) and callable(requeue):
            requeue(signal.SIGUSR2, None)  # submitit: checkpoint(), requeue, exit
        return outcomes

    def checkpoint(self, *args, **kwargs):
        """What submitit resubmits: this task again (its state is in the checkpoint files)."""
        return _submitit().helpers.DelayedSubmission(self, *args, **kwargs)
