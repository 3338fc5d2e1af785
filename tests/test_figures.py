"""Each figure drawn from a small synthetic table shows the data it was given."""

import itertools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

from toydd import _figures as fig  # noqa: E402

SIZES = [3.0, 10.0, 100.0, 1000.0, np.inf]
REGIME = {3.0: "memorizing", 10.0: "memorizing", 100.0: "intermediate", 1000.0: "generalizing", np.inf: "generalizing"}


def results_table() -> pd.DataFrame:
    rows = []
    for t in SIZES:
        for seed in range(2):
            rows.append({
                "run_id": f"{t}-{seed}", "dataset_size": t, "data_seed": seed, "n_hidden": 2, "n_features": 100,
                "sparsity": 0.9, "steps": 1000, "weight_decay": 0.01, "regime": REGIME[t],
                "test_loss": 1.0 + 0.01 * seed + (0.2 if t == 100 else 0.0) - (0.05 if t >= 1000 else 0.0),
                "W_norm": 5.0 - np.log10(min(t, 1e4)), "b_norm": 1.0,
            })  # fmt: skip
    return pd.DataFrame(rows)


def items_table() -> pd.DataFrame:
    rows = [{"dataset_size": t, "kind": "data", "dimensionality": 2 / t, "norm": 1.0} for t in SIZES if np.isfinite(t)]
    rows += [{"dataset_size": t, "kind": "feature", "dimensionality": 0.4, "norm": 1.0} for t in (1000.0, np.inf)]
    return pd.DataFrame(rows)


def pentagon(radius=1.0):
    angles = 2 * np.pi * np.arange(5) / 5
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def test_main_figure_plots_the_mean_test_loss_the_items_and_the_regimes():
    results = results_table()
    figure = fig.main_figure(results, items_table(), [fig.VectorPanel(5.0, pentagon().T, pentagon(2.0))])
    loss_ax, dim_ax = figure.axes[0], figure.axes[1]
    (line,) = [l for l in loss_ax.get_lines() if l.get_label() == "mean test loss"]
    expected = results.groupby("dataset_size")["test_loss"].mean()
    np.testing.assert_allclose(line.get_ydata(), expected.values)
    x, inf_x = fig.t_positions(expected.index.values)
    np.testing.assert_allclose(line.get_xdata(), x)
    assert inf_x == 4000.0 and "∞" in [t.get_text() for t in dim_ax.get_xticklabels()]
    assert any(l.get_ydata()[0] == 1.0 for l in loss_ax.get_lines() if l.get_linestyle() == "--")
    red = [c for c in dim_ax.collections if isinstance(c, PathCollection) and c.get_label() == "data-point dimensionality"][0]
    np.testing.assert_allclose(np.sort(red.get_offsets()[:, 1]), np.sort([2 / t for t in SIZES if np.isfinite(t)]))
    labels = {p.get_label() for p in loss_ax.patches}
    assert {"memorizing", "intermediate", "generalizing"} <= labels
    vectors = figure.axes[2]
    assert len(fig.spoke_ends(vectors)[0]) == 5  # five feature spokes


def test_main_figure_shows_the_median_and_the_tail_share_beside_the_mean():
    results = results_table()
    results["test_loss_median"] = 1.0 + 0.001 * np.arange(len(results))
    results["test_loss_tail_share"] = np.where(results["dataset_size"] == 100, 0.09, 0.01) + 0.01 * results["data_seed"]
    figure = fig.main_figure(results, items_table(), [fig.VectorPanel(5.0, pentagon().T, pentagon(2.0))])
    loss_ax, dim_ax, panel_ax, tail_ax = figure.axes  # the tail axis comes last: the others keep their places
    assert tail_ax.get_shared_x_axes().joined(tail_ax, loss_ax) and fig.spoke_ends(panel_ax) and not fig.spoke_ends(tail_ax)
    (median,) = [l for l in loss_ax.get_lines() if l.get_label() == "median test loss"]
    np.testing.assert_allclose(median.get_ydata(), results.groupby("dataset_size")["test_loss_median"].mean().values)
    (tail,) = tail_ax.get_lines()
    np.testing.assert_allclose(tail.get_ydata(), [1.5, 1.5, 9.5, 1.5, 1.5])  # percent, mean over the two seeds
    np.testing.assert_allclose(tail.get_xdata(), fig.t_positions(SIZES)[0])
    assert "1.05 × zero output" in tail.get_label()
    legend = [t.get_text() for t in tail_ax.get_legend().get_texts()]
    assert {"mean test loss", "median test loss", tail.get_label(), "memorizing"} <= set(legend)


def test_main_figure_without_median_or_tail_share_draws_the_mean_alone():
    figure = fig.main_figure(results_table(), items_table(), [])
    assert len(figure.axes) == 2
    assert "median test loss" not in [l.get_label() for l in figure.axes[0].get_lines()]
    assert figure.axes[0].get_legend() is not None


def test_small_t_figure_draws_features_and_hidden_vectors_per_column():
    panels = [fig.VectorPanel(t, pentagon().T, pentagon(3.0)[: int(t)]) for t in (3.0, 5.0)]
    figure = fig.small_t_figure(panels)
    assert [a.get_title() for a in figure.axes[:2]] == ["T = 3", "T = 5"]
    bottom = figure.axes[3]  # second column, hidden vectors
    (ends,) = fig.spoke_ends(bottom)
    np.testing.assert_allclose(ends, pentagon(3.0))
    assert bottom.get_xlim()[1] > 3.0  # own scale


def test_norms_figure_plots_frobenius_and_bias_norms():
    results = results_table()
    figure = fig.norms_figure(results, items_table())
    lines = {l.get_label(): l for l in figure.axes[1].get_lines()}
    np.testing.assert_allclose(lines["||W||_F"].get_ydata(), results.groupby("dataset_size")["W_norm"].mean().values)
    np.testing.assert_allclose(lines["||b||"].get_ydata(), results.groupby("dataset_size")["b_norm"].mean().values)
    assert not np.allclose(lines["||b||"].get_ydata(), lines["||W||_F"].get_ydata())  # two series, not one twice


def test_heatmap_shows_the_mean_test_loss_of_each_cell():
    results = pd.concat([results_table().assign(n_hidden=m, test_loss=lambda d, m=m: d["test_loss"] + m) for m in (2, 3)])
    figure = fig.heatmap_figure(results)
    image = figure.axes[0].get_images()[0].get_array()
    expected = results.pivot_table(index="n_hidden", columns="dataset_size", values="test_loss", aggfunc="mean").values
    np.testing.assert_allclose(image, expected)


def test_heatmap_colours_on_a_log_scale_centred_on_the_zero_output_loss():
    """Cells from 0.98 to 30 (the reduced setting's large T and its middle-regime bump): each side
    of 1 takes half the colours, on a log scale; without values on both sides, a plain log scale."""
    base = results_table()
    results = pd.concat([base.assign(n_hidden=2, test_loss=0.98), base.assign(n_hidden=4, test_loss=30.0), base.assign(n_hidden=6, test_loss=np.nan)])
    figure = fig.heatmap_figure(results)
    norm = figure.axes[0].get_images()[0].norm
    np.testing.assert_allclose(norm(np.array([0.98, 1.0, np.sqrt(30.0), 30.0])), [0.0, 0.5, 0.75, 1.0], atol=1e-12)
    np.testing.assert_allclose(norm.inverse(np.array([0.0, 0.5, 1.0])), [0.98, 1.0, 30.0])
    assert np.ma.getmaskarray(norm(np.ma.masked_invalid([np.nan, 2.0]))).tolist() == [True, False]  # no runs: drawn grey
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert "0.98" in texts and "30" in texts and len(texts) == 2 * base["dataset_size"].nunique()  # no text on a diverged cell
    above = fig.heatmap_figure(results.assign(test_loss=results["test_loss"] + 1)).axes[0].get_images()[0].norm
    assert isinstance(above, LogNorm) and (above.vmin, above.vmax) == (1.98, 31.0)
    assert fig.loss_colour_norm(np.array([[1.0, np.nan]])) is None


def test_appendix_has_one_line_per_weight_decay_and_per_step_count():
    base = results_table()
    # as in the appendix preset: a decay sweep at 1,000 steps, a step sweep at decay 0.01
    results = pd.concat([base.assign(weight_decay=d) for d in (0.0, 0.01, 0.1, 1.0)] + [base.assign(steps=s) for s in (500, 2000)])
    figure = fig.appendix_figure(results)
    decay_lines = {l.get_label(): l for l in figure.axes[0].get_lines() if l.get_label().startswith("decay")}
    assert sorted(decay_lines) == ["decay 0", "decay 0.01", "decay 0.1", "decay 1"]
    np.testing.assert_allclose(decay_lines["decay 1"].get_ydata(), base.groupby("dataset_size")["test_loss"].mean().values)
    assert sorted(l.get_label() for l in figure.axes[1].get_lines() if "steps" in l.get_label()) == ["1,000 steps", "2,000 steps", "500 steps"]
    assert all(ax.get_yscale() == "log" for ax in figure.axes)  # bumps of 2% and of tens on one axis


def test_regime_by_t_takes_the_majority():
    results = results_table()
    results.loc[0, "regime"] = "intermediate"  # one of two seeds at T = 3: a tie goes to memorizing
    assert fig.regime_by_t(results).to_dict() == REGIME


def test_animation_has_a_frame_per_snapshot(tmp_path):
    steps = np.array([0, 10, 100])
    W = np.stack([pentagon(r).T for r in (0.1, 0.5, 1.0)])
    animation = fig.training_animation(steps, W, np.stack([pentagon(r) for r in (1, 2, 3)]), "test")
    paths = fig.save_animation(animation, tmp_path, "anim")
    from PIL import Image

    with Image.open(paths[0]) as gif:
        assert gif.n_frames == 3


def test_a_figure_that_fails_while_drawing_leaves_the_earlier_pair_whole(tmp_path, monkeypatch):
    import socket

    figure = fig.norms_figure(results_table(), items_table())
    paths = fig.save(figure, tmp_path, "norms")
    before = {path: path.read_bytes() for path in paths}
    assert before[paths[0]].startswith(b"\x89PNG") and b"<svg" in before[paths[1]]
    figure.suptitle("changed since")  # a new PNG would differ from the old one
    draw = figure.savefig

    def svg_fails_half_way(target, **kwargs):  # a kill or an error while drawing the second file
        if kwargs.get("format") != "svg":
            return draw(target, **kwargs)
        target.write(b"half a figure")
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(figure, "savefig", svg_fails_half_way)
    with pytest.raises(RuntimeError, match="drawing failed"):
        fig.save(figure, tmp_path, "norms")
    assert {path: path.read_bytes() for path in paths} == before  # the PNG is not replaced alone
    # a killed draw's scratch file (its writer gone) is removed by the next save
    (tmp_path / f".norms.png.tmp-{socket.gethostname()}-999999999-abcdef12").write_bytes(b"half")
    monkeypatch.undo()
    fig.save(figure, tmp_path, "norms")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["norms.png", "norms.svg"]
    assert paths[0].read_bytes() != before[paths[0]]


def test_an_animation_that_fails_while_writing_leaves_the_earlier_file_whole(tmp_path, monkeypatch):
    steps = np.array([0, 10])
    W = np.stack([pentagon(r).T for r in (0.1, 1.0)])
    animation = fig.training_animation(steps, W, np.stack([pentagon(r) for r in (1, 2)]), "test")
    path = fig.save_animation(animation, tmp_path, "anim")[0]
    before = path.read_bytes()

    def half_then_fail(filename, **kwargs):
        Path(filename).write_bytes(b"half a gif")
        raise RuntimeError("writing failed")

    monkeypatch.setattr(animation, "save", half_then_fail)
    with pytest.raises(RuntimeError, match="writing failed"):
        fig.save_animation(animation, tmp_path, "anim")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_figures_leave_the_callers_backend_alone():
    # a notebook keeps its inline backend: drawing never imports pyplot or selects a backend
    import subprocess
    import sys

    code = (
        "import sys, pandas, toydd\n"
        "table = pandas.DataFrame({'n_hidden': [2, 2, 3, 3], 'dataset_size': [10.0, 100.0] * 2, 'test_loss': [1.0, 1.1, 0.9, 1.2],\n"
        "                          'data_seed': 0, 'n_features': 100, 'sparsity': 0.9, 'steps': 100, 'weight_decay': 0.01})\n"
        "figure = toydd.figures.heatmap_figure(table)\n"
        "assert type(figure).__name__ == 'Figure', figure\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
        "assert toydd.figures.sweep_figures is toydd._report.sweep_figures\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


# --- the follow-ups: onset, repeats, envelope ---------------------------------------------------


def onset_table() -> pd.DataFrame:
    """Runs over T(1 - S) = 1, 10, 100 at two sparsities (2 seeds), and two more weight decays at S = 0.98."""
    rows = []
    for sparsity, decay, seen, seed in itertools.product((0.98, 0.99), (0.01,), (1, 10, 100), (0, 1)):
        rows.append({"sparsity": sparsity, "weight_decay": decay, "dataset_size": seen / (1 - sparsity), "data_seed": seed,
                     "feature_dimensionality_max": 0.1 * seen**0.3 + 0.01 * seed, "test_loss": 1.0 + seed / seen})  # fmt: skip
    for decay, seen in itertools.product((0.001, 0.1), (1, 10, 100)):
        rows.append({"sparsity": 0.98, "weight_decay": decay, "dataset_size": seen / 0.02, "data_seed": 0, "feature_dimensionality_max": decay, "test_loss": 1.0})
    return pd.DataFrame(rows).assign(n_features=1000, n_hidden=2, steps=1000)


def test_onset_figure_has_a_line_per_sparsity_against_sightings_and_per_decay_against_T():
    table = onset_table()
    by_sparsity, by_decay = table[table["weight_decay"] == 0.01], table[table["sparsity"] == 0.98]
    figure = fig.onset_figure(by_sparsity, by_decay, reference=10.0)
    top_left, top_right, bottom_left, _ = figure.axes
    lines = {l.get_label(): l for l in top_left.get_lines()}
    for sparsity in (0.98, 0.99):
        part = by_sparsity[by_sparsity["sparsity"] == sparsity]
        np.testing.assert_allclose(lines[f"S = {sparsity:g}"].get_xdata(), [1, 10, 100])
        np.testing.assert_allclose(lines[f"S = {sparsity:g}"].get_ydata(), part.groupby("dataset_size")["feature_dimensionality_max"].mean().values)
    assert tuple(lines["S = 0.98"].get_color()) != tuple(lines["S = 0.99"].get_color())
    assert lines["T(1 - S) = 10"].get_xdata()[0] == 10.0
    decays = {l.get_label(): l for l in top_right.get_lines()}
    np.testing.assert_allclose(decays["decay 0.1"].get_ydata(), [0.1, 0.1, 0.1])
    np.testing.assert_allclose(decays["decay 0.1"].get_xdata(), [50, 500, 5000])
    loss = [l for l in bottom_left.get_lines() if l.get_label() == "S = 0.99"][0]
    np.testing.assert_allclose(loss.get_ydata(), [1.5, 1.05, 1.005])


def test_onset_figure_without_a_decay_sweep_has_one_column():
    table = onset_table()
    assert len(fig.onset_figure(table[table["weight_decay"] == 0.01]).axes) == 2


def test_runs_at_common_setting_keep_the_most_common_other_values():
    table = onset_table()
    kept = fig.runs_at_common_setting(table, ("sparsity", "dataset_size", "data_seed"))
    assert set(kept["weight_decay"]) == {0.01} and set(kept["sparsity"]) == {0.98, 0.99} and len(kept) == 12


def test_repeats_figure_maps_memorized_points_with_the_line_and_draws_repeated_vectors_red():
    runs = pd.DataFrame([{"dataset_size": t, "n_features": 1000, "repeats": r, "repeated_memorized": int(r >= t / 1000), "features_learned": 5 - int(r >= t / 1000),
                          "sparsity": 0.99, "n_hidden": 2, "steps": 1000, "weight_decay": 0.01, "data_seed": 0} for t in (2000, 4000) for r in (1, 2, 4, 8)])  # fmt: skip
    hidden = np.concatenate([pentagon(), [[3.0, 0.0]]])
    panel = fig.RepeatPanel("k = 1", pentagon().T, hidden, np.array([False] * 5 + [True]))
    figure = fig.repeats_figure(runs, [panel], coefficient=0.4)
    map_ax, panel_ax = figure.axes
    memorized = [c for c in map_ax.collections if c.get_label() == "repeated point memorized"][0]
    assert sorted(map(tuple, memorized.get_offsets())) == [(2.0, 2.0), (2.0, 4.0), (2.0, 8.0), (4.0, 4.0), (4.0, 8.0)]
    (line,) = [l for l in map_ax.get_lines() if l.get_label() == "R = 0.4 T/N"]
    np.testing.assert_allclose(line.get_ydata(), 0.4 * line.get_xdata())
    features, repeated = fig.spoke_ends(panel_ax)
    assert len(features) == 5 and len(repeated) == 1  # five features, one repeated point
    np.testing.assert_allclose(repeated[0], [1.0, 0.0])  # on the features' scale


def test_envelope_figure_draws_the_lowest_loss_per_T_its_branches_and_the_crossover():
    runs = pd.DataFrame([{"dataset_size": t, "lr": lr, "train_loss": loss, "regime": regime, "n_features": 1000, "sparsity": 0.99, "n_hidden": 2,
                          "steps": 1000, "weight_decay": 0.01, "data_seed": 0}
                         for t in (10.0, 100.0, 1000.0)
                         for lr, loss, regime in ((1e-3, 0.9, "generalizing"), (3e-2, 0.001 * t, "memorizing"), (1e-4, 2.0, "intermediate"))])  # fmt: skip
    figure = fig.envelope_figure(runs, crossover=300.0, panels=[fig.VectorPanel(100.0, pentagon().T, pentagon())])
    ax = figure.axes[0]
    lines = {l.get_label(): l for l in ax.get_lines()}
    np.testing.assert_allclose(lines["envelope: lowest training loss per T"].get_ydata(), [0.01, 0.1, 0.9])
    np.testing.assert_allclose(lines["memorizing branch: lowest per T"].get_ydata(), [0.01, 0.1, 1.0])
    np.testing.assert_allclose(lines["generalizing branch: lowest per T"].get_ydata(), [0.9, 0.9, 0.9])
    assert lines["crossover T ≈ 300"].get_xdata()[0] == 300.0
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log" and len(figure.axes) == 2


def test_the_envelope_title_counts_rates_and_inits_per_T():
    """5 rates from 2 inits at the smaller T and 1 at the larger: '5 learning rates × up to 2 inits',
    not the 10 runs of the busiest T read as '10 learning rates and inits'."""
    runs = pd.DataFrame([{"dataset_size": t, "lr": lr, "init_seed": seed, "train_loss": 0.5, "regime": "generalizing", "n_features": 1000,
                          "sparsity": 0.99, "n_hidden": 2, "steps": 1000, "weight_decay": 0.01, "data_seed": 0}
                         for t in (10.0, 100.0, 1000.0) for lr in (1e-4, 3e-4, 1e-3, 5e-3, 3e-2) for seed in ((0, 1) if t < 1000 else (0,))])  # fmt: skip
    title = fig.envelope_figure(runs, crossover=None).axes[0].get_title()
    assert title.startswith("Lowest training loss per T over 5 learning rates × up to 2 inits\n")
    assert "over 5 learning rates × 1 init\n" in fig.envelope_figure(runs[runs["init_seed"] == 0], crossover=None).axes[0].get_title()


def test_log_axes_of_T_read_10k_and_100k_not_powers_of_ten():
    runs = pd.DataFrame([{"dataset_size": t, "lr": 1e-3, "init_seed": 0, "train_loss": 0.5, "regime": "generalizing", "n_features": 1000,
                          "sparsity": 0.99, "n_hidden": 2, "steps": 1000, "weight_decay": 0.01, "data_seed": 0}
                         for t in (10.0, 1_000.0, 100_000.0)])  # fmt: skip
    figure = fig.envelope_figure(runs, crossover=None)
    figure.draw_without_rendering()
    labels = [label.get_text() for label in figure.axes[0].xaxis.get_majorticklabels() if label.get_text()]
    assert {"10", "1k", "10k", "100k"} <= set(labels) and not any("e" in label for label in labels)


def test_a_collapsed_run_is_marked_on_the_envelope_and_shaded_but_is_no_branch():
    runs = pd.DataFrame([{"dataset_size": t, "lr": lr, "train_loss": loss, "regime": regime, "n_features": 1000, "sparsity": 0.99, "n_hidden": 2,
                          "steps": 1000, "weight_decay": 0.01, "data_seed": 0}
                         for t in (10.0, 100.0)
                         for lr, loss, regime in ((1e-3, 0.9, "generalizing"), (3e-1, 1.0, "collapsed"))])  # fmt: skip
    ax = fig.envelope_figure(runs, crossover=None).axes[0]
    assert not any("collapsed" in l.get_label() for l in ax.get_lines())
    (marks,) = [c for c in ax.collections if c.get_label() == "collapsed (W -> 0)"]
    np.testing.assert_allclose(marks.get_offsets(), [[10.0, 1.0], [100.0, 1.0]])
    collapsed_everywhere = runs.assign(regime="collapsed")
    assert fig.regime_by_t(collapsed_everywhere).to_dict() == {10.0: "collapsed", 100.0: "collapsed"}
    fig.shade_regimes(ax, fig.regime_by_t(collapsed_everywhere))  # a colour of its own


def test_envelope_figure_zooms_on_the_kink_beside_the_whole_sweep():
    """With the lines fitted either side of the crossover, a second panel draws what the envelope
    removes of the zero-output loss (1 - training loss) over their T only, at its own scale, with
    both lines and their slopes."""
    sizes = np.array([1_000.0, 2_000.0, 5_000.0, 10_000.0, 20_000.0, 50_000.0])
    envelope_loss = np.array([0.945, 0.96, 0.979, 0.985, 0.986, 0.987])
    runs = pd.DataFrame([{"dataset_size": t, "lr": lr, "train_loss": loss + extra, "regime": regime, "n_features": 1000, "sparsity": 0.99,
                          "n_hidden": 2, "steps": 1000, "weight_decay": 0.01, "data_seed": 0}
                         for t, loss in zip(sizes, envelope_loss)
                         for lr, extra, regime in ((3e-2, 0.0, "memorizing" if t < 7_000 else "generalizing"), (1e-3, 0.01, "generalizing"))])  # fmt: skip
    regimes = np.array(["memorizing"] * 3 + ["generalizing"] * 3)
    below = fig.BranchFit(-0.6, 0.54, sizes[:3], 1 - envelope_loss[:3], regimes[:3])
    above = fig.BranchFit(-0.11, -1.39, sizes[3:], 1 - envelope_loss[3:], regimes[3:])
    figure = fig.envelope_figure(runs, crossover=7_071.0, fits={"below": below, "above": above})
    assert len(figure.axes) == 2
    assert figure.axes[0].yaxis.get_major_formatter()(0.995, 0) == "0.995"  # under a decade: plain numbers
    zoom = figure.axes[1]
    lines = {l.get_label(): l for l in zoom.get_lines()}
    fitted = lines["fit below the crossover: slope -0.6000"]
    assert fitted.get_xdata()[0] == sizes[0] and fitted.get_xdata()[-1] == pytest.approx(sizes[-1])  # drawn across both sides
    np.testing.assert_allclose(fitted.get_ydata(), 10 ** (0.54 - 0.6 * np.log10(fitted.get_xdata())))
    assert "fit above the crossover: slope -0.1100" in lines
    (points,) = zoom.collections
    np.testing.assert_allclose(points.get_offsets()[:, 1], 1 - envelope_loss)  # the envelope, nothing off it
    assert zoom.get_yscale() == "log" and zoom.get_ylabel().endswith("(1 - final training loss)")
    # ticks at the fitted T only, short enough for the narrow panel
    assert [t.get_text() for t in zoom.get_xticklabels()] == ["1k", "2k", "5k", "10k", "20k", "50k"] and not zoom.get_xticks(minor=True).size
    low, high = zoom.get_ylim()
    assert 0.01 < low < 1 - 0.987 and 1 - 0.945 < high < 0.07  # its own scale: the points' 0.013 to 0.055, not the lines past them
    assert len(fig.envelope_figure(runs, crossover=7_071.0).axes) == 1  # without fits: the one panel


@pytest.mark.parametrize("t,label", [(50.0, "50"), (1_500.0, "1.5k"), (200_000.0, "200k"), (999_999.0, "1M"), (1_000_000.0, "1M"), (2_500_000.0, "2.5M"), (1e9, "1000M"), (np.inf, "∞")])
def test_short_t_labels(t, label):
    assert fig.short_t_label(t) == label


def test_clusters_figure_plots_the_shares_counts_and_one_solution_coloured_by_cluster():
    branch = pd.DataFrame([{"dataset_size": t, "clustered_share": share, "cluster_shared_feature_share": shared, "cluster_count": count,
                            "cluster_size_mean": size, "n_features": 1000, "sparsity": 0.99, "n_hidden": 2, "steps": 1000,
                            "weight_decay": 0.01, "data_seed": 0}
                           for t, share, shared, count, size in ((30.0, 0.0, np.nan, 0, np.nan), (300.0, 0.6, 0.8, 20, 3.0))])  # fmt: skip
    hidden = np.concatenate([pentagon(), pentagon()[:2] * 0.9])  # two clusters of two, three single examples
    labels = np.array([0, 1, 2, 3, 4, 0, 1])
    figure = fig.clusters_figure(branch, fig.VectorPanel(300.0, pentagon().T, hidden), labels, seen_from=1.0)
    shares = {l.get_label(): l for l in figure.axes[0].get_lines()}
    np.testing.assert_allclose(shares["examples in a cluster"].get_ydata(), [0.0, 0.6])
    assert figure.axes[0].get_lines()[-1].get_xdata()[0] == pytest.approx(100.0)  # T(1 - S) = 1 at S = 0.99
    single, grouped = figure.axes[2].collections
    assert len(single.get_offsets()) == 3 and len(grouped.get_offsets()) == 4
    np.testing.assert_array_equal(grouped.get_array(), [0, 1, 0, 1])  # each example coloured by its cluster
    np.testing.assert_allclose(figure.axes[1].get_lines()[0].get_ydata(), [0, 20])  # cluster counts
    size_line = next(line for ax in figure.axes if ax is not figure.axes[1] for line in ax.get_lines() if line.get_label() == "mean cluster size")
    np.testing.assert_allclose(size_line.get_ydata(), [np.nan, 3.0])
    no_panel = fig.clusters_figure(branch, None, None, seen_from=1.0)
    assert not no_panel.axes[2].axison


@pytest.mark.parametrize("n_hidden_vectors", [50, fig.VECTOR_ITEMS_MAX + 1])
def test_an_svg_draws_a_panel_of_many_hidden_vectors_as_one_image(tmp_path, n_hidden_vectors):
    """A panel's tips are one SVG element each up to VECTOR_ITEMS_MAX and, with its spokes, an
    embedded image above it (a panel of 2,000,000 hidden vectors made an SVG of 880 MB); the
    features' few spokes stay vectors. Spokes are one line per set either way."""
    angles = np.random.default_rng(0).uniform(0, 2 * np.pi, n_hidden_vectors)
    hidden = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    figure = fig.small_t_figure([fig.VectorPanel(float(n_hidden_vectors), pentagon().T, hidden)])
    many = n_hidden_vectors > fig.VECTOR_ITEMS_MAX
    features_ax, hidden_ax = figure.axes[:2]
    (feature_spokes,) = [line for line in features_ax.get_lines() if line.get_gid() == fig.SPOKES]
    (hidden_spokes,) = [line for line in hidden_ax.get_lines() if line.get_gid() == fig.SPOKES]
    (tips,) = hidden_ax.collections
    assert not feature_spokes.get_rasterized() and hidden_spokes.get_rasterized() == tips.get_rasterized() == many
    svg = fig.save(figure, tmp_path, "panel")[1].read_text()
    tip_marks = svg.count("<use")
    if many:
        assert "<image" in svg and tip_marks < 100
    else:
        assert "<image" not in svg and tip_marks >= n_hidden_vectors
