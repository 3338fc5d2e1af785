"""The discrepancy study of issue 9 on synthetic result tables: variants, the paper's curve at equal
T(1 - S), the distance, the verdicts, the ranking with onset and norm peak, the report section
and the figure."""

import html
import itertools

import numpy as np
import pandas as pd
import pytest

from toydd import Config
from toydd import _claims
from toydd import _discrepancy
from toydd import _report

BASE = Config(n_features=1_000, sparsity=0.99, n_hidden=2).to_dict()  # the reduced setting: T here is T / 10 in the paper
SIZES = (5.0, 10.0, 30.0, 100.0, 200.0, 500.0, 1_000.0, 2_000.0)
_ids = itertools.count()


def curve_rows(changes: dict, decades: float, seeds=(0, 1), onset: float = 1_000.0, norm_peak: float = 200.0) -> list[dict]:
    """Runs of one variant (config `changes`) whose mean test loss is the paper's at equal
    T(1 - S) times 10^decades at every T; generalizing from `onset`, ||W|| largest at `norm_peak`."""
    rows = []
    for t, seed in itertools.product(SIZES, seeds):
        paper = _discrepancy.paper_curve_at(_discrepancy.paper_size(t, BASE["sparsity"]))
        config = {**BASE, **changes}
        scale = 1.0 / config["n_features"] if config["feature_reduction"] == "mean" else 1.0  # stored as the run measures it
        rows.append({
            **config, "run_id": f"run{next(_ids)}", "dataset_size": t, "data_seed": seed,
            "test_loss": paper * 10**decades * scale, "test_loss_median": 1.001 * scale,
            "regime": "generalizing" if t >= onset else ("memorizing" if t <= 30 else "intermediate"),
            "W_norm": 5.0 if t == norm_peak else 1.0, "b_norm": 0.5, "data_dimensionality_max": 2.0 / t if t <= 30 else 0.001,
            "feature_dimensionality_max": 0.4 if t >= onset else 0.1,
        })  # fmt: skip
    return rows


def study() -> pd.DataFrame:
    rows = (
        curve_rows({}, 1.0)  # the defaults: ten times the paper everywhere
        + curve_rows({"eps": 1e-6}, 0.0, onset=2_000.0)  # the paper's curve exactly
        + curve_rows({"lr": 3e-3}, 2.0, norm_peak=500.0)  # a hundred times: twice the defaults' distance
        + curve_rows({"init_scale": 2.0}, 0.4)  # 0.4 of the defaults' distance
        + curve_rows({"beta2": 0.99}, 0.8)  # 0.8 of it
        + curve_rows({"feature_reduction": "mean", "eps": 1e-6}, -0.3)  # below the paper, stored per feature
    )  # fmt: skip
    return pd.DataFrame(rows)


def test_variant_labels_name_the_fields_away_from_the_defaults():
    labels = _discrepancy.variant_labels(study())
    assert set(labels) == {
        "defaults", "eps = 1e-06", "lr = 0.003", "init_scale = 2", "beta2 = 0.99", "feature_reduction = mean, eps = 1e-06",
    }  # fmt: skip
    flags = pd.DataFrame([{**BASE, "decay_bias": False, "matmul_precision": "tf32", "gradient_chunks": 4}])
    assert _discrepancy.variant_labels(flags).iloc[0] == "decay_bias = false, matmul_precision = tf32, gradient_chunks = 4"


def test_paper_curve_is_interpolated_in_log_t_and_aligned_by_sightings():
    assert _discrepancy.paper_size(200.0, 0.99) == pytest.approx(2_000.0) and _discrepancy.paper_size(np.inf, 0.99) == np.inf
    assert _discrepancy.paper_curve_at(2_000.0) == _claims.PAPER.test_loss[2_000.0]
    between = _discrepancy.paper_curve_at(np.sqrt(1_000.0 * 2_000.0))  # halfway in log T
    assert between == pytest.approx((_claims.PAPER.test_loss[1_000.0] + _claims.PAPER.test_loss[2_000.0]) / 2)
    assert np.isnan(_discrepancy.paper_curve_at(4.0)) and np.isnan(_discrepancy.paper_curve_at(1e6))
    assert _discrepancy.paper_curve_at(np.inf) == _claims.PAPER.test_loss[np.inf]


def test_losses_averaged_over_features_are_compared_in_the_papers_units():
    runs = study()
    units = _discrepancy.in_paper_units(runs, "test_loss")
    mean = runs["feature_reduction"] == "mean"
    np.testing.assert_allclose(units[mean], runs.loc[mean, "test_loss"] * 1_000)
    np.testing.assert_allclose(units[~mean], runs.loc[~mean, "test_loss"])


def test_distance_is_the_mean_absolute_log_ratio_to_the_paper():
    curves = _discrepancy.variant_curves(study())
    distance = {v: _discrepancy.curve_distance(c) for v, c in curves.groupby("variant")}
    assert distance["defaults"] == pytest.approx(1.0)
    assert distance["eps = 1e-06"] == pytest.approx(0.0, abs=1e-12)
    assert distance["lr = 0.003"] == pytest.approx(2.0)
    assert distance["feature_reduction = mean, eps = 1e-06"] == pytest.approx(0.3)  # below the paper counts as far as above
    no_paper = curves[curves["variant"] == "defaults"].assign(paper_loss=np.nan)
    assert np.isnan(_discrepancy.curve_distance(no_paper))


@pytest.mark.parametrize(
    "distance,defaults,verdict",
    [
        (0.0, 1.0, _discrepancy.MATCHES), (_discrepancy.MATCH_DISTANCE, 1.0, _discrepancy.MATCHES), (0.5, 1.0, _discrepancy.NARROWS_GAP), (0.51, 1.0, _discrepancy.NO_CLEAR_CHANGE),
        (1.99, 1.0, _discrepancy.NO_CLEAR_CHANGE), (2.0, 1.0, _discrepancy.WIDENS_GAP), (0.3, np.nan, _discrepancy.NO_CLEAR_CHANGE), (1.0, 1.0, _discrepancy.NO_CLEAR_CHANGE),
    ],
)  # fmt: skip
def test_variant_verdict_thresholds(distance, defaults, verdict):
    assert _discrepancy.variant_verdict(distance, defaults) == verdict


def test_ranking_orders_by_distance_with_verdicts_onset_and_norm_peak():
    ranking = _discrepancy.variant_ranking(_discrepancy.variant_curves(study()))
    assert list(ranking.index[:2]) == ["eps = 1e-06", "defaults, median test loss"]
    assert ranking.index[-1] == "lr = 0.003"
    assert ranking.loc["eps = 1e-06", "verdict"] == _discrepancy.MATCHES
    assert ranking.loc["init_scale = 2", "verdict"] == _discrepancy.NARROWS_GAP
    assert ranking.loc["beta2 = 0.99", "verdict"] == _discrepancy.NO_CLEAR_CHANGE
    assert ranking.loc["lr = 0.003", "verdict"] == _discrepancy.WIDENS_GAP
    assert ranking.loc["defaults", "ratio"] == pytest.approx(1.0) and ranking.loc["defaults", "runs"] == 16
    assert ranking.loc["eps = 1e-06", "onset_t"] == 2_000.0 and ranking.loc["defaults", "onset_t"] == 1_000.0
    assert ranking.loc["lr = 0.003", "norm_peak_t"] == 500.0 and ranking.loc["defaults", "norm_peak_t"] == 200.0
    # the largest mean loss: the paper's peak (T = 2k there, 200 here) times 100
    assert ranking.loc["lr = 0.003", "peak_t"] == 200.0
    assert ranking.loc["lr = 0.003", "peak_loss"] == pytest.approx(100 * _claims.PAPER.test_loss[2_000.0])


def test_median_statistic_is_a_variant_of_the_defaults_runs():
    curves = _discrepancy.variant_curves(study())
    median = curves[curves["variant"] == _discrepancy.MEDIAN_VARIANT]
    assert len(median) == len(SIZES) and np.allclose(median["loss"], 1.001)
    assert (median["runs"] == 2).all()
    without = _discrepancy.variant_curves(study().drop(columns="test_loss_median"))
    assert _discrepancy.MEDIAN_VARIANT not in set(without["variant"])


def test_no_generalizing_t_gives_no_onset():
    rows = pd.DataFrame(curve_rows({}, 1.0, onset=np.inf))
    curves = _discrepancy.variant_curves(rows)
    assert np.isnan(_discrepancy.first_generalizing(curves[curves["variant"] == "defaults"]))


def test_a_study_is_recognized_and_a_single_series_is_not():
    assert _discrepancy.has_variants(study())
    assert not _discrepancy.has_variants(pd.DataFrame(curve_rows({}, 1.0)))


def test_other_experiments_sweeping_lr_weight_decay_or_steps_are_not_a_study():
    envelope = curve_rows({}, 1.0) + curve_rows({"lr": 3e-3}, 2.0) + curve_rows({"lr": 1e-4}, 0.5)
    assert not _discrepancy.has_variants(pd.DataFrame(envelope))
    # a setting all runs share (say --set test_size=1000 on the whole sweep) makes no study either
    assert not _discrepancy.has_variants(pd.DataFrame(envelope).assign(test_size=1_000, eps=1e-6))
    appendix = curve_rows({}, 1.0) + curve_rows({"weight_decay": 1e-3}, 0.5) + curve_rows({"weight_decay": 1e-3, "steps": 10_000}, 0.5)
    assert not _discrepancy.has_variants(pd.DataFrame(appendix))
    # a learning-rate variant beside a candidate cause still makes a study, and is ranked in it
    mixed = pd.DataFrame(envelope + curve_rows({"eps": 1e-6}, 0.0))
    assert _discrepancy.has_variants(mixed) and "lr = 0.003" in set(_discrepancy.variant_curves(mixed)["variant"])


def test_report_section_states_the_distance_the_setting_and_the_ranking():
    text = html.unescape(_report.discrepancy_html(study()))
    assert "|log10(mean test loss / the paper's mean test loss)|" in text
    assert "T here stands for 10 T in the paper" in text and "n = 10,000, S = 0.999" in text
    assert "Closest to the paper's curve: eps = 1e-06 (0.00 decades, against 1.00 for the defaults); matching the paper: eps = 1e-06" in text
    assert text.index("eps = 1e-06</td>") < text.index("defaults</td>") < text.index("lr = 0.003</td>")


def test_summary_says_when_no_variant_matches():
    runs = pd.DataFrame(curve_rows({}, 1.0) + curve_rows({"lr": 3e-3}, 0.5)).drop(columns="test_loss_median")
    ranking = _discrepancy.variant_ranking(_discrepancy.variant_curves(runs))
    assert _discrepancy.discrepancy_summary(ranking).endswith(f"no variant matches the paper (within {_discrepancy.MATCH_DISTANCE} decades)")


def test_discrepancy_figure_draws_every_variant_over_the_papers_values():
    figure = _report.discrepancy_figure(study())
    axes = figure.axes
    assert len(axes) == 6
    labels = [line.get_label() for line in axes[0].get_lines()]
    assert "defaults" in labels and "paper (its setting)" in labels and "lr = 0.003" in labels
    paper = next(line for line in axes[0].get_lines() if line.get_label() == "paper (its setting)")
    # the paper's T = 2,000 sits at T = 200 on the reduced setting's axis
    assert 200.0 in set(np.round(paper.get_xdata(), 6))
    assert any(line.get_label() == "paper's norm peak" for line in axes[4].get_lines())


def test_distances_use_only_the_sizes_every_variant_has():
    partial = [row for row in curve_rows({"lr": 3e-3}, 2.0) if row["dataset_size"] != 2_000.0]
    runs = pd.DataFrame(curve_rows({}, 1.0) + partial)
    runs.loc[(runs["lr"] == 1e-3) & (runs["dataset_size"] == 2_000.0), "test_loss"] *= 1e6
    curves = _discrepancy.variant_curves(runs)
    assert _discrepancy.shared_sizes(curves) == set(SIZES) - {2_000.0}
    ranking = _discrepancy.variant_ranking(curves)
    assert ranking.loc["defaults", "distance"] == pytest.approx(1.0)  # its T = 2,000 outlier is not counted
    assert ranking.loc["lr = 0.003", "distance"] == pytest.approx(2.0)
