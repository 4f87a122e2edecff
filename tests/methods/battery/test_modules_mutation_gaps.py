"""Gaps found by a mutation audit of methods/battery/modules.py (and the SoC bookkeeping of simulate.py that rests
on it): usable energy = capacity x SoH in the SoC dynamics (hand-computed SoC steps of a lossless module), energy
conservation of the closed loop with losses, the limits at the SoC window, the parameter checks at their bounds,
and an off converter refusing power in either direction."""

from __future__ import annotations

import numpy as np
import pytest

from methods.battery.modules import ModuleParams, battery_power, max_charge_kw, max_discharge_kw
from methods.battery.presets import CASE1
from methods.battery.simulate import run_loop

DT_S = 2.0
DT_H = DT_S / 3600


def lossless(soc0: float = 0.5, soh: float = 0.8) -> ModuleParams:
    """50 kWh nameplate, 25 kW, no resistance, no switching or standby loss: Pb = P exactly."""
    return ModuleParams("L", 50, 25, 400, 0.0, 0.0, 0.0, 0.0, soc0=soc0, soh=soh)


def test_usable_energy_is_nameplate_times_state_of_health():
    assert lossless(soh=0.8).energy_kwh == pytest.approx(40.0)
    assert CASE1[0].energy_kwh == pytest.approx(47.5)  # 50 kWh at SoH 0.95


def test_soc_moves_by_power_times_step_over_usable_energy():
    # 10 kW for 2 s out of 40 usable kWh: 10 / 1800 / 40 = 1/7200 of SoC per step, down then up
    result = run_loop((lossless(),), np.array([10.0, 10.0, -10.0]), "capacity")
    soc = result.steps["soc_L"].to_numpy()
    assert soc == pytest.approx([0.5 - 1 / 7200, 0.5 - 2 / 7200, 0.5 - 1 / 7200], abs=1e-12)
    assert result.steps["loss_kw"].to_numpy() == pytest.approx([0.0, 0.0, 0.0], abs=1e-12)
    assert result.steps["shortfall_kw"].to_numpy() == pytest.approx([0.0, 0.0, 0.0], abs=1e-12)


@pytest.mark.parametrize("method", ["capacity", "soc"])
def test_closed_loop_conserves_energy(method):
    """Energy out of the packs = energy delivered to the bus + losses, module by module and in total."""
    rng = np.random.default_rng(4)
    request = rng.uniform(-60.0, 60.0, 40)
    result = run_loop(CASE1, request, method)
    steps = result.steps
    drawn = sum((m.soc0 - steps[f"soc_{m.name}"].iloc[-1]) * m.energy_kwh for m in CASE1)
    booked = float((steps["delivered_kw"] + steps["loss_kw"]).sum() * DT_H)
    assert drawn == pytest.approx(booked, rel=1e-9)
    assert result.per_module["loss_kwh"].sum() == pytest.approx(steps["loss_kw"].sum() * DT_H, rel=1e-12)
    # the loss cost is the energy price (0.10 $/kWh) times the lost energy
    assert result.totals["loss_cost_usd"] == pytest.approx(0.10 * steps["loss_kw"].sum() * DT_H, rel=1e-12)


def test_lossless_limits_are_the_rating_and_the_soc_headroom():
    module = lossless(soc0=0.5)
    assert max_discharge_kw(module, 0.5, DT_H) == pytest.approx(25.0)
    assert max_charge_kw(module, 0.5, DT_H) == pytest.approx(25.0)
    # 1e-3 of SoC above the floor (0.1) of 40 kWh is 0.04 kWh: 72 kW over 2 s, so the rating binds; 1e-4 is 7.2 kW
    assert max_discharge_kw(module, 0.1001, DT_H) == pytest.approx(7.2, rel=1e-9)
    assert max_charge_kw(module, 0.8999, DT_H) == pytest.approx(7.2, rel=1e-9)
    assert max_discharge_kw(module, 0.1, DT_H) == pytest.approx(0.0, abs=1e-12)
    assert max_charge_kw(module, 0.9, DT_H) == pytest.approx(0.0, abs=1e-12)


def test_parameter_checks_accept_their_bounds_and_refuse_beyond():
    ModuleParams("edge", 10, 5, 400, 0.0, 0.0, 0.0, 0.0, soc0=0.0, soh=1.0, soc_min=0.0, soc_max=1.0)
    ModuleParams("full", 10, 5, 400, 0.1, 0.0, 0.5, 10, soc0=1.0, soc_min=1.0, soc_max=1.0)
    ModuleParams("top", 10, 5, 400, 0.1, 0.0, 0.5, 10, soc0=0.9, soc_min=0.1, soc_max=0.9)
    with pytest.raises(ValueError, match="soc0"):
        ModuleParams("x", 10, 5, 400, 0.1, 0.01, 0.5, 10, soc0=0.5, soc_max=1.2)
    with pytest.raises(ValueError, match="soc0"):
        ModuleParams("x", 10, 5, 400, 0.1, 0.01, 0.5, 10, soc0=0.05, soc_min=-0.1)
    with pytest.raises(ValueError, match="r_conv_ohm"):
        ModuleParams("x", 10, 5, 400, 0.1, -0.01, 0.5, 10)


def test_an_off_converter_refuses_charge_as_well_as_discharge():
    rho, av, b = CASE1[0].loss_coefficients(0.5)
    for p in (1.0, -1.0):
        with pytest.raises(ValueError, match="converter off carries no power"):
            battery_power(p, rho, av, b, False)


def test_battery_power_without_conduction_loss_is_linear():
    # rho = 0, a/V = 0.01, b = 0.05 kW: Pb - 0.01 |Pb| - 0.05 = P solved by hand
    assert battery_power(10.0, 0.0, 0.01, 0.05, True) == pytest.approx(10.05 / 0.99, rel=1e-12)
    assert battery_power(-10.0, 0.0, 0.01, 0.05, True) == pytest.approx(-9.95 / 1.01, rel=1e-12)
    module = ModuleParams("S", 50, 25, 400, 0.0, 0.0, 4.0, 0.0)  # switching loss only: a/V = 4 V / 400 V at SoC 0.5
    assert max_discharge_kw(module, 0.5, DT_H) == pytest.approx(25.0)
    assert max_charge_kw(module, 0.5, DT_H) == pytest.approx(25.0)
