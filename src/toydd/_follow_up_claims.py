"""The follow-up experiments' claims (docs/science.md section 7, issue 8): where generalization
begins (`onset`), repeated data (`repeats`) and the learning-rate envelope (`envelope`, with the
clusters its memorizing solutions store), each one function of a sweep's results table returning
a `Claim`; their thresholds are the constants below, with their sources.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import _clusters, _figures, _repeats
from ._claims import (
    NOT_CONFIRMED, NOT_MEASURED, ONSET_RUN_SHARE, PENTAGON_FEATURES, RUN_SHARE, SIGHTINGS_RANGE, Claim, finite_runs, number_text, ratio_text, enough_runs,
    verdict_of, with_paper, within_size_factor, onset_sightings,
)  # fmt: skip
from ._config import Config
from ._sweep import row_config

# --- the follow-ups' thresholds (docs/science.md section 7, issue 8) ---------------------------

# Onsets agree when the largest is within this factor of the smallest: the onset preset's T(1 - S)
# steps by 2 to 2.5 (1, 2, 5, 10, 20, 50), so onsets one grid step apart agree, two do not.
ONSET_FACTOR = 2.5
# "Generalization starts once every feature has been seen roughly 10 times" (section 7).
SPEC_ONSET_SIGHTINGS = 10.0
# Repeated data: the line R = 0.4 T/N of issue 8 (after the follow-up of section 7).
REPEAT_LINE_COEFFICIENT = 0.4
# "At larger T/N": training sets large enough to generalize without the repeats, judged by the
# runs at that T whose repeated point is not memorized: at least REPEAT_RUN_SHARE of them generalizing.
# The boundary's T/N must span at least this factor: R doubles from value to value, so over a span
# of 4 a boundary one R step off moves the fitted slope by 0.5, within BOUNDARY_SLOPE_RANGE; over a
# span of 2 one step moves it by 1, and a slope of 1 cannot be told from 0.
BOUNDARY_MIN_SPAN = 4.0
# A memorized share of the runs at one (T, R): half, as for the onset (the map has one seed).
REPEAT_RUN_SHARE = 0.5
# R proportional to T/N is a slope of 1 in log R against log T/N. The preset's R and T/N both
# double from value to value, so a boundary one R step off at one end of T/N = 2 ... 8 moves the
# fitted slope by 0.5: slopes from 0.5 to 1.5 are proportional within the grid's resolution
# (BOUNDARY_MIN_SPAN).
BOUNDARY_SLOPE_RANGE = (0.5, 1.5)
# The learning-rate envelope needs a choice of learning rates at each T.
ENVELOPE_MIN_LEARNING_RATES = 2
# The envelope either side of its crossover is fitted (a line in log T, log of what the model removes
# of the zero-output loss, 1 - training loss: `loss_removed`) over at least BRANCH_MIN_POINTS and at
# most KINK_WINDOW of its T nearest the crossover: a kink is local, and a memorizing branch is no
# power law at the smallest T (it removes nearly all of the loss there).
BRANCH_MIN_POINTS = 2
KINK_WINDOW = 3
# A kink: the slope changes at the crossover by more than KINK_MIN_RELATIVE_CHANGE of the steeper
# side's, and that side is at least KINK_MIN_SLOPE steep. Judgment: near the crossover training
# losses sit just below the zero-output loss, 1 (0.95 to 0.99 on the reduced setting, 0.995 to
# 0.9986 on the paper's), so the training loss itself moves by hundredths or thousandths of its
# value, and no one threshold on its slope serves both settings; what the model removes, 1 - loss,
# shrinks on a memorizing branch as T examples share its capacity (threefold or more per decade of
# T on either setting) and stays nearly level on a generalizing one. A kink is a slope that
# halves or more (or turns) where the envelope changes branch; a steeper side of at least 0.1 (a
# fifth of 1 - loss per decade of T) keeps two nearly level stretches from reading as one.
KINK_MIN_RELATIVE_CHANGE = 0.5
KINK_MIN_SLOPE = 0.1
# The July 2023 update's crossover at the paper's setting (section 7): about T = 500,000 at S = 0.999.
SPEC_CROSSOVER_T = 500_000.0
SPEC_CROSSOVER_SPARSITY = 0.999


# --- the claims: where generalization begins, repeated data, the learning-rate envelope ---------


def follow_up_claims(results: pd.DataFrame) -> list[Claim]:
    """The claims of docs/science.md section 7 that the onset, repeats and envelope presets test."""
    return [
        onset_agrees_across_sparsity(results), onset_near_ten_across_sparsity(results), onset_independent_of_decay(results),
        repeat_boundary_proportional(results), few_repeats_change_nothing(results), memorized_points_displace_features(results),
        many_points_displace_all(results),
        envelope_memorizes_below_crossover(results), envelope_kink(results), envelope_crossover(results), envelope_without_intermediate(results),
        memorizing_clusters(results),
    ]  # fmt: skip


def onset_runs(results: pd.DataFrame) -> pd.DataFrame:
    """Finite-T runs that differ only in sparsity, T and seeds (at the most common other
    settings); empty unless at least two sparsities have two or more T."""
    runs = _figures.runs_at_common_setting(finite_runs(results), ("sparsity", "dataset_size", "data_seed", "init_seed"))
    swept = runs.groupby("sparsity")["dataset_size"].nunique()
    return runs[runs["sparsity"].isin(swept.index[swept >= 2])].reset_index(drop=True) if (swept >= 2).sum() >= 2 else runs.iloc[:0]


def decay_onset_runs(results: pd.DataFrame) -> pd.DataFrame:
    """Finite-T runs at the sparsity with the most weight decays that differ only in weight decay,
    T and seeds; empty unless two or more weight decays have two or more T."""
    finite = finite_runs(results)
    if not len(finite):
        return finite
    decays = finite.groupby("sparsity")["weight_decay"].nunique()
    at = finite[finite["sparsity"] == decays.idxmax()]
    runs = _figures.runs_at_common_setting(at, ("weight_decay", "dataset_size", "data_seed", "init_seed"))
    swept = runs.groupby("weight_decay")["dataset_size"].nunique()
    return runs[runs["weight_decay"].isin(swept.index[swept >= 2])].reset_index(drop=True) if (swept >= 2).sum() >= 2 else runs.iloc[:0]


def onsets_by(runs: pd.DataFrame, column: str, results: pd.DataFrame) -> dict:
    """{value of `column`: (onset T(1 - S) or None, largest T(1 - S) swept, whether it has no onset
    to find: `results` has T = ∞ runs at that value and `runs`' other settings, and they do not
    generalize (`limit_generalizes`))}."""
    limits = limit_generalizes(results, runs, column)
    return {value: (onset_sightings(group), float(_figures.sightings(group).max()), limits.get(value) is False) for value, group in runs.groupby(column)}


def limit_generalizes(results: pd.DataFrame, runs: pd.DataFrame, column: str) -> dict:
    """{value of `column`: whether at least ONSET_RUN_SHARE of the infinite-data runs in `results`
    at that value and at `runs`' other settings generalize}, for the values that have such runs. A
    setting whose infinite-data runs do not generalize has no generalizing regime for an onset to
    begin (n = 1,000, S = 0.999: no feature reaches a dimensionality of 0.1 even there)."""
    infinite = results[~np.isfinite(results["dataset_size"])]
    if not len(runs) or not len(infinite):
        return {}
    for other in _figures.SETTING_COLUMNS:
        if other not in (column, "data_seed", "init_seed") and other in runs and other in infinite:
            infinite = infinite[infinite[other] == runs[other].iloc[0]]
    return {value: bool((group["regime"] == "generalizing").mean() >= ONSET_RUN_SHARE) for value, group in infinite.groupby(column)}


def _onset_text(onsets: dict, name: str, left_out=None) -> str:
    """The onsets by value; a value without one is marked left out where its infinite-data runs do
    not generalize either, or where `left_out(largest T(1 - S) swept, onsets found)` says so (by
    default `_onsets_agree`'s rule)."""
    found = [onset for onset, _, _ in onsets.values() if onset is not None]
    left_out = left_out or (lambda top, found: bool(found) and top < ONSET_FACTOR * min(found))
    parts = []
    for value, (onset, top, no_onset) in onsets.items():
        if onset is not None:
            parts.append(f"{name} {value:g}: {number_text(onset)}")
        elif no_onset:
            parts.append(f"{name} {value:g}: none up to {number_text(top)} (left out: its T = ∞ runs do not generalize either, so it has no onset to find)")
        else:
            parts.append(f"{name} {value:g}: none up to {number_text(top)}" + (" (left out: not swept far enough to tell)" if left_out(top, found) else ""))
    return "onset T(1 - S) by " + "; ".join(parts)


def _onsets_agree(onsets: dict) -> tuple[bool, float] | None:
    """(whether the onsets agree within ONSET_FACTOR, largest / smallest found), or None with
    fewer than two found. A setting without an onset disagrees when it was swept to
    ONSET_FACTOR times the smallest onset found (its onset lies beyond), unless its infinite-data
    runs do not generalize either (it has none); else it is left out."""
    found = [onset for onset, _, _ in onsets.values() if onset is not None]
    if len(found) < 2:
        return None
    ratio = max(found) / min(found)
    beyond = [top for onset, top, no_onset in onsets.values() if onset is None and not no_onset and top >= ONSET_FACTOR * min(found)]
    return ratio <= ONSET_FACTOR and not beyond, ratio


def onset_agrees_across_sparsity(results: pd.DataFrame) -> Claim:
    """The onsets (`onset_sightings`) of the sparsities agree within ONSET_FACTOR in T(1 - S)."""
    claim = "Across sparsities the onset of generalization lines up in T(1 - S)"
    onsets = onsets_by(onset_runs(results), "sparsity", results)
    agreed = _onsets_agree(onsets)
    if agreed is None:
        return Claim(claim, "needs onsets at two or more sparsities (each swept over T)", NOT_MEASURED)
    ok, ratio = agreed
    return Claim(claim, f"{_onset_text(onsets, 'S =')}: largest / smallest onset {ratio:.2g} (agree within ×{ONSET_FACTOR:g})", verdict_of(ok))


def onset_near_ten_across_sparsity(results: pd.DataFrame) -> Claim:
    """Every sparsity's onset lies in SIGHTINGS_RANGE around SPEC_ONSET_SIGHTINGS. A sparsity
    without an onset counts against it only when swept past the range (its onset lies beyond);
    swept less far, it is left out (its onset may still lie inside)."""
    claim = f"At every sparsity generalization begins near T(1 - S) = {SPEC_ONSET_SIGHTINGS:g}"
    onsets = onsets_by(onset_runs(results), "sparsity", results)
    low, high = SIGHTINGS_RANGE
    judged = {s: (onset, top) for s, (onset, top, no_onset) in onsets.items() if onset is not None or (top >= high and not no_onset)}
    text = _onset_text(onsets, "S =", left_out=lambda top, found: top < high)
    if len(judged) < 2:
        return Claim(claim, "needs two or more sparsities, each swept over T" + (f" ({text})" if onsets else ""), NOT_MEASURED)
    inside = all(onset is not None and low <= onset <= high for onset, _ in judged.values())
    found = [onset for onset, _ in judged.values() if onset is not None]
    median = f"; median onset {number_text(float(np.median(found)))}, ×{number_text(float(np.median(found)) / SPEC_ONSET_SIGHTINGS)} the {SPEC_ONSET_SIGHTINGS:g} of docs/science.md section 7" if found else ""
    return Claim(claim, f"{text} (each must lie in {low:g} to {high:g}){median}", verdict_of(inside))


def onset_independent_of_decay(results: pd.DataFrame) -> Claim:
    """At one sparsity the onsets of the weight decays agree within ONSET_FACTOR."""
    claim = "Weight decay does not move the onset of generalization"
    runs = decay_onset_runs(results)
    onsets = onsets_by(runs, "weight_decay", results)
    agreed = _onsets_agree(onsets)
    if agreed is None:
        return Claim(claim, "needs onsets at two or more weight decays (each swept over T at one sparsity)", NOT_MEASURED)
    ok, ratio = agreed
    evidence = f"at S = {runs['sparsity'].iloc[0]:g}, {_onset_text(onsets, 'decay')}: largest / smallest onset {ratio:.2g} (agree within ×{ONSET_FACTOR:g})"
    return Claim(claim, evidence, verdict_of(ok))


def repeat_runs(results: pd.DataFrame, points: int | None = 1) -> pd.DataFrame:
    """Finite-T runs with repeated examples (exactly `points` of them, or any number if None),
    differing only in T, R, the number of repeated points and seeds."""
    if "repeated_memorized" not in results:  # no run with repeated examples (or runs from before they existed)
        return results.iloc[:0].assign(repeated_memorized=pd.Series(dtype=int))
    runs = finite_runs(results)
    runs = runs[runs["repeated_points"] > 0] if points is None else runs[runs["repeated_points"] == points]
    return _figures.runs_at_common_setting(runs, ("dataset_size", "repeats", "repeated_points", "data_seed", "init_seed"))


def repeat_boundary(runs: pd.DataFrame) -> float | None:
    """The R where the repeated point starts being memorized, in runs at one T: the geometric mean
    of the smallest R from which on at least REPEAT_RUN_SHARE of the runs memorize it and the R
    below it; None where it is memorized at every R swept, or not at the largest."""
    share = (runs["repeated_memorized"] > 0).groupby(runs["repeats"]).mean().sort_index()
    first = None
    for repeats, memorized in share[::-1].items():
        if memorized < REPEAT_RUN_SHARE:
            break
        first = repeats
    if first is None or first == share.index[0]:
        return None
    below = share.index[list(share.index).index(first) - 1]
    return float(np.sqrt(first * below))


def generalizing_background(runs: pd.DataFrame) -> pd.Series:
    """Per T (index dataset_size): whether at least REPEAT_RUN_SHARE of the runs whose repeated
    points are not memorized generalize, i.e. the training set generalizes around the repeats."""
    plain = runs[runs["repeated_memorized"] == 0]
    return (plain["regime"] == "generalizing").groupby(plain["dataset_size"]).mean() >= REPEAT_RUN_SHARE


def repeat_boundary_proportional(results: pd.DataFrame) -> Claim:
    """Over the T whose background generalizes (`generalizing_background`), the log-log slope of
    the boundary R (`repeat_boundary`) against T/N lies in BOUNDARY_SLOPE_RANGE; not measured
    unless the boundaries' T/N span BOUNDARY_MIN_SPAN."""
    claim = "The boundary of memorizing a repeated point follows R ∝ T/N"
    runs = repeat_runs(results)
    need = f"needs a boundary inside the swept R at T/N spanning a factor {BOUNDARY_MIN_SPAN:g} or more, each with a generalizing background"
    if not len(runs):
        return Claim(claim, need, NOT_MEASURED)
    background = generalizing_background(runs)
    sizes = runs.groupby(["dataset_size", "n_features"]).groups
    unjudged = sorted(float(t / n) for (t, n) in sizes if t not in background.index)  # every run memorizes its point
    outside = sorted(float(t / n) for (t, n) in sizes if t in background.index and not background[t])
    runs = runs[runs["dataset_size"].map(lambda t: bool(background.get(t, False)))]
    boundaries = {t / n: repeat_boundary(group) for (t, n), group in runs.groupby(["dataset_size", "n_features"])}
    found = {x: r for x, r in boundaries.items() if r is not None}
    text = "; ".join(f"T/N = {x:g}: " + (f"R ≈ {r:.3g} (R / (T/N) = {r / x:.2g})" if r is not None else "outside the swept R") for x, r in boundaries.items())
    if outside:
        text += ("; " if text else "") + "left out, the training set not generalizing without the repeats: T/N = " + ", ".join(f"{x:g}" for x in outside)
    if unjudged:
        text += ("; " if text else "") + "left out, no run with the point not memorized to judge the training set by: T/N = " + ", ".join(f"{x:g}" for x in unjudged)
    if len(found) < 2 or max(found) / min(found) < BOUNDARY_MIN_SPAN:
        return Claim(claim, need + (f" ({text})" if text else ""), NOT_MEASURED)
    # on a grid of doublings the slope takes values such as 0.5 exactly, up to rounding: the range is inclusive
    slope = round(float(np.polyfit(np.log(list(found)), np.log(list(found.values())), 1)[0]), 9)
    low, high = BOUNDARY_SLOPE_RANGE
    evidence = f"boundary {text}; slope of log R against log T/N {slope:.2f} (proportional: 1, within {low:g} to {high:g}); the line R = {REPEAT_LINE_COEFFICIENT:g} T/N of issue 8"
    return Claim(claim, evidence, verdict_of(low <= slope <= high))


def _displacement_text(runs: pd.DataFrame) -> str:
    return "; ".join(f"T = {_figures.t_label(row.dataset_size)}, {int(row.repeated_points)} × R = {int(row.repeats)}: {int(row.repeated_memorized)} memorized, {_figures.features_text(row.features_learned)}"
                     for row in runs.sort_values(["repeated_points", "dataset_size", "repeats"]).itertuples())  # fmt: skip


def _countable(runs: pd.DataFrame) -> pd.Series:
    """Whether each run's repeated points could all be counted memorized: the top-fraction rule
    admits at most `_repeats.memorized_cap` of them, so beyond it a count says nothing of the rest."""
    caps = [_repeats.memorized_cap(t, k, r) for t, k, r in zip(runs["dataset_size"], runs["repeated_points"], runs["repeats"])]
    return runs["repeated_points"] <= pd.Series(caps, index=runs.index, dtype=float)


def few_repeats_change_nothing(results: pd.DataFrame) -> Claim:
    """Runs whose repeated points (R > 1 copies) are not memorized learn as many features as the
    run at the same T without copies (R = 1; their median), in at least RUN_SHARE of them."""
    claim = "A few repeats behave as before: an unmemorized repeated point leaves the features as they were"
    runs = repeat_runs(results, points=None)
    judged = runs.iloc[:0]
    if len(runs):
        baseline = runs[runs["repeats"] == 1].groupby("dataset_size")["features_learned"].median()
        judged = runs[(runs["repeats"] > 1) & (runs["repeated_memorized"] == 0) & runs["dataset_size"].isin(baseline.index)]
    if not len(judged):
        return Claim(claim, "needs runs with repeated points not memorized, and a run at the same T without copies (R = 1)", NOT_MEASURED)
    good = int((judged["features_learned"].values == baseline.reindex(judged["dataset_size"]).values).sum())
    base = ", ".join(f"{v:g} at T = {_figures.t_label(t)}" for t, v in baseline.items() if t in set(judged["dataset_size"]))
    evidence = f"{good} of {len(judged)} runs (needs {RUN_SHARE:.0%}) learn as many features as without copies ({base}): {_displacement_text(judged)}"
    return Claim(claim, evidence, verdict_of(enough_runs(good, len(judged))))


def memorized_points_displace_features(results: pd.DataFrame) -> Claim:
    """In runs with 1 to PENTAGON_FEATURES memorized repeated points, all of them countable
    (`_countable`), the features learned fall short of those of the runs at the same T whose
    repeated points are not memorized (their median) by the points memorized, in at least
    RUN_SHARE of them."""
    claim = "Each memorized repeated point displaces one of the 5 features"
    runs = repeat_runs(results, points=None)
    if not len(runs):
        return Claim(claim, f"needs runs with 1 to {PENTAGON_FEATURES} memorized repeated points, and runs at the same T without", NOT_MEASURED)
    baseline = runs[runs["repeated_memorized"] == 0].groupby("dataset_size")["features_learned"].median()
    judged = runs[(runs["repeated_memorized"] >= 1) & (runs["repeated_memorized"] <= PENTAGON_FEATURES)]
    countable = _countable(judged)
    capped = int((~countable).sum())
    judged = judged[countable]
    unmatched = int((~judged["dataset_size"].isin(baseline.index)).sum())
    judged = judged[judged["dataset_size"].isin(baseline.index)]
    left_out = "".join([
        f"; {capped} run(s) left out: more repeated points than the top-{_repeats.MEMORIZED_TOP_FRACTION:.1%} rule can count" if capped else "",
        f"; {unmatched} run(s) left out: no run at their T without a memorized point to compare with" if unmatched else "",
    ])  # fmt: skip
    if not len(judged):
        return Claim(claim, f"needs runs with 1 to {PENTAGON_FEATURES} memorized repeated points, and runs at the same T without" + left_out, NOT_MEASURED)
    expected = baseline.reindex(judged["dataset_size"]).values - judged["repeated_memorized"].values
    good = int((judged["features_learned"].values == expected).sum())
    base = ", ".join(f"{v:g} at T = {_figures.t_label(t)}" for t, v in baseline.items() if t in set(judged["dataset_size"]))
    evidence = f"{good} of {len(judged)} runs (needs {RUN_SHARE:.0%}) learn (features without a memorized point: {base}) − (points memorized) features: {_displacement_text(judged)}{left_out}"
    return Claim(claim, evidence, verdict_of(enough_runs(good, len(judged))))


def many_points_displace_all(results: pd.DataFrame) -> Claim:
    """Runs with more than PENTAGON_FEATURES memorized repeated points learn no feature, in at
    least RUN_SHARE of them."""
    claim = f"With more than {PENTAGON_FEATURES} memorized repeated points no feature is left"
    runs = repeat_runs(results, points=None)
    judged = runs[runs["repeated_memorized"] > PENTAGON_FEATURES]
    if not len(judged):
        many = runs[runs["repeated_points"] > PENTAGON_FEATURES]
        caps = "; ".join(f"{int(row.repeated_points)} points at T = {_figures.t_label(row.dataset_size)}: {int(row.repeated_memorized)} memorized, "
                         f"at most {_repeats.memorized_cap(row.dataset_size, row.repeated_points, row.repeats)} countable" for row in many.itertuples())  # fmt: skip
        return Claim(claim, f"needs runs with more than {PENTAGON_FEATURES} memorized repeated points" + (f" ({caps})" if caps else ""), NOT_MEASURED)
    good = int((judged["features_learned"] == 0).sum())
    return Claim(claim, f"{good} of {len(judged)} runs learn no feature (needs {RUN_SHARE:.0%}): {_displacement_text(judged)}", verdict_of(enough_runs(good, len(judged))))


def envelope_runs(results: pd.DataFrame) -> pd.DataFrame:
    """Finite-T runs that differ only in T, learning rate and init (at the most common other
    settings, one dataset seed); empty unless some T has ENVELOPE_MIN_LEARNING_RATES rates."""
    runs = _figures.runs_at_common_setting(finite_runs(results), ("dataset_size", "lr", "init_seed"))
    if not len(runs) or runs.groupby("dataset_size")["lr"].nunique().max() < ENVELOPE_MIN_LEARNING_RATES:
        return runs.iloc[:0]
    return runs


def envelope(runs: pd.DataFrame) -> pd.DataFrame:
    """The run with the lowest final training loss at each T (index dataset_size)."""
    best = runs.loc[runs.groupby("dataset_size")["train_loss"].idxmin()]
    return best.set_index("dataset_size").sort_index()


def crossover(best: pd.DataFrame) -> tuple[float, float] | None:
    """(last T before, first T of) the envelope's final stretch of generalizing runs, or None
    when its largest T is not generalizing or every T is (no crossover inside the sweep)."""
    general = (best["regime"] == "generalizing").values
    if not general[-1] or general.all():
        return None
    first = len(general) - int(np.argmin(general[::-1]))  # index where the final generalizing stretch begins
    return float(best.index[first - 1]), float(best.index[first])


def crossover_t(best: pd.DataFrame) -> float | None:
    """The crossover as one T: the geometric mean of `crossover`'s two sizes."""
    found = crossover(best)
    return None if found is None else float(np.sqrt(found[0] * found[1]))


def _regime_text(best: pd.DataFrame) -> str:
    return ", ".join(f"{_figures.t_label(t)}: {regime[:3]} (lr {lr:g})" for t, regime, lr in zip(best.index, best["regime"], best["lr"]))


def envelope_memorizes_below_crossover(results: pd.DataFrame) -> Claim:
    """Every envelope run below the crossover (or at every T, without one) is memorizing."""
    claim = "Below the crossover the lowest training loss is a memorizing solution"
    runs = envelope_runs(results)
    if runs["dataset_size"].nunique() < 2:
        return Claim(claim, f"needs {ENVELOPE_MIN_LEARNING_RATES} or more learning rates at two or more T", NOT_MEASURED)
    best = envelope(runs)
    found = crossover(best)
    if found is None and (best["regime"] == "generalizing").all():
        return Claim(claim, f"the envelope generalizes at every T ({_regime_text(best)})", NOT_MEASURED)
    below = best if found is None else best[best.index <= found[0]]
    where = f"crossover between T = {_figures.t_label(found[0])} and {_figures.t_label(found[1])}" if found else "no crossover inside the sweep"
    memorizing = bool((below["regime"] == "memorizing").all())
    return Claim(claim, f"{where}; envelope regime by T: {_regime_text(best)}", verdict_of(memorizing))


def nominal_zero_output_loss(runs: pd.DataFrame) -> float | None:
    """The training loss of predicting zero for `runs` (one setting, as `envelope_runs` keeps):
    with unit-norm examples the config's `feature_scale`, 1 for the paper's sum over features
    (docs/science.md section 3; less the share of examples with no active feature, S^n, 4.5e-5 at
    n = 10,000, S = 0.999); None without unit-norm examples, where it depends on the data."""
    config = row_config(runs.iloc[0]) if len(runs) else None
    return config.feature_scale if config is not None and config.normalize else None


def loss_removed(train_loss, zero_loss: float):
    """What a model removes of the zero-output loss, as a share of it: 1 - train_loss / zero_loss."""
    return 1.0 - train_loss / zero_loss


def branch_fits(best: pd.DataFrame) -> dict[str, _figures.BranchFit] | None:
    """{side: line} fitted to log10 `loss_removed` by the envelope (`best`, from `envelope`) against
    log10 T on either side of its crossover: "below" over its last KINK_WINDOW T up to the
    crossover, "above" over its first KINK_WINDOW from it (losses below the zero-output loss only);
    None without a crossover or a known zero-output loss (`nominal_zero_output_loss`). A side with
    fewer than BRANCH_MIN_POINTS T is left out."""
    found, zero_loss = crossover(best), nominal_zero_output_loss(best)
    if found is None or zero_loss is None:
        return None
    fits = {}
    for side, part in (("below", best[best.index <= found[0]].iloc[-KINK_WINDOW:]), ("above", best[best.index >= found[1]].iloc[:KINK_WINDOW])):
        removed = loss_removed(part["train_loss"].values, zero_loss)
        keep = removed > 0
        if keep.sum() >= BRANCH_MIN_POINTS:
            slope, intercept = np.polyfit(np.log10(part.index.values[keep]), np.log10(removed[keep]), 1)
            fits[side] = _figures.BranchFit(float(slope), float(intercept), part.index.values[keep].astype(float), removed[keep], part["regime"].values[keep])
    return fits


def envelope_kink(results: pd.DataFrame) -> Claim:
    """The log-log slopes of what the envelope removes of the zero-output loss just below and just
    above its crossover (`branch_fits`, envelope points only: runs off the envelope and a branch's
    stretch past the crossover, where the other branch is lower, do not shape the kink) differ by
    more than KINK_MIN_RELATIVE_CHANGE of the steeper one, itself at least KINK_MIN_SLOPE. Not
    measured with fewer than BRANCH_MIN_POINTS T on a side; the evidence then gives the other
    side's slope where it has them."""
    claim = "The envelope has a kink at the crossover: the branches' slopes differ"
    runs = envelope_runs(results)
    if runs["dataset_size"].nunique() < 2:
        return Claim(claim, f"needs {ENVELOPE_MIN_LEARNING_RATES} or more learning rates at two or more T", NOT_MEASURED)
    if nominal_zero_output_loss(runs) is None:
        return Claim(claim, "needs unit-norm examples (normalize = true), whose zero-output loss is known", NOT_MEASURED)
    best = envelope(runs)
    fits = branch_fits(best)
    if fits is None:  # the branches may bend differently, but the envelope follows one of them throughout
        return Claim(claim, f"no crossover inside the sweep, so the envelope has no kink to measure: {_regime_text(best)}", NOT_MEASURED)
    if len(fits) < 2:  # the side that has its points is measured all the same
        measured = "".join(f"; {'below it' if side == 'below' else 'from it on'}, the log-log slope of what the envelope removes of the "
                           f"zero-output loss over its {len(fit.sizes)} T nearest the crossover is {fit.slope:+.4f}" for side, fit in fits.items())
        return Claim(claim, f"needs {BRANCH_MIN_POINTS} or more T of the envelope on each side of its crossover{measured}; envelope regime by T: "
                            f"{_regime_text(best)}", NOT_MEASURED)  # fmt: skip
    below, above = fits["below"].slope, fits["above"].slope
    below_points, above_points = len(fits["below"].sizes), len(fits["above"].sizes)
    change, steeper = abs(below - above), max(abs(below), abs(above))
    evidence = (f"log-log slope of what the envelope removes of the zero-output loss (1 - training loss) over its T nearest the crossover: "
                f"below it {below:+.4f} ({below_points} T), from it on {above:+.4f} ({above_points} T): change {change:.4f}, "
                f"{change / steeper if steeper else 0.0:.0%} of the steeper "
                f"(a kink: above {KINK_MIN_RELATIVE_CHANGE:.0%}, the steeper at least {KINK_MIN_SLOPE:g}; no noise model)")  # fmt: skip
    return Claim(claim, evidence, verdict_of(steeper >= KINK_MIN_SLOPE and change > KINK_MIN_RELATIVE_CHANGE * steeper))


def default_onset(results: pd.DataFrame) -> float | None:
    """The first T from which on at least ONSET_RUN_SHARE of the envelope's runs at the default
    learning rate generalize, or None."""
    runs = envelope_runs(results)
    runs = runs[runs["lr"] == Config().lr]
    seen = onset_sightings(runs) if len(runs) else None
    return None if seen is None else seen / (1 - float(runs["sparsity"].iloc[0]))


def envelope_crossover(results: pd.DataFrame) -> Claim:
    """The envelope is not yet generalizing at a T where runs at the default learning rate already
    generalize (`default_onset`): the envelope keeps memorizing past the default recipe's onset."""
    claim = "With the envelope, memorization wins past the default recipe's onset"
    runs = envelope_runs(results)
    if runs["dataset_size"].nunique() < 2:
        return Claim(claim, f"needs {ENVELOPE_MIN_LEARNING_RATES} or more learning rates at two or more T", NOT_MEASURED)
    best, onset = envelope(runs), default_onset(results)
    found = crossover(best)
    if onset is None:
        return Claim(claim, f"runs at the default learning rate {Config().lr:g} never generalize here; envelope: {_regime_text(best)}", NOT_MEASURED)
    sparsity = float(runs["sparsity"].iloc[0])
    if found is None and best["regime"].iloc[-1] == "generalizing":
        return Claim(claim, f"the envelope generalizes at every T; default onset T = {_figures.t_label(onset)}", NOT_CONFIRMED)
    # the envelope is not yet generalizing at `last`: the crossover lies above it
    last = float(best.index[-1]) if found is None else found[0]
    where = f"beyond the largest T = {_figures.t_label(last)}" if found is None else f"between T = {_figures.t_label(found[0])} and {_figures.t_label(found[1])}"
    measured = crossover_t(best) if found is not None else last
    evidence = (f"crossover {where} (T(1 - S) ≈ {number_text(measured * (1 - sparsity))}); runs at the default learning rate "
                f"{Config().lr:g} generalize from T = {_figures.t_label(onset)}")  # fmt: skip
    verdict = verdict_of(last >= onset)
    paper_seen = SPEC_CROSSOVER_T * (1 - SPEC_CROSSOVER_SPARSITY)
    paper = f"crossover near T = {_figures.t_label(SPEC_CROSSOVER_T)} (T(1 - S) = {paper_seen:g}) at the paper's setting (docs/science.md section 7)"
    details = f"T(1 - S) {'>' if found is None else '≈'} {number_text(measured * (1 - sparsity))} vs {paper_seen:g} ({ratio_text(measured * (1 - sparsity), paper_seen)})"
    return with_paper(Claim(claim, evidence, verdict), runs, paper, within_size_factor(measured * (1 - sparsity), paper_seen) if found else None, details)


# docs/science.md section 7: memorization stores clusters "from about T = 1k" at the paper's setting
# (S = 0.999), where each feature appears in T(1 - S) = 1 training example on average.
CLUSTERS_FROM_SEEN = 1.0
# A solution stores clusters when, beyond what a random W clusters on the same rows (the chance
# levels of `_clusters`), a quarter more of its represented examples sit in clusters and a quarter
# more of its clusters share an active feature.
CLUSTERED_MIN_EXCESS = 0.25
SHARED_MIN_EXCESS = 0.25
CLUSTER_COLUMNS = ("clustered_share", "cluster_chance_share", "cluster_shared_feature_share", "cluster_chance_shared_feature_share")


def memorizing_branch(results: pd.DataFrame) -> pd.DataFrame:
    """The envelope's memorizing branch: per T the memorizing run with the lowest training loss
    among those whose clusters and their chance levels were measured (m = 2, no repeated
    examples, by toydd versions that measure them)."""
    runs = envelope_runs(results)
    if not len(runs) or not set(CLUSTER_COLUMNS) <= set(runs):
        return runs.iloc[:0]
    runs = runs[(runs["regime"] == "memorizing") & runs["clustered_share"].notna() & runs["cluster_chance_share"].notna()]
    if not len(runs):
        return runs
    return runs.loc[runs.groupby("dataset_size")["train_loss"].idxmin()].sort_values("dataset_size")


def _clusters_text(branch: pd.DataFrame) -> str:
    parts = []
    for _, run in branch.iterrows():
        t = _figures.t_label(run["dataset_size"])
        chance = f"chance {run['cluster_chance_share']:.0%}"
        if not run["cluster_count"]:
            parts.append(f"T = {t}: no cluster ({chance})")
            continue
        parts.append(f"T = {t}: {run['clustered_share']:.0%} of the stored examples in {int(run['cluster_count'])} clusters "
                     f"(mean size {number_text(run['cluster_size_mean'])}; {chance}), {run['cluster_shared_feature_share']:.0%} of them "
                     f"sharing a feature (chance {np.nan_to_num(run['cluster_chance_shared_feature_share']):.0%})")  # fmt: skip
    return "; ".join(parts)


def memorizing_clusters(results: pd.DataFrame) -> Claim:
    """Every run of the memorizing branch at T(1 - S) >= CLUSTERS_FROM_SEEN keeps at least
    CLUSTERED_MIN_EXCESS more of its stored examples in clusters (`_clusters`) than a random W on
    its rows, and at least SHARED_MIN_EXCESS more of its clusters share an active feature."""
    claim = f"Memorizing solutions store clusters of examples that share an active feature from T(1 - S) = {CLUSTERS_FROM_SEEN:g}"
    branch = memorizing_branch(results)
    if not len(branch):
        return Claim(claim, "needs memorizing envelope runs at m = 2 whose clusters and their chance levels were measured", NOT_MEASURED)
    seen = branch["dataset_size"] * (1 - branch["sparsity"])
    above = branch[seen >= CLUSTERS_FROM_SEEN * (1 - 1e-9)]  # T(1 - S) in floating point: 100 (1 - 0.99) may round below 1
    if not len(above):
        return Claim(claim, f"no memorizing envelope run at T(1 - S) >= {CLUSTERS_FROM_SEEN:g}: {_clusters_text(branch)}", NOT_MEASURED)
    clustered = above["clustered_share"] - above["cluster_chance_share"] >= CLUSTERED_MIN_EXCESS
    shared = above["cluster_shared_feature_share"].fillna(0.0) - above["cluster_chance_shared_feature_share"].fillna(0.0) >= SHARED_MIN_EXCESS
    evidence = (f"memorizing branch of the envelope: {_clusters_text(branch)} (a cluster: neighbouring hidden directions closer than "
                f"{_clusters.CLUSTER_GAP:g} of the even spacing; chance: a random W on the same rows; the shares must exceed "
                f"chance by {CLUSTERED_MIN_EXCESS:.0%} and {SHARED_MIN_EXCESS:.0%})")  # fmt: skip
    return Claim(claim, evidence, verdict_of(bool((clustered & shared).all())))


def cluster_panel_run(results: pd.DataFrame) -> list[str]:
    """The memorizing-branch run drawn in the clusters figure: the one at the largest T."""
    branch = memorizing_branch(results)
    return [] if len(branch) < 2 else [str(branch["run_id"].iloc[-1])]


def envelope_without_intermediate(results: pd.DataFrame) -> Claim:
    """No envelope run is intermediate (the July 2023 update: the middle regime is an optimization
    failure)."""
    claim = "With the envelope there is no intermediate regime"
    runs = envelope_runs(results)
    if runs["dataset_size"].nunique() < 2:
        return Claim(claim, f"needs {ENVELOPE_MIN_LEARNING_RATES} or more learning rates at two or more T", NOT_MEASURED)
    best = envelope(runs)
    middle = int((best["regime"] == "intermediate").sum())
    default = runs[runs["lr"] == Config().lr]
    contrast = f"; at the default learning rate {int((default['regime'] == 'intermediate').sum())} of {len(default)} runs are intermediate" if len(default) else ""
    return Claim(claim, f"{middle} of {len(best)} envelope runs are intermediate ({_regime_text(best)}){contrast}", verdict_of(middle == 0))
