"""Klein–Nishina (Compton) and Breit–Wheeler (γγ → e⁺e⁻) cross sections and single-event kinematics.

Standard QED, as used by the pair-cascade mechanism of arXiv 2505.14413:
- Klein–Nishina total cross section σ_KN(x), x = photon energy in the lepton rest frame / m_e c² (Klein & Nishina
  1929; form of Rybicki & Lightman 1979, eq. 7.5), and the rest-frame differential cross section
  dσ/dΩ = (r_e²/2)(ε'/ε)²(ε'/ε + ε/ε' − sin²ψ) with ε' = ε / [1 + x(1 − cos ψ)].
- Breit–Wheeler σ_γγ(s) = (3/16) σ_T (1 − β²)[(3 − β⁴) ln((1+β)/(1−β)) − 2β(2 − β²)], β = √(1 − 1/s),
  s = E₁E₂(1 − cos θ)/(2 (m_e c²)²) (Breit & Wheeler 1934; Gould & Schréder 1967, eq. 4); zero below s = 1.
- Event samplers work on four-momenta in units of m_e c (columns E, px, py, pz), so conservation can be checked.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from methods.astro.constants import R_E_CM, SIGMA_T_CM2

FloatArray = NDArray[np.float64]

# Taylor series of σ_KN/σ_T about x = 0 (coefficients of x^0..x^4: 1, -2, 26/5, -133/10, 1144/35), used below
# X_SERIES where the closed form loses digits to cancellation.
_KN_SERIES = (1.0, -2.0, 26.0 / 5.0, -133.0 / 10.0, 1144.0 / 35.0)
X_SERIES = 1e-2


def sigma_kn(x: ArrayLike) -> FloatArray:
    """Total Klein–Nishina cross section [cm²] at rest-frame photon energy ``x`` (units of m_e c², x >= 0)."""
    x = np.asarray(x, dtype=np.float64)
    if np.any(~np.isfinite(x)) or np.any(x < 0):
        raise ValueError("sigma_kn: x must be finite and >= 0")
    out = np.empty_like(x)
    small = x < X_SERIES
    xs = x[small]
    out[small] = np.polynomial.polynomial.polyval(xs, _KN_SERIES)
    xl = x[~small]
    log = np.log1p(2.0 * xl)
    out[~small] = 0.75 * (
        (1.0 + xl) / xl**3 * (2.0 * xl * (1.0 + xl) / (1.0 + 2.0 * xl) - log)
        + log / (2.0 * xl)
        - (1.0 + 3.0 * xl) / (1.0 + 2.0 * xl) ** 2
    )
    return out * SIGMA_T_CM2


def compton_energy_ratio(x: ArrayLike, cos_psi: ArrayLike) -> FloatArray:
    """ε'/ε of a photon of rest-frame energy ``x`` scattered by angle ψ off a lepton at rest."""
    return 1.0 / (1.0 + np.asarray(x, dtype=np.float64) * (1.0 - np.asarray(cos_psi, dtype=np.float64)))


def dsigma_kn_domega(x: ArrayLike, cos_psi: ArrayLike) -> FloatArray:
    """Rest-frame Klein–Nishina differential cross section dσ/dΩ [cm² sr⁻¹]."""
    cos_psi = np.asarray(cos_psi, dtype=np.float64)
    ratio = compton_energy_ratio(x, cos_psi)
    return 0.5 * R_E_CM**2 * ratio**2 * (ratio + 1.0 / ratio - (1.0 - cos_psi**2))


def pair_invariant(e1: ArrayLike, e2: ArrayLike, cos_theta: ArrayLike) -> FloatArray:
    """s = E₁E₂(1 − cos θ)/2 with photon energies in units of m_e c² (θ: angle between the photons)."""
    return 0.5 * np.asarray(e1, dtype=np.float64) * np.asarray(e2, dtype=np.float64) * (
        1.0 - np.asarray(cos_theta, dtype=np.float64))


def sigma_bw(s: ArrayLike) -> FloatArray:
    """Breit–Wheeler total cross section [cm²] at invariant ``s`` (0 below the threshold s = 1)."""
    s = np.asarray(s, dtype=np.float64)
    if np.any(~np.isfinite(s)) or np.any(s < 0):
        raise ValueError("sigma_bw: s must be finite and >= 0")
    out = np.zeros_like(s)
    above = s > 1.0
    sa = s[above]
    beta = np.sqrt(1.0 - 1.0 / sa)
    # ln((1+β)/(1−β)) = 2 artanh(β); 1 − β² = 1/s
    out[above] = (3.0 / 16.0) * SIGMA_T_CM2 / sa * (
        (3.0 - beta**4) * 2.0 * np.arctanh(beta) - 2.0 * beta * (2.0 - beta**2))
    return out


def sigma_bw_photons(e1: ArrayLike, e2: ArrayLike, cos_theta: ArrayLike) -> FloatArray:
    """σ_γγ [cm²] for two photons of energies ``e1``, ``e2`` (units of m_e c²) at angle θ."""
    return sigma_bw(pair_invariant(e1, e2, cos_theta))


# ------------------------------------------------------------------------------------------ event kinematics
def _unit_vectors(cos_t: FloatArray, phi: FloatArray) -> FloatArray:
    sin_t = np.sqrt(np.clip(1.0 - cos_t**2, 0.0, None))
    return np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], axis=-1)


def boost(p: FloatArray, beta: FloatArray, gamma: FloatArray | None = None) -> FloatArray:
    """Lorentz boost of four-vectors ``p`` (N, 4) into the frame moving with velocity ``beta`` (N, 3).

    Pass ``gamma`` (E/m of the moving frame) when known: 1/√(1 − β²) loses digits as β → 1."""
    b2 = np.sum(beta**2, axis=-1)
    gamma = 1.0 / np.sqrt(1.0 - b2) if gamma is None else gamma
    bp = np.sum(beta * p[:, 1:], axis=-1)
    coef = np.where(b2 > 0, (gamma - 1.0) / np.where(b2 > 0, b2, 1.0), 0.0)
    energy = gamma * (p[:, 0] - bp)
    space = p[:, 1:] + (coef * bp - gamma * p[:, 0])[:, None] * beta
    return np.column_stack([energy, space])


def minkowski_square(p: FloatArray) -> FloatArray:
    """p·p = E² − |p|² (units of (m_e c)²)."""
    return p[:, 0] ** 2 - np.sum(p[:, 1:] ** 2, axis=-1)


def _orthonormal_frame(axis: FloatArray) -> tuple[FloatArray, FloatArray]:
    helper = np.where(np.abs(axis[:, 2:3]) < 0.9, np.array([[0.0, 0.0, 1.0]]), np.array([[1.0, 0.0, 0.0]]))
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    return u, np.cross(axis, u)


def sample_kn_cos_psi(x: FloatArray, rng: np.random.Generator) -> FloatArray:
    """Scattering-angle cosines drawn from the rest-frame KN differential cross section (rejection sampling)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    todo = np.arange(x.size)
    peak = dsigma_kn_domega(x, 1.0)  # forward scattering is the maximum of dσ/dΩ
    while todo.size:
        mu = rng.uniform(-1.0, 1.0, todo.size)
        accept = rng.uniform(0.0, 1.0, todo.size) * peak[todo] <= dsigma_kn_domega(x[todo], mu)
        out[todo[accept]] = mu[accept]
        todo = todo[~accept]
    return out


def compton_event(lepton: FloatArray, photon: FloatArray, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
    """One Compton scattering per row: lepton (N, 4) and photon (N, 4) in units of m_e c -> (lepton', photon').

    The photon is scattered in the lepton rest frame with the KN angular distribution, then both are boosted back;
    the outgoing lepton is what four-momentum conservation leaves (its mass shell checks the kinematics).
    """
    beta = lepton[:, 1:] / lepton[:, :1]
    gamma = lepton[:, 0]
    k_rest = boost(photon, beta, gamma)
    x = k_rest[:, 0]
    cos_psi = sample_kn_cos_psi(x, rng)
    axis = k_rest[:, 1:] / x[:, None]
    u, v = _orthonormal_frame(axis)
    phi = rng.uniform(0.0, 2.0 * np.pi, x.size)
    sin_psi = np.sqrt(np.clip(1.0 - cos_psi**2, 0.0, None))
    direction = cos_psi[:, None] * axis + sin_psi[:, None] * (np.cos(phi)[:, None] * u + np.sin(phi)[:, None] * v)
    energy = x * compton_energy_ratio(x, cos_psi)
    scattered = boost(np.column_stack([energy, energy[:, None] * direction]), -beta, gamma)
    return lepton + photon - scattered, scattered


def breit_wheeler_event(k1: FloatArray, k2: FloatArray, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
    """One pair per row from photons k1, k2 (N, 4, units of m_e c) above threshold -> (electron, positron).

    In the centre-of-momentum frame each lepton carries √s m_e c²; the emission direction is drawn isotropically
    there (the angular distribution does not change the pair yield, which is all the cascade uses).
    """
    total = k1 + k2
    s = minkowski_square(total) / 4.0
    if np.any(s < 1.0):
        raise ValueError("breit_wheeler_event: a photon pair is below the threshold s >= 1")
    beta = total[:, 1:] / total[:, :1]
    energy = np.sqrt(s)
    gamma = total[:, 0] / (2.0 * energy)
    momentum = np.sqrt(s - 1.0)
    direction = _unit_vectors(rng.uniform(-1.0, 1.0, s.size), rng.uniform(0.0, 2.0 * np.pi, s.size))
    electron = boost(np.column_stack([energy, momentum[:, None] * direction]), -beta, gamma)
    positron = boost(np.column_stack([energy, -momentum[:, None] * direction]), -beta, gamma)
    return electron, positron
