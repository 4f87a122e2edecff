"""The gallery entries of the fidelity study (plots/papers/harness_fidelity.py) drawn from the committed tables."""

from __future__ import annotations

import pandas as pd
import pytest

import plots.papers.harness_fidelity as figure_module
from plots.registry import FIGURES
from plots.runner import PROJECT_ROOT


class _Ctx:
    """The slice of FigureContext the draw functions use: declared inputs, read from the repository."""

    def read_csv(self, path: str) -> pd.DataFrame:
        assert path in figure_module.INPUTS, f"{path} is not a declared input"
        return pd.read_csv(PROJECT_ROOT / path)


@pytest.fixture(scope="module")
def points() -> pd.DataFrame:
    missing = [p for p in figure_module.INPUTS if not (PROJECT_ROOT / p).is_file()]
    if missing:
        pytest.skip(f"fidelity tables not committed yet: {missing}")
    return figure_module.load_points(_Ctx())


def test_both_entries_are_registered_with_the_claim():
    for fig_id in ("harness.fidelity", "harness.fidelity_errors"):
        spec = FIGURES.get(fig_id)
        assert "15%" in spec.claim and "Vidur" in spec.claim
        assert set(spec.inputs) == set(figure_module.INPUTS)


def test_figure_draws_every_setting_and_reports_the_median(points):
    from matplotlib.figure import Figure

    out = figure_module.draw_fidelity(_Ctx())
    assert isinstance(out.figure, Figure)
    assert len(out.figure.axes) == 2 * len(figure_module._panel_order(points))
    here = points[points["panel"] != figure_module.QUIET_HOST_PANEL]
    assert out.ours.startswith(f"median |error| {here['error_pct'].abs().median():.1f}%")


def test_error_table_has_one_overall_row_matching_the_points(points):
    table = figure_module.draw_fidelity_errors(_Ctx()).table
    overall = table[table["setting"] == "all on the 2-core VM"]
    assert len(overall) == 1
    here = points[points["panel"] != figure_module.QUIET_HOST_PANEL]
    assert overall["points"].iloc[0] == len(here)
    assert overall["median |error| %"].iloc[0] == pytest.approx(here["error_pct"].abs().median(), abs=0.05)
