"""The paper's figures (docs/science.md section 6) from stored results, with matplotlib.

Every function takes plain data (a results table, per-item tables, vector panels) and returns a
matplotlib Figure, so tests can check what is drawn and notebooks show it inline; `save` writes it
as PNG and SVG. Figures are made without pyplot, so drawing needs no GUI backend and never changes
the caller's (a notebook keeps its inline backend). Labels and titles are built from the configs
in the data, never typed in.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.colors import FuncNorm, LogNorm
from matplotlib.figure import Figure

from ._config import SETTING_FIELDS
from ._metrics import TAIL_MARGIN
from ._store import remove_leftovers, write_atomic, write_atomic_via

FEATURE_COLOR = "tab:blue"
DATA_COLOR = "tab:red"
MEDIAN_COLOR = "tab:orange"
TAIL_COLOR = "tab:purple"
REGIME_COLORS = {"memorizing": "#fde0dd", "intermediate": "#f0f0f0", "generalizing": "#deebf7", "collapsed": "#bdbdbd"}
INF_FACTOR = 4.0  # T = inf is drawn this factor right of the largest finite T
# A collection of more items than this (spokes, points) is drawn as an image inside the SVG, not as
# one element per item: at the paper's setting a panel has up to T = 2,000,000 hidden vectors, and
# such SVGs were 880 MB each (README, "DIR/figures"). The PNG is the same either way.
VECTOR_ITEMS_MAX = 5_000
SPOKES = "spokes"  # the gid of the lines `draw_vectors` draws


def rasterized(n_items: int) -> bool:
    """Whether a collection of n_items is drawn as an image in vector output (VECTOR_ITEMS_MAX)."""
    return n_items > VECTOR_ITEMS_MAX


@dataclass
class VectorPanel:
    """What one vector plot shows: features W (m, n) and training hidden vectors (T, m)."""

    dataset_size: float
    W: np.ndarray
    hidden: np.ndarray | None  # None for infinite data


def save(figure, folder: Path, name: str) -> list[Path]:
    """Write `name`.png and `name`.svg into folder, both drawn before either is written, and each
    written whole or not at all: a kill or an error while drawing leaves the earlier pair (and
    the leftovers of a killed draw are removed here). Returns the paths."""
    paths = [folder / f"{name}.png", folder / f"{name}.svg"]
    drawn = []
    for path, dpi in zip(paths, (110, None)):  # None: rcParams["savefig.dpi"], as savefig's default
        buffer = io.BytesIO()
        figure.savefig(buffer, format=path.suffix[1:], dpi=dpi, bbox_inches="tight")
        drawn.append(buffer.getvalue())
    if folder.is_dir():
        remove_leftovers(folder)
    for path, data in zip(paths, drawn):
        write_atomic(path, data)
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
    generalizing, collapsed order)."""
    order = {"memorizing": 0, "intermediate": 1, "generalizing": 2, "collapsed": 3}
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
    """Spokes from the origin to each row of `vectors` (N, m), one Line2D of gid SPOKES (`spoke_ends`
    reads them back), and a point at each tip; m > 2 shows the first two axes."""
    v = np.asarray(vectors, dtype=float)
    if v.shape[1] < 2:
        v = np.concatenate([v, np.zeros((len(v), 1))], axis=1)
    v = v[np.linalg.norm(v[:, :2], axis=1) > 0, :2]
    # one line through origin, tip, gap (NaN) per spoke: a single path, where a LineCollection
    # builds a Path object per spoke (a minute for the 2,000,000 hidden vectors of one panel)
    path = np.stack([np.zeros_like(v), v, np.full_like(v, np.nan)], axis=1).reshape(-1, 2)
    ax.plot(path[:, 0], path[:, 1], "-", color=color, lw=width, zorder=1, gid=SPOKES, rasterized=rasterized(len(v)))
    ax.scatter(v[:, 0], v[:, 1], s=4, color=color, zorder=3, rasterized=rasterized(len(v)))
    reach = max(np.abs(v).max() if v.size else 1.0, 1e-9) * 1.15
    ax.set_xlim(-reach, reach)
    ax.set_ylim(-reach, reach)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def spoke_ends(ax) -> list[np.ndarray]:
    """The tips (N, 2) of each set of spokes `draw_vectors` drew on ax, in drawing order."""
    return [line.get_xydata().reshape(-1, 3, 2)[:, 1] for line in ax.get_lines() if line.get_gid() == SPOKES]


def draw_panel(ax, panel, title: str, fontsize: int) -> None:
    """One vector plot: the features W_i (panel.W (m, n)) and, where stored, the training hidden
    vectors (panel.hidden (T, m)) scaled to the longest feature."""
    draw_vectors(ax, panel.W.T, FEATURE_COLOR, 0.6)
    if panel.hidden is not None:
        draw_vectors(ax, panel.hidden / max(np.abs(panel.hidden).max(), 1e-12) * np.abs(panel.W).max(), DATA_COLOR, 1.0)
    ax.set_title(title, fontsize=fontsize)


def features_text(count: int) -> str:
    """'1 feature', '0 features': a count of learned features as the report and titles write it."""
    return f"{int(count)} feature{'' if int(count) == 1 else 's'}"


def t_label(t: float) -> str:
    """A dataset size as text: 1,000 or ∞."""
    return "∞" if not np.isfinite(t) else f"{int(round(t)):,}"  # rounded: T(1 - S) / (1 - S) can land at 49.999...


def short_t_label(t: float) -> str:
    """A dataset size in few characters, for narrow axes: 50, 1.5k, 200k, 1M, 2.5M, ∞."""
    if not np.isfinite(t):
        return "∞"
    t = float(f"{t:.3g}")  # rounded first: 999,999 is 1M, not 1e+03k
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if t >= scale:
            return f"{t / scale:.4g}{suffix}"
    return f"{t:.3g}"


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


def main_figure(results: pd.DataFrame, items: pd.DataFrame, panels: list[VectorPanel], zero_output: float = 1.0):
    """(a) test loss vs T: the mean over seeds of each run's mean test loss (the paper's
    statistic) with its range, of each run's median, and on a right-hand axis the share of test
    examples in the heavy tail; (b) every feature and data-point dimensionality vs T with m/T,
    (c) vector plots across the regimes; regimes shaded from the measured classification.

    results: one row per run (dataset_size, data_seed, test_loss, regime, n_hidden, ...; the
        median and tail share, test_loss_median and test_loss_tail_share, are drawn when present)
    items: rows of (dataset_size, kind in {"feature", "data"}, dimensionality)
    zero_output: the test loss of the all-zero output on the runs' test set (1 when every test
        example has an active feature; less when some are all zero, as at small n (1 - S))
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
    loss_ax.axhline(zero_output, color="gray", ls="--", lw=1, label="loss of the zero output")
    loss_ax.set_ylabel("test loss")
    if stats["max"].max() > 3 * max(stats["min"].min(), 1e-3):  # a bump far above 1: log scale shows both
        loss_ax.set_yscale("log")
    loss_ax.set_title(f"(a) test loss, per run over its test examples, averaged over seeds   [{setting_label(results)}]", fontsize=10, loc="left")

    for kind, color, label in (("feature", FEATURE_COLOR, "feature dimensionality"), ("data", DATA_COLOR, "data-point dimensionality")):
        part = items[items["kind"] == kind]
        px, _ = t_positions(part["dataset_size"])
        jitter = np.exp(np.random.default_rng(0).uniform(-0.08, 0.08, len(px)))
        dim_ax.scatter(px * jitter, part["dimensionality"], s=3, color=color, alpha=0.5, label=label, lw=0, rasterized=rasterized(len(px)))
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
        draw_panel(fig.add_subplot(grid[2, column]), panel, f"T = {t_label(panel.dataset_size)}", 9)
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
        items_ax.scatter(px, part["norm"], s=3, color=color, alpha=0.4, lw=0, label=label, rasterized=rasterized(len(px)))
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


def loss_colour_norm(values: np.ndarray):
    """A logarithmic colour scale over the finite positive `values`, or None (one value, or none).
    When they lie on both sides of 1, the zero-output loss, 1 is the middle colour and each side
    spreads over its own half: the cells that beat predicting zero and those that lose to it, and
    by how much on each side (1.07 would otherwise share a colour with 1.00 beside a bump of 30)."""
    shown = values[np.isfinite(values) & (values > 0)]
    if shown.size == 0 or shown.min() == shown.max():
        return None
    low, high = float(shown.min()), float(shown.max())
    if not low < 1 < high:
        return LogNorm(low, high)

    def forward(x):  # masked arrays throughout: a cell without runs stays masked (drawn grey)
        x = np.ma.clip(np.ma.masked_invalid(x), low, high)
        return np.ma.where(x < 1, 0.5 - 0.5 * np.ma.log(x) / np.log(low), 0.5 + 0.5 * np.ma.log(x) / np.log(high))

    def inverse(y):
        return np.ma.where(y < 0.5, low ** (1 - 2 * y), high ** (2 * y - 1))

    return FuncNorm((forward, inverse), low, high)


def cell_table(results: pd.DataFrame, statistic: str) -> pd.DataFrame:
    """`statistic` ("mean", "sem", ...) of the test loss over each (T, m) cell's runs: m rows, T columns."""
    return results.pivot_table(index="n_hidden", columns="dataset_size", values="test_loss", aggfunc=statistic).sort_index()


def heatmap_figure(results: pd.DataFrame):
    """Mean test loss over (T, m), one cell per pair, averaged over its models, coloured by
    `loss_colour_norm`: on the reduced setting the middle regime's cells reach tens of times the
    zero-output loss, while at large T a bigger model moves the loss by hundredths."""
    table = cell_table(results, "mean")
    fig = Figure(figsize=(1.6 + 0.8 * table.shape[1], 1.4 + 0.5 * table.shape[0]))
    ax = fig.subplots()
    norm = loss_colour_norm(table.values)
    colours = matplotlib.colormaps["RdBu_r" if isinstance(norm, FuncNorm) else "viridis"].with_extremes(bad="0.6")  # no runs: grey
    image = ax.imshow(table.values, origin="lower", aspect="auto", cmap=colours, norm=norm)
    ax.set_xticks(range(table.shape[1]), [t_label(t) for t in table.columns])
    ax.set_yticks(range(table.shape[0]), [str(m) for m in table.index])
    for (i, j), value in np.ndenumerate(table.values):
        if np.isfinite(value):
            shade = float(image.norm(value))
            dark = abs(shade - 0.5) > 0.35 if isinstance(norm, FuncNorm) else shade < 0.5
            ax.text(j, i, f"{value:.3g}", ha="center", va="center", fontsize=7, color="w" if dark else "k")
    ax.set_xlabel("T (training examples)")
    ax.set_ylabel("m (hidden dimensions)")
    bar = fig.colorbar(image, ax=ax, label="mean test loss" + ("" if norm is None else " (log scale)"))
    if isinstance(norm, FuncNorm):
        bar.set_ticks([norm.vmin, *_loss_ticks(norm.vmin, norm.vmax), norm.vmax])
        bar.set_ticklabels([f"{tick:.3g}" for tick in bar.get_ticks()])
    models = int(results.groupby(["n_hidden", "dataset_size"]).size().max())
    ax.set_title(f"Test loss over (T, m), {models} models per cell\n[{setting_label(results)}]", fontsize=9)
    fig.tight_layout()
    return fig


def _loss_ticks(low: float, high: float) -> list[float]:
    """The powers of ten (1 among them) strictly between low and high."""
    return [10.0**k for k in range(int(np.floor(np.log10(low))) + 1, int(np.ceil(np.log10(high))))]


# --- figure 5: appendix ------------------------------------------------------------------------


def appendix_figure(results: pd.DataFrame):
    """Test loss vs T for each weight decay (left) and each step count (right), on a log scale:
    the reduced setting's bumps reach tens of times the zero-output loss, the paper's 2% above it."""
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
        ax.set_yscale("log")
        ax.legend(fontsize=8)
        ax.set_title(f"by {column.replace('_', ' ')} ({fixed.replace('_', ' ')} {common:,g})", fontsize=10)
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
    """GIF always (Pillow), MP4 as well where ffmpeg is installed; each written whole or not at all."""
    from matplotlib.animation import FFMpegWriter, PillowWriter

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.gif"]
    write_atomic_via(paths[0], lambda scratch: animation.save(scratch, writer=PillowWriter(fps=4), dpi=80))
    if FFMpegWriter.isAvailable():
        paths.append(folder / f"{name}.mp4")
        write_atomic_via(paths[1], lambda scratch: animation.save(scratch, writer=FFMpegWriter(fps=4), dpi=80))
    return paths


# --- the follow-ups (docs/science.md section 7) ------------------------------------------------

# The columns of one comparison's runs: the settings, then the seeds.
SETTING_COLUMNS = (*SETTING_FIELDS, "data_seed", "init_seed")


def runs_at_common_setting(results: pd.DataFrame, varying) -> pd.DataFrame:
    """The runs at the most common value of every SETTING_COLUMNS column not in `varying`, chosen
    column by column in that order (each among the runs the earlier columns kept), so the rows
    differ only in the `varying` columns (and per-run settings such as restarts)."""
    part = results
    for column in SETTING_COLUMNS:
        if column in varying or column not in part or not len(part):
            continue
        part = part[part[column] == part[column].mode().iloc[0]]
    return part.reset_index(drop=True)


def sightings(results: pd.DataFrame) -> pd.Series:
    """T(1 - S) per run: the expected number of training examples in which a feature is active.
    Rounded to 9 decimals: 3,000 (1 - 0.99) is 30.00000000000003 in floats, and a claim's range
    ends at 30."""
    return (results["dataset_size"] * (1 - results["sparsity"])).round(9)


def _value_colors(values, cmap: str = "viridis") -> dict:
    """A colour per sorted value, spread over the colormap."""
    values = sorted(values)
    colors = matplotlib.colormaps[cmap](np.linspace(0, 0.9, len(values)))
    return dict(zip(values, colors))


def _curve_by(ax, runs: pd.DataFrame, x: pd.Series, column: str, value_column: str, label: str, colors: dict) -> None:
    """One line per value of `column`: the mean of `value_column` over the runs at each x, and
    every run as a faint point."""
    for value, group in runs.groupby(column):
        gx = x.loc[group.index]
        means = group.groupby(gx)[value_column].mean().sort_index()
        ax.scatter(gx, group[value_column], s=8, color=colors[value], alpha=0.35, lw=0)
        ax.plot(means.index, means.values, "o-", ms=4, color=colors[value], label=label.format(value))


def onset_figure(by_sparsity: pd.DataFrame, by_decay: pd.DataFrame | None = None, reference: float = 10.0):
    """Where generalization begins (docs/science.md section 7): the largest feature dimensionality
    (top) and the mean test loss (bottom) of each run against T(1 - S), one line per sparsity
    coloured by S (left), and against T per weight decay (right, when `by_decay` is given).

    by_sparsity: runs (dataset_size, sparsity, feature_dimensionality_max, test_loss) that differ
        only in S, T and seeds; by_decay: the same at one S over weight_decay; `reference`: the
        T(1 - S) at which generalization is said to begin, drawn as a dotted line.
    """
    by_sparsity = by_sparsity[np.isfinite(by_sparsity["dataset_size"])].reset_index(drop=True)
    columns = 1 if by_decay is None or not len(by_decay) else 2
    fig = Figure(figsize=(7.0 if columns == 1 else 11.2, 6.6))
    axes = fig.subplots(2, columns, squeeze=False, sharex="col")
    seen = sightings(by_sparsity)
    colors = _value_colors(by_sparsity["sparsity"].unique())
    for row, (column, name) in enumerate((("feature_dimensionality_max", "largest feature dimensionality"), ("test_loss", "mean test loss"))):
        ax = axes[row, 0]
        _curve_by(ax, by_sparsity, seen, "sparsity", column, "S = {:g}", colors)
        ax.axvline(reference, color="gray", ls=":", lw=1, label=f"T(1 - S) = {reference:g}")
        ax.set_xscale("log")
        _plain_ticks(ax.xaxis)
        ax.set_ylabel(name)
    axes[0, 0].axhline(0.4, color="k", ls="--", lw=0.8, label="2/5: a pentagon feature")
    axes[0, 0].set_ylim(-0.02, 1.02)
    axes[0, 0].legend(fontsize=7, loc="upper left")
    _loss_scale(axes[1, 0], by_sparsity["test_loss"])
    axes[1, 0].axhline(1.0, color="gray", ls="--", lw=1)
    axes[1, 0].set_xlabel("T(1 - S): expected examples per feature")
    axes[0, 0].set_title("by sparsity", fontsize=9)
    if columns == 2:
        by_decay = by_decay[np.isfinite(by_decay["dataset_size"])].reset_index(drop=True)
        decay_colors = _value_colors(by_decay["weight_decay"].unique(), "plasma")
        for row, column in enumerate(("feature_dimensionality_max", "test_loss")):
            ax = axes[row, 1]
            _curve_by(ax, by_decay, by_decay["dataset_size"], "weight_decay", column, "decay {:g}", decay_colors)
            ax.set_xscale("log")
            _plain_ticks(ax.xaxis)
        sparsity = float(by_decay["sparsity"].iloc[0])
        axes[0, 1].axvline(reference / (1 - sparsity), color="gray", ls=":", lw=1)
        axes[0, 1].set_ylim(-0.02, 1.02)
        axes[0, 1].legend(fontsize=7, loc="upper left")
        _loss_scale(axes[1, 1], by_decay["test_loss"])
        axes[1, 1].axhline(1.0, color="gray", ls="--", lw=1)
        axes[1, 1].set_xlabel("T (training examples)")
        axes[0, 1].set_title(f"by weight decay at S = {sparsity:g}", fontsize=9)
    fig.suptitle(f"Where generalization begins   [{setting_label(by_sparsity)}]", fontsize=10)
    fig.tight_layout()
    return fig


def _loss_scale(ax, losses: pd.Series) -> None:
    """A log scale when the losses span far above their smallest (a middle-regime bump of tens)."""
    if losses.max() > 3 * max(losses.min(), 1e-3):
        ax.set_yscale("log")
        _plain_ticks(ax.yaxis)


class _PlainLogFormatter(matplotlib.ticker.LogFormatter):
    """LogFormatter's choice of which ticks to label, each written as short_t_label writes it (0.6,
    20, 10k, 1M): LogFormatter's own text turns into 1e4 and 1e+05 from 10,000 on."""

    def __call__(self, x, pos=None):
        return short_t_label(x) if super().__call__(x, pos) else ""


def _plain_ticks(axis) -> None:
    """Tick labels of a log axis as plain numbers (20, 0.6, 10k), not powers of ten; the ticks
    between decades are labelled only where the axis spans few decades (matplotlib's LogFormatter rule)."""
    axis.set_major_formatter(_PlainLogFormatter(labelOnlyBase=False))
    axis.set_minor_formatter(_PlainLogFormatter(labelOnlyBase=False))


@dataclass
class RepeatPanel:
    """A vector plot of a run with repeated examples: features W (m, n), training hidden vectors
    hidden (T, m) and which rows are copies of a repeated example, repeated (T,) bool."""

    title: str
    W: np.ndarray
    hidden: np.ndarray
    repeated: np.ndarray


def repeats_figure(runs: pd.DataFrame, panels: list[RepeatPanel], coefficient: float = 0.4):
    """Repeated data (docs/science.md section 7): left, the map over (T/N, R) of whether the one
    repeated example is memorized (`repeated_memorized`), with the line R = coefficient T/N;
    right, vector plots of runs whose repeated examples displace pentagon features.

    runs: one repeated point per run (dataset_size, n_features, repeats, repeated_memorized,
        features_learned); panels: drawn left to right.
    """
    fig = Figure(figsize=(4.6 + 2.6 * len(panels), 4.2))
    grid = fig.add_gridspec(1, 1 + len(panels), width_ratios=[1.8] + [1.0] * len(panels))
    ax = fig.add_subplot(grid[0, 0])
    per_feature = runs["dataset_size"] / runs["n_features"]
    memorized = runs["repeated_memorized"] > 0
    ax.scatter(per_feature[memorized], runs.loc[memorized, "repeats"], s=70, color=DATA_COLOR, label="repeated point memorized", zorder=3)
    ax.scatter(per_feature[~memorized], runs.loc[~memorized, "repeats"], s=70, facecolors="none", edgecolors="gray", label="not memorized", zorder=3)
    for x, y, learned in zip(per_feature, runs["repeats"], runs["features_learned"]):
        ax.annotate(str(int(learned)), (x, y), textcoords="offset points", xytext=(7, -3), fontsize=7, color="tab:blue")
    if len(runs):
        line = np.geomspace(per_feature.min() / 1.5, per_feature.max() * 1.5, 50)
        ax.plot(line, coefficient * line, "k--", lw=1, label=f"R = {coefficient:g} T/N")
        # headroom above the largest R for the legend (upper left), which otherwise covers its markers
        ax.set_ylim(min(runs["repeats"].min(), coefficient * line[0]) / 1.5, max(runs["repeats"].max(), coefficient * line[-1]) * 4)
    ax.set_xscale("log")
    ax.set_yscale("log", base=2)
    _plain_ticks(ax.xaxis)
    ax.set_yticks(sorted(runs["repeats"].unique()), [f"{r:g}" for r in sorted(runs["repeats"].unique())])
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("T/N (training examples per feature)")
    ax.set_ylabel("R (copies of the repeated example)")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title("memorized or not; blue: features learned", fontsize=9)
    for column, panel in enumerate(panels, start=1):
        panel_ax = fig.add_subplot(grid[0, column])
        scale = np.abs(panel.W).max() / max(np.abs(panel.hidden).max(), 1e-12)  # hidden vectors drawn on the features' scale
        others = panel.hidden[~panel.repeated] * scale
        panel_ax.scatter(others[:, 0], others[:, 1], s=1, color="0.7", lw=0, rasterized=rasterized(len(others)))
        draw_vectors(panel_ax, panel.W.T, FEATURE_COLOR, 0.6)
        draw_vectors(panel_ax, panel.hidden[panel.repeated] * scale, DATA_COLOR, 1.4)
        panel_ax.set_title(panel.title.replace(": ", ":\n"), fontsize=8)
    fig.suptitle(f"Repeated data   [{setting_label(runs)}]", fontsize=10)
    fig.tight_layout()
    return fig


ENVELOPE_REGIMES = (("memorizing", DATA_COLOR), ("generalizing", FEATURE_COLOR), ("intermediate", "0.5"), ("collapsed", "k"))


@dataclass
class BranchFit:
    """A straight line through log10 of what the envelope removes of the zero-output loss (as a
    share of it: 1 - training loss with the paper's loss) against log10 T on one side of its
    crossover (the kink measure, `_follow_up_claims.branch_fits`)."""

    slope: float
    intercept: float  # log10 of the fitted share removed at T = 1
    sizes: np.ndarray  # (points,) the envelope's T it was fitted over
    removed: np.ndarray  # (points,) the share the envelope's run removes there
    regimes: np.ndarray  # (points,) the regime of the envelope's run there

    def fitted(self, sizes: np.ndarray) -> np.ndarray:
        """(len(sizes),) the fitted share removed at T = `sizes`."""
        return 10.0 ** (self.intercept + self.slope * np.log10(sizes))


def envelope_figure(runs: pd.DataFrame, crossover: float | None, panels: list[VectorPanel] | None = None, fits: dict[str, BranchFit] | None = None):
    """The learning-rate envelope (docs/science.md section 7): every run's final training loss
    against T (faint, coloured by regime), the lowest per T and regime (the branches), the lowest
    per T over all runs (the envelope, black) and the crossover T; beside it, with `fits`, the
    envelope near the crossover at its own scale with the lines fitted either side (the kink,
    invisible on the whole sweep's axis); vector plots of envelope runs below.

    runs: finite-T runs (dataset_size, train_loss, regime) over learning rates and inits;
    crossover: the T where the envelope turns generalizing (a dotted line), or None;
    fits: {"below", "above"}: the lines fitted either side of the crossover, or None.
    """
    panels, fits = panels or [], fits or {}
    fig = Figure(figsize=(11, 4.4 if not panels else 7.4))
    rows = fig.add_gridspec(2 if panels else 1, 1, height_ratios=[1.5, 1.0] if panels else [1.0])
    top = rows[0].subgridspec(1, 2, width_ratios=[2.3, 1.0], wspace=0.3) if fits else rows[0].subgridspec(1, 1)
    ax = fig.add_subplot(top[0, 0])
    floor = runs.loc[runs["train_loss"] > 0, "train_loss"].min() if (runs["train_loss"] > 0).any() else 1e-6
    loss = runs["train_loss"].clip(lower=floor)  # a log axis: a zero loss sits at the smallest positive one
    for regime, color in ENVELOPE_REGIMES:
        part = runs["regime"] == regime
        if not part.any():
            continue
        if regime == "collapsed":  # a model that passes nothing on (W -> 0) is no branch: marked, not joined
            ax.scatter(runs.loc[part, "dataset_size"], loss[part], s=24, color=color, marker="x", lw=1, label="collapsed (W -> 0)")
            continue
        ax.scatter(runs.loc[part, "dataset_size"], loss[part], s=10, color=color, alpha=0.25, lw=0)
        best = loss[part].groupby(runs.loc[part, "dataset_size"]).min()
        ax.plot(best.index, best.values, "o-", ms=5, color=color, lw=1.2, label=f"{regime} branch: lowest per T")
    envelope = loss.groupby(runs["dataset_size"]).min()
    ax.plot(envelope.index, envelope.values, "-", color="k", lw=2.2, alpha=0.6, zorder=1, label="envelope: lowest training loss per T")
    if crossover is not None:
        ax.axvline(crossover, color="k", ls=":", lw=1.2, label=f"crossover T ≈ {_number_label(crossover)}")
    _loss_against_t_axes(ax)
    if loss.max() < 10 * loss.min():  # less than a decade: plain numbers, not 9.95 x 10^-1
        for set_formatter in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):
            set_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(f"Lowest training loss per T over {_choices_label(runs)}\n[{setting_label(runs)}]", fontsize=9)
    if fits:
        _kink_panel(fig.add_subplot(top[0, 1]), crossover, fits)
    if panels:
        bottom = rows[1].subgridspec(1, len(panels))
        for column, panel in enumerate(panels):
            draw_panel(fig.add_subplot(bottom[0, column]), panel, f"envelope at T = {t_label(panel.dataset_size)}", 8)
    fig.tight_layout()
    return fig


def _choices_label(runs: pd.DataFrame) -> str:
    """What the envelope takes its lowest loss over at each T, as "5 learning rates × up to 2 inits":
    "up to" where some T have fewer (a sweep that adds inits only around the crossover)."""
    def count(column: str, name: str) -> str:
        per_t = runs.groupby("dataset_size")[column].nunique() if len(runs) else pd.Series([0])
        low, high = int(per_t.min()), int(per_t.max())
        return f"{'' if low == high else 'up to '}{high} {name}{'' if high == 1 else 's'}"
    counts = [count(column, name) for column, name in (("lr", "learning rate"), ("init_seed", "init")) if column in runs]
    return " × ".join(counts) or "its runs"


def _kink_panel(ax, crossover: float | None, fits: dict[str, BranchFit]) -> None:
    """What the envelope removes of the zero-output loss at the points the kink's lines were
    fitted to, each coloured by its run's regime, and the two lines with their slopes, on log-log
    axes where they are straight, scaled to the points."""
    sizes = np.concatenate([fit.sizes for fit in fits.values()])
    removed = np.concatenate([fit.removed for fit in fits.values()])
    regimes = np.concatenate([fit.regimes for fit in fits.values()])
    order = np.argsort(sizes)
    ax.plot(sizes[order], removed[order], "-", color="k", lw=2.2, alpha=0.6, zorder=1)
    colors = dict(ENVELOPE_REGIMES)
    ax.scatter(sizes[order], removed[order], s=28, c=[colors.get(r, "0.5") for r in regimes[order]], zorder=3)
    span = np.geomspace(sizes.min(), sizes.max(), 50)  # each line drawn across the other side too: the kink is where they part
    for side, fit in fits.items():
        color = colors["memorizing" if side == "below" else "generalizing"]
        ax.plot(span, fit.fitted(span), "--", color=color, lw=1.2, label=f"fit {side} the crossover: slope {fit.slope:+.4f}")
    if crossover is not None:
        ax.axvline(crossover, color="k", ls=":", lw=1.2)
    _loss_against_t_axes(ax)
    # ticks at the fitted T only, as 200k or 1M: the panel is narrow, and matplotlib's labels of every
    # minor tick (2e+05, 3e+05, 4e+05, ...) run into each other there
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xticks(sizes[order], [short_t_label(t) for t in sizes[order]], fontsize=8)
    # within a decade matplotlib labels minor ticks as powers of ten (1.55 x 10^-2), whose width
    # crowds the axis label into the next panel: three significant digits instead (0.0155)
    for set_formatter in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):
        set_formatter(matplotlib.ticker.FuncFormatter(lambda y, _: f"{y:.3g}"))
    margin = max((removed.max() / removed.min()) ** 0.1, 1.05)  # a tenth of the points' span either side, in log
    ax.set_ylim(removed.min() / margin, removed.max() * margin)  # the points, not the lines carried past them
    ax.set_ylabel("share of the zero-output loss removed\n(1 - final training loss)")
    ax.legend(fontsize=7, loc="best")
    ax.set_title("the envelope near the crossover: the kink", fontsize=9)


def _loss_against_t_axes(ax) -> None:
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_ticks(ax.xaxis)
    ax.set_xlabel("T (training examples)")
    ax.set_ylabel("final training loss")


def clusters_figure(branch: pd.DataFrame, panel: VectorPanel | None, labels: np.ndarray | None, seen_from: float):
    """Clusters of examples in memorizing solutions (docs/science.md section 7): (a) the share of
    represented examples that sit in a cluster and the share of clusters whose members share an
    active feature, (b) cluster count and mean size, both against T for the memorizing branch of
    the envelope; (c) one solution's hidden vectors coloured by cluster (single examples grey).

    branch: one run per T (dataset_size, sparsity and the `_clusters` scalars, with their chance
    levels drawn dotted where present); panel and labels
    (T,): the run drawn in (c), or None; seen_from: T(1 - S) from which SPEC expects clusters.
    """
    fig = Figure(figsize=(12, 3.8))
    axes = fig.subplots(1, 3)
    sizes = branch["dataset_size"].values
    axes[0].plot(sizes, branch["clustered_share"], "o-", color=DATA_COLOR, label="examples in a cluster")
    axes[0].plot(sizes, branch["cluster_shared_feature_share"], "s--", color=FEATURE_COLOR, label="clusters sharing a feature")
    if "cluster_chance_share" in branch:  # the same shares for a random W on the same rows
        axes[0].plot(sizes, branch["cluster_chance_share"], ":", color=DATA_COLOR, alpha=0.6, label="examples in a cluster, random W")
        axes[0].plot(sizes, branch["cluster_chance_shared_feature_share"], ":", color=FEATURE_COLOR, alpha=0.6, label="sharing a feature, random W")
    axes[0].set_ylim(-0.03, 1.03)
    axes[0].set_ylabel("share")
    axes[1].plot(sizes, branch["cluster_count"], "o-", color="k", label="clusters (2+ examples)")
    twin = axes[1].twinx()
    twin.plot(sizes, branch["cluster_size_mean"], "s--", color=MEDIAN_COLOR, label="mean cluster size")
    twin.set_ylabel("mean cluster size", color=MEDIAN_COLOR)
    axes[1].set_ylabel("clusters")
    for ax in axes[:2]:
        ax.set_xscale("log")
        _plain_ticks(ax.xaxis)
        ax.set_xlabel("T (training examples)")
        ax.axvline(seen_from / (1 - float(branch["sparsity"].iloc[0])), color="0.4", ls=":", lw=1)
    axes[0].legend(fontsize=8, loc="upper left")
    axes[1].legend(handles=axes[1].get_lines()[:1] + twin.get_lines(), fontsize=8, loc="upper left")
    axes[0].set_title(f"memorizing branch (dotted: T(1 - S) = {seen_from:g})", fontsize=9)
    if panel is None or labels is None:
        axes[2].axis("off")
    else:
        ax = axes[2]
        hidden = panel.hidden / max(np.linalg.norm(panel.hidden, axis=1).max(), 1e-12)
        size = np.bincount(labels[labels >= 0]) if (labels >= 0).any() else np.zeros(0, dtype=int)
        alone = (labels < 0) | (size[np.maximum(labels, 0)] < 2) if len(size) else np.ones(len(labels), dtype=bool)
        ax.scatter(hidden[alone, 0], hidden[alone, 1], s=4, color="0.7", lw=0, rasterized=rasterized(int(alone.sum())))
        grouped = ~alone
        ax.scatter(hidden[grouped, 0], hidden[grouped, 1], s=7, c=labels[grouped] % 10, cmap="tab10", vmin=0, vmax=9, lw=0, rasterized=rasterized(int(grouped.sum())))
        ax.set_xlim(-1.15, 1.15)
        ax.set_ylim(-1.15, 1.15)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"hidden vectors at T = {t_label(panel.dataset_size)}, coloured by cluster", fontsize=9)
    fig.suptitle(f"Clusters of training examples in memorizing solutions   [{setting_label(branch)}]", fontsize=10)
    fig.tight_layout()
    return fig


def _number_label(x: float) -> str:
    """Two significant digits with thousands separators."""
    return f"{float(f'{x:.2g}'):,g}"


# --- the discrepancy study (issue 9 section 2) -------------------------------------------------

DEFAULTS_COLOR = "black"
PAPER_MARKER = dict(marker="x", color="black", ms=7, mew=2, ls="none", zorder=5)
# The panel near the zero-output loss, where the paper's whole curve lies (0.9985 to 1.022).
NEAR_ONE = (0.985, 1.04)


def discrepancy_figure(curves: pd.DataFrame, order: list, paper: pd.DataFrame, paper_norm_peak: float, title: str):
    """Every variant of a discrepancy study against T, one line each in `order` (the defaults
    black, a statistic other than the mean dashed): mean test loss on a log scale and near 1, with
    the paper's values as crosses; the largest data-point dimensionality (with m/T for m = 2) and
    the largest feature dimensionality; ||W||_F and ||b||, with the paper's norm peak as a dotted
    line. curves: rows of `_discrepancy.variant_curves` (variant, dataset_size, loss,
    data_dimensionality_max, feature_dimensionality_max, W_norm, b_norm); paper: dataset_size (on
    this figure's T axis) and loss."""
    figure = Figure(figsize=(18, 10.5), layout="constrained")
    axes = figure.subplots(2, 3).ravel()
    sizes = curves["dataset_size"].unique()
    _, inf_x = t_positions(sizes)
    palette = matplotlib.colormaps["tab20"](np.linspace(0, 1, 20))
    others = [v for v in order if v != "defaults"]
    colors = {v: palette[i % 20] for i, v in enumerate(others)} | {"defaults": DEFAULTS_COLOR}
    panels = (
        ("loss", "mean test loss (log scale)", "log"), ("loss", "mean test loss near 1", "near one"),
        ("data_dimensionality_max", "largest data-point dimensionality (m/T dashed)", "log"), ("feature_dimensionality_max", "largest feature dimensionality", None),
        ("W_norm", "||W||_F", "log"), ("b_norm", "||b||", "log"),
    )  # fmt: skip
    for ax, (column, label, scale) in zip(axes, panels):
        for variant in order:
            curve = curves[curves["variant"] == variant].sort_values("dataset_size")
            if column not in curve or not curve[column].notna().any():
                continue
            x, _ = t_positions(curve["dataset_size"].values)
            x = np.where(np.isfinite(curve["dataset_size"].values), x, inf_x)
            style = "--" if "median" in variant else "-"
            width = 2.6 if variant == "defaults" else 1.3
            ax.plot(x, curve[column].values, style, marker="o", ms=3, lw=width, color=colors[variant], label=variant, alpha=0.9)
        if column == "loss":
            finite = np.isfinite(paper["dataset_size"].values)
            px = np.where(finite, paper["dataset_size"], inf_x)
            # within this figure's T: from 1 to twice its largest finite T, and infinity where it has it
            largest = np.nanmax(np.where(np.isfinite(sizes), sizes, np.nan))
            keep = np.where(finite, (px >= 1) & (px <= 2 * largest), bool(np.any(~np.isfinite(sizes))))
            ax.plot(px[keep], paper["loss"].values[keep], **PAPER_MARKER, label="paper (its setting)")
            ax.axhline(1.0, color="0.4", lw=0.8)
        if column == "data_dimensionality_max":  # a regular T-gon's examples (docs/science.md section 5), m = 2
            finite_t = np.sort(sizes[np.isfinite(sizes)])
            ax.plot(finite_t, 2.0 / finite_t, "--", color="0.4", lw=1)
        if column in ("W_norm", "b_norm"):
            ax.axvline(paper_norm_peak, color="0.3", ls=":", lw=1.2, label="paper's norm peak")
        if scale == "log":
            ax.set_yscale("log")
        elif scale == "near one":
            ax.set_ylim(*NEAR_ONE)
        _t_axis(ax, sizes)
        ax.set_xlim(min(1.0, ax.get_xlim()[0]), inf_x * 1.5)
        ax.set_title(label)
    axes[0].legend(fontsize=7, ncol=2, loc="upper left")
    axes[4].legend(handles=[h for h in axes[4].get_legend_handles_labels()[0][-1:]], fontsize=8, loc="upper right")
    figure.suptitle(title, fontsize=11)
    return figure
