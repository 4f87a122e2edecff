"""Input bounds of the ffr_dispatch and grid_cluster kinds (harness/workloads/ffr_dispatch.py, grid_cluster.py):
the control-step count of ``workload.signal`` (at least one, at most `MAX_CONTROL_STEPS`), the event signal's
inertia, the low-pass of the cluster at any time constant, custom modules that cannot deliver their rating, and
the per-module metrics cap; every refusal names its key, every accepted input runs to finite numbers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from pydantic import ValidationError

from harness.executors import timings_for
from harness.workloads.base import RunContext
from harness.workloads.ffr_dispatch import FfrScenario
from harness.workloads.ffr_dispatch import run as run_ffr
from harness.workloads.grid_cluster import GridClusterScenario
from harness.workloads.grid_cluster import run as run_grid

pytest.importorskip("cvxpy")
pytest.importorskip("rainflow")

MODULE = {"name": "A", "capacity_kwh": 10, "power_kw": 5, "v_nom": 400, "r_pack_ohm": 0.1, "r_conv_ohm": 0.05}


def _ffr(**workload):
    base = {"signal": {"type": "regd", "duration_s": 20}, "scheduler": {"mode": "priority"},
            "methods": ["capacity"]}
    base.update(workload)
    return FfrScenario.model_validate({"name": "t", "workload": base})


def _grid(**workload):
    base = {"training": {"model": "llama-60m", "micro_batch": 2, "seq_len": 128},
            "signal": {"type": "regd", "duration_s": 20}, "regulation_kw": 10.0, "battery_scheduler": "priority"}
    base.update(workload)
    return GridClusterScenario.model_validate({
        "name": "t", "cluster": {"nodes": 1, "devices_per_node": 8, "device": "h100"}, "workload": base})


def _finite(frame):
    return np.isfinite(frame.select_dtypes("number").drop(
        columns=["solve_ms", "solve_cpu_ms", "solver_nodes", "model_loss_excess_kw"], errors="ignore"
    ).to_numpy(dtype=float)).all()


@pytest.mark.parametrize(("signal", "pattern"), [
    ({"duration_s": 1, "dt_s": 60}, r"duration_s: must be at least dt_s = 60 s \(one control step\)"),
    ({"duration_s": 604800, "dt_s": 0.001}, r"dt_s: duration_s / dt_s = 604800 / 0.001 .* more than 302,400"),
    ({"type": "regd", "duration_s": 1, "dt_s": 1e-300}, r"dt_s: duration_s / dt_s"),
    ({"type": "event", "duration_s": 20, "inertia_s": 0.001}, r"inertia_s"),
])
@pytest.mark.parametrize("make", [_ffr, _grid], ids=["ffr_dispatch", "grid_cluster"])
def test_signal_step_count_and_inertia_are_refused_by_key(make, signal, pattern):
    with pytest.raises(ValidationError, match=pattern):
        make(signal=signal)


def test_step_cap_admits_a_week_at_the_regd_rate():
    assert _ffr(signal={"duration_s": 7 * 86400, "dt_s": 2}).workload.signal.duration_s == 2 * 302_400


def test_one_control_step_runs():
    out = run_ffr(_ffr(signal={"duration_s": 60, "dt_s": 60}, methods=["capacity", "proposed"]),
                  RunContext(seed_seq=np.random.SeedSequence(0)))
    assert len(out.metrics) == 2 and _finite(out.metrics)


@pytest.mark.parametrize(("inertia_s", "dt_s"), [(0.1, 60.0), (0.1, 2.0), (9.0, 60.0)])
def test_event_signal_is_stable_at_small_inertia_and_long_steps(inertia_s, dt_s):
    # forward Euler on dt_s / 200 diverged here (NaN request -> cvxpy "Parameter value must be real")
    out = run_ffr(_ffr(signal={"type": "event", "duration_s": 10 * dt_s, "dt_s": dt_s, "inertia_s": inertia_s},
                       methods=["capacity", "proposed"]), RunContext(seed_seq=np.random.SeedSequence(0)))
    assert _finite(out.metrics) and out.metrics["regulation"].between(-1, 1).all()
    # a 2 % loss: the nadir is a fraction of a hertz (Euler's was -1e121 Hz at H = 0.1 s, dt = 60 s)
    assert -1.0 < out.info["signal"]["nadir_hz"] < 0
    assert out.info["totals"]["proposed"]["fallback_steps"] == 0


def test_grid_cluster_runs_with_a_time_constant_below_the_step():
    # the EMA weight dt / tau was 2e300: the slow part diverged to NaN (cvxpy "Parameter value must be real")
    runs = {}
    for tau in (1e-300, 2.0):
        scenario = _grid(cluster_tau_s=tau)
        runs[tau] = run_grid(scenario, RunContext(seed_seq=np.random.SeedSequence(0), timings=timings_for(scenario)))
        assert _finite(runs[tau].metrics) and np.isfinite(runs[tau].info["tracking_rmse_kw"])
    # at or below the step the cluster follows r itself: the same caps as tau = dt
    assert np.array_equal(runs[1e-300].metrics["gpu_cap"], runs[2.0].metrics["gpu_cap"])


@pytest.mark.parametrize(("module", "pattern"), [
    ({"power_kw": 9e15}, r"power_kw: 9e\+15 kW is beyond the module's maximum power transfer"),
    ({"r_pack_ohm": 1e6}, r"power_kw: 5 kW is beyond"),
    ({"standby_w": 1e9}, r"power_kw: 5 kW is beyond"),
    ({"switch_v": 1e4}, r"switch_v: the switching loss"),
    ({"v_nom": 1e-300}, r"v_nom"),
    ({"soc0": 0.05}, r"soc0: expected soc_min <= soc0 <= soc_max"),
])
def test_custom_modules_that_cannot_work_are_refused(module, pattern):
    with pytest.raises(ValidationError, match=pattern):
        _ffr(case="custom", modules=[{**MODULE, **module}])


def test_lossless_custom_module_runs_without_warnings():
    # R = 0: the priority rule's 1/rho is inf (conduction loss 0), no "divide by zero" warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        out = run_ffr(_ffr(case="custom", modules=[{**MODULE, "r_pack_ohm": 0, "r_conv_ohm": 0, "switch_v": 0}],
                           methods=["proposed"]), RunContext(seed_seq=np.random.SeedSequence(0)))
    assert _finite(out.metrics) and out.info["totals"]["proposed"]["fallback_steps"] == 0


def test_module_step_cap_names_the_module_count():
    with pytest.raises(ValidationError, match=r"n_modules: control steps x modules x methods = 302400 x 1000"):
        _ffr(case="scaled", n_modules=1000, signal={"duration_s": 7 * 86400})
    _ffr(case="scaled", n_modules=100, signal={"duration_s": 86400})  # 43200 x 100 x 1: fine
