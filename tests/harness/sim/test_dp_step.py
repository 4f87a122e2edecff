"""harness/sim/dp_step.py: DDP bucketing, overlap bounds, closed-form vs link-level agreement, determinism, the
steady step repeated exactly."""

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.sim.collectives import LinkCost
from harness.sim.dp_step import DataParallelEngine, assign_buckets, simulate_dp_steps
from harness.sim.topology import Topology, topology_collective_ns

links = st.builds(LinkCost, alpha_ns=st.integers(0, 20_000), bytes_per_ns=st.floats(0.5, 500))
topologies = st.builds(Topology, nodes=st.integers(1, 4), devices_per_node=st.integers(1, 4), intra=links,
                       inter=links, intra_sharing=st.sampled_from(["fifo", "fair"]),
                       inter_sharing=st.sampled_from(["fifo", "fair"]))
layer_lists = st.integers(1, 12).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 5_000_000), min_size=n, max_size=n),
    st.lists(st.integers(0, 10_000_000), min_size=n, max_size=n),
    st.lists(st.integers(0, 64 << 20), min_size=n, max_size=n),
))
NVLINK, NIC = LinkCost(2_000, 450.0), LinkCost(5_000, 50.0)


def test_ddp_buckets_fill_in_backward_order_and_close_at_the_cap():
    buckets = assign_buckets([10, 20, 30, 40, 50], bucket_cap_bytes=60)
    assert [b.layers for b in buckets] == [(4, 3), (2, 1, 0)]
    assert [b.size_bytes for b in buckets] == [90, 60]
    big = assign_buckets([100, 5, 100], bucket_cap_bytes=25)  # larger than the cap: a bucket of its own
    assert [b.layers for b in big] == [(2,), (1, 0)]
    assert [b.layers for b in assign_buckets([0, 0, 7, 0], 100)] == [(3, 2, 1, 0)]
    assert assign_buckets([0, 0], 100) == []


def test_a_worked_step():
    topo = Topology(2, 8, NVLINK, NIC)
    bucket_ns = topology_collective_ns("all_reduce", "ring", 50 << 20, topo)
    on = simulate_dp_steps([1_000_000] * 4, [2_000_000] * 4, [50 << 20] * 4, 25 << 20, topo, n_steps=2)
    off = simulate_dp_steps([1_000_000] * 4, [2_000_000] * 4, [50 << 20] * 4, 25 << 20, topo, overlap=False)
    # 4 buckets; with overlap the all-reduces queue behind each other once they outpace backward
    assert on[0].n_buckets == 4 and on[0].comm_ns == 4 * bucket_ns
    assert on[0].step_time_ns == 4_000_000 + 2_000_000 + 4 * bucket_ns  # first bucket ready after fwd + 1 layer
    assert off[0].step_time_ns == 12_000_000 + 4 * bucket_ns
    same = lambda r: (r.step_time_ns, r.compute_ns, r.comm_ns, r.exposed_comm_ns, r.n_buckets)
    assert [r.step for r in on] == [0, 1] and same(on[0]) == same(on[1])


@settings(max_examples=40, deadline=None)
@given(topo=topologies, layers=layer_lists, cap=st.integers(1, 128 << 20), alg=st.sampled_from(["ring", "tree"]))
def test_overlap_bounds_and_closed_form_equals_link_level(topo, layers, cap, alg):
    fwd, bwd, grads = layers
    results = {}
    for model in ("closed_form", "link_level"):
        for overlap in (True, False):
            records = simulate_dp_steps(fwd, bwd, grads, cap, topo, algorithm=alg, overlap=overlap, model=model,
                                        n_steps=2)
            results[model, overlap] = [(r.step_time_ns, r.compute_ns, r.comm_ns, r.exposed_comm_ns, r.n_buckets)
                                       for r in records]
    for model in ("closed_form", "link_level"):
        assert results[model, True] == results["closed_form", True]  # nothing contends: the models agree
        for overlap in (True, False):
            assert results[model, overlap][0] == results[model, overlap][1]  # identical steps
    step_on, compute, comm, exposed_on, _ = results["closed_form", True][0]
    step_off, _, comm_off, exposed_off, _ = results["closed_form", False][0]
    assert compute == sum(fwd) + sum(bwd) and comm == comm_off
    assert step_off == compute + comm and exposed_off == comm
    assert max(compute, comm) <= step_on <= step_off
    assert exposed_on == step_on - compute


def test_link_level_replay_gives_the_same_steps_as_full_simulation():
    topo = Topology(4, 4, NVLINK, NIC, "fair", "fifo")
    args = ([300_000] * 6, [600_000] * 6, [9 << 20, 30 << 20, 1 << 20, 9 << 20, 9 << 20, 0], 16 << 20, topo)
    plain = DataParallelEngine(*args, model="link_level", reuse_isolated=False)
    fast = DataParallelEngine(*args, model="link_level", reuse_isolated=True)
    plain_records, fast_records = plain.run(3), fast.run(3)
    strip = lambda rs: [(r.step_time_ns, r.comm_ns, r.exposed_comm_ns) for r in rs]
    assert strip(plain_records) == strip(fast_records)
    assert fast.stream.collectives_replayed > 0 and plain.stream.collectives_replayed == 0
    assert fast.env.events_processed < plain.env.events_processed


@settings(max_examples=60, deadline=None)
@given(topo=topologies, layers=layer_lists, cap=st.integers(1, 128 << 20), alg=st.sampled_from(["ring", "tree"]),
       overlap=st.booleans(), model=st.sampled_from(["closed_form", "link_level"]), reuse=st.booleans(),
       n_steps=st.integers(1, 7))
def test_repeating_the_steady_step_gives_the_records_of_simulating_every_step(topo, layers, cap, alg, overlap, model,
                                                                             reuse, n_steps):
    engines = [DataParallelEngine(*layers, cap, topo, algorithm=alg, overlap=overlap, model=model,
                                  reuse_isolated=reuse) for _ in range(2)]
    every, repeated = engines[0].run(n_steps), engines[1].run(n_steps, repeat_steady=True)
    assert repeated == every  # events_processed included
    assert engines[1].env.now == engines[0].env.now


def test_the_steady_step_is_simulated_once():
    topo = Topology(4, 4, NVLINK, NIC, "fair", "fifo")
    args = ([300_000] * 6, [600_000] * 6, [9 << 20, 30 << 20, 1 << 20, 9 << 20, 9 << 20, 0], 16 << 20, topo)
    for model, simulated in (("closed_form", 2), ("link_level", 3)):  # link level: the first step records
        engine = DataParallelEngine(*args, model=model)
        records = engine.run(1000, repeat_steady=True)
        assert [r.step for r in records] == list(range(1000))
        assert len({replace(r, step=0) for r in records[2:]}) == 1
        assert engine.env.now == sum(r.step_time_ns for r in records)
        assert engine.stream.busy_ns == sum(r.comm_ns for r in records[:simulated])


def test_same_inputs_same_outputs():
    topo = Topology(2, 4, NVLINK, NIC)
    run = lambda: simulate_dp_steps([5, 6, 7], [8, 9, 10], [1 << 20, 3 << 20, 2 << 20], 2 << 20, topo,
                                    model="link_level", n_steps=3)
    first = run()
    assert [r.step for r in first] == [0, 1, 2] and all(r.step_time_ns > 0 and r.comm_ns > 0 for r in first)
    assert run() == first


@pytest.mark.parametrize("bad, match", [
    (dict(forward_ns=[1, 2]), "same length"),
    (dict(backward_ns=[1, -2, 3]), r"backward_ns\[1\]"),
    (dict(grad_bytes=[1, 2.5, 3]), r"grad_bytes\[1\]"),
    (dict(bucket_cap_bytes=0), "bucket_cap_bytes"),
    (dict(model="analytic"), "model: expected one of closed_form, link_level"),
    (dict(algorithm="mesh"), "known: ring, tree"),
    (dict(n_steps=0), "n_steps"),
])
def test_bad_input(bad, match):
    kwargs = dict(forward_ns=[1, 2, 3], backward_ns=[1, 2, 3], grad_bytes=[1, 2, 3], bucket_cap_bytes=10,
                  topology=Topology(1, 2, NVLINK, NIC)) | bad
    with pytest.raises(ValueError, match=match):
        simulate_dp_steps(**kwargs)
