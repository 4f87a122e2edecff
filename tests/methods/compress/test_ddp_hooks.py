"""DDP hooks: 2 spawned gloo ranks stay bit-identical and match the in-process simulation; hook unit tests.

Tolerance of the hook-vs-simulation comparison: none. Both sides run the same compression code on one
intra-op thread each, and a 2-rank gloo sum a + b equals b + a exactly, so parameters, losses and bytes must
be bit-identical at every step (with different thread counts matmuls may differ by ~1 ulp). Only the logged
mean loss differs by rounding (fp32 all-reduce of the losses on the DDP side), so it is compared at 1e-6.
"""

from __future__ import annotations

import io
import pickle

import pytest
import torch
import torch.distributed as dist

from methods.compress import CollectiveCall, make_compressor
from methods.compress.ddp_hooks import CompressionHookState, compression_hook
from methods.compress.ddp_run import (
    DigitsRunConfig,
    largest_difference_from_first,
    run_ddp_digits,
    run_simulated_digits,
)

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


def test_the_rank_difference_measure_sees_any_rank_that_differs_from_rank_0():
    rank0 = torch.tensor([1.0, -2.0, 3.0])
    assert largest_difference_from_first([rank0, rank0.clone(), rank0.clone()]) == 0.0
    assert largest_difference_from_first([rank0, rank0.clone(), torch.tensor([1.0, -2.5, 3.0])]) == 0.5
    assert largest_difference_from_first([rank0, torch.tensor([0.0, -2.0, 3.0]), rank0.clone()]) == 1.0


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
    assert state.n_collectives == 2 * 2 + 2  # two dense warm-up steps of two buckets, then ARC's two phases
    assert state.total_ring_sent_bytes == 0.0  # one rank sends nothing


def test_zero_size_bucket_and_state_checkpointing(one_rank_group):
    params = _params()
    state = CompressionHookState("greedylore", compressor_params={"rank": 1, "refresh_period": 2}, start_iter=0,
                                 seed=3, process_group=dist.group.WORLD, named_parameters=params.items())
    assert compression_hook(state, FakeBucket(0, [], [], last=False)).wait().numel() == 0
    g = torch.randn(6, 8, generator=torch.Generator().manual_seed(1))
    for _ in range(2):
        compression_hook(state, FakeBucket(0, [params["w"]], [g.clone()], last=True)).wait()
    # a process group cannot be pickled: it is left out (the copy talks in the global group), the rest survives
    copy = pickle.loads(pickle.dumps(state))
    assert copy.process_group is None and copy.iteration == state.iteration == 2
    restored = CompressionHookState("greedylore", compressor_params={"rank": 1, "refresh_period": 2}, start_iter=0,
                                    seed=3, named_parameters=params.items())
    restored.load_state_dict(state.state_dict())
    a, b, c = (compression_hook(s, FakeBucket(0, [params["w"]], [g.clone()], last=True)).wait()
               for s in (state, restored, copy))
    assert torch.equal(a, b) and torch.equal(a, c)


def test_bad_configuration_is_explained():
    with pytest.raises(ValueError, match="start_iter must be >= 2"):
        CompressionHookState("arc_topk", start_iter=1)
    with pytest.raises(ValueError, match="start_iter: expected >= 0"):
        CompressionHookState("arc_topk", start_iter=-1, named_parameters=[])
    with pytest.raises(ValueError, match="unknown compressor"):
        CompressionHookState("arcc", start_iter=2)


# ------------------------------------------------------------------------------------------ checkpoint resume
RESUME_CONFIGS = {
    "topk-ef14": ("topk", "ef14", {"ratio": 0.2}),
    "powersgd-ef14": ("powersgd", "ef14", {"rank": 2}),
    "arc_topk-ef21m": ("arc_topk", "ef21m", {"ratio": 0.25, "rank": 3}),
    "greedylore": ("greedylore", None, {"rank": 2, "refresh_period": 2}),
}


def _ddp_run(name: str, init_seed: int, *, named: bool = True, **overrides):
    """A 3-layer MLP in DDP (several gradient buckets) with the hook of ``RESUME_CONFIGS[name]``, SGD momentum."""
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel as DDP

    compressor, ef, params = RESUME_CONFIGS[name]
    torch.manual_seed(init_seed)
    model = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 5))
    ddp = DDP(model, bucket_cap_mb=0.002)
    kwargs = {"start_iter": 2, "seed": 3, **overrides}
    state = CompressionHookState(compressor, ef, compressor_params=params,
                                 named_parameters=model.named_parameters() if named else None, **kwargs)
    ddp.register_comm_hook(state, compression_hook)
    return model, ddp, state, torch.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)


def _ddp_train(ddp, opt, steps) -> None:
    for step in steps:
        gen = torch.Generator().manual_seed(step)
        x, y = torch.randn(16, 12, generator=gen), torch.randint(0, 5, (16,), generator=gen)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(ddp(x), y).backward()
        opt.step()


def _same_tree(a, b) -> bool:
    if torch.is_tensor(a):
        return torch.is_tensor(b) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same_tree(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same_tree(x, y) for x, y in zip(a, b))
    return a == b


@pytest.mark.parametrize("name", list(RESUME_CONFIGS))
def test_resuming_ddp_training_from_a_checkpoint_matches_uninterrupted_training(one_rank_group, name):
    """Train 6 steps (2 dense, 4 compressed), checkpoint model + SGD + hook state through torch.save (read back with
    weights_only), go on 7 steps; a fresh model (other init), DDP and hook state loaded from the checkpoint go on
    the same 7 steps: parameters, error-feedback and compressor state, iteration and bytes sent, bit for bit. The
    same fresh run without the hook state (warm-up again, no error-feedback memory) diverges."""
    model, ddp, state, opt = _ddp_run(name, 0)
    _ddp_train(ddp, opt, range(6))
    assert state.iteration == 6 and state.pipeline.error_feedback.state_dict()["memory"]
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "hook": state.state_dict()}, buf)
    collectives_at_checkpoint = state.n_collectives
    _ddp_train(ddp, opt, range(6, 13))

    def resumed(with_hook_state: bool):
        buf.seek(0)
        ckpt = torch.load(buf, weights_only=True)
        model2, ddp2, state2, opt2 = _ddp_run(name, 1)
        model2.load_state_dict(ckpt["model"])
        opt2.load_state_dict(ckpt["opt"])
        if with_hook_state:
            state2.load_state_dict(ckpt["hook"])
        _ddp_train(ddp2, opt2, range(6, 13))
        return model2, state2

    model2, state2 = resumed(True)
    for (n, a), b in zip(model.named_parameters(), model2.parameters()):
        assert torch.equal(a, b), n
    saved, saved2 = state.state_dict(), state2.state_dict()
    stats, stats2 = saved.pop("stats"), saved2.pop("stats")
    assert _same_tree(saved, saved2) and state2.iteration == 13
    # the statistics carry on; only the collective count may differ: a fresh DDP's first iteration runs before
    # its bucket rebuild, and batches the same tensors into other buckets
    assert stats2["total_payload_bytes"] == stats["total_payload_bytes"]
    assert stats2["n_collectives"] > collectives_at_checkpoint
    cold, _ = resumed(False)  # no hook state: warm-up again, no error feedback
    assert any(not torch.equal(a, b) for a, b in zip(model.parameters(), cold.parameters()))


def test_a_checkpoint_of_another_hook_configuration_is_refused(one_rank_group):
    model, ddp, state, opt = _ddp_run("topk-ef14", 0)
    _ddp_train(ddp, opt, range(4))
    saved = state.state_dict()
    refusals = {
        "compressor is 'topk'": _ddp_run("powersgd-ef14", 0)[2],
        "seed is 3": _ddp_run("topk-ef14", 0, seed=4)[2],
        "start_iter is 2": _ddp_run("topk-ef14", 0, start_iter=3)[2],
        "keyed by parameter name": _ddp_run("topk-ef14", 0, named=False)[2],
    }
    for message, other in refusals.items():
        before = other.state_dict()
        with pytest.raises(ValueError, match=message):
            other.load_state_dict(saved)
        assert _same_tree(other.state_dict(), before)  # a refused checkpoint changes nothing
    # without names, state is keyed by bucket position: fine inside the warm-up, refused after it
    model, ddp, unnamed, opt = _ddp_run("topk-ef14", 0, named=False)
    _ddp_train(ddp, opt, range(1))
    _ddp_run("topk-ef14", 0, named=False)[2].load_state_dict(unnamed.state_dict())
    _ddp_train(ddp, opt, range(1, 2))  # at start_iter itself the resumed run's first compressed step would key
    with pytest.raises(ValueError, match="needs named_parameters"):  # state by a fresh DDP's first buckets
        _ddp_run("topk-ef14", 0, named=False)[2].load_state_dict(unnamed.state_dict())


def test_a_checkpoint_of_other_compressor_parameters_is_refused(one_rank_group):
    """A PowerSGD rank-2 checkpoint loaded into a rank-3 state (or ARC of another ratio, EF21M of another eta) is
    refused up front, naming the parameter and both values, and changes nothing; the same state loads it."""
    params = _params()

    def state(compressor, ef, compressor_params, ef_params=None):
        return CompressionHookState(compressor, ef, compressor_params=compressor_params,
                                    error_feedback_params=ef_params, start_iter=0, seed=3,
                                    named_parameters=params.items())

    g = torch.randn(6, 8, generator=torch.Generator().manual_seed(1))
    for compressor, ef, saved_params, ef_params, other_params, other_ef, message in (
        ("powersgd", "ef14", {"rank": 2}, None, {"rank": 3}, None,
         r"powersgd\.rank is 2, this CompressionHookState's 3: build the CompressionHookState with the run's"),
        ("arc_topk", "ef21m", {"ratio": 0.5}, {"eta": 0.5}, {"ratio": 0.25}, {"eta": 0.5}, r"arc_topk\.ratio is 0\.5"),
        ("arc_topk", "ef21m", {"ratio": 0.5}, {"eta": 0.5}, {"ratio": 0.5}, {"eta": 0.9}, r"ef21m\.eta is 0\.5"),
    ):
        saving = state(compressor, ef, saved_params, ef_params)
        for _ in range(3):
            compression_hook(saving, FakeBucket(0, [params["w"]], [g.clone()], last=True)).wait()
        saved = saving.state_dict()
        other = state(compressor, ef, other_params, other_ef)
        before = other.state_dict()
        with pytest.raises(ValueError, match=message):
            other.load_state_dict(saved)
        assert _same_tree(other.state_dict(), before)
        same = state(compressor, ef, saved_params, ef_params)
        same.load_state_dict(saved)
        assert _same_tree(same.state_dict(), saved)


def test_a_state_built_from_instances_is_the_state_built_from_names(one_rank_group):
    """A `Compressor` instance (with an error-feedback name and its parameters) gives the same pipeline as the
    registry names: seed, start_iter, dense parameters and feedback parameters all reach it."""
    params = _params()
    common = {"error_feedback_params": {"eta": 0.5}, "start_iter": 3, "seed": 7,
              "named_parameters": params.items(), "dense_parameters": ["b"]}
    by_name = CompressionHookState("arc_topk", "ef21m", compressor_params={"ratio": 0.5, "rank": 2}, **common)
    by_instance = CompressionHookState(make_compressor("arc_topk", ratio=0.5, rank=2), "ef21m", **common)
    g = [torch.randn(6, 8, generator=torch.Generator().manual_seed(1)), torch.randn(6)]
    for state in (by_name, by_instance):
        for _ in range(5):
            compression_hook(state, FakeBucket(0, [params["w"], params["b"]], [x.clone() for x in g], last=True)).wait()
    assert by_instance.seed == by_name.seed == 7
    assert _same_tree(by_instance.state_dict(), by_name.state_dict())
    # iterations 3 and 4 after the warm-up: EF21M's dense first step, then one compressed call; b always dense
    assert by_instance.pipeline.compressor.calls_made("w") == 1 and "b" not in by_instance.dense_fallbacks()


def test_communication_statistics_add_up_and_survive_a_checkpoint_with_or_without_them():
    state = CompressionHookState("topk", "ef14", start_iter=0, named_parameters=[])
    for _ in range(2):
        state._record([CollectiveCall("all_reduce", 1000, 4), CollectiveCall("all_gather", 10, 4)])
    assert (state.total_payload_bytes, state.total_ring_sent_bytes, state.n_collectives) == (2020, 2 * (1500 + 30), 4)
    saved = state.state_dict()
    restored = CompressionHookState("topk", "ef14", start_iter=0, named_parameters=[])
    restored.load_state_dict(saved)
    assert restored.state_dict()["stats"] == saved["stats"]
    older = {k: v for k, v in saved.items() if k != "stats"}  # checkpoints from before the statistics were kept
    restored.load_state_dict(older)
    assert restored.state_dict()["stats"] == saved["stats"]


def test_tensors_at_the_same_position_of_two_buckets_keep_their_own_memory(one_rank_group):
    """Without ``named_parameters`` the state is keyed by bucket index and position: tensors at the same
    position of two buckets keep separate error-feedback memories (a mutation audit found this unchecked)."""
    state = CompressionHookState("topk", "ef14", compressor_params={"ratio": 0.25}, start_iter=2)
    w, b = torch.nn.Parameter(torch.zeros(8)), torch.nn.Parameter(torch.zeros(4))
    gw, gb = torch.arange(1.0, 9.0), torch.tensor([4.0, 3.0, 2.0, 1.0])
    for _ in range(3):
        outs = [compression_hook(state, FakeBucket(0, [w], [gw.clone()], last=False)).wait().clone(),
                compression_hook(state, FakeBucket(1, [b], [gb.clone()], last=True)).wait().clone()]
    memory = state.pipeline.error_feedback
    # iteration 2, the first compressed one: one rank keeps its 2 of 8 and 1 of 4 largest entries
    assert memory.memory("bucket0.0")["error"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0, 0.0]
    assert memory.memory("bucket1.0")["error"].tolist() == [0.0, 3.0, 2.0, 1.0]
    assert outs[0].tolist() == [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 7.0, 8.0]
    assert outs[1].tolist() == [4.0, 0.0, 0.0, 0.0]
