"""harness/sim/units.py: conversions and the one rounding rule."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.sim.units import bytes_per_ns_to_gbps, gbps_to_bytes_per_ns, ms_to_ns, ns_to_ms, transfer_ns, us_to_ns


def test_conversions():
    assert gbps_to_bytes_per_ns(8) == 1.0
    assert gbps_to_bytes_per_ns(400) == 50.0
    assert us_to_ns(2.5) == 2_500
    assert us_to_ns(0.1) == 100  # float residue of 0.1 * 1000 is rounded away
    assert ms_to_ns(1.5) == 1_500_000
    assert ns_to_ms(2_500_000) == 2.5
    assert bytes_per_ns_to_gbps(gbps_to_bytes_per_ns(123.456)) == 123.456


def test_transfer_ns_rounds_up():
    assert transfer_ns(0, 1.0) == 0
    assert transfer_ns(10, 1.0) == 10
    assert transfer_ns(10, 3.0) == 4
    assert transfer_ns(0.5, 1.0) == 1


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: gbps_to_bytes_per_ns(0), "bandwidth_gbps"),
        (lambda: gbps_to_bytes_per_ns(-5), "bandwidth_gbps"),
        (lambda: gbps_to_bytes_per_ns(math.nan), "bandwidth_gbps"),
        (lambda: us_to_ns(-1), "latency_us"),
        (lambda: transfer_ns(-1, 1.0), "size_bytes"),
        (lambda: transfer_ns(1, 0.0), "bytes_per_ns"),
    ],
)
def test_bad_input_names_the_parameter(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@settings(max_examples=60, deadline=None)
@given(size=st.floats(0, 1e12), bpns=st.floats(1e-3, 1e4))
def test_transfer_ns_is_the_ceiling(size, bpns):
    t = transfer_ns(size, bpns)
    assert isinstance(t, int)
    assert t >= size / bpns > t - 1
