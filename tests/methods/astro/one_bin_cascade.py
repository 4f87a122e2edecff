"""The one-bin cascade the astro tests check against: leptons emit γ-rays at rate Ṅ, each absorbed at rate κ into a
pair (dN/dt = 2κ N₁, dN₁/dt = Ṅ N − κ N₁), with the closed form N(t) = A e^{λ₊t} + B e^{λ₋t}, N(0) = 1."""

from __future__ import annotations

import math

import numpy as np

from methods.astro.field import CascadeTables

EMISSION, KAPPA, POWER, GAMMA = 3.0e3, 2.0e3, 1e-6, 50.0  # s⁻¹, s⁻¹, erg s⁻¹, Lorentz factor
ROOT = math.sqrt(KAPPA**2 + 8 * EMISSION * KAPPA)
LAM_P, LAM_M = (-KAPPA + ROOT) / 2, (-KAPPA - ROOT) / 2
A, B = -LAM_M / (LAM_P - LAM_M), LAM_P / (LAM_P - LAM_M)


def multiplicity(t):
    """N(t)."""
    return A * np.exp(LAM_P * t) + B * np.exp(LAM_M * t)


def integral_multiplicity(t):
    """∫₀ᵗ N."""
    return A * np.expm1(LAM_P * t) / LAM_P + B * np.expm1(LAM_M * t) / LAM_M


def tables() -> CascadeTables:
    return CascadeTables(GAMMA, np.array([10.0]), np.array([EMISSION]), np.array([KAPPA]), POWER, 1e17)
