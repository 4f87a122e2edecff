"""Gaps in the tests of `harness.fidelity.fit` found by a mutation audit.

Closed here:
- the fit is non-negative least squares: data whose unconstrained line has alpha < 0 gives alpha = 0 and the
  one-parameter optimum of beta (a plain least-squares solve would return alpha < 0);
- ``rel_rms`` is the root mean square of the relative residuals, measured against the token-bucket model when
  headers and burst are given (not against the raw sizes);
- ``n_points`` counts every point, repeated sizes included;
- the input checks: a negative burst, 2-D arrays, infinite sizes and zero times are each a clear error.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.fidelity.fit import fit_alpha_beta


def test_nonnegative_fit_pins_alpha_at_zero_when_the_line_would_need_a_negative_latency():
    # t = 2 S - 1000 exactly: unconstrained alpha = -1000. With alpha = 0 the relative objective
    # sum((b x_i - 1)^2), x_i = S_i / t_i = 1, 2/3, 4/7, is smallest at b = sum(x) / sum(x^2).
    fit = fit_alpha_beta([1000, 2000, 4000], [1000, 3000, 7000])
    beta = (1 + 2 / 3 + 4 / 7) / (1 + 4 / 9 + 16 / 49)
    assert fit.alpha_ns == 0.0
    assert fit.ns_per_byte == pytest.approx(beta, rel=1e-9)
    assert beta == pytest.approx(1.2637644046, rel=1e-9)


def test_rel_rms_is_the_root_mean_square_of_the_relative_residuals():
    # the fit above: residuals b x_i - 1 = 0.2637644, -0.1574904, -0.2778489 (their mean |.| is 0.2330)
    fit = fit_alpha_beta([1000, 2000, 4000], [1000, 3000, 7000])
    residuals = [0.2637644046, -0.1574903969, -0.2778489117]
    assert fit.rel_rms == pytest.approx(math.sqrt(sum(r * r for r in residuals) / 3), rel=1e-8)
    assert fit.rel_rms == pytest.approx(0.2391477256, rel=1e-8)


def test_rel_rms_of_exact_token_bucket_data_is_zero():
    sizes = np.array([4096.0, 65536.0, 1 << 20, 16 << 20])
    wire, free = 1514 / 1448, 62_500.0
    times = 200_000.0 + 80.0 * np.maximum(0.0, sizes * wire - free)
    fit = fit_alpha_beta(sizes, times, wire_bytes_per_byte=wire, free_bytes=free)
    assert fit.rel_rms < 1e-9


def test_n_points_counts_repeated_sizes():
    sizes = [1000, 1000, 2000, 2000, 4000]
    fit = fit_alpha_beta(sizes, [2000.0 + s for s in sizes])
    assert fit.n_points == 5


@pytest.mark.parametrize(
    ("sizes", "times", "kwargs", "message"),
    [
        ([1000, 2000], [5.0, 6.0], {"free_bytes": -1.0}, "free_bytes >= 0"),
        ([[1000, 2000], [3000, 4000]], [[5.0, 6.0], [7.0, 8.0]], {}, "1-D"),
        ([1000, float("inf")], [5.0, 6.0], {}, "size_bytes: expected finite"),
        ([1000, 2000], [0.0, 6.0], {}, "time_ns: expected finite numbers > 0"),
        ([1000, 2000], [float("inf"), 6.0], {}, "time_ns: expected finite numbers > 0"),
    ],
)
def test_more_bad_input_is_a_clear_error(sizes, times, kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit_alpha_beta(sizes, times, **kwargs)
