"""Gaps found by a mutation audit of the ffr_dispatch kind (harness/workloads/ffr_dispatch.py): the request
P_base + r C_reg and its default C_reg, the signal's statistics and CSV replay (hold to the end, 50/60 Hz, deviation
columns, the droop settings), the step count and signal settings reaching the generators, the validators' edges
(maximum power transfer by brute force, step and cell caps), and the scheduler and cost settings reaching the loop."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from harness.workloads.base import RunContext
from harness.workloads.ffr_dispatch import (
    FfrScenario,
    FfrWorkload,
    SignalSpec,
    build_modules,
    build_signal,
    loop_settings,
    run,
)
from methods.battery.modules import ModuleParams

pytest.importorskip("cvxpy")
pytest.importorskip("rainflow")

MODULE = {"name": "A", "capacity_kwh": 10, "power_kw": 5, "v_nom": 400, "r_pack_ohm": 0.1, "r_conv_ohm": 0.05,
          "switch_v": 0.6, "standby_w": 40.0}
DROOP_01 = (0.1 - 0.015) / (0.2 - 0.015)  # droop response to a 0.1 Hz deviation with the default settings


def _scenario(**workload):
    base = {"signal": {"type": "regd", "duration_s": 20}, "scheduler": {"mode": "priority"}, "methods": ["capacity"]}
    base.update(workload)
    return FfrScenario.model_validate({"name": "t", "workload": base})


def _csv(tmp_path, column, values, dt=10.0):
    path = tmp_path / "s.csv"
    path.write_text(f"time_s,{column}\n" + "".join(f"{dt * i},{v}\n" for i, v in enumerate(values)))
    return str(path)


def _signal(**spec):
    return build_signal(SignalSpec(**spec), np.random.default_rng(0))


# ---------------------------------------------------------------------------------------------------- request
def test_request_is_base_plus_regulation_capacity_times_r(tmp_path):
    values = [1.0, -1.0, 0.5, 0.0]
    path = _csv(tmp_path, "regulation_pu", values)
    scenario = _scenario(signal={"type": "csv", "path": path, "duration_s": 40, "dt_s": 10}, base_kw=5.0,
                         regulation_kw=30.0, methods=["soc", "capacity"])
    out = run(scenario, RunContext(seed_seq=np.random.SeedSequence(0)))
    m = out.metrics
    assert list(m["method"]) == ["soc"] * 4 + ["capacity"] * 4
    assert np.allclose(m["regulation"], values * 2) and np.allclose(m["request_kw"], [35, -25, 20, 5] * 2)
    assert out.info["regulation_kw"] == 30.0 and out.info["scheduler"]["mode"] == "priority"
    assert [module["name"] for module in out.info["modules"]] == ["M1", "M2", "M3", "M4", "M5", "M6"]
    assert out.info["per_module"]["soc"]["module"] == ["M1", "M2", "M3", "M4", "M5", "M6"]


def test_default_regulation_capacity_is_half_the_modules_rating():
    # Case I: 60 kW of its 120 kW; custom and scaled module sets get the same utilization
    assert build_modules(FfrWorkload(case="case1"))[1] == 60.0
    assert build_modules(FfrWorkload(case="case2"))[1] == 90.0
    custom = FfrWorkload(case="custom", modules=[{**MODULE, "power_kw": 10}, {**MODULE, "name": "B", "power_kw": 20}])
    assert build_modules(custom)[1] == pytest.approx(15.0)
    modules, c_reg = build_modules(FfrWorkload(case="scaled", n_modules=12))
    assert len(modules) == 12 and c_reg == pytest.approx(120.0)  # Case I twice over: 240 kW
    assert build_modules(FfrWorkload(case="scaled", n_modules=12, regulation_kw=7.0))[1] == 7.0


def test_scaled_modules_follow_the_module_seed():
    a, _ = build_modules(FfrWorkload(case="scaled", n_modules=6), seed=1)
    b, _ = build_modules(FfrWorkload(case="scaled", n_modules=6), seed=2)
    assert [m.r_pack_ohm for m in a] != [m.r_pack_ohm for m in b]


# ----------------------------------------------------------------------------------------------------- signal
def test_signal_statistics_by_hand(tmp_path):
    r, info = _signal(type="csv", path=_csv(tmp_path, "regulation_pu", [1.0, -1.0, 0.5, 0.0]), duration_s=40, dt_s=10)
    assert list(r) == [1.0, -1.0, 0.5, 0.0] and info["quantity"] == "regulation_pu" and info["steps"] == 4
    assert info["mean"] == pytest.approx(0.125) and info["std"] == pytest.approx(np.sqrt(2.25 / 4 - 0.125**2))
    assert info["saturated_share"] == pytest.approx(0.5)  # |r| = 1 on two of four steps, either sign


def test_a_short_csv_holds_its_last_value_to_the_end(tmp_path):
    r, _ = _signal(type="csv", path=_csv(tmp_path, "regulation_pu", [0.2, 0.4]), duration_s=40, dt_s=10)
    assert list(r) == [0.2, 0.4, 0.4, 0.4]


@pytest.mark.parametrize("column, values, expected", [
    ("frequency_hz", [60.0, 59.9, 60.1], [0.0, DROOP_01, -DROOP_01]),  # a 60 Hz grid
    ("frequency_hz", [50.0, 49.9, 50.1], [0.0, DROOP_01, -DROOP_01]),
    ("deviation_hz", [-0.1, 0.0, 0.1], [DROOP_01, 0.0, -DROOP_01]),
    ("deviation_mhz", [-100, 0, 50], [DROOP_01, 0.0, -(0.05 - 0.015) / 0.185]),
])
def test_frequency_csvs_become_droop_requests(tmp_path, column, values, expected):
    r, info = _signal(type="csv", path=_csv(tmp_path, column, values), duration_s=30, dt_s=10)
    assert np.allclose(r, expected) and info["quantity"] == column.replace("_mhz", "_hz")


def test_droop_settings_reach_the_csv_request(tmp_path):
    r, _ = _signal(type="csv", path=_csv(tmp_path, "deviation_hz", [-0.1, 0.2]), duration_s=20, dt_s=10,
                   deadband_hz=0.05, full_response_hz=0.25)
    assert np.allclose(r, [(0.1 - 0.05) / 0.2, -(0.2 - 0.05) / 0.2])


@pytest.mark.parametrize("spec", [
    {"type": "regd", "duration_s": 20, "dt_s": 1},
    {"type": "frequency", "duration_s": 20, "dt_s": 1},
    {"type": "regd", "duration_s": 2.3, "dt_s": 0.1},  # 22.999... steps in floating point
])
def test_one_value_per_control_step(spec):
    r, info = _signal(**spec)
    assert len(r) == info["steps"] == round(spec["duration_s"] / spec["dt_s"])


def test_the_event_is_sampled_at_the_control_step():
    fine, _ = _signal(type="event", duration_s=60, dt_s=1)
    coarse, _ = _signal(type="event", duration_s=60, dt_s=2)
    assert np.abs(fine).max() > 0.5 and np.allclose(coarse, fine[::2], atol=1e-9)  # the same instants 0, 2, 4, ... s


def test_event_and_frequency_settings_reach_the_generators():
    _, small = _signal(type="event", duration_s=60, loss_pu=0.01)
    _, large = _signal(type="event", duration_s=60, loss_pu=0.04)
    assert large["nadir_hz"] < small["nadir_hz"] < 0
    _, heavy = _signal(type="event", duration_s=60, inertia_s=9.0)
    _, light = _signal(type="event", duration_s=60, inertia_s=1.0)
    assert abs(light["rocof_hz_per_s"]) > abs(heavy["rocof_hz_per_s"])
    gb, info = _signal(type="frequency", duration_s=40, grid="great_britain")
    nordic, _ = _signal(type="frequency", duration_s=40, grid="nordic")
    assert not np.array_equal(gb, nordic)
    assert info["grid"] == "great_britain" and info["deviation_std_hz"] > 0


# ------------------------------------------------------------------------------------------------- validation
def test_path_only_with_type_csv(tmp_path):
    with pytest.raises(ValidationError, match="path"):
        SignalSpec(type="regd", path=_csv(tmp_path, "regulation_pu", [0.0, 0.0]))


def test_modules_only_with_case_custom():
    with pytest.raises(ValidationError, match="modules"):
        FfrWorkload(case="case1", modules=[MODULE])


def test_deadband_must_be_below_full_response():
    with pytest.raises(ValidationError, match="deadband_hz"):
        SignalSpec(type="frequency", deadband_hz=0.2, full_response_hz=0.2)


def test_step_cap_refuses_one_step_more_than_a_week_at_2_s():
    with pytest.raises(ValidationError, match="dt_s: duration_s / dt_s"):
        SignalSpec(duration_s=604800, dt_s=604800 / 302_401)


def test_soc0_may_sit_on_either_end_of_the_window():
    for soc0 in (0.1, 0.9):
        _scenario(case="custom", modules=[{**MODULE, "soc0": soc0}])


def test_maximum_power_transfer_edge_by_brute_force():
    # P = Pb - (rho Pb^2 + (a/V) Pb + b): its largest value over Pb, at the lowest voltage (soc_min), is the reach
    module = {**MODULE, "r_pack_ohm": 2.0, "r_conv_ohm": 1.0, "soc_min": 0.1, "soc0": 0.5}
    rho, a_v, b = ModuleParams(**module).loss_coefficients(0.1)
    pb = np.linspace(0, 2 * (1 - a_v) / (2 * rho), 2_000_001)
    reach = float(np.max(pb - rho * pb**2 - a_v * pb - b))
    assert ModuleParams(**module).loss_coefficients(0.9)[0] < rho  # higher SoC, higher voltage, farther reach
    _scenario(case="custom", modules=[{**module, "power_kw": reach * (1 - 1e-6)}])
    with pytest.raises(ValidationError, match="power_kw: .* beyond the module's maximum power transfer"):
        _scenario(case="custom", modules=[{**module, "power_kw": reach * (1 + 1e-6)}])


def test_switching_loss_at_the_pack_voltage_is_refused():
    volts = ModuleParams(**MODULE).ocv(0.1)
    with pytest.raises(ValidationError, match="switch_v: the switching loss"):
        _scenario(case="custom", modules=[{**MODULE, "switch_v": 1.5 * volts}])


def test_cell_cap_counts_steps_modules_and_methods():
    four = ["proposed", "loss_only", "capacity", "soc"]
    # 50,000 steps x 100 modules x 4 methods = 20,000,000 cells: the cap itself is admitted
    _scenario(case="scaled", n_modules=100, methods=four, signal={"duration_s": 100_000, "dt_s": 2})
    with pytest.raises(ValidationError, match=r"n_modules: .* 50001 x 100 x 4"):
        _scenario(case="scaled", n_modules=100, methods=four, signal={"duration_s": 100_002, "dt_s": 2})
    modules = [{**MODULE, "name": f"A{i}"} for i in range(100)]
    with pytest.raises(ValidationError, match=r"modules: .* 50001 x 100 x 4"):
        _scenario(case="custom", modules=modules, methods=four, signal={"duration_s": 100_002, "dt_s": 2})


# ------------------------------------------------------------------------------------------------ loop settings
def test_scheduler_and_cost_settings_reach_the_loop():
    w = FfrWorkload(signal={"duration_s": 30, "dt_s": 3}, scheduler={
        "mode": "miqcp", "backend": "cvxpy", "horizon": 4, "forecast": "perfect", "time_limit_s": 2.5,
        "mip_gap": 0.01, "fallback": "capacity"}, costs={
        "energy_usd_per_kwh": 0.3, "switch_usd": 0.02, "shortfall_usd_per_kwh": 7.0, "replacement_usd_per_kwh": 90.0,
        "end_of_life": 0.7, "stress_k_p": 1e-3, "stress_k_e": 1.5})
    s = loop_settings(w)
    assert (s.dt_s, s.horizon, s.forecast, s.mode, s.backend) == (3.0, 4, "perfect", "miqcp", "cvxpy")
    assert (s.time_limit_s, s.mip_gap, s.fallback) == (2.5, 0.01, "capacity")
    assert (s.prices.energy_usd_per_kwh, s.prices.switch_usd, s.prices.shortfall_usd_per_kwh) == (0.3, 0.02, 7.0)
    assert (s.aging.replacement_usd_per_kwh, s.aging.end_of_life) == (90.0, 0.7)
    assert (s.aging.curve.k_p, s.aging.curve.k_e) == (1e-3, 1.5)
