"""Gaps in the tests of `harness.fidelity.predict` found by a mutation audit.

Closed here:
- gloo's segment count rounds the segment count UP (``ceil(S / 1 MiB)``), uses a segment that is a whole number
  of elements, and holds at the edges (one rank, an empty tensor); a negative size is an error;
- the smallest MTU the TCP efficiency accepts is 53 bytes; a netns hop uses its own MTU's efficiency;
- a loopback hop rounds its latency to the nearest ns;
- an unknown simulation model and zero cores are clear errors.
"""

from __future__ import annotations

import pytest

from harness.fidelity.predict import (
    cpu_share_factor,
    gloo_segments_per_rank,
    loopback_hop,
    netns_hop,
    predict_allreduce_ns,
    tcp_payload_efficiency,
)
from harness.sim.collectives import LinkCost

MIB = 1 << 20


@pytest.mark.parametrize(
    ("size_bytes", "n_ranks", "segments"),
    [
        (64 * MIB + 4, 2, 33),  # ceil(64 MiB + 4 B / 1 MiB) = 65 segments -> rounded up to 66 for 2 ranks
        (4096, 1, 2),  # one rank: max(ceil(...), 2) = 2 segments
        (0, 2, 2),  # an empty tensor still has 2p segments
    ],
)
def test_gloo_segments_round_up_and_hold_at_the_edges(size_bytes, n_ranks, segments):
    assert gloo_segments_per_rank(size_bytes, n_ranks) == segments


def test_gloo_segments_are_whole_elements():
    # 3-byte elements: the largest segment is 3 * floor(1 MiB / 3) = 1048575 bytes, so 8 MiB needs 9 segments
    # (8 * 1048575 < 8 MiB), rounded up to 10 for 2 ranks: 5 per rank (a 1 MiB segment would give 4)
    assert gloo_segments_per_rank(8 * MIB, 2, element_bytes=3) == 5


def test_gloo_segments_reject_a_negative_size():
    with pytest.raises(ValueError, match="size_bytes >= 0"):
        gloo_segments_per_rank(-4, 2)


def test_tcp_payload_efficiency_needs_an_mtu_above_the_headers():
    with pytest.raises(ValueError, match="mtu_bytes"):
        tcp_payload_efficiency(52)
    assert tcp_payload_efficiency(53) == pytest.approx(1 / 67)


def test_netns_hop_uses_its_mtu():
    hop = netns_hop(alpha_ns=1000.0, rate_mbit=1000.0, mtu_bytes=9000)
    assert hop.bytes_per_ns == pytest.approx(0.125 * 8948 / 9014)


def test_loopback_hop_rounds_the_latency():
    assert loopback_hop(1000.6, 2.0).alpha_ns == 1001
    assert loopback_hop(1000.4, 2.0, duplex="full").alpha_ns == 1000


def test_an_unknown_model_is_an_error():
    with pytest.raises(ValueError, match="unknown model"):
        predict_allreduce_ns("netns", 2, 4096, LinkCost(1000, 1.0), "gloo_ring", "analytic")


def test_cpu_share_factor_rejects_zero_cores():
    with pytest.raises(ValueError, match="n_cores"):
        cpu_share_factor(2, 0)
