"""Gaps in the tests of `harness.sim.collectives` found by a mutation audit.

Closed here: an infinite link bandwidth, a fractional rank count and a negative or infinite startup are refused;
the startup of `startup_bandwidth_ns` is rounded to the nearest ns (not truncated); the spread weights of
`fit_startup_bandwidth` are ``1 / max(spread, 0.05)`` (checked against a weighted least-squares solution of the
documented objective by ``numpy.linalg.lstsq``; a floor of 0.5 survived the one test, which only compared
weighted with unweighted).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.sim.collectives import (
    LinkCost,
    StartupBandwidth,
    bus_factor,
    collective_ns,
    fit_startup_bandwidth,
    ring_reduce_scatter_ns,
    startup_bandwidth_ns,
)


def test_an_infinite_bandwidth_is_refused():
    with pytest.raises(ValueError, match="bytes_per_ns"):
        LinkCost(alpha_ns=0, bytes_per_ns=math.inf)


@pytest.mark.parametrize("call", [
    lambda: collective_ns("all_reduce", "ring", 1024, 2.5, LinkCost(1, 1.0)),
    lambda: ring_reduce_scatter_ns(1024, 3.5, LinkCost(1, 1.0)),
])
def test_a_fractional_rank_count_is_refused(call):
    with pytest.raises(ValueError, match="n_ranks: expected an integer >= 1"):
        call()


@pytest.mark.parametrize("startup", [-0.5, math.inf])
def test_a_negative_or_infinite_startup_is_refused(startup):
    with pytest.raises(ValueError, match="startup_ns"):
        StartupBandwidth(startup, 1.0)


def test_the_startup_is_rounded_to_the_nearest_ns():
    # 0 bytes: only the startup, 1000.7 ns -> 1001; 8 bytes of p2p at 4 B/ns add 2 ns
    assert startup_bandwidth_ns("all_reduce", 0, 2, StartupBandwidth(1000.7, 4.0)) == 1001
    assert startup_bandwidth_ns("p2p", 8, 2, StartupBandwidth(1000.7, 4.0)) == 1003
    assert startup_bandwidth_ns("p2p", 8, 2, StartupBandwidth(1000.2, 4.0)) == 1002


def test_spread_weights_are_one_over_the_spread_floored_at_five_percent():
    # two ranks, all_reduce: bus factor 1. Noisy times; the tight points (spread 0.01 and 0.2) dominate
    sizes = np.array([1e3, 1e5, 1e6, 1e7])
    times = np.array([2.6e4, 2.9e4, 5.1e4, 2.4e5])
    spread = np.array([0.01, 1.0, 0.2, 1.0])
    fitted = fit_startup_bandwidth("all_reduce", 2, sizes, times, spread)
    w = 1.0 / np.maximum(spread, 0.05)  # the docstring's weights: 20, 1, 5, 1
    # minimise sum(w^2 ((a + S c) / t - 1)^2) over (a, c = 1 / busbw): linear least squares in (a, c)
    design = (w / times)[:, None] * np.column_stack([np.ones_like(sizes), sizes])
    (a, c), *_ = np.linalg.lstsq(design, w, rcond=None)
    assert a > 0 and c > 0  # the unconstrained optimum is feasible, so nnls must find it too
    assert fitted.startup_ns == pytest.approx(a, rel=1e-6)
    assert fitted.busbw_bytes_per_ns == pytest.approx(1.0 / c, rel=1e-6)


def test_a_fit_refuses_one_size_zero_times_and_data_without_size_dependence():
    with pytest.raises(ValueError, match="at least two distinct sizes"):
        fit_startup_bandwidth("all_reduce", 4, [1024, 1024], [1e4, 1.1e4])
    with pytest.raises(ValueError, match="finite times > 0"):
        fit_startup_bandwidth("all_reduce", 4, [1024, 4096], [0.0, 1.1e4])
    with pytest.raises(ValueError, match="no size dependence"):
        fit_startup_bandwidth("all_reduce", 4, [1024, 4096, 65536], [2e4, 2e4, 2e4])


def test_the_bus_factor_of_an_unknown_op_is_refused():
    with pytest.raises(ValueError, match="unknown collective op 'gather'"):
        bus_factor("gather", 4)
