"""Side-by-side CPU timing for the Mixture-of-Channels measurements (MoC, arXiv 2511.09323): every implementation
runs once per round, in the same order, so a drift in machine load hits all of them alike.

Example::

    >>> times = time_interleaved({"a": lambda i: sum(range(10)), "b": lambda i: i}, repeats=3)
    >>> sorted(times), len(times["a"])
    (['a', 'b'], 3)
    >>> sorted(summary([1.0, 2.0, 3.0]))
    ['time_ms_median', 'time_ms_p10', 'time_ms_p90']
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence

import numpy as np


def time_interleaved(calls: dict[str, Callable[[int], object]], repeats: int,
                     warmup: int = 1) -> dict[str, list[float]]:
    """Milliseconds per call of each ``calls[name](i)``, one call of each per round in the dict's order; ``i`` is
    the round (pick an input with it). The ``warmup`` first rounds are not kept."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for i in range(warmup + repeats):
        for name, fn in calls.items():
            start = time.perf_counter_ns()
            fn(i)
            if i >= warmup:
                times[name].append((time.perf_counter_ns() - start) / 1e6)
    return times


def summary(times_ms: Sequence[float]) -> dict[str, float]:
    """Median and 10th / 90th percentiles of per-call milliseconds."""
    p10, p90 = np.percentile(np.asarray(times_ms, dtype=np.float64), [10, 90])
    return {"time_ms_median": float(statistics.median(times_ms)), "time_ms_p10": float(p10),
            "time_ms_p90": float(p90)}
