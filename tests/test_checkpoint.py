"""Checkpoints: a run killed mid-way resumes to the same numbers bit for bit; signals stop it at a
checkpoint; a checkpoint never resumes another job; a corrupt one costs time, never correctness."""

import contextlib
import os
import pty
import signal
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file

from toydd import train
from toydd import _checkpoint
from toydd._checkpoint import Interrupted, StopSignals, stop_requested
from toydd._engine_cpu import segments
from toydd._train import stack_checkpoint

# n = 200, T = 300, 3000 steps: a few seconds, long enough to kill mid-way
ARGS = ["--n-features", "200", "--sparsity", "0.95", "--dataset-size", "300", "--steps", "3000", "--test-size", "300",
        "--engine", "cpu", "--history-points", "8", "--checkpoint-every", "200", "--quiet"]  # fmt: skip


def train_command(out: Path) -> list[str]:
    return [sys.executable, "-m", "toydd.cli", "train", "--out", str(out), *ARGS]


def checkpoint_of(out: Path) -> Path:
    return out.parent / f".{out.name}.checkpoint.safetensors"


def wait_for(path: Path, proc: subprocess.Popen) -> None:
    deadline = time.time() + 300
    while not path.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    assert path.exists() and proc.poll() is None, "the run should still be training after its first checkpoint"


def wait_for_handler(proc: subprocess.Popen, signum: int) -> None:
    """Until the process catches `signum` (its bit in SigCgt of /proc/PID/status): a fixed sleep
    would signal a slow machine's process before StopSignals is set, and kill it."""
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline:
        if catches(proc.pid, signum):
            return
        time.sleep(0.01)
    raise AssertionError(f"the process never caught signal {signum}")


def catches(pid: int, signum: int) -> bool:
    """Whether process `pid` catches `signum`: its bit in SigCgt of /proc/PID/status."""
    status = Path(f"/proc/{pid}/status").read_text()
    caught = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
    return bool(caught >> (signum - 1) & 1)


def test_train_killed_mid_way_resumes_to_the_same_weights(tmp_path):
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    assert subprocess.run(train_command(clean), capture_output=True, timeout=300).returncode == 0
    proc = subprocess.Popen(train_command(killed), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(checkpoint_of(killed), proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not killed.exists() and checkpoint_of(killed).exists()
    again = subprocess.run(train_command(killed), capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "resuming from checkpoint" in again.stderr and "at step 0" not in again.stderr
    assert not checkpoint_of(killed).exists()  # removed once the run is saved
    for name in ("model.safetensors",):
        a, b = load_file(clean / name), load_file(killed / name)
        np.testing.assert_array_equal(a["W"], b["W"])
        np.testing.assert_array_equal(a["b"], b["b"])
    pd.testing.assert_frame_equal(pd.read_parquet(clean / "history.parquet"), pd.read_parquet(killed / "history.parquet"))


def test_sigterm_writes_a_checkpoint_and_stops_within_seconds(tmp_path):
    """`toydd train` stopped by SIGTERM. That resuming from such a checkpoint is exact is tested
    through the API below, and for `toydd sweep` stopped by SIGTERM by test_sweep."""
    out = tmp_path / "run"
    args = train_command(out)
    args[args.index("--checkpoint-every") + 1] = "0"  # only time-based: the signal must write it
    args[args.index("--steps") + 1] = "300000"
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_handler(proc, signal.SIGTERM)
    time.sleep(1)  # into training: the signal must interrupt the compiled loop, not only its start
    proc.send_signal(signal.SIGTERM)
    started = time.time()
    _, err = proc.communicate(timeout=60)
    assert time.time() - started < 10, "a stop signal is acted on within seconds"
    assert proc.returncode == 128 + signal.SIGTERM
    assert "interrupted by SIGTERM: checkpoint at step" in err and len(err.strip().splitlines()) == 1
    assert checkpoint_of(out).exists() and not out.exists()


def test_ctrl_c_writes_a_checkpoint_and_a_second_stops_at_once(tmp_path):
    """The first SIGINT stops `toydd train` at a checkpoint (exit 130); resuming is the SIGTERM
    path's, tested below. Then StopSignals gives SIGINT back: a second acts at once."""
    out = tmp_path / "run"
    args = train_command(out)
    args[args.index("--checkpoint-every") + 1] = "0"
    args[args.index("--steps") + 1] = "300000"
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_handler(proc, signal.SIGTERM)  # set with SIGINT's (Python always catches SIGINT)
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGINT
    assert "interrupted by SIGINT: checkpoint at step" in err and len(err.strip().splitlines()) == 1
    assert checkpoint_of(out).exists() and not out.exists()
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (a test worker may ignore it)
    try:
        with StopSignals() as stop:
            os.kill(os.getpid(), signal.SIGINT)  # recorded, not fatal
            assert stop.received == signal.SIGINT
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(1)  # the handler runs between bytecodes
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, outer)


def test_a_closed_terminal_stops_training_at_a_checkpoint(tmp_path):
    """A hangup (the terminal closed, an ssh session dropped) stops `toydd train` as SIGTERM does,
    at a checkpoint with exit status 128 + SIGHUP: not killed, losing the training since the last
    checkpoint, and not failing with an I/O error as it reports the stop to a terminal that is gone."""
    out = tmp_path / "run"
    args = train_command(out)
    args[args.index("--checkpoint-every") + 1] = "0"
    args[args.index("--steps") + 1] = "300000"
    pid, terminal = pty.fork()
    if pid == 0:  # the child: a session of its own, with the terminal as its controlling terminal
        try:
            signal.signal(signal.SIGHUP, signal.SIG_DFL)  # as in a terminal, even if these tests run under nohup
            os.execv(sys.executable, args)
        finally:
            os._exit(127)  # never go on as a second pytest
    try:
        deadline = time.time() + 300
        while not catches(pid, signal.SIGHUP) and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(1)  # into training
        os.close(terminal)  # the terminal goes away: the kernel sends its session SIGHUP
        status = wait_exit(pid, timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert status == 128 + signal.SIGHUP
    assert checkpoint_of(out).exists() and not out.exists()


def wait_exit(pid: int, timeout: float) -> int | None:
    """The exit status of child `pid`, or None if it still runs after `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    return None


@pytest.mark.parametrize("disposition,stops", [(signal.SIG_DFL, True), (signal.SIG_IGN, False)])
def test_a_hangup_stops_training_unless_ignored_as_under_nohup(disposition, stops):
    outer = signal.signal(signal.SIGHUP, disposition)
    try:
        with StopSignals() as stop:
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.1)  # the handler runs between bytecodes
            assert stop.received == (signal.SIGHUP if stops else None)
        assert signal.getsignal(signal.SIGHUP) is disposition
    finally:
        signal.signal(signal.SIGHUP, outer)


@pytest.mark.parametrize("engine", ["cpu", "torch"])
def test_stop_signal_raises_interrupted_after_a_checkpoint_and_resuming_is_exact(tiny, tmp_path, engine):
    config = tiny.replace(steps=1000, restarts=2, engine=engine, device="cpu")
    checkpoint = stack_checkpoint([config], path=tmp_path / "ck.safetensors")
    with StopSignals() as stop:
        os.kill(os.getpid(), signal.SIGUSR2)  # recorded, not fatal
        with pytest.raises(Interrupted, match="SIGUSR2: checkpoint at step 1 in"):
            train(config, checkpoint=checkpoint)
    assert stop.received == signal.SIGUSR2 and checkpoint.path.exists()
    assert signal.getsignal(signal.SIGUSR2) is signal.SIG_DFL  # restored
    resumed, plain = train(config, checkpoint=checkpoint), train(config)
    np.testing.assert_array_equal(resumed.W, plain.W)
    np.testing.assert_array_equal(resumed.b, plain.b)
    assert resumed.restart_train_losses == plain.restart_train_losses
    for name in plain.history:
        np.testing.assert_array_equal(resumed.history[name], plain.history[name])


def test_a_stop_from_poll_stops_a_worker_thread_at_a_checkpoint(tiny, tmp_path, monkeypatch):
    """Off the main thread (a Dask worker's task) no signal handler can be set: the stop comes from
    `poll` (the driver's Event), asked at most every POLL_SECONDS, and stops training at a
    checkpoint as a signal does."""
    config = tiny.replace(steps=1000)
    checkpoint = stack_checkpoint([config], path=tmp_path / "ck.safetensors")
    asked, seen = [], {}
    monkeypatch.setattr(_checkpoint, "POLL_SECONDS", 3600.0)

    def poll():
        asked.append(time.monotonic())
        return signal.SIGTERM if len(asked) > 1 else None

    def task():
        with StopSignals(poll=poll):
            seen["first"] = stop_requested()
            seen["throttled"] = [stop_requested() for _ in range(5)]
            _checkpoint.POLL_SECONDS = 0.0
            try:
                train(config, checkpoint=checkpoint)
            except Interrupted as error:
                seen["interrupted"] = error

    thread = threading.Thread(target=task)
    thread.start()
    thread.join()
    assert seen["first"] is None and seen["throttled"] == [None] * 5 and len(asked) == 2  # one ask an hour, then the one that stopped it
    assert "SIGTERM: checkpoint at step 1 in" in str(seen["interrupted"]) and checkpoint.path.exists()


def test_threads_inside_stop_signals_at_once_each_see_their_own_stop(monkeypatch):
    """A Dask worker runs several tasks in threads of one process, each inside its own
    StopSignals at the same time: one task's stop is not another's, nor the main thread's, and
    leaving them in any order leaves each thread's own in place."""
    monkeypatch.setattr(_checkpoint, "POLL_SECONDS", 0.0)
    inside, first_left = threading.Barrier(3), threading.Event()
    seen = {}

    def task(name, answer):
        with StopSignals(poll=lambda: answer):
            inside.wait(timeout=10)  # all three inside at once
            seen[name] = stop_requested()
            if name == "running":
                first_left.wait(timeout=10)  # "stopped" left first, while this one is still inside
                seen["running after the other left"] = stop_requested()
        seen[f"{name} outside"] = stop_requested()
        if name == "stopped":
            first_left.set()

    with StopSignals(poll=lambda: None):
        threads = [threading.Thread(target=task, args=args) for args in (("stopped", signal.SIGTERM), ("running", None))]
        for thread in threads:
            thread.start()
        inside.wait(timeout=10)
        for thread in threads:
            thread.join(timeout=10)
        assert stop_requested() is None
    assert seen == {
        "stopped": signal.SIGTERM, "stopped outside": None,
        "running": None, "running after the other left": None, "running outside": None,
    }  # fmt: skip


def test_a_poll_that_fails_stops_training_at_a_checkpoint_not_as_a_crash(tiny, tmp_path, capfd, monkeypatch):
    """A poll that keeps failing (the Dask scheduler it asks is gone) stops the stack as SIGTERM
    would, with a checkpoint and a one-line warning: nobody is left to report to, and training on
    could race a worker that takes the same stack again."""
    monkeypatch.setattr(_checkpoint, "POLL_FAILURE_SECONDS", 0.0)
    checkpoint = stack_checkpoint([tiny.replace(steps=1000)], path=tmp_path / "ck.safetensors")

    def poll():
        raise OSError("Timed out trying to connect to tcp://10.0.0.1:8786")

    with StopSignals(poll=poll):
        with pytest.raises(Interrupted, match="SIGTERM: checkpoint at step 1 in"):
            train(tiny.replace(steps=1000), checkpoint=checkpoint)
    assert checkpoint.path.exists()
    assert "cannot ask whether the sweep was stopped (OSError: Timed out" in capfd.readouterr().err


def test_a_poll_failure_that_passes_does_not_stop_training(monkeypatch, capfd):
    """Only failures lasting POLL_FAILURE_SECONDS on end stop: a poll that answers again (a client
    reconnecting to its scheduler) starts the count afresh."""
    clock = types.SimpleNamespace(now=1000.0)
    monkeypatch.setattr(_checkpoint, "time", types.SimpleNamespace(monotonic=lambda: clock.now))
    monkeypatch.setattr(_checkpoint, "POLL_FAILURE_SECONDS", 30.0)
    answers = iter([OSError("reconnecting"), OSError("reconnecting"), None, OSError("gone"), OSError("gone"), OSError("gone")])

    def poll():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    seen = []
    with StopSignals(poll=poll):
        for now in (1000.0, 1029.0, 1031.0, 1040.0, 1069.0, 1070.0):  # fails 29 s, answers, then fails 30 s
            clock.now = now
            seen.append(stop_requested())
    assert seen == [None] * 5 + [signal.SIGTERM]
    assert capfd.readouterr().err.count("cannot ask whether the sweep was stopped (OSError: gone) for 30 s; stopping at a checkpoint") == 1


def test_checkpoint_of_another_job_is_not_resumed(tiny, tmp_path, capfd):
    path = tmp_path / "ck.safetensors"
    train(tiny.replace(engine="cpu"), checkpoint=stack_checkpoint([tiny.replace(engine="cpu")], path=path, every_steps=100))
    other = tiny.replace(engine="cpu", lr=3e-3)
    resumed = train(other, checkpoint=stack_checkpoint([other], path=path))
    assert "checkpoint of another job" in capfd.readouterr().err
    np.testing.assert_array_equal(resumed.W, train(other).W)
    keys = {stack_checkpoint([c], folder=tmp_path).key for c in (tiny, tiny.replace(history_points=3), tiny.replace(dtype="float64"), tiny.replace(init_seed=1))}
    assert len(keys) == 4


def test_corrupt_checkpoint_warns_in_one_line_and_trains_from_the_start(tiny, tmp_path, capfd):
    config = tiny.replace(engine="cpu")
    path = tmp_path / "ck.safetensors"
    train(config, checkpoint=stack_checkpoint([config], path=path, every_steps=100))
    path.write_bytes(path.read_bytes()[:-20])
    result = train(config, checkpoint=stack_checkpoint([config], path=path))
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unreadable checkpoint" in err[0] and str(path) in err[0]
    np.testing.assert_array_equal(result.W, train(config).W)


def test_segments_are_short_in_time_and_aligned_to_checkpoint_steps():
    ranges = list(segments(0, 1000, align=64))
    assert ranges[0] == (0, 1) and ranges[-1][1] == 1000
    assert all(a < b and (a // 64 == (b - 1) // 64) for a, b in ranges)
    slow = []
    for first, stop in segments(0, 40, seconds=0.05):
        slow.append(stop - first)
        time.sleep(0.02 * (stop - first))  # 20 ms a step: about two steps a range
    assert max(slow) <= 4


def test_sweep_killed_mid_run_resumes_from_checkpoints(tmp_path):
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(
        "[base]\nn_features = 200\nsparsity = 0.95\nsteps = 3000\ntest_size = 300\nhistory_points = 4\nengine = \"cpu\"\n"
        "[grid]\ndataset_size = [300, 400]\n"
    )
    command = [sys.executable, "-m", "toydd.cli", "sweep", str(sweep), "--quiet", "--workers", "1", "--checkpoint-every", "200"]
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    assert subprocess.run([*command, "--out", str(clean)], capture_output=True, timeout=300).returncode == 0
    proc = subprocess.Popen([*command, "--out", str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while not list((killed / "checkpoints").glob("[!.]*.safetensors")) and time.time() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # driver and worker
    proc.wait()
    again = subprocess.run([*command, "--out", str(killed)], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "resuming 1 run(s) from checkpoints" in again.stderr
    assert not list((killed / "checkpoints").glob("*.safetensors"))
    volatile = ["wall_seconds", "steps_per_second", "pairs_per_second", "stack_models", "threads"]
    tables = [pd.read_parquet(d / "results.parquet").drop(columns=volatile).sort_values("run_id").reset_index(drop=True) for d in (clean, killed)]
    pd.testing.assert_frame_equal(*tables, check_exact=True)


def test_a_warning_to_a_terminal_that_hung_up_does_not_fail_training(monkeypatch):
    """A worker whose terminal hung up (the hangup went to the driver, which passed the stop on as
    Ctrl-C) still writes to it: the warning is lost, the stack is not recorded as failed."""

    class HungUp:
        def write(self, text):
            raise OSError(5, "Input/output error")

        def flush(self):
            raise OSError(5, "Input/output error")

    monkeypatch.setattr(sys, "stderr", HungUp())
    _checkpoint.warn("checkpoint unreadable")  # does not raise
