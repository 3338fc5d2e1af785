import subprocess
import sys
import time

import numba
import pytest

from toydd import Config

# The training loops the suite compiles, as "m,dtype" (2,float32 also one model per thread). Each
# takes about a minute to compile. Compiled here first, two processes at a time, so that the test
# processes and the subprocesses they start load them from numba's cache, rather than several
# compiling the same loop at once (a fresh clone's CI).
SUITE_LOOPS = [["2,float32", "3,float64"], ["3,float32", "2,float64"]]
COMPILE_LOOPS = """
import sys, toydd
for spec in sys.argv[1:]:
    m, dtype = spec.split(",")
    cfg = toydd.Config(n_features=50, sparsity=0.9, dataset_size=20, steps=2, test_size=50, history_points=2, n_hidden=int(m), dtype=dtype)
    toydd.train(cfg.replace(threads=1))
    if spec == "2,float32":
        toydd.train(cfg.replace(restarts=2, threads=2))
"""
compile_seconds = None


def pytest_configure(config):
    """In the controller of a run of the whole suite (no paths given: `make test`, CI) on several
    test processes, before they start: compile SUITE_LOOPS. A run of chosen tests compiles only
    what they use, as they use it. A failure here is left to the tests to report."""
    global compile_seconds
    processes = config.getoption("numprocesses", None)
    if hasattr(config, "workerinput") or not isinstance(processes, int) or processes < 2:
        return
    if config.args_source != pytest.Config.ArgsSource.TESTPATHS:
        return
    started = time.perf_counter()
    compiling = [subprocess.Popen([sys.executable, "-c", COMPILE_LOOPS, *loops], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for loops in SUITE_LOOPS]
    for process in compiling:
        process.wait()
    compile_seconds = time.perf_counter() - started


def pytest_terminal_summary(terminalreporter):
    if compile_seconds is not None:  # before the test processes started: not in pytest's own time
        terminalreporter.write_line(f"compiled the suite's {sum(map(len, SUITE_LOOPS))} training loops first: {compile_seconds:.0f} s")


@pytest.fixture
def tiny() -> Config:
    """A small, fast setting: 200 features, denser data, few steps."""
    return Config(n_features=200, sparsity=0.95, n_hidden=2, dataset_size=20, steps=300, test_size=500, history_points=8)


@pytest.fixture(autouse=True)
def _restore_threads():
    threads = numba.get_num_threads()
    yield
    numba.set_num_threads(threads)
