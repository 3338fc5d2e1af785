"""The claims of the follow-up presets (onset, repeats, envelope; docs/science.md section 7) on
small synthetic result tables: confirmed, not confirmed and not measured, at the edges of their
thresholds."""

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from toydd import Config
from toydd import _claims
from toydd import _follow_up_claims as follow_ups
from toydd import _repeats
from toydd import _report
from toydd._presets import load_preset
from toydd._sweep_spec import load_sweep

CONFIRMED, NOT_CONFIRMED, NOT_MEASURED = _claims.CONFIRMED, _claims.NOT_CONFIRMED, _claims.NOT_MEASURED
BASE = {**Config(n_features=1_000, sparsity=0.99, n_hidden=2).to_dict()}
_ids = itertools.count()


def run(t: float, **values) -> dict:
    """One row of results.parquet at dataset size t: neutral metrics unless given."""
    row = {**BASE, "run_id": f"run{next(_ids)}", "dataset_size": float(t), "test_loss": 1.0, "train_loss": 1.0, "regime": "memorizing",
           "feature_dimensionality_max": 0.05, "features_learned": 0, "wall_seconds": 1.0}  # fmt: skip
    return {**row, **values}


def just(threshold: float, inside: bool, passes_above: bool) -> float:
    """A value 0.1% (relative) inside or outside `threshold`; values above it pass if `passes_above`."""
    step = 1e-3 * abs(threshold)
    return threshold + step if passes_above == inside else threshold - step


# --- where generalization begins ---------------------------------------------------------------

SIGHTINGS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0)


def onset_rows(onset: float | None, sightings=SIGHTINGS, seeds: int = 4, generalizing_seeds: int = 4, **settings) -> list[dict]:
    """Runs over T(1 - S) = `sightings` at settings' sparsity: `generalizing_seeds` of `seeds`
    generalize from T(1 - S) = onset on (none if onset is None), the others memorize."""
    sparsity = settings.get("sparsity", BASE["sparsity"])
    rows = []
    for seen, seed in itertools.product(sightings, range(seeds)):
        general = onset is not None and seen >= onset and seed < generalizing_seeds
        rows.append(run(seen / (1 - sparsity), data_seed=seed, regime="generalizing" if general else "memorizing", **settings))
    return rows


def by_sparsity(onsets: dict, **kwargs) -> pd.DataFrame:
    return pd.DataFrame([row for s, onset in onsets.items() for row in onset_rows(onset, sparsity=s, **kwargs)])


@pytest.mark.parametrize("inside", [True, False])
def test_onsets_agree_across_sparsity_within_the_factor(inside):
    assert follow_ups.ONSET_FACTOR == 2.5
    high = just(4.0 * follow_ups.ONSET_FACTOR, inside, passes_above=False)
    results = by_sparsity({0.98: 4.0, 0.99: 5.0, 0.995: high}, sightings=(1.0, 2.0, 4.0, 5.0, high, 50.0))
    claim = follow_ups.onset_agrees_across_sparsity(results)
    assert claim.verdict == (CONFIRMED if inside else NOT_CONFIRMED)
    assert "S = 0.98: 4" in claim.evidence


def test_the_onset_needs_half_the_seeds_from_there_on():
    assert _claims.ONSET_RUN_SHARE == 0.5
    half = onset_rows(10.0, generalizing_seeds=2)
    assert _claims.onset_sightings(pd.DataFrame(half)) == 10.0
    assert _claims.onset_sightings(pd.DataFrame(onset_rows(10.0, generalizing_seeds=1))) is None
    # a generalizing T(1 - S) followed by a memorizing one is not the onset
    blip = pd.DataFrame(onset_rows(20.0) + [run(100.0, data_seed=s, regime="generalizing") for s in range(4)])
    assert _claims.onset_sightings(blip) == 20.0


def test_a_sparsity_that_never_generalizes_disagrees_only_if_swept_far_enough():
    # S = 0.995 never generalizes up to 20: beyond 2.5 x the smallest onset (5), so it disagrees
    far = by_sparsity({0.98: 5.0, 0.99: 5.0, 0.995: None}, sightings=(1.0, 2.0, 5.0, 10.0, 20.0))
    claim = follow_ups.onset_agrees_across_sparsity(far)
    assert claim.verdict == NOT_CONFIRMED and "S = 0.995: none up to 20" in claim.evidence
    # swept only up to 10, below 12.5: its onset may still agree, so it is left out
    short = pd.concat([by_sparsity({0.98: 5.0, 0.99: 5.0}), by_sparsity({0.995: None}, sightings=(1.0, 2.0, 10.0))])
    assert follow_ups.onset_agrees_across_sparsity(short).verdict == CONFIRMED


def limit_rows(sparsity: float, regime: str, seeds: int = 4, **settings) -> list[dict]:
    """Infinite-data runs at `sparsity`, every one in `regime`."""
    return [run(np.inf, sparsity=sparsity, data_seed=seed, regime=regime, **settings) for seed in range(seeds)]


def test_a_sparsity_whose_infinite_data_runs_do_not_generalize_has_no_onset_to_find():
    """Like the onset preset's S = 0.999 at n = 1,000: no onset up to T(1 - S) = 50 (here 100), and
    its T = ∞ runs are intermediate too. It is left out of both claims, where swept this far it would count
    against them; if its T = ∞ runs generalize (or there are none), it still counts."""
    swept = by_sparsity({0.98: 10.0, 0.99: 10.0, 0.999: None}, sightings=(1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0))
    for claim_of in (follow_ups.onset_agrees_across_sparsity, follow_ups.onset_near_ten_across_sparsity):
        assert claim_of(swept).verdict == NOT_CONFIRMED
        ungeneralizing = claim_of(pd.concat([swept, pd.DataFrame(limit_rows(0.999, "intermediate") + limit_rows(0.99, "generalizing"))]))
        assert ungeneralizing.verdict == CONFIRMED
        assert "S = 0.999: none up to 100 (left out: its T = ∞ runs do not generalize either" in ungeneralizing.evidence
        assert claim_of(pd.concat([swept, pd.DataFrame(limit_rows(0.999, "generalizing"))])).verdict == NOT_CONFIRMED
        # half the infinite-data runs generalizing is a generalizing limit (ONSET_RUN_SHARE)
        half = limit_rows(0.999, "generalizing", seeds=2) + limit_rows(0.999, "intermediate", seeds=2)
        assert claim_of(pd.concat([swept, pd.DataFrame(half)])).verdict == NOT_CONFIRMED
        # infinite-data runs at another setting (here another weight decay) say nothing of these
        elsewhere = limit_rows(0.999, "intermediate", weight_decay=0.1)
        assert claim_of(pd.concat([swept, pd.DataFrame(elsewhere)])).verdict == NOT_CONFIRMED
    # a sparsity with an onset counts whatever its T = ∞ runs do: S = 0.99's onset at 50 disagrees
    late = by_sparsity({0.98: 10.0, 0.99: 50.0})
    assert follow_ups.onset_agrees_across_sparsity(pd.concat([late, pd.DataFrame(limit_rows(0.99, "intermediate"))])).verdict == NOT_CONFIRMED


def test_a_weight_decay_whose_infinite_data_runs_do_not_generalize_is_left_out():
    """The decay claim reads the T = ∞ runs of each decay at the decay sweep's sparsity only."""
    sweep = decay_sweep({0.001: 10.0, 0.01: 10.0, 0.1: None})
    assert follow_ups.onset_independent_of_decay(sweep).verdict == NOT_CONFIRMED  # decay 0.1: none up to 50
    for sparsity, verdict in ((0.98, CONFIRMED), (0.99, NOT_CONFIRMED)):  # at another sparsity they say nothing
        claim = follow_ups.onset_independent_of_decay(pd.concat([sweep, pd.DataFrame(limit_rows(sparsity, "intermediate", weight_decay=0.1))]))
        assert claim.verdict == verdict


def test_onset_claims_are_not_measured_with_one_sparsity():
    results = by_sparsity({0.99: 10.0})
    assert follow_ups.onset_agrees_across_sparsity(results).verdict == NOT_MEASURED
    assert follow_ups.onset_near_ten_across_sparsity(results).verdict == NOT_MEASURED
    assert follow_ups.onset_independent_of_decay(results).verdict == NOT_MEASURED


@pytest.mark.parametrize("edge", [0, 1])
@pytest.mark.parametrize("inside", [True, False])
def test_every_onset_must_lie_near_ten(edge, inside):
    low, high = _claims.SIGHTINGS_RANGE
    onset = just((low, high)[edge], inside, passes_above=edge == 0)
    results = by_sparsity({0.98: 10.0, 0.99: onset}, sightings=(1.0, 2.0, onset, 10.0, 50.0))
    claim = follow_ups.onset_near_ten_across_sparsity(results)
    assert claim.verdict == (CONFIRMED if inside else NOT_CONFIRMED)
    assert claim.claim == "At every sparsity generalization begins near T(1 - S) = 10" and "median onset" in claim.evidence


def test_no_onset_at_some_sparsity_is_not_near_ten():
    # swept to T(1 - S) = 50 without an onset: it lies beyond the range
    assert follow_ups.onset_near_ten_across_sparsity(by_sparsity({0.98: 10.0, 0.99: None})).verdict == NOT_CONFIRMED


def test_a_sparsity_swept_short_of_the_range_is_left_out_of_near_ten():
    """A sparsity swept to T(1 - S) = 20 < 30 without an onset (as the onset preset's S = 0.999 was until 2026-12-04): it may still
    begin inside the range, so it neither confirms nor refutes; with no other sparsity, nothing is judged."""
    short = pd.concat([by_sparsity({0.98: 10.0, 0.99: 10.0}), by_sparsity({0.999: None}, sightings=(1.0, 2.0, 5.0, 10.0, 20.0))])
    claim = follow_ups.onset_near_ten_across_sparsity(short)
    assert claim.verdict == CONFIRMED and "S = 0.999: none up to 20 (left out: not swept far enough to tell)" in claim.evidence
    alone = follow_ups.onset_near_ten_across_sparsity(by_sparsity({0.99: None, 0.999: None}, sightings=(1.0, 2.0, 5.0, 10.0, 20.0)))
    assert alone.verdict == NOT_MEASURED


def decay_sweep(onsets: dict) -> pd.DataFrame:
    """Weight decays at S = 0.98 with the given onsets, beside a sparsity sweep at decay 0.01."""
    rows = [row for decay, onset in onsets.items() for row in onset_rows(onset, sparsity=0.98, weight_decay=decay)]
    rows += onset_rows(50.0, sparsity=0.99)  # another sparsity, one decay: not part of the comparison
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    "onsets,verdict",
    [({0.001: 10.0, 0.01: 10.0, 0.1: 10.0}, CONFIRMED), ({0.001: 5.0, 0.01: 10.0, 0.1: 10.0}, CONFIRMED), ({0.001: 2.0, 0.01: 10.0, 0.1: 10.0}, NOT_CONFIRMED)],
    ids=["same", "one grid step", "factor 5"],
)  # fmt: skip
def test_weight_decay_does_not_move_the_onset(onsets, verdict):
    claim = follow_ups.onset_independent_of_decay(decay_sweep(onsets))
    assert claim.verdict == verdict and claim.evidence.startswith("at S = 0.98,")


# --- repeated data -----------------------------------------------------------------------------


def repeat_rows(first_memorized: dict, repeats=(1, 2, 4, 8, 16, 32)) -> list[dict]:
    """One repeated point at each T and R: memorized from R = first_memorized[T] on (never if None),
    taking one of the five features."""
    rows = []
    for t, first in first_memorized.items():
        for copies in repeats:
            memorized = int(first is not None and copies >= first)
            rows.append(run(t, repeated_points=1, repeats=copies, repeated_memorized=memorized, features_learned=5 - memorized, regime="generalizing"))
    return rows


def test_a_boundary_doubling_with_T_over_N_is_proportional():
    rows = pd.DataFrame(repeat_rows({2_000: 2, 4_000: 4, 8_000: 8, 1_000: 32}))
    rows.loc[rows["dataset_size"] == 1_000, "regime"] = "memorizing"  # too small to generalize: left out
    claim = follow_ups.repeat_boundary_proportional(rows)
    assert claim.verdict == CONFIRMED
    assert "slope of log R against log T/N 1.00" in claim.evidence and "T/N = 1:" not in claim.evidence
    assert "left out, the training set not generalizing without the repeats: T/N = 1" in claim.evidence


def test_a_boundary_slope_on_the_edge_of_the_range_counts_despite_rounding():
    """Boundaries 2.8, 5.7, 5.7 at T/N = 2, 4, 8 (the repeats preset's): a slope of 0.5 exactly,
    which float rounding puts at 0.49999999999999994."""
    rows = pd.DataFrame(repeat_rows({2_000: 4, 4_000: 8, 8_000: 8}, repeats=(1, 2, 4, 8, 16)))
    claim = follow_ups.repeat_boundary_proportional(rows)
    assert claim.verdict == CONFIRMED and "slope of log R against log T/N 0.50" in claim.evidence


def test_a_T_where_every_run_memorizes_its_point_is_named_as_unjudged():
    rows = pd.DataFrame(repeat_rows({2_000: 2, 4_000: 4, 8_000: 8, 16_000: 1}))  # T/N = 16: memorized from R = 1
    claim = follow_ups.repeat_boundary_proportional(rows)
    assert "left out, no run with the point not memorized to judge the training set by: T/N = 16" in claim.evidence
    assert "not generalizing" not in claim.evidence


def test_a_boundary_over_two_neighbouring_T_over_N_is_not_measured():
    """T/N = 2 and 4 with R doubling: one R step moves the slope by 1, so 1 and 0 look alike."""
    claim = follow_ups.repeat_boundary_proportional(pd.DataFrame(repeat_rows({2_000: 2, 4_000: 4})))
    assert claim.verdict == NOT_MEASURED and "spanning a factor 4" in claim.evidence and "T/N = 4: R ≈ 2.83" in claim.evidence


def test_a_flat_boundary_is_not_proportional():
    assert follow_ups.repeat_boundary_proportional(pd.DataFrame(repeat_rows({2_000: 4, 4_000: 4, 8_000: 4}))).verdict == NOT_CONFIRMED


@pytest.mark.parametrize("edge", [0, 1])
@pytest.mark.parametrize("inside", [True, False])
def test_the_boundary_slope_must_lie_in_the_range(edge, inside):
    slope = just(follow_ups.BOUNDARY_SLOPE_RANGE[edge], inside, passes_above=edge == 0)
    # T/N = 2: memorized from R = 4 of (1, 4): boundary 2; T/N = 8: from R = X of (1, X): boundary sqrt(X) = 2 * 4^slope
    first = 4 * 4 ** (2 * slope)
    rows = repeat_rows({2_000: 4}, repeats=(1, 4)) + repeat_rows({8_000: first}, repeats=(1, first))
    assert follow_ups.repeat_boundary_proportional(pd.DataFrame(rows)).verdict == (CONFIRMED if inside else NOT_CONFIRMED)


def test_the_boundary_is_not_measured_outside_the_swept_R():
    # memorized at every R, or at none: no boundary inside the sweep at two T/N
    claim = follow_ups.repeat_boundary_proportional(pd.DataFrame(repeat_rows({2_000: 1, 4_000: None, 8_000: 8})))
    assert claim.verdict == NOT_MEASURED and "outside the swept R" in claim.evidence
    assert follow_ups.repeat_boundary_proportional(pd.DataFrame([run(2_000)])).verdict == NOT_MEASURED


def displacement_rows(cases: list[tuple[int, int, int]], t: int = 20_000, baseline: int | None = 5) -> pd.DataFrame:
    """Runs at T = `t`, R = 16 with (repeated points, memorized, features learned), and one with
    a repeated point not memorized that learns `baseline` features (none if None)."""
    rows = [run(t, repeated_points=k, repeats=16, repeated_memorized=mem, features_learned=f) for k, mem, f in cases]
    if baseline is not None:
        rows.append(run(t, repeated_points=1, repeats=2, repeated_memorized=0, features_learned=baseline))
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    "cases,verdict",
    [([(1, 1, 4), (3, 3, 2), (4, 4, 1), (2, 2, 3)], CONFIRMED), ([(1, 1, 4), (3, 3, 2), (4, 4, 1), (2, 2, 5)], CONFIRMED),
     ([(1, 1, 4), (3, 3, 2), (4, 4, 5), (2, 2, 5)], NOT_CONFIRMED)],
    ids=["all", "three of four", "two of four"],
)  # fmt: skip
def test_each_memorized_point_displaces_a_feature(cases, verdict):
    claim = follow_ups.memorized_points_displace_features(displacement_rows(cases))
    assert claim.verdict == verdict and "3 × R = 16: 3 memorized, 2 features" in claim.evidence


def test_displacement_counts_from_the_same_T_without_memorized_points():
    """Against 4 features where no point is memorized, one memorized point leaves 3, not 4."""
    assert follow_ups.memorized_points_displace_features(displacement_rows([(1, 1, 3), (2, 2, 2)], baseline=4)).verdict == CONFIRMED
    assert follow_ups.memorized_points_displace_features(displacement_rows([(1, 1, 4), (2, 2, 3)], baseline=4)).verdict == NOT_CONFIRMED
    claim = follow_ups.memorized_points_displace_features(displacement_rows([(1, 1, 4)], baseline=None))
    assert claim.verdict == NOT_MEASURED and "no run at their T without a memorized point" in claim.evidence


def test_displacement_leaves_out_runs_with_more_points_than_the_rule_can_count():
    """At T = 2,000 the top 0.1% admits 2 of the 1,910 distinct examples (6 points of 16 copies): 6 points with 2
    counted memorized and 3 features says nothing about the other 4 points."""
    assert _repeats.memorized_cap(2_000, 6, 16) == 2
    rows = displacement_rows([(1, 1, 4), (6, 2, 3)], t=2_000)
    claim = follow_ups.memorized_points_displace_features(rows)
    assert claim.verdict == CONFIRMED and "1 of 1 runs" in claim.evidence and "1 run(s) left out: more repeated points" in claim.evidence


@pytest.mark.parametrize("features,verdict", [(5, CONFIRMED), (4, NOT_CONFIRMED)])
def test_few_repeats_leave_the_features_as_without_copies(features, verdict):
    rows = pd.DataFrame([run(2_000, repeated_points=1, repeats=1, repeated_memorized=0, features_learned=5),
                         run(2_000, repeated_points=1, repeats=2, repeated_memorized=0, features_learned=features),
                         run(2_000, repeated_points=1, repeats=8, repeated_memorized=1, features_learned=4)])  # memorized: another claim  # fmt: skip
    claim = follow_ups.few_repeats_change_nothing(rows)
    assert claim.verdict == verdict and claim.evidence.startswith(f"{int(features == 5)} of 1 runs") and "(5 at T = 2,000)" in claim.evidence
    assert follow_ups.few_repeats_change_nothing(rows.iloc[1:]).verdict == NOT_MEASURED  # no run without copies


def test_displacement_is_not_measured_without_a_memorized_point():
    assert follow_ups.memorized_points_displace_features(displacement_rows([(1, 0, 5), (3, 0, 5)])).verdict == NOT_MEASURED
    assert follow_ups.memorized_points_displace_features(pd.DataFrame([run(100)])).verdict == NOT_MEASURED  # no repeat columns


@pytest.mark.parametrize("features,verdict", [(0, CONFIRMED), (1, NOT_CONFIRMED)])
def test_more_than_five_memorized_points_leave_no_feature(features, verdict):
    claim = follow_ups.many_points_displace_all(displacement_rows([(6, 6, features), (1, 1, 4)]))
    assert claim.verdict == verdict and claim.evidence.startswith(f"{1 - features} of 1 runs")
    assert f"6 × R = 16: 6 memorized, {features} feature{'s' if features == 0 else ';'}" in claim.evidence + ";"


def test_all_displaced_is_not_measured_without_more_than_five_counted():
    assert follow_ups.many_points_displace_all(displacement_rows([(5, 5, 0)])).verdict == NOT_MEASURED
    assert follow_ups.many_points_displace_all(displacement_rows([(6, 0, 5)])).verdict == NOT_MEASURED
    # 6 points at T = 2,000, 2 counted (the rule's most): the claim cannot be tested there
    claim = follow_ups.many_points_displace_all(displacement_rows([(6, 2, 5)], t=2_000))
    assert claim.verdict == NOT_MEASURED and "6 points at T = 2,000: 2 memorized, at most 2 countable" in claim.evidence


# --- the learning-rate envelope ----------------------------------------------------------------

ENVELOPE_T = (10, 100, 1_000, 3_000, 10_000, 100_000)
DEFAULT_LR = Config().lr


def envelope_rows(memorizing_slope: float = -0.5, default_onset: float = 1_000, middle_at: float | None = None, generalizing_slope: float = 0.0) -> pd.DataFrame:
    """Three learning rates per T: 3e-2 memorizes, removing 1 - training loss = 0.99 (T / 10)^memorizing_slope
    of the zero-output loss; the default generalizes from `default_onset` on (removing
    CROSSING (T / 5,477)^generalizing_slope, else intermediate at 2.0); 1e-4 is intermediate at
    3.0. With the memorizing slope the steeper, the generalizing branch removes more from T = 5,477
    on: the crossover lies between T = 3,000 and 10,000. At `middle_at` an intermediate run has the
    lowest loss."""
    rows = []
    for t in ENVELOPE_T:
        rows.append(run(t, lr=3e-2, regime="memorizing", train_loss=1 - 0.99 * (t / 10) ** memorizing_slope))
        general = t >= default_onset
        general_loss = 1 - CROSSING * (t / 5_477) ** generalizing_slope
        rows.append(run(t, lr=DEFAULT_LR, regime="generalizing" if general else "intermediate", train_loss=general_loss if general else 2.0))
        rows.append(run(t, lr=1e-4, regime="intermediate", train_loss=1e-6 if t == middle_at else 3.0))
    return pd.DataFrame(rows)


CROSSING = 0.99 * (5_477 / 10) ** -0.5  # what the default memorizing branch removes at T = 5,477


def test_the_envelope_keeps_the_lowest_training_loss_per_T_and_finds_the_crossover():
    best = follow_ups.envelope(follow_ups.envelope_runs(envelope_rows()))
    assert list(best["lr"]) == [3e-2, 3e-2, 3e-2, 3e-2, DEFAULT_LR, DEFAULT_LR]
    assert follow_ups.crossover(best) == (3_000.0, 10_000.0) and follow_ups.crossover_t(best) == pytest.approx(np.sqrt(3e7))


def test_below_the_crossover_the_envelope_memorizes():
    assert follow_ups.envelope_memorizes_below_crossover(envelope_rows()).verdict == CONFIRMED
    claim = follow_ups.envelope_memorizes_below_crossover(envelope_rows(middle_at=100))
    assert claim.verdict == NOT_CONFIRMED and "100: int (lr 0.0001)" in claim.evidence


def test_envelope_claims_are_not_measured_with_one_learning_rate():
    one_rate = envelope_rows()
    one_rate = one_rate[one_rate["lr"] == DEFAULT_LR]
    for check in (follow_ups.envelope_memorizes_below_crossover, follow_ups.envelope_kink, follow_ups.envelope_crossover, follow_ups.envelope_without_intermediate):
        assert check(one_rate).verdict == NOT_MEASURED


@pytest.mark.parametrize("inside", [True, False])
def test_a_kink_needs_the_slope_to_change_by_the_threshold_share_of_the_steeper(inside):
    change = just(follow_ups.KINK_MIN_RELATIVE_CHANGE, inside, passes_above=True) * 0.5
    claim = follow_ups.envelope_kink(envelope_rows(memorizing_slope=-0.5, generalizing_slope=-0.5 + change))
    assert claim.verdict == (CONFIRMED if inside else NOT_CONFIRMED)
    # the envelope's points nearest the crossover only: memorizing at T = 100 to 3,000 (not 10), generalizing from 10,000
    assert "below it -0.5000 (3 T)" in claim.evidence and float(claim.evidence.split("from it on ")[1].split(" ")[0]) == pytest.approx(-0.5 + change, abs=1e-4)


@pytest.mark.parametrize("inside", [True, False])
def test_a_kink_needs_a_steep_enough_side(inside):
    """Two nearly level stretches (a slope of 1 - loss halving from -0.1 to -0.04) are no kink."""
    steeper = just(follow_ups.KINK_MIN_SLOPE, inside, passes_above=True)
    rows = envelope_rows()
    t = rows["dataset_size"]
    memorizing = rows["lr"] == 3e-2
    rows.loc[memorizing, "train_loss"] = 1 - 0.5 * (t[memorizing] / 100) ** -steeper
    general = (rows["lr"] == DEFAULT_LR) & (t >= 1_000)  # it removes more than the memorizing runs from T = 5,477 on
    rows.loc[general, "train_loss"] = 1 - 0.5 * 54.77**-steeper * (t[general] / 5_477) ** (-0.4 * steeper)
    claim = follow_ups.envelope_kink(rows)
    assert claim.verdict == (CONFIRMED if inside else NOT_CONFIRMED) and "(3 T)" in claim.evidence and "(2 T)" in claim.evidence


def test_a_kink_is_fitted_near_the_crossover_not_from_the_smallest_T():
    """The reduced setting's envelope: training loss about 0 at T = 10 (the model removes all of
    the zero-output loss), then 0.67 to 0.98 up to the crossover and nearly level after it."""
    losses = {10: 1.6e-8, 100: 0.67, 1_000: 0.9455, 3_000: 0.9793, 10_000: 0.9851, 100_000: 0.9872}
    rows = envelope_rows()
    rows.loc[rows["lr"] == 3e-2, "train_loss"] = rows.loc[rows["lr"] == 3e-2, "dataset_size"].map(losses).values
    rows.loc[rows["lr"] == DEFAULT_LR, "train_loss"] = np.where(rows.loc[rows["lr"] == DEFAULT_LR, "dataset_size"] >= 10_000, rows.loc[rows["lr"] == DEFAULT_LR, "dataset_size"].map(losses), 2.0)
    rows.loc[(rows["lr"] == 3e-2) & (rows["dataset_size"] >= 10_000), "train_loss"] = 1.5  # no longer lowest there
    claim = follow_ups.envelope_kink(rows)
    below = np.polyfit(np.log10([100, 1_000, 3_000]), np.log10(1 - np.array([0.67, 0.9455, 0.9793])), 1)[0]
    above = np.log10((1 - 0.9872) / (1 - 0.9851))  # over one decade
    assert f"below it {below:+.4f} (3 T)" in claim.evidence and f"from it on {above:+.4f} (2 T)" in claim.evidence and claim.verdict == CONFIRMED


PAPER_MEMORIZING = {50_000: 0.994896, 200_000: 0.997488, 500_000: 0.998372, 700_000: 0.998443, 1_000_000: 0.998866}
PAPER_GENERALIZING = {50_000: 0.998151, 200_000: 0.998479, 500_000: 0.998579, 700_000: 0.998597, 1_000_000: 0.9986092}


def paper_envelope_rows(memorizing: dict, generalizing: dict) -> pd.DataFrame:
    return pd.DataFrame([run(t, lr=3e-2, regime="memorizing", train_loss=loss) for t, loss in memorizing.items()]
                        + [run(t, lr=DEFAULT_LR, regime="generalizing", train_loss=loss) for t, loss in generalizing.items()])  # fmt: skip


def test_the_kink_at_the_paper_setting_where_losses_sit_within_a_thousandth_of_one():
    """`envelope_paper`'s best memorizing (3e-2) and generalizing (1e-3; at 1,000,000 1e-4, by
    4e-6) runs, as the README's table gives them: the envelope spans training losses 0.995 to 0.9986, which move by about a
    thousandth per decade of T, while what they remove of the zero-output loss falls threefold.
    With T up to 1,000,000 one T lies above the crossover, so no verdict, but the memorizing
    side's slope (README: -0.40); with the preset's T = 2,000,000 (1e-3, measured on 2026-12-04)
    the measure confirms the kink (README: -0.40 below, -0.032 above)."""
    measured = paper_envelope_rows(PAPER_MEMORIZING, PAPER_GENERALIZING)
    assert follow_ups.crossover(follow_ups.envelope(follow_ups.envelope_runs(measured))) == (700_000.0, 1_000_000.0)
    claim = follow_ups.envelope_kink(measured)
    assert claim.verdict == NOT_MEASURED and "on each side of its crossover; below it, the log-log slope of what the envelope removes of the zero-output loss over its 3 T nearest the crossover is -0.4011;" in claim.evidence  # 200,000 to 700,000
    extended = paper_envelope_rows(PAPER_MEMORIZING, {**PAPER_GENERALIZING, 2_000_000: 0.9986396})
    claim = follow_ups.envelope_kink(extended)
    assert claim.verdict == CONFIRMED and "below it -0.4011 (3 T), from it on -0.0319 (2 T)" in claim.evidence, claim.evidence
    assert follow_ups.envelope_kink(extended.assign(normalize=False)).verdict == NOT_MEASURED  # the zero-output loss is known only for unit-norm examples
    assert follow_ups.branch_fits(follow_ups.envelope(extended.assign(normalize=False))) is None  # nor drawn
    averaged = follow_ups.envelope_kink(extended.assign(feature_reduction="mean", n_features=10_000, train_loss=extended["train_loss"] / 10_000))
    assert (averaged.verdict, averaged.evidence) == (claim.verdict, claim.evidence)  # the loss averaged over features: its zero-output loss is 1/n



def test_the_envelope_paper_preset_can_measure_the_kink_around_its_measured_crossover():
    """The crossover measured at the paper's setting lies between T = 700,000 and 1,000,000: the
    preset trains KINK_WINDOW T below it with its memorizing rate and at least BRANCH_MIN_POINTS
    above it with the generalizing one, so that one sweep can judge the kink."""
    configs = load_preset("envelope_paper").configs()
    below = {c.dataset_size for c in configs if c.dataset_size <= 700_000 and c.lr == 3e-2}
    above = {c.dataset_size for c in configs if c.dataset_size >= 1_000_000 and c.lr == DEFAULT_LR}
    assert len(below) >= follow_ups.KINK_WINDOW and len(above) >= follow_ups.BRANCH_MIN_POINTS, (below, above)


def test_the_envelope_preset_trains_several_inits_either_side_of_its_crossover():
    """Issue 8 asks for several learning rates and init seeds per T: the reduced setting's crossover
    lies between T = 5,000 and 10,000, and the KINK_WINDOW T below it (1,000 to 5,000) and
    BRANCH_MIN_POINTS above it (10,000 and 20,000) train every rate from 2 inits, so neither
    branch's fit rests on one init alone (50,000, the third T above, has one: its stack alone costs
    more training than the five T up to 20,000 together)."""
    configs = load_preset("envelope").configs()
    around = [c for c in configs if 1_000 <= c.dataset_size <= 20_000]
    by_t = {t: {(c.lr, c.init_seed) for c in around if c.dataset_size == t} for t in {c.dataset_size for c in around}}
    rates = {c.lr for c in configs}
    assert len(rates) >= 5 and len(by_t) == follow_ups.KINK_WINDOW + follow_ups.BRANCH_MIN_POINTS  # the issue: at least 5 rates
    for t, pairs in by_t.items():
        assert pairs == {(lr, seed) for lr in rates for seed in (0, 1)}, t


def test_the_kink_sweep_file_gathers_runs_of_the_preset():
    """docs/envelope_paper_kink.toml (README, "At the paper's setting") names runs of envelope_paper
    by the same configs, so `--reuse` of the preset's directories fills it without training:
    KINK_WINDOW T below the crossover at a memorizing rate and BRANCH_MIN_POINTS above it at the
    default one."""
    gathered = load_sweep(Path(__file__).parents[1] / "docs" / "envelope_paper_kink.toml").configs()
    preset = {c.run_id() for c in load_preset("envelope_paper").configs()}
    assert {c.run_id() for c in gathered} <= preset
    below = {c.dataset_size for c in gathered if c.dataset_size <= 700_000 and c.lr in (5e-3, 3e-2)}
    above = {c.dataset_size for c in gathered if c.dataset_size >= 1_000_000 and c.lr == DEFAULT_LR}
    assert len(below) == follow_ups.KINK_WINDOW and len(above) >= follow_ups.BRANCH_MIN_POINTS


def test_the_many_points_sweep_file_names_runs_of_the_preset():
    """docs/repeats_paper_many.toml (README, repeated data at the paper's setting) trains the same
    runs as repeats_paper, among them every run whose points can outnumber the 5 features."""
    gathered = {c.run_id() for c in load_sweep(Path(__file__).parents[1] / "docs" / "repeats_paper_many.toml").configs()}
    preset = load_preset("repeats_paper").configs()
    assert gathered <= {c.run_id() for c in preset} and len(gathered) == 6
    assert {c.run_id() for c in preset if c.repeated_points > _claims.PENTAGON_FEATURES and c.repeats > 8} <= gathered


def test_the_envelope_figure_draws_the_kinks_own_lines():
    """fig9's zoom beside the whole sweep draws the lines the kink claim measured."""
    rows = envelope_rows(memorizing_slope=-0.5, generalizing_slope=-0.1)
    views = _report.RunViews(pd.DataFrame(), {}, None, {})
    figure = _report.follow_up_figures(rows, views)["fig9_envelope"]
    fits = follow_ups.branch_fits(follow_ups.envelope(follow_ups.envelope_runs(rows)))
    zoom_lines = {l.get_label() for l in figure.axes[1].get_lines()}
    assert {f"fit {side} the crossover: slope {fit.slope:+.4f}" for side, fit in fits.items()} <= zoom_lines
    assert f"below it {fits['below'].slope:+.4f}" in follow_ups.envelope_kink(rows).evidence
    zoom_y = figure.axes[1].yaxis  # plain numbers within a decade, not powers of ten as wide as the panel's gap
    assert zoom_y.get_major_formatter()(0.0155, 0) == zoom_y.get_minor_formatter()(0.0155, 0) == "0.0155"


def test_a_kink_is_read_off_the_envelope_not_off_runs_beside_it():
    """A generalizing run far above the envelope at T = 1,000 and 3,000 (which would turn the
    generalizing branch's slope over its 4 T steeply positive) does not change the slope from the
    crossover on."""
    rows = envelope_rows(memorizing_slope=-0.5, generalizing_slope=-0.45)
    rows.loc[(rows["lr"] == DEFAULT_LR) & (rows["dataset_size"] <= 3_000) & (rows["dataset_size"] >= 1_000), "train_loss"] = 0.9999
    claim = follow_ups.envelope_kink(rows)
    assert claim.verdict == NOT_CONFIRMED and "from it on -0.4500 (2 T)" in claim.evidence


def test_a_kink_is_not_measured_without_a_generalizing_branch():
    claim = follow_ups.envelope_kink(envelope_rows(default_onset=100_000))  # one generalizing T
    assert claim.verdict == NOT_MEASURED and "on each side of its crossover; below it, the log-log slope" in claim.evidence and "from it on" not in claim.evidence


def test_a_kink_with_one_T_below_the_crossover_gives_the_slope_above_it():
    rows = envelope_rows(generalizing_slope=-0.1)
    claim = follow_ups.envelope_kink(rows[rows["dataset_size"] >= 3_000])  # 3,000 memorizes, 10,000 and up generalize
    assert claim.verdict == NOT_MEASURED and "below it" not in claim.evidence
    assert "; from it on, the log-log slope of what the envelope removes of the zero-output loss over its 2 T nearest the crossover is -0.1000;" in claim.evidence


@pytest.mark.parametrize("onset,verdict", [(1_000, CONFIRMED), (3_000, CONFIRMED), (10_000, NOT_CONFIRMED)])
def test_the_envelope_crossover_lies_past_the_default_onset(onset, verdict):
    claim = follow_ups.envelope_crossover(envelope_rows(default_onset=onset))
    assert claim.verdict == verdict and "between T = 3,000 and 10,000" in claim.evidence
    assert "500,000" in claim.paper and claim.comparison.startswith("T(1 - S) ≈ 55 vs 500")


def test_without_a_crossover_it_lies_beyond_the_largest_T():
    never = envelope_rows(memorizing_slope=0.0)  # memorizing at 0.01 everywhere
    claim = follow_ups.envelope_crossover(never)
    assert claim.verdict == CONFIRMED and "beyond the largest T = 100,000" in claim.evidence
    assert follow_ups.envelope_memorizes_below_crossover(never).verdict == CONFIRMED
    assert follow_ups.envelope_crossover(envelope_rows(default_onset=1e9)).verdict == NOT_MEASURED  # the default never generalizes


def test_an_envelope_that_generalizes_at_every_T_has_no_memorizing_side():
    """The generalizing runs lowest at every T: no crossover lies past the default recipe's onset
    (not confirmed), and there is no T below a crossover to judge (not measured)."""
    rows = envelope_rows(default_onset=0)
    rows.loc[rows["regime"] == "memorizing", "train_loss"] = 5.0
    crossing = follow_ups.envelope_crossover(rows)
    assert crossing.verdict == NOT_CONFIRMED and crossing.evidence.startswith("the envelope generalizes at every T")
    below = follow_ups.envelope_memorizes_below_crossover(rows)
    assert below.verdict == NOT_MEASURED and below.evidence.startswith("the envelope generalizes at every T")


def test_the_envelope_has_no_intermediate_regime_unless_one_is_lowest():
    claim = follow_ups.envelope_without_intermediate(envelope_rows())
    assert claim.verdict == CONFIRMED and "at the default learning rate 2 of 6 runs are intermediate" in claim.evidence
    assert follow_ups.envelope_without_intermediate(envelope_rows(middle_at=1_000)).verdict == NOT_CONFIRMED


def test_the_follow_up_claims_are_in_every_report():
    claims = follow_ups.follow_up_claims(cluster_rows())
    assert len(claims) == 12 and len({c.claim for c in claims}) == 12
    verdicts = [c.verdict for c in claims]
    assert verdicts[:7] == [NOT_MEASURED] * 7 and verdicts[7:] == [CONFIRMED] * 5


# --- clusters in memorizing solutions ----------------------------------------------------------


def cluster_rows(clustered: float = 0.8, shared: float = 0.7, from_t: float = 100, chance: float = 0.2, shared_chance: float = 0.1) -> pd.DataFrame:
    """The envelope rows with cluster scalars: memorizing runs store `clustered` of their examples
    in clusters, `shared` of them sharing a feature, from T = from_t on (none below); a random W
    on the same rows gives `chance` and `shared_chance` at every T."""
    rows = envelope_rows()
    above = rows["dataset_size"] >= from_t
    rows["cluster_count"] = np.where(above, 12, 0)
    rows["cluster_size_mean"] = np.where(above, 3.5, np.nan)
    rows["clustered_share"] = np.where(above, clustered, 0.0)
    rows["cluster_shared_feature_share"] = np.where(above, shared, np.nan)
    rows["cluster_chance_share"] = chance
    rows["cluster_chance_shared_feature_share"] = shared_chance
    return rows


def test_the_memorizing_branch_keeps_the_lowest_memorizing_run_per_T():
    rows = cluster_rows()
    branch = follow_ups.memorizing_branch(rows)
    assert list(branch["dataset_size"]) == list(map(float, ENVELOPE_T)) and set(branch["lr"]) == {3e-2}
    assert follow_ups.cluster_panel_run(rows) == [branch["run_id"].iloc[-1]]


@pytest.mark.parametrize("which", ["clustered", "shared"])
@pytest.mark.parametrize("inside", [True, False])
def test_clusters_need_both_shares_above_chance_by_their_margins(which, inside):
    margin = follow_ups.CLUSTERED_MIN_EXCESS if which == "clustered" else follow_ups.SHARED_MIN_EXCESS
    chance = 0.2 if which == "clustered" else 0.1
    claim = follow_ups.memorizing_clusters(cluster_rows(**{which: chance + just(margin, inside, passes_above=True)}))
    assert claim.verdict == (CONFIRMED if inside else NOT_CONFIRMED)
    assert "T = 10: no cluster (chance 20%)" in claim.evidence and "in 12 clusters (mean size 3.5; chance 20%)" in claim.evidence


def test_clusters_at_chance_level_are_not_confirmed_however_many():
    # data that cluster by themselves (one active feature per example): the model adds nothing
    assert follow_ups.memorizing_clusters(cluster_rows(clustered=0.7, shared=0.9, chance=0.6, shared_chance=0.8)).verdict == NOT_CONFIRMED


def test_clusters_are_judged_only_from_one_example_per_feature():
    # T(1 - S) >= 1 means T >= 100 here: a run without clusters at T = 10 does not count against it
    assert follow_ups.memorizing_clusters(cluster_rows(from_t=100)).verdict == CONFIRMED
    assert follow_ups.memorizing_clusters(cluster_rows(from_t=1_000)).verdict == NOT_CONFIRMED


def test_clusters_are_not_measured_without_memorizing_runs_that_measured_them():
    assert follow_ups.memorizing_clusters(envelope_rows()).verdict == NOT_MEASURED  # stored before clusters were measured
    assert follow_ups.memorizing_clusters(cluster_rows().drop(columns="cluster_chance_share")).verdict == NOT_MEASURED  # ... or their chance
    only_small = cluster_rows()
    only_small = only_small[only_small["dataset_size"] < 100]
    assert follow_ups.memorizing_clusters(only_small).verdict == NOT_MEASURED


def test_a_kink_is_not_measured_without_a_crossover_in_the_sweep():
    never = envelope_rows(memorizing_slope=0.0)  # memorizing lowest at every T: the envelope never switches
    claim = follow_ups.envelope_kink(never)
    assert claim.verdict == NOT_MEASURED and "no crossover inside the sweep" in claim.evidence
