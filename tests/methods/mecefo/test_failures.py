"""MeCeFO's failure schedule in steps (methods/mecefo/failures.py): the same seed gives the same schedule as the
original per-arrival scan, the work is bounded (an interval floor; one pass over the ranks per step with an
arrival, not one pass over every outage so far per arrival), and the per-step failed sets match `failed_at`."""

from __future__ import annotations

import time

import numpy as np
import pytest

from methods.mecefo.failures import (
    MIN_INTERVAL_STEPS,
    Outage,
    failed_at,
    failed_per_step,
    poisson_schedule,
    steps_with_every_rank_down,
)


def _reference_schedule(n_ranks: int, steps: int, interval_steps: float, repair_steps: int,
                        seed: int) -> tuple[Outage, ...]:
    """The original algorithm, verbatim: per arrival, the up ranks by a scan of every outage so far."""
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


# the shipped scenarios' (interval, repair): training_error 20/20, training_frequency and training_moe 32/8, 16/6,
# 8/4, the plots' quick runs 6/6; then dense ones, where several arrivals share a step and some are skipped
@pytest.mark.parametrize(("interval", "repair"), [(20, 20), (32, 8), (16, 6), (8, 4), (6, 6), (1.0, 3), (0.3, 1),
                                                  (0.05, 2)])
@pytest.mark.parametrize("n_ranks", [2, 4, 16])
def test_same_seed_same_schedule_as_the_original_scan(interval, repair, n_ranks):
    steps = 300 if interval >= 1 else 40  # the original scan is quadratic in arrivals
    for seed in (0, 1, 2, 12345, 2**31 - 1):
        assert poisson_schedule(n_ranks, steps, interval, repair, seed) == _reference_schedule(
            n_ranks, steps, interval, repair, seed)


@pytest.mark.timeout(30)
def test_an_interval_below_the_floor_is_refused_not_drawn():
    """1e-9 steps between failures over 4 steps was 4e9 draws: the schedule never finished."""
    with pytest.raises(ValueError, match="interval_steps must be >= 0.01"):
        poisson_schedule(4, 4, 1e-9, 1, 0)
    with pytest.raises(ValueError, match="interval_steps must be >= 0.01"):
        poisson_schedule(4, 4, float("nan"), 1, 0)


@pytest.mark.timeout(60)
def test_the_densest_schedule_is_linear_in_steps():
    """At the floor, 64 ranks: ~100 arrivals per step and 63 ranks down almost every step. The original scan of
    every outage so far per arrival was quadratic (10^5 arrivals x 6 x 10^4 outages here)."""
    start = time.perf_counter()
    outages = poisson_schedule(64, 1000, MIN_INTERVAL_STEPS, 1, 0)
    assert time.perf_counter() - start < 10.0
    down = [len(s) for s in failed_per_step(outages, 1000)]
    assert max(down) == 63 and np.mean(down) > 62  # saturated: a shorter interval could add nothing
    assert min(len(failed_at(outages, s)) for s in range(0, 1000, 97)) >= 60


def test_failed_per_step_matches_failed_at():
    rng = np.random.default_rng(3)
    outages = tuple(Outage(int(rng.integers(5)), int(s), int(s) + int(rng.integers(1, 40)))
                    for s in rng.integers(0, 120, 60))  # overlapping outages of one rank, ends past the run
    outages += (Outage(0, 0, 1_000_000), Outage(2, 99, 100))
    for steps in (1, 100, 150):
        assert failed_per_step(outages, steps) == [failed_at(outages, s) for s in range(steps)]
    assert failed_per_step((), 3) == [frozenset()] * 3
    scheduled = poisson_schedule(6, 500, 3.0, 7, 4)
    assert failed_per_step(scheduled, 500) == [failed_at(scheduled, s) for s in range(500)]


@pytest.mark.parametrize(("n_ranks", "interval", "repair"), [(2, 1.0, 5), (3, 0.5, 3), (4, 2.0, 10)])
def test_a_schedule_drawn_around_explicit_outages_always_leaves_a_rank_up(n_ranks, interval, repair):
    """Explicit outages hold all but one rank down for a stretch: the drawn failures may not take the last one, in
    the stretch or in any repair overlapping it, and never hit a rank that an explicit outage holds down."""
    steps = 200
    explicit = tuple(Outage(r, 50, 80) for r in range(n_ranks - 1)) + (Outage(n_ranks - 1, 120, 125),)
    for seed in range(10):
        drawn = poisson_schedule(n_ranks, steps, interval, repair, seed, explicit=explicit)
        assert drawn  # dense arrivals: failures are still drawn outside the stretch
        both = explicit + drawn
        for step in range(steps):
            assert len(failed_at(both, step)) < n_ranks, (seed, step)
        for o in drawn:
            assert o.rank not in failed_at(explicit, o.start)


def test_without_explicit_outages_the_schedule_is_unchanged():
    assert poisson_schedule(4, 300, 2.0, 5, 7, explicit=()) == _reference_schedule(4, 300, 2.0, 5, 7)


def test_explicit_outages_that_take_every_rank_down_are_refused():
    with pytest.raises(ValueError, match="all 2 ranks down at step 3"):
        poisson_schedule(2, 10, 5.0, 2, 0, explicit=(Outage(0, 0, 5), Outage(1, 3, 4)))
    assert steps_with_every_rank_down((Outage(0, 0, 5), Outage(1, 3, 6), Outage(2, 9, 10)), 2, 8) == [3, 4]
    assert steps_with_every_rank_down((Outage(0, 0, 5), Outage(5, 0, 5)), 2, 8) == []  # rank 5 is not one of 2
