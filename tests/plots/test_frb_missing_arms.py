"""Figures of `frb` drawn from run sets that lack an arm: each now fails with one line naming what the figure
needs and what the runs have, or its verdict says why a check cannot hold.

- fig2 without Monte Carlo or rate-equation runs, overall or at one configuration (it wrote "max |Δ| = 0.00 σ"
  and passed the solvers' agreement check, or skipped the configuration's NaN deviations);
- fig3 without Konus-Wind runs (its criteria panel came out empty) or without drawn samples (it wrote "no radius
  with t_trunc in 0.1–10 ms");
- fig3's verdict on a fit without runs: n/a, not "0 radii in the band".
"""

from __future__ import annotations

import math

import pytest

from plots.papers import frb
from tests.plots.test_frb_builders_mutation_gaps import (_dynamics, _luminosity_metrics, _radius_metrics, draw,
                                                         fake_ctx)


def _fig2_message(dynamics) -> str:
    with pytest.raises(ValueError) as err:
        draw(frb.draw_fig2, fake_ctx({frb.DYNAMICS: dynamics}))
    return str(err.value)


@pytest.mark.parametrize(("solver", "other"), [("monte_carlo", "rate"), ("rate", "monte_carlo")])
def test_fig2_without_a_solver_says_which(solver, other):
    dynamics = _dynamics()
    assert _fig2_message(dynamics[dynamics["solver"] != solver]) == (
        f"frb.fig2 (scenarios/frb/dynamics.yaml) needs runs of {solver}; the runs have {other}")


def test_fig2_without_the_rate_equations_at_one_configuration_names_it():
    dynamics = _dynamics()
    one = dynamics[~((dynamics["solver"] == "rate") & (dynamics["radius_cm"] == 1e8))]
    assert _fig2_message(one) == ("frb.fig2 at r = 10⁸ cm, L_X = 10⁴¹ erg/s needs runs of rate; the runs have "
                                  "monte_carlo")


def _fig3_message(radius) -> str:
    with pytest.raises(ValueError) as err:
        draw(frb.draw_fig3, fake_ctx({frb.VS_RADIUS: radius, frb.VS_LUMINOSITY: _luminosity_metrics()}))
    return str(err.value)


def test_fig3_without_konus_says_so():
    radius = _radius_metrics({("hxmt", "plasma_cutoff", 1e8): 2.0, ("integral", "plasma_cutoff", 1e8): 3.0})
    assert _fig3_message(radius) == ("frb.fig3's criteria panel (scenarios/frb/truncation_vs_radius.yaml) needs "
                                     "runs of konus; the runs have hxmt, integral")


def test_fig3_with_only_the_central_samples_says_so():
    radius = _radius_metrics({("konus", "plasma_cutoff", 1e8): 2.0})
    assert _fig3_message(radius[radius["sample"] == 0]) == (
        "frb.fig3 needs drawn samples (sample > 0) of scenarios/frb/truncation_vs_radius.yaml; the runs have none")


def test_fig3_verdict_shows_a_fit_without_runs_as_n_a():
    radius = _radius_metrics({("konus", "plasma_cutoff", 1e8): 2.0, ("hxmt", "plasma_cutoff", 1e8): 2.0})
    out = draw(frb.draw_fig3, fake_ctx({frb.VS_RADIUS: radius, frb.VS_LUMINOSITY: _luminosity_metrics()}))
    checks = {c.name.split(":")[0]: c for c in out.verdict.checks}
    assert math.isnan(checks["INTEGRAL"].ours) and not checks["INTEGRAL"].holds
    assert checks["Konus-Wind"].ours == 1.0 and checks["Konus-Wind"].holds
