"""The `toydd` command. Every error a user can cause prints one line and exits non-zero."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import click
import numpy as np

from ._config import Config, ConfigError, parse_dataset_size
from ._store import CorruptRun

USER_ERRORS = (ConfigError, CorruptRun)


class ToyddGroup(click.Group):
    """Turns the errors a user can cause into one line on stderr and exit status 2."""

    def main(self, args=None, **kwargs):
        try:
            return super().main(args, standalone_mode=False, **kwargs)
        except click.exceptions.Abort:
            click.echo("aborted", err=True)
            sys.exit(130)
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


@click.group(cls=ToyddGroup)
@click.version_option(package_name="toydd")
def main():
    """Toy models of superposition, memorization and double descent."""


def _config_options(command):
    """One --option per Config field, named after it, defaulting to the paper's value."""
    for f in reversed(dataclasses.fields(Config)):
        flag = "--" + f.name.replace("_", "-")
        default = f.default
        if f.name == "dataset_size":
            option = click.option(flag, default=str(default), show_default=True, help="T, or inf for a fresh batch every step")
        elif f.type == "bool":
            option = click.option(f"{flag}/--no-{flag[2:]}", default=default, show_default=True)
        else:
            kind = {"int": int, "float": float, "str": str}[f.type]
            option = click.option(flag, type=kind, default=default, show_default=True)
        command = option(command)
    return command


@main.command()
@_config_options
@click.option("--out", required=True, type=click.Path(path_type=Path), help="run directory to create")
@click.option("--overwrite", is_flag=True, help="replace an existing non-empty --out")
@click.option("--quiet", is_flag=True, help="no progress bar")
def train(out: Path, overwrite: bool, quiet: bool, **values):
    """Train one model (keeping the best of --restarts) and save the run to --out."""
    from ._store import save_run
    from ._train import train as train_run

    values["dataset_size"] = parse_dataset_size(values["dataset_size"])
    config = Config.from_dict(values)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not overwrite)):
        raise ConfigError(f"--out {out} exists and is not empty (use --overwrite to replace it)")
    with _progress_bar(config, quiet) as progress:
        result = train_run(config, progress)
    save_run(result, out, overwrite=overwrite)
    m = result.metrics
    click.echo(
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

        from ._kernels import lr_at

        total = self.config.steps * self.config.restarts
        self.bar = tqdm(total=total, unit="step", dynamic_ncols=True, file=sys.stderr)

        def update(fraction: float, losses: np.ndarray) -> None:
            done = int(round(fraction * total))
            step = min(int(round(fraction * self.config.steps)), self.config.steps) - 1
            finite = losses[np.isfinite(losses)]
            loss = float(finite.min()) if finite.size else float("nan")
            lr = lr_at(max(step, 0), self.config.steps, self.config.warmup_steps, self.config.lr)
            self.bar.set_postfix_str(f"loss {loss:.4f} lr {lr:.2e}", refresh=False)
            self.bar.update(done - self.bar.n)

        return update

    def __exit__(self, *exc):
        if not self.quiet:
            self.bar.close()
        return False


@main.command()
@click.argument("run", type=click.Path(path_type=Path))
def show(run: Path):
    """Print a saved run's config and metrics (verifying its files)."""
    from ._store import load_run

    stored = load_run(run)
    click.echo(json.dumps({"run_id": stored.run_id, "config": stored.config.to_dict(), "metrics": stored.metrics}, indent=2))


if __name__ == "__main__":
    main()
