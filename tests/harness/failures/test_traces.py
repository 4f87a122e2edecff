"""Trace replay: exact reproduction of the trace's events, and strict errors naming the file and line."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from harness.errors import ScenarioError
from harness.failures.macro import simulate
from harness.failures.policies import Policy, PolicyCosts
from harness.failures.processes import ComponentClass, InterArrival, Repair, generate_events
from harness.failures.traces import ClusterShape, read_trace, write_trace

SHAPE = ClusterShape(nodes=4, devices_per_node=8, nodes_per_rack=2)
HEADER = "time_h,component,kind,duration_h\n"


def test_generated_events_round_trip_exactly(tmp_path):
    classes = [ComponentClass("device", 32, 1, InterArrival(20.0), Repair(1.0, "lognormal", 0.5)),
               ComponentClass("node", 4, 8, InterArrival(50.0), Repair(2.0))]
    events = generate_events(classes, 100.0, np.random.SeedSequence(0))
    write_trace(events, tmp_path / "t.csv")
    assert read_trace(tmp_path / "t.csv", SHAPE, 100.0) == events


def test_replayed_trace_gives_exactly_its_failures(tmp_path, pricer):
    path = tmp_path / "t.csv"
    path.write_text("time_h,component,kind,duration_h,slowdown\n1.0,device:3,fail,2.0,\n1.5,node:0,fail,1.0,\n"
                    "4.0,rack:1,fail,0.5,\n6.0,device:3,straggle,1.0,1.5\n")
    events = read_trace(path, SHAPE, 10.0)
    assert [(e.time_h, e.component, e.kind, e.duration_h) for e in events] == [
        (1.0, "device:3", "fail", 2.0), (1.5, "node:0", "fail", 1.0), (4.0, "rack:1", "fail", 0.5),
        (6.0, "device:3", "straggle", 1.0)]
    assert events[2].devices == tuple(range(16, 32))
    result = simulate(events, Policy(pricer, PolicyCosts()), 32, 10.0)
    # node:0 still takes devices 0-2 and 4-7 down while device:3 is down: three failures, three repairs
    assert (result.n_failures, result.n_repairs) == (3, 3)
    assert [row["time_h"] for row in result.timeline] == [1.0, 1.5, 2.5, 3.0, 4.0, 4.5, 6.0, 7.0]


@pytest.mark.parametrize("body, line, needle", [
    ("2.0,device:1,fail,1\n1.0,device:2,fail,1\n", 3, "sorted"),
    ("-1.0,device:1,fail,1\n", 2, "time_h: expected a time >= 0"),
    ("1.0,gpu:1,fail,1\n", 2, "unknown component"),
    ("1.0,device:99,fail,1\n", 2, "device:0 .. device:31"),
    ("1.0,device:1,fail,50\n", 2, "longer than the horizon"),
    ("1.0,device:1,explode,1\n", 2, "unknown kind"),
    ("abc,device:1,fail,1\n", 2, "expected a number"),
    ("1.0,device:1,straggle,1\n", 2, "slowdown"),
    ("20.0,device:1,fail,1\n", 2, "time_h: 20.0 is not before the horizon (20.0 h)"),
    ("1.0,device:1,fail,-0.5\n", 2, "duration_h: expected a duration >= 0"),
])
def test_bad_trace_names_file_and_line(tmp_path, body, line, needle):
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + body)
    with pytest.raises(ScenarioError) as err:
        read_trace(path, SHAPE, 20.0)
    assert f"{path}:{line}:" in str(err.value) and needle in str(err.value)


def test_edges_of_the_allowed_values_are_read_and_durations_clipped_to_the_horizon(tmp_path):
    path = tmp_path / "edges.csv"
    path.write_text("time_h,component,kind,duration_h,slowdown\n0.0,device:1,fail,0,\n0.0,device:2,fail,20,\n"
                    "19.0,device:4,fail,5,\n19.0,device:5,straggle,0.5,1.01\n")
    events = read_trace(path, SHAPE, 20.0)
    assert [(e.time_h, e.duration_h, e.slowdown) for e in events] == [
        (0.0, 0.0, 1.0), (0.0, 20.0, 1.0), (19.0, 1.0, 1.0), (19.0, 0.5, 1.01)]
    path.write_text("time_h,component,kind,duration_h,slowdown\n1.0,device:5,straggle,0.5,1.0\n")
    with pytest.raises(ScenarioError, match=r"edges.csv:2: slowdown: a straggler needs a slowdown > 1, got 1.0"):
        read_trace(path, SHAPE, 20.0)


def test_bad_header_and_missing_file(tmp_path):
    path = tmp_path / "bad.csv"
    for header in ("when,what", "time_h,component,kind,duration_h,speed", "component,time_h,kind,duration_h"):
        path.write_text(f"{header}\n1,device:0\n")
        with pytest.raises(ScenarioError, match=rf"bad.csv:1: expected the columns time_h,component,kind,"
                                                rf"duration_h\[,slowdown\], got {header}$"):
            read_trace(path, SHAPE, 20.0)
    with pytest.raises(ScenarioError, match="cannot read failure trace"):
        read_trace(tmp_path / "none.csv", SHAPE, 20.0)


def _harness(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=120)


def test_cli_bad_input_exits_2_naming_the_key_or_line(tmp_path):
    scenario = "scenarios/mecefo/throughput.yaml"
    bad = _harness("run", scenario, "--out", str(tmp_path), "--set", "failures.cluster.mtbf_h=0")
    assert bad.returncode == 2 and "failures.cluster.mtbf_h" in bad.stderr
    trace = tmp_path / "t.csv"
    trace.write_text(HEADER + "3.0,device:1,fail,1\n2.0,device:2,fail,1\n")
    bad = _harness("run", scenario, "--out", str(tmp_path), "--set", f"failures.trace={trace}")
    assert bad.returncode == 2 and f"{trace}:3:" in bad.stderr
