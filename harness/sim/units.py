"""Unit conversions of the simulator: every simulated time is an integer number of nanoseconds.

Bandwidths arrive as ``bandwidth_gbps`` (gigabits per second, 1 Gbit/s = 0.125 bytes/ns) and latencies as
``latency_us``. `transfer_ns` is the ONE rounding rule of the project: the time to push ``size_bytes`` through a
link is ``ceil(size_bytes / bytes_per_ns)`` nanoseconds. The closed forms (`harness.sim.collectives`) and the
link-level SimPy model (`harness.sim.links`) both call it, which is what lets them agree exactly.

Range: simulated times are Python ints, so the clock itself never overflows; what holds them afterwards does.
Converted to ms / us they are floats (finite below ~1.8e308 ns, which the config bounds keep them far under: at
the slowest link allowed, `harness.config.blocks.MIN_BANDWIDTH_GBPS` x `MIN_PROTOCOL_EFFICIENCY` = 10 bit/s, the
largest sizes take ~1e24 ns); kept as whole ns in a metrics column (``time_ns``) they must fit numpy's int64,
`MAX_TIME_NS` (~292 years), and `check_time_ns` refuses more with one line.
"""

from __future__ import annotations

import math

from harness.errors import HarnessError

BYTES_PER_NS_PER_GBPS = 0.125  # 1e9 bit/s = 1.25e8 byte/s = 0.125 byte/ns (a power of two: conversions are exact)
NS_PER_US = 1_000
NS_PER_MS = 1_000_000
NS_PER_YEAR = 365.25 * 24 * 3600 * 1e9
#: the longest time a whole-ns metrics column holds: int64, what numpy / pandas store integers as (~292 years)
MAX_TIME_NS = 2**63 - 1


def _check_finite(name: str, value: float, *, positive: bool) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        expected = "a finite number > 0" if positive else "a finite number >= 0"
        raise ValueError(f"{name}: expected {expected}, got {value!r}")
    return value


def gbps_to_bytes_per_ns(bandwidth_gbps: float) -> float:
    """Gigabits per second -> bytes per nanosecond (``bandwidth_gbps * 0.125``)."""
    return _check_finite("bandwidth_gbps", bandwidth_gbps, positive=True) * BYTES_PER_NS_PER_GBPS


def bytes_per_ns_to_gbps(bytes_per_ns: float) -> float:
    """Bytes per nanosecond -> gigabits per second (inverse of `gbps_to_bytes_per_ns`, exact)."""
    return _check_finite("bytes_per_ns", bytes_per_ns, positive=True) / BYTES_PER_NS_PER_GBPS


def us_to_ns(latency_us: float) -> int:
    """Microseconds -> nearest integer nanoseconds."""
    return round(_check_finite("latency_us", latency_us, positive=False) * NS_PER_US)


def ms_to_ns(time_ms: float) -> int:
    """Milliseconds -> nearest integer nanoseconds."""
    return round(_check_finite("time_ms", time_ms, positive=False) * NS_PER_MS)


def ns_to_ms(time_ns: int) -> float:
    """Nanoseconds -> milliseconds (float)."""
    return time_ns / NS_PER_MS


def transfer_ns(size_bytes: float, bytes_per_ns: float) -> int:
    """Serialisation time of ``size_bytes`` at ``bytes_per_ns``, rounded UP to whole nanoseconds.

    ``size_bytes`` may be fractional (a ring chunk is ``size / n_ranks``); 0 bytes take 0 ns. This is the only
    place where time is rounded, so every model that moves bytes through a link rounds the same way.
    """
    if size_bytes < 0:
        raise ValueError(f"size_bytes: expected a number >= 0, got {size_bytes!r}")
    if not bytes_per_ns > 0:
        raise ValueError(f"bytes_per_ns: expected a number > 0, got {bytes_per_ns!r}")
    return math.ceil(size_bytes / bytes_per_ns)


def check_time_ns(time_ns: int, what: str, fix: str) -> int:
    """``time_ns`` unless it exceeds `MAX_TIME_NS`: then `HarnessError` (one line: ``what`` takes how long, ``fix``)."""
    if time_ns > MAX_TIME_NS:
        raise HarnessError(
            f"{what} takes {time_ns:.3g} ns ({time_ns / NS_PER_YEAR:.3g} years), more than the {MAX_TIME_NS} ns "
            f"(~292 years, int64) a time_ns metric holds; {fix}"
        )
    return time_ns
