"""Gaps in the tests of `harness.sim.collective_sim` found by a mutation audit.

Closed here: a ring rank starts its next step only once its predecessor's chunk has arrived (the sendrecv rule of
`harness.sim.topology`); without the wait the total time is unchanged (the slow hop sets it), so only the times at
which a rank sends show it. Also: a symmetric ring simulates one rank when uniform, one node otherwise (the links it
creates show it); an engine stops replaying once a second engine shares its network; `drained` waits for replays
queued behind a simulation; `sync_link_counters` books each replay once; a network of another topology is refused
even in the same environment.
"""

from __future__ import annotations

import pytest

from harness.sim.clock import GuardedEnvironment
from harness.sim.collective_sim import CollectiveEngine
from harness.sim.collectives import LinkCost
from harness.sim.network import NetworkLinks
from harness.sim.topology import Topology

# 2 nodes x 2 ranks; 400 bytes over 4 ranks: 100-byte chunks at 1 byte/ns, 200 ns per intra hop (100 ns latency),
# 1100 ns per inter hop (1000 ns latency)
TOPO = Topology(nodes=2, devices_per_node=2, intra=LinkCost(100, 1.0), inter=LinkCost(1000, 1.0))


def _sends_of_rank_0(op: str, size: int) -> tuple[int, list[int]]:
    env = GuardedEnvironment()
    net = NetworkLinks(env, TOPO, symmetric=False)
    engine = CollectiveEngine(env, TOPO, network=net, reuse_isolated=False)
    link = net.link(0, 1)
    send, times = link.transfer, []
    link.transfer = lambda size_bytes: (times.append(env.now), send(size_bytes))[1]
    done = engine.submit(op, "ring", size)
    env.run()
    return done.value, times


def test_a_ring_rank_waits_for_its_predecessors_chunk_before_the_next_step():
    # rank 0 sends on the fast hop 0->1 but receives over the slow hop 3->0: its steps start 1100 ns apart
    elapsed, times = _sends_of_rank_0("all_gather", 400)
    assert elapsed == 3 * 1100
    assert times == [0, 1100, 2200]


def test_a_symmetric_ring_simulates_one_rank_when_uniform_and_one_node_otherwise():
    # 800 bytes over 8 ranks: 100-byte chunks, 7 all-gather steps
    uniform = Topology(nodes=1, devices_per_node=8, intra=LinkCost(100, 1.0), inter=LinkCost(100, 1.0))
    mixed = Topology(nodes=2, devices_per_node=4, intra=LinkCost(100, 1.0), inter=LinkCost(1000, 1.0))
    for topo, elapsed, links in [(uniform, 7 * 200, ["intra:0->1"]),
                                 (mixed, 7 * 1100, ["inter:3->4", "intra:0->1", "intra:1->2", "intra:2->3"])]:
        env = GuardedEnvironment()
        engine = CollectiveEngine(env, topo)
        done = engine.submit("all_gather", "ring", 800)
        env.run()
        assert done.value == elapsed
        assert sorted(link.name for link in engine.network.links()) == links


def test_an_engine_stops_replaying_once_a_second_engine_shares_its_network():
    # 4 ranks, 400 bytes: all-reduce of 6 steps of 200 ns alone; two at once on fair links: 300 ns a step
    topo = Topology(nodes=1, devices_per_node=4, intra=LinkCost(100, 1.0), inter=LinkCost(100, 1.0))
    env = GuardedEnvironment()
    net = NetworkLinks(env, topo, symmetric=False)
    first = CollectiveEngine(env, topo, network=net)
    alone = first.submit("all_reduce", "ring", 400)
    env.run()
    assert alone.value == 1200
    second = CollectiveEngine(env, topo, network=net)
    again, other = first.submit("all_reduce", "ring", 400), second.submit("all_reduce", "ring", 400)
    env.run()
    assert again.value == other.value == 1800
    assert first.collectives_simulated == 2 and first.collectives_replayed == 0


def test_drained_waits_for_the_replays_queued_behind_a_simulation_and_counters_are_booked_once():
    # one node of 4 ranks, 400 bytes: all-gather 3 x 200 ns, all-reduce 6 x 200 ns (one representative rank)
    topo = Topology(nodes=1, devices_per_node=4, intra=LinkCost(100, 1.0), inter=LinkCost(100, 1.0))
    env = GuardedEnvironment()
    engine = CollectiveEngine(env, topo)
    engine.enqueue("all_gather", "ring", 400)  # simulated and recorded: t = 600
    env.run()
    engine.enqueue("all_reduce", "ring", 400)  # simulated: 600 -> 1800
    engine.enqueue("all_gather", "ring", 400)  # waits for it, then replayed: 1800 -> 2400
    drained, fired = engine.drained(), []
    drained.callbacks.append(lambda _event: fired.append(env.now))
    env.run()
    assert fired == [2400]
    assert (engine.collectives_simulated, engine.collectives_replayed) == (2, 1)
    (link,) = engine.network.links()
    for _ in range(2):  # booking twice must not count the replay twice
        engine.sync_link_counters()
        assert (link.bytes_sent, link.transfers_started, link.transfers_delivered) == (1200, 12, 12)


def test_a_network_of_another_topology_in_the_same_environment_is_refused():
    env = GuardedEnvironment()
    other = Topology(nodes=1, devices_per_node=4, intra=LinkCost(100, 1.0), inter=LinkCost(100, 1.0))
    with pytest.raises(ValueError, match="another topology"):
        CollectiveEngine(env, TOPO, NetworkLinks(env, other))


def test_a_tree_all_reduce_sends_up_to_each_ranks_heap_parent():
    # 4 ranks in heap order: 1 and 2 under 0, 3 under 1; reduce up the edges, then broadcast down them:
    # depth 2 x (100 ns + 100 bytes at 1 byte/ns) = 400 ns each way
    topo = Topology(nodes=1, devices_per_node=4, intra=LinkCost(100, 1.0), inter=LinkCost(100, 1.0))
    env = GuardedEnvironment()
    net = NetworkLinks(env, topo, symmetric=False)
    done = CollectiveEngine(env, topo, network=net).submit("all_reduce", "tree", 100)
    env.run()
    assert done.value == 800
    assert sorted(link.name for link in net.links()) == [
        "intra:0->1", "intra:0->2", "intra:1->0", "intra:1->3", "intra:2->0", "intra:3->1"]
