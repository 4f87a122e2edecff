"""When does the pair cascade cut the FRB off? Three criteria (arXiv 2505.14413 does not say which it used; the
research card offers these three, and every figure names the one it shows), and the truncation time under each.

With the seed lepton density n_seed and the rate-equation multiplicity N(t) (`methods.astro.cascade_rate`), the
pair density is n_± = n_seed N(t). The FRB (frequency ν, luminosity L_FRB) stops getting through at the first t with

- ``plasma_cutoff``: n_± >= γ_e π m_e ν² / e², i.e. the relativistic pair plasma frequency
  ω_p² = 4π e² n_± / (γ_e m_e) reaches ω = 2πν (both species counted; γ_e: relativistic transparency);
- ``energy_depletion``: n_seed W(t) >= L_FRB / (4π r² c): the energy the leptons drew from the wave (their energy
  plus the inverse-Compton power the wave resupplies) equals the wave's energy density (an upper estimate of the
  drain: the pairs' rest energy, made from up-scattered photons, is counted once more);
- ``opacity``: n_± σ_T r >= 1: Thomson depth one across a pair-loaded shell of thickness r (our choice of path).

Seed leptons: the Goldreich–Julian density of SGR 1935+2154's dipole field at r, times a multiplicity,
n_GJ = Ω B(r) / (2π e c), B(r) = B_s (R_NS / r)³, with P = 3.245 s and B_s = 2.2 × 10¹⁴ G (Israel et al. 2016,
MNRAS 457, 3448) and R_NS = 10⁶ cm (canonical). A criterion not met before the horizon is reported as not
truncated, with the horizon as a lower bound (never NaN).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.optimize import brentq

from methods.astro.cascade_rate import ModalSolution, growth_rate_per_s
from methods.astro.constants import C_CM_S, E_STATC, FOUR_PI, M_E_G, ME_C2_ERG, SIGMA_T_CM2
from methods.astro.field import CascadeTables

CRITERIA: tuple[str, ...] = ("plasma_cutoff", "energy_depletion", "opacity")

SGR1935_PERIOD_S = 3.245  # Israel et al. 2016
SGR1935_B_SURFACE_G = 2.2e14  # Israel et al. 2016 (dipole, from spin-down)
NS_RADIUS_CM = 1e6


def goldreich_julian_density_cm3(radius_cm: float, *, period_s: float = SGR1935_PERIOD_S,
                                 b_surface_g: float = SGR1935_B_SURFACE_G, ns_radius_cm: float = NS_RADIUS_CM) -> float:
    """n_GJ = Ω B(r) / (2π e c) [cm⁻³] for a dipole field."""
    for key, value in (("radius_cm", radius_cm), ("period_s", period_s), ("b_surface_g", b_surface_g),
                       ("ns_radius_cm", ns_radius_cm)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{key}: must be a finite number > 0, got {value}")
    b = b_surface_g * (ns_radius_cm / radius_cm) ** 3
    return (2.0 * math.pi / period_s) * b / (2.0 * math.pi * E_STATC * C_CM_S)


def plasma_cutoff_density_cm3(frequency_hz: float, gamma_lepton: float) -> float:
    """n_± at which the relativistic pair plasma frequency equals the FRB frequency: γ π m_e ν² / e²."""
    return gamma_lepton * math.pi * M_E_G * frequency_hz**2 / E_STATC**2


def opacity_density_cm3(radius_cm: float) -> float:
    """n_± with Thomson depth one over a path r: 1 / (σ_T r)."""
    return 1.0 / (SIGMA_T_CM2 * radius_cm)


@dataclass(frozen=True)
class Truncation:
    criterion: str
    time_s: float  # first time the criterion holds; the horizon when not truncated
    truncated: bool
    efolds: float  # ln of the multiplicity N(t) reached at the truncation time


def truncation_times(tables: CascadeTables, *, radius_cm: float, frb_luminosity_erg_s: float, frequency_hz: float,
                     seed_density_cm3: float, horizon_s: float = 1.0, rtol: float = 1e-6) -> dict[str, Truncation]:
    """The truncation time under every criterion of `CRITERIA` (closed-form rate equations, root by Brent)."""
    for key, value in (("radius_cm", radius_cm), ("frb_luminosity_erg_s", frb_luminosity_erg_s),
                       ("frequency_hz", frequency_hz), ("seed_density_cm3", seed_density_cm3),
                       ("horizon_s", horizon_s)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{key}: must be a finite number > 0, got {value}")
    gamma = tables.gamma_lepton
    target_n = {
        "plasma_cutoff": plasma_cutoff_density_cm3(frequency_hz, gamma) / seed_density_cm3,
        "opacity": opacity_density_cm3(radius_cm) / seed_density_cm3,
    }
    target_w = frb_luminosity_erg_s / (FOUR_PI * radius_cm**2 * C_CM_S) / seed_density_cm3
    mc2_gamma = gamma * ME_C2_ERG
    result: dict[str, Truncation] = {}
    if tables.no_cascade:  # W grows linearly; N stays 1
        for name, target in target_n.items():
            result[name] = Truncation(name, 0.0 if target <= 1 else horizon_s, target <= 1, math.log(max(target, 1.0)))
        t_energy = max(0.0, (target_w - mc2_gamma) / tables.ic_power_erg_s) if tables.ic_power_erg_s > 0 else math.inf
        hit = t_energy <= horizon_s
        result["energy_depletion"] = Truncation("energy_depletion", t_energy if hit else horizon_s, hit, 0.0)
        return result
    modal = ModalSolution(tables)
    checks = {
        "plasma_cutoff": lambda t: modal.log_multiplicity(t) - math.log(target_n["plasma_cutoff"]),
        "opacity": lambda t: modal.log_multiplicity(t) - math.log(target_n["opacity"]),
        "energy_depletion": lambda t: modal.log_energy_drawn_erg(t) - math.log(target_w),
    }
    for name in CRITERIA:  # N(t) and W(t) increase with t, so each margin has at most one root
        margin = checks[name]
        if margin(0.0) >= 0:
            time_s, hit = 0.0, True
        elif margin(horizon_s) < 0:
            time_s, hit = horizon_s, False
        else:
            time_s, hit = float(brentq(margin, 0.0, horizon_s, xtol=1e-15, rtol=rtol)), True
        efolds = max(modal.log_multiplicity(time_s), 0.0)
        result[name] = Truncation(name, time_s, hit, efolds)
    return result


def growth_summary(tables: CascadeTables) -> dict[str, float]:
    """Γ [s⁻¹] and the e-folding time [s] (inf without a cascade)."""
    rate = growth_rate_per_s(tables)
    return {"growth_rate_per_s": rate, "efold_time_s": 1.0 / rate if rate > 0 else math.inf}
