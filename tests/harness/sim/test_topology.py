"""harness/sim/topology.py: ring structure, bottleneck, and the closed forms over a topology."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.config.blocks import ClusterSpec, LinkSpec, NetworkSpec
from harness.sim.collectives import SUPPORTED_ALGORITHMS, LinkCost, collective_ns
from harness.sim.topology import Topology, topology_collective_ns

OP_ALGORITHMS = [(op, alg) for op, algs in SUPPORTED_ALGORITHMS.items() for alg in algs]
NVLINK = LinkCost(alpha_ns=2_000, bytes_per_ns=450.0)
NIC = LinkCost(alpha_ns=5_000, bytes_per_ns=50.0)
links = st.builds(LinkCost, alpha_ns=st.integers(0, 50_000), bytes_per_ns=st.floats(0.05, 1_000))


def test_from_config():
    cluster = ClusterSpec(nodes=4, devices_per_node=8)
    network = NetworkSpec(inter_node=LinkSpec(bandwidth_gbps=100, latency_us=10, sharing="fifo"))
    topo = Topology.from_config(cluster, network)
    assert topo.n_ranks == 32
    assert topo.intra == LinkCost(2_000, 450.0) and topo.inter == LinkCost(10_000, 12.5)
    assert topo.inter_sharing == "fifo" and topo.intra_sharing == "fair"


def test_ring_structure():
    topo = Topology(3, 4, NVLINK, NIC)
    assert list(topo.ring_order()) == list(range(12))
    assert [topo.ring_hop_class(r) for r in range(12)] == (["intra"] * 3 + ["inter"]) * 3
    assert topo.ring_hop_classes() == ("inter", "intra")
    assert topo.chain_hop_counts() == {"inter": 2, "intra": 9}
    assert topo.bottleneck() == NIC
    assert topo.ring_representatives() == 4
    assert topo.p2p_hop(1000) == (3, 4)
    assert Topology(1, 8, NVLINK, NIC).ring_hop_classes() == ("intra",)
    assert Topology(8, 1, NVLINK, NIC).ring_representatives() == 1
    assert Topology(1, 1, NVLINK, NIC).ring_hop_classes() == ()


def test_bottleneck_depends_on_the_message_when_classes_trade_latency_for_bandwidth():
    fast_far = LinkCost(alpha_ns=50_000, bytes_per_ns=100.0)
    slow_near = LinkCost(alpha_ns=100, bytes_per_ns=1.0)
    topo = Topology(2, 2, intra=slow_near, inter=fast_far)
    assert topo.bottleneck() == slow_near  # lowest bandwidth
    assert topo.bottleneck(10) == fast_far  # small messages: latency dominates
    assert topo.bottleneck(10**6) == slow_near


@pytest.mark.parametrize("bad, match", [
    (dict(nodes=0), "nodes"), (dict(devices_per_node=1.5), "devices_per_node"), (dict(intra_sharing="lifo"), "intra_sharing"),
])
def test_bad_topologies(bad, match):
    kwargs = dict(nodes=2, devices_per_node=2, intra=NVLINK, inter=NIC) | bad
    with pytest.raises(ValueError, match=match):
        Topology(**kwargs)


@settings(max_examples=50, deadline=None)
@given(nodes=st.integers(1, 8), dpn=st.integers(1, 8), link=links, size=st.integers(0, 10**10))
def test_uniform_topology_reduces_to_the_single_link_closed_form(nodes, dpn, link, size):
    topo = Topology(nodes, dpn, intra=link, inter=link)
    for op, alg in OP_ALGORITHMS:
        assert topology_collective_ns(op, alg, size, topo) == collective_ns(op, alg, size, topo.n_ranks, link)


@settings(max_examples=50, deadline=None)
@given(nodes=st.integers(2, 6), dpn=st.integers(2, 6), intra=links, inter=links, size=st.integers(0, 10**10))
def test_mixed_topology_lies_between_its_link_classes(nodes, dpn, intra, inter, size):
    """A topology mixing two classes costs no less than the faster class alone and no more than the slower."""
    topo = Topology(nodes, dpn, intra, inter)
    p = topo.n_ranks
    for op, alg in OP_ALGORITHMS:
        t = topology_collective_ns(op, alg, size, topo)
        each = sorted(collective_ns(op, alg, size, p, link) for link in (intra, inter))
        assert each[0] <= t <= each[1]


def test_ring_step_is_as_slow_as_its_slowest_hop():
    topo = Topology(2, 4, NVLINK, NIC)
    size = 8 << 20
    chunk = size / 8
    assert topology_collective_ns("all_reduce", "ring", size, topo) == 14 * NIC.message_ns(chunk)
    # broadcast chain: 6 intra hops + 1 inter hop + 7 extra chunks at the slowest hop
    assert topology_collective_ns("broadcast", "ring", size, topo) == (
        6 * NVLINK.message_ns(chunk) + 1 * NIC.message_ns(chunk) + 7 * NIC.message_ns(chunk)
    )
    # heap tree over 8 ranks on 2 nodes of 4: deepest path 0 -> 1 -> 3 -> 7 crosses nodes once (3 -> 7)
    assert topology_collective_ns("broadcast", "tree", size, topo) == 2 * NVLINK.message_ns(size) + NIC.message_ns(size)
    assert topology_collective_ns("all_reduce", "tree", size, topo) == 2 * (2 * NVLINK.message_ns(size) + NIC.message_ns(size))
    assert topology_collective_ns("p2p", "ring", size, topo) == NIC.message_ns(size)
