"""Cycle-based battery aging: rainflow counting, a depth-of-discharge stress curve, and its subgradient.

Follows the cycle-aging model that arXiv 2504.03150 builds on (Shi, Xu, Tan, Zhang, arXiv 1703.07968; Xu et al.,
"Factoring the cycle aging cost of batteries participating in electricity markets", IEEE Trans. Power Syst. 33(2),
2018). Each rainflow cycle of depth d (ASTM E1049, counted with the `rainflow` package; half cycles weigh 1/2)
fades the capacity by Phi(d) = k_p d^k_e. The default coefficients are the Li-ion fit used by Xu et al. 2018
(k_p = 5.24e-4, k_e = 2.03: 1/k_p, about 1,900 cycles of 100% DoD per unit of fade, so about 380 of them to end of
life at EoL = 0.8), quoted from our research notes and not re-checked against the paper's text. A module reaches
end of life when its fade reaches 1 - EoL, so one cycle costs C_rep E Phi(d) / (1 - EoL).

Subgradients: offline, a counted cycle with its maximum at index a and its minimum at index b contributes
+w Phi'(d) to dC/dS_a and -w Phi'(d) to dC/dS_b (`rainflow_subgradient`). Online (inside the MPC), `OnlineAging`
keeps the open half cycle (its last reversal and direction): continuing in the same direction by |dS| costs about
1/2 Phi'(depth) |dS|, reversing starts a new half cycle at depth 0 and costs 1/2 Phi'(0) |dS|; these two slopes
(charge direction, discharge direction) are the linear aging terms of the MIQCP, refreshed every control step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class StressCurve:
    """Phi(d) = k_p d^k_e (fractional capacity fade per full cycle of depth d in [0, 1])."""

    k_p: float = 5.24e-4
    k_e: float = 2.03

    def phi(self, depth: float | np.ndarray) -> float | np.ndarray:
        return self.k_p * np.power(np.clip(depth, 0.0, 1.0), self.k_e)

    def dphi(self, depth: float | np.ndarray) -> float | np.ndarray:
        """Phi'(d) (the subgradient; Phi is convex and increasing for k_e >= 1)."""
        return self.k_p * self.k_e * np.power(np.clip(depth, 0.0, 1.0), self.k_e - 1.0)


@dataclass(frozen=True)
class AgingCost:
    """Price of one unit of Phi for a module: C_rep ($/kWh) x capacity (kWh) / (1 - EoL)."""

    replacement_usd_per_kwh: float = 150.0
    end_of_life: float = 0.8
    curve: StressCurve = field(default_factory=StressCurve)

    def per_unit_fade(self, capacity_kwh: float) -> float:
        return self.replacement_usd_per_kwh * capacity_kwh / (1.0 - self.end_of_life)


def cycles(soc: np.ndarray) -> list[tuple[float, float, int, int]]:
    """Rainflow cycles of an SoC trace: (depth, count 1 or 0.5, start index, end index)."""
    import rainflow

    soc = np.asarray(soc, dtype=float)
    if soc.size < 2:
        return []
    if soc.size == 2:  # rainflow 3.2 finds no reversal in two samples (its last point needs a successor)
        return [(float(abs(soc[1] - soc[0])), 0.5, 0, 1)] if soc[1] != soc[0] else []
    return [(float(rng), float(count), int(i0), int(i1))
            for rng, _mean, count, i0, i1 in rainflow.extract_cycles(soc)]


def cycle_fade(soc: np.ndarray, curve: StressCurve | None = None) -> float:
    """Total fractional fade sum(count * Phi(depth)) of an SoC trace (exact rainflow)."""
    curve = curve or StressCurve()
    return float(sum(count * curve.phi(depth) for depth, count, _, _ in cycles(soc)))


def rainflow_subgradient(soc: np.ndarray, curve: StressCurve | None = None) -> np.ndarray:
    """A subgradient of `cycle_fade` with respect to each SoC sample (module docstring)."""
    curve = curve or StressCurve()
    soc = np.asarray(soc, dtype=float)
    grad = np.zeros_like(soc)
    for depth, count, i0, i1 in cycles(soc):
        slope = count * float(curve.dphi(depth))
        high, low = (i0, i1) if soc[i0] >= soc[i1] else (i1, i0)
        grad[high] += slope
        grad[low] -= slope
    return grad


@dataclass
class OnlineAging:
    """The open half cycle of one module: last reversal SoC and direction (+1 charging, -1 discharging, 0 none)."""

    soc: float
    reversal: float = field(init=False)
    direction: int = 0
    tolerance: float = 1e-9

    def __post_init__(self) -> None:
        self.reversal = self.soc

    def update(self, soc: float) -> None:
        """Move to ``soc``; a change of direction makes the previous extreme the new reversal point."""
        step = soc - self.soc
        if abs(step) <= self.tolerance:
            return
        direction = 1 if step > 0 else -1
        if self.direction and direction != self.direction:
            self.reversal = self.soc
        self.direction = direction
        self.soc = soc

    def slopes(self, curve: StressCurve) -> tuple[float, float]:
        """(g_charge, g_discharge): marginal fade per unit of SoC moved up / down from here (>= 0)."""
        depth = abs(self.soc - self.reversal)
        along = 0.5 * float(curve.dphi(depth))
        fresh = 0.5 * float(curve.dphi(0.0))
        if self.direction > 0:
            return along, fresh
        if self.direction < 0:
            return fresh, along
        return fresh, fresh
