"""alpha-beta fitting (harness.fidelity.fit): exact recovery, robustness to noise, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.fidelity.fit import fit_alpha_beta

SIZES = np.array([4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20], dtype=float)


@settings(max_examples=40, deadline=None)
@given(alpha_ns=st.floats(1e3, 5e6), ns_per_byte=st.floats(0.01, 200.0))
def test_exact_data_recovers_alpha_and_beta(alpha_ns, ns_per_byte):
    fit = fit_alpha_beta(SIZES, alpha_ns + ns_per_byte * SIZES)
    assert fit.alpha_ns == pytest.approx(alpha_ns, rel=1e-6, abs=1e-3)
    assert fit.ns_per_byte == pytest.approx(ns_per_byte, rel=1e-6)
    assert fit.rel_rms < 1e-9
    assert fit.bandwidth_gbps == pytest.approx(8 / ns_per_byte, rel=1e-6)


def test_noisy_data_recovers_within_the_noise():
    rng = np.random.default_rng(7)
    alpha_ns, ns_per_byte = 150e3, 0.4
    sizes = np.repeat(SIZES, 20)
    times = (alpha_ns + ns_per_byte * sizes) * rng.lognormal(0.0, 0.05, sizes.size)
    fit = fit_alpha_beta(sizes, times)
    assert fit.alpha_ns == pytest.approx(alpha_ns, rel=0.05)
    assert fit.ns_per_byte == pytest.approx(ns_per_byte, rel=0.05)
    assert 0.02 < fit.rel_rms < 0.1


def test_relative_weighting_keeps_alpha_from_small_messages():
    # one noisy large message must not move alpha, which only the small messages determine
    times = 100e3 + 1.0 * SIZES
    times[-1] *= 1.3
    fit = fit_alpha_beta(SIZES, times)
    assert fit.alpha_ns == pytest.approx(100e3, rel=0.1)


def test_predict_ns_is_the_line():
    fit = fit_alpha_beta([1000, 2000], [1100, 1200])
    assert fit.predict_ns(5000) == pytest.approx(1500)


@pytest.mark.parametrize(
    ("sizes", "times", "message"),
    [
        ([4096], [1.0], "two distinct sizes"),
        ([4096, 4096], [1.0, 2.0], "two distinct sizes"),
        ([4096, 8192], [1.0], "one length"),
        ([0, 8192], [1.0, 2.0], "size_bytes"),
        ([4096, 8192], [1.0, -2.0], "time_ns"),
        ([4096, 8192], [float("nan"), 2.0], "time_ns"),
        ([4096, 8192], [5.0, 5.0], "no size dependence"),
    ],
)
def test_bad_input_is_a_clear_error(sizes, times, message):
    with pytest.raises(ValueError, match=message):
        fit_alpha_beta(sizes, times)


@settings(max_examples=30, deadline=None)
@given(alpha_ns=st.floats(1e4, 2e6), ns_per_byte=st.floats(0.5, 100.0), free_bytes=st.sampled_from([3028.0, 62_500.0]))
def test_token_bucket_fit_recovers_alpha_beta_with_headers_and_burst(alpha_ns, ns_per_byte, free_bytes):
    wire = 1514 / 1448
    times = alpha_ns + ns_per_byte * np.maximum(0.0, SIZES * wire - free_bytes)
    fit = fit_alpha_beta(SIZES, times, wire_bytes_per_byte=wire, free_bytes=free_bytes)
    assert fit.alpha_ns == pytest.approx(alpha_ns, rel=1e-6)
    assert fit.ns_per_byte == pytest.approx(ns_per_byte, rel=1e-6)
    assert fit.bytes_per_ns == pytest.approx(1 / (ns_per_byte * wire), rel=1e-6)
    np.testing.assert_allclose(fit.predict_ns(SIZES), times, rtol=1e-6)


def test_token_bucket_fit_needs_sizes_beyond_the_burst():
    with pytest.raises(ValueError, match="beyond the free burst"):
        fit_alpha_beta([1000, 2000, 4000], [5.0, 5.0, 6.0], free_bytes=10_000)
    with pytest.raises(ValueError, match="wire_bytes_per_byte"):
        fit_alpha_beta([1000, 2000], [5.0, 6.0], wire_bytes_per_byte=0.5)
