"""The scheduler's MIQCP written directly in PySCIPOpt, built once and updated in place (arXiv 2504.03150).

Same objective and constraints as `scheduler.Scheduler` in ``miqcp`` mode (see its docstring), in SCIP's own
model so that no modelling layer runs per control step. cvxpy's SCIP interface hands SCIP a new model at every
``solve`` (the parameters are re-used by cvxpy's canonicalization, not by SCIP), which cost 0.15-0.35 s of CPU
time per step at 6-100 modules in our benchmark (`benchmarks/battery_solve_time.py`); here the SCIP model is built
once and, per step, only the data that changed are written into it:

- the request (balance rows ``sum_i P_ik + s+_k - s-_k = R_k``: `chgLhs` / `chgRhs`);
- the SoC window (rows ``dt/E_i sum_{j<=k} Pb_ij`` in ``[S_i - S_max, S_i - S_min]``: `chgLhs` / `chgRhs`);
- the loss coefficients frozen at the measured SoC (rows ``L_ik - rho_i q_ik - (a/V)_i (Pb+_ik + Pb-_ik) - b_i u_ik
  >= 0`` with ``q_ik >= Pb_ik^2`` the one quadratic constraint per module and step: `chgCoefLinear`);
- the linearized aging subgradient (the row defining the aging cost ``A = sum c_dis_i Pb+_ik + c_ch_i Pb-_ik``:
  `chgCoefLinear`);
- the previous on/off state (the first step's switch rows ``w_i0 >= |u_i0 - u_i,prev|``: `chgLhs`).

SCIP only accepts these changes in its problem stage, so the transformed problem of the previous solve is freed
first (`freeTransform`).

Warm start and proof without SCIP (one-step horizon; `lagrangian`): with the power balance dualized the step splits
into one problem per module. The candidate on/off sets (the Lagrangian sets at the dual's maximizer, the
activation-priority set, the previous step's set) are each split exactly (equal marginal cost, by bisection on the
multiplier), and the cheapest allocation is the incumbent. The Lagrangian dual gives a lower bound on the optimum
(the bound of the perspective relaxation, the convex hull of each module's on/off set: Frangioni & Gentile, Math.
Program. 106 (2006) 225-236). Where the incumbent is within `MIP_GAP` of that bound, in SCIP's own gap measure, it
is returned as proven (status `PROVEN`, no SCIP node); this is most steps at 20 and 100 modules, where the duality
gap of the decomposition is small (benchmark). Otherwise SCIP runs with the incumbent as its first solution
(`createSol` / `addSol`; SCIP checks it), and the first step's binaries of modules that cannot change state in any
allocation within the gap of the incumbent are fixed (Lagrangian reduced-cost fixing, `lagrangian.held_states`;
never against the incumbent): every solution that flips one costs at least incumbent / (1 + gap), so what SCIP
returns is still within the gap of the unrestricted optimum. SCIP already detects the perspective structure itself
(its perspective nonlinear handler strengthens the q >= Pb^2 rows of modules whose power is bounded by u), so the
rows are not written in perspective form; what cost the time was its root LP cut loop and the sub-NLP heuristic,
which the bound and the fixings avoid or shrink. With ``lagrangian=False`` the earlier warm start is used (the
previous or priority set, the request split in proportion to 1/rho) and SCIP runs every step.

Exactness: SCIP stops at the relative gap `MIP_GAP`; the tests compare the optimum with brute force over every
on/off set (the convex rest solved by Clarabel) and with the cvxpy route, and steps proven by the bound with brute
force. One property of the formulation (shared with the cvxpy model): the loss constraint is an inequality, tight
at the optimum as long as inflating the loss cannot pay. It can while charging: where a module's aging slope for
charging exceeds the energy price (a larger loss lowers the charged energy and its aging cost more than it adds in
loss cost), and where a charging request exceeds what the modules can take (bus power absorbed as loss costs the
energy price, less than the shortfall price). The model's loss then exceeds the plant's for the same bus powers;
the closed loop applies those powers to the plant model, which books the physical loss and any shortfall. Each
decision reports the excess (`Decision.loss_excess_kw`, 0 for steps proven by the bound, whose allocations are
physical) and the closed loop counts the steps (`model_loss_excess_steps`). Making the loss an equality would make
the problem non-convex (spatial branch and bound); the physical charge limit as a row per module would remove the
second case, but both change the problem the cvxpy route and the brute force solve, so neither is done here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from methods.battery.baselines import limits, water_fill
from methods.battery import lagrangian as decomposition
from methods.battery.modules import ModuleParams, battery_power, loss_kw
from methods.battery.scheduler import (
    CPU_CLOCK,
    OBJECTIVE_SCALE,
    SCIP_FEASTOL,
    Decision,
    Prices,
    priority_activation,
)

#: Relative MIP gap at which SCIP stops: 1e-4 is the default relative gap of Gurobi (parameter MIPGap) and CPLEX
#: (parameter mip tolerances mipgap); SCIP's own default, 0, proves optimality to the last node. With costs of
#: ~1e-5 $ per step, 1e-4 of it is ~1e-9 $: far below anything the figures resolve.
MIP_GAP = 1e-4
#: SCIP statuses whose solution is used (``gaplimit``: optimal within `MIP_GAP`).
ACCEPTED = ("optimal", "gaplimit")
#: Status of a step whose warm start the Lagrangian dual bound proves optimal within `MIP_GAP` (SCIP not run).
PROVEN = "lagrangian bound"
#: Absolute difference of primal and dual value ($) counted as none: SCIP's numerics/epsilon (1e-9) in the
#: scaled objective (OBJECTIVE_SCALE objective units per $), i.e. what SCIP itself would not tell apart.
ABS_GAP_USD = 1e-9 / OBJECTIVE_SCALE


def proven(cost: float, bound: float, gap: float) -> bool:
    """Whether ``cost`` is within the relative ``gap`` of the lower ``bound``, as SCIP's limits/gap judges it
    (|primal - dual| / min(|primal|, |dual|), infinite for opposite signs)."""
    if cost - bound <= ABS_GAP_USD:
        return True
    if cost <= 0.0 or bound <= 0.0:
        return False
    return (cost - bound) / min(cost, bound) <= gap


class NativeScheduler:
    """The MIQCP of `scheduler.Scheduler` (mode ``miqcp``) as one SCIP model; `solve` has the same signature."""

    mode = "miqcp"

    def __init__(self, modules: Sequence[ModuleParams], *, dt_s: float = 2.0, horizon: int = 1,
                 prices: Prices | None = None, time_limit_s: float = 1.0, mip_gap: float = MIP_GAP,
                 warm_start: bool = True, lagrangian: bool = True) -> None:
        self.lagrangian = lagrangian
        self.modules = tuple(modules)
        self._arrays = decomposition.ModuleArrays.of(self.modules)
        self.n = len(self.modules)
        self.dt_h = dt_s / 3600.0
        self.horizon = horizon
        self.prices = prices or Prices()
        self.time_limit_s = time_limit_s
        self.mip_gap = mip_gap
        self.warm_start = warm_start
        self.missing: str | None = None
        self._previous_on: np.ndarray | None = None
        try:
            self._build()
        except ImportError as error:  # pyscipopt is not installed: every step falls back
            self.missing = f"solver missing: {error}"

    # -------------------------------------------------------------------------------------------- model
    def _build(self) -> None:
        from pyscipopt import SCIP_PARAMSETTING, Model, quicksum

        n, h, prices = self.n, self.horizon, self.prices
        model = Model("battery_miqcp")
        model.hideOutput()
        model.setParam("limits/time", self.time_limit_s)
        model.setParam("timing/clocktype", CPU_CLOCK)
        model.setParam("limits/gap", self.mip_gap)
        model.setParam("numerics/feastol", SCIP_FEASTOL)  # same as the cvxpy model (see scheduler.SCIP_FEASTOL)
        # Speed settings (they change how fast SCIP proves the optimum, not which problem it solves), chosen by
        # measuring the closed loop at 20 and 100 modules: of SCIP's primal heuristics only sub-NLP runs (once, at
        # the root: it fixes the binaries of the LP solution and solves the remaining convex QCP with Ipopt, which
        # is what finds the optimum here; the others took about half of the time and found nothing better); cut
        # separation at SCIP's "fast" setting without the aggregation (c-MIR) separator, and no restarts after
        # the root (both cost time and closed no gap here). About 2x less CPU time per step than the defaults.
        model.setHeuristics(SCIP_PARAMSETTING.OFF)
        model.setParam("heuristics/subnlp/freq", 0)
        model.setSeparating(SCIP_PARAMSETTING.FAST)
        model.setParam("separating/aggregation/freq", -1)
        model.setParam("presolving/maxrestarts", 0)
        pmax = np.array([m.power_kw for m in self.modules])
        energy = np.array([m.energy_kwh for m in self.modules])
        self.u, self.p, self.pos, self.neg, self.pb, self.q, self.loss, self.w = ([] for _ in range(8))
        self.balance, self.loss_rows, self.soc_rows, self.switch_rows, self.slack = [], [], [], [], []
        for k in range(h):
            u = [model.addVar(f"u{k}_{i}", vtype="B") for i in range(n)]
            p = [model.addVar(f"p{k}_{i}", lb=-pmax[i], ub=pmax[i]) for i in range(n)]
            pos = [model.addVar(f"pos{k}_{i}", lb=0.0, ub=1.2 * pmax[i]) for i in range(n)]
            neg = [model.addVar(f"neg{k}_{i}", lb=0.0, ub=1.2 * pmax[i]) for i in range(n)]
            pb = [model.addVar(f"pb{k}_{i}", lb=-1.2 * pmax[i], ub=1.2 * pmax[i]) for i in range(n)]
            q = [model.addVar(f"q{k}_{i}", lb=0.0, ub=(1.2 * pmax[i]) ** 2) for i in range(n)]
            loss = [model.addVar(f"loss{k}_{i}", lb=0.0) for i in range(n)]
            w = [model.addVar(f"w{k}_{i}", lb=0.0) for i in range(n)]
            up, down = model.addVar(f"slack_up{k}", lb=0.0), model.addVar(f"slack_down{k}", lb=0.0)
            self.balance.append(model.addCons(quicksum(p) + up - down == 0.0, name=f"balance{k}"))
            loss_rows, soc_rows, switch_rows = [], [], []
            for i in range(n):
                model.addCons(pb[i] - pos[i] + neg[i] == 0.0)
                model.addCons(p[i] - pb[i] + loss[i] == 0.0)
                model.addCons(q[i] >= pb[i] * pb[i])  # the quadratic constraint of the MIQCP
                # rho, a/V are written per step (chgCoefLinear); b is fixed
                loss_rows.append(model.addCons(loss[i] - q[i] - pos[i] - neg[i]
                                               - self.modules[i].standby_w * 1e-3 * u[i] >= 0.0))
                model.addCons(p[i] - pmax[i] * u[i] <= 0.0)
                model.addCons(p[i] + pmax[i] * u[i] >= 0.0)
                model.addCons(pos[i] - 1.2 * pmax[i] * u[i] <= 0.0)
                model.addCons(neg[i] - 1.2 * pmax[i] * u[i] <= 0.0)
                moved = quicksum(self.dt_h / energy[i] * b for b in [*(self.pb[j][i] for j in range(k)), pb[i]])
                soc_rows.append(model.addCons(moved >= 0.0))  # bounds written per step (chgLhs / chgRhs)
                if k == 0:  # u_prev enters the right-hand sides (written per step)
                    switch_rows.append((model.addCons(w[i] - u[i] >= 0.0), model.addCons(w[i] + u[i] >= 0.0)))
                else:
                    model.addCons(w[i] - u[i] + self.u[k - 1][i] >= 0.0)
                    model.addCons(w[i] + u[i] - self.u[k - 1][i] >= 0.0)
            for store, values in ((self.u, u), (self.p, p), (self.pos, pos), (self.neg, neg), (self.pb, pb),
                                  (self.q, q), (self.loss, loss), (self.w, w)):
                store.append(values)
            self.loss_rows.append(loss_rows)
            self.soc_rows.append(soc_rows)
            if k == 0:
                self.switch_rows = switch_rows
            self.slack.append((up, down))
        self.aging = model.addVar("aging", lb=0.0)
        self.aging_row = model.addCons(
            self.aging - quicksum(self.pos[k][i] + self.neg[k][i] for k in range(h) for i in range(n)) == 0.0)
        cost = quicksum(prices.energy_usd_per_kwh * self.dt_h * self.loss[k][i] + prices.switch_usd * self.w[k][i]
                        for k in range(h) for i in range(n))
        cost += quicksum(prices.shortfall_usd_per_kwh * self.dt_h * (up + down) for up, down in self.slack)
        model.setObjective(OBJECTIVE_SCALE * (cost + self.aging), "minimize")
        self.model = model
        self._coef: dict[tuple[int, int, str], float] = {}
        self._held: dict[int, tuple[float, float]] = {}

    # -------------------------------------------------------------------------------------------- data
    @staticmethod
    def _set_range(model, cons, lhs: float, rhs: float) -> None:
        model.chgRhs(cons, None)  # open first, so that lhs <= rhs holds after every call
        model.chgLhs(cons, lhs)
        model.chgRhs(cons, rhs)

    def _coefficient(self, cons, var, key: tuple[int, int, str], value: float) -> None:
        if self._coef.get(key) != value:
            self.model.chgCoefLinear(cons, var, value)
            self._coef[key] = value

    def set_data(self, soc: np.ndarray, request_kw: Sequence[float], aging_ch: np.ndarray,
                 aging_dis: np.ndarray, u_prev: np.ndarray) -> None:
        """Write one step's data into the (freed) model; arguments as `scheduler.Scheduler.set_data`."""
        model = self.model
        if model.getStage() > 1:  # SCIP_STAGE_PROBLEM
            model.freeTransform()
        for k, request in enumerate(request_kw):
            self._set_range(model, self.balance[k], float(request), float(request))
        for i, module in enumerate(self.modules):
            rho, av, _ = module.loss_coefficients(float(soc[i]))
            for k in range(self.horizon):
                row = self.loss_rows[k][i]
                self._coefficient(row, self.q[k][i], (k, i, "rho"), -rho)
                self._coefficient(row, self.pos[k][i], (k, i, "av+"), -av)
                self._coefficient(row, self.neg[k][i], (k, i, "av-"), -av)
                self._coefficient(self.aging_row, self.pos[k][i], (k, i, "dis"), -float(aging_dis[i]) * self.dt_h)
                self._coefficient(self.aging_row, self.neg[k][i], (k, i, "ch"), -float(aging_ch[i]) * self.dt_h)
                self._set_range(model, self.soc_rows[k][i], float(soc[i]) - module.soc_max,
                                float(soc[i]) - module.soc_min)
            up, down = self.switch_rows[i]
            model.chgLhs(up, -float(u_prev[i]))
            model.chgLhs(down, float(u_prev[i]))

    def _hold(self, held: np.ndarray | None) -> None:
        """Bounds of the first step's binaries: fixed where ``held`` says 0 / 1, [0, 1] elsewhere (problem stage)."""
        held = np.full(self.n, -1.0) if held is None else held
        for i, state in enumerate(held):
            bounds = (0.0, 1.0) if state < 0 else (float(state), float(state))
            if self._held.get(i, (0.0, 1.0)) != bounds:
                self.model.chgVarLb(self.u[0][i], bounds[0])
                self.model.chgVarUb(self.u[0][i], bounds[1])
                self._held[i] = bounds

    # -------------------------------------------------------------------------------------------- warm start
    def _candidate(self, soc: np.ndarray, request: float, on: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bus powers splitting ``request`` among the ``on`` modules (weights 1/rho: the loss-optimal split of
        the conduction term), capped by this step's limits; returns (power, on)."""
        dis, ch = limits(self.modules, soc, self.dt_h)
        rho = np.array([m.loss_coefficients(float(s))[0] for m, s in zip(self.modules, soc, strict=True)])
        caps = (dis if request >= 0 else ch) * on
        with np.errstate(divide="ignore"):  # a lossless module (R = 0): 1/rho = inf
            weights = np.where(on > 0.5, 1.0 / rho, 0.0)
        if np.isinf(weights).any():  # lossless modules take the request first, in equal shares
            weights = np.isinf(weights).astype(float)
        share = water_fill(abs(request), weights, np.maximum(caps, 0.0))
        return (share if request >= 0 else -share), on

    def _incumbent(self, soc: np.ndarray, request: float, aging_ch: np.ndarray, aging_dis: np.ndarray,
                   u_prev: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float, np.ndarray | None]:
        """The warm start: (power, on, its cost in $, a lower bound on the optimum or -inf, held binaries or None).

        With ``lagrangian``: the exact split (`lagrangian.split`) of each candidate set (the Lagrangian sets, the
        activation-priority set, the previous step's set), the cheapest kept; with one step the Lagrangian dual
        bound comes with it, and where it does not prove the allocation, the modules held for SCIP (1 / 0; -1
        free). Without: the priority or previous set, the request split in proportion to 1/rho."""
        from methods.battery.scheduler import allocation_cost

        previous = [] if self._previous_on is None else [self._previous_on]
        if not self.lagrangian:
            best, best_cost = None, np.inf
            for on in [priority_activation(self.modules, soc, request, aging_ch, aging_dis, self.dt_h), *previous]:
                power, on = self._candidate(soc, request, on)
                cost = allocation_cost(self.modules, soc, power, on, u_prev, aging_ch, aging_dis, request,
                                       self.dt_h * 3600.0, self.prices)
                if cost < best_cost:
                    best, best_cost = (power, on), cost
            return *best, best_cost, -np.inf, None
        data = decomposition.StepData.of(self._arrays, soc, aging_ch, aging_dis, u_prev, self.dt_h, self.prices)
        found, bound = decomposition.sets_and_bound(data, request)
        coefficients = np.column_stack([data.rho, data.av, data.b])
        priority = priority_activation(self.modules, soc, request, aging_ch, aging_dis, self.dt_h, data.limits(),
                                       coefficients)
        unique: list[np.ndarray] = []
        for on in [*found, priority, *previous]:
            if not any(np.array_equal(on, other) for other in unique):
                unique.append(on)
        powers = decomposition.split(data, np.array(unique), request)
        costs = [data.cost(power, on, request) for power, on in zip(powers, unique, strict=True)]
        best = int(np.argmin(costs))
        if self.horizon > 1 or proven(costs[best], bound, self.mip_gap):
            return powers[best], unique[best], costs[best], (bound if self.horizon == 1 else -np.inf), None
        # modules that cannot change state in any allocation within the gap of this one are held for SCIP
        held = decomposition.held_states(data, request, costs[best] / (1.0 + self.mip_gap))
        held = np.where(held == unique[best], held, -1.0)  # never against the warm start (it stays feasible)
        return powers[best], unique[best], costs[best], bound, held

    def _add_warm_start(self, soc: np.ndarray, request_kw: Sequence[float], power: np.ndarray, on: np.ndarray,
                        aging_ch: np.ndarray, aging_dis: np.ndarray, u_prev: np.ndarray) -> None:
        """Hand SCIP the allocation (first step; later horizon steps idle) as a solution of its model."""
        model = self.model
        sol = model.createSol()
        aging = 0.0
        for k in range(self.horizon):
            delivered = 0.0
            for i, module in enumerate(self.modules):
                rho, av, b = module.loss_coefficients(float(soc[i]))
                is_on = bool(k == 0 and on[i] > 0.5)
                p = float(power[i]) if is_on else 0.0
                pb = battery_power(p, rho, av, b, is_on)
                previous = float(u_prev[i]) if k == 0 else float(k == 1 and on[i] > 0.5)
                values = ((self.u, float(is_on)), (self.p, p), (self.pb, pb), (self.pos, max(pb, 0.0)),
                          (self.neg, max(-pb, 0.0)), (self.q, pb * pb), (self.loss, loss_kw(pb, rho, av, b, is_on)),
                          (self.w, abs(float(is_on) - previous)))
                for store, value in values:
                    model.setSolVal(sol, store[k][i], value)
                aging += self.dt_h * (float(aging_dis[i]) * max(pb, 0.0) + float(aging_ch[i]) * max(-pb, 0.0))
                delivered += p
            gap = float(request_kw[k]) - delivered
            up, down = self.slack[k]
            model.setSolVal(sol, up, max(gap, 0.0))
            model.setSolVal(sol, down, max(-gap, 0.0))
        model.setSolVal(sol, self.aging, aging)
        model.addSol(sol, free=True)  # SCIP checks it; an infeasible candidate is simply not kept

    # -------------------------------------------------------------------------------------------- solve
    def solve(self, soc: np.ndarray, request_kw: Sequence[float], aging_ch: np.ndarray, aging_dis: np.ndarray,
              u_prev: np.ndarray) -> Decision:
        """Solve for the first step of the horizon; never raises on solver trouble (``ok=False`` instead)."""
        start = time.perf_counter()
        zeros = np.zeros(self.n)
        if self.missing:
            return Decision(zeros, zeros, False, self.missing, time.perf_counter() - start)
        soc = np.asarray(soc, dtype=float)
        aging_ch, aging_dis = np.asarray(aging_ch, float), np.asarray(aging_dis, float)
        u_prev = np.asarray(u_prev, float)
        try:
            if self.warm_start:
                power, on, cost, bound, held = self._incumbent(soc, float(request_kw[0]), aging_ch, aging_dis,
                                                               u_prev)
                if proven(cost, bound, self.mip_gap):
                    self._previous_on = on
                    return Decision(np.where(on > 0.5, power, 0.0), on, True, PROVEN, time.perf_counter() - start,
                                    cost, nodes=0, loss_excess_kw=0.0)
            self.set_data(soc, request_kw, aging_ch, aging_dis, u_prev)
            self._hold(held if self.warm_start else None)
            if self.warm_start:
                self._add_warm_start(soc, request_kw, power, on, aging_ch, aging_dis, u_prev)
            self.model.optimize()
            status = self.model.getStatus()
        except Exception as error:  # noqa: BLE001  (any solver trouble is one counted fallback step, never a crash)
            return Decision(zeros, zeros, False, f"solver error: {error}", time.perf_counter() - start)
        if status == "timelimit":
            status = "time limit"  # an incumbent at the time limit is not trusted: the step falls back
        if status not in ACCEPTED or self.model.getNSols() == 0:
            return Decision(zeros, zeros, False, status, time.perf_counter() - start)
        sol = self.model.getBestSol()
        on = np.array([round(self.model.getSolVal(sol, v)) for v in self.u[0]], dtype=float).clip(0, 1)
        power = np.array([self.model.getSolVal(sol, v) for v in self.p[0]])
        power = np.where(on > 0.5, power, 0.0)
        objective = float(self.model.getSolObjVal(sol)) / OBJECTIVE_SCALE
        self._previous_on = on
        elapsed = time.perf_counter() - start
        excess = 0.0
        for i, module in enumerate(self.modules):
            if on[i] > 0.5:
                rho, av, b = module.loss_coefficients(float(soc[i]))
                try:
                    plant = loss_kw(battery_power(float(power[i]), rho, av, b, True), rho, av, b, True)
                except ValueError:  # beyond the module's reach: the plant clips it; no excess to report
                    excess = float("nan")
                    break
                excess += self.model.getSolVal(sol, self.loss[0][i]) - plant
        return Decision(power, on, True, status, elapsed, objective, nodes=self.model.getNNodes(),
                        loss_excess_kw=excess)
