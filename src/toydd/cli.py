"""The `toydd` command. Every error a user can cause prints one line and exits non-zero."""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import signal
import sys
from pathlib import Path

import click
import numpy as np

from ._config import _EXECUTION_FIELDS as EXECUTION_FIELDS
from ._config import CHOICES, FIELD_HELP, Config, ConfigError, parse_dataset_size
from ._executors import EXECUTORS
from ._store import CorruptRun, strict_json, write_atomic

USER_ERRORS = (ConfigError, CorruptRun)
RESULTS_COLUMNS = "run_id,dataset_size,n_hidden,data_seed,train_loss,test_loss,test_loss_sem,feature_dimensionality_sum,data_dimensionality_sum"


class ReaderLeft(Exception):
    """The reader of toydd's output stopped reading (a pipe into `head`)."""


def echo(*args, **kwargs) -> None:
    """click.echo to stdout, toydd's own output: a reader that stopped early raises ReaderLeft
    (a broken pipe anywhere else stays an error)."""
    try:
        click.echo(*args, **kwargs)
    except BrokenPipeError as error:
        raise ReaderLeft from error


class ToyddGroup(click.Group):
    """Turns the errors a user can cause into one line on stderr and exit status 2."""

    def main(self, args=None, **kwargs):
        try:
            return super().main(args, standalone_mode=False, **kwargs)
        except click.exceptions.Abort:
            click.echo("aborted", err=True)
            sys.exit(130)
        except click.exceptions.NoArgsIsHelpError as error:  # plain `toydd`: the help
            click.echo(error.format_message())
            sys.exit(0)
        except click.exceptions.ClickException as error:  # bad option, missing argument, bad type
            click.echo(f"error: {error.format_message()}", err=True)
            sys.exit(error.exit_code)

    def invoke(self, ctx):
        from ._train import TrainingDiverged

        try:
            return super().invoke(ctx)
        except USER_ERRORS as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(2)
        except TrainingDiverged as error:
            click.echo(f"error: training diverged: {error}", err=True)
            sys.exit(3)
        except MemoryError as error:  # numpy's names the array: "Unable to allocate 7.3 TiB for an array with shape ..."
            found = str(error).splitlines()[0] if str(error) else "no more memory"
            click.echo(f"error: out of memory ({found}): a size in the config (n_features, dataset_size, test_size, n_hidden, restarts, history_points, batch_size) is too large for this machine", err=True)
            sys.exit(2)
        except ReaderLeft:  # `toydd status DIR | head`: quietly, as a tool killed by SIGPIPE
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit's flush either
            sys.exit(141)
        except OSError as error:  # an unwritable --out, a missing folder for --csv, ...
            click.echo(f"error: {error.strerror or error}: {error.filename or ''}".rstrip(": "), err=True)
            sys.exit(2)


@click.group(cls=ToyddGroup)
@click.version_option(package_name="toydd")
def main():
    """Toy models of superposition, memorization and double descent."""


def _config_options(command):
    """One --option per Config field, named after it, defaulting to the paper's value."""
    for f in reversed(dataclasses.fields(Config)):
        flag = "--" + f.name.replace("_", "-")
        default, text = f.default, FIELD_HELP[f.name]
        if f.name == "dataset_size":
            option = click.option(flag, default=str(default), show_default=True, help=text)
        elif f.type == "bool":
            option = click.option(f"{flag}/--no-{flag[2:]}", default=default, show_default=True, help=text)
        elif f.name in CHOICES:
            option = click.option(flag, type=click.Choice(CHOICES[f.name]), default=default, show_default=True, help=text)
        else:
            kind = {"int": int, "float": float, "str": str}[f.type]
            option = click.option(flag, type=kind, default=default, show_default=True, help=text)
        command = option(command)
    return command


@main.command()
@_config_options
@click.option("--out", required=True, type=click.Path(path_type=Path), help="run directory to create")
@click.option("--overwrite", is_flag=True, help="replace an existing run or sweep directory at --out (never anything else)")
@click.option("--checkpoint-every", type=click.IntRange(min=0), default=0, metavar="STEPS", help="also checkpoint every STEPS steps (default: every 5 minutes)")
@click.option("--quiet", is_flag=True, help="no progress bar")
def train(out: Path, overwrite: bool, checkpoint_every: int, quiet: bool, **values):
    """Train one model (keeping the best of --restarts) and save the run to --out.

    Training checkpoints next to --out (a hidden .NAME.checkpoint.safetensors); the same command
    run again after a kill resumes from it. SIGTERM, SIGUSR2, SIGHUP (a closed terminal) or Ctrl-C
    writes it and stops (Ctrl-C twice: at once, without).
    """
    from ._checkpoint import Interrupted, StopSignals
    from ._store import COMMAND_NAMES, check_out, write_run
    from ._train import stack_checkpoint
    from ._train import train as train_run

    values["dataset_size"] = parse_dataset_size(values["dataset_size"])
    config = Config.from_dict(values)
    check_out(out, overwrite, COMMAND_NAMES)  # before training, not after
    checkpoint = stack_checkpoint([config], path=out.parent / f".{out.name}.checkpoint.safetensors", every_steps=checkpoint_every)
    try:
        with StopSignals(), _progress_bar(config, quiet) as progress:
            result = train_run(config, progress, checkpoint)
    except Interrupted as stop:
        click.echo(f"{stop}; run the same command to resume", err=True)
        sys.exit(128 + stop.signum)
    write_run(result, check_out(out, overwrite, COMMAND_NAMES))  # again: a folder made there meanwhile is no more overwritten
    checkpoint.remove()
    m = result.metrics
    echo(
        f"{out}: train_loss {m['train_loss']:.4f}  test_loss {m['test_loss']:.4f} ± {m['test_loss_sem']:.4f}  "
        f"feature dim sum {m['feature_dimensionality_sum']:.2f}  data dim sum {m['data_dimensionality_sum']:.2f}  "
        f"({m['wall_seconds']:.1f} s, {m['pairs_per_second']:.2e} pairs/s)"
    )


class _progress_bar:
    """A tqdm bar over steps showing the loss and learning rate; a no-op when quiet."""

    def __init__(self, config: Config, quiet: bool):
        self.config = config
        self.quiet = quiet

    def __enter__(self):
        if self.quiet:
            return None
        from tqdm import tqdm

        from ._kernels import SCHEDULE_CODES, lr_at

        total = self.config.steps * self.config.restarts
        self.bar = tqdm(total=total, unit="step", dynamic_ncols=True, file=sys.stderr)

        def update(fraction: float, losses: np.ndarray) -> None:
            done = int(round(fraction * total))
            step = min(int(round(fraction * self.config.steps)), self.config.steps) - 1
            finite = losses[np.isfinite(losses)]
            loss = float(finite.min()) if finite.size else float("nan")
            lr = lr_at(max(step, 0), self.config.steps, self.config.warmup_steps, self.config.lr, SCHEDULE_CODES[self.config.lr_schedule])
            self.bar.set_postfix_str(f"loss {loss:.4f} lr {lr:.2e}", refresh=False)
            self.bar.update(done - self.bar.n)

        return update

    def __exit__(self, *exc):
        if not self.quiet:
            self.bar.close()
        return False


def _executor_options(command):
    """Options shared by `sweep` and `reproduce`: where and how the runs execute."""
    options = [
        click.option("--executor", type=click.Choice(EXECUTORS), default="local", show_default=True),
        click.option("--workers", type=click.IntRange(min=0), default=0, help="processes (local, dask); 0: one per core here, or the cluster's workers"),
        click.option("--threads", type=click.IntRange(min=0), default=0, help="numba threads per task; 0: cores / workers (local), 1 (dask), --cpus-per-task (slurm)"),
        click.option("--scheduler", default=None, help="dask: address of an existing scheduler, tcp://HOST:PORT"),
        click.option("--partition", default=None, help="slurm: partition"),
        click.option("--time", "time_minutes", type=click.IntRange(min=1), default=240, show_default=True, help="slurm: minutes per job before requeue"),
        click.option("--cpus-per-task", type=click.IntRange(min=1), default=2, show_default=True, help="slurm: CPUs per job"),
        click.option("--gpus-per-task", type=click.IntRange(min=0), default=0, show_default=True, help="slurm: GPUs per job"),
        click.option("--max-parallel", type=click.IntRange(min=1), default=64, show_default=True, help="slurm: jobs of the array running at once"),
        click.option("--submitit-cluster", type=click.Choice(["slurm", "local"]), default=None, help="submitit backend (default slurm, which needs sbatch; local runs the jobs on this machine)"),
        click.option("--retry-failed", is_flag=True, help="train again the runs recorded as failed"),
        click.option("--checkpoint-every", type=click.IntRange(min=0), default=0, metavar="STEPS", help="also checkpoint every STEPS steps (default: every 5 minutes)"),
        click.option("--allow-mixed-engines", is_flag=True, help="train with another engine or device than the stored runs' (recorded in DIR/engines.json)"),
        click.option("--reuse", type=click.Path(path_type=Path), multiple=True, metavar="DIR",
                     help="copy in the planned runs complete in DIR (a sweep directory or a toydd train run) instead of training them; repeatable"),
        click.option("--quiet", is_flag=True, help="no progress bar"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


# Options that only one executor reads: given with another, they would be silently ignored.
EXECUTORS_OF_OPTION = {"workers": ("local", "dask"), "scheduler": ("dask",), "partition": ("slurm",), "time_minutes": ("slurm",),
                       "cpus_per_task": ("slurm",), "gpus_per_task": ("slurm",), "max_parallel": ("slurm",), "submitit_cluster": ("slurm",)}  # fmt: skip


def _check_executor_options(executor: str) -> None:
    """Refuse an option given on the command line that the chosen executor does not read."""
    ctx = click.get_current_context()
    for name, owners in EXECUTORS_OF_OPTION.items():
        if executor not in owners and ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE:
            flag = next(param.opts[0] for param in ctx.command.params if param.name == name)
            raise ConfigError(f"{flag} is an option of --executor {' or '.join(owners)}, not {executor}")


def _run_sweep_command(configs, out: Path, opts: dict, on_accept=None, sweep_text: str | None = None) -> int:
    """Run a planned sweep with the chosen executor and a progress bar; returns the exit status.
    `on_accept()` runs once the sweep is accepted (its engines checked, its plan written), before
    any training: `reproduce` writes DIR/sweep.toml there, so a refused sweep leaves it as it was."""
    from . import _executors
    from ._sweep import failure_reasons, run_sweep

    _check_executor_options(opts["executor"])
    # workers also tells the planner how finely to split stacks: as many as run at once
    if opts["executor"] == "local":
        workers = opts["workers"] or _executors.cores()
        threads = opts["threads"] or max(1, _executors.cores() // workers)
        execute = _executors.local(workers)
    elif opts["executor"] == "dask":
        workers = opts["workers"] or (_executors.dask_workers(opts["scheduler"]) if opts["scheduler"] else _executors.cores())
        threads = opts["threads"] or 1
        execute = _executors.dask(workers, opts["scheduler"])
    else:
        workers = opts["max_parallel"]
        threads = opts["threads"] or opts["cpus_per_task"]
        slurm = _executors.SlurmOptions(
            partition=opts["partition"], time_minutes=opts["time_minutes"], cpus_per_task=opts["cpus_per_task"],
            gpus_per_task=opts["gpus_per_task"], max_parallel=opts["max_parallel"], cluster=opts["submitit_cluster"],
        )  # fmt: skip
        execute = _executors.slurm(slurm)
    from ._checkpoint import StopSignals

    bar = _SweepBar(opts["quiet"])

    def start(*args) -> None:
        if on_accept is not None:
            on_accept()
        bar.start(*args)

    with StopSignals() as stop:  # stop starting tasks; running ones stop at a checkpoint
        report = run_sweep(
            configs, out, execute, workers, threads, opts["retry_failed"], start, bar.task_done,
            opts["checkpoint_every"], opts["allow_mixed_engines"], opts["reuse"], sweep_text,
        )  # fmt: skip
    bar.close()
    for message in report.redone:
        click.echo(f"redone: {message}", err=True)
    if report.outside_plan:
        click.echo(f"note: {len(report.outside_plan)} run(s) in {out / 'runs'} are not in this sweep's plan: kept there, left out of results.parquet", err=True)
    if report.interrupted or stop.received:
        name = f" by {signal.Signals(stop.received).name}" if stop.received else ""
        click.echo(f"{out}: interrupted{name}: {len(report.interrupted)} run(s) stopped at a checkpoint; run the same command to resume", err=True)
        return 128 + stop.received if stop.received else 1
    if report.not_run:
        click.echo(f"{out}: {report.not_run} run(s) came back without a result (see the warning above); run the same command to train what is left", err=True)
    reused = f" ({report.reused} copied from --reuse)" if report.reused else ""
    if report.trained == 0 and not report.failed:
        echo(f"{out}: nothing to train: {report.already_complete} of {report.planned} runs complete{reused}")
    else:
        echo(f"{out}: trained {report.trained}, {report.already_complete} were complete{reused}, {len(report.failed)} failed")
    reasons = failure_reasons(out, configs)
    if reasons:
        click.echo(f"{len(reasons)} failed run(s) (see {out / 'failed'}; --retry-failed to retry):", err=True)
        for run_id, reason in reasons.items():
            click.echo(f"  {run_id}: {reason}", err=True)
    return 1 if reasons or report.not_run else 0


class _SweepBar:
    """One bar for the whole sweep: each task weighs its estimated seconds (`Task.estimated_seconds`),
    so the percentage and the time left follow the training time; counts runs done/failed/remaining."""

    def __init__(self, quiet: bool):
        self.quiet = quiet
        self.bar = None

    def start(self, status, tasks, resuming: int) -> None:
        if status.failed:
            click.echo(f"skipping {len(status.failed)} failed run(s); --retry-failed to retry", err=True)
        if status.reused:
            click.echo(f"reused {len(status.reused)} complete run(s) from --reuse instead of training them", err=True)
        if resuming:
            click.echo(f"resuming {resuming} run(s) from checkpoints", err=True)
        self.remaining = sum(len(t.configs) for t in tasks)
        self.done = self.failed = 0
        if self.quiet or not tasks:
            return
        from tqdm import tqdm

        self.bar = tqdm(total=sum(t.estimated_seconds for t in tasks), file=sys.stderr, dynamic_ncols=True,
                        bar_format="{percentage:3.0f}%|{bar}| {desc} [{elapsed}<{remaining}]")  # fmt: skip
        self._show()

    def task_done(self, task, outcomes) -> None:
        self.done += sum(o.ok for o in outcomes)
        self.failed += sum(not o.ok and not o.interrupted for o in outcomes)
        self.remaining -= sum(not o.interrupted for o in outcomes)  # a stopped run is still to train
        if self.bar is not None:
            if outcomes and not any(o.interrupted for o in outcomes):  # a stopped task's training is still to do
                self.bar.update(task.estimated_seconds)
            self._show()

    def _show(self) -> None:
        self.bar.set_description_str(f"runs done {self.done}, failed {self.failed}, remaining {self.remaining}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@main.command()
@click.argument("sweep_file", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="sweep directory (created or resumed)")
@_executor_options
def sweep(sweep_file: Path, out: Path, **opts):
    """Train every run of SWEEP_FILE not yet complete in --out; resumable."""
    from ._sweep_spec import load_sweep

    configs = load_sweep(sweep_file).configs()  # read and checked: the text below is that file's
    sys.exit(_run_sweep_command(configs, out, opts, sweep_text=sweep_file.read_text(encoding="utf-8")))


@main.command()
@click.argument("sweep_dir", type=click.Path(path_type=Path))
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), default=None, help="also write the whole table as CSV (-: to stdout instead of the printed table)")
@click.option("--columns", default=RESULTS_COLUMNS, show_default=True,
              help="comma-separated columns to print, or 'all'; by default also every config field the sweep varies")  # fmt: skip
def results(sweep_dir: Path, csv_path: Path | None, columns: str):
    """Print a sweep's results table (results.parquet)."""
    import pandas as pd

    from ._sweep import read_results

    table = read_results(sweep_dir)
    wanted = list(table.columns) if columns == "all" else [c.strip() for c in columns.split(",") if c.strip()]
    if not wanted and columns != "all":  # (a table of no runs has no columns: 'all' is none)
        raise ConfigError("--columns: no column named (comma-separated names, or 'all')")
    unknown = [c for c in wanted if c not in table.columns]
    if len(table) and unknown:  # checked before the CSV is written: a mistyped command writes nothing
        hint = difflib.get_close_matches(unknown[0], list(table.columns), n=1)
        raise ConfigError(f"--columns: no column '{unknown[0]}' in {sweep_dir / 'results.parquet'}" + (f" (did you mean '{hint[0]}'?)" if hint else ""))
    if columns == RESULTS_COLUMNS and len(table):  # the default: add the config fields this sweep varies, so rows tell apart
        varied = [f.name for f in dataclasses.fields(Config) if f.name in table and f.name not in wanted and f.name not in EXECUTION_FIELDS and table[f.name].nunique(dropna=False) > 1]
        wanted = wanted[:1] + varied + wanted[1:]
    if csv_path is not None and str(csv_path) == "-":  # the CSV on stdout, for a pipe, instead of the table
        echo(table.to_csv(index=False), nl=False)
        return
    if csv_path is not None:
        write_atomic(csv_path, table.to_csv(index=False).encode())  # whole or not at all
    if not len(table):
        echo("(no complete runs)")
        return
    table = table[wanted].copy()
    if "dataset_size" in table:  # stored as float so that inf fits; shown as the whole number it is
        table["dataset_size"] = [format(t, ".0f") if t != float("inf") else "inf" for t in table["dataset_size"]]
    with pd.option_context("display.max_rows", None, "display.width", 200, "display.max_columns", None):
        echo(table.to_string(index=False))


@main.command()
@click.argument("sweep_dir", type=click.Path(path_type=Path))
def status(sweep_dir: Path):
    """Where a sweep stands: runs complete, failed, in progress (from checkpoints) and to train,
    and the estimated training time left. Reads only; a running sweep is not disturbed."""
    from . import _executors
    from ._sweep import lock_holder, sweep_progress

    p = sweep_progress(sweep_dir)
    echo(
        f"{sweep_dir}: {len(p.planned)} runs planned (plan of {p.planned_at}): {len(p.complete)} complete, {len(p.failed)} failed, "
        f"{p.resuming} in progress, {p.not_started} not started"
        + (f" ({len(p.corrupt)} of the runs not complete have a run directory that fails verification: the next sweep trains them again)" if p.corrupt else "")
    )
    if len(p.complete) + len(p.failed) < len(p.planned):
        holder = lock_holder(sweep_dir)
        echo(
            f"  running now ({holder}); runs being trained show above only once they have a checkpoint"
            if holder
            else "  no sweep is running on it on this machine: the command that planned it, run again, resumes it"
        )
    for stack in sorted(p.in_progress, key=lambda s: -s.step):
        c = stack.configs[0]
        echo(
            f"  T = {'∞' if c.infinite_data else format(c.dataset_size, ',')}, m = {c.n_hidden}, data seed {c.data_seed} ({len(stack.configs)} run{'s' * (len(stack.configs) > 1)}): "
            f"step {stack.step:,} of {c.steps:,} ({stack.step / c.steps:.0%}), {stack.seconds / 60:.0f} min of training so far"
            + (f", about {_duration(stack.seconds_left)} more at its pace so far" if stack.seconds_left is not None else "")
        )
    cores = _executors.cores()
    echo(
        f"estimated training left: {_duration(p.remaining_seconds)} of {_duration(p.estimated_seconds)} on one core "
        f"(about {_duration(p.remaining_seconds / cores)} on the {cores} cores here), by the cost model of `toydd reproduce --list`"
        + (f"; not counted: its {p.unmodelled} torch run(s), which the model does not cover" if p.unmodelled else "")
    )
    if p.failed:
        echo(f"not counted: the {len(p.failed)} failed run(s), up to {_duration(p.failed_seconds)} more on one core with --retry-failed")
    if p.idle_checkpoints:
        size = sum(path.stat().st_size for path in p.idle_checkpoints if path.exists()) / 1e6
        echo(
            f"kept: {len(p.idle_checkpoints)} checkpoint(s) in {sweep_dir / 'checkpoints'} ({size:,.1f} MB) that this plan does not resume "
            f"(an earlier plan's stacks, or another toydd's): the plan that wrote them resumes them; delete them to free the space: "
            + ", ".join(path.name for path in p.idle_checkpoints)
        )


def _duration(seconds: float) -> str:
    """Minutes below an hour, else hours: '7 min', '9.1 h', '31 h'."""
    hours = seconds / 3600
    return f"{seconds / 60:.0f} min" if hours < 1 else f"{hours:.1f} h" if hours < 10 else f"{hours:,.0f} h"


# What `reproduce` writes into DIR besides a sweep's own files: never over a user's.
REPRODUCE_WRITES = ("sweep.toml", "report.html", "figures")


@main.command()
@click.option("--preset", default=None, help="a shipped preset: quick, paper, heatmap, appendix, onset, onset_paper, repeats, repeats_paper, envelope, envelope_paper, discrepancy, discrepancy_paper (see --list)")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="sweep directory (created or resumed)")
@click.option("--list", "list_presets", is_flag=True, help="describe the presets and their estimated cost")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="override a config key for every run (a [list] makes it a grid axis)")
@_executor_options
def reproduce(preset: str | None, out: Path | None, list_presets: bool, overrides: tuple[str, ...], **opts):
    """Run a preset sweep, then draw the paper's figures and write report.html."""
    from . import _executors, _presets
    from ._report import figures as draw_figures
    from ._report import report as write_report
    from ._sweep import check_sweep_out
    from ._sweep_spec import parse_overrides, with_overrides

    if list_presets:
        for name in [preset] if preset is not None else _presets.names():
            spec = with_overrides(_presets.load_preset(name), parse_overrides(overrides))
            took = _duration(3600 * _presets.estimated_hours(spec, _executors.cores()))
            unmodelled = sum(not _presets.modelled(c) for c in spec.configs())
            left_out = f" (not counting its {unmodelled} torch run(s), which the cost model does not cover)" if unmodelled else ""
            echo(f"{name}: {len(spec.configs())} runs, about {took} on {_executors.cores()} cores{left_out}\n  {spec.description}")
        return
    if preset is None or out is None:
        raise ConfigError("reproduce needs --preset NAME and --out DIR (or --list)")
    spec = with_overrides(_presets.load_preset(preset), parse_overrides(overrides))
    # the preset as run, for the report; overrides are recorded, not applied, so resume with the
    # same `toydd reproduce` command rather than `toydd sweep` on this file
    note = "".join(f"#   --set {item}\n" for item in overrides)
    header = f"# toydd reproduce --preset {preset}, with these overrides applied to every run:\n{note}\n" if note else ""
    text = (header + _presets.preset_text(preset)).encode()
    check_sweep_out(out, REPRODUCE_WRITES)  # before anything is written, a user's files among them
    # written once the sweep is accepted, whole or not at all: a refused one leaves the old file
    status = _run_sweep_command(spec.configs(), out, opts, on_accept=lambda: write_atomic(out / "sweep.toml", text), sweep_text=text.decode())
    if status >= 128:  # stopped by a signal: stop now, not minutes later after drawing (`toydd report DIR` draws them)
        sys.exit(status)
    paths = draw_figures(out)
    report_path = write_report(out)
    echo(f"{len(paths)} figure files in {out / 'figures'}; report: {report_path}")
    sys.exit(status)


@main.command()
@click.argument("sweep_dir", type=click.Path(path_type=Path))
def figures(sweep_dir: Path):
    """Redraw the figures of a sweep directory from its stored results (no training)."""
    from ._report import figures as draw_figures

    paths = draw_figures(sweep_dir)
    for path in paths:
        echo(path)
    if not paths:  # say so: an empty answer reads as a failure
        echo(f"no figures: the complete runs in {sweep_dir} support none yet (the README says what each figure needs)")


@main.command()
@click.argument("sweep_dir", type=click.Path(path_type=Path))
def report(sweep_dir: Path):
    """Rewrite SWEEP_DIR/report.html from stored results (no training)."""
    from ._report import report as write_report

    echo(write_report(sweep_dir))


@main.command()
@click.argument("run", type=click.Path(path_type=Path))
def show(run: Path):
    """Print a saved run's config and metrics (verifying its files)."""
    from ._store import is_sweep_dir, load_run

    if run.is_dir() and is_sweep_dir(run):
        raise ConfigError(f"{run}: a sweep directory; show takes one run's directory ({run / 'runs'}/RUN_ID), and `toydd results` a sweep's table")
    stored = load_run(run)
    shown = {"run_id": stored.run_id, "config": stored.config.to_dict(), "metrics": stored.metrics}
    echo(json.dumps(strict_json(shown), indent=2, allow_nan=False))


if __name__ == "__main__":
    main()
