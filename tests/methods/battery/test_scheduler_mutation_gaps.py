"""Gaps in the tests of `scheduler` found by a mutation audit.

Closed here:
- an unknown mode is refused;
- the start-up cost counts a converter switched off as well as one switched on (one module, hand-worked costs;
  both the cvxpy route and the native model);
- the cvxpy route does not trust an incumbent that SCIP returns at its time limit (cvxpy reports it as
  ``optimal_inaccurate``);
- activation priority: a sub-watt request still turns one module on; the aging slope of the request's direction
  is the one that ranks; a module that cannot move in the request's direction is never chosen; one module is kept
  while it covers the request and is the cheaper count; of two equally cheap counts the smaller wins.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("cvxpy")
pytest.importorskip("pyscipopt")

from methods.battery.modules import ModuleParams, battery_power  # noqa: E402
from methods.battery.scheduler import Prices, Scheduler, priority_activation  # noqa: E402
from methods.battery.scip_native import NativeScheduler  # noqa: E402

DT_H = 2.0 / 3600
ZEROS2 = np.zeros(2)


def module(name: str = "A", r_pack: float = 0.06, soc0: float = 0.5, standby_w: float = 40.0) -> ModuleParams:
    """50 kWh, 25 kW, 400 V at SoC 0.5; R = r_pack + 0.02 Ohm, a = 0.6 V."""
    return ModuleParams(name, 50, 25, 400, r_pack, 0.02, 0.6, standby_w, soc0=soc0)


def backend(name: str, prices: Prices):
    modules = (module(),)
    if name == "native":
        return NativeScheduler(modules, prices=prices, time_limit_s=10.0, mip_gap=0.0)
    return Scheduler(modules, prices=prices, time_limit_s=10.0, mip_gap=0.0)


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="mode"):
        Scheduler((module(),), mode="greedy")


@pytest.mark.parametrize("name", ["native", "cvxpy"])
def test_switching_off_costs_the_start_up_price_too(name):
    """Nothing asked of a module that is on: staying on costs its standby loss (~2e-6 $), switching off 1 $."""
    scheduler = backend(name, Prices(switch_usd=1.0))
    decision = scheduler.solve(np.array([0.5]), [0.0], np.zeros(1), np.zeros(1), np.ones(1))
    assert decision.ok, decision.status
    assert decision.on.tolist() == [1.0]
    rho, av, b = module().loss_coefficients(0.5)
    standby = battery_power(0.0, rho, av, b, True)  # the battery feeds the converter's own loss: Pb = L
    assert decision.objective == pytest.approx(0.10 * DT_H * standby, rel=1e-4)


@pytest.mark.parametrize("name", ["native", "cvxpy"])
def test_switching_on_is_worth_it_only_below_the_shortfall_cost(name):
    """10 kW asked of a module that is off: the shortfall costs 100 $/kWh x 10 kW x 2 s = 0.556 $."""
    shortfall = 100.0 * 10.0 * DT_H
    expensive = backend(name, Prices(switch_usd=1.0)).solve(np.array([0.5]), [10.0], np.zeros(1), np.zeros(1),
                                                             np.zeros(1))
    assert expensive.ok and expensive.on.tolist() == [0.0]
    assert expensive.objective == pytest.approx(shortfall, rel=1e-6)
    cheap = backend(name, Prices(switch_usd=0.1)).solve(np.array([0.5]), [10.0], np.zeros(1), np.zeros(1),
                                                         np.zeros(1))
    assert cheap.ok and cheap.on.tolist() == [1.0]
    assert cheap.power_kw[0] == pytest.approx(10.0, abs=1e-5)
    assert 0.1 < cheap.objective < 0.1 + 1e-4  # the start-up plus a few micro-dollars of loss


def test_cvxpy_route_rejects_an_incumbent_at_the_time_limit(monkeypatch):
    """cvxpy maps SCIP's ``timelimit`` with a solution to ``optimal_inaccurate``; the step must still fall back."""
    scheduler = backend("cvxpy", Prices())
    solve = scheduler.problem.solve

    def stopped_at_the_limit(*args, **kw):
        result = solve(*args, **kw)
        scheduler.problem._status = "optimal_inaccurate"
        scheduler.problem._solver_stats.extra_stats["scip_status"] = "timelimit"
        return result

    monkeypatch.setattr(scheduler.problem, "solve", stopped_at_the_limit)
    decision = scheduler.solve(np.array([0.5]), [5.0], np.zeros(1), np.zeros(1), np.ones(1))
    assert not decision.ok and decision.status == "time limit"
    assert decision.power_kw.tolist() == [0.0]


def test_priority_turns_one_module_on_for_a_sub_watt_request():
    pair, soc = (module("A"), module("B")), np.array([0.5, 0.5])
    assert priority_activation(pair, soc, 1e-4, ZEROS2, ZEROS2, DT_H).tolist() == [1.0, 0.0]
    assert priority_activation(pair, soc, -1e-4, ZEROS2, ZEROS2, DT_H).tolist() == [1.0, 0.0]
    assert priority_activation(pair, soc, 1e-10, ZEROS2, ZEROS2, DT_H).tolist() == [0.0, 0.0]


def test_priority_ranks_by_the_aging_slope_of_the_requests_direction():
    """Equal modules at equal SoC: only the slopes differ; A ages when discharged, B when charged."""
    pair, soc = (module("A"), module("B")), np.array([0.5, 0.5])
    aging_ch, aging_dis = np.array([0.0, 1.0]), np.array([1.0, 0.0])
    assert priority_activation(pair, soc, 5.0, aging_ch, aging_dis, DT_H).tolist() == [0.0, 1.0]
    assert priority_activation(pair, soc, -5.0, aging_ch, aging_dis, DT_H).tolist() == [1.0, 0.0]


def test_priority_never_chooses_a_module_that_cannot_move_that_way():
    """A (0.08 Ohm) sits at its SoC floor: it ranks first (score 0.24 against B's 1 + 1 - 1 = 1, B having the
    higher resistance and an aging slope) but has nothing to discharge, so B alone serves; charging, A first."""
    pair, soc = (module("A", 0.06, soc0=0.1), module("B", 0.38)), np.array([0.1, 0.5])
    aging_dis = np.array([0.0, 1.0])
    assert priority_activation(pair, soc, 5.0, ZEROS2, aging_dis, DT_H).tolist() == [0.0, 1.0]
    assert priority_activation(pair, soc, -5.0, ZEROS2, aging_dis, DT_H).tolist() == [1.0, 0.0]


def test_priority_keeps_one_module_while_it_covers_the_request():
    """Standby 0.4 kW, rho 5e-4 /kW: one module costs R^2 rho + 0.4, two R^2 rho / 2 + 0.8, so one is cheaper
    up to 40 kW; it is kept up to its 25 kW rating, and a second joins only beyond it."""
    pair, soc = (module("A", standby_w=400.0), module("B", standby_w=400.0)), np.array([0.5, 0.5])
    assert priority_activation(pair, soc, 20.0, ZEROS2, ZEROS2, DT_H).tolist() == [1.0, 0.0]
    assert priority_activation(pair, soc, 24.9, ZEROS2, ZEROS2, DT_H).tolist() == [1.0, 0.0]
    assert priority_activation(pair, soc, 25.1, ZEROS2, ZEROS2, DT_H).tolist() == [1.0, 1.0]
    assert priority_activation(pair, soc, -24.9, ZEROS2, ZEROS2, DT_H).tolist() == [1.0, 0.0]


def test_priority_takes_the_smaller_count_of_equal_estimates():
    """Lossless modules without standby: every count has the estimated loss 0, so one module is enough."""
    lossless = ModuleParams("L", 50, 25, 400, 0.0, 0.0, 0.0, 0.0)
    on = priority_activation((lossless, lossless), np.array([0.5, 0.5]), 10.0, ZEROS2, ZEROS2, DT_H)
    assert on.tolist() == [1.0, 0.0]


def test_priority_mode_fixes_the_binaries_by_the_first_steps_request():
    """Horizon 2, requests 20 then 30 kW: the rule picks one module for 20 kW (one is cheaper up to the 25 kW
    rating) and holds that set over the horizon; the 30 kW step's need of two modules must not decide it."""
    pair = (module("A", standby_w=400.0), module("B", standby_w=400.0))
    scheduler = Scheduler(pair, mode="priority", horizon=2)
    decision = scheduler.solve(np.array([0.5, 0.5]), [20.0, 30.0], ZEROS2, ZEROS2, np.ones(2))
    assert decision.ok, decision.status
    assert decision.on.tolist() == [1.0, 0.0]
    assert decision.power_kw == pytest.approx([20.0, 0.0], abs=1e-4)


def test_cvxpy_route_hands_scip_the_gap_it_was_given(monkeypatch):
    scheduler, seen = Scheduler((module(),), time_limit_s=10.0, mip_gap=0.003), {}
    solve = scheduler.problem.solve

    def recording_solve(*args, **kw):
        seen.update(kw.get("scip_params", {}))
        return solve(*args, **kw)

    monkeypatch.setattr(scheduler.problem, "solve", recording_solve)
    assert scheduler.solve(np.array([0.5]), [5.0], np.zeros(1), np.zeros(1), np.ones(1)).ok
    assert seen["limits/gap"] == 0.003 and seen["limits/time"] == 10.0 and seen["numerics/feastol"] == 1e-9
