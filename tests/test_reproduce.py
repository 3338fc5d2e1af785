"""Every preset end to end at a tiny scale: sweep, figures, report."""

import html
import subprocess
import sys

import pytest

from toydd import _presets
from toydd._sweep_spec import SweepError, parse_overrides, with_overrides

TINY = ["--set", "n_features=60", "--set", "steps=30", "--set", "test_size=100", "--set", "history_points=3", "--set", "data_seed=0", "--quiet"]
CLAIMS = [
    "Small-T hidden vectors form regular T-gons", "At large T exactly 5 features form a pentagon",
    "Test loss has a bump in the middle regime", "Norms peak in the memorization regime",
    "Generalization begins once each feature is seen about 10 times", "Three regimes in order",
]  # fmt: skip

# each follow-up preset's figure and the claims that its tiny run already measures (whatever the verdict)
FOLLOW_UPS = {
    # a tiny run generalizes nowhere, not even at T = ∞: every sparsity is left out, with that reason
    "onset": ("fig7_onset", []),
    # swept to T(1 - S) = 20 without an onset in a tiny run: short of the claim's range, left out
    "onset_paper": ("fig7_onset", []),
    "repeats": ("fig8_repeats", []),
    "envelope": ("fig9_envelope", ["Below the crossover the lowest training loss is a memorizing solution", "With the envelope there is no intermediate regime"]),
}
FOLLOW_UPS["repeats_paper"] = FOLLOW_UPS["repeats"]
FOLLOW_UPS["envelope_paper"] = FOLLOW_UPS["envelope"]


def toydd(*args):
    return subprocess.run([sys.executable, "-m", "toydd.cli", *args], capture_output=True, text=True, timeout=900)


# Each m compiles the training loop afresh (numba specializes on m): the smoke runs keep two of the
# heatmap's m values and train the appendix at m = 2, which the rest of the suite compiles anyway.
# envelope_paper's T up to 2,000,000 would make the smoke run the suite's slowest for nothing new,
# and envelope's first 70 runs (to T = 100,000, one init above T = 100) took 52 s of a fresh-clone CI on a 2-core AMD EPYC (AVX2):
# four of its T, dense and tree.
SMOKE_SUBSET = {
    "heatmap": ["--set", "n_hidden=[2, 3]"], "appendix": ["--set", "n_hidden=2"],
    "envelope_paper": ["--set", "dataset_size=[10_000, 50_000]"], "envelope": ["--set", "dataset_size=[10, 100, 1_000, 10_000]"],
}  # fmt: skip


@pytest.mark.parametrize("preset", _presets.names())
def test_every_preset_smoke_runs_and_reports(tmp_path, preset):
    out = tmp_path / preset
    done = toydd("reproduce", "--preset", preset, "--out", str(out), *TINY, *SMOKE_SUBSET.get(preset, []))
    assert done.returncode == 0, done.stderr[-2000:]
    page = (out / "report.html").read_text()
    assert page.count("<tr class=") >= 6 and "data:image/png;base64," in page
    recorded = (out / "sweep.toml").read_text()  # the preset as run, its overrides listed on top
    assert recorded.startswith(f"# toydd reproduce --preset {preset}, with these overrides") and "#   --set steps=30\n" in recorded
    figures = {p.name for p in (out / "figures").iterdir()}
    if preset.startswith("discrepancy"):
        assert {"fig10_discrepancy.png", "fig10_discrepancy.svg"} <= figures
    if preset in ("quick", "paper"):
        for claim in CLAIMS:
            assert claim in page
        assert {"fig1_small_t.png", "fig2_main.png", "fig3_norms.png", "fig6_training.gif"} <= figures
    if preset == "heatmap":
        assert "fig4_heatmap.png" in figures and "bigger model hurts" in page
    if preset == "appendix":
        assert "fig5_appendix.png" in figures and "Lower weight decay gives a bigger bump" in page
    if preset in FOLLOW_UPS:
        figure, claims = FOLLOW_UPS[preset]
        assert f"{figure}.png" in figures and f"{figure}.svg" in figures
        for claim in claims:  # measured: its row is not "not measured"
            row = page.split(html.escape(claim), 1)[1].split("</tr>", 1)[0]
            assert "<td>not measured</td>" not in row, (claim, row)
        assert "fig5_appendix.png" not in figures  # the onset preset's decay sweep is drawn in fig7 at one sparsity
    if preset == "onset":
        assert "its T = ∞ runs do not generalize either, so it has no onset to find" in html.unescape(page)


ONE_RUN = [*TINY, "--set", "restarts=1", "--set", "snapshots=false", "--workers", "1"]


def test_reproduce_refuses_a_folder_that_is_not_a_sweeps_and_touches_nothing(tmp_path):
    folder = tmp_path / "project"
    (folder / "figures").mkdir(parents=True)
    mine = {"sweep.toml": "# my sweep\n", "report.html": "<p>notes</p>", "figures/fig2_main.png": "mine"}
    for name, text in mine.items():
        (folder / name).write_text(text)
    done = toydd("reproduce", "--preset", "quick", "--out", str(folder), *ONE_RUN, "--set", "dataset_size=[5]")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "not a toydd sweep directory, and this would overwrite its sweep.toml" in done.stderr
    assert {name: (folder / name).read_text() for name in mine} == mine and sorted(p.name for p in folder.iterdir()) == ["figures", "report.html", "sweep.toml"]


def test_a_refused_reproduce_leaves_the_recorded_preset_as_it_was(tmp_path):
    """A sweep refused for mixing engines must not rewrite DIR/sweep.toml, which the report reads
    as the preset that made the stored runs."""
    out = tmp_path / "quick"
    assert toydd("reproduce", "--preset", "quick", "--out", str(out), *ONE_RUN, "--set", "dataset_size=[5]").returncode == 0
    recorded = (out / "sweep.toml").read_text()
    refused = toydd("reproduce", "--preset", "quick", "--out", str(out), *ONE_RUN, "--set", "dataset_size=[5, 6]", "--set", "engine=tree")
    assert refused.returncode == 2 and "stored runs were trained by engine cpu" in refused.stderr
    assert (out / "sweep.toml").read_text() == recorded


def test_figures_and_report_redraw_without_training(tmp_path):
    out = tmp_path / "q"
    assert toydd("reproduce", "--preset", "quick", "--out", str(out), *TINY).returncode == 0
    runs = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*")}
    (out / "report.html").unlink()
    for path in (out / "figures").iterdir():
        path.unlink()
    assert toydd("figures", str(out)).returncode == 0 and (out / "figures" / "fig2_main.svg").exists()
    assert toydd("report", str(out)).returncode == 0 and (out / "report.html").exists()
    assert runs == {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*")}


def test_list_describes_every_preset_with_its_cost():
    done = toydd("reproduce", "--list")
    assert done.returncode == 0
    for name in _presets.names():
        assert f"{name}: " in done.stdout
    assert "runs, about" in done.stdout


def test_list_leaves_torch_runs_out_of_its_estimate_and_says_so():
    """`--list` estimates with the numba engines' cost model; torch runs are named, not estimated."""
    numba = toydd("reproduce", "--list", "--preset", "quick")
    torch = toydd("reproduce", "--list", "--preset", "quick", "--set", "engine=torch")
    assert numba.returncode == 0 and torch.returncode == 0, torch.stderr
    assert "torch run(s)" not in numba.stdout and "quick: 60 runs, about 0 min on" not in numba.stdout
    assert "quick: 60 runs, about 0 min on" in torch.stdout
    assert "(not counting its 60 torch run(s), which the cost model does not cover)" in torch.stdout


def test_overrides_replace_axes_or_add_them():
    spec = _presets.load_preset("quick")
    assert len(spec.configs()) == 60
    assert len(with_overrides(spec, parse_overrides(("data_seed=0",))).configs()) == 15
    assert len(with_overrides(spec, parse_overrides(("n_hidden=[2, 3]",))).configs()) == 120
    # T is tied to quick's grids (4 restarts up to T = 200, 1 above): a list or a value selects
    # those runs as their grid has them, once each, and the point (T = 8, snapshots) where asked
    narrowed = with_overrides(spec, parse_overrides(("dataset_size=[10, 1000]",))).configs()
    assert sorted((c.dataset_size, c.restarts) for c in narrowed) == [(10, 4)] * 4 + [(1000, 1)] * 4
    with_point = with_overrides(spec, parse_overrides(("dataset_size=[8, inf]",))).configs()
    assert len(with_point) == 8 and sum(c.snapshots for c in with_point) == 1
    assert [(c.dataset_size, c.restarts) for c in with_overrides(spec, parse_overrides(("dataset_size=inf",))).configs()] == [("inf", 1)] * 4
    with pytest.raises(SweepError, match=r"^--set dataset_size: 7 is not among the values quick's grids give it \(3, 5, .*, 5000, inf\)"):
        with_overrides(spec, parse_overrides(("dataset_size=[5, 7]",)))
    # a value no grid has sets every run, as for any key: appendix's smoke runs at 30 steps
    appendix = with_overrides(_presets.load_preset("appendix"), parse_overrides(("steps=30",))).configs()
    assert {c.steps for c in appendix} == {30} and len(appendix) == 105  # decay 0.01 once, not once per grid
    # but a T no grid has is refused where the grids fix restarts apart: it would train with both
    with pytest.raises(SweepError, match=r"^--set dataset_size: 7 is not among .*, each grid with its own restarts; choose"):
        with_overrides(spec, parse_overrides(("dataset_size=7",)))
    # an axis the grids share stays an axis: more seeds everywhere; seeds are never tied
    assert len(with_overrides(spec, parse_overrides(("data_seed=[0, 5]",))).configs()) == 30
    onset_seeds = with_overrides(_presets.load_preset("onset"), parse_overrides(("data_seed=[0, 1, 2, 3, 4, 5]",))).configs()
    assert len(onset_seeds) > len(_presets.load_preset("onset").configs()) and {c.data_seed for c in onset_seeds if c.weight_decay == 0.1} == set(range(6))
    # onset's sparsities each have their own T: a sparsity selects its runs
    onset = with_overrides(_presets.load_preset("onset"), parse_overrides(("sparsity=0.99",))).configs()
    assert {c.sparsity for c in onset} == {0.99} and {c.dataset_size for c in onset} == {100, 200, 500, 1_000, 2_000, 5_000, "inf"}
    # heatmap has one grid: a list adds its values (the preset file's way to add T = 10,000)
    heatmap = with_overrides(_presets.load_preset("heatmap"), parse_overrides(("dataset_size=[10, 10000]",))).configs()
    assert {c.dataset_size for c in heatmap} == {10, 10_000} and len(heatmap) == 56
    for item, message in [("dataset_size=[5,10", r"^--set dataset_size: '\[5,10' is not valid TOML"), ("steps=3e2", "^--set steps: steps must be an integer, got 300.0")]:
        with pytest.raises(SweepError, match=message):
            with_overrides(spec, parse_overrides((item,)))
    with pytest.raises(SweepError, match="expected KEY=VALUE"):
        parse_overrides(("steps",))
    with pytest.raises(SweepError, match="^--set: unknown config key 'n_hiden' .did you mean 'n_hidden'"):
        with_overrides(spec, parse_overrides(("n_hiden=3",)))
    done = toydd("reproduce", "--preset", "nope", "--out", "x")
    assert done.returncode != 0 and "unknown preset 'nope'" in done.stderr


def test_report_of_a_sweep_with_no_complete_run(tmp_path):
    from toydd._report import report
    from toydd._sweep import write_results

    write_results(tmp_path, [])
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "fig2_main.png").write_bytes(b"an earlier run's figure")
    drawn = toydd("figures", str(tmp_path))
    assert drawn.returncode == 0 and f"no figures: the complete runs in {tmp_path} support none yet" in drawn.stdout
    assert not (tmp_path / "figures" / "fig2_main.png").exists()  # no results support it any more
    page = report(tmp_path).read_text()
    assert "<h2>Cost</h2>" in page and "<td>runs</td><td>0</td>" in page
    done = toydd("results", str(tmp_path))
    assert done.returncode == 0 and "(no complete runs)" in done.stdout


def test_estimates_count_steps_pairs_and_nonzeros():
    from toydd import Config

    base = Config(n_features=1_000, sparsity=0.99, dataset_size=2_000, steps=1_000)
    pairs = 1_000 * 2_000
    step = (_presets.FEATURE_SECONDS + _presets.BLOCKED_FEATURE_SECONDS) * 1_000 + _presets.PAIR_SECONDS * pairs + _presets.NONZERO_SECONDS * pairs * 0.01
    assert _presets.run_seconds(base) == pytest.approx(1_000 * step)
    few = base.replace(dataset_size=64)  # one chunk of at most FEW_EXAMPLES: the feature-inner loop, no blocked part
    assert _presets.run_seconds(few) == pytest.approx(1_000 * (_presets.FEATURE_SECONDS * 1_000 + (_presets.PAIR_SECONDS + _presets.NONZERO_SECONDS * 0.01) * 64_000))
    wide = base.replace(n_hidden=13)  # beyond WIDE_UNITS every chunk is feature-inner: no blocked part
    assert _presets.run_seconds(wide) == pytest.approx(1_000 * (_presets.FEATURE_SECONDS * 1_000 + _presets.PAIR_SECONDS * pairs * _presets.hidden_factor(13) + _presets.NONZERO_SECONDS * pairs * 0.01))
    endless = base.replace(dataset_size="inf", batch_size=2_000)  # the same pairs, and a batch sampled every step
    assert _presets.run_seconds(endless) == pytest.approx(1_000 * (step + _presets.SAMPLE_SECONDS * 2_000))
    assert _presets.run_seconds(base.replace(restarts=4)) == pytest.approx(4_000 * step)
    assert _presets.run_seconds(base.replace(sparsity=0.9)) > _presets.run_seconds(base)  # more nonzeros, same pairs
    assert _presets.run_seconds(base.replace(n_hidden=4)) > _presets.run_seconds(base)
    # m > 2: measured 1.2, 2.05, 2.8, 3.2, 4.7, 6.5 and 8.0 times the m = 2 pair cost at m = 3, 4, 5,
    # 6, 8, 10 and 12 (_presets); within 15%
    for m, measured in ((3, 1.2), (4, 2.05), (5, 2.8), (6, 3.2), (8, 4.7), (10, 6.5), (12, 8.0)):
        assert _presets.hidden_factor(m) == pytest.approx(measured, rel=0.15)
    # beyond WIDE_UNITS the feature-inner loop's factor, measured 8.4 and 9.6 at m = 10, 12 when they took it
    assert _presets.hidden_factor(13) == pytest.approx(0.8 * 13) and _presets.hidden_factor(13) > _presets.hidden_factor(12)
    assert _presets.hidden_factor(1) == _presets.hidden_factor(2) == 1.0
    # measured by an earlier session: about 0.93 ms a step on one free core; the model must land near it
    assert 0.6e-3 < _presets.run_seconds(base) / 1_000 < 1.3e-3


def test_estimates_of_tree_runs_follow_the_measured_whole_runs():
    """Runs that auto gives the tree engine are costed from its whole-run measurements, not from
    the dense pass's pairs; engine = "cpu" keeps the dense model."""
    from toydd import Config

    paper = Config(n_features=10_000, sparsity=0.999, dataset_size=100_000, steps=50_000)
    assert paper.engine == "auto"
    # measured: the paper preset's quickest run at T = 100,000, 1,834 s single-threaded (README)
    assert _presets.run_seconds(paper) == pytest.approx(1_834, rel=0.01)
    reduced = Config(n_features=1_000, sparsity=0.99, dataset_size=20_000, steps=50_000)
    # measured 135 s on both cores (270 core-seconds); single-threaded, the paper setting's runs
    # take about half the core-seconds of one run on both cores (445 against 846 at T = 20,000)
    assert 120 < _presets.run_seconds(reduced) < 280
    dense = _presets.run_seconds(paper.replace(engine="cpu"))
    assert dense > 3 * _presets.run_seconds(paper)
    assert _presets.run_seconds(paper.replace(engine="tree")) == _presets.run_seconds(paper)
    assert _presets.run_seconds(paper.replace(dataset_size=500_000)) > _presets.run_seconds(paper)
    # measured at T = 500,000: 0.182 and 0.187 s a step, single-threaded side by side (README)
    assert _presets.run_seconds(paper.replace(dataset_size=500_000)) == pytest.approx(50_000 * 0.1845, rel=0.01)
    # between and beyond the measured T: monotone, and linear in T past the largest (an extrapolation)
    sizes = [200, 500, 1_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000]
    costs = [_presets.run_seconds(paper.replace(dataset_size=t)) for t in sizes]
    assert costs == sorted(costs) and _presets.tree_rest_seconds(1_000_000) == pytest.approx(2 * _presets.tree_rest_seconds(500_000))
    assert _presets.run_seconds(paper.replace(n_hidden=3)) > _presets.run_seconds(paper)  # auto: dense at m = 3
    assert _presets.run_seconds(paper.replace(sparsity=0.99)) > 1.5 * _presets.run_seconds(paper)  # 10 times the nonzeros
    # outside the measured range (infinite data, small n) engine = "tree" is costed as the dense pass
    for outside in (paper.replace(dataset_size="inf"), paper.replace(n_features=500)):
        assert _presets.run_seconds(outside.replace(engine="tree")) == _presets.run_seconds(outside.replace(engine="cpu"))


def test_the_report_shows_the_sweep_that_last_planned_the_directory(tmp_path):
    """`reproduce` writes DIR/sweep.toml; a `toydd sweep` of another file on DIR afterwards must
    not leave the report showing the preset for its runs."""
    from toydd._report import report

    out = tmp_path / "q"
    assert toydd("reproduce", "--preset", "quick", "--out", str(out), *ONE_RUN, "--set", "dataset_size=[5]").returncode == 0
    assert "--set dataset_size=[5]" in (out / "report.html").read_text()
    mine = tmp_path / "mine.toml"
    mine.write_text("# my own sweep\n[base]\nn_features = 60\nsteps = 30\ntest_size = 100\nhistory_points = 3\n[grid]\ndataset_size = [5, 6]\n")
    assert toydd("sweep", str(mine), "--out", str(out), "--quiet", "--workers", "1").returncode == 0
    page = report(out).read_text()
    assert "# my own sweep" in page and "--set dataset_size" not in page
