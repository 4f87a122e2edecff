"""The counterpart photon field at a radius and the rate tables of the pair cascade built on it (arXiv 2505.14413,
reconstructed): what a lepton held at γ_e by the FRB emits by inverse Compton, and how fast each γ-ray makes a pair.

Photons that can make pairs are grouped in ``bins`` logarithmic energy bins from the lowest pair threshold on the
field, (m_e c²)² / ε_max, to the largest up-scattered energy, γ_e m_e c² (photons below escape). Per bin k:

- ``emission_per_s[k]``: γ-rays one lepton emits into the bin per second (the Jones kernel of
  `methods.astro.inverse_compton` integrated over the field and over the bin);
- ``absorption_per_s[k]``: the Breit–Wheeler absorption rate κ(E) in the isotropic field,
  κ(E) = c ∫ dε n(ε) (2 / (Eε)²) ∫₁^{Eε} s σ_γγ(s) ds (energies in m_e c²; the angle integral written in s),
  averaged over the bin with the emitted spectrum as weight.

Both cascade solvers (`cascade_rate`, `cascade_mc`) use the same tables, so their difference is pure sampling noise.
Geometry: ``isotropic`` (the local field taken isotropic: the largest rates) or ``radial`` (photons streaming
radially with leptons drifting with the wave: no up-scattering, hence no cascade; `methods.astro.wave`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from methods.astro.constants import C_CM_S, ME_C2_ERG, ME_C2_KEV
from methods.astro.counterpart import Counterpart
from methods.astro.cross_sections import sigma_bw
from methods.astro.inverse_compton import jones_kernel

FloatArray = NDArray[np.float64]
Geometry = Literal["isotropic", "radial"]
GEOMETRIES: tuple[str, ...] = ("isotropic", "radial")

SOFT_POINTS = 160  # nodes of the soft-photon (counterpart) grid
SUB_POINTS = 6  # nodes per γ-ray bin for the bin averages, log-spaced in E
DELTA_POINTS_PER_DECADE = 8  # more nodes per bin, log-spaced in γ_e − E (`_bin_nodes`)


@lru_cache(maxsize=1)
def _s_table() -> tuple[FloatArray, FloatArray]:
    """Φ(y) = ∫₁^y s σ_γγ(s) ds [cm²] on a log grid of y up to 10¹².)"""
    y = np.concatenate([[1.0], 1.0 + np.geomspace(1e-10, 1e12, 6000)])
    integrand = y * sigma_bw(y)
    phi = np.concatenate([[0.0], np.cumsum(0.5 * (integrand[1:] + integrand[:-1]) * np.diff(y))])
    return y, phi


def s_weighted_integral(y: FloatArray) -> FloatArray:
    """Φ(y) = ∫₁^y s σ_γγ(s) ds [cm²] (0 for y <= 1), interpolated in log(y − 1)."""
    grid, phi = _s_table()
    y = np.asarray(y, dtype=np.float64)
    out = np.zeros_like(y)
    above = y > 1.0
    out[above] = np.interp(np.log(y[above] - 1.0), np.log(grid[1:] - 1.0), phi[1:])
    return out


def bw_absorption_per_s(energy_mec2: FloatArray, eps_mec2: FloatArray, density_per_mec2: FloatArray) -> FloatArray:
    """κ(E) [s⁻¹] of γ-rays of energy E (m_e c²) in an isotropic field n(ε) [cm⁻³ per unit ε/m_e c²]."""
    product = energy_mec2[:, None] * eps_mec2[None, :]
    inner = 2.0 / product**2 * s_weighted_integral(product)
    return C_CM_S * np.trapezoid(inner * density_per_mec2[None, :], eps_mec2, axis=1)


@dataclass(frozen=True)
class CascadeTables:
    """Per-bin emission and absorption rates (module docstring) plus what the truncation criteria need.

    ``no_cascade`` is a reason string when the field cannot feed a cascade (then the rate arrays are empty).
    """

    gamma_lepton: float
    energy_mec2: FloatArray  # bin centres (geometric), units of m_e c²
    emission_per_s: FloatArray
    absorption_per_s: FloatArray
    ic_power_erg_s: float  # total power one lepton radiates by inverse Compton
    soft_density_cm3: float  # counterpart photon number density
    no_cascade: str = ""
    info: dict[str, float] = field(default_factory=dict)

    @property
    def bins(self) -> int:
        return int(self.energy_mec2.size)

    @property
    def above_threshold_rate_per_s(self) -> float:
        return float(self.emission_per_s.sum())


def build_tables(counterpart: Counterpart, radius_cm: float, gamma_lepton: float, *, bins: int = 48,
                 geometry: Geometry = "isotropic") -> CascadeTables:
    """The cascade's rate tables for a lepton Lorentz factor ``gamma_lepton`` at ``radius_cm``."""
    if not (math.isfinite(radius_cm) and radius_cm > 0):
        raise ValueError(f"radius_cm: must be a finite number > 0, got {radius_cm}")
    if not (math.isfinite(gamma_lepton) and gamma_lepton >= 1):
        raise ValueError(f"gamma_lepton: must be >= 1, got {gamma_lepton}")
    if geometry not in GEOMETRIES:
        raise ValueError(f"geometry: unknown {geometry!r}; known: {', '.join(GEOMETRIES)}")
    if bins < 2:
        raise ValueError(f"bins: need at least 2, got {bins}")
    eps_kev = np.geomspace(counterpart.e_min_kev, counterpart.e_max_kev, SOFT_POINTS)
    eps = eps_kev / ME_C2_KEV
    density = counterpart.density_per_kev(eps_kev, radius_cm) * ME_C2_KEV  # per unit ε [m_e c²]
    soft_total = float(np.trapezoid(density, eps))
    empty = np.zeros(0)
    if geometry == "radial":
        return CascadeTables(gamma_lepton, empty, empty, empty, 0.0, soft_total,
                             no_cascade="radial geometry: leptons drifting with the wave see the radially streaming "
                                        "counterpart photons un-boosted, so no photon reaches the pair threshold")
    e_low = 1.0 / eps[-1]  # lowest threshold, head-on on the hardest soft photon
    e_high = gamma_lepton  # up-scattered photons stay below the lepton energy
    power = _ic_power(gamma_lepton, eps, density)
    if e_high <= e_low:
        return CascadeTables(gamma_lepton, empty, empty, empty, power, soft_total,
                             no_cascade=f"no photons above threshold: leptons at γ = {gamma_lepton:.3g} up-scatter "
                                        f"to at most {gamma_lepton * ME_C2_KEV:.3g} keV, below the lowest pair "
                                        f"threshold on this field, {e_low * ME_C2_KEV:.3g} keV")
    edges = np.geomspace(e_low, e_high, bins + 1)
    bin_nodes = [_bin_nodes(a, b, e_high) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    nodes = np.concatenate(bin_nodes)
    spectrum = np.trapezoid(jones_kernel(nodes[:, None], gamma_lepton, eps[None, :]) * density[None, :], eps, axis=1)
    kappa = bw_absorption_per_s(nodes, eps, density)
    bounds = np.cumsum([0] + [n.size for n in bin_nodes])
    emission = np.empty(bins)
    absorption = np.empty(bins)
    for k in range(bins):
        sl = slice(bounds[k], bounds[k + 1])
        e, w = nodes[sl], spectrum[sl]
        emission[k] = np.trapezoid(w, e)
        absorption[k] = np.trapezoid(w * kappa[sl], e) / emission[k] if emission[k] > 0 else float(kappa[sl].mean())
    # a bin whose absorption underflows to 0 makes no pairs (its photons escape): drop it, like a bin with no
    # emission. This happens when e_max_kev reaches far into the counterpart's exponential tail: the lowest
    # thresholds then need soft photons that have a density of 0 in float64 (and a 0 rate would make the
    # symmetrising scale of `cascade_rate.ModalSolution` singular)
    keep = (emission > 0) & (absorption > 0)
    if not keep.any():
        return CascadeTables(gamma_lepton, empty, empty, empty, power, soft_total,
                             no_cascade="no photons above threshold: the emitted spectrum vanishes above the pair "
                                        "threshold, or no photon there finds a soft partner to make a pair")
    centres = np.sqrt(edges[:-1] * edges[1:])
    return CascadeTables(gamma_lepton, centres[keep], emission[keep], absorption[keep], power, soft_total,
                         info={"threshold_low_kev": e_low * ME_C2_KEV, "max_photon_kev": e_high * ME_C2_KEV})


def _bin_nodes(low: float, high: float, top: float) -> FloatArray:
    """Integration nodes of the γ-ray bin [low, high] <= ``top`` = γ_e: SUB_POINTS log-spaced in E, and log-spaced
    in γ_e − E (DELTA_POINTS_PER_DECADE a decade of γ_e − E, down to 1e-12 γ_e in the top bin; none in bins far
    below the top). In the Klein–Nishina regime the scattered spectrum piles up within ~γ_e / (4γ_e ε) below
    E = γ_e, far thinner than the top bin: log nodes in E alone missed ~half of that bin's emission at
    γ_e ~ 2 × 10⁴ (r = 10⁷ cm)."""
    near, far = max(top - high, 1e-12 * top), top - low
    count = 1 + math.ceil(DELTA_POINTS_PER_DECADE * math.log10(far / near))  # 2 (the edges) far below the top
    return np.union1d(np.geomspace(low, high, SUB_POINTS), np.clip(top - np.geomspace(far, near, count), low, high))


def _ic_power(gamma: float, eps: FloatArray, density: FloatArray, points: int = 200) -> float:
    """Total inverse-Compton power of one lepton [erg s⁻¹] (all scattered energies; nodes log-spaced in E₁ and in
    γ − E₁, for the Klein–Nishina pile-up below E₁ = γ: see `_bin_nodes`)."""
    e1 = np.union1d(np.geomspace(eps[0] * 1e-2, gamma, points),
                    gamma - np.geomspace(0.5 * gamma, 1e-12 * gamma, points))
    spectrum = np.trapezoid(jones_kernel(e1[:, None], gamma, eps[None, :]) * density[None, :], eps, axis=1)
    return float(np.trapezoid(spectrum * e1, e1) * ME_C2_ERG)
