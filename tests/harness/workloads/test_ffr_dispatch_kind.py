"""The ffr_dispatch kind (harness/workloads/ffr_dispatch.py): a short closed loop per method, its columns and
totals, every signal type, and bad input named by key."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from harness.errors import ScenarioError
from harness.workloads.base import RunContext
from harness.workloads.ffr_dispatch import FfrScenario, run

pytest.importorskip("cvxpy")
pytest.importorskip("rainflow")


def _scenario(**workload):
    base = {"signal": {"type": "regd", "duration_s": 40}, "scheduler": {"mode": "priority"}}
    base.update(workload)
    return FfrScenario.model_validate({"name": "t", "workload": base})


def test_runs_every_method_with_tidy_columns_and_totals():
    out = run(_scenario(), RunContext(seed_seq=np.random.SeedSequence(0)))
    m = out.metrics
    assert set(m["method"]) == {"proposed", "loss_only", "capacity", "soc"}
    assert len(m) == 4 * 20
    for column in ("request_kw", "delivered_kw", "shortfall_kw", "loss_cost_usd", "soc_spread", "solve_ms",
                   "fallback", "power_kw_M1", "soc_M6", "active_modules"):
        assert column in m
    totals = out.info["totals"]
    assert set(totals) == {"proposed", "loss_only", "capacity", "soc"}
    assert totals["proposed"]["fallback_steps"] == 0
    assert np.isnan(totals["capacity"]["solve_ms_median"]) and totals["proposed"]["solve_ms_median"] > 0
    again = run(_scenario(), RunContext(seed_seq=np.random.SeedSequence(0)))
    assert again.metrics["request_kw"].equals(m["request_kw"])  # seeded


@pytest.mark.parametrize("signal", [
    {"type": "frequency", "duration_s": 20, "grid": "great_britain"},
    {"type": "event", "duration_s": 30, "loss_pu": 0.03},
])
def test_frequency_driven_signals(signal):
    out = run(_scenario(signal=signal, methods=["capacity"]), RunContext(seed_seq=np.random.SeedSequence(1)))
    assert out.metrics["regulation"].between(-1, 1).all()
    if signal["type"] == "event":
        assert out.info["signal"]["nadir_hz"] < 0 and out.metrics["regulation"].max() > 0  # under-frequency: inject


def test_csv_signal_and_its_errors(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("time_s,frequency_hz\n0,50.0\n10,49.9\n20,50.05\n")
    out = run(_scenario(signal={"type": "csv", "path": str(path), "duration_s": 30}, methods=["soc"]),
              RunContext(seed_seq=np.random.SeedSequence(0)))
    assert out.info["signal"]["quantity"] == "frequency_hz"
    assert out.metrics["regulation"].iloc[5] > 0  # 49.9 Hz -> inject
    path.write_text("time_s,frequency_hz\n0,50.0\n10,4990\n")
    with pytest.raises(ScenarioError, match=r"workload.signal.path: .*f.csv:3: frequency_hz = 4990"):
        run(_scenario(signal={"type": "csv", "path": str(path), "duration_s": 30}, methods=["soc"]),
            RunContext(seed_seq=np.random.SeedSequence(0)))


@pytest.mark.parametrize("workload, message", [
    ({"signal": {"type": "csv"}}, "path"),
    ({"case": "custom"}, "modules"),
    ({"methods": ["proposed", "proposed"]}, "listed twice"),
    ({"methods": ["magic"]}, "methods"),
    ({"scheduler": {"mode": "gurobi"}}, "mode"),
])
def test_bad_input_is_named(workload, message):
    with pytest.raises(ValidationError, match=message):
        _scenario(**workload)
