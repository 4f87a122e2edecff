"""Inverse-Compton emission of relativistic leptons in an isotropic photon field, Klein–Nishina regime included.

The scattered-photon spectrum of one lepton (Lorentz factor γ ≫ 1) in isotropic monoenergetic photons of energy ε
is the Jones (1968) kernel in the form of Blumenthal & Gould (1970, eq. 2.48), energies in units of m_e c²:

    dN/(dt dE₁) = (3 σ_T c / 4) n(ε) / (γ² ε) · [2q ln q + (1 + 2q)(1 − q) + (Γq)²(1 − q) / (2(1 + Γq))],
    Γ = 4εγ,  q = E₁ / (Γ (γ − E₁)),  1/(4γ²) <= q <= 1.

It is the angle average of the Klein–Nishina cross section of `methods.astro.cross_sections` (checked in the
tests: the Thomson-limit power and the total KN rate). Used for the cascade's emission spectrum and for the
comparison with naima's ``InverseCompton`` (Khangulyan, Aharonian & Kelner 2014) on a blackbody field.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from methods.astro.constants import C_CM_S, H_ERG_S, K_B_KEV_K, ME_C2_ERG, ME_C2_KEV, SIGMA_T_CM2

FloatArray = NDArray[np.float64]


def jones_kernel(e1: ArrayLike, gamma: ArrayLike, eps: ArrayLike) -> FloatArray:
    """dN/(dt dE₁) per unit soft-photon density [cm³ s⁻¹ per unit E₁], broadcast over e1, gamma, eps (m_e c²)."""
    e1, gamma, eps = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (e1, gamma, eps)))
    big_gamma = 4.0 * eps * gamma
    with np.errstate(divide="ignore", invalid="ignore"):
        q = e1 / (big_gamma * (gamma - e1))
        gq = big_gamma * q
        f = 2.0 * q * np.log(q) + (1.0 + 2.0 * q) * (1.0 - q) + gq**2 * (1.0 - q) / (2.0 * (1.0 + gq))
        out = 0.75 * SIGMA_T_CM2 * C_CM_S * f / (gamma**2 * eps)
    valid = (e1 < gamma) & (q >= 1.0 / (4.0 * gamma**2)) & (q <= 1.0)
    return np.where(valid, np.clip(out, 0.0, None), 0.0)


def blackbody_photon_density(eps_erg: ArrayLike, temperature_k: float) -> FloatArray:
    """Blackbody photon number density per unit energy [cm⁻³ erg⁻¹] (Planck's law)."""
    if not temperature_k > 0:
        raise ValueError(f"temperature_k: must be > 0, got {temperature_k}")
    eps_erg = np.asarray(eps_erg, dtype=np.float64)
    kt_erg = K_B_KEV_K * temperature_k * ME_C2_ERG / ME_C2_KEV
    hc = H_ERG_S * C_CM_S
    return 8.0 * math.pi / hc**3 * eps_erg**2 / np.expm1(eps_erg / kt_erg)


def lepton_spectrum(photon_energy_erg: ArrayLike, gamma: float, eps_erg: ArrayLike,
                    photon_density_per_erg: ArrayLike) -> FloatArray:
    """dN/(dt dE₁) [s⁻¹ erg⁻¹] of one lepton of Lorentz factor ``gamma`` in an isotropic field tabulated on
    ``eps_erg`` (ascending) with density ``photon_density_per_erg`` [cm⁻³ erg⁻¹] (trapezoid rule over ε)."""
    e1 = np.asarray(photon_energy_erg, dtype=np.float64)[:, None] / ME_C2_ERG
    eps = np.asarray(eps_erg, dtype=np.float64)
    kernel = jones_kernel(e1, gamma, eps[None, :] / ME_C2_ERG)  # per unit E₁ [m_e c²] and per unit density
    integrand = kernel * np.asarray(photon_density_per_erg, dtype=np.float64)[None, :]
    return np.trapezoid(integrand, eps, axis=1) / ME_C2_ERG


def population_spectrum(photon_energy_erg: ArrayLike, electrons_per_gamma: Callable[[FloatArray], FloatArray],
                        gamma_min: float, gamma_max: float, eps_erg: ArrayLike, photon_density_per_erg: ArrayLike,
                        points: int = 400) -> FloatArray:
    """dN/(dt dE₁) [s⁻¹ erg⁻¹] of a lepton population dN_e/dγ (a function) between ``gamma_min`` and ``gamma_max``.

    In the Klein–Nishina regime a photon of energy E₁ comes from leptons only slightly above γ = E₁ (relative
    width ~ 1/(4γε)), so for every E₁ the γ integral runs over γ = max(γ_min, E₁) + δ with δ log-spaced
    (``points`` nodes) rather than over one fixed grid, which would miss that thin shell.
    """
    e1_all = np.asarray(photon_energy_erg, dtype=np.float64)
    out = np.zeros_like(e1_all)
    for i, e1_erg in enumerate(e1_all):
        start = max(gamma_min, e1_erg / ME_C2_ERG)
        if start >= gamma_max:
            continue
        delta = np.geomspace(start * 1e-9, gamma_max - start, points)
        gamma = np.concatenate([[start], start + delta])
        per_lepton = np.array([lepton_spectrum([e1_erg], g, eps_erg, photon_density_per_erg)[0] for g in gamma])
        out[i] = np.trapezoid(per_lepton * electrons_per_gamma(gamma), gamma)
    return out
