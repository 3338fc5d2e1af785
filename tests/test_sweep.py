"""Sweeps: files, planning, resuming, failures, corruption, and every executor."""

import io
import json
import contextlib
import os
import pty
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest

from toydd import Config
from toydd import _executors
from toydd._config import ConfigError
from toydd._sweep import plan_tasks, read_plan, read_results, row_config, run_sweep
from toydd._sweep_spec import SweepError, parse_sweep

from test_checkpoint import wait_exit

SWEEP = """
[base]
n_features = 200
sparsity = 0.95
n_hidden = 2
steps = {steps}
test_size = 300
history_points = 4

[grid]
dataset_size = [5, 40, "inf"]
data_seed = [0, 1]

[[points]]
dataset_size = 12
init_seed = 3
"""

# Measured numbers; wall time and how runs were grouped legitimately differ between executors.
VOLATILE = {"wall_seconds", "steps_per_second", "pairs_per_second", "stack_models"}


def write_sweep(folder: Path, steps=200, extra="") -> Path:
    path = folder / "sweep.toml"
    path.write_text(SWEEP.format(steps=steps) + extra)
    return path


def toydd(*args):
    return subprocess.run([sys.executable, "-m", "toydd.cli", *args], capture_output=True, text=True, timeout=600)


def comparable(out: Path) -> pd.DataFrame:
    table = read_results(out)
    return table.drop(columns=[c for c in table.columns if c in VOLATILE]).sort_values("run_id").reset_index(drop=True)


def test_grid_times_base_plus_points():
    spec = parse_sweep(SWEEP.format(steps=10))
    configs = spec.configs()
    assert len(configs) == 7
    assert {c.dataset_size for c in configs} == {5, 40, "inf", 12}
    assert all(c.n_features == 200 for c in configs) and configs[-1].init_seed == 3


@pytest.mark.parametrize(
    "text,message",
    [
        ("[grid]\nn_hidn = [1]", "grid: unknown config key 'n_hidn'"),
        ("[base]\nn_hiden = 3\n[grid]\nn_hidden = [1]", "base: unknown config key 'n_hiden'"),
        ("[grid]\nn_hidden = [1]\n[[points]]\nlrr = 0.1", "points[0]: unknown config key 'lrr'"),
        ("n_features = 3\n[grid]\nn_hidden = [1]", "top-level key 'n_features': config keys go in"),
        ("[grid]\nn_hidden = []", "grid.n_hidden is an empty list"),
        ("[grid]\nn_hidden = 2", "grid.n_hidden must be a list"),
        ("[grid]\nn_hidden = ['two']", "n_hidden must be an integer"),
        ("[base]\nsparsity = 1.5\n[grid]\nn_hidden = [1]", "sparsity must be in"),
        ("[grid\nn_hidden = [1]", "line 1"),
        ("[model]\nx = 1", "unknown table 'model'"),
        ("[base]\nn_hidden = 2", "no runs"),
    ],
)
def test_bad_sweep_files_name_the_key_or_line(tmp_path, text, message):
    with pytest.raises(SweepError, match=message.replace("[", r"\[")):
        parse_sweep(text, "s.toml")
    path = tmp_path / "bad.toml"
    path.write_text(text)
    done = toydd("sweep", str(path), "--out", str(tmp_path / "out"))
    assert done.returncode != 0 and len(done.stderr.strip().splitlines()) == 1 and message.split("'")[0] in done.stderr
    assert not (tmp_path / "out").exists()


def test_an_empty_point_is_the_base_run():
    """[[points]] with no keys is one run of [base]: the way to sweep the base alone."""
    (config,) = parse_sweep("[base]\nn_features = 50\n[[points]]\n").configs()
    assert config == Config(n_features=50)


def test_plan_stacks_runs_sharing_data_and_orders_by_cost():
    configs = parse_sweep(SWEEP.format(steps=10) + "\n[[points]]\ndataset_size = 5\nlr = 0.01\n").configs()
    tasks = plan_tasks(configs, workers=1, threads=1)
    sizes = [sorted({Config.from_dict(c).dataset_size for c in t.configs}, key=str) for t in tasks]
    assert all(len(s) == 1 for s in sizes)  # one T per stack
    assert [t.estimated_seconds for t in tasks] == sorted((t.estimated_seconds for t in tasks), reverse=True)
    assert max(len(t.configs) for t in tasks) == 2  # T = 5, seed 0 at two learning rates
    assert sum(len(t.configs) for t in tasks) == len(configs)


def test_plan_orders_by_estimated_time_not_pairs():
    """Pairs alone would tie m = 2 and m = 10 at one T and put a tree run before a dense run of
    fewer pairs that takes longer; the --list cost model orders them by time."""
    base = Config(n_features=10_000, sparsity=0.999, steps=50_000)
    small_m, big_m = base.replace(dataset_size=1_000, engine="cpu"), base.replace(dataset_size=1_000, n_hidden=10, engine="cpu")
    tree_run, dense_run = base.replace(dataset_size=20_000, engine="tree"), base.replace(dataset_size=10_000, engine="cpu")
    assert small_m.cost == big_m.cost and tree_run.cost > dense_run.cost
    order = [Config.from_dict(t.configs[0]) for t in plan_tasks([small_m, tree_run, big_m, dense_run], workers=1, threads=1)]
    assert order == [dense_run, big_m, tree_run, small_m]


def test_plan_splits_a_stack_that_would_outlast_the_other_workers():
    """The envelope at the paper's setting: five learning rates at T = 1,000,000 share their data,
    but as one stack they would hold one of two workers longer than every other run holds the
    other; split into 3 + 2 the estimated makespan falls from about 20% above an even split to
    under 10% (the T = 500,000 stack, under a worker's share, stays whole). One worker keeps the
    stack whole."""
    from toydd._presets import run_seconds

    base = Config(n_features=10_000, sparsity=0.999, steps=50_000, engine="tree")
    lrs = (1e-4, 3e-4, 1e-3, 5e-3, 3e-2)
    configs = [base.replace(dataset_size=T, lr=lr) for T in (1_000_000, 500_000, 200_000) for lr in lrs]

    def makespan(tasks, workers):
        loads = [0.0] * workers
        for task in tasks:  # largest first, each to the worker free first
            loads[loads.index(min(loads))] += task.estimated_seconds
        return max(loads)

    whole = plan_tasks(configs, workers=1, threads=2)
    assert sorted(len(t.configs) for t in whole) == [5, 5, 5]
    tasks = plan_tasks(configs, workers=2, threads=1)
    largest = [len(t.configs) for t in tasks if Config.from_dict(t.configs[0]).dataset_size == 1_000_000]
    assert sorted(largest) == [2, 3] and sum(len(t.configs) for t in tasks) == 15
    total = sum(map(run_seconds, configs))
    assert max(t.estimated_seconds for t in tasks) <= total / 2
    assert makespan(whole, 2) > 1.15 * total / 2 and makespan(tasks, 2) < 1.1 * total / 2
    with_restarts = plan_tasks([c.replace(restarts=3) for c in configs if c.dataset_size == 1_000_000], workers=2, threads=1)
    assert sorted(len(t.configs) for t in with_restarts) == [2, 3]  # whole runs, near-equal halves


def test_second_run_trains_nothing_and_results_are_complete(tmp_path):
    sweep = write_sweep(tmp_path)
    out = tmp_path / "out"
    first = toydd("sweep", str(sweep), "--out", str(out), "--quiet")
    assert first.returncode == 0, first.stderr
    table = read_results(out)
    assert len(table) == 7 and len(set(table["run_id"])) == 7
    for column in ("dataset_size", "data_seed", "n_hidden", "train_loss", "test_loss", "test_loss_sem"):
        assert column in table
    assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(table["run_id"])
    # each row gives back the Config it was trained with: every field its numbers depend on, and
    # the engine, device and threads it resolved (the plan's "auto" and 0 become what ran)
    assert all(row_config(row).run_id() == row["run_id"] for _, row in table.iterrows())
    assert {(c.engine, c.device, c.threads) for c in read_plan(out)[0]} == {("auto", "auto", 0)}
    assert {(c.engine, c.device, c.threads) for c in map(row_config, (row for _, row in table.iterrows()))} == {("cpu", "cpu", 1)}
    before = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*")}
    second = toydd("sweep", str(sweep), "--out", str(out), "--quiet")
    assert second.returncode == 0 and "nothing to train: 7 of 7 runs complete" in second.stdout
    assert before == {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*")}
    shown = toydd("results", str(out), "--csv", str(tmp_path / "r.csv"))
    assert shown.returncode == 0 and shown.stdout.count("\n") == 8
    assert len(pd.read_csv(tmp_path / "r.csv")) == 7


def test_corrupt_runs_are_redone(tmp_path):
    sweep, out = write_sweep(tmp_path), tmp_path / "out"
    assert toydd("sweep", str(sweep), "--out", str(out), "--quiet").returncode == 0
    reference = comparable(out)
    runs = sorted((out / "runs").iterdir())
    model = runs[0] / "model.safetensors"
    model.write_bytes(model.read_bytes()[:50])
    metrics = runs[1] / "metrics.json"
    edited = json.loads(metrics.read_text())
    edited["test_loss"] = 0.5
    metrics.write_text(json.dumps(edited, indent=2, sort_keys=True) + "\n")
    again = toydd("sweep", str(sweep), "--out", str(out), "--quiet")
    assert again.returncode == 0 and "trained 2, 5 were complete" in again.stdout
    assert "model.safetensors" in again.stderr and "metrics.json" in again.stderr
    pd.testing.assert_frame_equal(comparable(out), reference, check_exact=True)


def test_failures_are_recorded_the_rest_go_on_and_retry(tmp_path):
    sweep = write_sweep(tmp_path, extra="\n[[points]]\ndataset_size = 9\nlr = 1e30\nwarmup_fraction = 0.0\n")
    out = tmp_path / "out"
    done = toydd("sweep", str(sweep), "--out", str(out), "--quiet")
    assert done.returncode == 1 and "1 failed" in done.stdout and "not finite at step" in done.stderr
    assert len(read_results(out)) == 7
    (failure,) = (out / "failed").iterdir()
    assert json.loads(failure.read_text())["config"]["lr"] == 1e30
    again = toydd("sweep", str(sweep), "--out", str(out), "--quiet")
    assert again.returncode == 1 and "skipping 1 failed" in again.stderr and "nothing to train" in again.stdout
    retried = toydd("sweep", str(sweep), "--out", str(out), "--quiet", "--retry-failed")
    assert retried.returncode == 1 and "trained 0, 7 were complete, 1 failed" in retried.stdout


def test_sigkill_mid_sweep_then_resume_equals_uninterrupted(tmp_path):
    sweep = write_sweep(tmp_path, steps=3000)
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    assert toydd("sweep", str(sweep), "--out", str(clean), "--quiet").returncode == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "toydd.cli", "sweep", str(sweep), "--out", str(killed), "--quiet", "--workers", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.time() + 300
    while time.time() < deadline and len(list((killed / "runs").glob("[!.]*"))) < 2:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole process group: driver and workers
    proc.wait()
    finished = len(list((killed / "runs").glob("[!.]*")))
    assert 2 <= finished < 7, "the kill should land while runs are in flight"
    resumed = toydd("sweep", str(sweep), "--out", str(killed), "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(p.name for p in (killed / "runs").iterdir()) == sorted(read_results(clean)["run_id"])
    pd.testing.assert_frame_equal(comparable(killed), comparable(clean), check_exact=True)


def signal_at_first_checkpoint(command: list[str], out: Path, signum: int, group: bool = True) -> tuple[subprocess.Popen, str]:
    """Start a sweep in its own process group, send `signum` to the whole group (driver and
    workers, as a terminal or a scheduler does), or with group=False to the driver alone, once its
    first checkpoint exists, and wait: the process and its stderr."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not list((out / "checkpoints").glob("*.safetensors")):
        time.sleep(0.05)
    assert proc.poll() is None, "the sweep ended before its first checkpoint"
    (os.killpg if group else os.kill)(proc.pid, signum)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:  # the stop did not reach the training: leave no workers behind
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return proc, err


def test_sigterm_stops_a_sweep_at_checkpoints_and_the_same_command_resumes_it_exactly(tmp_path):
    """`kill -TERM` to a sweep's process group (driver and workers), as a scheduler or a user
    stopping it does: exit 128 + 15 with one line saying how many runs stopped at a checkpoint, and
    the same command again resumes them and ends with the uninterrupted sweep's numbers."""
    sweep = write_sweep(tmp_path, steps=3000)  # the infinite-data runs take a second or two: a stop lands mid-run
    clean, stopped = tmp_path / "clean", tmp_path / "stopped"
    reference = toydd("sweep", str(sweep), "--out", str(clean), "--workers", "1")  # with its progress bar
    assert reference.returncode == 0, reference.stderr
    assert "100%" in reference.stderr and "runs done 7, failed 0, remaining 0" in reference.stderr
    command = [sys.executable, "-m", "toydd.cli", "sweep", str(sweep), "--out", str(stopped), "--quiet", "--workers", "1", "--checkpoint-every", "200"]
    proc, err = signal_at_first_checkpoint(command, stopped, signal.SIGTERM)
    assert proc.returncode == 128 + signal.SIGTERM, err
    interrupted = re.findall(r"interrupted by SIGTERM: (\d+) run\(s\) stopped at a checkpoint; run the same command to resume", err)
    assert len(interrupted) == 1 and int(interrupted[0]) >= 1, err  # a run was in flight and stopped at its checkpoint
    assert len(list((stopped / "runs").glob("[!.]*"))) < 7
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stderr
    pd.testing.assert_frame_equal(comparable(stopped), comparable(clean), check_exact=True)


def test_ctrl_c_stops_a_sweep_at_checkpoints_like_sigterm(tmp_path):
    """Ctrl-C reaches the terminal's whole process group: the driver stops starting tasks, each
    worker's stack writes its checkpoint, and nothing is recorded as failed (resuming is the
    SIGTERM test's path above)."""
    out = tmp_path / "stopped"
    command = [sys.executable, "-m", "toydd.cli", "sweep", str(write_sweep(tmp_path, steps=3000)), "--out", str(out), "--quiet", "--workers", "2", "--checkpoint-every", "200"]
    proc, err = signal_at_first_checkpoint(command, out, signal.SIGINT)
    assert proc.returncode == 128 + signal.SIGINT, err
    assert re.fullmatch(r".*: interrupted by SIGINT: [12] run\(s\) stopped at a checkpoint; run the same command to resume\n", err), err
    assert not (out / "failed").exists() and list((out / "checkpoints").glob("*.safetensors"))


@pytest.mark.parametrize(
    "executor,signum,group",  # the local executor's Ctrl-C to the whole group: test_ctrl_c_stops_a_sweep_at_checkpoints_like_sigterm
    [("local", signal.SIGTERM, False), ("local", signal.SIGINT, False), ("dask", signal.SIGTERM, False), ("dask", signal.SIGINT, False), ("dask", signal.SIGINT, True),
     ("slurm", signal.SIGTERM, False)],
)
def test_a_stop_sent_to_the_driver_reaches_the_running_stacks(tmp_path, executor, signum, group):
    """`kill PID` with the pid `toydd status` names reaches the driver only: the driver passes it
    on (to its pool's workers, through a Dask Event to the cluster's, or through a stop file to
    SLURM's jobs, here submitit's local ones), so the running stacks stop at a checkpoint now
    rather than train to the end (at T = 500,000, an hour), and nothing is recorded as failed. A
    Ctrl-C in a terminal reaches the whole group, Dask's workers too."""
    out = tmp_path / "stopped"
    sweep = write_sweep(tmp_path, steps=200_000)  # minutes a run: only a stop passed on ends it within the timeout
    command = [sys.executable, "-m", "toydd.cli", "sweep", str(sweep), "--out", str(out), "--quiet", "--checkpoint-every", "200", "--executor", executor]
    if executor == "slurm":
        command += ["--submitit-cluster", "local", "--cpus-per-task", "1", "--time", "10"]
    else:
        command += ["--workers", "2"]
    proc, err = signal_at_first_checkpoint(command, out, signum, group=group)
    assert proc.returncode == 128 + signum, err
    name = signal.Signals(signum).name
    assert re.fullmatch(rf".*: interrupted by {name}: [1-7] run\(s\) stopped at a checkpoint; run the same command to resume\n", err), err
    assert not (out / "failed").exists() and not list((out / "runs").glob("[!.]*"))
    assert not list(out.glob("slurm/stop-*"))  # every job ended: the stop file is gone


# Runs a command with SIGHUP at its default, as in a terminal, even if the tests run under nohup
# (which a child inherits, and toydd then leaves a hangup ignored)
HANGUP_AT_DEFAULT = [sys.executable, "-c", "import os, signal, sys; signal.signal(signal.SIGHUP, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"]

ONE_QUICK_ONE_LONG = """
[base]
n_features = 1000
sparsity = 0.95
n_hidden = 2
steps = 200000
test_size = 300
history_points = 4

[grid]
dataset_size = [3000]

[[points]]
dataset_size = 5
steps = 500
"""


@pytest.mark.parametrize("how", ["SIGTERM", "SIGHUP", "terminal closed"])
def test_a_stop_to_the_whole_group_with_a_worker_idle_stops_the_running_stack_at_a_checkpoint(tmp_path, how):
    """SLURM's time limit, `kill -- -PGID`, a hangup: the stop reaches every process of the group,
    the workers waiting for a task too. Those live on: one that died would break the pool, its
    running stack, stopped at a checkpoint, would be recorded as crashed, and the pool would wait
    for ever on the queue lock the dead worker held. A closed terminal signals the driver alone,
    which passes the stop on, and reports it to nobody (exit 129, not an I/O error)."""
    sweep, out = tmp_path / "sweep.toml", tmp_path / "out"
    sweep.write_text(ONE_QUICK_ONE_LONG)  # two stacks: one done in a second, its worker then idle
    command = [sys.executable, "-m", "toydd.cli", "sweep", str(sweep), "--out", str(out), "--workers", "2", "--checkpoint-every", "200"]
    if how == "terminal closed":
        pid, terminal = pty.fork()
        if pid == 0:  # a session of its own, with the terminal as its controlling terminal
            try:
                signal.signal(signal.SIGHUP, signal.SIG_DFL)  # as in a terminal, even if these tests run under nohup
                os.execv(sys.executable, command)
            finally:
                os._exit(127)  # never go on as a second pytest
    else:
        proc = subprocess.Popen(HANGUP_AT_DEFAULT + command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        pid = proc.pid
    try:
        deadline = time.time() + 300
        while time.time() < deadline and not (list((out / "runs").glob("[!.]*")) and list((out / "checkpoints").glob("*.safetensors"))):
            time.sleep(0.05)
        time.sleep(0.5)
        if how == "terminal closed":
            os.close(terminal)  # the kernel sends the session's leader, the driver, SIGHUP
            status, err = wait_exit(pid, timeout=120), ""
        else:
            os.killpg(pid, getattr(signal, how))
            _, err = proc.communicate(timeout=120)
            status = proc.returncode
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        if how != "terminal closed" and proc.returncode is None:  # timed out: reap it and close its pipes
            proc.communicate()
    assert status == 128 + (signal.SIGTERM if how == "SIGTERM" else signal.SIGHUP), err
    if how != "terminal closed":
        assert err.endswith(f"interrupted by {how}: 1 run(s) stopped at a checkpoint; run the same command to resume\n"), err
        assert "Traceback" not in err  # multiprocessing's resource tracker was not killed by the hangup
    assert len(list((out / "runs").glob("[!.]*"))) == 1 and not (out / "failed").exists()
    assert list((out / "checkpoints").glob("*.safetensors"))


@pytest.mark.parametrize("orphan", [False, True])
def test_a_pool_worker_between_tasks_lives_through_a_stop_unless_its_driver_is_gone(orphan):
    """A worker waiting for a task lives through SIGTERM, SIGUSR2 and SIGHUP while its driver
    lives (the driver ends the pool), and ends on them once the driver is gone (killed outright),
    rather than be left behind for SIGKILL."""
    driver = -1 if orphan else os.getpid()  # the worker's parent is this process; no process is -1
    code = ("import signal, sys, time\nfrom toydd._executors import _start_worker\n"
            "signal.signal(signal.SIGHUP, signal.SIG_DFL)\n"  # as in a terminal, even if these tests run under nohup
            "import toydd._executors\ntoydd._executors.DRIVER_WATCH_SECONDS = 600\n"  # the signal sent here, not the worker's own
            "_start_worker(int(sys.argv[1]), set())\n"
            "print('ready', flush=True)\ntime.sleep(2)\nprint('alive', flush=True)")  # fmt: skip
    for signum in (signal.SIGTERM, signal.SIGUSR2, signal.SIGHUP):
        with subprocess.Popen([sys.executable, "-c", code, str(driver)], stdout=subprocess.PIPE, text=True) as worker:
            assert worker.stdout.readline() == "ready\n"
            worker.send_signal(signum)
            out, _ = worker.communicate(timeout=60)
        assert (worker.returncode, out) == ((128 + signum, "") if orphan else (0, "alive\n")), signal.Signals(signum).name


def test_an_orphaned_pool_worker_is_not_ended_while_its_task_saves_its_runs():
    """Its stack stopped at a checkpoint, a task saves the runs it finished outside StopSignals: a
    stop then (the driver gone) waits until the task is over, instead of cutting a save short."""
    code = ("import os, signal\nimport toydd._executors as e\n"
            "signal.signal(signal.SIGHUP, signal.SIG_DFL)\n"  # as in a terminal, even if these tests run under nohup
            "e.DRIVER_WATCH_SECONDS = 600\ne._start_worker(-1, set())\n"  # no process is -1: the driver is gone
            "e._in_task = True\nos.kill(os.getpid(), signal.SIGTERM)\nprint(e._take_stop_between_tasks(), flush=True)\n"
            "e._in_task = False\nos.kill(os.getpid(), signal.SIGTERM)\nprint('alive', flush=True)")  # fmt: skip
    worker = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (worker.returncode, worker.stdout) == (128 + signal.SIGTERM, f"{int(signal.SIGTERM)}\n"), worker.stderr


def test_a_stop_that_reached_a_pool_worker_between_tasks_stops_its_next_task_at_a_checkpoint(tmp_path):
    """A pool that breaks (a worker killed outright) terminates the others with SIGTERM. One that had
    just taken a task, not yet inside its StopSignals, keeps the stop for that task, which stops at
    its first checkpoint instead of training to the end while the driver waits; the task after it
    trains as usual."""
    long, short = Config(n_features=100, sparsity=0.9, dataset_size=50, steps=1_000_000), Config(n_features=100, sparsity=0.9, dataset_size=20, steps=200)
    code = ("import json, os, signal, sys\nfrom toydd._executors import _run_local_task, _start_worker\nfrom toydd._sweep import Task\n"
            "signal.signal(signal.SIGHUP, signal.SIG_DFL)\n"  # as in a terminal, even if these tests run under nohup
            "_start_worker(os.getppid(), set())\nos.kill(os.getpid(), signal.SIGTERM)\n"  # the stop of a breaking pool, the task just taken
            "for config in sys.argv[2:]:\n"
            "    (outcome,) = _run_local_task(Task((json.loads(config),), threads=1, checkpoint_every=100), sys.argv[1])\n"
            "    print(outcome.ok, outcome.interrupted, flush=True)")  # fmt: skip
    worker = subprocess.run([sys.executable, "-c", code, str(tmp_path), json.dumps(long.to_dict()), json.dumps(short.to_dict())],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert worker.stdout.splitlines() == [f"False {int(signal.SIGTERM)}", "True 0"], worker.stderr
    assert list((tmp_path / "checkpoints").glob("*.safetensors"))  # the long stack resumes from here


def running(process: psutil.Process) -> bool:
    """Whether `process` still runs: an ended one may linger as a zombie until its parent, here
    not this process, reaps it."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_pool_worker_whose_driver_was_killed_outright_stops_its_task_at_a_checkpoint_and_ends(tmp_path):
    """Nobody is left to take its results or give it tasks, and the sweep run again would train the
    same stack beside it: the worker stops at a checkpoint and ends, instead of training to the end
    and then waiting for a task for ever."""
    config = Config(n_features=100, sparsity=0.9, dataset_size=50, steps=10_000_000)
    worker_code = ("import json, os, signal, sys, time\nfrom toydd._executors import _run_local_task, _start_worker\nfrom toydd._sweep import Task\n"
                   "_start_worker(os.getppid(), set())\nprint(os.getpid(), flush=True)\n"
                   "(outcome,) = _run_local_task(Task((json.loads(sys.argv[2]),), threads=1, checkpoint_every=100), sys.argv[1])\n"
                   "print(outcome.ok, outcome.interrupted, flush=True)\ntime.sleep(600)\n")  # then waits, as for a next task  # fmt: skip
    driver_code = "import subprocess, sys, time\nsubprocess.Popen(sys.argv[1:])\ntime.sleep(600)\n"
    log = tmp_path / "worker.log"
    with open(log, "w") as worker_out:
        driver = subprocess.Popen([sys.executable, "-c", driver_code, sys.executable, "-c", worker_code, str(tmp_path), json.dumps(config.to_dict())], stdout=worker_out)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not list((tmp_path / "checkpoints").glob("*.safetensors")):  # it trains
            time.sleep(0.05)
        worker = psutil.Process(int(log.read_text().split()[0]))
        driver.kill()
        driver.wait()
        deadline = time.time() + 60
        while time.time() < deadline and running(worker):  # not this process's child: its exit status is its new parent's
            time.sleep(0.1)
        assert not running(worker)
    finally:
        for process in psutil.Process(driver.pid).children(recursive=True) if driver.poll() is None else []:
            process.kill()
        driver.kill()
        driver.wait()
        if "worker" in locals() and running(worker):
            worker.kill()
    assert log.read_text().split("\n")[1] == f"False {int(signal.SIGTERM)}"


SLOW_WORKER_START = """import os, time
if os.environ.get("TOYDD_TEST_STARTING") and b"--multiprocessing-fork" in open("/proc/self/cmdline", "rb").read():
    open(os.environ["TOYDD_TEST_STARTING"], "w").close()
    time.sleep(3)
"""


def test_a_stop_to_the_whole_group_while_a_pool_worker_starts_stops_its_task_at_a_checkpoint(tmp_path):
    """A worker starts with the stop signals blocked until it has set what they do there: a stop to
    the whole process group that comes while it starts (here a pool worker's start-up made 3 s
    long) does not kill it, which would break the pool and record its stack as crashed: its task
    stops at the first checkpoint."""
    site, starting = tmp_path / "site", tmp_path / "starting"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SLOW_WORKER_START)
    sweep, out = tmp_path / "sweep.toml", tmp_path / "out"
    sweep.write_text("[base]\nn_features = 1000\nsparsity = 0.95\nn_hidden = 2\nsteps = 200000\n\n[grid]\ndataset_size = [3000]\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])), "TOYDD_TEST_STARTING": str(starting)}
    command = [sys.executable, "-m", "toydd.cli", "sweep", str(sweep), "--out", str(out), "--workers", "1", "--checkpoint-every", "200"]
    proc = subprocess.Popen(HANGUP_AT_DEFAULT + command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, env=env)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not starting.exists():
            time.sleep(0.02)
        assert starting.exists(), "no pool worker started"
        os.killpg(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.returncode is None:  # timed out: reap it and close its pipes
            proc.communicate()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err.endswith("interrupted by SIGTERM: 1 run(s) stopped at a checkpoint; run the same command to resume\n"), err
    assert not (out / "failed").exists() and not list((out / "runs").glob("[!.]*"))


class FakeFuture:
    """A Dask future's surface that `_executors._drive` uses: it ends with `status` ("finished",
    "error", "cancelled") once done() was asked `done_after` times; status None: never ends."""

    def __init__(self, status=None, result=None, done_after=0, result_error=None):
        self.final, self._result, self.done_after, self.result_error = status, result, done_after, result_error
        self.status, self.cancelled = None, False

    def done(self):
        if self.done_after > 0:
            self.done_after -= 1
        elif self.final is not None:
            self.status = self.final
        return self.status is not None

    def result(self, timeout=None):
        if self.status == "error":
            raise RuntimeError("KilledWorker: the worker died running this task")
        if self.result_error is not None:  # the worker that held the result is gone: Dask computes it again
            if timeout is None:
                raise AssertionError("a stopped driver waited for a result without a bound")
            raise self.result_error
        return self._result

    def cancel(self):
        self.cancelled = True


class FakeEvent:
    def __init__(self, fails=False):
        self.fails, self.is_set, self.cleared = fails, False, False

    def set(self):
        if self.fails:
            raise OSError("scheduler unreachable")
        self.is_set = True

    def clear(self):
        self.cleared = True


@pytest.mark.parametrize("event_fails", [False, True])
def test_a_stopped_dask_driver_records_nothing_as_failed_and_waits_a_bounded_time(monkeypatch, capsys, tmp_path, event_fails):
    """Once stopping, a task that ends without a result (its worker killed by the same Ctrl-C, the
    scheduler gone, a result that cannot be fetched) leaves its runs for a later sweep, not
    recorded as failed, while one that had crashed before the stop is; a task that never answers
    (queued on a cluster with no free worker) is cancelled after STOP_GRACE_SECONDS rather than
    waited on for ever; a stop the scheduler cannot take is a warning, not a crash."""
    from toydd._checkpoint import StopSignals

    monkeypatch.setattr(_executors, "STOP_GRACE_SECONDS", 0.5)
    config = Config(n_features=20, dataset_size=5, steps=10)
    names = ("crashed_before", "crashed", "stopped", "result_lost", "queued")
    tasks = {name: types.SimpleNamespace(configs=[config.to_dict()]) for name in names}
    futures = {
        "crashed_before": FakeFuture("error"),  # found ended as the stop is first seen: it ended before
        "crashed": FakeFuture("error", done_after=1),
        "stopped": FakeFuture("finished", ["outcome"], done_after=2),
        "result_lost": FakeFuture("finished", ["outcome"], done_after=1, result_error=TimeoutError()),
        "queued": FakeFuture(),
    }
    reported, event = {}, FakeEvent(fails=event_fails)

    def done(task, outcomes):
        reported[next(name for name, t in tasks.items() if t is task)] = outcomes

    with StopSignals(poll=lambda: signal.SIGTERM):
        start = time.monotonic()
        _executors._drive({futures[name]: tasks[name] for name in names}, str(tmp_path), done, event)
    assert [o.reason for o in reported.pop("crashed_before")] == ["crashed: RuntimeError: KilledWorker: the worker died running this task"]
    assert reported == {"crashed": [], "stopped": ["outcome"], "result_lost": []}
    assert futures["queued"].cancelled and 0.5 < time.monotonic() - start < 30
    assert event.is_set != event_fails and not event.cleared  # a task may still run: its stop stays set
    err = capsys.readouterr().err
    assert "1 Dask task(s) (1 run(s)) did not confirm stopping within 0.5 s and were cancelled" in err
    assert ("could not pass the stop on to the Dask tasks (OSError: scheduler unreachable)" in err) == event_fails


def test_a_dask_driver_not_stopped_records_a_crashed_task_and_clears_its_event(tmp_path):
    config = Config(n_features=20, dataset_size=5, steps=10)
    task = types.SimpleNamespace(configs=[config.to_dict()])
    reported, event = [], FakeEvent()
    _executors._drive({FakeFuture("error"): task}, str(tmp_path), lambda task, outcomes: reported.extend(outcomes), event)
    assert [o.reason for o in reported] == ["crashed: RuntimeError: KilledWorker: the worker died running this task"]
    assert (tmp_path / "failed" / f"{config.run_id()}.json").exists() and event.cleared and not event.is_set


def test_a_task_the_dask_cluster_cancelled_is_not_failed_and_keeps_its_event(tmp_path, capsys):
    """A client that loses its scheduler sees its futures cancelled while the workers may still
    train them: their runs are neither failed nor trained, and the Event is set (nobody could set
    it later: its name dies with the driver) and not cleared, so those tasks stop at a checkpoint."""
    config = Config(n_features=20, dataset_size=5, steps=10)
    cancelled, finished = (types.SimpleNamespace(configs=[config.replace(lr=lr).to_dict()]) for lr in (1e-2, 2e-2))
    reported, event = [], FakeEvent()
    pending = {FakeFuture("cancelled", done_after=1): cancelled, FakeFuture("finished", ["outcome"]): finished}
    _executors._drive(pending, str(tmp_path), lambda task, outcomes: reported.append((task, outcomes)), event)
    assert reported == [(finished, ["outcome"]), (cancelled, [])]
    assert not (tmp_path / "failed").exists() and event.is_set and not event.cleared
    assert "1 Dask task(s) (1 run(s)) were cancelled by the cluster" in capsys.readouterr().err


def test_a_dask_task_starts_when_it_cannot_ask_about_the_stop(monkeypatch, tmp_path):
    """A failed first look at the Event (a scheduler busy for a moment) does not fail the task: it
    trains, and asks again at each checkpoint (`StopSignals`)."""

    class UnreachableEvent:
        def __init__(self, name):
            pass

        def is_set(self):
            raise OSError("Timed out trying to connect")

    started = []
    monkeypatch.setattr(_executors, "_distributed", lambda: types.SimpleNamespace(Event=UnreachableEvent))
    monkeypatch.setattr(_executors, "run_task", lambda task, out, stop_poll: started.append(stop_poll) or ["outcome"])
    assert _executors.run_dask_task(types.SimpleNamespace(), str(tmp_path), "toydd-stop-x") == ["outcome"]
    with pytest.raises(OSError):
        started[0]()  # the poll itself raises, for StopSignals to weigh


def test_a_sweep_whose_tasks_report_nothing_says_so_and_fails(monkeypatch, tmp_path, capsys):
    """Runs a task came back without (cancelled by a Dask cluster) are counted, named in one line,
    and make the command exit 1, not 0 with "trained 0"."""
    from toydd import cli

    sweep = tmp_path / "sweep.toml"
    sweep.write_text('[base]\nn_features = 20\ndataset_size = 5\nsteps = 10\n[[grid]]\nlr = [1e-2, 2e-2]\n')
    monkeypatch.setattr(_executors, "local", lambda workers: lambda tasks, out, done: [done(task, []) for task in tasks])
    with pytest.raises(SystemExit) as exit:
        cli.main(["sweep", str(sweep), "--out", str(tmp_path / "out"), "--quiet"])
    assert exit.value.code == 1
    assert f"{tmp_path / 'out'}: 2 run(s) came back without a result (see the warning above); run the same command to train what is left" in capsys.readouterr().err
    report = run_sweep([Config(n_features=20, dataset_size=5, steps=10)], tmp_path / "direct", lambda tasks, out, done: [done(t, []) for t in tasks], 1, 1)
    assert report.not_run == 1 and report.trained == 0 and not report.failed


def test_dask_local_cluster_equals_local_and_survives_a_dead_worker(tmp_path):
    from distributed import Client, LocalCluster

    sweep = write_sweep(tmp_path, steps=6000)  # tasks of about a second: 7 of them keep both workers busy
    configs = parse_sweep(sweep.read_text()).configs()
    local_out, dask_out = tmp_path / "local", tmp_path / "dask"
    run_sweep(configs, local_out, _executors.local(2), workers=2, threads=1)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            pids = list(client.run(os.getpid).values())
        killer = threading.Thread(target=_kill_after_first_run, args=(dask_out, pids[0]))
        killer.start()
        report = run_sweep(configs, dask_out, _executors.dask(2, cluster.scheduler_address), workers=2, threads=1)
        killer.join()
    assert not report.failed and report.trained == 7
    from toydd._store import _pid_alive

    assert not _pid_alive(pids[0])  # that worker really died (its nanny started a new one)
    assert len(list((dask_out / "runs").glob("[!.]*"))) == 7
    pd.testing.assert_frame_equal(comparable(dask_out), comparable(local_out), check_exact=True)


def _kill_after_first_run(out: Path, pid: int) -> None:
    deadline = time.time() + 300
    while time.time() < deadline and not list((out / "runs").glob("[!.]*")):
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def test_dask_executor_from_the_command_line(tmp_path):
    sweep, out = write_sweep(tmp_path), tmp_path / "out"
    done = toydd("sweep", str(sweep), "--out", str(out), "--executor", "dask", "--workers", "2", "--quiet")
    assert done.returncode == 0, done.stderr
    assert len(read_results(out)) == 7


def test_submitit_local_executor_runs_a_sweep(tmp_path):
    sweep, out = write_sweep(tmp_path), tmp_path / "out"
    args = ["--executor", "slurm", "--submitit-cluster", "local", "--cpus-per-task", "1", "--time", "10", "--quiet"]
    done = toydd("sweep", str(sweep), "--out", str(out), *args)
    assert done.returncode == 0, done.stderr
    reference = tmp_path / "ref"
    assert toydd("sweep", str(sweep), "--out", str(reference), "--quiet").returncode == 0
    pd.testing.assert_frame_equal(comparable(out), comparable(reference), check_exact=True)


def test_a_stale_failure_record_of_a_complete_run_is_dropped(tmp_path):
    sweep, out = write_sweep(tmp_path), tmp_path / "out"
    assert toydd("sweep", str(sweep), "--out", str(out), "--quiet").returncode == 0
    run_id = read_results(out)["run_id"][0]
    (out / "failed").mkdir()
    (out / "failed" / f"{run_id}.json").write_text(json.dumps({"run_id": run_id, "reason": "old crash"}))
    again = toydd("sweep", str(sweep), "--out", str(out), "--quiet")
    assert again.returncode == 0 and "old crash" not in again.stderr
    assert not (out / "failed" / f"{run_id}.json").exists()


def test_leftovers_of_dead_writers_are_removed_and_live_ones_kept(tmp_path):
    import socket

    from toydd._store import remove_leftovers

    host = socket.gethostname()
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    while psutil.Process(zombie.pid).status() != psutil.STATUS_ZOMBIE:  # exited, not yet reaped
        time.sleep(0.01)
    undead = tmp_path / f".abf.tmp-{host}-{zombie.pid}-0000dddd"
    undead.mkdir()
    dead = tmp_path / f".abc.tmp-{host}-999999999-0000aaaa"
    live = tmp_path / f".abd.tmp-{host}-{os.getpid()}-0000bbbb"
    other = tmp_path / ".abe.tmp-elsewhere.example-12-0000cccc"
    for path in (dead, live, other):
        path.mkdir()
    remove_leftovers(tmp_path)
    zombie.wait()
    assert not dead.exists() and not undead.exists() and live.exists() and other.exists()


def test_a_sweep_removes_its_own_files_scratch_left_by_a_kill(tmp_path):
    """A kill while `reproduce` wrote sweep.toml, or a sweep results.parquet, leaves a hidden
    scratch file in DIR; the next sweep on DIR removes it."""
    import socket

    from toydd._sweep import survey

    host = socket.gethostname()
    left = [tmp_path / f".sweep.toml.tmp-{host}-999999999-0000aaaa.toml", tmp_path / f".results.parquet.tmp-{host}-999999999-0000bbbb.parquet"]
    for path in left:
        path.write_text("half")
    survey(tmp_path, [], retry_failed=False)
    assert not any(path.exists() for path in left)


@pytest.mark.parametrize("args,message", [(["--workers", "-1"], "--workers"), (["--threads", "-2"], "--threads")])
def test_bad_executor_options_are_one_line(tmp_path, args, message):
    done = toydd("sweep", str(write_sweep(tmp_path)), "--out", str(tmp_path / "out"), *args)
    assert done.returncode != 0 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_unwritable_output_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    done = toydd("sweep", str(write_sweep(tmp_path)), "--out", str(blocker / "out"), "--quiet")
    assert done.returncode != 0 and len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_slurm_without_slurm_is_a_clear_error(tmp_path):
    import shutil

    if shutil.which("sbatch"):
        pytest.skip("this machine has SLURM")
    done = toydd("sweep", str(write_sweep(tmp_path)), "--out", str(tmp_path / "out"), "--executor", "slurm")
    assert done.returncode == 2 and "sbatch not found" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def _in_process(tasks, out, done):
    """An executor without worker processes, for tests of the driver."""
    from toydd._sweep import run_task

    for task in tasks:
        done(task, run_task(task, out))


def test_a_sweep_refuses_a_train_run_or_a_foreign_runs_folder_but_takes_its_sweep_files_folder(tmp_path, tiny):
    from toydd._sweep import check_sweep_out

    configs = [tiny.replace(engine="cpu", data_seed=seed) for seed in range(2)]
    from toydd import train
    from toydd._store import save_run

    run = tmp_path / "run"
    save_run(train(configs[0]), run)
    with pytest.raises(ConfigError, match="a toydd train run, not a sweep directory"):
        run_sweep(configs, run, _in_process, workers=1, threads=1)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text("{}")  # the user's own, not a toydd run's: a sweep writes no config.json
    check_sweep_out(mine)
    photos = tmp_path / "photos"
    (photos / "runs" / "marathon").mkdir(parents=True)
    with pytest.raises(ConfigError, match="its runs/ holds more than toydd run directories"):
        run_sweep(configs, photos, _in_process, workers=1, threads=1)
    assert not (run / "plan.json").exists() and [p.name for p in (photos / "runs").iterdir()] == ["marathon"]
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(ConfigError, match="not a directory"):
        run_sweep(configs, a_file, _in_process, workers=1, threads=1)
    # `toydd sweep DIR/sweep.toml --out DIR`: the sweep file and notes stay, and so does a rerun
    out = tmp_path / "sweep"
    out.mkdir()
    (out / "sweep.toml").write_text("# mine")
    assert run_sweep(configs[:1], out, _in_process, workers=1, threads=1).trained == 1
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "sweep.toml").write_text("# mine")
    check_sweep_out(notes)  # `sweep` writes no sweep.toml
    with pytest.raises(ConfigError, match="would overwrite its sweep.toml"):  # `reproduce` does
        check_sweep_out(notes, ("sweep.toml", "report.html", "figures"))
    report = run_sweep(configs[1:], out, _in_process, workers=1, threads=1)  # another plan: says so
    assert report.trained == 1 and report.outside_plan == [configs[0].run_id()] and (out / "sweep.toml").read_text() == "# mine"


def test_resuming_with_another_engine_is_refused_unless_allowed_and_recorded(tmp_path):
    from toydd import ConfigError

    base = Config(n_features=100, sparsity=0.9, steps=20, test_size=100, history_points=2, engine="cpu")
    out = tmp_path / "out"
    run_sweep([base.replace(dataset_size=5)], out, _in_process, workers=1, threads=1)
    assert read_results(out)["device"].tolist() == ["cpu"]
    more = [base.replace(dataset_size=5), base.replace(dataset_size=6, engine="torch", device="cpu")]
    with pytest.raises(ConfigError, match=r"engine cpu on cpu; this would train with engine torch on cpu") as error:
        run_sweep(more, out, _in_process, workers=1, threads=1)
    assert "\n" not in str(error.value) and len(read_results(out)) == 1 and not (out / "engines.json").exists()
    report = run_sweep(more, out, _in_process, workers=1, threads=1, allow_mixed_engines=True)
    assert report.trained == 1 and sorted(read_results(out)["engine"]) == ["cpu", "torch"]
    (record,) = json.loads((out / "engines.json").read_text())["mixed"]
    assert record["stored"] == [["cpu", "cpu"]] and record["added"] == [["torch", "cpu"]]
    again = run_sweep(more + [base.replace(dataset_size=7)], out, _in_process, workers=1, threads=1)  # cpu is stored
    assert again.trained == 1


def test_reuse_copies_the_complete_runs_of_another_sweep_or_a_train_run_instead_of_training_them(tmp_path):
    """--reuse: a planned run complete elsewhere under its id (a sweep's runs/, or a `toydd
    train` run) is copied in, byte for byte, and its row is the source's; a recorded failure of
    it goes, and so does the checkpoint of a stack whose runs are all copied. Trained instead,
    each with a note: a copy that fails verification, one recording other history points than
    planned, and one whose stack a checkpoint resumes with runs not found (copying it would start
    them again from step 0)."""
    from toydd import train
    from toydd._checkpoint import TrainState
    from toydd._store import load_run, save_run
    from toydd._sweep import failure_file, run_dir
    from toydd._train import stack_checkpoint

    base = Config(n_features=100, sparsity=0.9, steps=20, test_size=100, history_points=2, engine="cpu", dataset_size=6)
    pair = [base, base.replace(lr=3e-3)]  # one stack, both in `first`
    corrupt, fewer_points = base.replace(data_seed=1), base.replace(data_seed=3)
    held = [base.replace(data_seed=2), base.replace(data_seed=2, lr=3e-3)]  # one stack; the first in `lone`
    configs = pair + [corrupt, fewer_points] + held
    first = tmp_path / "first"
    run_sweep(pair + [corrupt, fewer_points.replace(history_points=3)], first, _in_process, workers=1, threads=1)
    lone = tmp_path / "lone"
    save_run(train(held[0]), lone)
    with open(run_dir(first, corrupt.run_id()) / "metrics.json", "a") as f:
        f.write(" ")
    out = tmp_path / "out"
    failure_file(out, pair[1].run_id()).parent.mkdir(parents=True)
    failure_file(out, pair[1].run_id()).write_text(json.dumps({"reason": "diverged"}))
    zeros = [np.zeros((2, 1)) for _ in range(7)]
    state = TrainState(*zeros, next_step=np.array([5, 5]), tree_order=np.zeros((2, 0), np.int64), tree_stats=np.zeros((2, 5), np.int64), seconds=1.0)
    stack_checkpoint(pair, folder=out / "checkpoints").save(state)
    kept = stack_checkpoint(held, folder=out / "checkpoints")
    kept.save(state)  # its shapes are not the runs': it resumes as a stack and trains from step 0
    report = run_sweep(configs, out, _in_process, workers=1, threads=1, reuse=[first, lone], retry_failed=False)
    assert report.reused == 2 and report.trained == 4 and report.already_complete == 2 and not report.failed
    assert report.redone == [
        f"not reused: {run_dir(first, corrupt.run_id()) / 'metrics.json'}: contents do not match the manifest (truncated or edited)",
        f"not reused: {run_dir(first, fewer_points.run_id())} records history_points = 3, snapshots = false; the plan has 2, false",
        f"not reused: run {held[0].run_id()} resumes with its stack from {kept.path} (remove that file to reuse it instead)",
    ]
    for config in pair:
        copied, source = run_dir(out, config.run_id()), run_dir(first, config.run_id())
        assert sorted(p.name for p in copied.iterdir()) == sorted(p.name for p in source.iterdir())
        assert all((copied / p.name).read_bytes() == p.read_bytes() for p in source.iterdir())
    assert not failure_file(out, pair[1].run_id()).exists() and not list((out / "checkpoints").glob("*.safetensors"))
    assert not [p for p in out.joinpath("runs").iterdir() if p.name.startswith(".")]  # no scratch copies left
    rows = comparable(out).set_index("run_id")
    ids = [c.run_id() for c in pair]
    pd.testing.assert_frame_equal(rows.loc[ids], comparable(first).set_index("run_id").loc[ids])
    assert len(rows) == 6 and report.planned == 6
    np.testing.assert_array_equal(load_run(run_dir(out, held[0].run_id())).W, load_run(lone).W)  # trained here: the same numbers
    again = run_sweep(configs, out, _in_process, workers=1, threads=1, reuse=[first])
    assert again.trained == 0 and again.reused == 0  # complete here: nothing copied


def test_a_checkpoint_of_another_job_does_not_keep_a_run_from_being_reused(tmp_path):
    """Only a checkpoint the sweep would resume (this toydd, engine and device) holds its stack's
    runs back; another toydd's starts from step 0 anyway."""
    from toydd._checkpoint import Checkpoint, TrainState

    base = Config(n_features=100, sparsity=0.9, steps=20, test_size=100, history_points=2, engine="cpu", dataset_size=5)
    pair = [base, base.replace(lr=3e-3)]
    first = tmp_path / "first"
    run_sweep(pair[:1], first, _in_process, workers=1, threads=1)
    out = tmp_path / "out"
    zeros = [np.zeros((2, 1)) for _ in range(7)]
    state = TrainState(*zeros, next_step=np.array([5, 5]), tree_order=np.zeros((2, 0), np.int64), tree_stats=np.zeros((2, 5), np.int64), seconds=1.0)
    Checkpoint(out / "checkpoints" / "0-another-toydd.safetensors", "0-another-toydd", tuple(c.run_id() for c in pair)).save(state)
    report = run_sweep(pair, out, _in_process, workers=1, threads=1, reuse=[first])
    assert report.reused == 1 and report.trained == 1 and report.redone == []


def test_a_copy_that_fails_after_the_sweep_is_accepted_is_trained_instead(tmp_path, monkeypatch):
    from toydd import _sweep
    from toydd._store import CorruptRun

    base = Config(n_features=100, sparsity=0.9, steps=20, test_size=100, history_points=2, engine="cpu", dataset_size=5)
    first = tmp_path / "first"
    run_sweep([base], first, _in_process, workers=1, threads=1)

    def vanished(source, out, run_id):
        raise CorruptRun(f"{source}: changed while being copied")

    monkeypatch.setattr(_sweep, "copy_run", vanished)
    report = run_sweep([base], tmp_path / "out", _in_process, workers=1, threads=1, reuse=[first])
    assert report.reused == 0 and report.trained == 1 and report.redone == [f"not reused: {_sweep.run_dir(first, base.run_id())}: changed while being copied"]


def test_reuse_is_refused_in_one_line_when_it_is_no_run_or_mixes_engines_and_then_nothing_is_copied(tmp_path):
    from toydd._sweep import run_dir

    base = Config(n_features=100, sparsity=0.9, steps=20, test_size=100, history_points=2, engine="cpu", dataset_size=5)
    out = tmp_path / "out"
    photos = tmp_path / "photos"
    photos.mkdir()
    for source, message in [(tmp_path / "absent", "not a directory"), (photos, "neither a toydd sweep directory nor a toydd run")]:
        with pytest.raises(ConfigError, match=f"--reuse {re.escape(str(source))}: {message}"):
            run_sweep([base], out, _in_process, workers=1, threads=1, reuse=[source])
    run_sweep([base], out, _in_process, workers=1, threads=1)
    with pytest.raises(ConfigError, match="is --out itself"):
        run_sweep([base], out, _in_process, workers=1, threads=1, reuse=[out])
    torch_sweep = tmp_path / "torch"
    run_sweep([base.replace(dataset_size=6, engine="torch", device="cpu")], torch_sweep, _in_process, workers=1, threads=1)
    wanted = [base, base.replace(dataset_size=6), base.replace(dataset_size=7)]
    with pytest.raises(ConfigError, match=r"stored and reused runs were trained by engine cpu on cpu, torch on cpu; this would train with engine cpu on cpu") as error:
        run_sweep(wanted, out, _in_process, workers=1, threads=1, reuse=[torch_sweep])
    assert "\n" not in str(error.value) and not run_dir(out, wanted[1].run_id()).exists() and len(read_results(out)) == 1
    assert len(json.loads((out / "plan.json").read_text())["runs"]) == 1  # the refused plan was not written
    with pytest.raises(ConfigError, match=r"trained by engine cpu on cpu, torch on cpu"):  # nothing to train: still a mix
        run_sweep(wanted[:2], out, _in_process, workers=1, threads=1, reuse=[torch_sweep])
    assert not run_dir(out, wanted[1].run_id()).exists()
    fresh = tmp_path / "fresh"  # a refused sweep leaves no trace, not even an empty runs/
    with pytest.raises(ConfigError, match=r"^\S+fresh: stored and reused runs were trained by engine torch on cpu"):
        run_sweep(wanted[1:], fresh, _in_process, workers=1, threads=1, reuse=[torch_sweep])
    assert not fresh.exists()
    report = run_sweep(wanted, out, _in_process, workers=1, threads=1, reuse=[torch_sweep], allow_mixed_engines=True)
    assert report.reused == 1 and report.trained == 1 and sorted(read_results(out)["engine"]) == ["cpu", "cpu", "torch"]


def test_the_sweep_command_says_what_it_reused(tmp_path):
    from click.testing import CliRunner

    from toydd.cli import main

    sweep = write_sweep(tmp_path, steps=20)
    first, second = tmp_path / "first", tmp_path / "second"
    assert CliRunner().invoke(main, ["sweep", str(sweep), "--out", str(first), "--workers", "1", "--quiet"]).exit_code == 0
    shown = CliRunner().invoke(main, ["sweep", str(sweep), "--out", str(second), "--workers", "1", "--quiet", "--reuse", str(first)])
    assert shown.exit_code == 0, shown.output
    assert "reused 7 complete run(s) from --reuse instead of training them" in shown.stderr
    assert shown.stdout.endswith(f"{second}: nothing to train: 7 of 7 runs complete (7 copied from --reuse)\n")
    refused = CliRunner().invoke(main, ["sweep", str(sweep), "--out", str(tmp_path / "third"), "--reuse", str(tmp_path / "nowhere")])
    assert refused.exit_code != 0 and refused.stderr == f"error: --reuse {tmp_path / 'nowhere'}: not a directory\n"
    assert not (tmp_path / "third").exists()  # refused before anything is written


def test_a_second_sweep_on_a_directory_in_use_is_refused_in_one_line(tmp_path):
    """Two drivers on one DIR would train the same runs twice; the second stops, writing nothing."""
    from toydd._sweep import plan_file, sweep_lock

    base = Config(n_features=100, sparsity=0.9, steps=20, test_size=100, history_points=2, engine="cpu", dataset_size=5)
    out = tmp_path / "out"
    run_sweep([base], out, _in_process, workers=1, threads=1)
    plan = plan_file(out).read_bytes()
    failure = out / "failed" / "0123456789abcdef.json"  # the running sweep's record, which a --retry-failed survey would delete
    failure.parent.mkdir()
    failure.write_text("{}")
    with sweep_lock(out):  # as a running sweep holds it
        with pytest.raises(ConfigError, match=rf"^{re.escape(str(out))}: a sweep is already running on it \(pid {os.getpid()} on \S+\); wait for it"):
            run_sweep([base, base.replace(dataset_size=6)], out, _in_process, workers=1, threads=1, retry_failed=True)
        assert plan_file(out).read_bytes() == plan and len(read_results(out)) == 1 and failure.exists()  # refused before touching DIR
        shown = toydd("sweep", str(write_sweep(tmp_path, steps=20)), "--out", str(out), "--quiet")
        assert shown.returncode == 2 and len(shown.stderr.strip().splitlines()) == 1 and "a sweep is already running on it" in shown.stderr
    assert run_sweep([base, base.replace(dataset_size=6)], out, _in_process, workers=1, threads=1).trained == 1  # released


def test_a_file_system_without_locks_runs_the_sweep_unguarded_and_says_so(tmp_path, monkeypatch, capsys):
    import errno
    import fcntl

    def no_locks(*args):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    base = Config(n_features=100, sparsity=0.9, steps=20, test_size=100, history_points=2, engine="cpu", dataset_size=5)
    assert run_sweep([base], tmp_path / "out", _in_process, workers=1, threads=1).trained == 1
    assert capsys.readouterr().err == f"note: {tmp_path / 'out'}: no file lock here (No locks available); nothing stops a second sweep on it\n"


def test_results_shows_the_fields_a_sweep_varies_and_suggests_a_mistyped_column(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from toydd.cli import main

    base = Config(n_features=100, sparsity=0.9, steps=20, test_size=100, history_points=2, engine="cpu", dataset_size=5)
    out = tmp_path / "out"
    run_sweep([base, base.replace(lr=3e-3)], out, _in_process, workers=1, threads=1)
    shown = CliRunner().invoke(main, ["results", str(out)])
    assert shown.exit_code == 0 and shown.stdout.split()[:3] == ["run_id", "lr", "dataset_size"]  # rows tell apart
    monkeypatch.chdir(tmp_path)  # where a file named "-" would land
    piped = CliRunner().invoke(main, ["results", str(out), "--csv", "-"])
    assert piped.exit_code == 0 and len(pd.read_csv(io.StringIO(piped.stdout))) == 2 and not (tmp_path / "-").exists()
    typo = CliRunner().invoke(main, ["results", str(out), "--columns", "test_los"])
    assert typo.exit_code == 2 and typo.stderr.endswith("no column 'test_los' in " + str(out / "results.parquet") + " (did you mean 'test_loss'?)\n")


def test_auto_giving_runs_different_engines_resumes_without_a_mix(tmp_path, monkeypatch):
    """engine = "auto" trains large T with the tree and small T with the dense pass: a sweep that
    stopped after its large runs resumes without --allow-mixed-engines."""
    from toydd import _engines

    monkeypatch.setattr(_engines, "TREE_SETTINGS", ((100, 0.9, 40),))
    monkeypatch.setattr(_engines, "_cuda_available", lambda: False)
    base = Config(n_features=100, sparsity=0.9, steps=20, test_size=100, history_points=2)
    out = tmp_path / "out"
    run_sweep([base.replace(dataset_size=50)], out, _in_process, workers=1, threads=1)
    report = run_sweep([base.replace(dataset_size=50), base.replace(dataset_size=5)], out, _in_process, workers=1, threads=1)
    assert report.trained == 1 and sorted(read_results(out)["engine"]) == ["cpu", "tree"]
    assert not (out / "engines.json").exists()


def test_a_diverging_run_is_a_failure_record_with_its_step(tmp_path):
    config = Config(n_features=100, sparsity=0.9, steps=50, test_size=100, history_points=2, dataset_size=5, lr=1e30, warmup_fraction=0.0)
    report = run_sweep([config], tmp_path / "out", _in_process, workers=1, threads=1)
    (failure,) = report.failed
    assert failure.reason.startswith("diverged: loss is not finite at step ")
    assert json.loads((tmp_path / "out" / "failed" / f"{config.run_id()}.json").read_text())["reason"] == failure.reason


def test_the_results_table_is_built_without_rehashing_run_files(tmp_path, monkeypatch):
    """Each stored file is hashed once when a sweep resumes (survey's check against the manifest);
    rebuilding results.parquet reads config.json and metrics.json only."""
    from toydd import _store
    from toydd._sweep import result_row, run_dir

    base = Config(n_features=100, sparsity=0.9, steps=20, test_size=100, history_points=2)
    configs = [base.replace(dataset_size=5), base.replace(dataset_size="inf")]
    out = tmp_path / "out"
    run_sweep(configs, out, _in_process, workers=1, threads=1)
    reference = read_results(out)
    stored = sum(len(json.loads((run_dir(out, c.run_id()) / "manifest.json").read_text())["files"]) for c in configs)
    hashed = []
    real = _store._sha256
    monkeypatch.setattr(_store, "_sha256", lambda path: hashed.append(Path(path)) or real(path))
    again = run_sweep(configs, out, _in_process, workers=1, threads=1)
    assert again.trained == 0 and len(hashed) == stored == len(set(hashed))  # verified once, by survey
    pd.testing.assert_frame_equal(read_results(out), reference, check_exact=True)
    hashed.clear()
    rows = [result_row(run_dir(out, c.run_id())) for c in configs]
    assert not hashed and sorted(r["run_id"] for r in rows) == sorted(reference["run_id"])
    (run_dir(out, configs[0].run_id()) / "metrics.json").write_text("{not json")
    with pytest.raises(_store.CorruptRun, match="metrics.json"):
        result_row(run_dir(out, configs[0].run_id()))


SCALE_OUT_SWEEP = """
[base]
n_features = 100
sparsity = 0.9
n_hidden = 2
steps = 300
test_size = 200
history_points = 4

[grid]
dataset_size = [5, 10, 20, 30, 40, 50]
data_seed = [0, 1, 2]
"""


def _stop(procs: list) -> None:
    """Terminate each process's whole group (a dask worker's nanny and its child), then kill."""
    for proc in procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # also children left behind by a leader that exited
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def test_dask_scheduler_and_workers_as_users_run_them_survive_a_killed_worker(tmp_path):
    """A real `dask scheduler` and two `dask worker` processes on loopback, the sweep submitted
    with --scheduler from the command line, one worker (nanny and child) killed mid-sweep: Dask
    gives its task to the other worker, and the table equals a local run's bit for bit."""
    from distributed import Client

    from toydd._store import _pid_alive

    sweep = tmp_path / "sweep.toml"
    sweep.write_text(SCALE_OUT_SWEEP)
    total = 18
    dask_cli = str(Path(sys.executable).with_name("dask"))
    scheduler_file = tmp_path / "scheduler.json"
    out, local_out = tmp_path / "dask", tmp_path / "local"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "start_new_session": True, "cwd": tmp_path}
    procs: list[subprocess.Popen] = []
    try:
        procs.append(subprocess.Popen(
            [dask_cli, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(scheduler_file)], **quiet,
        ))  # fmt: skip
        deadline = time.time() + 60
        while time.time() < deadline and not scheduler_file.is_file():
            assert procs[0].poll() is None, "dask scheduler exited"
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        workers = []
        for name in ("w0", "w1"):
            workers.append(subprocess.Popen(
                [dask_cli, "worker", "--nworkers", "1", "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard",
                 "--local-directory", str(tmp_path / name), "--name", name, "--scheduler-file", str(scheduler_file)], **quiet,
            ))  # fmt: skip
        procs += workers
        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        sweep_proc = subprocess.Popen(
            [sys.executable, "-m", "toydd.cli", "sweep", str(sweep), "--out", str(out), "--executor", "dask",
             "--scheduler", address, "--threads", "1", "--quiet"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        procs.append(sweep_proc)
        deadline = time.time() + 120
        while time.time() < deadline and sweep_proc.poll() is None and not list((out / "runs").glob("[!.]*")):
            time.sleep(0.05)
        victim = psutil.Process(workers[0].pid)
        victims = [victim.pid] + [p.pid for p in victim.children(recursive=True)]
        assert len(victims) >= 2, "a dask worker is a nanny and its worker process"
        os.killpg(workers[0].pid, signal.SIGKILL)  # the nanny and its worker process, no goodbye
        workers[0].wait(timeout=10)
        done_at_kill = len(list((out / "runs").glob("[!.]*")))
        assert 1 <= done_at_kill < total, "the kill should land while runs are in flight"
        stdout, stderr = sweep_proc.communicate(timeout=300)
        assert sweep_proc.returncode == 0, stderr
        deadline = time.time() + 10
        while time.time() < deadline and any(_pid_alive(pid) for pid in victims):
            time.sleep(0.05)
        assert not any(_pid_alive(pid) for pid in victims)
        assert workers[1].poll() is None  # the other worker finished the sweep
    finally:
        _stop(procs)
    assert len(list((out / "runs").glob("[!.]*"))) == total and not (out / "failed").exists()
    reference = toydd("sweep", str(sweep), "--out", str(local_out), "--workers", "1", "--threads", "1", "--quiet")
    assert reference.returncode == 0, reference.stderr
    assert len(read_results(local_out)) == total
    pd.testing.assert_frame_equal(comparable(out), comparable(local_out), check_exact=True)


def test_status_counts_a_checkpoint_written_by_another_engine_and_its_models_one_after_another(tmp_path):
    """A GPU sweep's status read on a login node: its torch-on-CUDA checkpoint counts, though
    this machine would train the same configs on its cpu (status need not run where training
    does); a checkpoint of another toydd does not. The torch engine trains a stack's models one
    after another: the pace comes from the steps of all of them (one done, one at 50)."""
    from click.testing import CliRunner

    from toydd._checkpoint import Checkpoint, TrainState
    from toydd._sweep import sweep_progress, write_plan
    from toydd._train import checkpoint_key
    from toydd.cli import main

    configs = [Config(dataset_size=10, steps=200, data_seed=seed) for seed in (0, 1)]  # engine and device "auto"
    write_plan(tmp_path, configs)
    zeros = [np.zeros((2, 1)) for _ in range(7)]
    state = TrainState(*zeros, next_step=np.array([200, 50]), tree_order=np.zeros((2, 0), np.int64), tree_stats=np.zeros((2, 5), np.int64), seconds=500.0)
    key = checkpoint_key(configs, "torch", "cuda")
    Checkpoint(tmp_path / "checkpoints" / f"{key}.safetensors", key, tuple(c.run_id() for c in configs)).save(state)
    Checkpoint(tmp_path / "checkpoints" / "0-another-toydd.safetensors", "0-another-toydd", (configs[1].run_id(),)).save(state)
    progress = sweep_progress(tmp_path)
    assert [s.configs for s in progress.in_progress] == [configs] and progress.not_started == 0
    stack = progress.in_progress[0]
    assert stack.step == 50 and stack.steps_done == 250 and stack.seconds_left == pytest.approx(500 / 250 * 150)
    shown = CliRunner().invoke(main, ["status", str(tmp_path)])
    assert shown.exit_code == 0, shown.output
    assert "step 50 of 200 (25%), 8 min of training so far, about 5 min more at its pace so far" in shown.stdout


def test_results_columns_do_not_depend_on_which_run_comes_first(tmp_path):
    from toydd._sweep import write_results

    # as `result_row` builds them: dataset_size a float, inf for infinite data
    finite = {"run_id": "a", **Config(dataset_size=5).to_dict(), "dataset_size": 5.0, "cluster_count": 1, "train_loss": 0.5}
    infinite = {"run_id": "b", **Config(dataset_size="inf").to_dict(), "dataset_size": float("inf"), "train_loss": 0.7}
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one = pd.read_parquet(write_results(tmp_path / "one", [finite, infinite]))
    two = pd.read_parquet(write_results(tmp_path / "two", [infinite, finite]))
    assert list(one.columns) == list(two.columns)
    assert list(one.columns[:2]) == ["run_id", "n_features"] and list(one.columns[-2:]) == ["cluster_count", "train_loss"]


def test_results_prints_the_chosen_columns_all_of_them_or_names_an_unknown_one(tmp_path):
    from click.testing import CliRunner

    from toydd._sweep import write_results
    from toydd.cli import main

    rows = [{"run_id": r, **Config(dataset_size=t).to_dict(), "dataset_size": float(t), "train_loss": loss} for r, t, loss in (("a", 5, 0.25), ("b", 40, 0.5))]
    write_results(tmp_path, rows)
    runner = CliRunner()
    chosen = runner.invoke(main, ["results", str(tmp_path), "--columns", "run_id,train_loss", "--csv", str(tmp_path / "all.csv")])
    assert chosen.exit_code == 0, chosen.output
    assert chosen.stdout.split() == ["run_id", "train_loss", "a", "0.25", "b", "0.50"]
    assert list(pd.read_csv(tmp_path / "all.csv").columns) == list(pd.read_parquet(tmp_path / "results.parquet").columns)  # the CSV has every column
    sizes = runner.invoke(main, ["results", str(tmp_path), "--columns", "run_id,dataset_size"])
    assert sizes.stdout.split() == ["run_id", "dataset_size", "a", "5", "b", "40"]  # T as the count it is, not 5.0
    everything = runner.invoke(main, ["results", str(tmp_path), "--columns", "all"])
    assert everything.exit_code == 0 and "n_features" in everything.stdout.splitlines()[0]
    unknown = runner.invoke(main, ["results", str(tmp_path), "--columns", "run_id,nope", "--csv", str(tmp_path / "typo.csv")])
    assert unknown.exit_code == 2 and unknown.stderr.strip().splitlines() == [f"error: --columns: no column 'nope' in {tmp_path / 'results.parquet'}"]
    assert not (tmp_path / "typo.csv").exists()  # a mistyped command writes nothing
    for empty in ("", ",,"):
        none = runner.invoke(main, ["results", str(tmp_path), "--columns", empty])
        assert none.exit_code == 2 and none.stderr.strip().splitlines() == ["error: --columns: no column named (comma-separated names, or 'all')"]
    (tmp_path / "empty").mkdir()
    write_results(tmp_path / "empty", [])  # no run complete yet: a table without columns
    for columns in ("all", "run_id"):
        nothing = runner.invoke(main, ["results", str(tmp_path / "empty"), "--columns", columns])
        assert nothing.exit_code == 0 and nothing.stdout == "(no complete runs)\n"


@pytest.mark.parametrize(
    "option,owner,executor",
    [(["--scheduler", "tcp://127.0.0.1:1"], "dask", "local"), (["--partition", "gpu"], "slurm", "local"), (["--time", "30"], "slurm", "local"),
     (["--workers", "2"], "local or dask", "slurm")],
)  # fmt: skip
def test_an_option_of_another_executor_is_refused_not_ignored(tmp_path, option, owner, executor):
    out = tmp_path / "out"
    done = toydd("sweep", str(write_sweep(tmp_path)), "--out", str(out), "--executor", executor, *option)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [f"error: {option[0]} is an option of --executor {owner}, not {executor}"]
    assert not out.exists()


def test_a_scheduler_address_of_an_unknown_scheme_is_refused_before_anything_is_written(tmp_path):
    out = tmp_path / "out"
    done = toydd("sweep", str(write_sweep(tmp_path)), "--out", str(out), "--executor", "dask", "--scheduler", "foo://bar", "--workers", "1")
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "error: --scheduler 'foo://bar': unknown address scheme 'foo' (known schemes: ['inproc', 'tcp', 'tls', 'ucx', 'ws', 'wss'])"
    ]
    assert not out.exists()


def test_a_run_moved_into_another_runs_directory_is_trained_again(tmp_path, tiny):
    """Its files match its own manifest, but it is not the run the directory's name says."""
    from toydd._sweep import is_complete, run_dir

    configs = [tiny.replace(engine="cpu", data_seed=seed) for seed in range(2)]
    out = tmp_path / "sweep"
    run_sweep(configs, out, _in_process, workers=1, threads=1)
    first, second = (run_dir(out, c.run_id()) for c in configs)
    shutil.rmtree(second)
    shutil.copytree(first, second)
    assert not is_complete(out, configs[1].run_id()) and is_complete(out, configs[0].run_id())
    report = run_sweep(configs, out, _in_process, workers=1, threads=1)
    assert report.trained == 1 and any("not of " + configs[1].run_id() in message for message in report.redone)
    # a run renamed into a free directory of another id goes back to its own, not to the bin
    shutil.rmtree(first)
    second.rename(first)  # now configs[1]'s run sits in configs[0]'s directory, its own is free
    again = run_sweep(configs, out, _in_process, workers=1, threads=1)
    assert again.trained == 1 and is_complete(out, configs[1].run_id()) and is_complete(out, configs[0].run_id())


def test_results_tables_of_another_shape_and_odd_records_are_one_line_errors(tmp_path):
    """A parquet file without the results' columns, a failure record of another JSON shape and a
    broken record of mixed engines: one line naming the file, never a traceback."""
    from toydd._store import CorruptRun
    from toydd._sweep import _engines_record, failure_file, failure_reasons

    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "results.parquet")
    with pytest.raises(CorruptRun, match=r"results.parquet: not a toydd results table \(no column 'run_id'\)"):
        read_results(tmp_path)
    config = Config(n_features=50)
    failure_file(tmp_path, config.run_id()).parent.mkdir(parents=True)
    failure_file(tmp_path, config.run_id()).write_text("[]")
    assert failure_reasons(tmp_path, [config]) == {config.run_id(): "(unreadable failure record)"}
    for text in ("[]", "{"):
        (tmp_path / "engines.json").write_text(text)
        with pytest.raises(CorruptRun, match="engines.json: unreadable record of mixed engines"):
            _engines_record(tmp_path / "engines.json")


def test_status_counts_runs_and_estimates_the_time_left_without_touching_anything(tmp_path):
    """`toydd status` on a sweep with complete, failed, corrupt, checkpointed (infinite data) and
    untouched runs: the counts, the stack's step, the estimate (the checkpoint's share taken off)
    and not one file changed (a sweep would remove the corrupt run; status only reads).
    Checkpoints the next sweep would not resume (another toydd's, a stack with a complete run)
    count for nothing; those it keeps (another toydd's, an earlier plan's) are named."""
    from toydd._checkpoint import Checkpoint, TrainState
    from toydd._presets import run_seconds
    from toydd._sweep import failure_file, run_dir, sweep_progress
    from toydd._train import stack_checkpoint
    from toydd.cli import _duration

    sweep = write_sweep(tmp_path, steps=200)
    out = tmp_path / "out"
    assert toydd("sweep", str(sweep), "--out", str(out), "--quiet").returncode == 0
    configs = sorted(parse_sweep(sweep.read_text()).configs(), key=lambda c: c.run_id())
    failed, corrupt = [c for c in configs if not c.infinite_data][:2]
    stopped = next(c for c in configs if c.infinite_data)
    kept = next(c for c in configs if c not in (failed, corrupt, stopped))
    run_dir(out, failed.run_id()).joinpath("manifest.json").unlink()
    failure_file(out, failed.run_id()).parent.mkdir(exist_ok=True)
    failure_file(out, failed.run_id()).write_text(json.dumps({"reason": "diverged"}))
    with open(run_dir(out, corrupt.run_id()) / "metrics.json", "a") as f:
        f.write(" ")
    shutil.rmtree(run_dir(out, stopped.run_id()))

    def state(step):
        zeros = [np.zeros((1, 1)) for _ in range(7)]
        return TrainState(*zeros, next_step=np.array([step]), tree_order=np.zeros((1, 0), np.int64), tree_stats=np.zeros((1, 5), np.int64), seconds=100.0)

    stack_checkpoint([stopped], folder=out / "checkpoints").save(state(50))
    Checkpoint(out / "checkpoints" / "000000-older-toydd.safetensors", "older", (stopped.run_id(),)).save(state(160))
    stack_checkpoint([stopped, kept], folder=out / "checkpoints").save(state(120))
    abandoned = stopped.replace(data_seed=99)  # a run of an earlier plan, stopped at a checkpoint
    stack_checkpoint([abandoned], folder=out / "checkpoints").save(state(30))
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    progress = sweep_progress(out)
    assert len(progress.planned) == 7 and len(progress.complete) == 4 and kept in progress.complete
    assert progress.failed == [failed] and [s.configs for s in progress.in_progress] == [[stopped]] and progress.in_progress[0].step == 50
    left = run_seconds(corrupt) + 0.75 * run_seconds(stopped)  # the failed run is not counted
    assert progress.remaining_seconds == pytest.approx(left) and progress.estimated_seconds == pytest.approx(sum(map(run_seconds, configs)))
    shown = toydd("status", str(out))
    assert shown.returncode == 0, shown.stderr
    assert "7 runs planned" in shown.stdout and "4 complete, 1 failed, 1 in progress, 1 not started (1 of the runs not complete have a run directory that fails verification" in shown.stdout
    assert progress.corrupt == [corrupt]
    idle = sorted(p.name for p in progress.idle_checkpoints)
    assert idle == sorted(["000000-older-toydd.safetensors", stack_checkpoint([abandoned], folder=out / "checkpoints").path.name])
    assert "kept: 2 checkpoint(s) in" in shown.stdout and "that this plan does not resume" in shown.stdout and all(name in shown.stdout for name in idle)
    assert "T = ∞" in shown.stdout and "step 50 of 200 (25%)" in shown.stdout and "2 min of training" in shown.stdout
    assert "2 min of training so far, about 5 min more at its pace so far" in shown.stdout  # 100 s for 50 steps, 150 to go
    assert progress.failed_seconds == pytest.approx(run_seconds(failed))
    assert f"not counted: the 1 failed run(s), up to {_duration(run_seconds(failed))} more on one core with --retry-failed" in shown.stdout
    assert before == {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    assert "no sweep is running on it on this machine: the command that planned it, run again, resumes it" in shown.stdout
    (out / "plan.json").write_text("{")
    broken = toydd("status", str(out))
    assert broken.returncode == 2 and broken.stderr.startswith("error: ") and "plan.json" in broken.stderr and len(broken.stderr.strip().splitlines()) == 1


def test_status_leaves_torch_runs_out_of_the_cost_model_and_says_so(tmp_path):
    """The cost model was measured on the numba engines: a planned torch run (engine = "torch", or
    device = "cuda") adds nothing to the estimates, and `toydd status` names how many it left out."""
    from toydd._presets import run_seconds
    from toydd._sweep import sweep_progress, write_plan

    configs = parse_sweep(SWEEP.format(steps=200)).configs()
    numba = [c for c in configs if not c.infinite_data][:2]
    planned = numba + [numba[0].replace(engine="torch", data_seed=7), numba[1].replace(engine="torch", device="cuda", data_seed=8)]
    out = tmp_path / "out"
    out.mkdir()
    write_plan(out, planned)
    progress = sweep_progress(out)
    assert progress.unmodelled == 2
    assert progress.estimated_seconds == pytest.approx(sum(map(run_seconds, numba)))
    assert progress.remaining_seconds == pytest.approx(progress.estimated_seconds)
    shown = toydd("status", str(out))
    assert shown.returncode == 0, shown.stderr
    assert "not counted: its 2 torch run(s), which the model does not cover" in shown.stdout
    write_plan(out, numba)
    assert "torch run(s)" not in toydd("status", str(out)).stdout


def test_status_paces_a_run_by_all_its_restarts_and_names_the_sweep_running_on_it(tmp_path):
    """A run of 4 restarts trains them as 4 models of one stack: its time left counts 4 x steps
    (it read negative minutes). While a driver holds DIR's lock, status says so, read from the
    kernel's lock table without taking the lock (a sweep starting meanwhile is not refused)."""
    from toydd._checkpoint import TrainState
    from toydd._sweep import StackProgress, lock_holder, sweep_lock
    from toydd._train import stack_checkpoint

    config = Config(n_features=100, sparsity=0.9, steps=200, test_size=100, history_points=2, engine="cpu", dataset_size=5, restarts=4)
    assert StackProgress([config], step=150, steps_done=600, seconds=300.0).seconds_left == pytest.approx(100.0)  # 600 of 800 model steps
    out = tmp_path / "out"
    run_sweep([config], out, _in_process, workers=1, threads=1)
    shutil.rmtree(out / "runs")
    zeros = [np.zeros((4, 1)) for _ in range(7)]
    state = TrainState(*zeros, next_step=np.array([150] * 4), tree_order=np.zeros((4, 0), np.int64), tree_stats=np.zeros((4, 5), np.int64), seconds=300.0)
    stack_checkpoint([config], folder=out / "checkpoints").save(state)
    shown = toydd("status", str(out))
    assert shown.returncode == 0 and "step 150 of 200 (75%), 5 min of training so far, about 2 min more at its pace so far" in shown.stdout, shown.stdout
    if not Path("/proc/locks").exists():
        pytest.skip("no /proc/locks here: status cannot tell whether a sweep runs")
    assert lock_holder(out) is None
    with sweep_lock(out):  # as a running sweep holds it
        assert lock_holder(out) == f"pid {os.getpid()} on {socket.gethostname()}"
        running = toydd("status", str(out))
        assert f"running now (pid {os.getpid()} on " in running.stdout and "no sweep is running" not in running.stdout
    assert lock_holder(out) is None
