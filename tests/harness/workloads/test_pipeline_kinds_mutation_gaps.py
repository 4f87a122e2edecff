"""Gaps a mutation audit found in the ``pipeline_step`` and ``pipeline_training`` kinds: the step's closed form on
one stage (m x compute + optimizer, no bubble), the optimizer's split by parameter share, the uncompressed
baselines paying the optimizer too, the row's byte, bit, cache, activation and throughput columns against
hand-computed numbers, the busiest stage's codec time, the codecs' documented pass counts, the eager and
rendezvous engines against hand-computed schedules; and for ``pipeline_training``: its windows and targets, the
recorded steps, epochs, per-direction bytes / bits / errors, micro-batch gradient accumulation, AQ-SGD's warm-up and
cache, and the tile-size check of ``uniform_tile``."""

from __future__ import annotations

import pytest

from harness.timing.replay import open_replay
from harness.workloads.pipeline_step import (
    BoundaryCost, BoundaryLink, CodecPricer, CodecSpec, build_codec, simulate_pipeline,
)
from methods.pipeline.schedule import make_schedule
from tests.harness.workloads.test_pipeline_step import TIMINGS, TINY, _run, _scenario

NUMEL = 64 * 256  # one sequence of 64 tokens of the tiny model's 256 channels


def _row(**workload):
    out = _run(_scenario(**workload))
    return out.metrics.iloc[0], out.info


def test_one_stage_takes_m_times_its_compute_plus_the_whole_optimizer():
    row, info = _row(n_stages=1, n_micro_batches=3, optimizer="adamw")
    f, b = info["stage_forward_ms"][0], info["stage_backward_ms"][0]
    assert row["pipeline_ms"] == pytest.approx(3 * (f + b), rel=1e-9)
    assert row["stage_compute_ms"] == pytest.approx(f + b, rel=1e-9)
    assert row["optimizer_ms"] > 0 and row["bubble_fraction"] == 0.0
    assert row["step_time_ms"] == pytest.approx(row["pipeline_ms"] + row["optimizer_ms"], rel=1e-9)
    # the uncompressed float32 method is its own baseline, optimizer included
    assert row["fp32_step_time_ms"] == row["step_time_ms"] and row["speedup_vs_fp32"] == 1.0
    assert row["bf16_step_time_ms"] == row["step_time_ms"]  # one stage sends nothing: no cast either


def test_the_optimizer_is_split_by_parameter_share_and_the_largest_share_waits():
    whole = _row(n_stages=1, optimizer="adamw")[0]["optimizer_ms"]
    # 3 stages of 4 blocks: [embed, 2 blocks], [1 block], [1 block, head]: the first holds more than a third
    split = _row(n_stages=3, optimizer="adamw")[0]["optimizer_ms"]
    assert whole / 3 < split < whole


def test_the_rows_byte_and_bit_columns_by_hand():
    # fixpoint 6 bits on (1, 64, 256): 256 fp16 scales + 16384 x 6 bits = 12,800 B; float32 gradients 65,536 B
    row, _ = _row(forward=CodecSpec(name="fixpoint", params={"bits": 6}))
    assert (row["fwd_bytes_per_boundary"], row["bwd_bytes_per_boundary"]) == (12_800, 65_536)
    assert row["fwd_bits_per_element"] == 6.25 and row["bwd_bits_per_element"] == 32.0
    assert row["bytes_per_boundary_per_step"] == 6 * (12_800 + 65_536)


def test_activation_cache_and_throughput_columns_by_hand():
    row, _ = _row(micro_batch=2, dtype="bfloat16", forward=CodecSpec(name="aqsgd", params={"bits": 4}))
    assert row["activation_bytes"] == 2 * NUMEL * 2  # bfloat16
    assert row["cache_bytes_per_side"] == 12 * NUMEL * 2  # default: every sample of the step (6 x 2), float16
    assert row["throughput_seq_per_s"] == pytest.approx(12 / (row["step_time_ms"] / 1e3), rel=1e-12)
    row32, _ = _row(forward=CodecSpec(name="aqsgd", params={"bits": 4, "cache_dtype": "float32", "n_samples": 5}))
    assert row32["cache_bytes_per_side"] == 5 * NUMEL * 4


def test_codec_ms_is_the_busiest_stages_encode_and_decode():
    """Forward fixpoint, free float32 gradients: on 3 stages the middle one decodes and encodes every micro-batch,
    the others do one of the two; codec_ms is the middle one's total, not the sum over stages."""
    spec = CodecSpec(name="fixpoint", params={"bits": 4})
    row, info = _row(n_stages=3, forward=spec)
    replay = open_replay(_scenario(n_stages=3, forward=spec), timings_root=TIMINGS)
    enc, dec = CodecPricer(replay, "float32", {}).times_ns(spec, build_codec(spec), (1, 64, 256))
    assert 0 < dec < enc  # 3 passes to encode, 2 to decode
    assert row["codec_ms"] == pytest.approx(6 * (enc + dec) / 1e6, rel=1e-12)
    # the sender encodes, the receiver decodes: each boundary carries the two times in their places
    assert [(b["fwd_encode_ns"], b["fwd_decode_ns"]) for b in info["boundaries"]] == [(enc, dec)] * 2


# ------------------------------------------------------------------------------ the eager engine, by hand
def test_two_stages_gpipe_with_codecs_and_a_link_by_hand():
    """p = 2, m = 2, forward 10 / backward 20 ns per stage; the boundary: 100 B forward, 50 B backward at 8 Gbit/s
    (1 B/ns), latency 3 ns, forward encode 1 / decode 2, backward encode 4 / decode 5.

    stage 0: F0 0-11 (+encode 1), F1 11-22; stage 1: F0 arrives 11 + 100 + 3 = 114, runs 114-126 (decode 2);
    F1 sent 22, the link is busy until 111, so it serialises 111-211, arrives 214, runs 214-226; B1 226-250
    (backward 20 + encode 4), B0 250-274. Gradients: B1 sent 250, arrives 250 + 50 + 3 = 303, stage 0 runs B1
    303-328 (decode 5); B0 sent 274 waits for the link until 300, serialises 300-350, arrives 353, runs 353-378."""
    bound = BoundaryCost(100, 50, 1, 2, 4, 5, 8.0, 0.003)
    times = simulate_pipeline(make_schedule("gpipe", 2, 2), [10, 10], [20, 20], [bound])
    assert times.pipeline_ns == 378
    assert times.busy_ns == (2 * 11 + 2 * 25, 2 * 12 + 2 * 24)
    assert times.codec_ns == (2 * 1 + 2 * 5, 2 * 2 + 2 * 4)
    assert times.bubble_fraction() == pytest.approx(1 - (72 + 72) / (2 * 378), abs=1e-15)
    # the SimPy world agrees (rendezvous off, one core per stage)
    assert simulate_pipeline(make_schedule("gpipe", 2, 2), [10, 10], [20, 20], [bound], cores=1).busy_ns == \
        times.busy_ns


def test_three_stages_with_different_forward_and_backward_times_by_hand():
    """1F1B, p = 3, m = 1, free boundaries: forward 1, 2, 3 ns, backward 10, 20, 30 ns; one micro-batch goes down
    and back: 1 + 2 + 3 + 30 + 20 + 10 = 66 ns; busy 11, 22, 33 of 3 x 66."""
    free = [BoundaryCost(0, 0, 0, 0, 0, 0, 1.0, 0.0)] * 2
    times = simulate_pipeline(make_schedule("1f1b", 3, 1), [1, 2, 3], [10, 20, 30], free)
    assert times.pipeline_ns == 66 and times.busy_ns == (11, 22, 33)
    assert times.bubble_fraction() == pytest.approx(1 - 66 / 198, abs=1e-15)


def test_a_link_latency_counts_once_per_message_and_not_twice_in_the_fifo():
    """GPipe p = 2, m = 3, no compute, 10 B forward messages at 8 Gbit/s, latency 1000 ns: the three messages
    serialise back to back (0-10, 10-20, 20-30) and arrive 1010, 1020, 1030; free gradients then cross in 1000
    each: stage 1 ends at 1030, stage 0's backwards arrive at 2030."""
    bound = BoundaryCost(10, 0, 0, 0, 0, 0, 8.0, 1.0)
    times = simulate_pipeline(make_schedule("gpipe", 2, 3), [0, 0], [0, 0], [bound])
    assert times.pipeline_ns == 2030


def test_pipeline_step_refuses_more_stages_than_blocks_and_links_of_the_wrong_count():
    from pydantic import ValidationError

    assert _scenario(n_stages=4).workload.n_stages == 4  # as many stages as the tiny model's 4 blocks
    with pytest.raises(ValidationError, match="n_stages: 5 stages for 4 blocks"):
        _scenario(n_stages=5)
    with pytest.raises(ValidationError, match="boundary_links: expected 1 entries"):
        _scenario(boundary_links=[])
    deep = TINY.model_copy(update={"n_layers": 16})
    assert _scenario(model=deep, n_stages=16, n_micro_batches=65_536).workload.n_micro_batches == 65_536  # 2**20
    with pytest.raises(ValidationError, match="schedule slots"):
        _scenario(model=deep, n_stages=16, n_micro_batches=65_537)
    assert build_codec(CodecSpec(name="aqsgd")).bits == 4
    assert BoundaryLink(bandwidth_gbps=1.0).latency_us == 0.0


# --------------------------------------------------------------------------------------- pipeline_training
def _train(steps: int = 6, **workload):
    import numpy as np

    from harness.workloads.base import RunContext
    from harness.workloads.pipeline_training import PipelineTrainingScenario, run

    w = dict(model=dict(d_model=32, n_layers=2, n_heads=4, d_ff=64), n_stages=2, seq_len=8, batch_size=4,
             n_micro_batches=2, n_train=8, eval_windows=4, steps=steps, eval_every=100,
             forward={"name": "none"}, backward={"name": "none"})
    scenario = PipelineTrainingScenario.model_validate(dict(name="t", seed=0, workload={**w, **workload}))
    return run(scenario, RunContext(seed_seq=np.random.SeedSequence(0)))


def test_windows_are_consecutive_slices_and_the_targets_are_shifted_by_one():
    import torch

    from harness.workloads.pipeline_training import _windows

    x, y = _windows(torch.arange(10), 3, 3, "n")
    assert x.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]] and y.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    with pytest.raises(ValueError, match="n: the corpus gives 2 windows of 3 tokens, 3 asked"):
        _windows(torch.arange(9), 3, 3, "n")  # the last window would have no target for its last token


def test_recorded_steps_are_the_first_every_kth_and_the_last():
    from harness.workloads.pipeline_training import _recorded, _rel_error

    assert [s for s in range(10) if _recorded(s, 4, 10)] == [0, 3, 7, 9]
    assert _rel_error(9.0, 4.0) == 1.5 and _rel_error(0.0, 0.0) == 0.0


def test_epochs_bytes_and_evaluations_of_a_short_run_by_hand():
    """8 windows, 4 per step: 2 steps per epoch. Uncompressed float32: every step sends 4 x 8 x 32 x 4 B each way
    over the one boundary, 32 bits per element, no error. Evaluated at the last step only (eval_every 100)."""
    out = _train(steps=5, record_every=2)
    m = out.metrics
    assert m["step"].tolist() == [0, 1, 3, 4] and m["epoch"].tolist() == [0, 0, 1, 2]
    assert (m["fwd_bytes"] == 4096).all() and (m["bwd_bytes"] == 4096).all()
    assert (m["fwd_bits_per_element"] == 32.0).all() and (m["bwd_bits_per_element"] == 32.0).all()
    assert (m["fwd_rel_error"] == 0.0).all() and (m["bwd_rel_error"] == 0.0).all()
    assert m["eval_loss"].isna().tolist() == [True, True, True, False]
    assert out.info["epochs"] == 3 and out.info["boundary_shape"] == [2, 8, 32]
    assert out.info["total_forward_bytes"] == out.info["total_backward_bytes"] == 5 * 4096


def test_micro_batches_accumulate_to_the_full_batch_gradient():
    """Plain SGD, no compression: 2 micro-batches of 2 (each loss divided by 2) train exactly like 1 of 4."""
    sgd = {"name": "sgd", "lr": 0.5}
    one = _train(n_micro_batches=1, optimizer=sgd).metrics["loss"]
    two = _train(n_micro_batches=2, optimizer=sgd).metrics["loss"]
    assert one.iloc[-1] < one.iloc[0]
    assert two.tolist() == pytest.approx(one.tolist(), rel=1e-5)


def test_aqsgd_cache_and_warm_up_bits_per_step():
    """AQ-SGD, 8 windows, 4 per step: steps 0 and 1 see new samples (32 bits per element, the float32 warm-up),
    then every sample is cached: 4-bit fixpoint deltas, per micro-batch of 2: 32 fp16 scales + 2 x 8 x 32 x 4 bits
    = 320 B, 640 B a step. Both sides cache every sample seen in float16."""
    m = _train(steps=4, forward={"name": "aqsgd", "params": {"bits": 4}}).metrics
    assert m["fwd_bits_per_element"].tolist()[:2] == [32.0, 32.0]
    assert m["fwd_bytes"].tolist()[2:] == [2 * (32 * 2 + 2 * 8 * 32 * 4 // 8)] * 2
    assert m["cache_bytes"].tolist() == [2 * 4 * 8 * 32 * 2] + [2 * 8 * 8 * 32 * 2] * 3


def test_codec_passes_priced_as_copies_of_the_documented_pass_counts():
    """fixpoint / uniform: encode = a min-max pass + a quantize pass (read, write codes) = 3 activation-sized
    reads/writes, decode = read codes + write = 2; AQ-SGD adds reading and writing the cache on both sides: 6 and 4.
    A copy reads and writes one element each, so it is priced at passes x numel / 2 elements."""
    from tests.harness.workloads.test_pipeline_step import _RecordingReplay

    replay = _RecordingReplay()
    pricer = CodecPricer(replay, "float32", {})
    for name, enc, dec in (("fixpoint", 3, 2), ("uniform_tensor", 3, 2), ("uniform_tile", 3, 2), ("aqsgd", 6, 4)):
        replay.calls.clear()
        spec = CodecSpec(name=name, params={"tile_size": 64} if name == "uniform_tile" else {})
        pricer.times_ns(spec, build_codec(spec), (2, 8, 64))
        assert [c[2]["numel"] for c in replay.calls] == [enc * 512, dec * 512], name


@pytest.mark.parametrize("side", ["forward", "backward"])
def test_pipeline_training_refuses_a_uniform_tile_wider_than_the_model(side):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=f"{side}.params.tile_size: must divide d_model=32, got 64"):
        _train(**{side: {"name": "uniform_tile", "params": {"tile_size": 64}}})


def test_stage_compute_adds_up_to_the_whole_models():
    """Every layer (embedding, blocks, head) is priced on exactly one stage: the stages' forward and backward
    times add up to the one-stage pipeline's, however the blocks are split."""
    whole = _row(n_stages=1)[1]
    for p in (2, 3, 4):
        info = _row(n_stages=p)[1]
        for key in ("stage_forward_ms", "stage_backward_ms"):
            assert sum(info[key]) == pytest.approx(whole[key][0], rel=1e-12), (p, key)


def test_stage_compute_is_the_slowest_stages_forward_plus_backward(monkeypatch):
    """Stage 0 (embed + 2 blocks) is slowest forward (30 ns vs 10), stage 1 (2 blocks + head) slowest backward
    (40 vs 10): the slowest stage takes 10 + 40 = 50 ns per micro-batch, not 30 + 40."""
    from harness.workloads import pipeline_step
    costs = pipeline_step.LayerCosts(names=("embed", "block.0", "block.1", "block.2", "block.3", "head"),
                                     forward_ns=(10, 10, 10, 5, 5, 0), backward_ns=(0, 5, 5, 10, 10, 20),
                                     n_params=(1, 1, 1, 1, 1, 1), optimizer_ns=0)
    monkeypatch.setattr(pipeline_step, "layer_costs", lambda w, replay: costs)
    row, info = _row(n_stages=2)
    assert info["stage_forward_ms"] == [30e-6, 10e-6] and info["stage_backward_ms"] == [10e-6, 40e-6]
    assert row["stage_compute_ms"] == pytest.approx(50e-6, rel=1e-12)


def test_each_directions_relative_error_is_its_own():
    """Forward 2-bit fixpoint, backward uncompressed: the activations arrive with an error, the gradients without;
    the forward error is at most one 2-bit step relative to the max-abs scale (under 1), above 0."""
    m = _train(steps=2, forward={"name": "fixpoint", "params": {"bits": 2}}).metrics
    assert ((m["fwd_rel_error"] > 0) & (m["fwd_rel_error"] < 1)).all() and (m["bwd_rel_error"] == 0.0).all()
    # 2 bits per value + one fp16 scale per channel over a micro-batch's 2 x 8 rows: 2 + 16 / 16 = 3
    assert (m["fwd_bits_per_element"] == 3.0).all() and (m["bwd_bits_per_element"] == 32.0).all()


def test_a_rendezvous_send_waits_for_the_receivers_ready_notice_by_hand():
    """GPipe p = 2, m = 2, rendezvous, forward 10 / backward 20 ns, 100 B activations at 8 Gbit/s (100 ns), free
    gradients, latency 1 us each way. F0: the receive is posted at 0, its notice reaches stage 0 at 1000, the data
    serialises 1000-1100 and arrives 2100; stage 1 runs F0 2100-2110, then posts F1: notice at 3110, data 3110-3210,
    arrival 4210; F1 4210-4220, B1 4220-4240 (stage 0 posted B1 at 20: it arrives 5240), B0 4240-4260. Stage 0:
    B1 5240-5260, then posts B0: notice at 6260, arrival 7260, B0 7260-7280."""
    bound = BoundaryCost(100, 0, 0, 0, 0, 0, 8.0, 1.0)
    times = simulate_pipeline(make_schedule("gpipe", 2, 2), [10, 10], [20, 20], [bound], rendezvous=True)
    assert times.pipeline_ns == 7280 and times.busy_ns == (60, 60)
