"""Gaps in the tests of `harness.pipeline_study.predict` found by a mutation audit.

Closed here (on hand-written fidelity fits and measured rows):
- the link of a shaped network: the 2-rank fit at that rate, else the latency interpolated in log(rate) between
  the fits, the configured rate times the TCP efficiency of the plan's MTU; loopback: the 2-rank fit's bandwidth
  and latency;
- the measured-compute diagnostic: per-micro-batch stage times from the runs' own clocks, the slowest stage's
  optimizer, and each boundary's codec times taken from the right side (sender encodes, receiver decodes);
- the codec timing table: one boundary per pair of stages, times in ns, a missing codec row is a clear error;
- a stage's optimizer share: the whole model's AdamW time times the stage's share of the parameters (counted
  on the real stage modules), the busiest stage's share reported, stretched by stages / cores;
- a stage's per-step cache state exceeds its per-micro-batch one by the AdamW moments of its parameters;
- a predicted step by hand: the pipeline plus the optimizer, the bubble, and the slowest stage's forward plus
  backward (told apart from the slowest forward plus the slowest backward).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from harness.errors import HarnessError
from harness.fidelity.compute import open_cpu_replay
from harness.pipeline_study.plan import load_plan
from harness.pipeline_study.predict import (
    codec_boundaries,
    link_model,
    measured_boundaries,
    StageTimes,
    measured_stage_times,
    predict_step_ms,
    stage_touched_bytes,
    table_stage_times,
    workload,
)
from harness.pipeline_study.stages import build_stage
from harness.workloads.pipeline_step import BoundaryCost, CodecSpec, layer_costs

ROOT = Path(__file__).resolve().parents[3]


def _fidelity(tmp_path):
    pd.DataFrame({"setting": "netns", "rate_mbit": [1000.0, 100.0, 100.0, 1000.0], "n_ranks": [2, 2, 4, 4],
                  "alpha_us": [200.0, 400.0, 900.0, 800.0]}).to_csv(tmp_path / "fits_netns.csv", index=False)
    pd.DataFrame({"setting": "loopback", "n_ranks": [4, 2], "alpha_us": [50.0, 80.0],
                  "fitted_gbps": [3.0, 5.0]}).to_csv(tmp_path / "fits_loopback.csv", index=False)
    return tmp_path


def test_a_fitted_rate_takes_its_two_rank_latency(tmp_path):
    model = link_model("100mbit", _fidelity(tmp_path), 9000)
    link = model.link
    assert model.source == "fidelity study, netns ping-pong fit at 100 Mbit/s (2 ranks)"
    assert link.latency_us == 400.0
    assert link.bandwidth_gbps == pytest.approx(0.1)
    assert link.protocol_efficiency == pytest.approx(8948 / 9014)


def test_a_rate_between_the_fits_is_interpolated_in_log_rate(tmp_path):
    # 316.2278 Mbit/s lies halfway between 100 and 1000 in log(rate): halfway between 400 and 200 us
    model = link_model("316.227766mbit", _fidelity(tmp_path), 1500)
    assert model.link.latency_us == pytest.approx(300.0, abs=1e-4)
    assert "interpolated" in model.source


def test_loopback_takes_the_two_rank_fit(tmp_path):
    link = link_model("loopback", _fidelity(tmp_path), 1500).link
    assert (link.latency_us, link.bandwidth_gbps) == (80.0, 5.0)


def _measured_row() -> pd.Series:
    row = {"fwd_wire_bytes": 1000, "bwd_wire_bytes": 500}
    for s, (forward, backward, optimizer) in enumerate([(10.0, 20.0, 3.0), (6.0, 12.0, 5.0), (4.0, 8.0, 1.0)]):
        row |= {f"measured_forward_ms_s{s}": forward, f"measured_backward_ms_s{s}": backward,
                f"measured_optimizer_ms_s{s}": optimizer, f"measured_encode_fwd_ms_s{s}": 0.1 * (s + 1),
                f"measured_decode_fwd_ms_s{s}": 0.2 * (s + 1), f"measured_encode_bwd_ms_s{s}": 0.3 * (s + 1),
                f"measured_decode_bwd_ms_s{s}": 0.4 * (s + 1)}
    return pd.Series(row)


def test_measured_stage_times_are_per_micro_batch_with_the_slowest_optimizer():
    times = measured_stage_times(_measured_row(), n_stages=3, m=2)
    assert times.forward_ns == [5_000_000, 3_000_000, 2_000_000]
    assert times.backward_ns == [10_000_000, 6_000_000, 4_000_000]
    assert times.optimizer_ns == 5_000_000  # per step, not per micro-batch


def test_measured_boundaries_take_each_codec_time_from_its_side(tmp_path):
    link = link_model("100mbit", _fidelity(tmp_path), 1500)
    first, second = measured_boundaries(_measured_row(), n_stages=3, m=2, link=link)
    # boundary 0: stage 0 encodes forward (0.1 ms) and decodes backward (0.4), stage 1 decodes forward (0.4)
    # and encodes backward (0.6); per micro-batch: halved
    assert (first.fwd_encode_ns, first.fwd_decode_ns, first.bwd_encode_ns, first.bwd_decode_ns) == (
        50_000, 200_000, 300_000, 200_000)
    assert (second.fwd_encode_ns, second.fwd_decode_ns, second.bwd_encode_ns, second.bwd_decode_ns) == (
        100_000, 300_000, 450_000, 400_000)
    assert (first.fwd_bytes, first.bwd_bytes, first.latency_us) == (1000, 500, 400.0)


class _Workload:
    def __init__(self, n_stages):
        self.n_stages = n_stages
        self.forward = CodecSpec(name="tahquant")
        self.backward = CodecSpec(name="fixpoint", params={"bits": 6})


def _codec_times() -> pd.DataFrame:
    return pd.DataFrame({"codec": ["tahquant", "fixpoint(bits=6)", "tahquant"],
                         "direction": ["forward", "backward", "backward"],
                         "encode_ms": [0.25, 0.0101, 9.0], "decode_ms": [0.5, 0.0202, 9.0],
                         "wire_bytes": [18128, 98304, 1]})


def test_codec_boundaries_read_the_codec_timing_table(tmp_path):
    link = link_model("100mbit", _fidelity(tmp_path), 1500)
    bounds = codec_boundaries(_Workload(4), link, _codec_times())
    assert len(bounds) == 3
    b = bounds[0]
    assert (b.fwd_bytes, b.bwd_bytes) == (18128, 98304)
    assert (b.fwd_encode_ns, b.fwd_decode_ns, b.bwd_encode_ns, b.bwd_decode_ns) == (250_000, 500_000, 10_100, 20_200)
    assert b.bandwidth_gbps == pytest.approx(0.1 * 1448 / 1514)


def test_a_codec_missing_from_the_timing_table_is_an_error(tmp_path):
    link = link_model("100mbit", _fidelity(tmp_path), 1500)
    table = _codec_times().iloc[[0]]
    with pytest.raises(HarnessError, match="no backward row for fixpoint\\(bits=6\\)"):
        codec_boundaries(_Workload(2), link, table)


def test_the_optimizer_is_the_busiest_stages_share_stretched_when_cores_are_short():
    plan = load_plan(ROOT / "harness" / "pipeline_study" / "plans" / "pipeline_fidelity_quick.yaml")
    run = plan.runs[0]
    w = workload(plan, run, link_model("loopback", ROOT / "results" / "fidelity", plan.mtu_bytes))
    tables = open_cpu_replay(1, ROOT / "results" / "timings")
    whole = layer_costs(w, tables).optimizer_ns  # every parameter's AdamW step on one core
    counts = [sum(p.numel() for p in build_stage(plan.model, run.stages, s, plan.seq_len, 0).parameters())
              for s in range(run.stages)]
    alone = table_stage_times(w, tables, n_cores=64).optimizer_ns
    assert alone == pytest.approx(whole * max(counts) / sum(counts), abs=1)
    assert table_stage_times(w, tables, n_cores=1).optimizer_ns == pytest.approx(run.stages * alone, abs=run.stages)


def test_a_stage_touches_its_gradients_and_two_adamw_states_more_per_step_than_per_micro_batch():
    # with one micro-batch the per-step state adds AdamW's two float32 moments to the per-micro-batch state
    # (weights + gradients + activations): 8 bytes per parameter of the stage's own modules
    plan = load_plan(ROOT / "harness" / "pipeline_study" / "plans" / "pipeline_fidelity_quick.yaml")
    plan = plan.model_copy(update={"n_micro_batches": 1})
    run = plan.runs[0]
    w = workload(plan, run, link_model("loopback", ROOT / "results" / "fidelity", plan.mtu_bytes))
    counts = [sum(p.numel() for p in build_stage(plan.model, run.stages, s, plan.seq_len, 0).parameters())
              for s in range(run.stages)]
    touched = stage_touched_bytes(w)
    assert [step - mb for mb, step in touched] == [8 * n for n in counts]


def test_a_predicted_step_by_hand_on_two_stages_slow_in_different_directions(tmp_path):
    """One micro-batch, free boundaries: F0 0-30, F1 30-40, B1 40-80, B0 80-90 ns, then the 5 ns optimizer. Busy
    40 + 50 of 2 x 90 ns: bubble 1/2. Stage 0 is slowest forward, stage 1 backward: the slowest stage takes 50 ns."""
    plan = load_plan(ROOT / "harness" / "pipeline_study" / "plans" / "pipeline_fidelity_quick.yaml")
    run = next(r for r in plan.runs if r.stages == 2)
    w = workload(plan, run, link_model("loopback", _fidelity(tmp_path), plan.mtu_bytes)).model_copy(
        update={"n_micro_batches": 1, "schedule": "gpipe"})
    free = BoundaryCost(0, 0, 0, 0, 0, 0, 1.0, 0.0)
    out = predict_step_ms(w, StageTimes([30, 10], [10, 40], 5), [free])
    assert out["step_ms"] == pytest.approx(95e-6, rel=1e-12)
    assert out["bubble_fraction"] == pytest.approx(0.5, rel=1e-12)
    assert out["stage_compute_ms"] == pytest.approx(50e-6, rel=1e-12) and out["codec_ms"] == 0.0
