"""From a sweep directory to the paper's figures, a check of its claims, and report.html.

    figures(DIR)  -> DIR/figures/*.png, *.svg (and the animation as GIF, MP4 where ffmpeg exists)
    report(DIR)   -> DIR/report.html, one self-contained file: figures inlined, claims, configs, cost

The *main series* is the largest set of runs that differ only in T and seeds (and per-run
settings such as restarts): the paper's figures 1 to 3 and its claims are read off it.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import _figures as fig
from ._metrics import hidden_vectors
from ._store import load_run, write_atomic
from ._sweep import read_results, run_dir

SMALL_T = (3, 5, 6, 8, 10, 15, 30)
SERIES_FIELDS = ("n_features", "sparsity", "n_hidden", "steps", "weight_decay", "lr", "normalize", "feature_reduction", "init", "init_scale")
FEATURES_PER_RUN = 200  # the strongest features of each run go into the scatter plots
EXAMPLES_PER_RUN = 1_000  # at most this many training examples per run (a fixed random sample)


def main_series(results: pd.DataFrame) -> pd.DataFrame:
    """The runs of the most common setting (SERIES_FIELDS), over T and seeds."""
    keys = [c for c in SERIES_FIELDS if c in results]
    sizes = results.groupby(keys, dropna=False).agg(runs=("run_id", "size"), sizes=("dataset_size", "nunique")).reset_index()
    best = sizes.sort_values(["sizes", "runs"], ascending=False).iloc[0]
    mask = np.ones(len(results), bool)
    for key in keys:
        mask &= results[key].values == best[key]
    return results[mask].reset_index(drop=True)


# --- reading runs ------------------------------------------------------------------------------


def item_table(out: Path, runs: pd.DataFrame) -> pd.DataFrame:
    """Per-item rows (dataset_size, kind, dimensionality, norm) of the given runs, thinned for
    plotting: each run's strongest FEATURES_PER_RUN features and up to EXAMPLES_PER_RUN examples."""
    parts = []
    rng = np.random.default_rng(0)
    for row in runs.itertuples():
        stored = load_run(run_dir(out, row.run_id))
        features = stored.features.nlargest(FEATURES_PER_RUN, "dimensionality")
        parts.append(pd.DataFrame({"dataset_size": row.dataset_size, "kind": "feature", "dimensionality": features["dimensionality"], "norm": features["norm"]}))
        if stored.examples is not None:
            examples = stored.examples
            if len(examples) > EXAMPLES_PER_RUN:
                examples = examples.iloc[np.sort(rng.choice(len(examples), EXAMPLES_PER_RUN, replace=False))]
            parts.append(pd.DataFrame({"dataset_size": row.dataset_size, "kind": "data", "dimensionality": examples["dimensionality"], "norm": examples["norm"]}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["dataset_size", "kind", "dimensionality", "norm"])


def vector_panel(out: Path, runs: pd.DataFrame, size: float) -> fig.VectorPanel | None:
    """The vector plot of the lowest-seed run at dataset size `size`."""
    at = runs[runs["dataset_size"] == size].sort_values(["data_seed", "init_seed"])
    if not len(at):
        return None
    stored = load_run(run_dir(out, at.iloc[0]["run_id"]))
    hidden = hidden_vectors(stored.W, stored.train_set) if stored.train_set is not None else None
    return fig.VectorPanel(size, stored.W, hidden)


def spread_sizes(sizes, count: int) -> list[float]:
    """`count` dataset sizes spread evenly in log T over those present (inf last if present)."""
    sizes = sorted(set(sizes), key=lambda t: (not np.isfinite(t), t))
    if len(sizes) <= count:
        return sizes
    picks = np.unique(np.round(np.linspace(0, len(sizes) - 1, count)).astype(int))
    return [sizes[i] for i in picks]


# --- figures -----------------------------------------------------------------------------------


def figures(out: str | Path) -> list[Path]:
    """Draw every figure the stored results support; returns the files written."""
    out = Path(out)
    results = read_results(out)
    folder = out / "figures"
    written: list[Path] = []
    if not len(results):
        return written
    series = main_series(results)
    label = fig.setting_label(series)
    sizes = series["dataset_size"].unique()
    if len(sizes) >= 2:
        items = item_table(out, series)
        small = [p for p in (vector_panel(out, series, t) for t in SMALL_T if t in set(sizes)) if p is not None]
        if small:
            written += fig.save(fig.small_t_figure(small, f"Small T, lowest dataset seed   [{label}]"), folder, "fig1_small_t")
        panels = [p for p in (vector_panel(out, series, t) for t in spread_sizes(sizes, 6)) if p is not None]
        written += fig.save(fig.main_figure(series, items, panels), folder, "fig2_main")
        written += fig.save(fig.norms_figure(series, items), folder, "fig3_norms")
    if results["n_hidden"].nunique() > 1 and results["dataset_size"].nunique() > 1:
        written += fig.save(fig.heatmap_figure(results), folder, "fig4_heatmap")
    if results["weight_decay"].nunique() > 1 or results["steps"].nunique() > 1:
        written += fig.save(fig.appendix_figure(results), folder, "fig5_appendix")
    written += animation(out, results, folder)
    return written


def animation(out: Path, results: pd.DataFrame, folder: Path) -> list[Path]:
    """The first run (in table order) that kept weight snapshots, animated."""
    for row in results.itertuples():
        path = run_dir(out, row.run_id)
        if (path / "snapshots.safetensors").exists():
            stored = load_run(path)
            steps, W, _ = stored.snapshots()
            hidden = None if stored.train_set is None else np.stack([hidden_vectors(w, stored.train_set) for w in W])
            title = f"T = {stored.config.dataset_size}, m = {stored.config.n_hidden}, n = {stored.config.n_features:,}"
            return fig.save_animation(fig.training_animation(steps, W, hidden, title), folder, "fig6_training")
    return []


# --- claims ------------------------------------------------------------------------------------


@dataclass
class Claim:
    claim: str
    evidence: str
    verdict: str  # "confirmed", "not confirmed" or "not measured"


def _verdict(ok: bool) -> str:
    return "confirmed" if ok else "not confirmed"


def check_claims(out: Path, results: pd.DataFrame) -> list[Claim]:
    """Every claim of SPEC section 6 that this sweep can test, with its evidence and verdict."""
    series = main_series(results)
    m = int(series["n_hidden"].iloc[0])
    by_t = series.groupby("dataset_size")
    loss = by_t["test_loss"].mean()
    regimes = fig.regime_by_t(series)
    finite = sorted(t for t in loss.index if np.isfinite(t))
    small = series[series["dataset_size"] <= 10]
    claims = []

    # 1. T-gons
    if len(small) and m == 2:
        good = 0
        for row in small.itertuples():
            dims = load_run(run_dir(out, row.run_id)).examples["dimensionality"].values
            good += bool(np.all(np.abs(dims - m / row.dataset_size) <= 0.1 * m / row.dataset_size))
        claims.append(Claim("Small-T hidden vectors form regular T-gons", f"{good} of {len(small)} runs with T ≤ 10 have every data-point dimensionality within 10% of 2/T", _verdict(good >= 0.75 * len(small))))
    else:
        claims.append(Claim("Small-T hidden vectors form regular T-gons", "needs m = 2 runs with T ≤ 10", "not measured"))

    # 2. messy features at small T
    if len(small):
        top = small["feature_dimensionality_max"]
        claims.append(Claim("At small T the features are messy (no pentagon)", f"largest feature dimensionality at T ≤ 10: median {top.median():.3f}, max {top.max():.3f} (a pentagon feature has 0.4)", _verdict(top.median() < 0.3)))

    # 3. pentagon at large T
    large = series[series["dataset_size"] >= (finite[-1] if finite else np.inf)]
    if m == 2 and len(large):
        good = 0
        for row in large.itertuples():
            dims = load_run(run_dir(out, row.run_id)).features["dimensionality"].values
            strong = dims[dims >= 0.1]
            good += bool(len(strong) == 5 and np.all((strong > 0.25) & (strong < 0.45)))
        sizes = ", ".join(fig.t_label(t) for t in sorted(large["dataset_size"].unique()))
        claims.append(Claim("At large T exactly 5 features form a pentagon", f"{good} of {len(large)} runs at T = {sizes} have exactly 5 features with dimensionality ≥ 0.1, each in (0.25, 0.45)", _verdict(good >= 0.75 * len(large))))
    else:
        claims.append(Claim("At large T exactly 5 features form a pentagon", "needs m = 2 runs at large T", "not measured"))

    # 4. and 6. test loss at the ends
    if finite:
        low = [t for t in finite if t <= 10]
        if low:
            mean_low = float(series[series["dataset_size"].isin(low)]["test_loss"].mean())
            claims.append(Claim("Test loss is above 1 at small T", f"mean test loss over T ≤ 10: {mean_low:.4f}", _verdict(mean_low > 1.0)))
        big = [finite[-1]] + [t for t in loss.index if not np.isfinite(t)]
        values = ", ".join(f"{loss[t]:.4f} at T = {fig.t_label(t)}" for t in big)
        claims.append(Claim("Test loss is just below 1 at large T", f"mean test loss {values}", _verdict(all(0.8 < loss[t] < 1.0 for t in big))))

    # 5. the bump
    bump = bump_height(series)
    if bump is not None:
        height, peak_t, peak, end_t, end, noise = bump
        claims.append(Claim("Test loss has a bump in the middle regime", f"mean test loss peaks at {peak:.4f} (T = {fig.t_label(peak_t)}) between the regimes, against {end:.4f} at T = {fig.t_label(end_t)}; seed noise ±{noise:.4f}", _verdict(height > 2 * noise and height > 0)))

    # 7. norms
    norms = by_t["W_norm"].mean()
    peak_t = norms.idxmax()
    memorizing = [t for t in regimes.index if regimes[t] == "memorizing"]
    near = bool(memorizing) and peak_t <= _next_size(list(loss.index), max(memorizing))
    claims.append(Claim("Norms peak in the memorization regime and fall after it", f"||W||_F peaks at {norms.max():.3f} at T = {fig.t_label(peak_t)} (regime there: {regimes.get(peak_t, '?')}); {norms.iloc[-1]:.3f} at T = {fig.t_label(norms.index[-1])}", _verdict(near and norms.iloc[-1] < norms.max())))

    # 8. where generalization starts
    general = [t for t in finite if regimes.get(t) == "generalizing"]
    sparsity = float(series["sparsity"].iloc[0])
    if general:
        first = general[0]
        seen = first * (1 - sparsity)
        claims.append(Claim("Generalization begins once each feature is seen about 10 times", f"first generalizing T = {fig.t_label(first)}: T(1 - S) = {seen:.3g} expected sightings per feature", _verdict(3 <= seen <= 30)))
    else:
        claims.append(Claim("Generalization begins once each feature is seen about 10 times", "no finite T generalizes in this sweep", "not confirmed" if finite else "not measured"))

    # 9. order of regimes
    sequence = [regimes[t] for t in sorted(regimes.index, key=lambda t: (not np.isfinite(t), t))]
    ordered = sequence[0] == "memorizing" and sequence[-1] == "generalizing" and _monotone(sequence)
    claims.append(Claim("Three regimes in order: memorizing, intermediate, generalizing", "regime by T: " + ", ".join(f"{fig.t_label(t)}: {regimes[t][:3]}" for t in sorted(regimes.index, key=lambda t: (not np.isfinite(t), t))), _verdict(ordered and "intermediate" in sequence)))

    claims += heatmap_claims(results) + appendix_claims(results)
    return claims


def _next_size(sizes: list, t: float) -> float:
    later = sorted(s for s in sizes if s > t)
    return later[0] if later else t


def _monotone(sequence: list[str]) -> bool:
    rank = {"memorizing": 0, "intermediate": 1, "generalizing": 2}
    values = [rank[s] for s in sequence]
    return all(b >= a for a, b in zip(values, values[1:]))


def bump_height(runs: pd.DataFrame):
    """(height, peak T, peak loss, last finite T, its loss, noise) of the test-loss bump: the
    largest mean test loss past the smallest T's, against the largest finite T. None if < 3 sizes."""
    loss = runs.groupby("dataset_size")["test_loss"].agg(["mean", "std", "count"])
    finite = loss[np.isfinite(loss.index)].sort_index()
    if len(finite) < 3:
        return None
    # the memorization regime's own noise above 1 is not the bump: look past the first minimum
    start = int(np.argmin(finite["mean"].values[: max(2, len(finite) // 2)]))
    middle = finite.iloc[start:-1]
    if not len(middle):
        return None
    peak_t = middle["mean"].idxmax()
    end_t = finite.index[-1]
    noise = float(np.nanmax((finite["std"] / np.sqrt(finite["count"])).fillna(0).values))
    return float(middle["mean"].max() - finite["mean"].iloc[-1]), peak_t, float(middle["mean"].max()), end_t, float(finite["mean"].iloc[-1]), noise


def heatmap_claims(results: pd.DataFrame) -> list[Claim]:
    if results["n_hidden"].nunique() < 2 or results["dataset_size"].nunique() < 2:
        return []
    table = results.pivot_table(index="n_hidden", columns="dataset_size", values="test_loss", aggfunc="mean").sort_index()
    more_data = [(m, a, b, table.loc[m, b] - table.loc[m, a]) for m in table.index for a, b in zip(table.columns, table.columns[1:])]
    bigger = [(t, a, b, table.loc[b, t] - table.loc[a, t]) for t in table.columns for a, b in zip(table.index, table.index[1:])]
    claims = []
    worst = max(more_data, key=lambda r: r[3])
    claims.append(Claim("There are regions where more data hurts", f"largest rise: m = {worst[0]}, T {fig.t_label(worst[1])} → {fig.t_label(worst[2])}: test loss +{worst[3]:.4f}", _verdict(worst[3] > 0.01)))
    worst = max(bigger, key=lambda r: r[3])
    claims.append(Claim("There are regions where a bigger model hurts", f"largest rise: T = {fig.t_label(worst[0])}, m {worst[1]} → {worst[2]}: test loss +{worst[3]:.4f}", _verdict(worst[3] > 0.01)))
    return claims


def appendix_claims(results: pd.DataFrame) -> list[Claim]:
    claims = []
    for column, fixed, claim, sign in (("weight_decay", "steps", "Lower weight decay gives a bigger bump", -1), ("steps", "weight_decay", "More steps give a bigger bump", 1)):
        if results[column].nunique() < 2:
            continue
        part = results[results[fixed] == results[fixed].mode().iloc[0]]
        heights = {}
        for value, group in part.groupby(column):
            found = bump_height(group)
            if found is not None:
                heights[value] = found[0]
        if len(heights) < 2:
            continue
        values = sorted(heights)
        rho = pd.Series([heights[v] for v in values]).rank().corr(pd.Series(values, dtype=float).rank())  # Spearman
        text = ", ".join(f"{v:g}: {heights[v]:+.4f}" for v in values)
        claims.append(Claim(claim, f"bump height by {column.replace('_', ' ')}: {text} (Spearman {rho:+.2f})", _verdict(sign * rho > 0.5)))
        if column == "weight_decay" and 1.0 in heights:
            claims.append(Claim("Weight decay 1.0 removes the bump", f"bump height at decay 1.0: {heights[1.0]:+.4f}", _verdict(heights[1.0] < 0.02)))
    return claims


# --- the report --------------------------------------------------------------------------------


def report(out: str | Path, sweep_text: str | None = None) -> Path:
    """Write DIR/report.html from the stored results and figures (drawing figures if missing)."""
    out = Path(out)
    results = read_results(out)
    folder = out / "figures"
    if not folder.is_dir() or not any(folder.glob("*.png")):
        figures(out)
    claims = check_claims(out, results) if len(results) else []
    if sweep_text is None and (out / "sweep.toml").is_file():
        sweep_text = (out / "sweep.toml").read_text()
    cost = {"runs": len(results)}
    if len(results):
        cost["wall time of training (sum over runs)"] = f"{results['wall_seconds'].sum() / 60:.1f} min"
        cost["(feature, example) pairs processed"] = f"{_pairs(results):.3g}"
    regimes = results["regime"].value_counts().to_dict() if len(results) else {}
    body = [f"<h1>toydd report: {html.escape(out.name)}</h1>"]
    body.append("<p>Runs trained by toydd on this machine, checked against the claims of Henighan et al., "
                "<i>Superposition, Memorization, and Double Descent</i> (2023). Regimes follow the rule in the README.</p>")  # fmt: skip
    body.append("<h2>Claims</h2><table><tr><th>claim</th><th>measured evidence</th><th>verdict</th></tr>")
    for c in claims:
        body.append(f"<tr class='{c.verdict.replace(' ', '-')}'><td>{html.escape(c.claim)}</td><td>{html.escape(c.evidence)}</td><td>{c.verdict}</td></tr>")
    body.append("</table>")
    body.append("<h2>Figures</h2>")
    for path in sorted(folder.glob("*.png")) + sorted(folder.glob("*.gif")):
        kind = "gif" if path.suffix == ".gif" else "png"
        data = base64.b64encode(path.read_bytes()).decode()
        body.append(f"<figure><img alt='{path.stem}' src='data:image/{kind};base64,{data}'><figcaption>{path.stem}</figcaption></figure>")
    body.append("<h2>Cost</h2><table>" + "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in cost.items()) + "</table>")
    body.append("<h2>Regimes</h2><p>" + html.escape(json.dumps(regimes)) + "</p>")
    if sweep_text:
        body.append(f"<h2>Sweep</h2><pre>{html.escape(sweep_text)}</pre>")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}img{max-width:100%}"
             ".confirmed td:last-child{background:#dfd}.not-confirmed td:last-child{background:#fdd}"
             ".not-measured td:last-child{background:#eee}pre{background:#f6f6f6;padding:1em}")  # fmt: skip
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>toydd report</title><style>{style}</style></head><body>{''.join(body)}</body></html>"
    path = out / "report.html"
    write_atomic(path, page.encode())
    return path


def _pairs(results: pd.DataFrame) -> float:
    sizes = np.where(np.isfinite(results["dataset_size"]), results["dataset_size"], results["batch_size"])
    return float(np.sum(results["n_features"] * sizes * results["steps"] * results["restarts"]))


__all__ = ["figures", "report", "check_claims", "main_series"]
