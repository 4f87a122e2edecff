"""Scenario kind ``pipeline_step``: the schedule simulator matches the closed forms for uniform stages and per
boundary links, codec times are compute on the stages either side of their boundary, the codec pricing asks the
tables for the activation's shape and dtype, the kind's bytes are the codecs' payloads, speedups are relative to its
own uncompressed runs, bad input is one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from harness.config.blocks import ClusterSpec
from harness.config.loader import load_scenario
from harness.errors import ScenarioError
from harness.models.llama import LlamaDims
from harness.timing.replay import Prediction, open_replay
from harness.workloads.base import RunContext
from harness.workloads.pipeline_step import (
    CODEC_PASSES, BoundaryCost, BoundaryLink, CodecPricer, CodecSpec, PipelineScenario, PipelineWorkload, build_codec,
    run, simulate_pipeline, stage_layers,
)
from methods.pipeline.codecs import make_codec
from methods.pipeline.schedule import make_schedule

ROOT = Path(__file__).parents[3]
TIMINGS = ROOT / "tests" / "data" / "timings"
TINY = LlamaDims(d_model=256, d_ff=512, n_heads=4, n_layers=4, vocab_size=512)


def _free_boundaries(p: int, fwd_bytes: int = 0, bwd_bytes: int = 0, gbps: float = 1.0, latency_us: float = 0.0):
    return [BoundaryCost(fwd_bytes, bwd_bytes, 0, 0, 0, 0, gbps, latency_us) for _ in range(p - 1)]


@settings(max_examples=40, deadline=None)
@given(p=st.integers(1, 8), m=st.integers(1, 24), f=st.integers(1, 10**6), b=st.integers(1, 10**6),
       name=st.sampled_from(["gpipe", "1f1b"]))
def test_uniform_stages_without_communication_take_m_plus_p_minus_1_stage_times(p, m, f, b, name):
    times = simulate_pipeline(make_schedule(name, p, m), [f] * p, [b] * p, _free_boundaries(p))
    assert times.pipeline_ns == (m + p - 1) * (f + b)
    assert times.bubble_fraction() == pytest.approx((p - 1) / (m + p - 1), abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(p=st.integers(2, 8), m=st.integers(1, 24), f=st.integers(1000, 10**6), b=st.integers(1000, 10**6),
       data=st.data())
def test_gpipe_with_links_faster_than_compute_adds_each_boundarys_hop_once_each_way(p, m, f, b, data):
    # G Gbit/s = G / 8 B/ns: serialising `size` bytes takes 8 * size / G ns; links are never the bottleneck when
    # that is at most the faster of forward and backward (each boundary its own rate, so a boundary's bytes
    # cannot be sent at another's rate unnoticed)
    sizes = st.integers(0, min(f, b) // 8)
    bounds = [BoundaryCost(data.draw(sizes), data.draw(sizes), 0, 0, 0, 0, data.draw(st.sampled_from([1.0, 2.0, 4.0])),
                           data.draw(st.floats(0, 50))) for _ in range(p - 1)]
    hops = sum(round(8 * (c.fwd_bytes + c.bwd_bytes) / c.bandwidth_gbps) + 2 * round(c.latency_us * 1000)
               for c in bounds)
    times = simulate_pipeline(make_schedule("gpipe", p, m), [f] * p, [b] * p, bounds)
    assert times.pipeline_ns == (m + p - 1) * (f + b) + hops


boundary_costs = st.tuples(st.integers(0, 10**5), st.integers(0, 10**5), st.integers(0, 10**5),
                           st.integers(0, 10**5), st.integers(0, 10**5), st.integers(0, 10**5),
                           st.floats(0.01, 10.0), st.floats(0.0, 50.0))


@settings(max_examples=60, deadline=None)
@given(p=st.integers(1, 5), m=st.integers(1, 8), data=st.data(), name=st.sampled_from(["gpipe", "1f1b"]),
       rendezvous=st.booleans())
def test_codec_times_run_on_the_stages_compute_stream_encode_on_the_sender_decode_on_the_receiver(
        p, m, data, name, rendezvous):
    """A boundary's codec times are compute of the stages on its two sides: the same pipeline with them folded
    into those stages' forward / backward times and free codecs takes exactly as long."""
    fwd = data.draw(st.lists(st.integers(1, 10**6), min_size=p, max_size=p))
    bwd = data.draw(st.lists(st.integers(1, 10**6), min_size=p, max_size=p))
    bounds = [BoundaryCost(*c) for c in data.draw(st.lists(boundary_costs, min_size=p - 1, max_size=p - 1))]
    schedule = make_schedule(name, p, m)
    with_codecs = simulate_pipeline(schedule, fwd, bwd, bounds, rendezvous=rendezvous)
    codec_fwd = [(bounds[s - 1].fwd_decode_ns if s > 0 else 0) + (bounds[s].fwd_encode_ns if s < p - 1 else 0)
                 for s in range(p)]
    codec_bwd = [(bounds[s].bwd_decode_ns if s < p - 1 else 0) + (bounds[s - 1].bwd_encode_ns if s > 0 else 0)
                 for s in range(p)]
    free = [BoundaryCost(b.fwd_bytes, b.bwd_bytes, 0, 0, 0, 0, b.bandwidth_gbps, b.latency_us) for b in bounds]
    folded = simulate_pipeline(schedule, [f + c for f, c in zip(fwd, codec_fwd)],
                               [b + c for b, c in zip(bwd, codec_bwd)], free, rendezvous=rendezvous)
    assert with_codecs.pipeline_ns == folded.pipeline_ns
    assert with_codecs.busy_ns == folded.busy_ns
    assert with_codecs.codec_ns == tuple(m * (cf + cb) for cf, cb in zip(codec_fwd, codec_bwd))
    assert folded.codec_ns == (0,) * p


def test_a_transfer_bound_pipeline_is_paced_by_its_link():
    # one boundary, forward 1 us, activations 1 ms on the link, gradients free: the last activation arrives after
    # the first forward and m back-to-back transfers; then stage 1's forward, its m backwards, stage 0's last one
    p, m, f, b = 2, 10, 1000, 1000
    times = simulate_pipeline(make_schedule("gpipe", p, m), [f] * p, [b] * p, _free_boundaries(p, 125_000, 0))
    assert times.pipeline_ns == f + m * 1_000_000 + f + m * b + b


class _RecordingReplay:
    """Answers every op with 1 ms per million elements of its call (copy) or 2 ms (TAH-Quant) and records the calls."""

    def __init__(self):
        self.calls = []

    def predict(self, op, *, impl=None, dtype="float32", **shape):
        self.calls.append((op, dtype, shape))
        numel = shape["numel"] if op == "copy" else shape["tokens"] * shape["channels"]
        return Prediction((1.0 if op == "copy" else 2.0) * numel / 1e6, "exact", "")


def test_the_kinds_codec_pricing_asks_the_tables_for_the_activations_shape_and_the_runs_dtype():
    shape, numel = (2, 64, 256), 2 * 64 * 256
    replay = _RecordingReplay()
    pricer = CodecPricer(replay, "bfloat16", {})
    tah = CodecSpec(name="tahquant", params={"tile_size": 32, "allocation": "tile", "bits_low": 2})
    assert pricer.times_ns(tah, build_codec(tah), shape) == (round(2e6 * numel / 1e6),) * 2
    columns = {"tokens": 128, "channels": 256, "tile": 32, "bits": 4, "bits_low": 2, "per_tile": 1}
    assert replay.calls == [("tah_quantize", "bfloat16", columns), ("tah_dequantize", "bfloat16", columns)]
    replay.calls.clear()
    fixpoint = CodecSpec(name="fixpoint", params={"bits": 6})
    enc_passes, dec_passes = CODEC_PASSES["fixpoint"]  # passes over the activation, a copy reads + writes one each
    assert pricer.times_ns(fixpoint, build_codec(fixpoint), shape) == (
        round(1e6 * enc_passes * numel / 2 / 1e6), round(1e6 * dec_passes * numel / 2 / 1e6))
    assert [c[2]["numel"] for c in replay.calls] == [enc_passes * numel // 2, dec_passes * numel // 2]
    replay.calls.clear()
    same, cast = CodecSpec(name="none", params={"dtype": "bfloat16"}), CodecSpec(name="none")
    assert pricer.times_ns(same, build_codec(same), shape) == (0, 0) and replay.calls == []  # nothing to do
    assert pricer.times_ns(cast, build_codec(cast), shape) == (round(1e6 * numel / 1e6),) * 2  # a cast each side
    assert pricer.sources == {"tahquant": {"tah_quantize:exact": 1, "tah_dequantize:exact": 1},
                              "fixpoint": {"copy:exact": 2}, "none": {"copy:exact": 2}}


def test_stage_layers_split_blocks_evenly_with_embedding_and_head_at_the_ends():
    assert stage_layers(48, 8)[0] == [0, 1, 2, 3, 4, 5, 6] and stage_layers(48, 8)[-1] == [43, 44, 45, 46, 47, 48, 49]
    assert [len(g) for g in stage_layers(5, 2)] == [4, 3]  # 3 blocks + embed, 2 blocks + head
    assert sorted(i for g in stage_layers(7, 3) for i in g) == list(range(9))


def _scenario(**workload) -> PipelineScenario:
    defaults = dict(model=TINY, micro_batch=1, seq_len=64, n_micro_batches=6, n_stages=2, dtype="float32",
                    optimizer="none", link=BoundaryLink(bandwidth_gbps=0.1, latency_us=50))
    return PipelineScenario(name="pp", cluster=ClusterSpec(device="cpu"),
                            workload=PipelineWorkload(**{**defaults, **workload}))


def _run(scenario):
    ctx = RunContext(seed_seq=np.random.SeedSequence(0), timings=open_replay(scenario, timings_root=TIMINGS))
    return run(scenario, ctx)


def test_uncompressed_fp32_is_its_own_baseline_and_bytes_are_the_payloads():
    out = _run(_scenario())
    row = out.metrics.iloc[0]
    assert row["speedup_vs_fp32"] == 1.0 and row["step_time_ms"] == row["fp32_step_time_ms"]
    assert row["fwd_bytes_per_boundary"] == row["bwd_bytes_per_boundary"] == 64 * 256 * 4
    assert row["bytes_per_boundary_per_step"] == 6 * 2 * 64 * 256 * 4
    assert row["fwd_bits_per_element"] == 32.0 and row["peak_in_flight"] == 6
    assert row["codec_ms"] == 0.0
    assert set(out.info["codec_sources"]) == {"none"}  # only the BF16 baseline's casts cost anything
    assert [len(g) for g in out.info["stage_layers"]] == [3, 3]


def test_compression_on_a_slow_link_beats_both_uncompressed_baselines():
    tah = CodecSpec(name="tahquant", params={"tile_size": 64})
    six = CodecSpec(name="fixpoint", params={"bits": 6})
    row = _run(_scenario(forward=tah, backward=six)).metrics.iloc[0]
    assert row["fwd_bytes_per_boundary"] == make_codec("tahquant", tile_size=64).payload_bytes((1, 64, 256))
    assert row["bwd_bytes_per_boundary"] == make_codec("fixpoint", bits=6).payload_bytes((1, 64, 256))
    assert row["speedup_vs_fp32"] > row["speedup_vs_bf16"] > 1.0
    assert row["codec_ms"] > 0


def test_aqsgd_sends_its_delta_payload_and_reports_its_cache():
    spec = CodecSpec(name="aqsgd", params={"bits": 4, "n_samples": 1000, "cache_dtype": "float16"})
    row = _run(_scenario(forward=spec)).metrics.iloc[0]
    assert row["fwd_bytes_per_boundary"] == make_codec("fixpoint", bits=4).payload_bytes((1, 64, 256))
    assert row["cache_bytes_per_side"] == 1000 * 64 * 256 * 2


def test_1f1b_holds_fewer_micro_batches_in_flight_than_gpipe():
    gp = _run(_scenario(n_stages=4, schedule="gpipe")).metrics.iloc[0]
    one = _run(_scenario(n_stages=4, schedule="1f1b")).metrics.iloc[0]
    assert gp["peak_in_flight"] == 6 and one["peak_in_flight"] == 4


def test_slower_boundary_links_slow_the_step():
    fast = _run(_scenario(n_stages=3, boundary_links=[BoundaryLink(bandwidth_gbps=10)] * 2)).metrics.iloc[0]
    slow = _run(_scenario(n_stages=3, boundary_links=[BoundaryLink(bandwidth_gbps=10),
                                                       BoundaryLink(bandwidth_gbps=0.05)])).metrics.iloc[0]
    assert slow["step_time_ms"] > fast["step_time_ms"] and slow["bandwidth_gbps"] == 0.05


def test_bad_input_is_one_line_naming_the_key():
    with pytest.raises(ValidationError, match="boundary_links: expected 1 entries"):
        _scenario(boundary_links=[BoundaryLink(bandwidth_gbps=1)] * 3)
    with pytest.raises(ValidationError, match="codec fixpoint"):
        CodecSpec(name="fixpoint", params={"ratio": 2})
    with pytest.raises(ValidationError, match="backward.name: aqsgd"):
        _scenario(backward=CodecSpec(name="aqsgd"))
    with pytest.raises(ScenarioError, match="workload.forward"):
        load_scenario(ROOT / "scenarios/tahquant/speed_vs_bandwidth.yaml", ["workload.forward.name=zip"])


def test_the_papers_scenario_file_validates_and_has_the_papers_setting():
    scenario = load_scenario(ROOT / "scenarios/tahquant/speed_vs_bandwidth.yaml")
    w = scenario.workload
    assert (w.n_stages, w.n_micro_batches, w.seq_len, w.schedule, w.dtype) == (8, 32, 1024, "gpipe", "float32")


@settings(max_examples=30, deadline=None)
@given(p=st.integers(2, 6), m=st.integers(1, 8), f=st.integers(1000, 10**6), b=st.integers(1000, 10**6),
       name=st.sampled_from(["gpipe", "1f1b"]))
def test_stages_sharing_fewer_cores_take_between_their_work_and_a_flat_stretch(p, m, f, b, name):
    # processor sharing: a stage waiting in a bubble leaves its core to the others, so the step lies between the
    # dedicated-core step and the step with every compute stretched by stages / cores; enough cores change nothing
    schedule = make_schedule(name, p, m)
    dedicated = simulate_pipeline(schedule, [f] * p, [b] * p, _free_boundaries(p)).pipeline_ns
    assert simulate_pipeline(schedule, [f] * p, [b] * p, _free_boundaries(p), cores=p).pipeline_ns == dedicated
    shared = simulate_pipeline(schedule, [f] * p, [b] * p, _free_boundaries(p), cores=1)
    assert dedicated <= shared.pipeline_ns <= p * dedicated + 2 * len(schedule.events)
    assert shared.pipeline_ns >= p * m * (f + b) - 2 * len(schedule.events)  # one core does all the work
    assert sum(shared.busy_ns) == p * m * (f + b)  # busy time stays the work done
