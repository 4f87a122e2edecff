"""Which data-parallel ranks are down at each step, and who takes over for them (MeCeFO, Hu et al., arXiv
2510.16415, Algorithm 1: each failed rank gets a distinct healthy neighbour, the next one in the ring).

The paper injects failures per iteration; its Table 1 sets a cluster-wide failure interval and a fixed recovery
time. `poisson_schedule` compresses that to steps: exponential gaps of mean ``interval_steps`` between failures,
each hitting a uniformly drawn working rank, down for ``repair_steps`` (Little's law: repair / interval ranks down
on average).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Outage:
    """Rank ``rank`` is down for steps ``start <= step < end``."""

    rank: int
    start: int
    end: int

    def __post_init__(self) -> None:
        if self.rank < 0 or self.start < 0 or self.end <= self.start:
            raise ValueError(f"outage of rank {self.rank}: need rank >= 0 and 0 <= start < end, got "
                             f"start {self.start}, end {self.end}")


def failed_at(outages: tuple[Outage, ...], step: int) -> frozenset[int]:
    return frozenset(o.rank for o in outages if o.start <= step < o.end)


def assign_neighbours(n_ranks: int, failed: frozenset[int]) -> tuple[dict[int, int], list[int]]:
    """(failed rank -> neighbour, failed ranks nobody can take over). The neighbour is the next healthy rank in
    the ring that is not yet a neighbour; failed ranks are served in rank order."""
    taken: set[int] = set()
    mapping: dict[int, int] = {}
    orphans: list[int] = []
    for rank in sorted(failed):
        for offset in range(1, n_ranks):
            cand = (rank + offset) % n_ranks
            if cand not in failed and cand not in taken:
                mapping[rank] = cand
                taken.add(cand)
                break
        else:
            orphans.append(rank)
    return mapping, orphans


def poisson_schedule(n_ranks: int, steps: int, interval_steps: float, repair_steps: int,
                     seed: int) -> tuple[Outage, ...]:
    """Failures over ``steps``: exponential gaps (mean ``interval_steps``), a uniformly drawn up rank each time,
    down for ``repair_steps``; at least one rank stays up (an arrival with one rank left up is skipped)."""
    if interval_steps <= 0 or repair_steps < 1:
        raise ValueError(f"interval_steps must be > 0 and repair_steps >= 1, got {interval_steps}, {repair_steps}")
    rng = np.random.default_rng([int(seed), 0xFA11])
    outages: list[Outage] = []
    t = float(rng.exponential(interval_steps))
    while t < steps:
        step = int(t)
        up = [r for r in range(n_ranks) if r not in failed_at(tuple(outages), step)]
        if len(up) > 1:
            outages.append(Outage(int(up[int(rng.integers(len(up)))]), step, step + int(repair_steps)))
        t += float(rng.exponential(interval_steps))
    return tuple(outages)
