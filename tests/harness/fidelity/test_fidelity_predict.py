"""Predictions of the fidelity study (harness.fidelity.predict): gloo's segments, the two networks, the DP step."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.fidelity.predict import (
    cpu_share_factor,
    gloo_segments_per_rank,
    loopback_hop,
    netns_hop,
    predict_allreduce_ns,
    predict_dp_step_ns,
    tcp_payload_efficiency,
    topology_for,
)
from harness.sim.collectives import LinkCost, collective_ns

MIB = 1 << 20


@pytest.mark.parametrize(
    ("size_bytes", "n_ranks", "segments"),
    [(4096, 2, 2), (64 * MIB, 2, 32), (16 * MIB, 4, 4), (3 * MIB, 4, 2), (10 * MIB, 4, 3), (4096, 4, 2)],
)
def test_gloo_segments_follow_gloos_rule(size_bytes, n_ranks, segments):
    # numSegments = roundUp(max(ceil(S / 1 MiB), 2p), p); k = numSegments / p
    assert gloo_segments_per_rank(size_bytes, n_ranks) == segments


@pytest.mark.parametrize("element_bytes", [0, -4])
def test_gloo_segments_need_a_positive_element_size(element_bytes):
    with pytest.raises(ValueError, match=f"element_bytes >= 1, got 2, 1024, {element_bytes}"):
        gloo_segments_per_rank(1024, 2, element_bytes=element_bytes)  # 0 divided by zero, -4 gave a segment count
    assert gloo_segments_per_rank(1024, 2, element_bytes=1) == 2


def test_tcp_payload_efficiency_for_ethernet_mtu():
    assert tcp_payload_efficiency(1500) == pytest.approx(1448 / 1514)
    with pytest.raises(ValueError, match="mtu_bytes"):
        tcp_payload_efficiency(40)


def test_netns_hop_is_the_configured_rate_times_the_payload_efficiency():
    hop = netns_hop(alpha_ns=250_000.4, rate_mbit=100.0)
    assert hop.alpha_ns == 250_000
    assert hop.bytes_per_ns == pytest.approx(0.0125 * 1448 / 1514)


def test_loopback_hop_halves_the_pingpong_bandwidth():
    assert loopback_hop(1000.0, 2.0).bytes_per_ns == 1.0
    assert loopback_hop(1000.0, 2.0, duplex="full").bytes_per_ns == 2.0
    with pytest.raises(ValueError, match="duplex"):
        loopback_hop(1000.0, 2.0, duplex="simplex")


@settings(max_examples=30, deadline=None)
@given(
    setting=st.sampled_from(["loopback", "netns"]),
    n_ranks=st.integers(2, 6),
    size_bytes=st.integers(4, 64 * MIB).map(lambda s: s - s % 4),
    algorithm=st.sampled_from(["gloo_ring", "textbook_ring"]),
    alpha_ns=st.integers(1_000, 2_000_000),
    bytes_per_ns=st.floats(0.01, 10.0),
)
def test_link_level_equals_closed_form(setting, n_ranks, size_bytes, algorithm, alpha_ns, bytes_per_ns):
    hop = LinkCost(alpha_ns, bytes_per_ns)
    closed = predict_allreduce_ns(setting, n_ranks, size_bytes, hop, algorithm, "closed_form")
    linked = predict_allreduce_ns(setting, n_ranks, size_bytes, hop, algorithm, "link_level")
    assert closed == linked > 0


def test_textbook_ring_is_the_closed_form_and_gloo_ring_pays_alpha_per_segment():
    hop = LinkCost(100_000, 1.0)
    size, p = 64 * MIB, 4
    textbook = predict_allreduce_ns("netns", p, size, hop, "textbook_ring", "closed_form")
    assert textbook == collective_ns("all_reduce", "ring", size, p, hop)
    gloo = predict_allreduce_ns("netns", p, size, hop, "gloo_ring", "closed_form")
    k = gloo_segments_per_rank(size, p)
    assert gloo - textbook == 2 * (p - 1) * (k - 1) * hop.alpha_ns


def test_topologies_match_the_measured_networks():
    hop = LinkCost(1000, 1.0)
    loop, star = topology_for("loopback", 4, hop), topology_for("netns", 4, hop)
    assert (loop.nodes, loop.devices_per_node) == (1, 4)
    assert (star.nodes, star.devices_per_node) == (4, 1)
    with pytest.raises(ValueError, match="setting"):
        topology_for("wifi", 4, hop)
    with pytest.raises(ValueError, match="algorithm"):
        predict_allreduce_ns("netns", 2, 4096, hop, "bcube", "closed_form")


@pytest.mark.parametrize("model", ["closed_form", "link_level"])
def test_dp_step_is_compute_then_one_allreduce(model):
    hop = LinkCost(200_000, 0.5)
    compute_ns, grad_bytes = 30_000_000, 16 * MIB
    step = predict_dp_step_ns("loopback", 2, compute_ns, grad_bytes, hop, "gloo_ring", model)
    assert step == compute_ns + predict_allreduce_ns("loopback", 2, grad_bytes, hop, "gloo_ring", "closed_form")


def test_cpu_share_factor():
    assert cpu_share_factor(2, 2) == 1.0
    assert cpu_share_factor(4, 2) == 2.0
    assert cpu_share_factor(1, 16) == 1.0
    with pytest.raises(ValueError):
        cpu_share_factor(0, 2)
