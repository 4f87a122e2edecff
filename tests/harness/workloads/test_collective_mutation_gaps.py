"""Gaps in the tests of `collective` found by a mutation audit.

Closed here:

- the reported time in microseconds and the dtype column, on a point-to-point transfer worked out by hand;
- ``network.model: link_level`` takes the time from the link-level simulation, ``closed_form`` does not (the two
  agree on an idle network, so only a stand-in simulation tells them apart);
- `bus_factor` refuses an unknown collective by name;
- ``size_bytes`` is bounded at 2**50 (1 PiB) inclusive.
"""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

import harness.workloads.collective as collective
from harness.config.blocks import ClusterSpec, LinkSpec, NetworkSpec
from harness.workloads.base import RunContext
from harness.workloads.collective import CollectiveScenario, CollectiveWorkload, bus_factor, run


def _scenario(op="p2p", size_bytes=1_000_000, dtype="float32", model="closed_form") -> CollectiveScenario:
    link = LinkSpec(bandwidth_gbps=1600.0, latency_us=1.0)
    return CollectiveScenario(
        name="c", cluster=ClusterSpec(nodes=1, devices_per_node=2, device="h100"),
        network=NetworkSpec(intra_node=link, inter_node=link, model=model),
        workload=CollectiveWorkload(op=op, algorithm="ring", size_bytes=size_bytes, dtype=dtype),
    )


def _row(scenario):
    return run(scenario, RunContext(seed_seq=np.random.SeedSequence(0))).metrics.iloc[0]


def test_a_point_to_point_transfer_by_hand_in_ns_us_and_gbps():
    # one hop: 1 us latency + 10^6 bytes x 8 bits / 1600 Gbit/s = 1000 + 5000 ns
    row = _row(_scenario(dtype="bfloat16"))
    assert row["time_ns"] == 6000
    assert row["time_us"] == pytest.approx(6.0)
    assert row["algbw_gbps"] == pytest.approx(8e6 / 6000)
    assert row["busbw_gbps"] == pytest.approx(8e6 / 6000)
    assert row["dtype"] == "bfloat16"


@pytest.mark.parametrize(("model", "expected_ns"), [("link_level", 123_457), ("closed_form", 6000)])
def test_the_network_model_picks_the_timer(monkeypatch, model, expected_ns):
    monkeypatch.setattr(collective, "simulate_collective_ns", lambda *args: 123_457)
    row = _row(_scenario(model=model))
    assert row["time_ns"] == expected_ns
    assert row["model"] == model


def test_bus_factor_refuses_an_unknown_collective():
    with pytest.raises(ValueError, match="unknown collective 'all_to_all'"):
        bus_factor("all_to_all", 4)


def test_size_bytes_is_bounded_at_one_pebibyte_inclusive():
    assert CollectiveWorkload(size_bytes=2**50).size_bytes == 2**50
    with pytest.raises(ValidationError, match="size_bytes"):
        CollectiveWorkload(size_bytes=2**50 + 1)
