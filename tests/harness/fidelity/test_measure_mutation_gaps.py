"""Gaps in the tests of `harness.fidelity.measure` found by a mutation audit.

Closed here (in this process, with torch.distributed's calls recorded instead of made; nothing is sent):
- `round_trips_for`: 1 MiB / size, between 1 and 16 (hand values around both bounds).
- `pingpong_op`: the even rank sends then receives, the odd one receives then sends, ``round_trips_for`` times,
  a buffer of ``size / 4`` floats (as the all-reduce); the odd one out of an odd world size makes no call.
- `_interleaved`: every op warmed up ``warmup`` times, then repeat r of every op before repeat r + 1, a barrier
  before each timed call; `measure_sized` halves the ping-pong time per round trip and leaves all-reduce alone.
- `main`: refuses size 0, no repeats and a negative warm-up (no repeats failed on the median of nothing); pins
  torch to one thread; hands width/depth/batch/warmup/repeats through; counts the MLP's parameters as width and
  depth say; records its own rank; the median (not mean) per rank; the gloo group gets the rendezvous address,
  rank, world size and ``--timeout-s``; dp_step is the distributed step.
- `build_mlp` / `mlp_param_count`: Linear+ReLU blocks ending in a Linear, seeded, as many parameters as counted.
- `_dp_step_fn`: each step is plain SGD at learning rate 1e-3 (against autograd's gradient at the starting
  weights), two ranks of equal gradients step as one (the sum is divided by the world size); every rank starts
  from the same weights and draws its own batch; `measure_dp_step` times ``repeats`` steps.
- `_parse_args` defaults.
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta

import pytest
import torch
import torch.distributed as dist

import harness.fidelity.measure as measure
from harness.fidelity.measure import (
    _interleaved,
    _parse_args,
    build_mlp,
    main,
    measure_dp_step,
    measure_sized,
    mlp_param_count,
    pingpong_op,
    round_trips_for,
)

REAL_BUILD_MLP = measure.build_mlp
REAL_MSE_LOSS = torch.nn.functional.mse_loss


@pytest.fixture
def keep_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(("size", "trips"), [(0, 16), (4, 16), (65536, 16), (65540, 15), (100_000, 10),
                                             (131072, 8), (1 << 20, 1), ((1 << 20) + 4, 1), (16 << 20, 1)])
def test_round_trips_per_repeat(size, trips):
    assert round_trips_for(size) == trips


@pytest.fixture
def fake_dist(monkeypatch):
    """Records send/recv/barrier/all_reduce calls; ``fake_dist.rank`` / ``.world`` say who we are."""

    class Fake:
        rank, world = 0, 2
        calls: list = []

    def record(name):
        return lambda tensor=None, peer=None, *a, **k: Fake.calls.append((name, peer, None if tensor is None
                                                                         else tensor.numel()))

    monkeypatch.setattr(dist, "get_rank", lambda: Fake.rank)
    monkeypatch.setattr(dist, "get_world_size", lambda: Fake.world)
    monkeypatch.setattr(dist, "send", record("send"))
    monkeypatch.setattr(dist, "recv", record("recv"))
    monkeypatch.setattr(dist, "barrier", lambda *a, **k: Fake.calls.append(("barrier", None, None)))
    monkeypatch.setattr(dist, "all_reduce", lambda tensor, *a, **k: Fake.calls.append(("all_reduce", None,
                                                                                        tensor.numel())))
    Fake.calls = []
    return Fake


def test_even_rank_sends_first_and_odd_rank_receives_first(fake_dist):
    pingpong_op(131072)()  # 8 round trips of 32,768 floats with rank 1
    assert fake_dist.calls == [("send", 1, 32768), ("recv", 1, 32768)] * 8
    fake_dist.calls.clear()
    fake_dist.rank = 1
    pingpong_op(131072)()
    assert fake_dist.calls == [("recv", 0, 32768), ("send", 0, 32768)] * 8


def test_the_odd_rank_out_makes_no_call(fake_dist):
    fake_dist.rank, fake_dist.world = 2, 3
    pingpong_op(4096)()
    assert fake_dist.calls == []
    fake_dist.rank, fake_dist.world = 3, 4
    pingpong_op(1 << 20)()
    assert fake_dist.calls == [("recv", 2, 262144), ("send", 2, 262144)]


def test_allreduce_reduces_a_buffer_of_the_size_in_floats(fake_dist):
    measure.allreduce_op(4096)()
    assert fake_dist.calls == [("all_reduce", None, 1024)]


def test_interleaved_warms_up_then_interleaves_repeats_with_a_barrier_before_each(fake_dist):
    def make(name):
        return lambda: fake_dist.calls.append((name, None, None))

    times = _interleaved(make, ["a", "b"], warmup=2, repeats=2)
    assert [name for name, _, _ in fake_dist.calls] == ["a", "a", "b", "b"] + ["barrier", "a", "barrier", "b"] * 2
    assert [len(t) for t in times] == [2, 2] and all(t >= 0 for row in times for t in row)


def test_measure_sized_reports_one_way_pingpong_and_whole_allreduce(monkeypatch):
    monkeypatch.setattr(measure, "pingpong_op", lambda size: ("pp", size))
    monkeypatch.setattr(measure, "allreduce_op", lambda size: ("ar", size))
    seen = []

    def interleaved(make_op, specs, warmup, repeats):
        seen.append(([make_op(spec) for spec in specs], warmup, repeats))
        return [[1600, 3203], [160, 321], [1600, 3203], [160, 321]]

    monkeypatch.setattr(measure, "_interleaved", interleaved)
    rows = measure_sized("pingpong_allreduce", [131072, 1 << 20], warmup=1, repeats=2)
    assert seen == [([("pp", 131072), ("pp", 1 << 20), ("ar", 131072), ("ar", 1 << 20)], 1, 2)]
    # 131072 B: 8 round trips, so one way is time / 16; 1 MiB: one round trip, time / 2
    assert rows == [
        {"op": "pingpong", "size_bytes": 131072, "times_ns": [100, 200]},
        {"op": "pingpong", "size_bytes": 1 << 20, "times_ns": [80, 160]},
        {"op": "allreduce", "size_bytes": 131072, "times_ns": [1600, 3203]},
        {"op": "allreduce", "size_bytes": 1 << 20, "times_ns": [160, 321]},
    ]


@pytest.mark.parametrize("args", [["--repeats", "0"], ["--warmup", "-1"]])
def test_main_refuses_no_repeats_or_negative_warm_up(tmp_path, args):
    """A run with no repeats failed after measuring, on the median of nothing."""
    with pytest.raises(SystemExit, match=r"--repeats / --warmup: expected at least 1 / 0"):
        main(["compute", "--out", str(tmp_path), *args])


@pytest.mark.parametrize("size", ["0", "-8", "6"])
def test_main_refuses_sizes_that_are_not_positive_multiples_of_four(tmp_path, size):
    with pytest.raises(SystemExit, match="positive multiples of 4"):
        main(["allreduce", "--out", str(tmp_path), "--sizes-bytes", "8", size])


def test_compute_records_its_rank_the_parameters_and_the_median(tmp_path, monkeypatch, keep_threads):
    seen = []
    monkeypatch.setattr(measure, "measure_dp_step", lambda *args: seen.append(args) or [1, 2, 9])
    monkeypatch.setenv("RANK", "1")
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    torch.set_num_threads(2)
    assert main(["compute", "--out", str(tmp_path), "--width", "4", "--depth", "2", "--batch", "3",
                 "--warmup", "0", "--repeats", "5"]) == 0
    assert torch.get_num_threads() == 1
    assert seen == [(4, 2, 3, 0, 5, False)]
    record = json.loads((tmp_path / "rank1.json").read_text())
    # 2 layers of a 4x4 weight and 4 biases: 40 parameters; the median of 1, 2, 9 is 2 (their mean is 4)
    assert record == {"kind": "compute", "rank": 1, "world_size": 1,
                      "rows": [{"param_count": 40, "times_ns": [1, 2, 9], "median_ns_this_rank": 2}]}


def test_distributed_kinds_join_the_gloo_group_with_the_given_timeout(tmp_path, monkeypatch, keep_threads, fake_dist):
    joined = []
    monkeypatch.setattr(dist, "init_process_group", lambda backend, **kwargs: joined.append((backend, kwargs)))
    monkeypatch.setattr(dist, "destroy_process_group", lambda: fake_dist.calls.append(("destroy", None, None)))
    steps = []
    monkeypatch.setattr(measure, "measure_dp_step", lambda *args: steps.append(args) or [5, 3])
    monkeypatch.setattr(measure, "measure_sized", lambda *args: steps.append(args) or [{"times_ns": [7]}])
    env = {"MASTER_ADDR": "10.231.0.1", "MASTER_PORT": "29511", "RANK": "0", "WORLD_SIZE": "2"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    main(["dp_step", "--out", str(tmp_path), "--width", "3", "--depth", "1", "--batch", "2", "--warmup", "1",
          "--repeats", "2", "--timeout-s", "7"])
    assert joined == [("gloo", {"init_method": "tcp://10.231.0.1:29511", "rank": 0, "world_size": 2,
                                "timeout": timedelta(seconds=7)})]
    assert steps == [(3, 1, 2, 1, 2, True)]
    assert [name for name, _, _ in fake_dist.calls] == ["barrier", "destroy"]
    record = json.loads((tmp_path / "rank0.json").read_text())
    assert (record["kind"], record["rank"], record["world_size"]) == ("dp_step", 0, 2)
    assert record["rows"] == [{"param_count": 12, "times_ns": [5, 3], "median_ns_this_rank": 4}]
    main(["pingpong", "--out", str(tmp_path), "--sizes-bytes", "8", "16", "--warmup", "0", "--repeats", "1"])
    assert steps[1] == ("pingpong", [8, 16], 0, 1)


def test_mlp_is_seeded_linear_relu_blocks_ending_in_a_linear_with_the_counted_parameters():
    model = build_mlp(3, 2, seed=5)
    assert [type(layer).__name__ for layer in model] == ["Linear", "ReLU", "Linear"]
    assert sum(p.numel() for p in model.parameters()) == 24 == mlp_param_count(3, 2)  # 2 * (3 * 3 + 3)
    assert all(torch.count_nonzero(layer.bias) == 0 for layer in model[::2])
    again, other = build_mlp(3, 2, seed=5), build_mlp(3, 2, seed=6)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters()))
    assert not torch.equal(model[0].weight, other[0].weight)


def _spied_step(monkeypatch, distributed: bool):
    """One step closure with its model (before the step) and the batch it saw, recorded on the way."""
    built, seen = [], {}

    def build(width, depth, seed):
        model = REAL_BUILD_MLP(width, depth, seed)
        model.register_forward_pre_hook(lambda _m, args: seen.__setitem__("inputs", args[0].clone()))
        built.append((model, copy.deepcopy(model)))
        return model

    def mse(output, target):
        seen["targets"] = target.clone()
        return REAL_MSE_LOSS(output, target)

    monkeypatch.setattr(measure, "build_mlp", build)
    monkeypatch.setattr(torch.nn.functional, "mse_loss", mse)
    step = measure._dp_step_fn(6, 2, 4, distributed)
    return step, built[0], seen


def _assert_one_sgd_step(model, start, seen) -> None:
    """``model`` is ``start`` moved by one SGD step (lr 1e-3) on the recorded batch; ``start`` gets the grads."""
    REAL_MSE_LOSS(start(seen["inputs"]), seen["targets"]).backward()
    for got, before in zip(model.parameters(), start.parameters()):
        torch.testing.assert_close(got.detach(), before.detach() - 1e-3 * before.grad)


def test_each_step_is_plain_sgd_at_learning_rate_one_thousandth(monkeypatch):
    step, (model, initial), seen = _spied_step(monkeypatch, distributed=False)
    step()
    assert not torch.equal(model[0].weight, initial[0].weight)  # the step moved the weights
    _assert_one_sgd_step(model, initial, seen)
    after_one = copy.deepcopy(model)
    for p in after_one.parameters():
        p.grad = None
    step()  # the second step's gradient is its own, not added to the first one's
    _assert_one_sgd_step(model, after_one, seen)


def test_two_ranks_with_the_same_gradient_step_as_one_rank(monkeypatch, fake_dist):
    # the all-reduce sums the two ranks' equal gradients; the step must divide by the world size of 2
    monkeypatch.setattr(dist, "all_reduce", lambda tensor: tensor.mul_(2))
    step, (model, initial), seen = _spied_step(monkeypatch, distributed=True)
    step()
    _assert_one_sgd_step(model, initial, seen)


def test_ranks_start_from_the_same_weights_and_draw_their_own_batch(monkeypatch, fake_dist):
    batches, weights = [], []
    for rank in ("0", "1"):
        monkeypatch.setenv("RANK", rank)
        step, (_model, initial), seen = _spied_step(monkeypatch, distributed=True)
        step()
        batches.append(seen["inputs"])
        weights.append(initial[0].weight)
    assert torch.equal(weights[0], weights[1])
    assert not torch.equal(batches[0], batches[1])
    assert ("all_reduce", None, 2 * (6 * 6 + 6)) in fake_dist.calls  # all gradients in one buffer


def test_measure_dp_step_times_each_repeat(fake_dist):
    times = measure_dp_step(4, 1, 2, warmup=1, repeats=3, distributed=True)
    assert len(times) == 3 and all(t > 0 for t in times)
    assert [name for name, _, _ in fake_dist.calls].count("barrier") == 3


def test_parse_args_defaults(tmp_path):
    args = _parse_args(["pingpong", "--out", str(tmp_path)])
    assert (args.sizes_bytes, args.warmup, args.repeats, args.timeout_s) == ([], 2, 10, 120.0)
    assert (args.width, args.depth, args.batch) == (1024, 4, 32)
