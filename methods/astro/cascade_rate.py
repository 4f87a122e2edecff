"""Mean-field rate equations of the pair cascade (arXiv 2505.14413, reconstructed), solved with scipy's
``solve_ivp``: per seed lepton, the lepton multiplicity N(t), the γ-rays N_k(t) in each above-threshold bin of
`methods.astro.field`, and the energy W(t) the leptons drew from the FRB wave:

    dN/dt   = 2 Σ_k κ_k N_k                  (each absorbed γ-ray makes an e⁺e⁻ pair)
    dN_k/dt = Ṅ_k N − κ_k N_k                (emission by every lepton held at γ_e by the wave; absorption)
    dW/dt   = P_IC N + γ_e m_e c² dN/dt       (radiated power resupplied by the wave + energising new pairs)

N(0) = 1, N_k(0) = 0, W(0) = γ_e m_e c². The system is linear, so its growth rate Γ is the largest eigenvalue of
its matrix (reported beside the solution); the ODE is stiff (κ spans many decades), hence an implicit method.

`ModalSolution` is the same solution in closed form: the matrix is similar to a symmetric one (D A D⁻¹ with
D_k = √(2κ_k / Ṅ_k)), so N(t) = Σ_j c_j e^{λ_j t} with real λ_j, and W(t) = γ_e m_e c² N(t) + P_IC ∫₀ᵗ N. The
truncation scans use it (thousands of evaluations); the tests check it against ``solve``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.integrate import solve_ivp

from methods.astro.constants import ME_C2_ERG
from methods.astro.field import CascadeTables

FloatArray = NDArray[np.float64]


def rate_matrix(tables: CascadeTables) -> FloatArray:
    """The (K+1) x (K+1) matrix A of d[N, N_1..N_K]/dt = A [N, N_1..N_K]."""
    k = tables.bins
    a = np.zeros((k + 1, k + 1))
    a[0, 1:] = 2.0 * tables.absorption_per_s
    a[1:, 0] = tables.emission_per_s
    a[np.arange(1, k + 1), np.arange(1, k + 1)] = -tables.absorption_per_s
    return a


def growth_rate_per_s(tables: CascadeTables) -> float:
    """Asymptotic e-folding rate Γ of the multiplicity [s⁻¹] (0 when there is no cascade)."""
    if tables.no_cascade:
        return 0.0
    return float(np.max(np.linalg.eigvals(rate_matrix(tables)).real))


@dataclass(frozen=True)
class RateSolution:
    time_s: FloatArray
    multiplicity: FloatArray  # N(t) / N(0)
    photons_above_threshold: FloatArray  # Σ_k N_k(t) per seed lepton
    energy_drawn_erg: FloatArray  # W(t) per seed lepton
    growth_rate_per_s: float


def logsumexp(values: FloatArray) -> float:
    """ln Σ e^{v} without overflow (−inf entries contribute nothing)."""
    top = float(np.max(values))
    if not math.isfinite(top):
        return top
    return top + math.log(float(np.sum(np.exp(values - top))))


class ModalSolution:
    """N(t) and W(t) per seed lepton from the eigen-decomposition of the rate matrix (module docstring)."""

    def __init__(self, tables: CascadeTables):
        if tables.no_cascade:
            raise ValueError(f"no cascade: {tables.no_cascade}")
        emission, kappa = tables.emission_per_s, tables.absorption_per_s
        scale = np.concatenate([[1.0], np.sqrt(2.0 * kappa / emission)])  # D: B = D A D^-1 is symmetric
        sym = rate_matrix(tables) * scale[:, None] / scale[None, :]
        sym = 0.5 * (sym + sym.T)
        self.rates, vectors = np.linalg.eigh(sym)
        # N(t) = e_0^T D^-1 Q exp(Λt) Q^T D e_0 = Σ_j Q_0j² e^{λ_j t}  (D_0 = 1)
        with np.errstate(divide="ignore"):
            self.log_weights = 2.0 * np.log(np.abs(vectors[0, :]))
        self.log_gamma_mc2_erg = math.log(tables.gamma_lepton * ME_C2_ERG)
        self.log_ic_power_erg_s = math.log(tables.ic_power_erg_s) if tables.ic_power_erg_s > 0 else -math.inf

    @property
    def growth_rate_per_s(self) -> float:
        return float(self.rates.max())

    def log_multiplicity(self, t: float) -> float:
        """ln N(t) (computed in logs: N reaches e^{Γt} far beyond float range at long times)."""
        return float(logsumexp(self.log_weights + self.rates * t))

    def log_integral(self, t: float) -> float:
        """ln ∫₀ᵗ N(t') dt' [ln s]; every mode contributes w_j (e^{λ_j t} − 1)/λ_j >= 0."""
        if t <= 0:
            return -math.inf
        lam = self.rates
        x = lam * t
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            grow = x + np.log(-np.expm1(-x)) - np.log(lam)  # λ > 0
            decay = np.log(-np.expm1(x)) - np.log(-lam)  # λ < 0
        terms = np.where(np.abs(x) < 1e-12, math.log(t), np.where(lam > 0, grow, decay))
        return float(logsumexp(self.log_weights + terms))

    def log_energy_drawn_erg(self, t: float) -> float:
        """ln W(t), W = γ_e m_e c² N(t) + P_IC ∫₀ᵗ N."""
        return float(np.logaddexp(self.log_gamma_mc2_erg + self.log_multiplicity(t),
                                  self.log_ic_power_erg_s + self.log_integral(t)))


def solve(tables: CascadeTables, time_s: FloatArray, *, rtol: float = 1e-8) -> RateSolution:
    """Integrate the rate equations and report them at ``time_s`` (ascending, starting at or after 0)."""
    time_s = np.asarray(time_s, dtype=np.float64)
    if time_s.size == 0 or np.any(np.diff(time_s) < 0) or time_s[0] < 0 or not np.all(np.isfinite(time_s)):
        raise ValueError("time_s: need finite, ascending times >= 0")
    mc2_gamma = tables.gamma_lepton * ME_C2_ERG
    if tables.no_cascade:
        ones = np.ones_like(time_s)
        return RateSolution(time_s, ones, np.zeros_like(time_s),
                            mc2_gamma + tables.ic_power_erg_s * time_s, 0.0)
    a = rate_matrix(tables)
    k = tables.bins
    full = np.zeros((k + 2, k + 2))
    full[: k + 1, : k + 1] = a
    full[k + 1, 0] = tables.ic_power_erg_s
    full[k + 1, :] += mc2_gamma * np.concatenate([a[0], [0.0]])
    y0 = np.zeros(k + 2)
    y0[0], y0[-1] = 1.0, mc2_gamma
    times, where = np.unique(time_s, return_inverse=True)  # solve_ivp needs strictly increasing times after 0
    if times[-1] == 0.0:
        y = np.repeat(y0[:, None], time_s.size, axis=1)
    else:
        sol = solve_ivp(lambda _t, y: full @ y, (0.0, float(times[-1])), y0, method="Radau", t_eval=times,
                        jac=full, rtol=rtol, atol=1e-12)
        if not sol.success:
            raise RuntimeError(f"rate equations: solve_ivp failed: {sol.message}")
        y = sol.y[:, where]
    return RateSolution(time_s, y[0], y[1 : k + 1].sum(axis=0), y[-1], growth_rate_per_s(tables))
