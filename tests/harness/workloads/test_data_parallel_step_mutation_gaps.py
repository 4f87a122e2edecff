"""Gaps in the tests of `data_parallel_step` found by a mutation audit.

Closed here:

- the smallest bucket cap, one byte (2**-20 MiB), is accepted and anything below it refused;
- gradients are counted in the compute dtype (bf16: 2 bytes per parameter);
- the kernel launches of a step include the optimizer's;
- the bucket cap reaches the step engine in binary MiB (0.25 MiB = 262,144 bytes), and so does the network model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

import harness.workloads.data_parallel_step as dp
from harness.config.blocks import ClusterSpec, LinkSpec, NetworkSpec
from harness.cost.training_step import layer_ops, optimizer_ops
from harness.models.llama import LlamaDims, parameter_count
from harness.timing.replay import open_replay
from harness.workloads.base import RunContext
from harness.workloads.data_parallel_step import DataParallelScenario, DataParallelWorkload, check_bucket_mb
from tests.harness.failures.one_ms_per_call import OneMsPerCall

TIMINGS = Path(__file__).parents[3] / "tests" / "data" / "timings"
TINY = LlamaDims(d_model=256, d_ff=512, n_heads=4, n_layers=2, vocab_size=512)


def test_one_byte_is_the_smallest_bucket_cap():
    assert check_bucket_mb(2**-20) == 2**-20
    assert DataParallelWorkload(bucket_mb=2**-20).bucket_mb == 2**-20
    with pytest.raises(ValueError, match="1 byte"):
        check_bucket_mb(2**-21)
    with pytest.raises(ValidationError, match="bucket_mb"):
        DataParallelWorkload(bucket_mb=0.9 * 2**-20)


def test_bf16_gradients_take_two_bytes_per_parameter():
    times = dp.layer_times(DataParallelWorkload(model=TINY, micro_batch=1, seq_len=64, dtype="bfloat16"),
                           OneMsPerCall())
    assert sum(times.grad_bytes) == 2 * parameter_count(TINY)


@pytest.mark.parametrize("optimizer", ["adamw", "none"])
def test_kernel_launches_count_every_call_and_the_optimizer(optimizer):
    times = dp.layer_times(DataParallelWorkload(model=TINY, micro_batch=1, seq_len=64, optimizer=optimizer),
                           OneMsPerCall())
    calls = [c for layer in layer_ops(TINY, 1, 64) for c in (*layer.forward, *layer.backward)]
    calls += optimizer_ops(TINY, optimizer, "cpu")
    assert times.n_launches == sum(c.count * c.launches for c in calls)


@pytest.mark.parametrize("network_model", ["closed_form", "link_level"])
def test_the_engine_gets_the_cap_in_binary_mib_and_the_network_model(monkeypatch, network_model):
    seen = {}
    real = dp.simulate_dp_steps

    def spy(**kwargs):
        seen.update(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(dp, "simulate_dp_steps", spy)
    link = LinkSpec(bandwidth_gbps=10.0, latency_us=10.0)
    scenario = DataParallelScenario(
        name="dp", cluster=ClusterSpec(nodes=1, devices_per_node=2, device="cpu"),
        network=NetworkSpec(intra_node=link, inter_node=link, model=network_model),
        workload=DataParallelWorkload(model=TINY, micro_batch=1, seq_len=64, dtype="float32", bucket_mb=0.25))
    ctx = RunContext(seed_seq=np.random.SeedSequence(0), timings=open_replay(scenario, timings_root=TIMINGS))
    dp.run(scenario, ctx)
    assert seen["bucket_cap_bytes"] == 262_144
    assert seen["model"] == network_model
