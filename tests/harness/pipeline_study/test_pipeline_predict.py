"""The study's prediction: gloo's rendezvous transfers in the pipeline engine (hand-computed timeline), the links
taken from the fidelity study, and every prediction of a configuration from the committed tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from harness.pipeline_study.predict import link_model
from harness.workloads.pipeline_step import BoundaryCost, simulate_pipeline
from methods.pipeline.schedule import gpipe

ROOT = Path(__file__).resolve().parents[3]


def _two_stages(rendezvous: bool) -> int:
    # 1000 B at 1 Gbit/s = 8 us on the wire, 1 us latency; stage 1 computes 10x longer than stage 0
    boundary = BoundaryCost(fwd_bytes=1000, bwd_bytes=0, fwd_encode_ns=0, fwd_decode_ns=0, bwd_encode_ns=0,
                            bwd_decode_ns=0, bandwidth_gbps=1.0, latency_us=1.0)
    return simulate_pipeline(gpipe(2, 2), [10_000, 100_000], [0, 0], [boundary], rendezvous=rendezvous).pipeline_ns


def test_eager_transfers_overlap_the_receivers_compute():
    # F1 leaves stage 0 at 20 us and waits in stage 1's socket: F0 19-119 us, F1 119-219 us, gradients +1 us
    assert _two_stages(rendezvous=False) == 220_000


def test_rendezvous_transfers_wait_for_the_posted_receive():
    # stage 1 posts F1's receive at 119 us, its notice reaches stage 0 at 120 us, the data arrives at 129 us:
    # F1 129-229 us; B0's receive is posted at 230 us, so its (empty) message arrives at 232 us
    assert _two_stages(rendezvous=True) == 232_000


def test_links_come_from_the_fidelity_study_fits():
    fits = pd.read_csv(ROOT / "results" / "fidelity" / "fits_netns.csv")
    two = fits[fits["n_ranks"] == 2].set_index("rate_mbit")["alpha_us"]
    at_100 = link_model("100mbit", ROOT / "results" / "fidelity", 1500)
    assert at_100.link.latency_us == pytest.approx(two[100])
    assert at_100.payload_gbps == pytest.approx(0.1 * 1448 / 1514)
    between = link_model("300mbit", ROOT / "results" / "fidelity", 1500).link.latency_us
    assert min(two[100], two[1000]) < between < max(two[100], two[1000])
    loopback = link_model("loopback", ROOT / "results" / "fidelity", 1500)
    assert loopback.link.protocol_efficiency == 1.0 and loopback.link.latency_us > 0
