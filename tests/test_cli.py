"""The `toydd` command as a user runs it: a real subprocess, exit codes and one-line errors."""

import json
import subprocess
import sys

import pytest

TINY = ["--n-features", "200", "--sparsity", "0.95", "--steps", "200", "--test-size", "300", "--quiet"]


def toydd(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "toydd.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_train_writes_a_run_and_show_reads_it(tmp_path):
    out = tmp_path / "t10"
    done = toydd("train", "--dataset-size", "10", "--n-hidden", "2", "--out", str(out), *TINY)
    assert done.returncode == 0, done.stderr
    assert "test_loss" in done.stdout
    shown = json.loads(toydd("show", str(out)).stdout)
    assert shown["config"]["dataset_size"] == 10 and shown["config"]["n_features"] == 200
    assert "train_loss" in shown["metrics"]


def test_show_prints_strict_json(tmp_path):
    out = tmp_path / "inf"
    assert toydd("train", "--dataset-size", "inf", "--batch-size", "32", "--out", str(out), *TINY).returncode == 0
    text = toydd("show", str(out)).stdout
    shown = json.loads(text, parse_constant=lambda word: pytest.fail(f"not strict JSON: {word}"))
    assert shown["metrics"]["data_dimensionality_sum"] is None and shown["config"]["dataset_size"] == "inf"


def test_progress_bar_shows_step_loss_and_lr(tmp_path):
    args = [a for a in TINY if a != "--quiet"]
    done = toydd("train", "--dataset-size", "inf", "--batch-size", "16", "--out", str(tmp_path / "r"), *args)
    assert done.returncode == 0, done.stderr
    assert "200/200" in done.stderr and "loss" in done.stderr and "lr" in done.stderr


@pytest.mark.parametrize(
    "args,message",
    [
        (["--sparsity", "1.0"], "sparsity"), (["--n-hidden", "0"], "n_hidden"), (["--dataset-size", "0"], "dataset_size"),
        (["--steps", "0"], "steps"), (["--n-hiden", "3"], "n-hiden"), (["--steps", "ten"], "--steps"),
        (["--dataset-size", "lots"], "dataset_size"), (["--engine", "jax"], "engine"),
        (["--n-hidden", "99999999999999999999"], "n_hidden must be below 2^63"), (["--restarts", "100000000000"], "restarts"),
        (["--n-hidden", "1000000000000000"], "out of memory (Unable to allocate"),  # numpy refuses at once: nothing is touched
    ],
)  # fmt: skip
def test_bad_input_is_one_line_naming_the_problem(tmp_path, args, message):
    done = toydd("train", "--out", str(tmp_path / "r"), *TINY, *args)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in done.stderr
    assert not (tmp_path / "r").exists()


def test_existing_out_needs_overwrite_and_overwrite_never_deletes_a_users_directory(tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    done = toydd("train", "--out", str(out), *TINY)
    assert done.returncode != 0 and "--overwrite" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert (out / "keep.txt").read_text() == "mine"
    done = toydd("train", "--out", str(out), "--overwrite", *TINY)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert str(out) in done.stderr and "not a toydd run directory" in done.stderr
    assert (out / "keep.txt").read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_overwrite_replaces_a_toydd_run(tmp_path):
    out = tmp_path / "r"
    assert toydd("train", "--out", str(out), *TINY).returncode == 0
    before = json.loads((out / "config.json").read_text())["config"]["data_seed"]
    # another dataset, not another m: a new m would compile a new training loop in this subprocess
    assert toydd("train", "--out", str(out), "--overwrite", "--data-seed", "1", *TINY).returncode == 0
    assert before == 0 and json.loads((out / "config.json").read_text())["config"]["data_seed"] == 1


def test_divergence_says_at_which_step(tmp_path):
    done = toydd("train", "--out", str(tmp_path / "r"), *TINY, "--lr", "1e30", "--warmup-fraction", "0")
    assert done.returncode == 3 and "diverged" in done.stderr and "at step" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "r").exists()


@pytest.mark.parametrize("missing,executor,extra", [("submitit", "slurm", "toydd[slurm]"), ("distributed", "dask", "toydd[dask]")])
def test_missing_optional_executor_is_one_line_naming_the_extra(tmp_path, missing, executor, extra):
    sweep = tmp_path / "s.toml"
    sweep.write_text("[base]\nn_features = 50\nsteps = 5\n[grid]\ndataset_size = [3]\n")
    backend = ["--submitit-cluster", "local"] if executor == "slurm" else []  # an option of slurm's only
    # None in sys.modules makes `import NAME` fail as if the package were not installed
    script = (
        f"import sys; sys.modules[{missing!r}] = None; import toydd.cli; "
        f"toydd.cli.main({['sweep', str(sweep), '--out', str(tmp_path / 'out'), '--executor', executor, *backend, '--quiet']!r})"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert f"pip install '{extra}'" in done.stderr


def test_import_toydd_and_help_load_no_optional_executor():
    script = (
        "import sys, toydd, toydd.cli\n"
        "for args in (['--help'], ['sweep', '--help'], ['reproduce', '--help']):\n"
        "    try:\n"
        "        code = toydd.cli.main(args)\n"
        "    except SystemExit as stop:\n"
        "        code = stop.code\n"
        "    assert code in (0, None), code\n"
        "print(sorted(m for m in ('submitit', 'distributed', 'torch') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Usage:" in done.stdout and "--executor" in done.stdout and "--preset" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout


def test_output_into_a_closed_pipe_stops_without_an_error():
    """`toydd reproduce --list | head -1`: the reader leaves early; toydd stops quietly."""
    with subprocess.Popen([sys.executable, "-m", "toydd.cli", "reproduce", "--list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        process.stdout.close()  # before toydd writes: its first write meets a closed pipe
        stderr = process.stderr.read().decode()
        assert process.wait(timeout=60) == 141 and stderr == ""


def test_a_broken_pipe_that_is_not_our_output_is_an_error_line(monkeypatch, capsys):
    """Only the reader of toydd's own output leaving is quiet: another pipe breaking is reported."""
    from toydd import _presets, cli

    def pipe_to_a_helper_breaks():
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(_presets, "names", pipe_to_a_helper_breaks)
    with pytest.raises(SystemExit) as stopped:
        cli.main(["reproduce", "--list"])
    assert stopped.value.code == 2 and capsys.readouterr().err == "error: Broken pipe\n"


def test_corrupt_run_is_named(tmp_path):
    out = tmp_path / "r"
    assert toydd("train", "--out", str(out), *TINY).returncode == 0
    (out / "metrics.json").write_text("{}")
    done = toydd("show", str(out))
    assert done.returncode != 0 and "metrics.json" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_version_bare_command_and_a_half_given_reproduce():
    """`toydd --version`; plain `toydd` prints the help and exits 0; `reproduce` without --out is
    one line naming what it needs."""
    from click.testing import CliRunner

    import toydd
    from toydd.cli import main

    runner = CliRunner()
    version = runner.invoke(main, ["--version"])
    assert version.exit_code == 0 and toydd.__version__ in version.stdout
    bare = runner.invoke(main, [])
    assert bare.exit_code == 0 and "Usage:" in bare.stdout and "reproduce" in bare.stdout
    half = runner.invoke(main, ["reproduce", "--preset", "quick"])
    assert half.exit_code == 2 and half.stderr.strip().splitlines() == ["error: reproduce needs --preset NAME and --out DIR (or --list)"]


def test_python_m_toydd_show_of_a_sweep_and_the_list_of_one_preset(tmp_path):
    version = subprocess.run([sys.executable, "-m", "toydd", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("toydd, version ")
    listed = toydd("reproduce", "--list", "--preset", "repeats")
    assert listed.returncode == 0 and listed.stdout.startswith("repeats: 15 runs") and "quick:" not in listed.stdout
    sweep = tmp_path / "sweep"
    (sweep / "runs").mkdir(parents=True)
    (sweep / "results.parquet").write_bytes(b"PAR1")
    shown = toydd("show", str(sweep))
    assert shown.returncode == 2 and shown.stderr == f"error: {sweep}: a sweep directory; show takes one run's directory ({sweep / 'runs'}/RUN_ID), and `toydd results` a sweep's table\n"


def test_import_toydd_loads_no_heavy_library_and_every_public_name_resolves():
    # the launcher can only catch a Ctrl-C while the command loads if `import toydd` itself is quick
    code = (
        "import sys, toydd\n"
        "heavy = sorted(m for m in ('numpy', 'numba', 'pandas', 'pyarrow', 'matplotlib') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
        "for name in toydd.__all__:\n"
        "    assert getattr(toydd, name) is not None, name\n"
        "from toydd import Config, train\n"
        "assert Config.__module__ == 'toydd._config' and train.__module__ == 'toydd._train'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_lazy_names_are_the_names_type_checkers_see():
    # toydd/__init__.py lists each public name twice: in _PUBLIC, which loads it, and under
    # TYPE_CHECKING, for editors; the two lists must not drift apart
    import ast
    from pathlib import Path

    import toydd

    tree = ast.parse(Path(toydd.__file__).read_text())
    block = next(node for node in tree.body if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING")
    seen = {(node.module, alias.name) for node in block.body for alias in node.names}
    assert seen == {(module, name) for name, module in toydd._PUBLIC.items()} | {(None, "figures")}


def test_no_module_defines_a_function_or_class_twice():
    # a second top-level def of a name silently replaces the first for every caller in the module
    # (a kink helper once shadowed the report's zero-output test loss this way)
    import ast
    from collections import Counter
    from pathlib import Path

    import toydd

    twice = {}
    for module in sorted(Path(toydd.__file__).parent.glob("*.py")):
        names = Counter(node.name for node in ast.parse(module.read_text()).body if isinstance(node, (ast.FunctionDef, ast.ClassDef)))
        twice.update({f"{module.name}: {name}": count for name, count in names.items() if count > 1})
    assert not twice


def test_ctrl_c_while_the_command_loads_is_aborted_not_a_traceback():
    # the interrupt lands inside an import, where it arrives in a real Ctrl-C during the first second
    code = (
        "import sys\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'toydd.cli':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        "from toydd._launch import main\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stderr, done.stdout) == (130, "aborted\n", "")


def test_python_m_toydd_is_the_command():
    done = subprocess.run([sys.executable, "-m", "toydd", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("Usage: toydd ")


def test_the_sweep_bar_advances_for_finished_tasks_only():
    """A task stopped at a checkpoint, or one that never started after a stop (no outcomes), keeps
    its estimated time on the bar: its training is still to do."""
    import types

    from toydd._sweep import Outcome
    from toydd.cli import _SweepBar

    status = types.SimpleNamespace(failed=[], reused=[])
    tasks = [types.SimpleNamespace(configs=[{}], estimated_seconds=s) for s in (10.0, 20.0, 40.0)]
    bar = _SweepBar(quiet=False)
    bar.start(status, tasks, resuming=0)
    bar.task_done(tasks[0], [Outcome("a", True)])
    bar.task_done(tasks[1], [Outcome("b", False, "stopped", interrupted=15)])
    bar.task_done(tasks[2], [])
    assert bar.bar.n == 10.0 and (bar.done, bar.failed, bar.remaining) == (1, 0, 2)
    bar.close()
