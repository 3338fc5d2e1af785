"""The report of a sweep directory (`_report`): its tables (test loss by T, failures, cost), the
claims table, figures drawn and removed, each run loaded once, and report.html itself."""

import html
import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from toydd import Config
from toydd import _claims
from toydd import _metrics
from toydd import _report
from toydd import _store
from toydd import _sweep
from toydd._metrics import angular_gap_to_next
from toydd._sweep import read_plan, record_failure

from test_claims import bump_case, run, table
from test_follow_up_claims import run as repeat_run

CONFIRMED, NOT_CONFIRMED, NOT_MEASURED = _claims.CONFIRMED, _claims.NOT_CONFIRMED, _claims.NOT_MEASURED


def test_test_loss_by_T_has_the_mean_median_tail_share_and_the_paper():
    rows = [run(t, seed, test_loss=loss + seed, test_loss_median=1.0 + 0.01 * seed, test_loss_tail_share=0.1 * seed)
            for t, loss in ((3, 5.0), (200, 30.0)) for seed in range(2)]  # fmt: skip
    by_t = _report.loss_by_t(table(rows))
    assert list(by_t.index) == [3.0, 200.0] and list(by_t["runs"]) == [2, 2]
    np.testing.assert_allclose(by_t["test_loss"], [5.5, 30.5])
    np.testing.assert_allclose(by_t["test_loss_median"], [1.005, 1.005])
    np.testing.assert_allclose(by_t["test_loss_tail_share"], [0.05, 0.05])
    assert np.isnan(by_t.loc[3.0, "paper"]) and by_t.loc[200.0, "paper"] == 1.0015
    assert by_t.loc[200.0, "difference"] == pytest.approx(30.5 - 1.0015)
    older = _report.loss_by_t(table([run(5)]))  # runs from before the median was recorded
    assert np.isnan(older.loc[5.0, "test_loss_median"]) and np.isnan(older.loc[5.0, "test_loss_tail_share"])
    html_text = _report.loss_table_html(table(rows))
    assert "<td>&gt; 1.025</td>" in html_text and "<td>5.0%</td>" in html_text and "<td>+29.4985</td>" in html_text


def test_failures_are_counted_by_T_among_the_judged_runs():
    outcomes = [(5, "none"), (5, "two_circles"), (5, "symmetric"), (5, "two_circles"), (10, "none"), (np.inf, "")]
    results = table([run(t, seed, failure=failure, regime="memorizing") for seed, (t, failure) in enumerate(outcomes)]
                    + [run(5_000, failure="two_circles", regime="generalizing")])  # not a polygon: not judged  # fmt: skip
    counts = _report.failure_counts(results)
    assert counts.to_dict("index") == {5.0: {"runs": 4, "none": 1, "two_circles": 2, "symmetric": 1}, 10.0: {"runs": 1, "none": 1, "two_circles": 0, "symmetric": 0}}
    assert "3 of 5 judged runs (memorizing, m = 2) ended in a known local optimum" in _report.failures_html(results)
    assert _report.failure_counts(table([run(5)])).empty and "No run was judged" in _report.failures_html(table([run(5)]))


def test_cost_is_grouped_by_the_settings_that_differ_beside_the_cost_model():
    from toydd import _presets

    rows = [run(t, seed, wall_seconds=float(seconds), threads=1, engine=engine)
            for t, seed, seconds, engine in [(100, 0, 10, "cpu"), (100, 1, 30, "cpu"), (20_000, 0, 500, "tree"), (np.inf, 0, 7, "cpu")]]  # fmt: skip
    cost = _report.cost_table(table(rows)).set_index(["dataset_size", "engine"])
    assert list(cost.index) == [(100.0, "cpu"), (20_000.0, "tree"), (np.inf, "cpu")]  # n, S, m, steps are shared: no columns
    assert cost.loc[(100.0, "cpu"), ["runs", "seconds_mean", "seconds_max", "seconds_sum"]].tolist() == [2, 20.0, 30.0, 40.0]
    base = Config(n_features=1_000, sparsity=0.99, n_hidden=2)
    assert cost.loc[(100.0, "cpu"), "estimated_seconds"] == pytest.approx(_presets.run_seconds(base.replace(dataset_size=100, engine="cpu")))
    assert cost.loc[(20_000.0, "tree"), "estimated_seconds"] == pytest.approx(_presets.run_seconds(base.replace(dataset_size=20_000, engine="tree")))
    assert cost.loc[(np.inf, "cpu"), "estimated_seconds"] == pytest.approx(_presets.run_seconds(base.replace(dataset_size="inf", engine="cpu")))
    page = _report.cost_table_html(table(rows))
    assert "<th>T</th><th>engine</th><th>runs</th>" in page and "<td>∞</td>" in page and "<td>20 s</td><td>30 s</td><td>40 s</td>" in page and "<td>7.00 s</td>" in page


def test_a_results_row_that_makes_no_config_has_no_estimate():
    rows = [run(100, wall_seconds=5.0, threads=1), run(100, seed=1, wall_seconds=5.0, threads=1, n_hidden=-3)]
    assert _sweep.row_config(table(rows).iloc[1]) is None and _sweep.row_config(table(rows).iloc[0]) == Config(n_features=1_000, sparsity=0.99, dataset_size=100, threads=1)
    cost = _report.cost_table(table(rows))
    assert list(cost["n_hidden"]) == [-3, 2] and np.isnan(cost["estimated_seconds"].iloc[0]) and np.isfinite(cost["estimated_seconds"].iloc[1])
    assert "—" in _report.cost_table_html(table(rows))
    for gap in (np.nan, None, "many"):  # a missing or unreadable T makes no Config (not infinite data)
        row = table([run(100, threads=1)]).iloc[0].astype(object)
        row["dataset_size"] = gap
        assert _sweep.row_config(row) is None
    assert _sweep.row_config(table([run(100, engine="torch", threads=1)]).iloc[0]).engine == "torch"
    assert np.isnan(_report.cost_table(table([run(100, engine="torch", threads=1)]))["estimated_seconds"].iloc[0])  # not modelled


def test_the_cost_table_reads_older_and_gappy_results():
    """Integer columns with a gap come back from parquet as floats; older results lack columns."""
    rows = table([run(100, threads=1, wall_seconds=4.0), run(100, seed=1, threads=np.nan, wall_seconds=np.nan), run(np.nan, seed=2, threads=2, wall_seconds=1.0)])
    assert rows["threads"].dtype == float and _sweep.row_config(rows.iloc[0]) == Config(n_features=1_000, sparsity=0.99, dataset_size=100, threads=1)
    cost = _report.cost_table(rows)
    assert len(cost) == 2 and cost["runs"].tolist() == [2, 1] and cost["threads"].tolist() == ["1, —", "2"]  # the NaN T kept
    assert cost["seconds_sum"].iloc[0] == 4.0 and np.isnan(cost["estimated_seconds"].iloc[1])
    assert np.isnan(_report.cost_table(rows.iloc[[1]])["seconds_sum"].iloc[0])  # no time measured: none, not 0
    older = _report.cost_table(rows.drop(columns=["threads"]))
    assert older["threads"].tolist() == ["—", "—"] and "<td>—</td>" in _report.cost_table_html(rows.drop(columns=["threads"]))


def test_the_cost_table_names_the_threads_a_run_trained_on():
    """threads = 0 (all cores) or more than the machine has: the recorded `threads_used` counts;
    a run from before it was recorded keeps its config's value."""
    rows = table([run(100, threads=0, threads_used=2, wall_seconds=4.0), run(100, seed=1, threads=1000, threads_used=2, wall_seconds=4.0), run(300, threads=1, wall_seconds=1.0)])
    rows.loc[2, "threads_used"] = np.nan
    assert _report.cost_table(rows)["threads"].tolist() == ["2", "1"]


# --- all claims, and a report reading each run once --------------------------------------------


def test_check_claims_lists_every_claim_of_the_main_series():
    rows = bump_case(0.05, sem=0.001)
    for row in rows:
        row["regime"] = {3: "memorizing", 10: "memorizing", 100: "intermediate", 1000: "generalizing"}[row["dataset_size"]]
    results = table(rows + [run(100, weight_decay=0.5, test_loss=50.0)])  # another setting: not the main series
    claims = _report.check_claims(results, pd.DataFrame(columns=_report.ITEM_COLUMNS))
    assert len(claims) == 26 and len({c.claim for c in claims}) == 26  # 14 of the paper, 12 of the follow-ups
    verdicts = {c.claim: c.verdict for c in claims}
    assert verdicts["Test loss has a bump in the middle regime"] == CONFIRMED
    assert verdicts["Three regimes in order: memorizing, intermediate, generalizing"] == CONFIRMED
    assert verdicts["Small-T hidden vectors form regular T-gons"] == NOT_CONFIRMED  # no items: no T-gon seen
    assert verdicts["There are regions where a bigger model hurts"] == NOT_MEASURED
    assert verdicts["Across sparsities the onset of generalization lines up in T(1 - S)"] == NOT_MEASURED
    assert verdicts["With the envelope there is no intermediate regime"] == NOT_MEASURED


TINY = ["--set", "n_features=60", "--set", "steps=30", "--set", "test_size=100", "--set", "history_points=3", "--set", "data_seed=0", "--quiet"]


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "quick"
    done = subprocess.run([sys.executable, "-m", "toydd.cli", "reproduce", "--preset", "quick", "--out", str(out), *TINY], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def count_loads(monkeypatch) -> dict:
    loads: dict = {}
    real = _store.load_run

    def counting(path):
        loads[path.name] = loads.get(path.name, 0) + 1
        return real(path)

    monkeypatch.setattr(_report, "load_run", counting)
    return loads


def test_report_loads_each_run_once(tiny_sweep, monkeypatch):
    for path in (tiny_sweep / "figures").iterdir():
        path.unlink()
    loads = count_loads(monkeypatch)
    _report.report(tiny_sweep)  # draws the figures too
    series = _claims.main_series(_sweep.read_results(tiny_sweep))
    assert set(series["run_id"]) <= set(loads) and max(loads.values()) == 1
    assert (tiny_sweep / "figures" / "fig2_main.png").exists() and (tiny_sweep / "figures" / "fig6_training.gif").exists()

    loads.clear()
    _report.report(tiny_sweep)  # figures present: only the runs the claims read
    sizes = series.set_index("run_id")["dataset_size"]
    assert max(loads.values()) == 1
    assert {sizes[run_id] for run_id in loads} == {3.0, 5.0, 6.0, 8.0, 10.0, 5000.0, np.inf}


def test_an_incomplete_sweep_is_flagged_above_the_claims(tiny_sweep, tmp_path):
    """Its plan names runs that are not complete: the report says how many and at which T, since a
    claim about the largest T would read the largest complete so far."""
    assert _report.completeness_html(tiny_sweep, _sweep.read_results(tiny_sweep)) == ""  # complete
    copy = tmp_path / "copy"
    shutil.copytree(tiny_sweep, copy)
    planned, _ = read_plan(copy)
    at_5000, at_2000 = ([c for c in planned if c.dataset_size == t] for t in (5000, 2000))
    shutil.rmtree(_sweep.run_dir(copy, at_5000[0].run_id()))  # never trained
    shutil.rmtree(_sweep.run_dir(copy, at_2000[0].run_id()))
    record_failure(copy, at_2000[0], "diverged")
    results = pd.read_parquet(copy / "results.parquet")  # as a sweep writes it: the complete runs
    results[~results["run_id"].isin([at_5000[0].run_id(), at_2000[0].run_id()])].to_parquet(copy / "results.parquet")
    page = html.unescape(_report.report(copy).read_text())
    claims_at = page.index("<h2>Claims</h2>")
    warning = page.index("This sweep is incomplete:")
    assert claims_at < warning < page.index("<th>claim</th>")
    assert f"{len(planned) - 2} of {len(planned)} planned runs are complete; 2 are not, 1 of them failed" in page
    assert f"T = 2,000 ({len(at_2000) - 1} of {len(at_2000)}), T = 5,000 ({len(at_5000) - 1} of {len(at_5000)})." in page
    assert _report.completeness_html(tmp_path, results) == ""  # no plan: nothing to compare with


def test_a_recorded_sweep_file_that_is_not_utf8_is_shown_not_fatal(tiny_sweep, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_sweep, copy)
    (copy / "sweep.toml").write_bytes(b"# edited \xff\xfe\n[sweep]\n")
    plan = json.loads((copy / "plan.json").read_text())
    assert plan.pop("sweep").startswith("# toydd reproduce --preset quick")  # the text the report shows first
    (copy / "plan.json").write_text(json.dumps(plan))  # a plan of a toydd that kept no sweep text in it
    page = _report.report(copy).read_text()
    assert "# edited \ufffd\ufffd" in page


def test_item_rows_hold_each_examples_angle_to_the_next_hidden_vector(tiny_sweep):
    """At m = 2 every kept example's angle_gap is its own gap, from the stored weights and data."""
    run_id = _claims.main_series(_sweep.read_results(tiny_sweep)).query("dataset_size == 5").iloc[0]["run_id"]
    stored = _store.load_run(_sweep.run_dir(tiny_sweep, run_id))
    data = pd.concat(_report.item_rows(stored, np.random.default_rng(0))).query("kind == 'data'")
    expected = angular_gap_to_next(_metrics.hidden_vectors(stored.W, stored.train_set))
    np.testing.assert_allclose(data["angle_gap"].values, expected)
    assert np.isclose(data["angle_gap"].sum(), 2 * np.pi)


def test_figures_the_results_no_longer_support_are_removed_and_other_files_kept(tiny_sweep):
    folder = tiny_sweep / "figures"
    stale = [folder / "fig4_heatmap.png", folder / "fig4_heatmap.svg", folder / "fig10_discrepancy.png"]
    mine = [folder / "my_notes.png", folder / "fig4_heatmap_by_hand.png"]
    for path in stale + mine:
        path.write_bytes(b"an earlier run's file")
    try:
        written = _report.figures(tiny_sweep)
        assert not any(path.exists() for path in stale)
        assert all(path.exists() for path in mine)
        assert {path.name for path in written} >= {"fig2_main.png", "fig6_training.gif"} and all(path.exists() for path in written)
        page = _report.report(tiny_sweep).read_text()
        assert "fig2_main" in page and "my_notes" not in page and "fig4_heatmap_by_hand" not in page  # toydd's figures only
    finally:
        for path in mine:
            path.unlink()


def test_sweep_figures_and_animation_are_returned_without_writing(tiny_sweep, tmp_path):
    from matplotlib.figure import Figure
    from PIL import Image

    from toydd import _figures

    before = sorted((tiny_sweep / "figures").iterdir())
    drawn = _report.sweep_figures(tiny_sweep)
    assert sorted(drawn) == ["fig1_small_t", "fig2_main", "fig3_norms"]
    assert all(isinstance(f, Figure) for f in drawn.values())
    assert sorted((tiny_sweep / "figures").iterdir()) == before
    animation = _report.sweep_animation(tiny_sweep)
    assert sorted((tiny_sweep / "figures").iterdir()) == before
    snapshot_run = _report.snapshot_run(tiny_sweep, _sweep.read_results(tiny_sweep))
    steps, _, _ = _store.load_run(_sweep.run_dir(tiny_sweep, snapshot_run)).snapshots()
    with Image.open(_figures.save_animation(animation, tmp_path, "anim")[0]) as gif:
        assert gif.n_frames == len(steps) >= 2


def test_report_shows_the_paper_beside_the_measurement_and_counts_failures(tiny_sweep):
    from toydd._metrics import FAILURES

    results = _sweep.read_results(tiny_sweep)
    assert {"test_loss_median", "test_loss_tail_share", "failure", "polygon_irregularity", "restart_rule"} <= set(results.columns)
    assert set(results["failure"]) <= {*FAILURES, ""}
    assert set(results.loc[~np.isfinite(results["dataset_size"]), "failure"]) == {""}  # no training examples to judge
    page = html.unescape(_report.report(tiny_sweep).read_text())
    assert "The paper's numbers are for n = 10,000, S = 0.999, m = 2; this sweep has n = 60, S = 0.99, m = 2" in page
    assert "<th>measured vs paper</th>" in page and "Test loss by T, beside the paper" in page and "Optimization failures (m = 2)" in page
    # 30 steps memorize nothing: failures are recorded for every run with a training set, and
    # counted (test_failures_are_counted_by_T_among_the_judged_runs) among memorizing ones only
    assert (results["failure"] != "").sum() > 0 and not (results["regime"] == "memorizing").any()
    assert "No run was judged: failures are counted among memorizing m = 2 runs" in page


def test_repeat_panels_add_the_run_with_the_most_memorized_points():
    """The (T, R) with the most numbers of repeated points gives one panel per number; a run
    elsewhere that memorizes more (repeats_paper's 8 points of 32 copies, every feature gone) is
    drawn last, in place of a fourth number's panel."""
    def point_run(points, repeats, memorized, features, t=20_000):
        return repeat_run(t, repeated_points=points, repeats=repeats, repeated_memorized=memorized, features_learned=features)
    map_runs = [point_run(k, 8, m, 4) for k, m in ((1, 1), (3, 2), (6, 3), (7, 3), (9, 3))]
    many = [point_run(8, 32, 8, 1), point_run(12, 32, 8, 0), point_run(8, 16, 6, 0)]
    results = pd.DataFrame(map_runs + many)
    ids = list(results["run_id"])
    assert _report.repeat_panel_runs(results) == ids[:3] + [ids[6]]  # 8 memorized with no feature left
    assert _report.repeat_panel_runs(results.iloc[:5]) == ids[:4]  # nothing memorizes more than the map's runs
    assert _report.repeat_panel_runs(results.iloc[:2].assign(repeated_memorized=0)) == []


@pytest.mark.parametrize("features,words", [(1, "1 memorized, 1 feature"), (0, "1 memorized, 0 features")])
def test_a_repeat_panel_is_titled_with_what_its_points_did(features, words):
    from types import SimpleNamespace

    from toydd._data import SparseRows

    config = Config(n_features=4, sparsity=0.5, dataset_size=3, repeated_points=1, repeats=2)
    stored = SimpleNamespace(config=config, metrics={"repeated_memorized": 1, "features_learned": features}, W=np.eye(2, 4),
                             train_set=SparseRows.from_dense(np.eye(3, 4, dtype=np.float32)), examples=pd.DataFrame({"repeated": [True, True, False]}))  # fmt: skip
    panel = _report.repeat_panel(stored)
    assert panel.title == f"T = 3, 1 × R = 2: {words}" and panel.hidden.shape == (3, 2) and panel.repeated.tolist() == [True, True, False]
