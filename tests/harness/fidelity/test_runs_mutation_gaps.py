"""Gaps in the tests of `harness.fidelity.runs` found by a mutation audit.

Its pure parts only: no ranks are run.

Closed here:
- an MLP's gradient bytes and worker arguments; a rate's MTU and size cap (and the fallbacks for a rate the plan
  does not list); the plan as JSON with rate keys as strings;
- the rows of a measured group: ns turned into ms, each row filed under its op with the group's setting, rate,
  MTU and rank count, the DP-step rows carrying their shape and gradient bytes, and the busy fraction kept.
"""

from __future__ import annotations

import json

import pytest

import harness.fidelity.runs as runs
from harness.fidelity.runs import FULL_PLAN, MIB, MlpShape, StudyPlan, measure_compute_rows, measure_group_rows

KIB = 1 << 10


def test_mlp_gradient_bytes_and_worker_arguments():
    shape = MlpShape(512, 4, 64)
    assert shape.grad_bytes == 4 * (512 * 512 + 512) * 4  # depth * (weights + biases) * float32
    assert shape.worker_args() == ["--width", "512", "--depth", "4", "--batch", "64"]


def test_netns_sizes_are_capped_per_rate():
    assert FULL_PLAN.netns_sizes_bytes(100.0) == (4 * KIB, 16 * KIB, 64 * KIB, 256 * KIB, MIB, 4 * MIB, 16 * MIB)
    assert FULL_PLAN.netns_sizes_bytes(1000.0) == FULL_PLAN.loopback_sizes_bytes
    assert FULL_PLAN.netns_sizes_bytes(10.0) == FULL_PLAN.loopback_sizes_bytes  # not listed: no cap
    assert max(FULL_PLAN.loopback_sizes_bytes) == 64 * MIB


def test_mtu_per_rate_with_ethernet_as_the_fallback():
    assert FULL_PLAN.mtu_for(1000.0) == 9000
    assert FULL_PLAN.mtu_for(100.0) == 1500
    assert FULL_PLAN.mtu_for(10.0) == 1500


def test_plan_dict_is_json_with_rate_keys_as_strings():
    data = json.loads(json.dumps(runs.plan_dict(FULL_PLAN)))
    assert data["netns_max_size_bytes"] == {"100": 16 * MIB, "1000": 64 * MIB}
    assert data["netns_mtu_bytes"] == {"100": 1500, "1000": 9000}
    assert data["loopback_repeats"] == 30


def _fake_measure(monkeypatch, results):
    calls = []

    def measure(kind, n_ranks, args, placement, plan, key="size_bytes"):
        calls.append((kind, n_ranks, args, key))
        return [{**row, "cpu_busy_before": 0.25} for row in results[kind]]

    monkeypatch.setattr(runs, "_measure", measure)
    return calls


def _times(ms: float) -> dict:
    return {"time_ns_median": int(ms * 1e6), "time_ns_p10": int(ms * 0.9e6), "time_ns_p90": int(ms * 1.1e6),
            "n_repeats": 5}


def test_group_rows_are_filed_by_op_in_ms(monkeypatch):
    shape = MlpShape(64, 2, 8)
    calls = _fake_measure(monkeypatch, {
        "pingpong_allreduce": [{"op": "pingpong", "size_bytes": 4096, **_times(1.0)},
                               {"op": "allreduce", "size_bytes": 4096, **_times(2.0)}],
        "dp_step": [{"param_count": 8320, **_times(30.0)}],
    })
    plan = StudyPlan(warmup=2)
    out = measure_group_rows("netns", 4, (4096,), (shape,), 7, None, plan, rate_mbit=1000.0, mtu_bytes=9000)
    common = {"setting": "netns", "rate_mbit": 1000.0, "mtu_bytes": 9000, "n_ranks": 4}
    ms = {"n_repeats": 5, "cpu_busy_before": 0.25}
    assert out["pingpong"] == [{**common, "size_bytes": 4096, "time_ms_median": 1.0, "time_ms_p10": 0.9,
                                "time_ms_p90": 1.1, **ms}]
    assert out["allreduce"] == [{**common, "size_bytes": 4096, "time_ms_median": 2.0, "time_ms_p10": 1.8,
                                 "time_ms_p90": pytest.approx(2.2), **ms}]
    assert out["dp_step"] == [{**common, "width": 64, "depth": 2, "batch": 8, "grad_bytes": 2 * (64 * 64 + 64) * 4,
                               "time_ms_median": 30.0, "time_ms_p10": 27.0, "time_ms_p90": 33.0, **ms}]
    assert calls[0] == ("pingpong_allreduce", 4, ["--sizes-bytes", "4096", "--warmup", "2", "--repeats", "7"],
                        "size_bytes")
    assert calls[1] == ("dp_step", 4, ["--width", "64", "--depth", "2", "--batch", "8", "--warmup", "2",
                                       "--repeats", "7"], "param_count")


def test_compute_rows_run_one_process_per_shape(monkeypatch):
    calls = _fake_measure(monkeypatch, {"compute": [{"param_count": 8320, **_times(4.0)}]})
    rows = measure_compute_rows((MlpShape(64, 2, 8), MlpShape(32, 1, 4)), StudyPlan(warmup=1), repeats=3)
    assert [row["width"] for row in rows] == [64, 32]
    assert rows[0]["grad_bytes"] == 2 * (64 * 64 + 64) * 4 and rows[0]["time_ms_median"] == 4.0
    assert [(kind, n_ranks, key) for kind, n_ranks, _, key in calls] == [("compute", 1, "param_count")] * 2
    assert calls[1][2] == ["--width", "32", "--depth", "1", "--batch", "4", "--warmup", "1", "--repeats", "3"]


def test_measure_waits_for_quiet_cpus_and_keeps_the_busy_fraction_on_every_row(monkeypatch):
    waits, launches = [], []
    monkeypatch.setattr(runs, "wait_until_quiet", lambda below, max_wait: waits.append((below, max_wait)) or 0.4)

    def run_ranks(kind, n_ranks, args, placement, timeout_s):
        launches.append((kind, n_ranks, args, timeout_s))
        return [{"rows": [{"op": "pingpong", "size_bytes": 4096, "times_ns": [10, 30, 20]}]},
                {"rows": [{"op": "pingpong", "size_bytes": 4096, "times_ns": [15, 5, 25]}]}]

    monkeypatch.setattr(runs, "run_ranks", run_ranks)
    plan = StudyPlan(quiet_busy_below=0.2, quiet_max_wait_s=5.0, timeout_s=42.0)
    rows = runs._measure("pingpong_allreduce", 2, ["--x"], None, plan)
    assert waits == [(0.2, 5.0)] and launches == [("pingpong_allreduce", 2, ["--x"], 42.0)]
    # per repeat the slower rank: 15, 30, 25 ns
    assert rows == [{"op": "pingpong", "size_bytes": 4096, "time_ns_median": 25, "time_ns_p10": 17,
                     "time_ns_p90": 29, "n_repeats": 3, "cpu_busy_before": 0.4}]
