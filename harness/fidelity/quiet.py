"""How busy the machine's CPUs are, and waiting (a bounded time) for them to be quiet before measuring.

The study runs on a small shared machine: other work on the same cores shows up directly in loopback timings.
`wait_until_quiet` samples ``/proc/stat`` and returns once the CPUs are mostly idle (or the wait runs out); the
busy fraction it saw is recorded beside every measurement so a reader can discount noisy groups.
"""

from __future__ import annotations

import time
from pathlib import Path

PROC_STAT = Path("/proc/stat")


def _cpu_times() -> tuple[int, int] | None:
    """(idle, total) jiffies of all CPUs, or None where /proc/stat is missing (not Linux)."""
    try:
        fields = PROC_STAT.read_text().splitlines()[0].split()
    except OSError:
        return None
    values = [int(v) for v in fields[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return idle, sum(values[:8])  # user..steal (guest time is already inside user)


def cpu_busy_fraction(window_s: float = 1.0) -> float | None:
    """Fraction of CPU time not idle (steal included) over ``window_s`` seconds; None if unknown."""
    before = _cpu_times()
    time.sleep(window_s)
    after = _cpu_times()
    if before is None or after is None or after[1] <= before[1]:
        return None
    return 1.0 - (after[0] - before[0]) / (after[1] - before[1])


def wait_until_quiet(busy_below: float = 0.15, max_wait_s: float = 60.0, window_s: float = 1.0) -> float | None:
    """Sample until the busy fraction drops below ``busy_below`` or ``max_wait_s`` passes; return the last one."""
    deadline = time.monotonic() + max_wait_s
    busy = cpu_busy_fraction(window_s)
    while busy is not None and busy >= busy_below and time.monotonic() < deadline:
        busy = cpu_busy_fraction(window_s)
    return busy
