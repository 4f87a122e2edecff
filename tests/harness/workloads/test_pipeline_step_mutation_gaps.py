"""Gaps in the tests of `pipeline_step` found by a mutation audit.

Closed here:

- ``PipelineTimes.bubble_fraction``: hand-worked value, and 0 (not 1) for an empty pipeline;
- ``aqsgd`` refuses parameters other than bits, cache_dtype and n_samples;
- ``simulate_pipeline`` refuses a backward-times list of the wrong length, and reports a schedule whose stages
  wait on each other as a deadlock;
- ``CodecPricer``'s copy size: passes x numel / 2 elements rounded up, at least one, and its source counts;
- ``method_label``: parameters sorted, ``n_samples`` left out, no parentheses without parameters;
- the SimPy engine waits out a 1 ns step; each boundary keeps its own link's bandwidth and latency.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from harness.errors import SimulationError
from harness.workloads.pipeline_step import (
    BoundaryCost, BoundaryLink, CodecPricer, CodecSpec, PipelineTimes, PipelineWorkload, _boundaries, build_codec,
    method_label, simulate_pipeline,
)
from methods.pipeline.schedule import make_schedule


def test_bubble_fraction_hand_worked_and_zero_for_an_empty_pipeline():
    # two stages busy 5 and 10 ns of a 10 ns pipeline: 15 of 20 stage-ns busy -> a quarter idle
    assert PipelineTimes(10, (5, 10), (0, 0)).bubble_fraction() == pytest.approx(0.25)
    assert PipelineTimes(0, (0, 0), (0, 0)).bubble_fraction() == 0.0


@pytest.mark.parametrize("params", [{"x": 1}, {"bits": 4, "tile": 8}])
def test_aqsgd_refuses_unknown_parameters(params):
    with pytest.raises(ValidationError, match="unknown parameters"):
        CodecSpec(name="aqsgd", params=params)


def test_aqsgd_accepts_its_three_parameters():
    spec = CodecSpec(name="aqsgd", params={"bits": 3, "cache_dtype": "float32", "n_samples": 4})
    assert build_codec(spec).bits == 3


def _bounds(n: int) -> list[BoundaryCost]:
    return [BoundaryCost(8, 8, 0, 0, 0, 0, 1.0, 0.0)] * n


def test_simulate_refuses_wrong_backward_length():
    schedule = make_schedule("gpipe", 2, 2)
    with pytest.raises(ValueError, match="stage times"):
        simulate_pipeline(schedule, [10, 10], [10], _bounds(1))


def test_simulate_reports_a_deadlocked_schedule():
    # stage 0 first waits for micro-batch 0's gradient, stage 1 first waits for its activation: neither sends
    events = {0: (SimpleNamespace(micro_batch=0, phase="B"),), 1: (SimpleNamespace(micro_batch=0, phase="F"),)}
    schedule = SimpleNamespace(n_stages=2, name="stuck", stage_events=events.__getitem__)
    with pytest.raises(SimulationError, match="deadlocks"):
        simulate_pipeline(schedule, [10, 10], [10, 10], _bounds(1))


class _Replay:
    def __init__(self):
        self.calls = []

    def predict(self, op, dtype, numel):
        self.calls.append((op, dtype, numel))
        return SimpleNamespace(time_ms=0.001 * numel, source="fake")  # 1 us per copied element


def test_codec_copy_size_is_half_the_passes_rounded_up():
    replay = _Replay()
    pricer = CodecPricer(replay, "float32", {})
    spec = CodecSpec(name="uniform_tensor", params={"bits": 4})
    # 3 encode passes over 3 elements = 4.5 -> 5 copied elements; 2 decode passes -> 3
    assert pricer.times_ns(spec, build_codec(spec), (1, 1, 3)) == (5000, 3000)
    assert [c[2] for c in replay.calls] == [5, 3]
    assert pricer.sources == {"uniform_tensor": {"copy:fake": 2}}


def test_a_cast_of_one_element_copies_one_element():
    replay = _Replay()
    pricer = CodecPricer(replay, "float32", {})
    spec = CodecSpec(name="none", params={"dtype": "bfloat16"})
    assert pricer.times_ns(spec, build_codec(spec), (1, 1, 1)) == (1000, 1000)
    assert replay.calls == [("copy", "float32", 1), ("copy", "float32", 1)]


def test_method_label_sorts_parameters_and_drops_n_samples():
    fwd = CodecSpec(name="aqsgd", params={"n_samples": 8, "cache_dtype": "float32", "bits": 4})
    assert method_label(fwd, CodecSpec(name="none")) == "aqsgd(bits=4,cache_dtype=float32)/none"
    assert method_label(CodecSpec(name="aqsgd", params={"n_samples": 8}), CodecSpec()) == "aqsgd/none"


def test_one_ns_steps_count_in_the_simpy_world():
    # one stage, two micro-batches of 1 ns forward + 1 ns backward: 4 ns, through the rendezvous (SimPy) engine
    times = simulate_pipeline(make_schedule("gpipe", 1, 2), [1], [1], [], rendezvous=True)
    assert times.pipeline_ns == 4 and times.busy_ns == (4,)


def test_boundaries_carry_each_links_bandwidth_latency_and_raw_bytes():
    w = PipelineWorkload(n_stages=3, boundary_links=[BoundaryLink(bandwidth_gbps=2.0, latency_us=7.0),
                                                     BoundaryLink(bandwidth_gbps=3.0, latency_us=9.0)])
    pricer = CodecPricer(_Replay(), "float32", {})
    quant = CodecSpec(name="uniform_tensor", params={"bits": 4})
    half = CodecSpec(name="none", params={"dtype": "bfloat16"})
    bounds = _boundaries(w, quant, half, (1, 2, 3), pricer)
    assert [(b.bandwidth_gbps, b.latency_us) for b in bounds] == [(2.0, 7.0), (3.0, 9.0)]
    # 6 elements: 12 bytes backward in bfloat16; forward the codec's own payload
    assert [(b.fwd_bytes, b.bwd_bytes) for b in bounds] == [(build_codec(quant).payload_bytes((1, 2, 3)), 12)] * 2
    # forward: 3 passes x 6 / 2 = 9 elements encoded, 2 x 6 / 2 = 6 decoded; the cast: 6 each side (1 us each)
    assert [(b.fwd_encode_ns, b.fwd_decode_ns, b.bwd_encode_ns, b.bwd_decode_ns) for b in bounds] == [
        (9000, 6000, 6000, 6000)] * 2
