"""CompressionPipeline: dense warm-up leaves state alone, default pairings, bucket plans, state round trip."""

from __future__ import annotations

import pytest
import torch

from methods.compress import CompressionPipeline, SimulatedCollective, aggregate


def _grads(seed, n_workers):
    gen = torch.Generator().manual_seed(seed)
    return [{"w": torch.randn(10, 12, generator=gen), "b": torch.randn(10, generator=gen)} for _ in range(n_workers)]


def test_warm_up_steps_are_exact_dense_averages_and_touch_no_state():
    pipes = [CompressionPipeline.build("arc_topk", "ef21", seed=1, start_iter=3) for _ in range(3)]
    coll = SimulatedCollective(3)
    for step in range(3):
        grads = _grads(step, 3)
        out = aggregate(pipes, grads, step, coll)
        for name in ("w", "b"):
            assert torch.equal(out[0][name], (grads[0][name] + grads[1][name] + grads[2][name]) / 3)
        assert not pipes[0].error_feedback.memory("w") and pipes[0].compressor.calls_made("w") == 0
    aggregate(pipes, _grads(3, 3), 3, coll)  # EF21 initialisation: dense, state created
    assert "server" in pipes[0].error_feedback.memory("w")
    aggregate(pipes, _grads(4, 3), 4, coll)
    assert pipes[0].compressor.calls_made("w") == 1 and pipes[0].compressor.calls_made("b") == 0  # 1-D: dense


def test_default_error_feedback_pairings_and_bad_input():
    assert type(CompressionPipeline.build("greedylore").error_feedback).__name__ == "EF14"
    assert type(CompressionPipeline.build("none").error_feedback).__name__ == "NoErrorFeedback"
    with pytest.raises(ValueError, match="start_iter"):
        CompressionPipeline.build("none", start_iter=-1)
    pipes = [CompressionPipeline.build("topk") for _ in range(2)]
    with pytest.raises(ValueError, match="worker 1 holds tensors"):
        aggregate(pipes, [{"a": torch.zeros(3)}, {"b": torch.zeros(3)}], 0, SimulatedCollective(2))


def test_bucket_plan_batches_phases_across_tensors():
    pipe = CompressionPipeline.build("arc_topk", "ef14", compressor_params={"ratio": 0.2, "rank": 4})
    plan = pipe.comm_plan({"w1": (100, 50), "w2": (40, 50), "bias": (100,)}, n_workers=4, step=0)
    # phase 1: both sketches + the dense bias in one all-reduce; phase 2: both row payloads
    assert [c.size_bytes for c in plan] == [4 * (100 * 4 + 40 * 4 + 100), 4 * (20 * 50 + 8 * 50)]


def test_state_dict_round_trip_continues_identically():
    def make():
        return [CompressionPipeline.build("greedylore", compressor_params={"rank": 2, "refresh_period": 2}, seed=4)
                for _ in range(2)]

    a = make()
    for step in range(3):
        aggregate(a, _grads(step, 2), step, SimulatedCollective(2))
    b = make()
    for pb, pa in zip(b, a):
        pb.load_state_dict(pa.state_dict())
    for step in range(3, 6):
        oa = aggregate(a, _grads(step, 2), step, SimulatedCollective(2))
        ob = aggregate(b, _grads(step, 2), step, SimulatedCollective(2))
        assert torch.equal(oa[0]["w"], ob[0]["w"])
