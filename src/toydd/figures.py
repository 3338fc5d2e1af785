"""The paper's figures as matplotlib Figures, for notebooks and scripts.

From a sweep directory, every figure its results support (nothing is written):

    figs = toydd.figures.sweep_figures("runs/quick")   # {"fig2_main": Figure, ...}
    figs["fig2_main"]                                   # shown inline in a notebook

or one figure from a results table (`toydd.read_results(DIR)`), e.g. `heatmap_figure(results)`; the
follow-ups' figures draw from the runs their claims read (`toydd._follow_up_claims.onset_runs(results)`,
`repeat_runs`, `envelope_runs`): `onset_figure`, `repeats_figure`, `envelope_figure` (its kink
lines: `toydd._follow_up_claims.branch_fits(toydd._follow_up_claims.envelope(runs))`, `BranchFit`s).
`toydd figures DIR` saves the same figures as PNG and SVG files.
"""

from ._figures import BranchFit as BranchFit
from ._figures import RepeatPanel as RepeatPanel
from ._figures import VectorPanel as VectorPanel
from ._figures import appendix_figure as appendix_figure
from ._figures import envelope_figure as envelope_figure
from ._figures import heatmap_figure as heatmap_figure
from ._figures import main_figure as main_figure
from ._figures import norms_figure as norms_figure
from ._figures import onset_figure as onset_figure
from ._figures import regime_by_t as regime_by_t
from ._figures import repeats_figure as repeats_figure
from ._figures import runs_at_common_setting as runs_at_common_setting
from ._figures import small_t_figure as small_t_figure
from ._figures import training_animation as training_animation
from ._claims import main_series as main_series
from ._report import sweep_animation as sweep_animation
from ._report import sweep_figures as sweep_figures

__all__ = [
    "BranchFit", "RepeatPanel", "VectorPanel", "appendix_figure", "envelope_figure", "heatmap_figure", "main_figure", "main_series",
    "norms_figure", "onset_figure", "regime_by_t", "repeats_figure", "runs_at_common_setting", "small_t_figure",
    "sweep_animation", "sweep_figures", "training_animation",
]  # fmt: skip
