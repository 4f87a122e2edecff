"""Conventional power-sharing rules, the baselines of arXiv 2504.03150's comparison ("conventional methods").

The paper does not name its baselines; following the research card (sec. 2.8) we use: capacity-proportional
sharing (every converter on, P_i proportional to usable energy E_i) and SoC-based sharing (every converter on;
discharge P_i proportional to S_i - S_min, charge proportional to S_max - S_i, a droop-like SoC-balancing rule).
The third baseline, loss-only optimization, is the scheduler without its aging term (`scheduler`).
Shares are filled by water-filling: a module that hits its limit (rating or SoC headroom) keeps its limit and the
rest is re-shared among the others in the same proportion; what no module can take is the shortfall.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from methods.battery.modules import ModuleParams, max_charge_kw, max_discharge_kw

BASELINES = ("capacity", "soc")


def limits(modules: Sequence[ModuleParams], soc: np.ndarray, dt_h: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-module (max discharge, max charge) bus-side power this step, kW (see `modules.max_discharge_kw`)."""
    dis = np.array([max_discharge_kw(m, float(s), dt_h) for m, s in zip(modules, soc, strict=True)])
    ch = np.array([max_charge_kw(m, float(s), dt_h) for m, s in zip(modules, soc, strict=True)])
    return dis, ch


def water_fill(total: float, weights: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """Split ``total`` (>= 0) proportionally to ``weights`` under per-module ``caps``; returns the shares."""
    share = np.zeros_like(caps, dtype=float)
    free = (caps > 0) & (weights > 0)
    remaining = total
    while remaining > 1e-12 and free.any():
        proposal = remaining * weights * free / weights[free].sum()
        over = free & (share + proposal >= caps)
        if not over.any():
            share += proposal
            remaining = 0.0
            break
        remaining -= float((caps[over] - share[over]).sum())
        share[over] = caps[over]
        free &= ~over
    if remaining > 1e-12:  # every weighted module is full: let modules with zero weight help (SoC rule at limits)
        rest = (caps - share) > 0
        if rest.any():
            share += water_fill(remaining, np.where(rest, 1.0, 0.0), caps - share)
    return share


def allocate(method: str, modules: Sequence[ModuleParams], soc: np.ndarray, request_kw: float,
             dt_h: float) -> np.ndarray:
    """Bus-side power per module (kW, + discharge) of baseline ``method``; every converter stays on."""
    dis, ch = limits(modules, soc, dt_h)
    discharge = request_kw >= 0
    if method == "capacity":
        weights = np.array([m.energy_kwh for m in modules])
    elif method == "soc":
        if discharge:
            weights = np.array([max(s - m.soc_min, 0.0) for m, s in zip(modules, soc, strict=True)])
        else:
            weights = np.array([max(m.soc_max - s, 0.0) for m, s in zip(modules, soc, strict=True)])
    else:
        raise ValueError(f"unknown baseline {method!r}; known: {', '.join(BASELINES)}")
    share = water_fill(abs(request_kw), weights, dis if discharge else ch)
    return share if discharge else -share
