"""CompressionPipeline: dense warm-up leaves state alone, default pairings, bucket plans, state round trip."""

from __future__ import annotations

import numpy as np
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


def test_shared_randomness_follows_the_step_and_the_seed():
    """Rand-K through the pipeline: the entries kept are a new set at every step, the same again in a rerun of the
    same seed, and another set under another seed."""
    def supports(seed):
        pipes = [CompressionPipeline.build("randk", compressor_params={"ratio": 0.2}, seed=seed, start_iter=0)
                 for _ in range(2)]
        out = []
        for step in range(3):
            results = aggregate(pipes, _grads(step, 2), step, SimulatedCollective(2))
            out.append(tuple(torch.nonzero(results[0]["w"].flatten()).flatten().tolist()))
        return out

    steps = supports(0)
    assert len(set(steps)) == 3 and supports(0) == steps and supports(1) != steps


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


def _trained(**build):
    """Two pipelines built with ``build`` after 3 steps (the last two compressed), and worker 0's state_dict."""
    pipes = [CompressionPipeline.build(**build) for _ in range(2)]
    for step in range(3):
        aggregate(pipes, _grads(step, 2), step, SimulatedCollective(2))
    return pipes, pipes[0].state_dict()


def _same(a, b) -> bool:
    if torch.is_tensor(a):
        return torch.is_tensor(b) and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def test_a_checkpoint_of_another_seed_start_iter_or_dense_set_is_refused():
    """Loading used to adopt the checkpoint's seed and start_iter silently; it is refused like the DDP hook does.
    So is a checkpoint whose dense_parameters differ (its tensors' error-feedback state would be orphaned or
    missing)."""
    run = {"compressor": "randk", "error_feedback": "ef14", "seed": 4, "start_iter": 1, "dense_parameters": ["b*"]}
    _, saved = _trained(**run)
    assert saved["dense_parameters"] == ["b*"]
    for key, value, message in (("seed", 5, "seed is 4, this CompressionPipeline's 5"),
                                ("start_iter", 0, "start_iter is 1, this CompressionPipeline's 0"),
                                ("dense_parameters", ["w"], r"dense_parameters are \['b\*'\], this "
                                                             r"CompressionPipeline's \['w'\]")):
        other = CompressionPipeline.build(**{**run, key: value})
        before = other.state_dict()
        with pytest.raises(ValueError, match=message):
            other.load_state_dict(saved)
        assert _same(other.state_dict(), before)  # nothing changed
    without = {k: v for k, v in saved.items() if k != "dense_parameters"}  # saved before the patterns were
    CompressionPipeline.build(**run).load_state_dict(without)                # recorded: loads


def test_a_checkpoint_of_other_compressor_or_error_feedback_parameters_is_refused():
    """PowerSGD of rank 2 loaded into a rank-3 pipeline used to load (a shape error or a silent fresh Q later);
    every construction parameter is now in the checkpoint and a mismatch is refused, naming it and both values."""
    run = {"compressor": "powersgd", "error_feedback": "ef21m", "compressor_params": {"rank": 2},
           "error_feedback_params": {"eta": 0.5}, "seed": 1}
    pipes, saved = _trained(**run)
    assert saved["compressor_params"] == {"rank": 2, "warm_start": True, "error_reference": "aggregate",
                                          "min_compression_rate": 1.0}
    assert saved["error_feedback_params"] == {"dense_init": True, "eta": 0.5, "zero_init": False,
                                              "authors_first_step": False}
    refusals = {
        r"powersgd\.rank is 2, this CompressionPipeline's 3": {"compressor_params": {"rank": 3}},
        r"powersgd\.warm_start is True, this CompressionPipeline's False":
            {"compressor_params": {"rank": 2, "warm_start": False}},
        r"ef21m\.eta is 0\.5, this CompressionPipeline's 0\.25.*error_feedback_params":
            {"error_feedback_params": {"eta": 0.25}},
    }
    for message, change in refusals.items():
        other = CompressionPipeline.build(**{**run, **change})
        before = other.state_dict()
        with pytest.raises(ValueError, match=message):
            other.load_state_dict(saved)
        assert _same(other.state_dict(), before)
    # a parameter this pipeline does not have; the error feedback's still checked when the compressor's are absent
    extra = {**saved, "compressor_params": {**saved["compressor_params"], "gamma": 2}}
    with pytest.raises(ValueError, match=r"powersgd\.gamma is 2, this CompressionPipeline has no such parameter"):
        CompressionPipeline.build(**run).load_state_dict(extra)
    only_feedback = {k: v for k, v in saved.items() if k != "compressor_params"}
    with pytest.raises(ValueError, match=r"ef21m\.eta is 0\.5"):
        CompressionPipeline.build(**{**run, "error_feedback_params": {"eta": 0.25}}).load_state_dict(only_feedback)
    # a checkpoint saved before the parameters were recorded still loads, and resumes exactly
    old = {k: v for k, v in saved.items() if not k.endswith("_params")}
    resumed = [CompressionPipeline.build(**run) for _ in range(2)]
    resumed[0].load_state_dict(old)
    resumed[1].load_state_dict(pipes[1].state_dict())
    a = aggregate(pipes, _grads(3, 2), 3, SimulatedCollective(2))
    b = aggregate(resumed, _grads(3, 2), 3, SimulatedCollective(2))
    assert torch.equal(a[0]["w"], b[0]["w"])
    # numpy scalars given as parameters are saved as plain numbers (torch.load weights_only reads them)
    np_pipe = CompressionPipeline.build("topk", compressor_params={"ratio": np.float64(0.25)})
    assert type(np_pipe.state_dict()["compressor_params"]["ratio"]) is float
