"""Gaps in the tests of `toy` found by a mutation audit.

Closed here:

- ``transfer_time_us``: latency + 8 bits per byte at 1e3 bits per microsecond per Gbit/s, hand-worked;
- the run times messages at the inter-node link's payload rate (bandwidth x protocol efficiency) plus latency,
  numbers its messages from 0 and sums their sizes into ``total_bytes``;
- sizes are whole bytes rounded up (never 0) with the configured mean;
- ``sleep_ms`` sleeps that long (even below 1 ms) and 0 does not sleep;
- ``mean_size_bytes`` is at most 1 TiB.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from pydantic import ValidationError

from harness.workloads import toy
from harness.workloads.base import RunContext


def _run(workload: dict, network: dict | None = None):
    data = {"name": "t", "workload": workload}
    if network is not None:
        data["network"] = network
    scenario = toy.ToyScenario.model_validate(data)
    return toy.run(scenario, RunContext(seed_seq=np.random.SeedSequence(0)))


def test_transfer_time_hand_worked():
    # 1000 bytes = 8000 bits at 1 Gbit/s = 8 us, 250 bytes = 2 us, each plus 5 us latency; 250 bytes at 2 Gbit/s = 1 us
    got = toy.transfer_time_us(np.array([1000, 250]), 1.0, 5.0)
    assert got.tolist() == pytest.approx([13.0, 7.0])
    assert toy.transfer_time_us(np.array([250]), 2.0, 0.0).tolist() == pytest.approx([1.0])


def test_run_uses_the_inter_node_payload_rate_and_latency():
    network = {"inter_node": {"bandwidth_gbps": 2.0, "latency_us": 3.0, "protocol_efficiency": 0.5},
               "intra_node": {"bandwidth_gbps": 100.0, "latency_us": 0.0}}
    out = _run({"n_messages": 5, "mean_size_bytes": 1000.0}, network)
    m = out.metrics
    assert m["message"].tolist() == [0, 1, 2, 3, 4]
    # payload 1 Gbit/s: 8 bits per byte / 1000 bits per us = 0.008 us per byte
    assert m["transfer_time_us"].tolist() == pytest.approx((3.0 + 0.008 * m["size_bytes"]).tolist())
    assert out.info == {"total_bytes": int(m["size_bytes"].sum())}


def test_sizes_are_whole_bytes_rounded_up_with_the_configured_mean():
    small = _run({"n_messages": 2000, "mean_size_bytes": 1.0}).metrics["size_bytes"]
    assert small.min() >= 1  # rounded down, about 63 % of the draws below 1 byte would be 0
    big = _run({"n_messages": 20000, "mean_size_bytes": 1e6}).metrics["size_bytes"]
    assert big.dtype == np.int64
    assert big.mean() == pytest.approx(1e6, rel=0.03)  # standard error of the mean: 0.7 %


@pytest.mark.parametrize("sleep_ms, slept", [(0.5, [0.0005]), (0.0, [])])
def test_sleep_ms_sleeps_that_long(monkeypatch, sleep_ms, slept):
    calls = []
    monkeypatch.setattr(toy, "time", SimpleNamespace(sleep=calls.append))
    _run({"n_messages": 1, "sleep_ms": sleep_ms})
    assert calls == pytest.approx(slept)


def test_mean_size_at_most_a_tebibyte():
    assert toy.ToyWorkload(mean_size_bytes=2**40).mean_size_bytes == 2**40
    with pytest.raises(ValidationError):
        toy.ToyWorkload(mean_size_bytes=2**41)
