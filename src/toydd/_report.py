"""From a sweep directory to the paper's figures, a check of its claims, and report.html.

    sweep_figures(DIR) -> {name: matplotlib Figure}, every figure the results support (not saved)
    figures(DIR)       -> DIR/figures/*.png, *.svg (and the animation as GIF, MP4 where ffmpeg exists)
    report(DIR)        -> DIR/report.html, one self-contained file: figures inlined, claims, configs, cost

Figures 1 to 3 are drawn from the main series (`_claims.main_series`); the claims are those of
`_claims` (the paper's) and `_follow_up_claims` (the follow-ups'); the discrepancy study's table
and figure show `_discrepancy`'s ranking. Each run directory is read at most once per call.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import _clusters, _figures, _presets
from ._claims import PAPER, SMALL_T_MAX, Claim, large_sizes, loss_text, main_series, number_text, paper_claims, paper_setting_note, zero_output_loss
from ._config import Config
from ._discrepancy import (
    MATCH_DISTANCE, MATCHES, NARROWS, NARROWS_GAP, WIDENS, WIDENS_GAP, discrepancy_summary, has_variants, shared_sizes, variant_curves,
    variant_ranking,
)  # fmt: skip
from ._follow_up_claims import (
    CLUSTERS_FROM_SEEN, REPEAT_LINE_COEFFICIENT, SPEC_ONSET_SIGHTINGS, branch_fits, cluster_panel_run, crossover, crossover_t,
    decay_onset_runs, envelope, envelope_runs, follow_up_claims, memorizing_branch, onset_runs, repeat_runs,
)  # fmt: skip
from ._metrics import FAILURES, NO_FAILURE, TAIL_MARGIN, angular_gap_to_next, hidden_vectors
from ._store import CorruptRun, StoredRun, load_run, write_atomic
from ._sweep import failure_file, planned_sweep_text, read_plan, read_results, row_config, run_dir

SMALL_T = (3, 5, 6, 8, 10, 15, 30)  # figure 1's dataset sizes (docs/science.md section 6)
VECTOR_PLOTS = 6  # vector plots across T in figure 2 (c)
# The strongest features of each run kept for plots and claims. Dimensionalities sum to at most m
# (each is at most its leverage, and leverages sum to the rank), so at most 10 m features reach
# STRONG_FEATURE = 0.1: for m <= 20 every feature the pentagon claim counts is kept.
FEATURES_PER_RUN = 200
# At most this many training examples per run (a fixed random sample); more than SMALL_T_MAX, so
# the T-gon claim sees every example of its runs.
EXAMPLES_PER_RUN = 1_000

# --- reading runs: each run directory is loaded at most once per call --------------------------


@dataclass
class RunViews:
    """What the figures and claims read from run directories.

    items: one row per kept feature or training example of the item runs: run_id, dataset_size,
        kind ("feature" or "data"), dimensionality, norm, angle_gap (an example's angle to the
        next hidden vector counterclockwise, at m = 2 where every example is kept; else NaN)
    panels: the vector plot of each panel run, by run_id
    animation: (steps (P,), W (P, m, n), hidden (P, T, m) or None, title) of the animated run, or None
    repeat_panels: the vector plot of each run with repeated examples shown, by run_id
    """

    items: pd.DataFrame
    panels: dict[str, _figures.VectorPanel]
    animation: tuple | None
    repeat_panels: dict[str, _figures.RepeatPanel] = field(default_factory=dict)


ITEM_COLUMNS = ["run_id", "dataset_size", "kind", "dimensionality", "norm", "angle_gap"]


def read_views(out: Path, item_runs: list[str], panel_runs: set[str], animated: str | None, repeat_panel_ids: list[str] = ()) -> RunViews:
    """Load every named run once and keep what the figures and claims need of it."""
    parts, panels, animation, repeat_panels = [], {}, None, {}
    rng = np.random.default_rng(0)
    with_items = set(item_runs)
    for run_id in dict.fromkeys([*item_runs, *sorted(panel_runs), *([animated] if animated else []), *repeat_panel_ids]):
        stored = load_run(run_dir(out, run_id))
        if run_id in repeat_panel_ids:
            repeat_panels[run_id] = repeat_panel(stored)
        if run_id in with_items:
            parts += item_rows(stored, rng)
        if run_id in panel_runs:
            panels[run_id] = vector_panel(stored)
        if run_id == animated:
            animation = animation_frames(stored)
    items = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=ITEM_COLUMNS)
    return RunViews(items, panels, animation, repeat_panels)


def item_rows(stored: StoredRun, rng: np.random.Generator) -> list[pd.DataFrame]:
    """The run's strongest FEATURES_PER_RUN features and up to EXAMPLES_PER_RUN of its examples."""
    size = stored.config.dataset_size_number
    features = stored.features.nlargest(FEATURES_PER_RUN, "dimensionality")
    rows = [pd.DataFrame({"run_id": stored.run_id, "dataset_size": size, "kind": "feature", "dimensionality": features["dimensionality"],
                          "norm": features["norm"], "angle_gap": np.nan})]  # fmt: skip
    if stored.examples is not None:
        examples = stored.examples.assign(angle_gap=np.nan)
        if len(examples) > EXAMPLES_PER_RUN:
            examples = examples.iloc[np.sort(rng.choice(len(examples), EXAMPLES_PER_RUN, replace=False))]
        elif stored.config.n_hidden == 2 and stored.train_set is not None:  # gaps only where every example is kept
            examples = examples.assign(angle_gap=angular_gap_to_next(hidden_vectors(stored.W, stored.train_set)))
        rows.append(pd.DataFrame({"run_id": stored.run_id, "dataset_size": size, "kind": "data", "dimensionality": examples["dimensionality"],
                                  "norm": examples["norm"], "angle_gap": examples["angle_gap"]}))  # fmt: skip
    return rows


def vector_panel(stored: StoredRun) -> _figures.VectorPanel:
    hidden = hidden_vectors(stored.W, stored.train_set) if stored.train_set is not None else None
    return _figures.VectorPanel(stored.config.dataset_size_number, stored.W, hidden)


def repeat_panel(stored: StoredRun) -> _figures.RepeatPanel:
    """The vector plot of a run with repeated examples, titled with what they did."""
    metrics, config = stored.metrics, stored.config
    title = (f"T = {config.dataset_size:,}, {config.repeated_points} × R = {config.repeats}: "
             f"{metrics['repeated_memorized']} memorized, {_figures.features_text(metrics['features_learned'])}")  # fmt: skip
    hidden = hidden_vectors(stored.W, stored.train_set)
    return _figures.RepeatPanel(title, stored.W, hidden, stored.examples["repeated"].to_numpy(bool))


def animation_frames(stored: StoredRun) -> tuple:
    steps, W, _ = stored.snapshots()
    hidden = None if stored.train_set is None else np.stack([hidden_vectors(w, stored.train_set) for w in W])
    title = f"T = {stored.config.dataset_size}, m = {stored.config.n_hidden}, n = {stored.config.n_features:,}"
    return steps, W, hidden, title


def panel_run(series: pd.DataFrame, size: float) -> str:
    """The run whose vector plot stands for dataset size `size`: its lowest seeds."""
    return series[series["dataset_size"] == size].sort_values(["data_seed", "init_seed"]).iloc[0]["run_id"]


def small_t_sizes(series: pd.DataFrame) -> list[float]:
    present = set(series["dataset_size"])
    return [float(t) for t in SMALL_T if t in present]


def spread_sizes(sizes, count: int) -> list[float]:
    """`count` dataset sizes spread evenly in log T over those present (inf last if present)."""
    sizes = sorted(set(sizes), key=lambda t: (not np.isfinite(t), t))
    if len(sizes) <= count:
        return sizes
    picks = np.unique(np.round(np.linspace(0, len(sizes) - 1, count)).astype(int))
    return [sizes[i] for i in picks]


def snapshot_run(out: Path, results: pd.DataFrame) -> str | None:
    """The first run (in table order) that kept weight snapshots."""
    for run_id in results["run_id"]:
        if (run_dir(out, run_id) / "snapshots.safetensors").exists():
            return run_id
    return None


def figure_views(out: Path, results: pd.DataFrame, with_animation: bool) -> RunViews:
    """Everything the figures need: the main series' items and vector plots (and the animation)."""
    series = main_series(results)
    panels: set[str] = set()
    if series["dataset_size"].nunique() >= 2:
        panels = {panel_run(series, t) for t in small_t_sizes(series) + spread_sizes(series["dataset_size"], VECTOR_PLOTS)}
    animated = snapshot_run(out, results) if with_animation else None
    panels |= set(envelope_panel_runs(results)) | set(cluster_panel_run(results))
    return read_views(out, list(series["run_id"]), panels, animated, repeat_panel_runs(results))


ENVELOPE_PANELS = 4  # vector plots of envelope runs: two on each side of the crossover
REPEAT_PANELS = 4  # vector plots of runs with repeated examples


def envelope_panel_runs(results: pd.DataFrame) -> list[str]:
    """The envelope runs drawn as vector plots: ENVELOPE_PANELS / 2 on each side of the
    crossover, or ENVELOPE_PANELS spread over T without one."""
    runs = envelope_runs(results)
    if runs["dataset_size"].nunique() < 2:
        return []
    best = envelope(runs)
    found = crossover(best)
    if found is None:
        sizes = spread_sizes(best.index, ENVELOPE_PANELS)
    else:
        half = ENVELOPE_PANELS // 2
        sizes = [t for t in best.index if t <= found[0]][-half:] + [t for t in best.index if t >= found[1]][:half]
    return list(best.loc[sizes, "run_id"])


def repeat_panel_runs(results: pd.DataFrame) -> list[str]:
    """Runs with memorized repeated examples to draw: at the (T, R) with the most numbers of
    repeated points (ties: the largest T, then R), one run per number, lowest seed first; and last
    the run with the most memorized points (then the fewest features left, the lowest seed) where
    it memorizes more than any of those, so that a sweep which displaces every feature shows it."""
    runs = repeat_runs(results, points=None)
    runs = runs[runs["repeated_memorized"] >= 1]
    if not len(runs):
        return []
    counts = runs.groupby(["dataset_size", "repeats"])["repeated_points"].nunique().reset_index()
    t, repeats = counts.sort_values(["repeated_points", "dataset_size", "repeats"]).iloc[-1][["dataset_size", "repeats"]]
    chosen = runs[(runs["dataset_size"] == t) & (runs["repeats"] == repeats)].sort_values(["repeated_points", "data_seed", "init_seed"])
    panels = list(chosen.drop_duplicates("repeated_points")["run_id"])
    most = runs.sort_values(["repeated_memorized", "features_learned", "data_seed", "init_seed"], ascending=[False, True, True, True]).iloc[0]
    if most["repeated_memorized"] > chosen["repeated_memorized"].max():
        return panels[: REPEAT_PANELS - 1] + [most["run_id"]]
    return panels[:REPEAT_PANELS]


def claim_views(out: Path, results: pd.DataFrame) -> RunViews:
    """The items the claims need: the main series' runs at small T and at the largest T."""
    series = main_series(results)
    wanted = (series["dataset_size"] <= SMALL_T_MAX) | series["dataset_size"].isin(large_sizes(series))
    return read_views(out, list(series.loc[wanted, "run_id"]), set(), None)


# --- figures -----------------------------------------------------------------------------------


def draw_figures(results: pd.DataFrame, views: RunViews) -> dict:
    """Every figure the results support, by file name: {name: matplotlib Figure}."""
    drawn = {}
    series = main_series(results)
    sizes = series["dataset_size"].unique()
    if len(sizes) >= 2:
        small = [views.panels[panel_run(series, t)] for t in small_t_sizes(series)]
        if small:
            drawn["fig1_small_t"] = _figures.small_t_figure(small, f"Small T, lowest dataset seed   [{_figures.setting_label(series)}]")
        panels = [views.panels[panel_run(series, t)] for t in spread_sizes(sizes, VECTOR_PLOTS)]
        drawn["fig2_main"] = _figures.main_figure(series, views.items, panels, zero_output_loss(series))
        drawn["fig3_norms"] = _figures.norms_figure(series, views.items)
    if results["n_hidden"].nunique() > 1 and results["dataset_size"].nunique() > 1:
        drawn["fig4_heatmap"] = _figures.heatmap_figure(results)
    if (results["weight_decay"].nunique() > 1 or results["steps"].nunique() > 1) and results["sparsity"].nunique() == 1:
        drawn["fig5_appendix"] = _figures.appendix_figure(results)
    drawn.update(follow_up_figures(results, views))
    if has_variants(results):  # a discrepancy study (issue 9)
        drawn["fig10_discrepancy"] = discrepancy_figure(results)
    return drawn


def follow_up_figures(results: pd.DataFrame, views: RunViews) -> dict:
    """The figures of docs/science.md section 7 the results support: fig7_onset (when sparsity
    varies over T), fig8_repeats (runs with one repeated point), fig9_envelope (learning rates
    varying over T), fig11_clusters (the envelope's memorizing branch, measured at m = 2)."""
    drawn = {}
    onset = onset_runs(results)
    if len(onset):
        decays = decay_onset_runs(results)
        drawn["fig7_onset"] = _figures.onset_figure(onset, decays if len(decays) else None, SPEC_ONSET_SIGHTINGS)
    repeats = repeat_runs(results)
    if len(repeats):
        panels = [views.repeat_panels[run_id] for run_id in repeat_panel_runs(results) if run_id in views.repeat_panels]
        drawn["fig8_repeats"] = _figures.repeats_figure(repeats, panels, REPEAT_LINE_COEFFICIENT)
    runs = envelope_runs(results)
    if runs["dataset_size"].nunique() >= 2:
        panels = [views.panels[run_id] for run_id in envelope_panel_runs(results) if run_id in views.panels]
        best = envelope(runs)
        drawn["fig9_envelope"] = _figures.envelope_figure(runs, crossover_t(best), panels, branch_fits(best))
    branch = memorizing_branch(results)
    if len(branch) >= 2:
        panel = views.panels.get(cluster_panel_run(results)[0])
        labels = None if panel is None or panel.hidden is None else _clusters.direction_clusters(panel.hidden)
        drawn["fig11_clusters"] = _figures.clusters_figure(branch, panel, labels, CLUSTERS_FROM_SEEN)
    return drawn


def discrepancy_figure(results: pd.DataFrame):
    """The study's figure (`_figures.discrepancy_figure`) from the results table."""
    curves = variant_curves(results)
    order = list(variant_ranking(curves).index)
    sparsity = float(results["sparsity"].iloc[0])
    factor = (1 - sparsity) / (1 - PAPER.sparsity)
    paper = pd.DataFrame({"dataset_size": [t / factor if np.isfinite(t) else np.inf for t in PAPER.test_loss], "loss": list(PAPER.test_loss.values())})
    title = f"Candidate causes toggled alone [{_figures.setting_label(results)}]; paper ({PAPER.setting()}) at equal T(1 - S)" if factor != 1 else \
        f"Candidate causes toggled alone [{_figures.setting_label(results)}]; paper ({PAPER.setting()})"  # fmt: skip
    return _figures.discrepancy_figure(curves, order, paper, PAPER.norm_peak / factor, title)


def sweep_figures(out: str | Path) -> dict:
    """Every figure the stored results of sweep directory `out` support, by file name
    ({"fig2_main": Figure, ...}), as matplotlib Figures: nothing is written."""
    out = Path(out)
    results = read_results(out)
    if not len(results):
        return {}
    return draw_figures(results, figure_views(out, results, with_animation=False))


def sweep_animation(out: str | Path):
    """The training animation (a matplotlib FuncAnimation) of the first run of sweep directory
    `out` that kept weight snapshots, or None."""
    out = Path(out)
    animated = snapshot_run(out, read_results(out))
    if animated is None:
        return None
    return _figures.training_animation(*read_views(out, [], set(), animated).animation)


# Every figure toydd draws, by file name (without suffix), and the suffixes it writes them with.
FIGURE_NAMES = (
    "fig1_small_t", "fig2_main", "fig3_norms", "fig4_heatmap", "fig5_appendix", "fig6_training", "fig7_onset",
    "fig8_repeats", "fig9_envelope", "fig10_discrepancy", "fig11_clusters",
)  # fmt: skip
FIGURE_SUFFIXES = (".png", ".svg", ".gif", ".mp4")


def save_figures(out: Path, results: pd.DataFrame, views: RunViews) -> list[Path]:
    """Write every figure the results support into DIR/figures and remove toydd's figure files the
    results no longer support (left by an earlier, broader run of the same directory, they would
    pass for current ones and enter the report). Files of other names are never touched."""
    folder = out / "figures"
    written: list[Path] = []
    for name, figure in draw_figures(results, views).items():
        written += _figures.save(figure, folder, name)
    if views.animation is not None:
        written += _figures.save_animation(_figures.training_animation(*views.animation), folder, "fig6_training")
    remove_stale_figures(folder, written)
    return written


def remove_stale_figures(folder: Path, written: list[Path]) -> None:
    """Delete toydd's figure files in folder (FIGURE_NAMES x FIGURE_SUFFIXES) that are not in `written`."""
    if not folder.is_dir():
        return
    kept = {path.name for path in written}
    owned = {name + suffix for name in FIGURE_NAMES for suffix in FIGURE_SUFFIXES}
    for path in folder.iterdir():
        if path.name in owned and path.name not in kept and path.is_file():
            path.unlink()


def figures(out: str | Path) -> list[Path]:
    """Draw every figure the stored results support into DIR/figures; returns the files written."""
    out = Path(out)
    results = read_results(out)
    if not len(results):
        remove_stale_figures(out / "figures", [])
        return []
    return save_figures(out, results, figure_views(out, results, with_animation=True))


# --- claims: the paper's (`_claims`) and the follow-ups' (`_follow_up_claims`) -----------------


def check_claims(results: pd.DataFrame, items: pd.DataFrame) -> list[Claim]:
    """Every claim of docs/science.md sections 6 and 7, with its evidence and verdict ("not measured"
    where the sweep cannot test it). results: the results table; items: per-item rows
    (run_id, kind, dimensionality) of the main series' runs at small and at the largest T."""
    return paper_claims(results, items) + follow_up_claims(results)


# --- tables of the report ----------------------------------------------------------------------


def loss_by_t(series: pd.DataFrame) -> pd.DataFrame:
    """One row per T of the series (index dataset_size): runs; the mean over runs of each run's
    mean test loss (the paper's statistic), median test loss and tail share (NaN where the runs
    predate these metrics); the paper's mean test loss (NaN where it gives none) and the difference."""
    groups = series.groupby("dataset_size")
    table = pd.DataFrame({"runs": groups.size()})
    for column in ("test_loss", "test_loss_median", "test_loss_tail_share"):
        table[column] = groups[column].mean() if column in series else np.nan
    table["paper"] = [np.nan if PAPER.loss_at(t) is None else PAPER.loss_at(t) for t in table.index]
    table["difference"] = table["test_loss"] - table["paper"]
    return table


def failure_counts(results: pd.DataFrame) -> pd.DataFrame:
    """Runs judged for optimization failures (m = 2 with training examples: `failure` recorded)
    among the memorizing ones, whose polygon these failures spoil (a generalizing run's hidden
    vectors are not a polygon to fail), by T (index dataset_size): how many, and how many ended in
    each outcome of FAILURES."""
    if "failure" not in results or "regime" not in results:  # runs from before failures were measured
        return pd.DataFrame(columns=["runs", *FAILURES], index=pd.Index([], name="dataset_size", dtype=float), dtype=int)
    judged = results[results["failure"].isin(FAILURES) & (results["regime"] == "memorizing")]
    counts = pd.crosstab(judged["dataset_size"], judged["failure"]).reindex(columns=list(FAILURES), fill_value=0)
    counts.insert(0, "runs", counts.sum(axis=1))
    return counts


def _html_table(header: list[str], rows: list[list[str]], classes: list[str] | None = None) -> str:
    """An HTML table of already-escaped cells; `classes` names each row's class."""
    head = "<tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr>"
    lines = []
    for row, name in zip(rows, classes or [""] * len(rows)):
        attribute = f" class='{name}'" if name else ""
        lines.append(f"<tr{attribute}>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>")
    return f"<table>{head}{''.join(lines)}</table>"


def claims_html(claims: list[Claim]) -> str:
    """The claims table: claim, measured evidence, verdict, the paper's value, measured vs paper."""
    rows = []
    for c in claims:
        against = f"<b>{c.agreement}</b>: {html.escape(c.comparison)}" if c.agreement else html.escape(c.comparison)
        rows.append([html.escape(c.claim), html.escape(c.evidence), c.verdict, html.escape(c.paper) or "—", against or "—"])
    header = ["claim", "measured evidence", "verdict", "paper (docs/science.md section 9)", "measured vs paper"]
    return _html_table(header, rows, [c.verdict.replace(" ", "-") for c in claims])


def _cell(x: float, text: str) -> str:
    return "—" if not np.isfinite(x) else text


def loss_table_html(series: pd.DataFrame) -> str:
    """Test loss by T: mean, median, tail share, the paper's mean and the difference."""
    rows = []
    for t, row in loss_by_t(series).iterrows():
        paper = f"&gt; {PAPER.plot_top}" if t in PAPER.above_plot else _cell(row["paper"], loss_text(row["paper"]))
        rows.append([
            _figures.t_label(t), str(int(row["runs"])), loss_text(row["test_loss"]),
            _cell(row["test_loss_median"], loss_text(row["test_loss_median"])), _cell(row["test_loss_tail_share"], f"{row['test_loss_tail_share']:.1%}"),
            paper, _cell(row["difference"], f"{row['difference']:+.4f}"),
        ])  # fmt: skip
    tail = f"share of test examples with loss above {1 + TAIL_MARGIN:g} × their zero-output loss"
    header = ["T", "runs", "mean (the paper's statistic)", "median", html.escape(tail), "paper's mean", "mean − paper"]
    return _html_table(header, rows)


def failures_html(results: pd.DataFrame) -> str:
    """The optimization failures counted by T, or a sentence saying why none were counted."""
    counts = failure_counts(results)
    if not len(counts):
        return "<p>No run was judged: failures are counted among memorizing m = 2 runs with a fixed training set, by toydd versions that measure them.</p>"
    rows = [[_figures.t_label(t), *(str(int(v)) for v in row.values)] for t, row in counts.iterrows()]
    failed = int(counts.drop(columns=["runs", NO_FAILURE]).values.sum())
    text = (f"<p>{failed} of {int(counts['runs'].sum())} judged runs (memorizing, m = 2) ended in a known local optimum (docs/science.md section 7): "
            "<i>two_circles</i> (the training hidden vectors on two radii) or <i>symmetric</i> (one example left out of an "
            "otherwise regular polygon). <code>restart_rule = \"regular\"</code> prefers, among restarts of nearly equal "
            "training loss, the most regular polygon.</p>")  # fmt: skip
    return text + _html_table(["T", "runs judged", *FAILURES], rows)


def discrepancy_html(results: pd.DataFrame) -> str:
    """The study's section: how the distance is measured, the setting, and the ranking table."""
    curves = variant_curves(results)
    ranking = variant_ranking(curves)
    sparsity = float(results["sparsity"].iloc[0])
    factor = (1 - sparsity) / (1 - PAPER.sparsity)
    setting = _figures.setting_label(results)
    text = [
        f"<p>Each variant is the main T series with one candidate cause toggled alone ({html.escape(setting)}). Its <b>distance</b> to the "
        "paper's curve is the mean, over the values of T that every variant has (here "
        f"{', '.join(_figures.t_label(t) for t in sorted(shared_sizes(curves)))}), of |log10(mean test loss / the paper's mean test loss)|, in decades: 0.01 is "
        "2.3% off on average, 2 is a hundred times. Test losses are per example and summed over features (a run with "
        "<code>feature_reduction = \"mean\"</code> is multiplied back by n). "
        f"The paper's values (docs/science.md section 9) are for {PAPER.setting()}; "
        + (f"this study runs at another setting, so T is compared at equal expected sightings per feature T(1 - S) (docs/science.md "
           f"section 7): T here stands for {factor:g} T in the paper, whose curve is interpolated linearly in log T between its tabulated "
           "sizes. The paper's numbers themselves are for its setting, not this one." if factor != 1 else "this study runs at the paper's setting.")
        + f" Verdicts: <i>{MATCHES}</i> within {MATCH_DISTANCE} decades, <i>{NARROWS_GAP}</i> / <i>{WIDENS_GAP}</i> at most {NARROWS} / at "
        f"least {WIDENS} times the defaults' distance. Onset: the first T whose most common regime is generalizing (the paper: "
        f"T = {_figures.t_label(PAPER.first_generalizing)}, that is T = {_figures.t_label(PAPER.first_generalizing / factor)} here); "
        f"norm peak: the T of the largest mean ||W||_F (the paper: near T = {_figures.t_label(PAPER.norm_peak)}).</p>",
        f"<p><b>{html.escape(discrepancy_summary(ranking)[0].upper() + discrepancy_summary(ranking)[1:])}.</b></p>",
    ]  # fmt: skip
    rows = []
    for variant, row in ranking.iterrows():
        rows.append([
            html.escape(variant), str(int(row["runs"])), _cell(row["distance"], f"{row['distance']:.3f}"), _cell(row["ratio"], f"{row['ratio']:.2f}"),
            row["verdict"], _cell(row["peak_loss"], f"{number_text(row['peak_loss'])} at T = {_figures.t_label(row['peak_t'])}"),
            _cell(row["onset_t"], _figures.t_label(row["onset_t"])) if np.isfinite(row["onset_t"]) else "none",
            _cell(row["norm_peak_t"], _figures.t_label(row["norm_peak_t"])), _cell(row["W_norm_max"], f"{row['W_norm_max']:.3g}"),
            _cell(row["b_norm_max"], f"{row['b_norm_max']:.3g}"),
        ])  # fmt: skip
    header = ["variant", "runs", "distance (decades)", "/ defaults'", "verdict", "largest mean test loss", "generalization onset T",
              "norm peak T", "largest mean ||W||_F", "largest mean ||b||"]  # fmt: skip
    return "".join(text) + _html_table(header, rows)


# --- the report --------------------------------------------------------------------------------


def report(out: str | Path) -> Path:
    """Write DIR/report.html from the stored results and figures (drawing figures if missing)."""
    out = Path(out)
    results = read_results(out)
    folder = out / "figures"
    claims = []
    if len(results):
        if not folder.is_dir() or not any(path.stem in FIGURE_NAMES for path in folder.glob("*.png")):
            views = figure_views(out, results, with_animation=True)  # also has what the claims need
            save_figures(out, results, views)
        else:
            views = claim_views(out, results)
        claims = check_claims(results, views.items)
    # the sweep that last planned DIR (a `toydd sweep` after a `reproduce` leaves a sweep.toml
    # that is not its own); else DIR/sweep.toml as written, bytes that are not UTF-8 (an edited
    # file) as replacement characters
    sweep_text = planned_sweep_text(out)
    if sweep_text is None and (out / "sweep.toml").is_file():
        sweep_text = (out / "sweep.toml").read_text(errors="replace")
    cost = {"runs": len(results)}
    if len(results):
        cost["wall time of training (sum over runs)"] = f"{results['wall_seconds'].sum() / 60:.1f} min"
        cost["(feature, example) pairs processed"] = f"{_pairs(results):.3g}"
    regimes = results["regime"].value_counts().to_dict() if len(results) else {}
    body = [f"<h1>toydd report: {html.escape(out.name)}</h1>"]
    body.append("<p>Runs trained by toydd on this machine, checked against the claims of Henighan et al., "
                "<i>Superposition, Memorization, and Double Descent</i> (2023). Regimes follow the rule in the README.</p>")  # fmt: skip
    body.append("<h2>Claims</h2>")
    note = paper_setting_note(main_series(results)) if len(results) else ""
    if note:
        body.append(f"<p><b>Setting:</b> {html.escape(note[0].upper() + note[1:])}. The paper's values are shown as they are.</p>")
    body.append(completeness_html(out, results))
    body.append(claims_html(claims))
    if len(results):
        body.append("<h2>Test loss by T, beside the paper</h2>")
        body.append("<p>The main series' test loss: each run's mean over its test examples (the paper's statistic), its median, and the "
                    "share of its test examples in the heavy tail, each averaged over the runs at that T.</p>")  # fmt: skip
        body.append(loss_table_html(main_series(results)))
        body.append("<h2>Optimization failures (m = 2)</h2>" + failures_html(results))
        if has_variants(results):
            body.append("<h2>Candidate causes of the gap to the paper's curve (discrepancy study)</h2>" + discrepancy_html(results))
    body.append("<h2>Figures</h2>")
    for path in [p for p in sorted(folder.glob("*.png")) + sorted(folder.glob("*.gif")) if p.stem in FIGURE_NAMES]:
        kind = "gif" if path.suffix == ".gif" else "png"
        data = base64.b64encode(path.read_bytes()).decode()
        body.append(f"<figure><img alt='{path.stem}' src='data:image/{kind};base64,{data}'><figcaption>{path.stem}</figcaption></figure>")
    body.append("<h2>Cost</h2><table>" + "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in cost.items()) + "</table>")
    if len(results):
        body.append(cost_table_html(results))
    body.append("<h2>Regimes</h2><p>" + html.escape(json.dumps(regimes)) + "</p>")
    if sweep_text:
        body.append(f"<h2>Sweep</h2><pre>{html.escape(sweep_text)}</pre>")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}img{max-width:100%}"
             ".confirmed td:nth-child(3){background:#dfd}.not-confirmed td:nth-child(3){background:#fdd}"
             ".not-measured td:nth-child(3){background:#eee}pre{background:#f6f6f6;padding:1em}")  # fmt: skip
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>toydd report</title><style>{style}</style></head><body>{''.join(body)}</body></html>"
    path = out / "report.html"
    write_atomic(path, page.encode())
    return path


def completeness_html(out: Path, results: pd.DataFrame) -> str:
    """A warning above the claims when the sweep's plan (DIR/plan.json) has runs missing from
    `results` (the table the claims read): how many, how many of those failed, and at which T;
    empty for a complete sweep or a directory without a plan. Reads no run's files: `toydd
    status` says which runs are in progress."""
    try:
        planned, _ = read_plan(out)
    except CorruptRun:  # no plan (results copied without one) or an unreadable one: nothing to compare with
        return ""
    complete = set(results["run_id"]) if len(results) else set()
    missing = [c for c in planned if c.run_id() not in complete]
    if not missing:
        return ""
    failed = sum(failure_file(out, c.run_id()).exists() for c in missing)
    planned_by_t = pd.Series([c.dataset_size_number for c in planned]).value_counts()
    missing_by_t = pd.Series([c.dataset_size_number for c in missing]).value_counts().sort_index()
    where = ", ".join(f"T = {_figures.t_label(t)} ({planned_by_t[t] - n} of {planned_by_t[t]})" for t, n in missing_by_t.items())
    failed_text = f", {failed} of them failed (reasons in <code>failed/</code>; <code>--retry-failed</code> trains them again)" if failed else ""
    return (f"<p><b>This sweep is incomplete:</b> {len(planned) - len(missing)} of {len(planned)} planned runs are complete; "
            f"{len(missing)} are not{failed_text} (<code>toydd status</code> says which are in progress). The claims read the "
            f"complete runs only, so their verdicts are provisional: a claim about the largest T reads the largest T complete so far. "
            f"Runs complete of planned where some are missing: {where}.</p>")


# --- cost: measured against the `--list` estimate ------------------------------------------------

# Settings that change a run's cost; the table groups by the ones that differ between runs.
COST_FIELDS = ("n_features", "sparsity", "n_hidden", "dataset_size", "batch_size", "steps", "restarts", "engine", "dtype")



def cost_table(results: pd.DataFrame) -> pd.DataFrame:
    """Training time per group of runs with the same costly settings (`COST_FIELDS` that differ
    between runs, T always), beside `--list`'s estimate for one core.

    One row per group: runs, threads, measured wall seconds per run (mean, max) and summed (NaN
    where no run of the group has one), and `estimated_seconds`, the cost model's seconds of one
    such run on one free core (NaN where a row makes no Config). Measured seconds are a run's
    share of its stack's wall time.
    """
    keys = [f for f in COST_FIELDS if f in results and (f == "dataset_size" or results[f].nunique(dropna=False) > 1)]
    estimates = results.apply(lambda row: _estimated_seconds(row_config(row)), axis=1)
    # the threads a run trained on, where it recorded them; else what its config asked (0: all cores)
    threads = results["threads"] if "threads" in results else pd.Series(np.nan, index=results.index)
    if "threads_used" in results:
        threads = results["threads_used"].fillna(threads)
    frame = results.assign(estimated_seconds=estimates, threads_text=threads.map(_threads_text))
    table = frame.groupby(keys, sort=True, dropna=False).agg(
        runs=("wall_seconds", "size"), threads=("threads_text", lambda t: ", ".join(sorted(set(t)))),
        seconds_mean=("wall_seconds", "mean"), seconds_max=("wall_seconds", "max"),
        seconds_sum=("wall_seconds", lambda w: w.sum(min_count=1)), estimated_seconds=("estimated_seconds", "mean"),
    )  # fmt: skip
    return table.reset_index()


def _threads_text(threads) -> str:
    return "—" if pd.isna(threads) else str(int(threads))


def _estimated_seconds(config: Config | None) -> float:
    """The cost model's seconds for `config`; NaN without one, and for torch, which it does not model."""
    return _presets.run_seconds(config) if config is not None and _presets.modelled(config) else float("nan")


def _seconds(x: float) -> str:
    if not np.isfinite(x):
        return "—"
    return f"{x:.2f} s" if x < 10 else f"{x:,.0f} s"  # one unit, so that a column compares at a glance


def cost_table_html(results: pd.DataFrame) -> str:
    """`cost_table` as HTML, with a sentence on how to read the estimate."""
    table = cost_table(results)
    keys = [c for c in table.columns if c in COST_FIELDS]
    rows = []
    for _, row in table.iterrows():
        labels = [_figures.t_label(row[k]) if k == "dataset_size" and pd.notna(row[k]) else html.escape(str(row[k])) for k in keys]
        times = [_seconds(row["seconds_mean"]), _seconds(row["seconds_max"]), _seconds(row["seconds_sum"]), _seconds(row["estimated_seconds"])]
        rows.append([*labels, str(int(row["runs"])), html.escape(row["threads"]), *times])
    names = {"dataset_size": "T", "n_features": "n", "sparsity": "S", "n_hidden": "m"}
    header = [names.get(k, k) for k in keys] + ["runs", "threads", "per run", "longest", "all runs", "--list's estimate per run, one core"]
    text = ("<p>Training wall time (a run's share of its stack's), beside the cost model of "
            "<code>toydd reproduce --list</code> (one free core; threads: those a run trained on, or for runs "
            "that did not record them the config's, where 0 means all cores). "
            "Other jobs on the machine lengthen the measured times.</p>")  # fmt: skip
    return text + _html_table(header, rows)


def _pairs(results: pd.DataFrame) -> float:
    sizes = np.where(np.isfinite(results["dataset_size"]), results["dataset_size"], results["batch_size"])
    return float(np.sum(results["n_features"] * sizes * results["steps"] * results["restarts"]))


__all__ = ["figures", "report", "check_claims", "sweep_figures", "sweep_animation"]
