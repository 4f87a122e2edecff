"""Gaps found by a mutation audit of methods/battery/simulate.py: the forecast window and the run totals (tracking
RMSE, shortfall and requested energy, SoC spread and std) on lossless modules, whose values follow by hand."""

from __future__ import annotations

import numpy as np
import pytest

from methods.battery.modules import ModuleParams
from methods.battery.simulate import forecast_window, run_loop

DT_H = 2.0 / 3600


def test_forecast_window_persistence_and_known_signal():
    request = np.array([1.0, 2.0, 3.0])
    assert forecast_window(request, 1, 3, "persistence").tolist() == [2.0, 2.0, 2.0]
    assert forecast_window(request, 1, 3, "perfect").tolist() == [2.0, 3.0, 3.0]  # padded with the last value
    assert forecast_window(request, 0, 2, "perfect").tolist() == [1.0, 2.0]


def test_totals_of_a_run_beyond_the_modules_reach():
    # 1 kW for one step moves 40 kWh by 1/72000 of SoC: A by 25, B by 10 each step (40 kW: both capped too)
    modules = (ModuleParams("A", 50, 25, 400, 0.0, 0.0, 0.0, 0.0, soc0=0.5, soh=0.8),
               ModuleParams("B", 50, 10, 400, 0.0, 0.0, 0.0, 0.0, soc0=0.6, soh=0.8))
    result = run_loop(modules, np.array([60.0, 60.0, 40.0]), "capacity")
    totals, steps = result.totals, result.steps
    assert steps["delivered_kw"].tolist() == pytest.approx([35.0, 35.0, 35.0])
    assert steps["shortfall_kw"].tolist() == pytest.approx([25.0, 25.0, 5.0])
    assert totals["tracking_rmse_kw"] == pytest.approx(np.sqrt(425.0))
    assert totals["shortfall_kwh"] == pytest.approx(55.0 * DT_H)
    assert totals["requested_kwh"] == pytest.approx(160.0 * DT_H)
    # 1 kW for one step moves 40 kWh by 1/72000 of SoC: A by 25, B by 10 each step (40 kW: B's cap, A's too)
    unit = 1 / 72000
    assert steps["soc_min"].iloc[0] == pytest.approx(0.5 - 25 * unit)
    assert steps["soc_max"].iloc[0] == pytest.approx(0.6 - 10 * unit)
    assert totals["final_soc_spread"] == pytest.approx(0.1 + 45 * unit)
    assert totals["mean_soc_std"] == pytest.approx(np.mean([0.1 + 15 * unit, 0.1 + 30 * unit, 0.1 + 45 * unit]) / 2)
    assert totals["loss_cost_usd"] == 0.0 and totals["switch_cost_usd"] == 0.0 and totals["fallback_steps"] == 0.0
    assert steps["active_modules"].tolist() == [2, 2, 2] and steps["time_s"].tolist() == [0.0, 2.0, 4.0]


def test_solver_time_and_status_bookkeeping(monkeypatch):
    """A stand-in scheduler that reports 0.25 s per solve: solve_ms is in milliseconds, statuses are counted."""
    from methods.battery import simulate
    from methods.battery.scheduler import Decision

    class Stub:
        def solve(self, soc, request_kw, aging_ch, aging_dis, u_prev):
            return Decision(np.array([float(request_kw[0])]), np.ones(1), True, "optimal", 0.25)

    monkeypatch.setattr(simulate, "make_scheduler", lambda modules, settings: Stub())
    module = ModuleParams("A", 50, 25, 400, 0.0, 0.0, 0.0, 0.0, soc0=0.5, soh=0.8)
    result = run_loop((module,), np.array([5.0, -5.0, 2.0]), "proposed")
    assert result.steps["solve_ms"].tolist() == pytest.approx([250.0, 250.0, 250.0])
    assert result.totals["solve_ms_median"] == pytest.approx(250.0)
    assert result.totals["status_optimal"] == 3.0 and result.totals["fallback_steps"] == 0.0
    assert result.steps["delivered_kw"].tolist() == pytest.approx([5.0, -5.0, 2.0])
