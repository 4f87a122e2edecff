"""harness/sim/collectives.py: alpha-beta closed forms (property tests) and bytes on the wire."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.config.blocks import LinkSpec
from harness.sim.collectives import (
    SUPPORTED_ALGORITHMS,
    LinkCost,
    bytes_on_wire_per_rank,
    collective_ns,
    ring_all_gather_ns,
    ring_all_reduce_ns,
    ring_reduce_scatter_ns,
    tree_all_reduce_ns,
    tree_height,
)
from harness.sim.units import transfer_ns

OP_ALGORITHMS = [(op, alg) for op, algs in SUPPORTED_ALGORITHMS.items() for alg in algs]
sizes = st.integers(0, 10**11)
# Latencies of at least 16 ns: above the rounding slack of up to 16 ranks (see the module docstring).
real_links = st.builds(LinkCost, alpha_ns=st.integers(16, 100_000), bytes_per_ns=st.floats(0.01, 2_000))
any_links = st.builds(LinkCost, alpha_ns=st.integers(0, 100_000), bytes_per_ns=st.floats(0.01, 2_000))


def test_textbook_values():
    link = LinkCost(alpha_ns=1_000, bytes_per_ns=10.0)
    # ring all-reduce of 8 ranks x 800 bytes: 14 steps of (1000 + 100/10)
    assert ring_all_reduce_ns(800, 8, link) == 14 * 1_010
    assert ring_reduce_scatter_ns(800, 8, link) == 7 * 1_010
    # binary tree over 8 ranks: height 3, reduce + broadcast of the whole buffer
    assert tree_height(8) == 3 and tree_height(7) == 2 and tree_height(2) == 1
    assert tree_all_reduce_ns(800, 8, link) == 2 * 3 * (1_000 + 80)
    assert collective_ns("p2p", "ring", 800, 8, link) == 1_080
    assert collective_ns("broadcast", "ring", 800, 8, link) == 14 * 1_010


def test_from_spec_uses_project_units():
    cost = LinkCost.from_spec(LinkSpec(bandwidth_gbps=400, latency_us=5))
    assert cost == LinkCost(alpha_ns=5_000, bytes_per_ns=50.0)


@pytest.mark.parametrize(
    "op, alg, match",
    [
        ("all_to_all", "ring", "unknown collective op 'all_to_all'; known: all_reduce, reduce_scatter"),
        ("all_reduce", "butterfly", "unknown collective algorithm 'butterfly'; known: ring, tree"),
        ("reduce_scatter", "tree", "reduce_scatter has no 'tree' algorithm in this model; known for reduce_scatter: ring"),
    ],
)
def test_unknown_op_or_algorithm_lists_the_known_ones(op, alg, match):
    with pytest.raises(ValueError, match=match):
        collective_ns(op, alg, 100, 4, LinkCost(0, 1.0))


def test_bad_sizes_and_ranks():
    with pytest.raises(ValueError, match="n_ranks"):
        collective_ns("all_reduce", "ring", 100, 0, LinkCost(0, 1.0))
    with pytest.raises(ValueError, match="size_bytes"):
        collective_ns("all_reduce", "ring", -1, 4, LinkCost(0, 1.0))
    with pytest.raises(ValueError, match="alpha_ns"):
        LinkCost(-1, 1.0)
    with pytest.raises(ValueError, match="bytes_per_ns"):
        LinkCost(0, 0.0)


@settings(max_examples=60, deadline=None)
@given(size=sizes, link=any_links)
def test_one_rank_costs_nothing(size, link):
    for op, alg in OP_ALGORITHMS:
        assert collective_ns(op, alg, size, 1, link) == 0
        assert bytes_on_wire_per_rank(op, alg, size, 1) == 0


@settings(max_examples=60, deadline=None)
@given(size=sizes, n_ranks=st.integers(1, 1024), link=any_links)
def test_ring_all_reduce_is_reduce_scatter_plus_all_gather(size, n_ranks, link):
    assert ring_all_reduce_ns(size, n_ranks, link) == (
        ring_reduce_scatter_ns(size, n_ranks, link) + ring_all_gather_ns(size, n_ranks, link)
    )
    assert collective_ns("all_reduce", "ring", size, n_ranks, link) == (
        collective_ns("reduce_scatter", "ring", size, n_ranks, link)
        + collective_ns("all_gather", "ring", size, n_ranks, link)
    )


@settings(max_examples=60, deadline=None)
@given(a=sizes, b=sizes, n_ranks=st.integers(1, 1024), link=any_links)
def test_monotone_in_size(a, b, n_ranks, link):
    small, large = sorted((a, b))
    for op, alg in OP_ALGORITHMS:
        assert collective_ns(op, alg, small, n_ranks, link) <= collective_ns(op, alg, large, n_ranks, link)


@settings(max_examples=60, deadline=None)
@given(size=sizes, n_ranks=st.integers(1, 15), link=real_links)
def test_monotone_in_ranks(size, n_ranks, link):
    for op, alg in OP_ALGORITHMS:
        assert collective_ns(op, alg, size, n_ranks, link) <= collective_ns(op, alg, size, n_ranks + 1, link)


def test_monotone_in_ranks_needs_latency_above_the_rounding_slack():
    """The documented exception: with zero latency the per-step ceiling can favour more ranks (by < p ns)."""
    link = LinkCost(alpha_ns=0, bytes_per_ns=1.0)
    assert ring_reduce_scatter_ns(4, 3, link) == 4 and ring_reduce_scatter_ns(4, 4, link) == 3
    for n_ranks in range(1, 64):
        for size in range(0, 200):
            fewer, more = ring_all_reduce_ns(size, n_ranks, link), ring_all_reduce_ns(size, n_ranks + 1, link)
            assert more >= fewer - 2 * (n_ranks - 1)


@settings(max_examples=60, deadline=None)
@given(size=st.integers(1, 10**11), n_ranks=st.integers(2, 1024), link=any_links)
def test_ring_reaches_the_bandwidth_bound_and_busbw_never_exceeds_the_link(size, n_ranks, link):
    t = collective_ns("all_reduce", "ring", size, n_ranks, link)
    wire = bytes_on_wire_per_rank("all_reduce", "ring", size, n_ranks)
    assert wire == pytest.approx(2 * (n_ranks - 1) / n_ranks * size)
    # nccl-tests busbw = algbw * 2(p-1)/p = wire / t can never beat the link
    assert wire / t <= link.bytes_per_ns * (1 + 1e-12)
    assert t == 2 * (n_ranks - 1) * (link.alpha_ns + transfer_ns(size / n_ranks, link.bytes_per_ns))


def test_bytes_on_wire_of_trees_and_p2p():
    assert bytes_on_wire_per_rank("all_reduce", "tree", 10, 2) == 10  # leaf up, root down: S each
    assert bytes_on_wire_per_rank("all_reduce", "tree", 10, 4) == 20  # rank 1: up + one child
    assert bytes_on_wire_per_rank("all_reduce", "tree", 10, 16) == 30  # rank 1: up + two children
    assert bytes_on_wire_per_rank("broadcast", "tree", 10, 16) == 20
    assert bytes_on_wire_per_rank("broadcast", "ring", 10, 16) == 10
    assert bytes_on_wire_per_rank("p2p", "ring", 10, 16) == 10
    assert bytes_on_wire_per_rank("all_gather", "ring", 16, 16) == 15
