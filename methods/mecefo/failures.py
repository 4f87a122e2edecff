"""Which data-parallel ranks are down at each step, and who takes over for them (MeCeFO, Hu et al., arXiv
2510.16415, Algorithm 1: each failed rank gets a distinct healthy neighbour, the next one in the ring).

The paper injects failures per iteration; its Table 1 sets a cluster-wide failure interval and a fixed recovery
time. `poisson_schedule` compresses that to steps: exponential gaps of mean ``interval_steps`` between failures,
each hitting a uniformly drawn working rank, down for ``repair_steps`` (Little's law: repair / interval ranks down
on average). Drawing costs one pass over the ranks per arrival, i.e. about ``steps / interval_steps`` of them, so
the interval has a floor (`MIN_INTERVAL_STEPS`); `failed_per_step` lists the failed ranks of every step in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: smallest mean gap between failures, steps: 100 arrivals per step on average, when a step almost surely holds
#: more arrivals than the 63 it takes to leave one rank of 64 up (repairs last >= 1 step), so a shorter gap adds
#: only skipped arrivals, one draw each (10^9 draws at 1e-9 over 4 steps: the schedule never finished)
MIN_INTERVAL_STEPS = 0.01


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


def failed_per_step(outages: tuple[Outage, ...], steps: int) -> list[frozenset[int]]:
    """``failed_at(outages, step)`` for every step in ``range(steps)``, in one pass over the outages and steps
    (not one pass over the outages per step)."""
    changes: dict[int, list[tuple[int, int]]] = {}
    for o in outages:
        if o.start < steps:
            changes.setdefault(o.start, []).append((o.rank, 1))
            if o.end < steps:
                changes.setdefault(o.end, []).append((o.rank, -1))
    active: dict[int, int] = {}  # rank -> outages covering the current step
    current: frozenset[int] = frozenset()
    per_step = []
    for step in range(steps):
        if step in changes:
            for rank, delta in changes[step]:
                active[rank] = active.get(rank, 0) + delta
                if not active[rank]:
                    del active[rank]
            current = frozenset(active)
        per_step.append(current)
    return per_step


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
                     seed: int, explicit: tuple[Outage, ...] = ()) -> tuple[Outage, ...]:
    """Failures over ``steps``: exponential gaps (mean ``interval_steps`` >= `MIN_INTERVAL_STEPS`), a uniformly drawn
    up rank each time, down for ``repair_steps``; at least one rank stays up (an arrival with one rank left up is
    skipped). With ``explicit`` outages (which must leave a rank up at every step), an arrival also skips the ranks
    they hold down at its step, and is skipped if, with the explicit and earlier drawn outages, it could leave no
    rank up at some step of its repair (ranks are counted once per outage, so this errs towards skipping)."""
    if not interval_steps >= MIN_INTERVAL_STEPS or repair_steps < 1:
        raise ValueError(f"interval_steps must be >= {MIN_INTERVAL_STEPS} and repair_steps >= 1, got {interval_steps}, "
                         f"{repair_steps}")
    if all_down := steps_with_every_rank_down(explicit, n_ranks, steps):
        raise ValueError(f"the explicit outages take all {n_ranks} ranks down at step {all_down[0]}")
    explicit_down = failed_per_step(explicit, steps) if explicit else None
    down = np.array([len(d) for d in explicit_down], dtype=np.int64) if explicit_down else None
    rng = np.random.default_rng([int(seed), 0xFA11])
    outages: list[Outage] = []
    # arrivals come in step order and hit only up ranks, so a rank's last outage tells whether it is down; the up
    # ranks are listed once per step with an arrival and the ones hit are taken out (repairs last >= 1 step)
    up_from = [0] * n_ranks  # first step each rank is up again
    t = float(rng.exponential(interval_steps))
    while t < steps:
        step = int(t)
        up = [r for r in range(n_ranks) if up_from[r] <= step]
        if explicit_down is not None:
            up = [r for r in up if r not in explicit_down[step]]
        while True:
            window = slice(step, step + int(repair_steps))
            if len(up) > 1 and (down is None or int(down[window].max()) <= n_ranks - 2):
                rank = up.pop(int(rng.integers(len(up))))
                outages.append(Outage(rank, step, step + int(repair_steps)))
                up_from[rank] = step + int(repair_steps)
                if down is not None:
                    down[window] += 1
            t += float(rng.exponential(interval_steps))
            if not step <= t < step + 1:
                break
    return tuple(outages)


def steps_with_every_rank_down(outages: tuple[Outage, ...], n_ranks: int, steps: int) -> list[int]:
    """The steps below ``steps`` at which ``outages`` hold all ``n_ranks`` ranks down (nobody can take over)."""
    return [step for step, failed in enumerate(failed_per_step(outages, steps))
            if all(rank in failed for rank in range(n_ranks))]
