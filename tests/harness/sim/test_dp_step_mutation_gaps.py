"""Gaps in the tests of `harness.sim.dp_step` found by a mutation audit.

Closed here (`assign_buckets`, DDP bucketing): a bucket closes as soon as it holds exactly the cap; a trailing
bucket of a single layer is kept; a fractional cap and boolean gradient sizes are refused. `DataParallelEngine`:
a bucket of several layers is ready after the backward of all of them, and the backward of layers in no bucket
(no gradient bytes) still counts, and so does the forward of a model without any bucket; all checked on
hand-computed step times. After `run` the link counters include the replayed all-reduces; gradient sizes must
come one per layer.
"""

from __future__ import annotations

import pytest

from harness.sim.collectives import LinkCost
from harness.sim.dp_step import Bucket, DataParallelEngine, assign_buckets, simulate_dp_steps
from harness.sim.topology import Topology


def test_a_bucket_closes_when_it_holds_exactly_the_cap():
    assert assign_buckets([4, 4, 4, 4], 8) == [Bucket((3, 2), 8), Bucket((1, 0), 8)]


def test_a_trailing_bucket_of_one_layer_is_kept():
    assert assign_buckets([4, 10], 8) == [Bucket((1,), 10), Bucket((0,), 4)]


def test_a_fractional_cap_and_boolean_sizes_are_refused():
    with pytest.raises(ValueError, match="bucket_cap_bytes"):
        assign_buckets([4, 4], 2.5)
    with pytest.raises(ValueError, match=r"grad_bytes\[0\]"):
        assign_buckets([True, 4], 8)


TWO_RANKS = Topology(nodes=1, devices_per_node=2, intra=LinkCost(1000, 1.0), inter=LinkCost(1000, 1.0))


@pytest.mark.parametrize("model", ["closed_form", "link_level"])
def test_a_bucket_is_ready_after_the_backward_of_every_layer_in_it(model):
    """4 layers: forward 10 ns, backward 100 ns, 100-byte gradients, cap 200: buckets (3, 2) and (1, 0). Ring
    all-reduce of 200 bytes on 2 ranks: 2 steps of 1000 ns + 100 ns = 2200 ns. Backward starts at 40; the first
    bucket is ready at 240 (two layers), its all-reduce ends at 2440, the second's at 4640."""
    (record,) = simulate_dp_steps([10] * 4, [100] * 4, [100] * 4, 200, TWO_RANKS, model=model)
    assert (record.step_time_ns, record.compute_ns, record.comm_ns, record.exposed_comm_ns) == (4640, 440, 4400, 4200)


@pytest.mark.parametrize("model", ["closed_form", "link_level"])
def test_the_backward_of_layers_in_no_bucket_still_counts(model):
    """Layer 0 has no gradient bytes (in no bucket) but 5000 ns of backward: the step ends with the compute at
    20 + 100 + 5000, long after the one all-reduce (100 bytes: 2 x 1050 ns) from 120 to 2220."""
    (record,) = simulate_dp_steps([10, 10], [5000, 100], [0, 100], 100, TWO_RANKS, model=model)
    assert (record.step_time_ns, record.compute_ns, record.comm_ns, record.exposed_comm_ns) == (5120, 5120, 2100, 0)


@pytest.mark.parametrize("overlap", [True, False])
def test_a_model_without_gradient_bytes_still_computes_its_forward_and_backward(overlap):
    (record,) = simulate_dp_steps([10, 10], [100, 100], [0, 0], 100, TWO_RANKS, overlap=overlap)
    assert (record.step_time_ns, record.n_buckets, record.comm_ns) == (220, 0, 0)


def test_the_link_counters_include_the_replayed_all_reduces_after_a_run():
    # one 100-byte bucket on 2 ranks: the representative rank sends 2 chunks of 50 bytes per step; 3 steps (the
    # last two replayed) put 300 bytes in 6 transfers on its link
    engine = DataParallelEngine([10], [100], [100], 100, TWO_RANKS, model="link_level")
    engine.run(3)
    assert engine.stream.collectives_replayed == 2
    (link,) = engine.stream.network.links()
    assert (link.bytes_sent, link.transfers_started, link.bytes_delivered) == (300, 6, 300)


def test_one_gradient_size_per_layer_is_required():
    with pytest.raises(ValueError, match="expected one entry per layer"):
        DataParallelEngine([10, 10], [100, 100], [100], 100, TWO_RANKS)


def test_an_unknown_all_reduce_algorithm_is_refused_when_the_engine_is_built():
    with pytest.raises(ValueError, match="unknown collective algorithm 'hypercube'"):
        DataParallelEngine([10], [100], [100], 100, TWO_RANKS, algorithm="hypercube")
