"""Gaps found by a mutation audit of methods/battery/aging.py and the aging prices of simulate.py: the default
stress curve and prices at hand-computed values (research card sec. 2.9: Phi(d) = 5.24e-4 d^2.03, C_rep = 150 $/kWh,
EoL 0.8), rainflow fades of simple traces by hand, and the online slopes in $/kWh of battery-side energy."""

from __future__ import annotations

import numpy as np
import pytest

from methods.battery.aging import AgingCost, OnlineAging, StressCurve, cycle_fade, cycles, rainflow_subgradient
from methods.battery.modules import ModuleParams
from methods.battery.simulate import aging_slopes

pytest.importorskip("rainflow")


def test_default_stress_curve_values():
    curve = StressCurve()
    assert curve.phi(1.0) == pytest.approx(5.24e-4, rel=1e-12)
    assert curve.phi(0.5) == pytest.approx(1.28304e-4, rel=1e-5)  # 5.24e-4 * 0.5^2.03
    assert curve.dphi(0.5) == pytest.approx(5.20914e-4, rel=1e-5)  # 5.24e-4 * 2.03 * 0.5^1.03
    assert curve.phi(0.0) == 0.0 and curve.dphi(0.0) == 0.0


def test_default_price_of_one_unit_of_fade():
    # 150 $/kWh x 50 kWh / (1 - 0.8)
    assert AgingCost().per_unit_fade(50.0) == pytest.approx(37_500.0)
    assert AgingCost(replacement_usd_per_kwh=100.0, end_of_life=0.7).per_unit_fade(30.0) == pytest.approx(10_000.0)


def test_rainflow_fades_of_hand_traces():
    curve = StressCurve(k_p=1.0, k_e=2.0)  # Phi(d) = d^2: easy to add by hand
    # 0.2 -> 0.8 -> 0.2: two half cycles of depth 0.6 = 0.6^2
    assert cycle_fade(np.array([0.2, 0.8, 0.2]), curve) == pytest.approx(0.36)
    # a monotone ramp is one half cycle of its depth
    assert cycle_fade(np.array([0.3, 0.4, 0.7]), curve) == pytest.approx(0.5 * 0.16)
    # 0.5 -> 0.9 -> 0.3 -> 0.5: half cycles 0.4 (0.5 -> 0.9) and 0.6 (0.9 -> 0.3), half cycle 0.2 (0.3 -> 0.5)
    assert cycle_fade(np.array([0.5, 0.9, 0.3, 0.5]), curve) == pytest.approx(0.5 * (0.16 + 0.36 + 0.04))
    assert cycles(np.array([0.5])) == [] and cycle_fade(np.array([0.5])) == 0.0


def test_subgradient_of_a_single_excursion():
    curve = StressCurve(k_p=1.0, k_e=2.0)  # Phi'(d) = 2 d
    grad = rainflow_subgradient(np.array([0.2, 0.8, 0.2]), curve)
    # two half cycles of depth 0.6, both with the maximum at index 1: 2 x 0.5 x 1.2 there, minus at the ends
    assert grad == pytest.approx([-0.6, 1.2, -0.6])
    grad = rainflow_subgradient(np.array([0.8, 0.2]), curve)  # one falling half cycle: high first
    assert grad == pytest.approx([0.6, -0.6])


def test_online_tracker_reversal_and_direction():
    curve = StressCurve(k_p=1.0, k_e=2.0)  # 1/2 Phi'(d) = d
    state = OnlineAging(0.5)
    state.update(0.7)  # charging from 0.5
    assert state.slopes(curve) == pytest.approx((0.2, 0.0))
    state.update(0.7 + 1e-12)  # below the tolerance: nothing changes
    assert state.direction == 1 and state.soc == 0.7
    state.update(0.6)  # reversal at 0.7, now discharging
    assert state.reversal == 0.7 and state.direction == -1
    assert state.slopes(curve) == pytest.approx((0.0, 0.1))
    state.update(0.4)  # further down the same half cycle: the reversal stays
    assert state.reversal == 0.7 and state.slopes(curve) == pytest.approx((0.0, 0.3))


def test_aging_slopes_are_dollars_per_kwh_of_battery_energy():
    module = ModuleParams("A", 40, 20, 380, 0.1, 0.025, 0.7, 35, soc0=0.5, soh=0.8)  # 32 usable kWh
    state = OnlineAging(0.5)
    state.update(0.3)  # discharging, open half cycle of depth 0.2
    cost = AgingCost(curve=StressCurve(k_p=1.0, k_e=2.0))
    ch, dis = aging_slopes([module], [state], cost)
    # per unit of fade: 150 x 40 / 0.2 = 30,000 $; one kWh moves the SoC by 1/32; slope along: 1/2 Phi'(0.2) = 0.2
    assert dis[0] == pytest.approx(30_000 * 0.2 / 32)
    assert ch[0] == pytest.approx(0.0)


def test_a_two_sample_trace_is_one_half_cycle():
    """Bug fixed: rainflow 3.2 returns no cycle for two samples, so a one-step closed loop booked no aging."""
    curve = StressCurve(k_p=1.0, k_e=2.0)
    assert cycle_fade(np.array([0.8, 0.2]), curve) == pytest.approx(0.5 * 0.36)
    assert cycle_fade(np.array([0.4, 0.4]), curve) == 0.0
    from methods.battery.simulate import run_loop

    module = ModuleParams("A", 40, 20, 380, 0.1, 0.025, 0.7, 35, soc0=0.5, soh=0.8)
    result = run_loop((module,), np.array([10.0]), "capacity")
    depth = 0.5 - float(result.steps["soc_A"].iloc[-1])
    assert depth > 0
    assert result.per_module["fade"].iloc[0] == pytest.approx(0.5 * StressCurve().phi(depth), rel=1e-12)
