"""Contract test run over every registered compressor (STYLE.md: one table, one contract test)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from methods.compress import (
    COMPRESSORS,
    CompressContext,
    CompressionPipeline,
    SimulatedCollective,
    aggregate,
    make_compressor,
    make_error_feedback,
)
from methods.compress.simulated import compress_once

# name, params, is mean_i(local_i) == aggregate (PowerSGD's local is the aggregate itself)
CASES = [
    ("none", {}),
    ("topk", {"ratio": 0.25}),
    ("topk", {"ratio": 0.25, "rows": True}),
    ("randk", {"ratio": 0.25}),
    ("randk", {"ratio": 0.25, "scaled": True, "rows": True}),
    ("arc_topk", {"ratio": 0.25, "rank": 2}),
    ("arc_topk", {"ratio": 0.25, "exact_sketch": True, "min_compression_rate": 0.0}),
    ("powersgd", {"rank": 2}),
    ("powersgd", {"rank": 2, "error_reference": "local"}),
    ("greedylore", {"rank": 2, "refresh_period": 3}),
    ("greedylore", {"rank": 2, "refresh_period": 3, "exact_scores": True, "min_compression_rate": 0.0}),
    ("greedylore", {"rank": 2, "refresh_period": 3, "selection": "random"}),
    ("greedylore", {"rank": 2, "refresh_period": 3, "selection": "lazy"}),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in p.items())}" for n, p in CASES]
SHAPES = [(12, 20), (20, 12), (6, 2, 3, 3), (7,), (0, 5), (1, 1)]


def test_registry_lists_every_compressor_of_the_brief():
    assert set(COMPRESSORS) == {"none", "topk", "randk", "arc_topk", "powersgd", "greedylore"}


def test_unknown_names_and_parameters_are_clear_errors():
    with pytest.raises(ValueError, match="unknown compressor 'nope'; known: arc_topk"):
        make_compressor("nope")
    with pytest.raises(ValueError, match="known parameters: .*ratio"):
        make_compressor("topk", rato=0.1)
    with pytest.raises(ValueError, match="topk.ratio"):
        make_compressor("topk", ratio=1.5)
    with pytest.raises(ValueError, match="arc_topk.rank"):
        make_compressor("arc_topk", rank=0)


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_shapes_agreement_linearity_and_zero_input(name, params, shape):
    n_workers = 3
    gen = torch.Generator().manual_seed(1)
    xs = [torch.randn(shape, generator=gen, dtype=torch.float64) for _ in range(n_workers)]
    comps = [make_compressor(name, **params) for _ in range(n_workers)]
    for step in range(4):  # several steps: GreedyLore refreshes at 0 and 3, PowerSGD warm-starts
        results, _ = compress_once(comps, xs, step=step)
        for r in results:
            assert r.aggregate.shape == shape and r.local.shape == shape
            assert r.aggregate.dtype == torch.float64
            assert torch.equal(r.aggregate, results[0].aggregate)  # every worker decodes the same thing
        if not (name == "powersgd" and params.get("error_reference", "aggregate") == "aggregate"):
            mean_local = torch.stack([r.local for r in results]).mean(0)
            torch.testing.assert_close(mean_local, results[0].aggregate, rtol=1e-12, atol=1e-12)
    zeros = [torch.zeros(shape, dtype=torch.float64) for _ in range(n_workers)]
    fresh = [make_compressor(name, **params) for _ in range(n_workers)]
    for step in range(2):
        results, _ = compress_once(fresh, zeros, step=step)
        assert all(torch.isfinite(r.aggregate).all() and not r.aggregate.any() for r in results)


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_comm_plan_equals_what_goes_on_the_wire(name, params):
    """Per tensor and for a bucket of tensors batched per phase (an empty tensor among them, or alone), over steps
    incl. refreshes and EF21 init, in single and double precision."""
    n_workers = 2
    buckets = ({"a": (12, 20), "b": (7,), "c": (20, 12), "d": (4, 2, 3, 3), "e": (0, 5)}, {"e": (0, 5)}, {})
    for ef, dtype in (("ef14", torch.float32), ("ef21", torch.float64)):
        for shapes in buckets:
            pipes = [CompressionPipeline(make_compressor(name, **params), make_error_feedback(ef), seed=3,
                                         start_iter=2) for _ in range(n_workers)]
            coll = SimulatedCollective(n_workers)
            gen = torch.Generator().manual_seed(0)
            for step in range(8):
                plan = pipes[0].comm_plan(shapes, n_workers, step, dtype)
                before = len(coll.calls)
                grads = [{k: torch.randn(s, generator=gen, dtype=dtype) for k, s in shapes.items()}
                         for _ in range(n_workers)]
                aggregate(pipes, grads, step, coll)
                assert coll.calls[before:] == plan, (ef, step, shapes)
                assert plan or not any(math.prod(s) for s in shapes.values())  # nothing to send: no collective
    # per-tensor plan: size_bytes sums the request sizes of a single-tensor session
    comps = [make_compressor(name, **params) for _ in range(n_workers)]
    x = [torch.randn(12, 20) for _ in range(n_workers)]
    for step in range(4):
        plan = comps[0].comm_plan((12, 20), n_workers, call_index=comps[0].calls_made("x"))
        _, coll = compress_once(comps, x, step=step)
        assert [c.size_bytes for c in coll.calls] == [c.size_bytes for c in plan]
        assert [c.op for c in coll.calls] == [c.op for c in plan]


@pytest.mark.parametrize(("name", "params"), CASES, ids=IDS)
def test_state_dict_round_trip_reproduces_the_next_call(name, params):
    gen = torch.Generator().manual_seed(5)
    xs = [[torch.randn(10, 14, generator=gen) for _ in range(2)] for _ in range(4)]
    comps = [make_compressor(name, **params) for _ in range(2)]
    for step in range(2):
        compress_once(comps, xs[step], step=step)
    saved = [c.state_dict() for c in comps]
    expected = [compress_once(comps, xs[s], step=s)[0][0].aggregate for s in (2, 3)]
    restored = [make_compressor(name, **params) for _ in range(2)]
    for c, s in zip(restored, saved):
        c.load_state_dict(s)
    got = [compress_once(restored, xs[s], step=s)[0][0].aggregate for s in (2, 3)]
    for e, g in zip(expected, got):
        assert torch.equal(e, g)
    other = "topk" if name != "topk" else "randk"
    with pytest.raises(ValueError, match=f"state_dict is for compressor '{name}', not '{other}'"):
        make_compressor(other).load_state_dict(saved[0])


@settings(max_examples=30, deadline=None)
@given(exponent=st.integers(-8, 8), seed=st.integers(0, 10_000))
def test_positive_scaling_commutes_for_deterministic_selections(exponent, seed):
    """C(a x) == a C(x) for a > 0: Top-K, ARC (either sketch) and GreedyLore with exact scores.

    a = 2**k keeps every product exact, so near-ties cannot flip under rounding.
    """
    scale = 2.0**exponent
    gen = torch.Generator().manual_seed(seed)
    xs = [torch.randn(9, 11, generator=gen, dtype=torch.float64) for _ in range(2)]
    for name, params in [
        ("topk", {"ratio": 0.3}),
        ("arc_topk", {"ratio": 0.3, "rank": 3}),
        ("greedylore", {"rank": 2, "refresh_period": 100, "exact_scores": True, "min_compression_rate": 0.0}),
    ]:
        plain = [make_compressor(name, **params) for _ in range(2)]
        scaled = [make_compressor(name, **params) for _ in range(2)]
        for step in range(2):
            a = compress_once(plain, xs, step=step)[0][0].aggregate
            b = compress_once(scaled, [scale * x for x in xs], step=step)[0][0].aggregate
            torch.testing.assert_close(b, scale * a, rtol=1e-12, atol=0.0)


def test_keep_count_rule():
    from methods.compress.base import keep_count, matrix_shape

    assert keep_count(0.2, 768) == 153 and keep_count(0.2, 3) == 1 and keep_count(1.0, 7) == 7
    assert keep_count(0.2, 0) == 0
    assert matrix_shape((8, 3, 3, 3)) == (8, 27) and matrix_shape((5,)) == (5, 1)
    assert math.prod(matrix_shape((2, 3, 4))) == 24


def test_shared_random_streams_are_one_per_seed_step_tensor_and_purpose():
    """Every worker draws the same numbers from the same (seed, step, name, purpose) and different ones when any of
    them differs, 64-bit seeds included (their high and low words both count)."""
    def draw(name="w", step=3, seed=7, purpose="p"):
        return torch.randint(0, 2**62, (4,), generator=CompressContext(name, step, seed, 2).generator(purpose)).tolist()

    variants = [draw(), draw(name="v"), draw(step=4), draw(seed=8), draw(purpose="q"), draw(seed=7 + 2**28),
                draw(seed=7 + 2**32), draw(seed=2**40), draw(seed=2**41), draw(seed=2**63 - 1)]
    assert draw() == variants[0]
    assert len({tuple(v) for v in variants}) == len(variants)
