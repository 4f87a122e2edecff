"""``dense_parameters``: tensors chosen by name are averaged exactly with one dense all-reduce, never touch the
compressor or error feedback, count dense bytes, and the 2-rank gloo hook does the same as the simulation."""

from __future__ import annotations

import pytest
import torch

from methods.compress import CompressionPipeline, SimulatedCollective, aggregate, make_compressor
from methods.compress.ddp_hooks import CompressionHookState
from methods.compress.ddp_run import DigitsRunConfig, run_ddp_digits, run_simulated_digits
from methods.compress.pipeline import matches_pattern, unmatched_patterns


def _pipelines(n, dense=(), compressor="arc_topk", ef="ef14", params=None):
    params = {"ratio": 0.25, "rank": 2} if params is None else params
    return [CompressionPipeline.build(compressor, ef, compressor_params=params, seed=3, dense_parameters=dense)
            for _ in range(n)]


def test_patterns_match_the_name_or_any_tail_after_a_dot():
    assert matches_pattern("embed_tokens.weight", ["embed_tokens*"])
    assert matches_pattern("model.embed_tokens.weight", ["embed_tokens*"])
    assert matches_pattern("lm_head.weight", ["embed_tokens*", "lm_head*"])
    assert not matches_pattern("layers.0.attn.qkv.weight", ["embed_tokens*", "lm_head*"])
    assert not matches_pattern("my_embed_tokens.weight", ["embed_tokens*"])  # a tail starts after a dot
    assert not matches_pattern("LM_HEAD.weight", ["lm_head*"])  # case-sensitive
    assert unmatched_patterns(["embed*", "head*", "x"], ["embed.weight", "x"]) == ["head*"]


def test_dense_tensor_is_the_exact_mean_with_no_compressor_or_feedback_state():
    torch.manual_seed(0)
    grads = [{"embed.weight": torch.randn(16, 8), "layer.weight": torch.randn(16, 8)} for _ in range(3)]
    workers = _pipelines(3, dense=("embed*",))
    collective = SimulatedCollective(3)
    for step in range(3):
        out = aggregate(workers, grads, step, collective)
        mean = sum(g["embed.weight"] for g in grads) / 3
        torch.testing.assert_close(out[0]["embed.weight"], mean, rtol=0, atol=1e-6)
        assert not torch.allclose(out[0]["layer.weight"], sum(g["layer.weight"] for g in grads) / 3)  # compressed
    for w in workers:
        assert "embed.weight" not in w.compressor.dense_fallbacks() and w.compressor.calls_made("embed.weight") == 0
        assert w.compressor.calls_made("layer.weight") == 3
        assert "embed.weight" not in w.error_feedback.state_dict()["memory"]
        assert "layer.weight" in w.error_feedback.state_dict()["memory"]


def test_bytes_of_a_dense_tensor_are_dense_bytes():
    shapes = {"embed.weight": (16, 8), "layer.weight": (16, 8)}
    arc = make_compressor("arc_topk", ratio=0.25, rank=2)
    compressed = sum(c.size_bytes for c in arc.comm_plan((16, 8), 2))
    assert compressed < 16 * 8 * 4
    for dense, expected in [((), 2 * compressed), (("embed*",), 16 * 8 * 4 + compressed)]:
        workers = _pipelines(2, dense=dense)
        collective = SimulatedCollective(2)
        grads = [{n: torch.randn(s) for n, s in shapes.items()} for _ in range(2)]
        aggregate(workers, grads, 1, collective)
        assert sum(c.size_bytes for c in collective.calls) == expected
        assert sum(c.size_bytes for c in workers[0].comm_plan(shapes, 2, step=2)) == expected


def test_hook_state_checks_its_patterns():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    state = CompressionHookState("topk", "ef14", compressor_params={"ratio": 0.5}, start_iter=0,
                                 named_parameters=model.named_parameters(), dense_parameters=["0.*"])
    assert state.pipeline.is_dense("0.weight") and not state.pipeline.is_dense("1.weight")
    assert state.dense_fallbacks() == {}
    with pytest.raises(ValueError, match=r"dense_parameters: 'lm_head\*' match no parameter name"):
        CompressionHookState("topk", start_iter=0, named_parameters=model.named_parameters(),
                             dense_parameters=["lm_head*"])
    with pytest.raises(ValueError, match="dense_parameters: parameters are chosen by name"):
        CompressionHookState("topk", start_iter=2, dense_parameters=["0.*"])
    with pytest.raises(ValueError, match="expected a list of patterns"):
        CompressionHookState("topk", start_iter=0, named_parameters=model.named_parameters(), dense_parameters="0.*")
    for bad in ([""], ["0.*", 3]):
        with pytest.raises(TypeError, match="every pattern must be a non-empty string"):
            CompressionHookState("topk", start_iter=0, named_parameters=model.named_parameters(), dense_parameters=bad)
    with pytest.raises(TypeError, match="expected a list of name patterns, got 3"):
        CompressionHookState("topk", start_iter=0, named_parameters=model.named_parameters(), dense_parameters=3)


# ------------------------------------------------------------------------------------ 2-process gloo hook
DENSE = ("hidden.*",)
GLOO_CONFIGS = [
    DigitsRunConfig(compressor="arc_topk", error_feedback="ef21", compressor_params={"ratio": 0.2, "rank": 4},
                    steps=5, dense_parameters=DENSE),
    DigitsRunConfig(compressor="arc_topk", error_feedback="ef21", compressor_params={"ratio": 0.2, "rank": 4},
                    steps=5),
    DigitsRunConfig(compressor="greedylore", error_feedback="ef14", compressor_params={"rank": 2}, steps=5,
                    dtype="bfloat16", dense_parameters=("out.weight",)),
]


@pytest.fixture(scope="module")
def gloo_traces():
    return run_ddp_digits(GLOO_CONFIGS, world_size=2)


def test_gloo_hook_with_dense_parameters_keeps_ranks_identical_and_equals_the_simulation(gloo_traces):
    for cfg, trace in zip(GLOO_CONFIGS, gloo_traces):
        assert trace.max_rank_diff == [0.0] * cfg.steps, cfg
        sim = run_simulated_digits(cfg, n_workers=2)
        assert torch.equal(trace.params, sim.params)
        assert trace.payload_bytes == sim.payload_bytes


def test_gloo_hook_sends_the_chosen_tensors_dense(gloo_traces):
    dense, plain = gloo_traces[0], gloo_traces[1]
    arc = make_compressor("arc_topk", ratio=0.2, rank=4)
    hidden = GLOO_CONFIGS[0].hidden
    extra = hidden * 64 * 4 - sum(c.size_bytes for c in arc.comm_plan((hidden, 64), 2))
    # after the warm-up (start_iter 2) and EF21's dense first step, hidden.weight moves from compressed to dense
    # bytes; hidden.bias is 1-D and dense either way
    assert dense.payload_bytes[:3] == plain.payload_bytes[:3]
    assert [d - p for d, p in zip(dense.payload_bytes[3:], plain.payload_bytes[3:])] == [extra] * 2
