import subprocess
import sys

import numba
import pytest

from toydd import Config

# The training loops the suite compiles: (m, dtype, also one model per thread). Each takes about a
# minute to compile. Compiled here first, two processes at a time, so that the test processes and
# the subprocesses they start load them from numba's cache, rather than several compiling the same
# loop at once (a fresh clone's CI).
SUITE_LOOPS = [[(2, "float32", True), (3, "float64", False)], [(3, "float32", False), (2, "float64", False)]]
COMPILE_LOOPS = """
import sys, toydd
for spec in sys.argv[1:]:
    m, dtype, across = spec.split(",")
    cfg = toydd.Config(n_features=50, sparsity=0.9, dataset_size=20, steps=2, test_size=50, history_points=2, n_hidden=int(m), dtype=dtype)
    toydd.train(cfg.replace(threads=1))
    if across == "True":
        toydd.train(cfg.replace(restarts=2, threads=2))
"""


def pytest_configure(config):
    """In the controller of a run on several test processes, before they start: compile SUITE_LOOPS.
    A failure here is left to the tests to report."""
    if hasattr(config, "workerinput") or not isinstance(config.getoption("numprocesses", None), int):
        return
    if config.getoption("numprocesses") < 2:
        return
    compiling = [
        subprocess.Popen([sys.executable, "-c", COMPILE_LOOPS, *(",".join(map(str, loop)) for loop in loops)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for loops in SUITE_LOOPS
    ]
    for process in compiling:
        process.wait()


@pytest.fixture
def tiny() -> Config:
    """A small, fast setting: 200 features, denser data, few steps."""
    return Config(n_features=200, sparsity=0.95, n_hidden=2, dataset_size=20, steps=300, test_size=500, history_points=8)


@pytest.fixture(autouse=True)
def _restore_threads():
    threads = numba.get_num_threads()
    yield
    numba.set_num_threads(threads)
