"""Where a sweep's tasks run: a local process pool, Dask distributed, or SLURM through submitit.

Each executor is a function execute(tasks, out, done) that runs `_sweep.run_task(task, out)`
for every task and calls done(task, outcomes) in the driver as each one finishes. Workers write
their runs to the shared `out` directory themselves; only the small outcome lists travel back.
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import submitit

from ._config import Config, ConfigError
from ._sweep import Outcome, Task, record_failure, run_task

EXECUTORS = ("local", "dask", "slurm")


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


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
    already saved stay complete), and a new pool takes the tasks not yet submitted."""

    def execute(tasks: list[Task], out: str, done) -> None:
        pending = list(tasks)
        while pending:
            with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
                running = {}
                broken = False
                while (pending or running) and not broken:
                    while pending and len(running) < workers:
                        task = pending.pop(0)
                        running[pool.submit(run_task, task, out)] = task
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in finished:
                        broken |= isinstance(future.exception(), BrokenProcessPool)
                        task = running.pop(future)
                        done(task, _outcomes(task, out, future.result))
                if broken:  # the tasks still in the broken pool failed with it, unless they finished
                    for future, task in running.items():
                        finished_ok = future.done() and future.exception() is None
                        done(task, future.result() if finished_ok else _failed(task, out, "crashed: the worker process died"))

    return execute


def dask(workers: int, scheduler: str | None):
    """Dask distributed: a LocalCluster of `workers` single-threaded processes, or the cluster at
    `scheduler` (tcp://HOST:PORT). Dask resubmits the task of a worker that dies."""

    def execute(tasks: list[Task], out: str, done) -> None:
        from distributed import Client, LocalCluster, as_completed

        cluster = None
        if scheduler is None:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
        else:
            client = Client(scheduler)
        try:
            futures = {client.submit(run_task, task, out, pure=False): task for task in tasks}
            for future in as_completed(futures):
                task = futures[future]
                done(task, _outcomes(task, out, future.result))
        finally:
            client.close()
            if cluster is not None:
                cluster.close()

    return execute


def dask_workers(scheduler: str) -> int:
    """How many workers the Dask cluster at `scheduler` has now (at least 1)."""
    from distributed import Client

    with Client(scheduler) as client:
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
    continues with the runs it had not finished (finished runs are on disk already)."""

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
        jobs = executor.map_array(RequeueingTask(), tasks, [out] * len(tasks))
        by_job = {job.job_id: task for job, task in zip(jobs, tasks)}
        for job in submitit.helpers.as_completed(jobs, poll_frequency=1):
            task = by_job[job.job_id]
            done(task, _outcomes(task, out, job.result))

    return execute


class RequeueingTask(submitit.helpers.Checkpointable):
    """run_task as a submitit Checkpointable: on timeout or preemption the job is resubmitted
    with the same arguments (the default `checkpoint`), and run_task skips the runs already saved."""

    def __call__(self, task: Task, out: str) -> list[Outcome]:
        return run_task(task, out)
