"""The X-ray counterpart of FRB 200428 (SGR 1935+2154): fitted burst spectra, peak flux, distance, and the photon
field they make at a radius r — the target photons of the pair cascade of arXiv 2505.14413.

Published fits, all cutoff power laws in photon number, dN/dE ∝ E^α exp(−E (2 + α) / E_p) (α = −Γ):
- Insight-HXMT, the hard X-ray peaks coincident with the radio pulses: Γ ≈ 1.4, E_cut ≈ 60 keV, i.e.
  E_p = (2 − Γ) E_cut ≈ 36 keV (Ge et al. 2023, ApJ 953, 67; no error bars carried here, so not sampled).
- Konus-Wind: α = −0.52 (+0.57 / −0.50), E_p = 82 (+12 / −9) keV; 16-ms peak energy flux
  (9.10 ± 2.29) × 10⁻⁶ erg cm⁻² s⁻¹ in 20–200 keV (Ridnaia et al. 2021, Nat. Astron. 5, 372; GCN 27669).
- INTEGRAL/IBIS: Γ = 0.7 (+0.4 / −0.2), E_p = 65 ± 5 keV (Mereghetti et al. 2020, ApJL 898, L29).
- Distance 4.4 (+2.8 / −1.3) kpc (dust-scattering rings, as adopted by Mereghetti et al. 2020).

Our choices (stated in the figures): every fit is normalised to the one published 16-ms peak flux (Konus-Wind,
20–200 keV), so the fits differ in shape only; the shape is extended over 1–1000 keV (``E_MIN_KEV``..``E_MAX_KEV``);
the burst luminosity is L_X = 4π d² F_peak (isotropic, 20–200 keV). Observational ranges are propagated by
sampling: asymmetric errors as split normals (each side its own σ), truncated to physical values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from methods.astro.constants import C_CM_S, ERG_PER_KEV, FOUR_PI, KPC_CM

FloatArray = NDArray[np.float64]

E_MIN_KEV = 1.0
E_MAX_KEV = 1000.0
BAND_KEV = (20.0, 200.0)  # band of the published peak flux


@dataclass(frozen=True)
class Measured:
    """A published value with its (possibly asymmetric) 1σ errors; zero errors: fixed when sampling."""

    value: float
    minus: float = 0.0
    plus: float = 0.0

    def sample(self, rng: np.random.Generator, n: int, low: float = -math.inf, high: float = math.inf) -> FloatArray:
        """Split-normal draws truncated to (low, high) (redrawn until inside)."""
        out = np.empty(n)
        todo = np.arange(n)
        while todo.size:
            z = rng.standard_normal(todo.size)
            draw = self.value + np.where(z < 0, self.minus, self.plus) * z
            ok = (draw > low) & (draw < high)
            out[todo[ok]] = draw[ok]
            todo = todo[~ok]
        return out


@dataclass(frozen=True)
class SpectrumFit:
    """A cutoff-power-law fit: photon index α (dN/dE ∝ E^α ...) and peak energy E_p of E² dN/dE [keV]."""

    name: str
    instrument: str
    source: str
    alpha: Measured
    peak_kev: Measured


FITS: dict[str, SpectrumFit] = {
    "hxmt": SpectrumFit("hxmt", "Insight-HXMT", "Ge et al. 2023, ApJ 953, 67 (X-ray peaks)",
                        alpha=Measured(-1.4), peak_kev=Measured((2.0 - 1.4) * 60.0)),
    "konus": SpectrumFit("konus", "Konus-Wind", "Ridnaia et al. 2021, Nat. Astron. 5, 372",
                         alpha=Measured(-0.52, 0.50, 0.57), peak_kev=Measured(82.0, 9.0, 12.0)),
    "integral": SpectrumFit("integral", "INTEGRAL/IBIS", "Mereghetti et al. 2020, ApJL 898, L29",
                            alpha=Measured(-0.7, 0.4, 0.2), peak_kev=Measured(65.0, 5.0, 5.0)),
}
#: 16-ms peak energy flux, 20–200 keV [erg cm⁻² s⁻¹] (Konus-Wind; Ridnaia et al. 2021)
PEAK_FLUX_ERG_CM2_S = Measured(9.10e-6, 2.29e-6, 2.29e-6)
#: distance [kpc] (Mereghetti et al. 2020)
DISTANCE_KPC = Measured(4.4, 1.3, 2.8)


def luminosity_erg_s(peak_flux_erg_cm2_s: float, distance_kpc: float) -> float:
    """Isotropic peak luminosity 4π d² F [erg s⁻¹]."""
    return FOUR_PI * (distance_kpc * KPC_CM) ** 2 * peak_flux_erg_cm2_s


@dataclass(frozen=True)
class Counterpart:
    """One realisation of the burst: spectral shape, its luminosity in ``BAND_KEV``, and the energy range."""

    alpha: float
    peak_kev: float
    luminosity_erg_s: float
    e_min_kev: float = E_MIN_KEV
    e_max_kev: float = E_MAX_KEV

    def __post_init__(self) -> None:
        for key in ("alpha", "peak_kev", "luminosity_erg_s", "e_min_kev", "e_max_kev"):
            value = getattr(self, key)
            if not math.isfinite(value):
                raise ValueError(f"{key}: must be finite, got {value}")
        if self.alpha >= 2.0 or self.alpha <= -2.0:
            raise ValueError(f"alpha: the cutoff power law needs -2 < alpha < 2, got {self.alpha}")
        for key in ("peak_kev", "luminosity_erg_s", "e_min_kev"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key}: must be > 0, got {getattr(self, key)}")
        if self.e_max_kev <= self.e_min_kev:
            raise ValueError(f"e_max_kev: must exceed e_min_kev = {self.e_min_kev}, got {self.e_max_kev}")

    @property
    def cutoff_kev(self) -> float:
        return self.peak_kev / (2.0 + self.alpha)

    def shape(self, energy_kev: FloatArray) -> FloatArray:
        """Unnormalised dN/dE (photons per keV)."""
        e = np.asarray(energy_kev, dtype=np.float64)
        return e**self.alpha * np.exp(-e / self.cutoff_kev)

    def photon_rate_per_kev(self, energy_kev: FloatArray, points: int = 2001) -> FloatArray:
        """dṄ/dE [photons s⁻¹ keV⁻¹] emitted, normalised so the 20–200 keV energy output is ``luminosity_erg_s``;
        zero outside [e_min_kev, e_max_kev]."""
        band = np.geomspace(*BAND_KEV, points)
        band_erg_per_s = np.trapezoid(band * self.shape(band), band) * ERG_PER_KEV
        e = np.asarray(energy_kev, dtype=np.float64)
        inside = (e >= self.e_min_kev) & (e <= self.e_max_kev)
        return np.where(inside, self.shape(e) * self.luminosity_erg_s / band_erg_per_s, 0.0)

    def density_per_kev(self, energy_kev: FloatArray, radius_cm: float) -> FloatArray:
        """Photon number density per keV at ``radius_cm`` [cm⁻³ keV⁻¹]: dṄ/dE / (4π r² c)."""
        if not (math.isfinite(radius_cm) and radius_cm > 0):
            raise ValueError(f"radius_cm: must be a finite number > 0, got {radius_cm}")
        return self.photon_rate_per_kev(energy_kev) / (FOUR_PI * radius_cm**2 * C_CM_S)


def nominal(fit: str, luminosity: float | None = None) -> Counterpart:
    """The fit's central values at the central flux and distance (or at ``luminosity`` [erg s⁻¹])."""
    spec = fit_named(fit)
    lum = luminosity if luminosity is not None else luminosity_erg_s(PEAK_FLUX_ERG_CM2_S.value, DISTANCE_KPC.value)
    return Counterpart(alpha=spec.alpha.value, peak_kev=spec.peak_kev.value, luminosity_erg_s=lum)


def fit_named(fit: str) -> SpectrumFit:
    if fit not in FITS:
        raise ValueError(f"spectrum: unknown fit {fit!r}; known: {', '.join(FITS)}")
    return FITS[fit]


def sample(fit: str, n: int, rng: np.random.Generator, luminosity: float | None = None) -> list[Counterpart]:
    """``n`` realisations within the observational ranges (spectral shape; flux and distance unless
    ``luminosity`` fixes L_X)."""
    spec = fit_named(fit)
    alpha = spec.alpha.sample(rng, n, low=-1.95, high=1.95)
    peak = spec.peak_kev.sample(rng, n, low=0.0)
    if luminosity is None:
        flux = PEAK_FLUX_ERG_CM2_S.sample(rng, n, low=0.0)
        distance = DISTANCE_KPC.sample(rng, n, low=0.0)
        lum = FOUR_PI * (distance * KPC_CM) ** 2 * flux
    else:
        lum = np.full(n, float(luminosity))
    base = nominal(fit, luminosity)
    return [replace(base, alpha=float(a), peak_kev=float(p), luminosity_erg_s=float(lx))
            for a, p, lx in zip(alpha, peak, lum, strict=True)]
