"""Gaps in the tests of `harness.sim.topology` found by a mutation audit.

Closed here: a ring whose two link classes cost the same but share differently is not uniform (so the link-level
ring simulates a whole node, not one rank); the tie-breaks of `slowest_ring_class` (same bandwidth: the higher
latency; same message time: the inter-node class, which `p2p_hop` then uses); a one-rank collective costs 0
without asking an installed measured-table pricer.
"""

from __future__ import annotations

import pytest

from harness.sim.collectives import LinkCost
from harness.sim.topology import Topology, collective_pricing, topology_collective_ns


def test_same_costs_but_different_sharing_is_not_a_uniform_ring():
    cost = LinkCost(1_000, 10.0)
    topo = Topology(nodes=2, devices_per_node=4, intra=cost, inter=cost, intra_sharing="fifo", inter_sharing="fair")
    assert not topo.ring_is_uniform()
    assert topo.ring_representatives() == 4
    same = Topology(nodes=2, devices_per_node=4, intra=cost, inter=cost)
    assert same.ring_is_uniform() and same.ring_representatives() == 1


def test_same_bandwidth_the_higher_latency_is_the_slowest_class():
    topo = Topology(nodes=2, devices_per_node=2, intra=LinkCost(100, 10.0), inter=LinkCost(50, 10.0))
    assert topo.slowest_ring_class() == "intra"
    assert topo.bottleneck() == LinkCost(100, 10.0)


def test_a_tie_in_message_time_goes_to_the_inter_node_class_and_its_hop():
    # 1000 bytes: intra 100 + 100 ns, inter 150 + 50 ns: both 200 ns
    topo = Topology(nodes=2, devices_per_node=3, intra=LinkCost(100, 10.0), inter=LinkCost(150, 20.0))
    assert topo.slowest_ring_class(1000) == "inter"
    assert topo.p2p_hop(1000) == (2, 3)
    assert topo.slowest_ring_class(2000) == "intra" and topo.p2p_hop(2000) == (0, 1)  # 300 vs 250 ns


def test_a_one_rank_collective_is_free_even_with_a_pricer_installed():
    asked = []

    def pricer(op, algorithm, size_bytes, topology):
        asked.append(op)
        return 12_345

    one = Topology(nodes=1, devices_per_node=1, intra=LinkCost(100, 10.0), inter=LinkCost(100, 10.0))
    two = Topology(nodes=1, devices_per_node=2, intra=LinkCost(100, 10.0), inter=LinkCost(100, 10.0))
    with collective_pricing(pricer):
        assert topology_collective_ns("all_reduce", "ring", 1 << 20, one) == 0
        assert asked == []
        assert topology_collective_ns("all_reduce", "ring", 1 << 20, two) == 12_345


def test_a_negative_size_is_refused_before_an_installed_pricer_is_asked():
    asked = []
    two = Topology(nodes=1, devices_per_node=2, intra=LinkCost(100, 10.0), inter=LinkCost(100, 10.0))
    with collective_pricing(lambda *args: asked.append(args) or 1):
        with pytest.raises(ValueError, match="size_bytes"):
            topology_collective_ns("all_reduce", "ring", -1, two)
    assert asked == []


def test_a_single_rank_has_no_slowest_hop():
    one = Topology(nodes=1, devices_per_node=1, intra=LinkCost(100, 10.0), inter=LinkCost(100, 10.0))
    with pytest.raises(ValueError, match="single-rank topology has no hops"):
        one.slowest_ring_class()
