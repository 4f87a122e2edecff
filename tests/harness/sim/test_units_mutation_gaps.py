"""Gaps in the tests of `harness.sim.units` found by a mutation audit.

`us_to_ns` and `ms_to_ns` round to the NEAREST ns: truncating survived, because every value the tests used lands
on or just above a whole ns in floating point (1.001 us is 1000.9999999999999 ns as a float product).
"""

from __future__ import annotations

from harness.sim.units import ms_to_ns, us_to_ns


def test_latencies_and_times_just_below_a_whole_ns_round_to_it():
    assert 1.001 * 1000 < 1001  # the float product falls short of the whole ns it means
    assert us_to_ns(1.001) == 1_001
    assert us_to_ns(1.007) == 1_007
    assert 0.000249 * 1_000_000 < 249
    assert ms_to_ns(0.000249) == 249
    assert ms_to_ns(1.0029) == 1_002_900
