"""Gaps in the tests of the FRB verdicts found by a mutation audit, closed here on hand-built frames.

Closed: fig2's share of configurations cut off (plasma cut-off) within 10 ms, the edge included, a configuration
that is not cut off not counting, and the Monte Carlo agreement bound (4 standard errors, |deviation|, the edge
included); fig3's count of radii with a median in 0.1-10 ms per fit (edges included) and the strict fall of the
truncation time with the counterpart's luminosity at r = 1e9 cm (1.4 GHz, plasma cut-off) only, checked from two
luminosities on.
"""

from __future__ import annotations

import pandas as pd
import pytest

from plots.papers import frb


def holding(verdict) -> list[bool]:
    return [check.holds for check in verdict.checks]


# ------------------------------------------------------------------------------------------------------- fig2
def _dynamics(cutoffs_ms: dict[str, tuple[float, bool]], deviations: list[float]) -> pd.DataFrame:
    rows = []
    for config, (t_ms, cut) in cutoffs_ms.items():
        for solver in ("rate", "monte_carlo"):
            rows.append({"config": config, "solver": solver, "time_s": 1e-3, "t_trunc_plasma_cutoff_s": t_ms / 1e3,
                         "truncated_plasma_cutoff": cut, "mc_deviation_sigma": 0.0})
    for i, deviation in enumerate(deviations):
        rows[2 * (i % len(cutoffs_ms)) + 1]["mc_deviation_sigma"] = deviation
    return pd.DataFrame(rows)


@pytest.mark.parametrize("cutoffs, holds", [
    ({"a": (10.0, True), "b": (0.5, True)}, True),     # 10 ms: the edge belongs to the band
    ({"a": (10.5, True), "b": (0.5, True)}, False),
    ({"a": (5.0, False), "b": (0.5, True)}, False),    # within 10 ms but not cut off
])
def test_fig2_every_configuration_cut_off_within_10_ms(cutoffs, holds):
    assert holding(frb.verdict_fig2(_dynamics(cutoffs, [0.0]))) == [holds, True]


@pytest.mark.parametrize("deviations, holds", [([4.0, -1.0], True), ([-4.0], True), ([1.0, -4.25], False),
                                               ([4.25], False)])
def test_fig2_monte_carlo_within_four_standard_errors(deviations, holds):
    data = _dynamics({"a": (1.0, True), "b": (1.0, True)}, deviations)
    assert holding(frb.verdict_fig2(data)) == [True, holds]


# ------------------------------------------------------------------------------------------------------- fig3
def _radius(medians: dict[str, list[float]], fixed: dict[float, float]) -> pd.DataFrame:
    rows = [{"series": "frb200428", "fit": fit, "criterion": "plasma_cutoff", "radius_cm": 10.0 ** (7 + i),
             "median_ms": m} for fit, values in medians.items() for i, m in enumerate(values)]
    # another criterion at ms scale: not the one judged
    rows += [{"series": "frb200428", "fit": "hxmt", "criterion": "opacity", "radius_cm": 1e8, "median_ms": 1.0}]
    for lx, t in fixed.items():
        # other radii, frequencies and criteria rise with the luminosity: not judged
        rows.append({"series": "fixed_luminosity", "criterion": "plasma_cutoff", "frequency_hz": 6e8,
                     "radius_cm": 1e9, "luminosity_x_erg_s": lx, "t_trunc_ms": lx / 1e38})
        rows.append({"series": "fixed_luminosity", "criterion": "plasma_cutoff", "frequency_hz": 1.4e9,
                     "radius_cm": 1e9, "luminosity_x_erg_s": lx, "t_trunc_ms": t})
        rows.append({"series": "fixed_luminosity", "criterion": "plasma_cutoff", "frequency_hz": 1.4e9,
                     "radius_cm": 1e8, "luminosity_x_erg_s": lx, "t_trunc_ms": lx / 1e38})
        rows.append({"series": "fixed_luminosity", "criterion": "opacity", "frequency_hz": 1.4e9,
                     "radius_cm": 1e9, "luminosity_x_erg_s": lx, "t_trunc_ms": lx / 1e38})
    return pd.DataFrame(rows)


FALLING = {1e39: 100.0, 1e40: 10.0, 1e41: 1.0}


def test_fig3_each_fit_needs_a_radius_in_the_band_edges_included():
    data = _radius({"hxmt": [0.1, 1e4], "konus": [10.0, 1e4], "integral": [0.05, 11.0]}, FALLING)
    assert holding(frb.verdict_fig3(data)) == [True, True, False, True]


def test_fig3_truncation_must_fall_strictly_with_luminosity():
    medians = {"hxmt": [1.0], "konus": [1.0], "integral": [1.0]}
    assert frb.verdict_fig3(_radius(medians, FALLING)).status == "reproduced"
    flat = {1e39: 1000.0, 1e40: 1000.0, 1e41: 1.0}  # both at the horizon: a tie does not show it
    assert holding(frb.verdict_fig3(_radius(medians, flat))) == [True, True, True, False]
    rising = {1e39: 100.0, 1e40: 10.0, 1e41: 20.0}
    assert holding(frb.verdict_fig3(_radius(medians, rising))) == [True, True, True, False]


def test_fig3_two_luminosities_are_enough_to_check_the_fall():
    medians = {"hxmt": [1.0], "konus": [1.0], "integral": [1.0]}
    verdict = frb.verdict_fig3(_radius(medians, {1e39: 10.0, 1e40: 20.0}))
    assert holding(verdict) == [True, True, True, False]
