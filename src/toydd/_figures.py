"""The paper's figures (docs/science.md section 6) from stored results, with matplotlib.

Every function takes plain data (a results table, per-item tables, vector panels) and returns a
matplotlib Figure, so tests can check what is drawn and notebooks show it inline; `save` writes it
as PNG and SVG. Figures are made without pyplot, so drawing needs no GUI backend and never changes
the caller's (a notebook keeps its inline backend). Labels and titles are built from the configs
in the data, never typed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from ._metrics import TAIL_MARGIN

FEATURE_COLOR = "tab:blue"
DATA_COLOR = "tab:red"
MEDIAN_COLOR = "tab:orange"
TAIL_COLOR = "tab:purple"
REGIME_COLORS = {"memorizing": "#fde0dd", "intermediate": "#f0f0f0", "generalizing": "#deebf7"}
INF_FACTOR = 4.0  # T = inf is drawn this factor right of the largest finite T


@dataclass
class VectorPanel:
    """What one vector plot shows: features W (m, n) and training hidden vectors (T, m)."""

    dataset_size: float
    W: np.ndarray
    hidden: np.ndarray | None  # None for infinite data


def save(figure, folder: Path, name: str) -> list[Path]:
    """Write `name`.png and `name`.svg into folder; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.png", folder / f"{name}.svg"]
    figure.savefig(paths[0], dpi=110, bbox_inches="tight")
    figure.savefig(paths[1], bbox_inches="tight")
    return paths


# --- helpers -----------------------------------------------------------------------------------


def t_positions(sizes) -> tuple[np.ndarray, float]:
    """x positions for dataset sizes on a log axis: inf sits INF_FACTOR right of the largest T."""
    sizes = np.asarray(sizes, dtype=float)
    finite = sizes[np.isfinite(sizes)]
    inf_x = (finite.max() if finite.size else 1.0) * INF_FACTOR
    return np.where(np.isfinite(sizes), sizes, inf_x), inf_x


def _t_axis(ax, sizes) -> None:
    _, inf_x = t_positions(sizes)
    ax.set_xscale("log")
    ticks = [t for t in (1, 10, 100, 1_000, 10_000, 100_000, 1_000_000) if t <= inf_x / INF_FACTOR * 1.01]
    labels = [f"{t:,}" for t in ticks]
    if np.any(~np.isfinite(np.asarray(sizes, dtype=float))):
        ticks.append(inf_x)
        labels.append("∞")
    ax.set_xticks(ticks, labels)
    ax.minorticks_off()
    ax.set_xlabel("T (training examples)")


def setting_label(results: pd.DataFrame) -> str:
    """A title from the configs: the values every run shares."""
    parts = []
    for column, fmt in (("n_features", "n = {:,}"), ("sparsity", "S = {:g}"), ("n_hidden", "m = {}"), ("steps", "{:,} steps"), ("weight_decay", "decay {:g}")):
        values = results[column].unique()
        if len(values) == 1:
            parts.append(fmt.format(values[0]))
    seeds = results.groupby("dataset_size")["data_seed"].nunique().max()
    parts.append(f"{seeds} dataset seed{'s' if seeds != 1 else ''} per T")
    return ", ".join(parts)


def regime_by_t(results: pd.DataFrame) -> pd.Series:
    """The most common regime at each dataset size (ties: the first in memorizing, intermediate,
    generalizing order)."""
    order = {"memorizing": 0, "intermediate": 1, "generalizing": 2}
    counts = results.groupby(["dataset_size", "regime"]).size().reset_index(name="count")
    counts["order"] = counts["regime"].map(order)
    best = counts.sort_values(["dataset_size", "count", "order"], ascending=[True, False, True]).drop_duplicates("dataset_size")
    return best.set_index("dataset_size")["regime"]


def shade_regimes(ax, regimes: pd.Series) -> None:
    """Shade spans of T by regime; boundaries halfway (in log T) between neighbouring sizes."""
    x, _ = t_positions(regimes.index.values)
    order = np.argsort(x)
    x, names = x[order], regimes.values[order]
    logs = np.log(x)
    edges = np.exp(np.concatenate([[logs[0] - 0.5], (logs[1:] + logs[:-1]) / 2, [logs[-1] + 0.5]]))
    seen = set()
    for i, name in enumerate(names):
        label = name if name not in seen else None
        seen.add(name)
        ax.axvspan(edges[i], edges[i + 1], color=REGIME_COLORS[name], zorder=0, label=label, lw=0)


def draw_vectors(ax, vectors: np.ndarray, color: str, width: float = 1.0) -> None:
    """Spokes from the origin to each row of `vectors` (N, m); m > 2 shows the first two axes."""
    v = np.asarray(vectors, dtype=float)
    if v.shape[1] < 2:
        v = np.concatenate([v, np.zeros((len(v), 1))], axis=1)
    v = v[np.linalg.norm(v[:, :2], axis=1) > 0, :2]
    segments = np.stack([np.zeros_like(v), v], axis=1)
    ax.add_collection(LineCollection(segments, colors=color, linewidths=width))
    ax.scatter(v[:, 0], v[:, 1], s=4, color=color, zorder=3)
    reach = max(np.abs(v).max() if v.size else 1.0, 1e-9) * 1.15
    ax.set_xlim(-reach, reach)
    ax.set_ylim(-reach, reach)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def t_label(t: float) -> str:
    """A dataset size as text: 1,000 or ∞."""
    return "∞" if not np.isfinite(t) else f"{int(t):,}"


# --- figure 1: small T -------------------------------------------------------------------------


def small_t_figure(panels: list[VectorPanel], title: str = ""):
    """Features (top, blue) and training hidden vectors (bottom, red), one column per T, each
    panel on its own scale."""
    fig = Figure(figsize=(2.1 * len(panels), 4.4))
    axes = fig.subplots(2, len(panels), squeeze=False)
    for column, panel in enumerate(panels):
        draw_vectors(axes[0, column], panel.W.T, FEATURE_COLOR, 0.6)
        axes[0, column].set_title(f"T = {t_label(panel.dataset_size)}", fontsize=10)
        if panel.hidden is not None:
            draw_vectors(axes[1, column], panel.hidden, DATA_COLOR, 1.2)
        else:
            axes[1, column].axis("off")
    axes[0, 0].set_ylabel("features W_i")
    axes[1, 0].set_ylabel("hidden vectors h_t")
    fig.suptitle(title or "Features and training hidden vectors at small T", fontsize=11)
    fig.tight_layout()
    return fig


# --- figure 2: the main figure -----------------------------------------------------------------


def main_figure(results: pd.DataFrame, items: pd.DataFrame, panels: list[VectorPanel]):
    """(a) test loss vs T: the mean over seeds of each run's mean test loss (the paper's
    statistic) with its range, of each run's median, and on a right-hand axis the share of test
    examples in the heavy tail; (b) every feature and data-point dimensionality vs T with m/T,
    (c) vector plots across the regimes; regimes shaded from the measured classification.

    results: one row per run (dataset_size, data_seed, test_loss, regime, n_hidden, ...; the
        median and tail share, test_loss_median and test_loss_tail_share, are drawn when present)
    items: rows of (dataset_size, kind in {"feature", "data"}, dimensionality)
    """
    fig = Figure(figsize=(11, 8.5))
    grid = fig.add_gridspec(3, max(1, len(panels)), height_ratios=[1.1, 1.1, 0.8])
    loss_ax = fig.add_subplot(grid[0, :])
    dim_ax = fig.add_subplot(grid[1, :], sharex=loss_ax)
    regimes = regime_by_t(results)
    for ax in (loss_ax, dim_ax):
        shade_regimes(ax, regimes)

    stats = results.groupby("dataset_size")["test_loss"].agg(["mean", "min", "max"]).reset_index()
    x, _ = t_positions(stats["dataset_size"])
    loss_ax.fill_between(x, stats["min"], stats["max"], color="k", alpha=0.15, lw=0, label="range over seeds")
    loss_ax.plot(x, stats["mean"], "o-", color="k", ms=4, label="mean test loss")
    if "test_loss_median" in results:  # the mean hides a heavy tail; the median shows the typical example
        medians = results.groupby("dataset_size")["test_loss_median"].mean()
        loss_ax.plot(x, medians.values, "s--", color=MEDIAN_COLOR, ms=3, lw=1, label="median test loss")
    loss_ax.axhline(1.0, color="gray", ls="--", lw=1, label="loss of the zero output")
    loss_ax.set_ylabel("test loss")
    if stats["max"].max() > 3 * max(stats["min"].min(), 1e-3):  # a bump far above 1: log scale shows both
        loss_ax.set_yscale("log")
    loss_ax.set_title(f"(a) test loss, per run over its test examples, averaged over seeds   [{setting_label(results)}]", fontsize=10, loc="left")

    for kind, color, label in (("feature", FEATURE_COLOR, "feature dimensionality"), ("data", DATA_COLOR, "data-point dimensionality")):
        part = items[items["kind"] == kind]
        px, _ = t_positions(part["dataset_size"])
        jitter = np.exp(np.random.default_rng(0).uniform(-0.08, 0.08, len(px)))
        dim_ax.scatter(px * jitter, part["dimensionality"], s=3, color=color, alpha=0.5, label=label, lw=0)
    m = int(results["n_hidden"].iloc[0])
    finite = np.sort(results["dataset_size"][np.isfinite(results["dataset_size"])].unique())
    if finite.size:
        curve = np.geomspace(finite.min(), finite.max(), 200)
        dim_ax.plot(curve, np.minimum(m / curve, 1.0), color="k", lw=1, label=f"{m}/T")
    dim_ax.set_ylabel("dimensionality")
    dim_ax.set_ylim(-0.02, 1.02)
    dim_ax.legend(loc="upper right", fontsize=8, markerscale=3)
    dim_ax.set_title("(b) dimensionality of features and training examples (each point one item)", fontsize=10, loc="left")
    _t_axis(dim_ax, results["dataset_size"])
    loss_ax.tick_params(labelbottom=False)

    for column, panel in enumerate(panels):
        ax = fig.add_subplot(grid[2, column])
        draw_vectors(ax, panel.W.T, FEATURE_COLOR, 0.6)
        if panel.hidden is not None:
            draw_vectors(ax, panel.hidden / max(np.abs(panel.hidden).max(), 1e-12) * np.abs(panel.W).max(), DATA_COLOR, 1.0)
        ax.set_title(f"T = {t_label(panel.dataset_size)}", fontsize=9)
    fig.text(0.01, 0.27, "(c)", fontsize=10)
    _legend_with_tail_share(loss_ax, results, x)
    fig.tight_layout()
    return fig


def _legend_with_tail_share(loss_ax, results: pd.DataFrame, x: np.ndarray) -> None:
    """The test-loss panel's legend, after drawing, where recorded, the mean over seeds of the
    share of test examples whose loss exceeds their zero-output loss by more than TAIL_MARGIN, in
    percent on a right-hand axis (added last, so the figure's other axes keep their order)."""
    if "test_loss_tail_share" not in results:
        loss_ax.legend(loc="upper right", fontsize=8, ncol=2)
        return
    tail_ax = loss_ax.twinx()
    shares = 100 * results.groupby("dataset_size")["test_loss_tail_share"].mean()
    tail_ax.plot(x, shares.values, "^:", color=TAIL_COLOR, ms=4, lw=1, label=f"% of test examples with loss > {1 + TAIL_MARGIN:g} × zero output (right)")
    tail_ax.set_ylim(0, max(10.0, 1.15 * float(np.nanmax(shares.values, initial=0.0))))
    tail_ax.set_ylabel("% in the tail", color=TAIL_COLOR)
    tail_ax.tick_params(axis="y", colors=TAIL_COLOR)
    handles, labels = loss_ax.get_legend_handles_labels()
    tail_handles, tail_labels = tail_ax.get_legend_handles_labels()
    # upper left: the small-T losses sit near 1 at the bottom, and the bump is further right
    tail_ax.legend(handles + tail_handles, labels + tail_labels, loc="upper left", fontsize=7, ncol=3)


# --- figure 3: norms ---------------------------------------------------------------------------


def norms_figure(results: pd.DataFrame, items: pd.DataFrame):
    """Feature lengths ||W_i||, hidden-vector lengths ||h_t||, ||W||_F and ||b|| vs T."""
    fig = Figure(figsize=(11, 3.8))
    items_ax, totals_ax = fig.subplots(1, 2)
    for kind, color, label in (("feature", FEATURE_COLOR, "feature length ||W_i||"), ("data", DATA_COLOR, "hidden length ||h_t||")):
        part = items[items["kind"] == kind]
        px, _ = t_positions(part["dataset_size"])
        items_ax.scatter(px, part["norm"], s=3, color=color, alpha=0.4, lw=0, label=label)
    items_ax.set_yscale("symlog", linthresh=0.01)
    items_ax.legend(fontsize=8, markerscale=3)
    _t_axis(items_ax, results["dataset_size"])
    means = results.groupby("dataset_size")[["W_norm", "b_norm"]].mean().reset_index()
    x, _ = t_positions(means["dataset_size"])
    totals_ax.plot(x, means["W_norm"], "o-", ms=4, color="k", label="||W||_F")
    totals_ax.plot(x, means["b_norm"], "s-", ms=4, color="tab:green", label="||b||")
    totals_ax.legend(fontsize=8)
    _t_axis(totals_ax, results["dataset_size"])
    fig.suptitle(f"Norms vs T   [{setting_label(results)}]", fontsize=10)
    fig.tight_layout()
    return fig


# --- figure 4: the (T, m) heatmap --------------------------------------------------------------


def heatmap_figure(results: pd.DataFrame):
    """Mean test loss over (T, m), one cell per pair, averaged over its models."""
    table = results.pivot_table(index="n_hidden", columns="dataset_size", values="test_loss", aggfunc="mean").sort_index()
    fig = Figure(figsize=(1.0 + 0.8 * table.shape[1], 1.0 + 0.5 * table.shape[0]))
    ax = fig.subplots()
    image = ax.imshow(table.values, origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(table.shape[1]), [t_label(t) for t in table.columns])
    ax.set_yticks(range(table.shape[0]), [str(m) for m in table.index])
    for (i, j), value in np.ndenumerate(table.values):
        if np.isfinite(value):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color="w" if value < np.nanmean(table.values) else "k")
    ax.set_xlabel("T (training examples)")
    ax.set_ylabel("m (hidden dimensions)")
    fig.colorbar(image, ax=ax, label="mean test loss")
    models = int(results.groupby(["n_hidden", "dataset_size"]).size().max())
    ax.set_title(f"Test loss over (T, m), {models} models per cell   [{setting_label(results)}]", fontsize=9)
    fig.tight_layout()
    return fig


# --- figure 5: appendix ------------------------------------------------------------------------


def appendix_figure(results: pd.DataFrame):
    """Test loss vs T for each weight decay (left) and each step count (right)."""
    fig = Figure(figsize=(11, 3.8))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, column, fixed, fmt in ((axes[0], "weight_decay", "steps", "decay {:g}"), (axes[1], "steps", "weight_decay", "{:,} steps")):
        common = results[fixed].mode().iloc[0]
        part = results[results[fixed] == common]
        colors = matplotlib.colormaps["viridis"](np.linspace(0, 0.9, part[column].nunique()))
        for color, (value, group) in zip(colors, part.groupby(column)):
            means = group.groupby("dataset_size")["test_loss"].mean()
            x, _ = t_positions(means.index.values)
            ax.plot(x, means.values, "o-", ms=3, color=color, label=fmt.format(value))
        ax.axhline(1.0, color="gray", ls="--", lw=1)
        _t_axis(ax, part["dataset_size"])
        ax.legend(fontsize=8)
        ax.set_title(f"by {column.replace('_', ' ')} ({fixed.replace('_', ' ')} {common:g})", fontsize=10)
    axes[0].set_ylabel("mean test loss")
    fig.suptitle(f"Appendix   [{setting_label(results)}]", fontsize=10)
    fig.tight_layout()
    return fig


# --- figure 6: animation -----------------------------------------------------------------------


def training_animation(steps: np.ndarray, W: np.ndarray, hidden: np.ndarray | None, title: str):
    """A FuncAnimation of features (and hidden vectors) over training.

    steps (P,), W (P, m, n), hidden (P, T, m) or None.
    """
    from matplotlib.animation import FuncAnimation

    columns = 1 if hidden is None else 2
    fig = Figure(figsize=(3.4 * columns, 3.6))
    axes = fig.subplots(1, columns, squeeze=False)

    def frame(p: int):
        for ax in axes[0]:
            ax.clear()
        draw_vectors(axes[0, 0], W[p].T, FEATURE_COLOR, 0.6)
        axes[0, 0].set_title("features", fontsize=9)
        if hidden is not None:
            draw_vectors(axes[0, 1], hidden[p], DATA_COLOR, 1.2)
            axes[0, 1].set_title("training hidden vectors", fontsize=9)
        fig.suptitle(f"{title}   step {int(steps[p]):,}", fontsize=9)
        return []

    return FuncAnimation(fig, frame, frames=len(steps), interval=250, blit=False)


def save_animation(animation, folder: Path, name: str) -> list[Path]:
    """GIF always (Pillow), MP4 as well where ffmpeg is installed."""
    from matplotlib.animation import FFMpegWriter, PillowWriter

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.gif"]
    animation.save(paths[0], writer=PillowWriter(fps=4), dpi=80)
    if FFMpegWriter.isAvailable():
        paths.append(folder / f"{name}.mp4")
        animation.save(paths[1], writer=FFMpegWriter(fps=4), dpi=80)
    return paths
