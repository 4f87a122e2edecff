"""DDP hooks: 2 spawned gloo ranks stay bit-identical and match the in-process simulation; hook unit tests.

Tolerance of the hook-vs-simulation comparison: none. Both sides run the same compression code on one
intra-op thread each, and a 2-rank gloo sum a + b equals b + a exactly, so parameters, losses and bytes must
be bit-identical at every step (with different thread counts matmuls may differ by ~1 ulp). Only the logged
mean loss differs by rounding (fp32 all-reduce of the losses on the DDP side), so it is compared at 1e-6.
"""

from __future__ import annotations

import os
import pickle
import tempfile

import pytest
import torch
import torch.distributed as dist

from methods.compress.ddp_hooks import CompressionHookState, compression_hook
from methods.compress.ddp_run import DigitsRunConfig, run_ddp_digits, run_simulated_digits

CONFIGS = [
    DigitsRunConfig(compressor="none", error_feedback="none", steps=4),
    DigitsRunConfig(compressor="topk", error_feedback="ef14", compressor_params={"ratio": 0.2}, steps=5),
    DigitsRunConfig(compressor="randk", error_feedback="none", compressor_params={"scaled": True}, steps=5),
    DigitsRunConfig(compressor="arc_topk", error_feedback="ef21", compressor_params={"ratio": 0.2, "rank": 4},
                    optimizer="momentum", lr=0.02, steps=5),
    DigitsRunConfig(compressor="arc_topk", error_feedback="ef21m", error_feedback_params={"eta": 0.5},
                    start_iter=0, steps=5),
    DigitsRunConfig(compressor="powersgd", error_feedback="ef14", compressor_params={"rank": 2}, optimizer="adam",
                    lr=1e-3, steps=5),
    DigitsRunConfig(compressor="greedylore", error_feedback="ef14", compressor_params={"rank": 2, "refresh_period": 2},
                    steps=6, dirichlet_alpha=0.5),
]


@pytest.fixture(scope="module")
def ddp_traces():
    return run_ddp_digits(CONFIGS, world_size=2)


def test_ranks_hold_bit_identical_parameters_after_every_step(ddp_traces):
    for cfg, trace in zip(CONFIGS, ddp_traces):
        assert len(trace.max_rank_diff) == cfg.steps
        assert trace.max_rank_diff == [0.0] * cfg.steps, cfg.compressor


@pytest.mark.parametrize("index", range(len(CONFIGS)), ids=[f"{c.compressor}-{c.error_feedback}" for c in CONFIGS])
def test_hook_run_equals_the_simulated_workers_run(ddp_traces, index):
    cfg, trace = CONFIGS[index], ddp_traces[index]
    sim = run_simulated_digits(cfg, n_workers=2)
    assert torch.equal(trace.params, sim.params), float((trace.params - sim.params).abs().max())
    assert trace.payload_bytes == sim.payload_bytes
    assert trace.losses == pytest.approx(sim.losses, rel=1e-6)  # DDP sums the losses in fp32, we in fp64
    assert not torch.equal(trace.params[0], trace.params[-1])  # it did train
    if cfg.compressor != "none":
        assert trace.payload_bytes[-1] < trace.payload_bytes[0]  # compression engaged after the warm-up


# ------------------------------------------------------------------------------------------ unit level
class FakeBucket:
    """The GradBucket surface the hook uses (research card invariant 18)."""

    def __init__(self, index, params, grads, last):
        self._index, self._params, self._last = index, params, last
        self._buffer = torch.cat([g.reshape(-1) for g in grads]) if grads else torch.zeros(0)
        self._grads, offset = [], 0
        for g in grads:
            self._grads.append(self._buffer[offset : offset + g.numel()].view(g.shape))
            offset += g.numel()

    def index(self):
        return self._index

    def buffer(self):
        return self._buffer

    def gradients(self):
        return self._grads

    def parameters(self):
        return self._params

    def is_last(self):
        return self._last


@pytest.fixture(scope="module")
def one_rank_group():
    if dist.is_initialized():
        pytest.skip("a default process group already exists in this process")
    with tempfile.TemporaryDirectory() as tmp:
        dist.init_process_group("gloo", init_method=f"file://{os.path.join(tmp, 'rdv')}", rank=0, world_size=1)
        try:
            yield
        finally:
            dist.destroy_process_group()


def _params():
    gen = torch.Generator().manual_seed(0)
    return {"w": torch.nn.Parameter(torch.randn(6, 8, generator=gen)), "b": torch.nn.Parameter(torch.randn(6, generator=gen))}


def test_dense_warm_up_returns_the_average_and_the_counter_moves_only_on_the_last_bucket(one_rank_group):
    params = _params()
    state = CompressionHookState("arc_topk", "ef14", compressor_params={"ratio": 0.5, "rank": 2}, start_iter=2,
                                 named_parameters=params.items())
    grads = [torch.randn(6, 8), torch.randn(6)]
    for it in range(2):
        b0 = FakeBucket(0, [params["w"]], [grads[0].clone()], last=False)
        assert torch.equal(compression_hook(state, b0).wait(), grads[0].reshape(-1))  # world size 1: mean = input
        assert state.iteration == it
        b1 = FakeBucket(1, [params["b"]], [grads[1].clone()], last=True)
        compression_hook(state, b1).wait()
        assert state.iteration == it + 1
    assert not state.pipeline.error_feedback.memory("w")  # warm-up touched no state
    out = compression_hook(state, FakeBucket(0, [params["w"]], [grads[0].clone()], last=True)).wait().view(6, 8)
    assert int((out.abs().sum(1) > 0).sum()) == 3  # ARC kept K = 3 of 6 rows
    assert "error" in state.pipeline.error_feedback.memory("w")
    assert state.total_payload_bytes == 2 * 4 * (48 + 6) + 4 * (6 * 2 + 3 * 8)


def test_zero_size_bucket_and_state_checkpointing(one_rank_group):
    params = _params()
    state = CompressionHookState("greedylore", compressor_params={"rank": 1, "refresh_period": 2}, start_iter=0,
                                 seed=3, named_parameters=params.items())
    assert compression_hook(state, FakeBucket(0, [], [], last=False)).wait().numel() == 0
    g = torch.randn(6, 8, generator=torch.Generator().manual_seed(1))
    for _ in range(2):
        compression_hook(state, FakeBucket(0, [params["w"]], [g.clone()], last=True)).wait()
    copy = pickle.loads(pickle.dumps(state))  # the process group is left out, the rest survives
    assert copy.process_group is None and copy.iteration == state.iteration == 2
    restored = CompressionHookState("greedylore", compressor_params={"rank": 1, "refresh_period": 2}, start_iter=0,
                                    seed=3, named_parameters=params.items())
    restored.load_state_dict(state.state_dict())
    a = compression_hook(state, FakeBucket(0, [params["w"]], [g.clone()], last=True)).wait()
    b = compression_hook(restored, FakeBucket(0, [params["w"]], [g.clone()], last=True)).wait()
    assert torch.equal(a, b)


def test_bad_configuration_is_explained():
    with pytest.raises(ValueError, match="start_iter must be >= 2"):
        CompressionHookState("arc_topk", start_iter=1)
    with pytest.raises(ValueError, match="start_iter: expected >= 0"):
        CompressionHookState("arc_topk", start_iter=-1, named_parameters=[])
    with pytest.raises(ValueError, match="unknown compressor"):
        CompressionHookState("arcc", start_iter=2)
