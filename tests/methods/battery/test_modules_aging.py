"""Battery module model and cycle aging (methods/battery/modules.py, aging.py): the exact loss inversion, loss
physics, SoC limits, the stress curve, rainflow cost properties and the subgradients."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from methods.battery.aging import OnlineAging, StressCurve, cycle_fade, rainflow_subgradient
from methods.battery.modules import ModuleParams, battery_power, loss_kw, max_charge_kw, max_discharge_kw
from methods.battery.presets import CASE1, CASE2

pytest.importorskip("rainflow")

DT_H = 2.0 / 3600


@settings(max_examples=60, deadline=None)
@given(index=st.integers(0, 5), soc=st.floats(0.1, 0.9), share=st.floats(-1.0, 1.0))
def test_battery_power_inverts_the_loss_and_pb_is_at_least_p(index, soc, share):
    module = CASE1[index]
    rho, av, b = module.loss_coefficients(soc)
    p = share * module.power_kw
    pb = battery_power(p, rho, av, b, True)
    loss = loss_kw(pb, rho, av, b, True)
    assert pb - loss == pytest.approx(p, abs=1e-9)
    assert loss >= 0 and pb >= p


def test_loss_is_convex_in_bus_power_and_zero_when_off():
    module = CASE1[0]
    rho, av, b = module.loss_coefficients(0.5)
    p = np.linspace(-25, 25, 201)
    loss = np.array([loss_kw(battery_power(x, rho, av, b, True), rho, av, b, True) for x in p])
    assert np.diff(loss, 2).min() >= -1e-12
    assert battery_power(0.0, rho, av, b, False) == 0.0 and loss_kw(0.0, rho, av, b, False) == 0.0
    with pytest.raises(ValueError, match="converter off carries no power"):
        battery_power(1.0, rho, av, b, False)


def test_round_trip_loses_energy():
    module = CASE1[2]
    rho, av, b = module.loss_coefficients(0.5)
    stored = -battery_power(-10.0, rho, av, b, True)  # charge at 10 kW bus power
    drawn = battery_power(10.0, rho, av, b, True)  # discharge at 10 kW bus power
    assert stored < 10.0 < drawn


def test_limits_respect_the_soc_window_and_rating():
    module = CASE1[0]
    standby_kw = module.standby_w * 1e-3  # a converter that is on at a SoC limit only carries its standby loss
    assert max_discharge_kw(module, module.soc_min, DT_H) == pytest.approx(-standby_kw)
    assert max_charge_kw(module, module.soc_max, DT_H) == pytest.approx(standby_kw)
    assert max_discharge_kw(module, 0.5, DT_H) == pytest.approx(module.power_kw)
    near = module.soc_min + 1e-4
    p = max_discharge_kw(module, near, DT_H)
    rho, av, b = module.loss_coefficients(near)
    assert near - battery_power(p, rho, av, b, True) * DT_H / module.energy_kwh >= module.soc_min - 1e-12


def test_module_params_reject_bad_values():
    with pytest.raises(ValueError, match="soc0"):
        ModuleParams("x", 10, 5, 400, 0.1, 0.01, 0.5, 10, soc0=0.95)
    with pytest.raises(ValueError, match="capacity_kwh"):
        ModuleParams("x", 0, 5, 400, 0.1, 0.01, 0.5, 10)


def test_case2_narrows_the_resistance_spread():
    spread = [max(m.r_pack_ohm for m in case) - min(m.r_pack_ohm for m in case) for case in (CASE1, CASE2)]
    assert spread[1] == pytest.approx(spread[0] / 2, rel=0.05)


# ------------------------------------------------------------------------------------------------ aging
def test_stress_curve_is_zero_at_zero_increasing_and_convex():
    curve = StressCurve()
    d = np.linspace(0, 1, 101)
    phi = curve.phi(d)
    assert phi[0] == 0.0
    assert np.diff(phi).min() > 0 and np.diff(phi, 2).min() >= -1e-18


def _cycle(depth, low=0.2, points=5):
    up = np.linspace(low, low + depth, points)
    return np.concatenate([up, up[::-1][1:]])


def test_aging_cost_is_monotone_in_depth_of_discharge():
    fades = [cycle_fade(np.concatenate([_cycle(d), _cycle(d)[1:]])) for d in np.linspace(0.05, 0.7, 14)]
    assert np.all(np.diff(fades) > 0)


def test_rainflow_cost_invariants():
    assert cycle_fade(np.full(20, 0.5)) == 0.0
    trace = np.array([0.5, 0.8, 0.3, 0.7, 0.4, 0.5])
    refined = np.array([0.5, 0.6, 0.7, 0.8, 0.55, 0.3, 0.5, 0.7, 0.4, 0.45, 0.5])  # points added on monotone runs
    assert cycle_fade(refined) == pytest.approx(cycle_fade(trace), rel=1e-12)
    one = np.array([0.5, 0.8, 0.2, 0.5])
    two = np.array([0.5, 0.8, 0.2, 0.8, 0.2, 0.5])
    single_full = StressCurve().phi(0.6)
    # the second closed 0.2 <-> 0.8 loop adds exactly one full cycle of depth 0.6
    assert cycle_fade(two) - cycle_fade(one) == pytest.approx(single_full, rel=1e-12)


def test_rainflow_subgradient_signs_and_first_order_accuracy():
    rng = np.random.default_rng(1)
    soc = 0.5 + 0.1 * np.cumsum(rng.choice([-1.0, 1.0], 30) * rng.uniform(0.2, 1.0, 30)) / 5
    grad = rainflow_subgradient(soc)
    maxima = [i for i in range(1, 29) if soc[i] > soc[i - 1] and soc[i] > soc[i + 1]]
    minima = [i for i in range(1, 29) if soc[i] < soc[i - 1] and soc[i] < soc[i + 1]]
    assert all(grad[i] >= 0 for i in maxima) and all(grad[i] <= 0 for i in minima)
    assert any(grad[i] > 0 for i in maxima)
    i = maxima[0]
    bumped = soc.copy()
    bumped[i] += 1e-6
    assert (cycle_fade(bumped) - cycle_fade(soc)) / 1e-6 == pytest.approx(grad[i], rel=0.05)


def test_online_slopes_charge_along_the_open_half_cycle():
    curve = StressCurve()
    state = OnlineAging(0.5)
    assert state.slopes(curve) == (0.0, 0.0)
    for soc in (0.45, 0.40, 0.30):  # discharging from 0.5
        state.update(soc)
    g_ch, g_dis = state.slopes(curve)
    assert g_dis == pytest.approx(0.5 * curve.dphi(0.2)) and g_ch == pytest.approx(0.5 * curve.dphi(0.0))
    state.update(0.35)  # reversal at 0.30
    g_ch, g_dis = state.slopes(curve)
    assert state.reversal == 0.30 and g_ch == pytest.approx(0.5 * curve.dphi(0.05))
