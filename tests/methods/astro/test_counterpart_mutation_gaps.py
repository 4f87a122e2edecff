"""Gaps in the tests of `methods.astro.counterpart` found by a mutation audit.

Closed here:
- `Counterpart` refuses α = ±2 exactly (the cutoff energy E_p / (2 + α) is infinite or zero there), non-finite
  values of every field, and a zero peak energy or lower energy bound; the photon density refuses a zero or
  infinite radius; `nominal` refuses a zero luminosity rather than falling back to the published one;
- `sample` keeps α below its upper bound +1.95 and redraws non-positive peak energies, fluxes and distances
  (the published ranges never reach those bounds, so they are exercised with wide stand-in ranges): a distance
  truncated at zero is not the folded normal that 4π d² F would give without the bound.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from methods.astro import counterpart as cp

GOOD = {"alpha": -0.5, "peak_kev": 80.0, "luminosity_erg_s": 1e40, "e_min_kev": 1.0, "e_max_kev": 1000.0}


@pytest.mark.parametrize("alpha", [2.0, -2.0])
def test_alpha_bounds_are_open(alpha):
    with pytest.raises(ValueError, match="alpha"):
        cp.Counterpart(**{**GOOD, "alpha": alpha})
    inside = cp.Counterpart(**{**GOOD, "alpha": 0.999 * alpha})
    assert math.isfinite(inside.cutoff_kev) and inside.cutoff_kev > 0


@pytest.mark.parametrize("key", list(GOOD))
@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_fields_are_refused(key, bad):
    with pytest.raises(ValueError, match=key):
        cp.Counterpart(**{**GOOD, key: bad})


@pytest.mark.parametrize("key", ["peak_kev", "e_min_kev"])
def test_zero_peak_or_lower_bound_is_refused(key):
    with pytest.raises(ValueError, match=key):
        cp.Counterpart(**{**GOOD, key: 0.0})


@pytest.mark.parametrize("radius_cm", [0.0, math.inf, math.nan])
def test_zero_or_non_finite_radius_is_refused(radius_cm):
    with pytest.raises(ValueError, match="radius_cm"):
        cp.nominal("konus").density_per_kev(np.array([10.0]), radius_cm)


def test_zero_luminosity_is_refused_not_replaced_by_the_published_one():
    with pytest.raises(ValueError, match="luminosity_erg_s"):
        cp.nominal("konus", 0.0)


def test_sampled_alpha_and_peak_stay_inside_their_bounds(monkeypatch):
    # α = 1.5 (−0.1 / +1.0): a third of the upper half-normal lies above 1.95; E_p = 2 ± 4 keV: 31 % below 0
    wide = cp.SpectrumFit("wide", "test", "test", alpha=cp.Measured(1.5, 0.1, 1.0), peak_kev=cp.Measured(2.0, 4.0, 4.0))
    monkeypatch.setitem(cp.FITS, "wide", wide)
    draws = cp.sample("wide", 500, np.random.default_rng(0), luminosity=1e40)
    alpha = np.array([d.alpha for d in draws])
    peak = np.array([d.peak_kev for d in draws])
    assert alpha.max() < 1.95 and peak.min() > 0


def test_sampled_flux_is_redrawn_above_zero(monkeypatch):
    monkeypatch.setattr(cp, "PEAK_FLUX_ERG_CM2_S", cp.Measured(1e-6, 2e-6, 2e-6))  # 31 % of draws below 0
    lum = np.array([d.luminosity_erg_s for d in cp.sample("konus", 500, np.random.default_rng(1))])
    assert lum.min() > 0


def test_sampled_distance_is_truncated_at_zero_not_folded(monkeypatch):
    # fixed flux F, distance 1 ± 2 kpc truncated to d > 0: P(d < 1) = [Φ(0) − Φ(−1/2)] / [1 − Φ(−1/2)] = 0.277;
    # a folded normal |d| (the bound dropped: 4π d² F is even in d) would give Φ(0) − Φ(−1) = 0.341
    monkeypatch.setattr(cp, "PEAK_FLUX_ERG_CM2_S", cp.Measured(1e-6))
    monkeypatch.setattr(cp, "DISTANCE_KPC", cp.Measured(1.0, 2.0, 2.0))
    n = 4000
    lum = np.array([d.luminosity_erg_s for d in cp.sample("konus", n, np.random.default_rng(2))])
    share = (norm.cdf(0.0) - norm.cdf(-0.5)) / norm.sf(-0.5)
    assert share == pytest.approx(0.277, abs=1e-3)
    assert np.mean(lum < cp.luminosity_erg_s(1e-6, 1.0)) == pytest.approx(share, abs=4 * math.sqrt(share / n))
