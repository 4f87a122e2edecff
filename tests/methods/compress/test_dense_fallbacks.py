"""Dense fallbacks: compressors compress by default, every fallback is counted per tensor with its reason."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from methods.compress import COMPRESSORS, make_compressor
from methods.compress.base import keep_count
from methods.compress.simulated import SimulatedWorkers, compress_once

# the fig3 logistic task of the ARC paper: x in R^40 viewed as 10 rows of 4, r = 4, ratio 0.2 (4 workers)
FIG3_SHAPE, FIG3_PARAMS, FIG3_WORKERS = (10, 4), {"ratio": 0.2, "rank": 4}, 4


def _grads(step: int, n_workers: int, shapes: dict[str, tuple[int, ...]]) -> list[dict[str, torch.Tensor]]:
    """Every worker's random float64 gradients for ``shapes`` at ``step``."""
    gen = torch.Generator().manual_seed(1000 + step)
    return [{k: torch.randn(s, generator=gen, dtype=torch.float64) for k, s in shapes.items()} for _ in range(n_workers)]


def _run(workers: SimulatedWorkers, shapes: dict[str, tuple[int, ...]], steps: range) -> list[dict[str, float]]:
    return [workers.step(_grads(t, workers.n_workers, shapes), t)[1] for t in steps]


def test_min_compression_rate_defaults_to_always_compress_but_powersgd_never_exceeds_dense():
    having = {}
    for name in COMPRESSORS:
        fields = {f.name: f.default for f in dataclasses.fields(COMPRESSORS.get(name))}
        if "min_compression_rate" in fields:
            having[name] = fields["min_compression_rate"]
    assert having == {"arc_topk": 0.0, "greedylore": 0.0, "powersgd": 1.0}
    with pytest.raises(ValueError, match="arc_topk.min_compression_rate"):
        make_compressor("arc_topk", min_compression_rate=-1)
    with pytest.raises(ValueError, match="powersgd.min_compression_rate"):
        make_compressor("powersgd", min_compression_rate=-0.5)


def test_arc_on_the_fig3_shape_compresses_by_default():
    """48 values (sketch 10 x 4 + 2 rows of 4) >= 40: the old default sent this tensor dense at every step."""
    workers = SimulatedWorkers.build(FIG3_WORKERS, "arc_topk", "ef21m", compressor_params=FIG3_PARAMS,
                                     error_feedback_params={"eta": 0.9, "dense_init": False})
    stats = _run(workers, {"x": FIG3_SHAPE}, range(5))
    assert workers.dense_fallbacks() == {"x": {"calls": 5, "dense": 0, "reason": None}}
    n, m = FIG3_SHAPE
    # sketch in fp32 (n r values), rows in the gradient dtype (float64 here)
    assert {s["payload_bytes_per_worker"] for s in stats} == {4 * n * 4 + 8 * keep_count(0.2, n) * m}
    # one call on its own: the aggregate is the mean on 2 of the 10 rows, not the dense mean
    xs = _grads(0, FIG3_WORKERS, {"x": FIG3_SHAPE})
    res, coll = compress_once([make_compressor("arc_topk", **FIG3_PARAMS) for _ in xs], [g["x"] for g in xs])
    mean = torch.stack([g["x"] for g in xs]).mean(0)
    assert not torch.allclose(res[0].aggregate, mean)
    kept = res[0].aggregate.abs().sum(dim=1) > 0
    assert int(kept.sum()) == keep_count(0.2, n)
    torch.testing.assert_close(res[0].aggregate[kept], mean[kept], rtol=1e-12, atol=1e-12)
    assert [c.op for c in coll.calls] == ["all_reduce", "all_reduce"]


def test_opting_into_the_fallback_sends_dense_and_counts_it():
    params = {**FIG3_PARAMS, "min_compression_rate": 1.0}
    workers = SimulatedWorkers.build(FIG3_WORKERS, "arc_topk", "ef14", compressor_params=params)
    stats = _run(workers, {"x": FIG3_SHAPE}, range(3))
    assert workers.dense_fallbacks() == {"x": {"calls": 3, "dense": 3, "reason": "unprofitable"}}
    assert {s["payload_bytes_per_worker"] for s in stats} == {8 * 40} and {s["n_collectives"] for s in stats} == {1}
    xs = _grads(0, FIG3_WORKERS, {"x": FIG3_SHAPE})
    res, _ = compress_once([make_compressor("arc_topk", **params) for _ in xs], [g["x"] for g in xs])
    torch.testing.assert_close(res[0].aggregate, torch.stack([g["x"] for g in xs]).mean(0), rtol=0, atol=0)


def test_reasons_vector_empty_and_a_compressed_tensor():
    shapes = {"w": (12, 20), "bias": (12,), "empty": (0, 5), "small": (4, 4)}
    params = {"rank": 2, "min_compression_rate": 2.0}
    workers = SimulatedWorkers.build(2, "powersgd", "ef14", compressor_params=params)
    _run(workers, shapes, range(2))
    assert workers.dense_fallbacks() == {
        "w": {"calls": 2, "dense": 0, "reason": None},
        "bias": {"calls": 2, "dense": 2, "reason": "vector"},
        "empty": {"calls": 2, "dense": 2, "reason": "empty"},
        "small": {"calls": 2, "dense": 2, "reason": "unprofitable"},  # 2 * 2 * (4 + 4) >= 16
    }
    # break-even counts as unprofitable, as in torch's PowerSGD hook: 2 * (4 + 4) * 1.0 == 16
    assert make_compressor("powersgd", rank=2, min_compression_rate=1.0).dense_reason((4, 4)) == "unprofitable"
    # element-wise compressors compress vectors; every worker counts the same
    topk = SimulatedWorkers.build(3, "topk", "ef14", compressor_params={"ratio": 0.5})
    _run(topk, {"bias": (12,)}, range(2))
    assert topk.dense_fallbacks() == {"bias": {"calls": 2, "dense": 0, "reason": None}}
    assert all(p.compressor.dense_fallbacks() == topk.dense_fallbacks() for p in topk.pipelines)


def test_warm_up_and_ef21_initialisation_are_not_fallbacks():
    workers = SimulatedWorkers.build(2, "arc_topk", "ef21", compressor_params={"ratio": 0.5, "rank": 2}, start_iter=2)
    shapes = {"w": (6, 5), "b": (6,)}
    _run(workers, shapes, range(2))  # dense warm-up: the compressor is not called
    assert workers.dense_fallbacks() == {}
    _run(workers, shapes, range(2, 3))  # EF21's dense initialisation: not a fallback either
    assert workers.dense_fallbacks() == {}
    _run(workers, shapes, range(3, 5))
    assert workers.dense_fallbacks() == {"w": {"calls": 2, "dense": 0, "reason": None},
                                         "b": {"calls": 2, "dense": 2, "reason": "vector"}}


def test_state_dict_round_trip_keeps_the_counts():
    def build() -> SimulatedWorkers:
        params = {**FIG3_PARAMS, "min_compression_rate": 1.0}
        return SimulatedWorkers.build(2, "arc_topk", "ef14", compressor_params=params)

    shapes = {"x": FIG3_SHAPE, "big": (40, 30), "bias": (7,)}
    a = build()
    _run(a, shapes, range(3))
    b = build()
    b.load_state_dict(a.state_dict())
    assert b.dense_fallbacks() == a.dense_fallbacks() == {
        "x": {"calls": 3, "dense": 3, "reason": "unprofitable"},
        "big": {"calls": 3, "dense": 0, "reason": None},
        "bias": {"calls": 3, "dense": 3, "reason": "vector"},
    }
    _run(b, shapes, range(3, 4))
    assert b.dense_fallbacks()["x"] == {"calls": 4, "dense": 4, "reason": "unprofitable"}
    assert a.dense_fallbacks()["x"]["calls"] == 3  # the copy is independent


def test_exact_sketch_is_compressed_and_costs_more_than_dense():
    """V = I sends the whole mean as its sketch plus the K rows: a reference, never a saving."""
    n, m, ratio, n_workers = 20, 10, 0.2, 3
    arc = make_compressor("arc_topk", ratio=ratio, exact_sketch=True)
    assert not arc.uses_dense((n, m))
    K = keep_count(ratio, n)
    plan = arc.comm_plan((n, m), n_workers)
    assert [c.size_bytes for c in plan] == [4 * n * m, 4 * K * m] and sum(c.size_bytes for c in plan) > 4 * n * m
    gen = torch.Generator().manual_seed(5)
    row_scale = torch.arange(1, n + 1, dtype=torch.float64).unsqueeze(1)
    xs = [torch.randn(n, m, generator=gen, dtype=torch.float64) * row_scale for _ in range(n_workers)]
    comps = [make_compressor("arc_topk", ratio=ratio, exact_sketch=True) for _ in xs]
    res, coll = compress_once(comps, xs)
    mean = torch.stack(xs).mean(0)
    top = torch.sort(torch.sort((mean**2).sum(1), descending=True, stable=True).indices[:K]).values
    expected = torch.zeros_like(mean)
    expected[top] = mean[top]
    torch.testing.assert_close(res[0].aggregate, expected, rtol=1e-12, atol=1e-12)
    assert [c.size_bytes for c in coll.calls] == [8 * n * m, 8 * K * m]
    assert comps[0].dense_fallbacks() == {"x": {"calls": 1, "dense": 0, "reason": None}}


@pytest.mark.parametrize(("name", "params", "shape"), [
    ("arc_topk", {"ratio": 0.25, "rank": 2}, (12, 20)),
    ("arc_topk", {"ratio": 0.25, "rank": 2}, (6, 2, 3, 3)),
    ("arc_topk", {"ratio": 0.25, "exact_sketch": True}, (20, 12)),
    ("arc_topk", {"ratio": 0.25, "vectors": "topk_of_mean"}, (30,)),
    ("powersgd", {"rank": 2}, (12, 20)),
    ("powersgd", {"rank": 3}, (20, 5)),
    ("greedylore", {"rank": 2, "refresh_period": 4}, (12, 20)),
    ("greedylore", {"rank": 2, "refresh_period": 4}, (20, 12)),
    ("greedylore", {"rank": 2, "refresh_period": 4, "selection": "random"}, (12, 20)),
    ("greedylore", {"rank": 2, "refresh_period": 4, "selection": "lazy"}, (12, 20)),
    ("greedylore", {"rank": 2, "refresh_period": 4, "exact_scores": True}, (12, 20)),
])
def test_unprofitable_means_what_a_steady_call_puts_on_the_wire_times_the_rate_reaches_the_dense_size(
        name, params, shape):
    """The fallback's break-even rate is the dense size over the elements a compressed call really sends (every
    phase, counted on the collective; GreedyLore's second call, after its refresh)."""
    xs = [torch.randn(shape, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    comps = [make_compressor(name, **params) for _ in xs]
    compress_once(comps, xs, step=0)
    _, coll = compress_once(comps, xs, step=1)
    sent = sum(c.size_bytes for c in coll.calls) // 4  # float32 gradients and sketches
    break_even = torch.tensor(shape).prod().item() / sent
    assert make_compressor(name, **params, min_compression_rate=break_even * (1 + 1e-9)).dense_reason(shape) == \
        "unprofitable"
    assert make_compressor(name, **params, min_compression_rate=break_even * (1 - 1e-9)).dense_reason(shape) is None
