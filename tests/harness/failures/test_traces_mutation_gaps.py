"""Gaps in the tests of `traces` found by a mutation audit.

Closed here:

- components of a cluster whose last rack is partial: the partial rack exists and holds only the devices there
  are; the first index past the end and negative indices are refused;
- a time of ``nan`` or ``inf`` is refused as not finite (every comparison with nan is false, so no other check
  would catch it);
- spaces around a line's kind and component are ignored;
- a byte that is not UTF-8 is reported on its own line (lines counted from 1);
- a written straggler keeps its slowdown when read back.
"""

from __future__ import annotations

import pytest

from harness.errors import ScenarioError
from harness.failures.processes import Event
from harness.failures.traces import ClusterShape, read_trace, write_trace

#: 3 nodes of 2 devices, 2 nodes a rack: rack 0 holds devices 0-3, rack 1 (one node) devices 4 and 5
PARTIAL = ClusterShape(nodes=3, devices_per_node=2, nodes_per_rack=2)


def test_a_partial_last_rack_holds_only_the_devices_there_are():
    assert PARTIAL.devices_of("rack:0") == (0, 1, 2, 3)
    assert PARTIAL.devices_of("rack:1") == (4, 5)
    assert PARTIAL.devices_of("node:2") == (4, 5)
    assert PARTIAL.devices_of("device:5") == (5,)


@pytest.mark.parametrize(("component", "last"), [("device:6", "device:5"), ("node:3", "node:2"),
                                                 ("rack:2", "rack:1"), ("device:-1", "device:5")])
def test_indices_outside_the_cluster_are_refused(component, last):
    kind = component.partition(":")[0]
    with pytest.raises(ValueError, match=rf"the cluster has {kind}:0 \.\. {last}"):
        PARTIAL.devices_of(component)


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_a_time_that_is_not_finite_is_refused(tmp_path, value):
    path = tmp_path / "t.csv"
    path.write_text(f"time_h,component,kind,duration_h\n1.0,device:0,fail,1.0\n{value},device:1,fail,1.0\n")
    with pytest.raises(ScenarioError, match=rf"t\.csv:3: time_h: expected a finite number, got '{value}'"):
        read_trace(path, PARTIAL, 10.0)


def test_spaces_around_kind_and_component_are_ignored(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("time_h,component,kind,duration_h,slowdown\n1.0, node:1 , straggle ,2.0,1.5\n")
    (event,) = read_trace(path, PARTIAL, 10.0)
    assert (event.component, event.kind, event.devices, event.slowdown) == ("node:1", "straggle", (2, 3), 1.5)


def test_a_byte_that_is_not_utf8_is_reported_on_its_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"time_h,component,kind,duration_h\n1.0,device:0,fail,1.0\n2.0,device:\xff,fail,1.0\n")
    with pytest.raises(ScenarioError, match=r"t\.csv:3: not UTF-8 text \(byte 0xff\)"):
        read_trace(path, PARTIAL, 10.0)


def test_a_written_straggler_keeps_its_slowdown(tmp_path):
    events = [Event(0.5, "rack:1", "straggle", 2.0, (4, 5), 1.75), Event(1.0, "device:2", "fail", 0.25, (2,))]
    write_trace(events, tmp_path / "t.csv")
    assert read_trace(tmp_path / "t.csv", PARTIAL, 10.0) == events
