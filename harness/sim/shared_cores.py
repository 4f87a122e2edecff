"""`SharedCores`: processes that outnumber the CPU cores, as processor sharing in a SimPy world.

When ``n`` single-threaded workers compute at once on ``c`` cores, each advances at ``min(1, c / n)`` of its own
speed: processor sharing (Kleinrock, "Queueing Systems", vol. 2, 1976), the limit of the round-robin time slices
an operating-system scheduler such as Linux's CFS hands out. A worker that waits (for a message, at a barrier)
leaves its share to the others, so a schedule with bubbles runs its compute faster than a flat stretch of
``n / c`` would say.

``run(work_ns)`` returns an event that fires when ``work_ns`` of one core's work is done under the sharing of the
moment; every start and finish re-divides the cores among the workers computing then.
"""

from __future__ import annotations

import math

import simpy


class SharedCores:
    """``cores`` CPU cores shared equally by whatever work is running on them (processor sharing)."""

    def __init__(self, env: simpy.Environment, cores: int) -> None:
        if cores < 1:
            raise ValueError(f"cores must be >= 1, got {cores}")
        self.env = env
        self.cores = cores
        self._remaining: dict[simpy.Event, float] = {}  # done event -> work left (ns of one dedicated core)
        self._since = env.now
        self._generation = 0  # a wake-up scheduled before the last change is stale

    @property
    def rate(self) -> float:
        """Work per ns each running job gets now."""
        return min(1.0, self.cores / len(self._remaining)) if self._remaining else 1.0

    def run(self, work_ns: int) -> simpy.Event:
        """An event that succeeds once ``work_ns`` of work is done on the shared cores."""
        if work_ns < 0:
            raise ValueError(f"work must be >= 0 ns, got {work_ns}")
        done = self.env.event()
        if work_ns == 0:
            return done.succeed()
        self._advance()
        self._remaining[done] = float(work_ns)
        self._schedule()
        return done

    def _advance(self) -> None:
        """Charge the time since the last change to every running job at the rate of that interval."""
        progress = (self.env.now - self._since) * self.rate
        for job in self._remaining:
            self._remaining[job] -= progress
        self._since = self.env.now

    def _schedule(self) -> None:
        self._generation += 1
        if self._remaining:
            wait = max(0, math.ceil(min(self._remaining.values()) / self.rate))
            self.env.process(self._wake(wait, self._generation))

    def _wake(self, wait_ns: int, generation: int) -> simpy.events.ProcessGenerator:
        yield self.env.timeout(wait_ns)
        if generation != self._generation:
            return
        self._advance()
        finished = [job for job, left in self._remaining.items() if left <= 1e-6]
        for job in finished:
            del self._remaining[job]
            job.succeed()
        self._schedule()
