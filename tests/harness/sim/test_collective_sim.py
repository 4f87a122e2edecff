"""harness/sim/collective_sim.py: link-level collectives equal the closed forms alone and contend when shared."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import SimulationError
from harness.sim.clock import GuardedEnvironment
from harness.sim.collective_sim import CollectiveEngine, simulate_collective_ns
from harness.sim.collectives import SUPPORTED_ALGORITHMS, LinkCost
from harness.sim.network import NetworkLinks
from harness.sim.topology import Topology, topology_collective_ns

OP_ALGORITHMS = [(op, alg) for op, algs in SUPPORTED_ALGORITHMS.items() for alg in algs]
RING_OPS = ["all_reduce", "reduce_scatter", "all_gather"]
links = st.builds(LinkCost, alpha_ns=st.integers(0, 50_000), bytes_per_ns=st.floats(0.05, 1_000))
sharings = st.sampled_from(["fifo", "fair"])
topologies = st.builds(Topology, nodes=st.integers(1, 4), devices_per_node=st.integers(1, 4), intra=links,
                       inter=links, intra_sharing=sharings, inter_sharing=sharings)
sizes = st.integers(0, 10**10)


def run_on_shared_network(topo, requests, symmetric=False):
    """One engine per request (start_ns, op, algorithm, size) on one shared network; returns elapsed ns each."""
    env = GuardedEnvironment()
    network = NetworkLinks(env, topo, symmetric=symmetric)
    engines = [CollectiveEngine(env, topo, network) for _ in requests]
    results = [None] * len(requests)

    def issue(i, engine, start_ns, op, alg, size):
        yield env.timeout(start_ns)
        results[i] = yield engine.start(op, alg, size)

    for i, (engine, request) in enumerate(zip(engines, requests)):
        env.process(issue(i, engine, *request))
    env.run()
    return results, network


@settings(max_examples=60, deadline=None)
@given(topo=topologies, size=sizes)
def test_link_level_equals_the_closed_form_when_nothing_contends(topo, size):
    for op, alg in OP_ALGORITHMS:
        expected = topology_collective_ns(op, alg, size, topo)
        assert simulate_collective_ns(op, alg, size, topo) == expected, (op, alg)
        # ... also without the symmetry shortcut (every rank simulated)
        assert run_on_shared_network(topo, [(0, op, alg, size)])[0] == [expected], (op, alg)


@settings(max_examples=30, deadline=None)
@given(topo=topologies, size=sizes, op=st.sampled_from(RING_OPS), n=st.sampled_from([2, 4]))
def test_n_concurrent_rings_on_fair_links_each_take_the_time_of_n_times_the_data(topo, size, op, n):
    topo = Topology(topo.nodes, topo.devices_per_node, topo.intra, topo.inter, "fair", "fair")
    results, network = run_on_shared_network(topo, [(0, op, "ring", size)] * n, symmetric=True)
    # Every step of every ring shares each hop with n-1 identical flows started at the same ns. (n is a power of
    # two so that n * (S/p) == (n*S)/p in floats; for n=3 the two can round to different ns.)
    assert results == [topology_collective_ns(op, "ring", n * size, topo)] * n
    assert run_on_shared_network(topo, [(0, op, "ring", size)] * n, symmetric=False)[0] == results


def test_two_concurrent_all_reduces_on_fair_links_each_take_about_twice_as_long():
    topo = Topology(4, 8, LinkCost(2_000, 450.0), LinkCost(5_000, 50.0))
    size = 256 << 20
    alone = topology_collective_ns("all_reduce", "ring", size, topo)
    both, network = run_on_shared_network(topo, [(0, "all_reduce", "ring", size)] * 2, symmetric=True)
    assert both[0] == both[1]
    assert 1.95 < both[0] / alone <= 2.0
    fifo = Topology(4, 8, topo.intra, topo.inter, "fifo", "fifo")
    both_fifo, _ = run_on_shared_network(fifo, [(0, "all_reduce", "ring", size)] * 2, symmetric=True)
    assert alone < min(both_fifo) and max(both_fifo) <= 2 * alone


@settings(max_examples=20, deadline=None)
@given(topo=topologies, size=st.integers(1, 10**9),
       requests=st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(OP_ALGORITHMS)), min_size=2, max_size=4))
def test_contention_never_speeds_a_collective_up_and_conserves_bytes(topo, size, requests):
    reqs = [(start, op, alg, size) for start, (op, alg) in requests]
    results, network = run_on_shared_network(topo, reqs)
    for (start, op, alg, _), elapsed in zip(reqs, results):
        assert elapsed >= topology_collective_ns(op, alg, size, topo)
    for link in network.links():
        assert link.bytes_delivered == pytest.approx(link.bytes_sent, rel=1e-12) and link.is_idle()
        assert link.transfers_delivered == link.transfers_started


def test_simulation_time_never_decreases_under_contention():
    class Recording(GuardedEnvironment):
        def step(self):
            super().step()
            self.times.append(self.now)

    topo = Topology(2, 4, LinkCost(1_000, 10.0), LinkCost(3_000, 2.0), "fair", "fifo")
    env = Recording()
    env.times = []
    network = NetworkLinks(env, topo)
    engines = [CollectiveEngine(env, topo, network) for _ in range(4)]
    for i, (engine, (op, alg)) in enumerate(zip(engines, OP_ALGORITHMS)):
        engine.submit(op, alg, 10**6 + 12_345 * i)
    env.run()
    assert len(env.times) == env.events_processed > 100
    assert all(a <= b for a, b in zip(env.times, env.times[1:]))


def test_engine_is_one_stream_and_reports_elapsed_time_including_the_wait():
    topo = Topology(2, 2, LinkCost(1_000, 10.0), LinkCost(3_000, 2.0))
    env = GuardedEnvironment()
    engine = CollectiveEngine(env, topo)
    first = engine.start("all_reduce", "ring", 10_000)
    second = engine.start("all_gather", "ring", 20_000)
    env.run()
    t1 = topology_collective_ns("all_reduce", "ring", 10_000, topo)
    t2 = topology_collective_ns("all_gather", "ring", 20_000, topo)
    assert first.value == t1 and second.value == t1 + t2 and env.now == t1 + t2
    assert engine.busy_ns == t1 + t2


def test_replaying_isolated_collectives_changes_nothing_but_the_event_count():
    topo = Topology(3, 4, LinkCost(1_000, 10.0), LinkCost(3_000, 2.0), "fair", "fifo")
    sequence = [("all_reduce", "ring", 4096), ("broadcast", "tree", 999), ("all_reduce", "ring", 4096),
                ("p2p", "ring", 77), ("all_reduce", "ring", 4096), ("broadcast", "tree", 999)] * 3
    outcomes = []
    for reuse in (False, True):
        env = GuardedEnvironment()
        engine = CollectiveEngine(env, topo, reuse_isolated=reuse)
        done = [engine.submit(*request) for request in sequence]
        env.run()
        engine.sync_link_counters()
        counters = sorted((link.name, link.bytes_sent, link.bytes_delivered, link.transfers_delivered, link.busy_ns)
                          for link in engine.network.links())
        outcomes.append(([d.value for d in done], counters, env.now, engine, env.events_processed))
    (plain, plain_counters, plain_end, plain_engine, plain_events), (replayed, counters, end, engine, events) = outcomes
    assert replayed == plain and end == plain_end
    # integer counters exactly; byte counters (sums of fractional ring chunks) up to float summation order
    assert [c[:1] + c[3:] for c in counters] == [c[:1] + c[3:] for c in plain_counters]
    flat = [value for c in counters for value in c[1:3]]
    assert flat == pytest.approx([value for c in plain_counters for value in c[1:3]], rel=1e-12)
    assert plain_engine.collectives_replayed == 0 and plain_engine.collectives_simulated == len(sequence)
    assert engine.collectives_simulated == 3 and engine.collectives_replayed == len(sequence) - 3
    assert events < plain_events


@settings(max_examples=20, deadline=None)
@given(topo=topologies, streams=st.lists(st.lists(
    st.tuples(st.integers(0, 200_000), st.sampled_from(OP_ALGORITHMS), st.sampled_from([1_000, 250_000])),
    min_size=1, max_size=5), min_size=1, max_size=3))
def test_replay_never_changes_what_engines_sharing_a_network_measure(topo, streams):
    """Engines on one network each run a stream of (repeated) collectives: allowing replay changes no result,
    since an engine replays only when it is alone on the network with nothing queued."""
    outcomes = []
    for reuse in (False, True):
        env = GuardedEnvironment()
        network = NetworkLinks(env, topo)
        engines = [CollectiveEngine(env, topo, network, reuse_isolated=reuse) for _ in streams]
        results: list[list] = [[] for _ in streams]

        def issue(engine, stream, out):
            for gap_ns, (op, alg), size in stream * 2:  # each stream twice: the repeats are replay candidates
                yield env.timeout(gap_ns)
                out.append((yield engine.start(op, alg, size)))

        for engine, stream, out in zip(engines, streams, results):
            env.process(issue(engine, stream, out))
        env.run()
        outcomes.append((results, env.now))
    assert outcomes[0] == outcomes[1]


@settings(max_examples=25, deadline=None)
@given(topo=topologies, reuse=st.booleans(), requests=st.lists(
    st.tuples(st.integers(0, 3_000_000), st.sampled_from(OP_ALGORITHMS), st.sampled_from([0, 1_000, 250_000])),
    min_size=1, max_size=12))
def test_enqueued_collectives_run_back_to_back_in_order(topo, reuse, requests):
    """A stream of enqueued collectives (replayed or not) ends where the FIFO recurrence with closed forms says."""
    env = GuardedEnvironment()
    engine = CollectiveEngine(env, topo, reuse_isolated=reuse)
    requests = sorted(requests, key=lambda r: r[0])
    drained_at = []

    def issue():
        for start_ns, (op, alg), size in requests:
            yield env.timeout(start_ns - env.now)
            engine.enqueue(op, alg, size)
        yield engine.drained()
        drained_at.append(env.now)

    env.process(issue())
    env.run()
    free_ns = busy_ns = 0
    for start_ns, (op, alg), size in requests:
        run_ns = topology_collective_ns(op, alg, size, topo)
        free_ns, busy_ns = max(start_ns, free_ns) + run_ns, busy_ns + run_ns
    assert drained_at == [max(free_ns, requests[-1][0])]
    assert engine.busy_ns == busy_ns
    assert engine.collectives_simulated + engine.collectives_replayed == len(requests)


def test_a_transfer_during_a_replay_fails_loudly():
    topo = Topology(1, 4, LinkCost(1_000, 10.0), LinkCost(1_000, 10.0))
    env = GuardedEnvironment()
    engine = CollectiveEngine(env, topo)
    env.run(engine.submit("all_reduce", "ring", 4096))  # recorded
    engine.submit("all_reduce", "ring", 4096)  # replayed: its links are reserved
    with pytest.raises(SimulationError, match="reservation"):
        engine.network.link(0, 1).transfer(1)


def test_symmetric_shared_networks_refuse_asymmetric_collectives():
    topo = Topology(2, 2, LinkCost(1_000, 10.0), LinkCost(3_000, 2.0))
    env = GuardedEnvironment()
    network = NetworkLinks(env, topo, symmetric=True)
    first, _ = CollectiveEngine(env, topo, network), CollectiveEngine(env, topo, network)
    first.submit("all_reduce", "ring", 100)
    for op, alg in [("all_reduce", "tree"), ("broadcast", "ring"), ("p2p", "ring")]:
        with pytest.raises(SimulationError, match="not rank-symmetric"):
            first.submit(op, alg, 100)


def test_bad_requests():
    topo = Topology(1, 2, LinkCost(1_000, 10.0), LinkCost(1_000, 10.0))
    engine = CollectiveEngine(GuardedEnvironment(), topo)
    with pytest.raises(ValueError, match="known: ring, tree"):
        engine.submit("all_reduce", "hypercube", 10)
    with pytest.raises(ValueError, match="size_bytes"):
        engine.submit("all_reduce", "ring", -10)
    with pytest.raises(ValueError, match="another topology"):
        CollectiveEngine(GuardedEnvironment(), topo, NetworkLinks(GuardedEnvironment(), topo))


def test_each_link_shares_by_its_own_class_discipline():
    """Two messages at once on one link: FIFO finishes them one after the other, fair sharing both together; intra-
    node links take the topology's intra discipline, inter-node links the inter one."""
    topo = Topology(2, 2, LinkCost(0, 1.0), LinkCost(0, 1.0), intra_sharing="fifo", inter_sharing="fair")
    env = GuardedEnvironment()
    network = NetworkLinks(env, topo)
    finished = {}
    for name, link in (("intra", network.link(0, 1)), ("inter", network.link(0, 2))):
        for i in range(2):
            link.transfer(1000).callbacks.append(lambda _e, key=(name, i): finished.__setitem__(key, env.now))
    env.run()
    assert finished == {("intra", 0): 1000, ("intra", 1): 2000, ("inter", 0): 2000, ("inter", 1): 2000}
