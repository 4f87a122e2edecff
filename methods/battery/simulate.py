"""Closed-loop FFR dispatch: a request signal, N modules, one method; the plant model and the cost accounting.

Follows the case studies of arXiv 2504.03150 (RegD-driven modular-battery dispatch; methods compared on power-loss
cost and aging cost). Methods: ``proposed`` (the scheduler with the linearized aging term; `make_scheduler` picks
the native SCIP model or the cvxpy one), ``loss_only`` (the same scheduler without it), ``capacity`` and ``soc``
(the conventional sharing rules of `baselines`).

Every step: the method proposes bus powers; the plant clips each module to this step's reachable range (rating
and SoC window; a module that is off carries nothing), solves Pb = P + L exactly (`modules.battery_power`) and
moves the SoC. Whatever the modules do not deliver is the step's shortfall (reported, never hidden). A scheduler
step that fails (infeasible, time limit, error, solver missing) is replaced by ``fallback`` (a baseline) for that
step and counted. Aging is evaluated afterwards by exact rainflow counting on each module's realized SoC trace,
the same way for every method.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from methods.battery.aging import AgingCost, OnlineAging, cycle_fade
from methods.battery.baselines import BASELINES, allocate, limits
from methods.battery.modules import ModuleParams, battery_power, loss_kw
from methods.battery.scheduler import Prices, Scheduler
from methods.battery.scip_native import NativeScheduler

METHODS = ("proposed", "loss_only", *BASELINES)
#: How the full MIQCP reaches SCIP: ``native`` (`scip_native`: one PySCIPOpt model updated in place) or ``cvxpy``
#: (`scheduler.Scheduler`: cp.Parameters, cvxpy's SCIP interface). Both solve the same problem to the same gap.
BACKENDS = ("native", "cvxpy")
#: Model loss above the plant's (kW) counted as a step where the loss inequality was not tight: far above the
#: solver's feasibility tolerance (1e-9 on rows of kW size), far below any loss that shows in the costs.
LOSS_EXCESS_KW = 1e-6


@dataclass(frozen=True)
class LoopSettings:
    """Control step, horizon and forecast, scheduler mode and limits, prices, aging model, fallback rule."""

    dt_s: float = 2.0
    horizon: int = 1
    forecast: str = "persistence"  # or "perfect" (the known test signal)
    mode: str = "miqcp"
    backend: str = "native"  # for mode miqcp (BACKENDS); the priority mode always uses cvxpy + Clarabel
    #: native backend: Lagrangian warm start and dual bound (`lagrangian`); False: the earlier warm start only
    lagrangian: bool = True
    time_limit_s: float = 1.0
    mip_gap: float = 1e-4
    fallback: str = "soc"
    prices: Prices = field(default_factory=Prices)
    aging: AgingCost = field(default_factory=AgingCost)


@dataclass
class LoopResult:
    """Per-step tidy rows and the run's totals."""

    steps: pd.DataFrame
    totals: dict[str, float]
    per_module: pd.DataFrame


def forecast_window(request_kw: np.ndarray, k: int, horizon: int, how: str) -> np.ndarray:
    """Request over the horizon: persistence of the current value, or the known signal (padded at the end)."""
    if how == "persistence":
        return np.full(horizon, request_kw[k])
    window = request_kw[k:k + horizon]
    return np.concatenate([window, np.full(horizon - len(window), window[-1])])


def aging_slopes(modules: Sequence[ModuleParams], trackers: Sequence[OnlineAging], cost: AgingCost
                 ) -> tuple[np.ndarray, np.ndarray]:
    """$ per kWh of battery-side energy moved (charge, discharge) for each module: K g / E (SoC per kWh = 1/E)."""
    ch, dis = [], []
    for module, tracker in zip(modules, trackers, strict=True):
        g_ch, g_dis = tracker.slopes(cost.curve)
        k = cost.per_unit_fade(module.capacity_kwh) / module.energy_kwh
        ch.append(k * g_ch)
        dis.append(k * g_dis)
    return np.array(ch), np.array(dis)


def make_scheduler(modules: Sequence[ModuleParams], settings: LoopSettings) -> Scheduler | NativeScheduler:
    """The scheduler ``settings`` ask for: the native SCIP model for the MIQCP, or the cvxpy one."""
    if settings.backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {settings.backend!r}")
    if settings.mode == "miqcp" and settings.backend == "native":
        return NativeScheduler(modules, dt_s=settings.dt_s, horizon=settings.horizon, prices=settings.prices,
                               time_limit_s=settings.time_limit_s, mip_gap=settings.mip_gap,
                               lagrangian=settings.lagrangian)
    return Scheduler(modules, dt_s=settings.dt_s, horizon=settings.horizon, mode=settings.mode,
                     prices=settings.prices, time_limit_s=settings.time_limit_s, mip_gap=settings.mip_gap)


def run_loop(modules: Sequence[ModuleParams], request_kw: np.ndarray, method: str,
             settings: LoopSettings | None = None, on_step: Callable[[int, int], None] | None = None) -> LoopResult:
    """Simulate ``method`` following ``request_kw`` (one value per step, + = discharge to the grid);
    ``on_step(steps_done, steps)`` is called after each control step (progress)."""
    settings = settings or LoopSettings()
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    modules = tuple(modules)
    n, dt_h = len(modules), settings.dt_s / 3600.0
    scheduler = None
    if method in ("proposed", "loss_only"):
        scheduler = make_scheduler(modules, settings)
    soc = np.array([m.soc0 for m in modules], dtype=float)
    on_prev = np.ones(n)
    trackers = [OnlineAging(float(s)) for s in soc]
    soc_trace = [soc.copy()]
    rows, power_rows = [], []
    loss_kwh = np.zeros(n)
    fallbacks, statuses = 0, {}
    for k, request in enumerate(np.asarray(request_kw, dtype=float)):
        solve_ms, solve_cpu_ms, fell_back = float("nan"), float("nan"), False
        nodes, loss_excess = float("nan"), float("nan")
        if scheduler is not None:
            g_ch, g_dis = aging_slopes(modules, trackers, settings.aging)
            if method == "loss_only":
                g_ch, g_dis = np.zeros(n), np.zeros(n)
            cpu = time.process_time()
            decision = scheduler.solve(soc, forecast_window(request_kw, k, settings.horizon, settings.forecast),
                                       g_ch, g_dis, on_prev)
            solve_cpu_ms = (time.process_time() - cpu) * 1e3  # this process's CPU time: robust to other load
            solve_ms = decision.solve_s * 1e3
            statuses[decision.status] = statuses.get(decision.status, 0) + 1
            nodes, loss_excess = decision.nodes, decision.loss_excess_kw
            if decision.ok:
                power, on = decision.power_kw, decision.on
            else:
                fallbacks, fell_back = fallbacks + 1, True
                power, on = allocate(settings.fallback, modules, soc, request, dt_h), np.ones(n)
        else:
            power, on = allocate(method, modules, soc, request, dt_h), np.ones(n)
        dis, ch = limits(modules, soc, dt_h)
        power = np.where(on > 0.5, np.clip(power, -ch, dis), 0.0)
        losses = np.zeros(n)
        for i, module in enumerate(modules):
            rho, av, b = module.loss_coefficients(float(soc[i]))
            pb = battery_power(float(power[i]), rho, av, b, bool(on[i] > 0.5))
            losses[i] = loss_kw(pb, rho, av, b, bool(on[i] > 0.5))
            soc[i] -= pb * dt_h / module.energy_kwh
            trackers[i].update(float(soc[i]))
        loss_kwh += losses * dt_h
        switches = int(np.abs(on - on_prev).sum())
        on_prev = on.copy()
        soc_trace.append(soc.copy())
        delivered = float(power.sum())
        rows.append({
            "step": k, "time_s": k * settings.dt_s, "request_kw": float(request), "delivered_kw": delivered,
            "shortfall_kw": float(request) - delivered, "loss_kw": float(losses.sum()),
            "loss_cost_usd": settings.prices.energy_usd_per_kwh * float(losses.sum()) * dt_h,
            "active_modules": int((on > 0.5).sum()), "switches": switches,
            "soc_min": float(soc.min()), "soc_max": float(soc.max()), "soc_spread": float(soc.max() - soc.min()),
            "solve_ms": solve_ms, "solve_cpu_ms": solve_cpu_ms, "fallback": fell_back, "solver_nodes": nodes,
            "model_loss_excess_kw": loss_excess,
        })
        power_rows.append(power.copy())
        if on_step is not None:
            on_step(k + 1, len(request_kw))
    powers = np.array(power_rows).reshape(len(rows), n)
    socs = np.array(soc_trace)
    per_module_columns = {}
    for i, module in enumerate(modules):
        per_module_columns[f"power_kw_{module.name}"] = powers[:, i]
        per_module_columns[f"soc_{module.name}"] = socs[1:, i]
    steps = pd.concat([pd.DataFrame(rows), pd.DataFrame(per_module_columns)], axis=1)
    fades = [cycle_fade(socs[:, i], settings.aging.curve) for i in range(n)]
    aging = [f * settings.aging.per_unit_fade(m.capacity_kwh) for f, m in zip(fades, modules, strict=True)]
    per_module = pd.DataFrame({"module": [m.name for m in modules], "fade": fades, "aging_cost_usd": aging,
                               "loss_kwh": loss_kwh})
    energy_requested = float(np.abs(steps["request_kw"]).sum() * dt_h)
    totals = {
        "loss_cost_usd": float(steps["loss_cost_usd"].sum()),
        "aging_cost_usd": float(sum(aging)),
        "switch_cost_usd": settings.prices.switch_usd * float(steps["switches"].sum()),
        "tracking_rmse_kw": float(np.sqrt(np.mean(steps["shortfall_kw"] ** 2))),
        "shortfall_kwh": float(np.abs(steps["shortfall_kw"]).sum() * dt_h),
        "requested_kwh": energy_requested,
        "final_soc_spread": float(steps["soc_spread"].iloc[-1]),
        "mean_soc_std": float(np.mean(np.std(socs[1:], axis=1))),
        "fallback_steps": float(fallbacks),
        # steps where the optimizer's loss exceeded the plant's for its own powers (the inequality's caveat)
        "model_loss_excess_steps": float((steps["model_loss_excess_kw"] > LOSS_EXCESS_KW).sum()),
        "solve_ms_median": float(np.nanmedian(steps["solve_ms"])) if scheduler else float("nan"),
        "solve_ms_p99": float(np.nanpercentile(steps["solve_ms"], 99)) if scheduler else float("nan"),
    }
    totals.update({f"status_{key}": float(v) for key, v in statuses.items()})
    return LoopResult(steps, totals, per_module)
