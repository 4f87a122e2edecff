"""Pipeline-parallel schedules as ordered (stage, micro-batch, phase) events, one list per stage.

- GPipe (Huang et al., "GPipe", arXiv 1811.06965; the schedule TAH-Quant and AQ-SGD run, ``--pp-mode gpipe``,
  research card B3): every stage runs all ``m`` forwards, then all ``m`` backwards, the last micro-batch's first
  (it is the first whose gradient is ready on the last stage).
- 1F1B (PipeDream-Flush: Narayanan et al., "Memory-Efficient Pipeline-Parallel DNN Training", arXiv 2006.09503):
  stage ``s`` of ``p`` runs ``min(p - s - 1, m)`` warm-up forwards, then alternates one forward and one backward,
  then drains the remaining backwards. At most ``p - s`` micro-batches are in flight on stage ``s``.

A stage runs its list in order; an event also waits for its input from the neighbour stage (forward from
``s - 1``, backward from ``s + 1``), which the simulator (``harness.workloads.pipeline_step``) adds.

Example::

    >>> [str(e) for e in one_f_one_b(2, 3).stage_events(0)]
    ['F0', 'F1', 'B0', 'F2', 'B1', 'B2']
    >>> gpipe(2, 3).peak_in_flight(0), one_f_one_b(2, 3).peak_in_flight(0)
    (3, 2)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Phase = Literal["F", "B"]
SCHEDULES = ("gpipe", "1f1b")


@dataclass(frozen=True)
class Event:
    stage: int
    micro_batch: int
    phase: Phase

    def __str__(self) -> str:
        return f"{self.phase}{self.micro_batch}"


@dataclass(frozen=True)
class Schedule:
    """``per_stage[s]``: stage s's events in execution order."""

    name: str
    n_stages: int
    n_micro_batches: int
    per_stage: tuple[tuple[Event, ...], ...]

    def stage_events(self, stage: int) -> tuple[Event, ...]:
        return self.per_stage[stage]

    @property
    def events(self) -> list[Event]:
        """Every event, stage by stage."""
        return [e for stage in self.per_stage for e in stage]

    def peak_in_flight(self, stage: int) -> int:
        """Most micro-batches forwarded but not yet backwarded on ``stage`` (activations it must keep)."""
        live = peak = 0
        for event in self.per_stage[stage]:
            live += 1 if event.phase == "F" else -1
            peak = max(peak, live)
        return peak


def _check(n_stages: int, n_micro_batches: int) -> None:
    if n_stages < 1 or n_micro_batches < 1:
        raise ValueError(f"need n_stages >= 1 and n_micro_batches >= 1, got {n_stages} and {n_micro_batches}")


def gpipe(n_stages: int, n_micro_batches: int) -> Schedule:
    """All forwards, then all backwards in reverse micro-batch order, on every stage."""
    _check(n_stages, n_micro_batches)
    m = n_micro_batches
    per_stage = tuple(
        tuple(Event(s, i, "F") for i in range(m)) + tuple(Event(s, i, "B") for i in reversed(range(m)))
        for s in range(n_stages)
    )
    return Schedule("gpipe", n_stages, m, per_stage)


def one_f_one_b(n_stages: int, n_micro_batches: int) -> Schedule:
    """PipeDream-Flush: warm-up forwards, steady one-forward-one-backward, drain."""
    _check(n_stages, n_micro_batches)
    m = n_micro_batches
    per_stage = []
    for s in range(n_stages):
        warm = min(n_stages - s - 1, m)
        events = [Event(s, i, "F") for i in range(warm)]
        next_f, next_b = warm, 0
        while next_f < m:
            events.append(Event(s, next_f, "F"))
            events.append(Event(s, next_b, "B"))
            next_f, next_b = next_f + 1, next_b + 1
        events += [Event(s, i, "B") for i in range(next_b, m)]
        per_stage.append(tuple(events))
    return Schedule("1f1b", n_stages, m, tuple(per_stage))


def make_schedule(name: str, n_stages: int, n_micro_batches: int) -> Schedule:
    """``gpipe`` or ``1f1b``."""
    if name == "gpipe":
        return gpipe(n_stages, n_micro_batches)
    if name == "1f1b":
        return one_f_one_b(n_stages, n_micro_batches)
    raise ValueError(f"unknown schedule {name!r}; known: {', '.join(SCHEDULES)}")
