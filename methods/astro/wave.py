"""The FRB as a strong electromagnetic wave: field amplitude and strength parameter a₀ vs radius, and the Lorentz
factor it gives leptons (arXiv 2505.14413's cascade driver; formulas standard, Gaussian units).

An isotropic-equivalent luminosity L at radius r has peak field E₀ = √(2L/c) / r (L = c E₀² r² / 2), and
a₀ = e E₀ / (m_e c ω), ω = 2πν; for L = 10³⁸ erg s⁻¹, ν = 1.4 GHz: a₀ ≈ 1.63 × 10¹¹ / r[cm].
Leptons are taken to quiver at the rms transverse momentum of a linearly polarised wave, γ_e = √(1 + a₀²/2),
with the forward (ponderomotive) drift suppressed — our assumption: with the drift, leptons co-move with the
radially streaming X-rays and see them un-boosted (γ(1 − β_r) = 1 in a vacuum plane wave), which is the
``radial`` geometry of `methods.astro.field` and gives no cascade.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from methods.astro.constants import C_CM_S, E_STATC, M_E_G

FloatArray = NDArray[np.float64]


def _positive(name: str, value: ArrayLike) -> FloatArray:
    array = np.asarray(value, dtype=np.float64)
    if np.any(~np.isfinite(array)) or np.any(array <= 0):
        raise ValueError(f"{name}: must be finite and > 0, got {value}")
    return array


def field_amplitude_statv_cm(luminosity_erg_s: ArrayLike, radius_cm: ArrayLike) -> FloatArray:
    """Peak electric field E₀ [statV cm⁻¹] at radius r."""
    lum = _positive("luminosity_erg_s", luminosity_erg_s)
    r = _positive("radius_cm", radius_cm)
    return np.sqrt(2.0 * lum / C_CM_S) / r


def strength_parameter(luminosity_erg_s: ArrayLike, frequency_hz: ArrayLike, radius_cm: ArrayLike) -> FloatArray:
    """a₀ = e E₀ / (m_e c ω)."""
    nu = _positive("frequency_hz", frequency_hz)
    e0 = field_amplitude_statv_cm(luminosity_erg_s, radius_cm)
    return E_STATC * e0 / (M_E_G * C_CM_S * 2.0 * math.pi * nu)


def lepton_gamma(a0: ArrayLike) -> FloatArray:
    """Lorentz factor of a lepton quivering in the wave: √(1 + a₀²/2) (module docstring)."""
    a0 = np.asarray(a0, dtype=np.float64)
    return np.sqrt(1.0 + 0.5 * a0**2)


def energy_density_erg_cm3(luminosity_erg_s: ArrayLike, radius_cm: ArrayLike) -> FloatArray:
    """FRB energy density L / (4π r² c) [erg cm⁻³]."""
    lum = _positive("luminosity_erg_s", luminosity_erg_s)
    r = _positive("radius_cm", radius_cm)
    return lum / (4.0 * math.pi * r**2 * C_CM_S)
