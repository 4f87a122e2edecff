"""Gaps in the tests of `lagrangian` found by a mutation audit.

Closed here:
- `split` of a two-module set is the least-cost split found by a bounded scalar search over the plant cost
  (`scheduler.allocation_cost`), discharging and charging (the switching term's sign on the charging branch);
- the start-up cost in the Lagrangian terms: a module already on keeps its set when switching costs 1 $ (the
  priority rule alone would switch to the better module), and the step is proven by the bound without SCIP;
  a module on with nothing asked stays on, proven by the bound (the off term carries the switch-off cost);
- `split` lets the multiplier reach the shortfall price (a 20 $/kWh aging slope still served), and charges
  harder, by headroom, where the convex branch cannot charge (charging aging slope above the energy price).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyscipopt")
scipy_optimize = pytest.importorskip("scipy.optimize")

from methods.battery import lagrangian  # noqa: E402
from methods.battery.modules import ModuleParams  # noqa: E402
from methods.battery.scheduler import Prices, allocation_cost  # noqa: E402
from methods.battery.scip_native import PROVEN, NativeScheduler  # noqa: E402

DT_H = 2.0 / 3600
ZEROS2 = np.zeros(2)


def module(name: str, r_pack: float, switch_v: float = 0.6) -> ModuleParams:
    return ModuleParams(name, 50, 25, 400, r_pack, 0.02, switch_v, 40)


#: Different switching coefficients (a/V), so that the switching term moves the split off the 1/rho ratio.
PAIR = (module("A", 0.06), module("B", 0.18, switch_v=2.4))
SOC = np.array([0.5, 0.5])


def best_split(request: float) -> float:
    """Module A's bus power minimizing the plant cost of (x, request - x), both within +-24.9 kW."""
    cap = 24.9
    lo, hi = (max(-cap, request), min(0.0, request + cap)) if request < 0 else (max(0.0, request - cap),
                                                                                 min(cap, request))

    def cost(x: float) -> float:
        return allocation_cost(PAIR, SOC, np.array([x, request - x]), np.ones(2), np.ones(2), ZEROS2, ZEROS2,
                               request)

    return float(scipy_optimize.minimize_scalar(cost, bounds=(lo, hi), method="bounded",
                                                options={"xatol": 1e-8}).x)


@pytest.mark.parametrize("request_kw", [20.0, -20.0, 8.0, -8.0])
def test_split_of_two_modules_is_the_least_cost_split(request_kw):
    data = lagrangian.StepData.of(lagrangian.ModuleArrays.of(PAIR), SOC, ZEROS2, ZEROS2, np.ones(2), DT_H, Prices())
    power = lagrangian.split(data, np.ones(2), request_kw)[0]
    assert power.sum() == pytest.approx(request_kw, abs=1e-6)
    assert power[0] == pytest.approx(best_split(request_kw), abs=1e-3)


def test_a_module_already_on_keeps_its_set_when_switching_costs():
    """C (0.40 Ohm) is on, A (0.08 Ohm) off; 5 kW asked, 1 $ a switch: C alone serves (a few micro-dollars),
    any set with A costs at least 1 $. The bound proves it."""
    pair = (module("C", 0.38), module("A", 0.06))
    native = NativeScheduler(pair, prices=Prices(switch_usd=1.0), mip_gap=1e-6, time_limit_s=10.0)
    decision = native.solve(SOC, [5.0], ZEROS2, ZEROS2, np.array([1.0, 0.0]))
    assert decision.ok and decision.status == PROVEN
    assert decision.on.tolist() == [1.0, 0.0]
    assert decision.power_kw == pytest.approx([5.0, 0.0], abs=1e-6)
    assert decision.objective < 1e-4


def test_staying_on_with_nothing_asked_is_proven_when_switching_off_costs():
    native = NativeScheduler(PAIR[:1], prices=Prices(switch_usd=1.0), mip_gap=1e-6, time_limit_s=10.0)
    decision = native.solve(np.array([0.5]), [0.0], np.zeros(1), np.zeros(1), np.ones(1))
    assert decision.ok and decision.status == PROVEN
    assert decision.on.tolist() == [1.0]
    assert decision.objective < 1e-4


def test_split_serves_a_request_whose_aging_cost_is_high_but_below_the_shortfall_price():
    """A discharge aging slope of 20 $/kWh puts the marginal cost far above the energy price, yet still below the
    100 $/kWh shortfall price: the multiplier must range up to that price and the module deliver the 5 kW."""
    single = PAIR[:1]
    data = lagrangian.StepData.of(lagrangian.ModuleArrays.of(single), np.array([0.5]), np.zeros(1),
                                  np.array([20.0]), np.ones(1), DT_H, Prices())
    assert lagrangian.split(data, np.ones(1), 5.0)[0] == pytest.approx([5.0], abs=1e-6)


def test_split_charges_harder_where_charging_costs_more_aging_than_loss():
    """Charging aging slope 0.2 $/kWh above the 0.10 $/kWh energy price: even the lowest multiplier leaves both
    equal modules idle (each drawing its standby), so the 10 kW charge is shared by their equal headroom."""
    pair = (module("E", 0.06), module("F", 0.06))
    data = lagrangian.StepData.of(lagrangian.ModuleArrays.of(pair), SOC, np.full(2, 0.2), ZEROS2, np.ones(2), DT_H,
                                  Prices())
    power = lagrangian.split(data, np.ones(2), -10.0)[0]
    assert power == pytest.approx([-5.0, -5.0], abs=1e-9)
    power = lagrangian.split(data, np.ones(2), -0.5)[0]
    assert power == pytest.approx([-0.25, -0.25], abs=1e-9)
