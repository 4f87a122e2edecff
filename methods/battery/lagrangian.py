"""Lagrangian decomposition of the scheduler's one-step MIQCP: exact split for an on/off set, sets, dual bound.

The scheduler of arXiv 2504.03150 (`scheduler`, `scip_native`) is an MIQCP. For one control step (horizon 1) its
only coupling row is the power balance, so with a multiplier lambda ($/kWh of bus energy) on that row it splits into
one small problem per module (Lagrangian decomposition; Everett, Oper. Res. 11(3) 1963). In battery-side power Pb
(kW, + discharge) module i costs per hour  pi L + c_dis Pb+ + c_ch Pb-  with  L >= rho Pb^2 + (a/V)|Pb| + b  and
bus power P = Pb - L, so its Lagrangian term is

    (pi + lambda) (rho Pb^2 + (a/V)|Pb| + b) + c_dis Pb+ + c_ch Pb- - lambda Pb     (on; 0 when off)

(L at its lower bound, which is optimal when pi + lambda > 0), convex in Pb and minimized in closed form, clipped to
the module's reachable interval this step (`baselines.limits` through `modules.battery_power`; the model's own
bounds allow nothing cheaper outside it: beyond the rating the bus power is capped and only loss grows).

- `split`: for a fixed on/off set the delivered power is non-decreasing in lambda, so bisection on lambda gives the
  set's exact optimal split (the KKT point: equal marginal cost on every module not at a limit).
- `sets_and_bound`: a module is on where its Lagrangian term (plus any start-up cost) is below its off cost, at the
  multipliers bracketing the request: the classic Lagrangian heuristic, whose duality gap shrinks with the module
  count (Shapley-Folkman; Bertsekas, Nonlinear Programming, 2nd ed., sec. 5.1.6).
  With them the dual bound: by weak duality, for every lambda in (-pi, M] (M: the shortfall price, the slack's
  cost) the sum of the per-module minima plus lambda R is a lower bound on the MIQCP's optimum. Its maximum is the
  optimum of the convexified problem, each module's on/off set replaced by its convex hull, which the perspective
  reformulation describes (Frangioni & Gentile, Math. Program. 106 (2006) 225-236); SCIP reaches that bound only
  after rounds of cuts. An incumbent within the MIP gap of it is proven optimal without a branch and bound.
- `held_states`: Lagrangian reduced-cost fixing: the modules whose other state cannot be part of any allocation
  within the gap of the incumbent, which the scheduler fixes before it runs SCIP on the rest.

Where pi + lambda <= 0 would be needed (charging more than the modules take at lambda = -pi, or a charging aging
slope above the energy price, where the cost along the charging branch is concave) `split` charges the set's
modules harder in proportion to their remaining headroom (feasible, not claimed optimal) and the bound, restricted
to lambda > -pi, is usually too weak to certify: the scheduler then runs SCIP.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from methods.battery.baselines import water_fill
from methods.battery.modules import OCV_RELATIVE, OCV_SOC, ModuleParams

#: Halvings of the multiplier's range (-pi, M] (about 100 $/kWh wide): 48 leave it below 1e-12 $/kWh.
_BISECTIONS = 48


@dataclass(frozen=True)
class ModuleArrays:
    """The modules' fixed parameters as arrays (built once per scheduler)."""

    power_kw: np.ndarray
    energy_kwh: np.ndarray
    soc_min: np.ndarray
    soc_max: np.ndarray
    v_nom: np.ndarray
    resistance_ohm: np.ndarray
    switch_v: np.ndarray
    standby_kw: np.ndarray

    @classmethod
    def of(cls, modules: Sequence[ModuleParams]) -> ModuleArrays:
        def column(get) -> np.ndarray:
            return np.array([float(get(m)) for m in modules])

        return cls(column(lambda m: m.power_kw), column(lambda m: m.energy_kwh), column(lambda m: m.soc_min),
                   column(lambda m: m.soc_max), column(lambda m: m.v_nom),
                   column(lambda m: m.r_pack_ohm + m.r_conv_ohm), column(lambda m: m.switch_v),
                   column(lambda m: m.standby_w * 1e-3))

    def loss_coefficients(self, soc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rho, a/V, b) per module at ``soc`` (as `modules.ModuleParams.loss_coefficients`)."""
        v = self.v_nom * np.interp(soc, OCV_SOC, OCV_RELATIVE)
        return self.resistance_ohm / v**2 * 1e3, self.switch_v / v, self.standby_kw


def _battery_power(power_kw: np.ndarray, rho: np.ndarray, av: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`modules.battery_power` for arrays of converters that are on (the physical root of Pb = P + L(Pb))."""
    c = power_kw + b
    slope = np.where(c >= 0, 1.0 - av, 1.0 + av)
    return 2.0 * c / (slope + np.sqrt(np.maximum(slope**2 - 4.0 * rho * c, 0.0)))


@dataclass(frozen=True)
class StepData:
    """One step's per-module data (arrays of length N): loss coefficients, aging slopes ($/kWh), Pb bounds (kW)."""

    rho: np.ndarray
    av: np.ndarray
    b: np.ndarray
    c_ch: np.ndarray
    c_dis: np.ndarray
    pb_lo: np.ndarray
    pb_hi: np.ndarray
    u_prev: np.ndarray
    dt_h: float
    energy_price: float
    switch_usd: float
    shortfall_price: float

    @classmethod
    def of(cls, modules: ModuleArrays, soc: np.ndarray, aging_ch: np.ndarray, aging_dis: np.ndarray,
           u_prev: np.ndarray, dt_h: float, prices) -> StepData:
        """``prices``: a `scheduler.Prices` (energy, start-up and shortfall prices)."""
        soc = np.asarray(soc, float)
        rho, av, b = modules.loss_coefficients(soc)
        # the reachable Pb interval: rating (bus side, losses included) and the SoC window, as `modules.max_*_kw`
        rating_hi = _battery_power(modules.power_kw, rho, av, b)
        rating_lo = _battery_power(-modules.power_kw, rho, av, b)
        floor = np.maximum(0.0, (soc - modules.soc_min) * modules.energy_kwh / dt_h)
        ceiling = np.maximum(0.0, (modules.soc_max - soc) * modules.energy_kwh / dt_h)
        return cls(rho, av, b, np.asarray(aging_ch, float), np.asarray(aging_dis, float),
                   -np.minimum(ceiling, -rating_lo), np.minimum(floor, rating_hi), np.asarray(u_prev, float), dt_h,
                   prices.energy_usd_per_kwh, prices.switch_usd, prices.shortfall_usd_per_kwh)

    def limits(self) -> tuple[np.ndarray, np.ndarray]:
        """(max discharge, max charge) bus-side power, kW (`baselines.limits`)."""
        return self.pb_hi - self.loss(self.pb_hi), np.maximum(self.loss(self.pb_lo) - self.pb_lo, 0.0)

    def loss(self, pb: np.ndarray) -> np.ndarray:
        return self.rho * pb**2 + self.av * np.abs(pb) + self.b

    def battery_side(self, lam: float) -> np.ndarray:
        """Each module's minimizer of its Lagrangian term at ``lam`` (> -energy_price), clipped to its bounds."""
        kappa = self.energy_price + lam  # lam: a number, or a K x 1 column (K multipliers at once)
        scale = 2.0 * kappa * np.maximum(self.rho, 1e-300)
        with np.errstate(over="ignore"):  # a lossless module (rho = 0): a linear term, at a bound (inf clipped)
            up = np.maximum(lam - kappa * self.av - self.c_dis, 0.0) / scale
            down = np.maximum(-lam - kappa * self.av - self.c_ch, 0.0) / scale
        return np.minimum(np.maximum(up - down, self.pb_lo), self.pb_hi)

    def terms(self, lam: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(Pb, on cost, off cost) per module at ``lam``: the Lagrangian term's minimum per hour, start-ups too."""
        pb = self.battery_side(lam)
        on_cost = ((self.energy_price + lam) * self.loss(pb) + self.c_dis * np.maximum(pb, 0.0)
                   + self.c_ch * np.maximum(-pb, 0.0) - lam * pb + self.switch_usd / self.dt_h * (1.0 - self.u_prev))
        return pb, on_cost, self.switch_usd / self.dt_h * self.u_prev

    def battery_power(self, power_kw: np.ndarray, on: np.ndarray) -> np.ndarray:
        """Pb from bus power (off modules carry nothing)."""
        return np.where(on > 0.5, _battery_power(np.asarray(power_kw, float), self.rho, self.av, self.b), 0.0)

    def cost(self, power_kw: np.ndarray, on: np.ndarray, request_kw: float) -> float:
        """The one-step objective ($) of an allocation with the exact losses (as `scheduler.allocation_cost`)."""
        on = (np.asarray(on) > 0.5).astype(float)
        pb = self.battery_power(power_kw, on)
        per_hour = on * (self.energy_price * self.loss(pb) + self.c_dis * np.maximum(pb, 0.0)
                         + self.c_ch * np.maximum(-pb, 0.0))
        return float(self.dt_h * per_hour.sum() + self.switch_usd * np.abs(on - self.u_prev).sum()
                     + self.shortfall_price * self.dt_h * abs(request_kw - float(np.sum(power_kw))))

    def lambda_range(self) -> tuple[float, float]:
        return -self.energy_price * (1.0 - 1e-9), self.shortfall_price


def split(data: StepData, sets: np.ndarray, request_kw: float) -> np.ndarray:
    """Bus power per module (kW) meeting ``request_kw`` at least cost with each on/off set (rows of ``sets``,
    K x N), all sets bisected together (module docstring); returns K x N."""
    on = np.atleast_2d(np.asarray(sets, dtype=float)) > 0.5
    low, high = data.lambda_range()
    low, high = np.full((len(on), 1), low), np.full((len(on), 1), high)

    def delivered(lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pb = data.battery_side(lam)
        power = np.where(on, pb - data.loss(pb), 0.0)
        return power, power.sum(axis=1, keepdims=True)

    power_floor, total_floor = delivered(low)
    power_cap, total_cap = delivered(high)
    for _ in range(_BISECTIONS):
        middle = 0.5 * (low + high)
        short = delivered(middle)[1] < request_kw
        low, high = np.where(short, middle, low), np.where(short, high, middle)
    power_low, total_low = delivered(low)
    power_high, total_high = delivered(high)
    width = total_high - total_low
    weight = np.where(width > 1e-12, (request_kw - total_low) / np.where(width > 1e-12, width, 1.0), 1.0)
    power = power_low + np.clip(weight, 0.0, 1.0) * (power_high - power_low)  # the last sliver (clip or kink)
    power = np.where(total_cap <= request_kw, power_cap, power)  # the set cannot deliver more: slack takes it
    # even the least the convex branch allows is too much: charge harder, in proportion to the headroom left
    room = np.where(on, np.maximum(power_floor - (data.pb_lo - data.loss(data.pb_lo)), 0.0), 0.0)
    for k in np.flatnonzero(total_floor[:, 0] >= request_kw):
        power[k] = power_floor[k] - water_fill(float(total_floor[k, 0] - request_kw), room[k], room[k])
    return np.where(on, power, 0.0)


def _dual(data: StepData, request_kw: float, lam: float) -> float:
    """The Lagrangian dual function ($) at ``lam``: every module in the cheaper of its two states."""
    _, on_cost, off_cost = data.terms(lam)
    return data.dt_h * (lam * request_kw + float(np.minimum(on_cost, off_cost).sum()))


def _bracket(data: StepData, request_kw: float) -> tuple[float, float]:
    """Multipliers on both sides of where the Lagrangian choice delivers ``request_kw`` (the dual's maximizer:
    the delivered power is a supergradient's complement, non-decreasing in lambda)."""
    low, high = data.lambda_range()
    for _ in range(_BISECTIONS):
        middle = 0.5 * (low + high)
        pb, on_cost, off_cost = data.terms(middle)
        on = on_cost < off_cost
        if float(np.where(on, pb - data.loss(pb), 0.0).sum()) < request_kw:
            low = middle
        else:
            high = middle
    return low, high


def sets_and_bound(data: StepData, request_kw: float) -> tuple[list[np.ndarray], float]:
    """The Lagrangian on/off sets on both sides of the dual's maximizer (one or two distinct sets), and the dual
    bound there: a lower bound ($) on the one-step MIQCP's optimum (weak duality, module docstring)."""
    found, bound = [], -np.inf
    for lam in _bracket(data, request_kw):
        _, on_cost, off_cost = data.terms(lam)
        bound = max(bound, _dual(data, request_kw, lam))
        on = (on_cost < off_cost).astype(float)
        if not any(np.array_equal(on, other) for other in found):
            found.append(on)
    return found, bound


def held_states(data: StepData, request_kw: float, target: float) -> np.ndarray:
    """Lagrangian reduced-cost fixing: per module 1 / 0 where every solution with the other state costs at least
    ``target`` ($), -1 (free) elsewhere.

    At the dual's maximizer lambda*, forcing module i into the state its term does not choose raises the dual by
    dt |on_i - off_i|, so every solution with that state costs at least d(lambda*) + dt |on_i - off_i| (weak
    duality with the state fixed); where that reaches ``target`` the module may be held. The argument of SCIP's
    reduced-cost fixing, on the Lagrangian dual (Fisher, Manage. Sci. 27(1) 1981, sec. 6)."""
    best, best_lam = max((_dual(data, request_kw, lam), lam) for lam in _bracket(data, request_kw))
    _, on_cost, off_cost = data.terms(best_lam)
    held = best + data.dt_h * np.abs(on_cost - off_cost) >= target
    return np.where(held, (on_cost < off_cost).astype(float), -1.0)
