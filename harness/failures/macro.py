"""Macro simulation: jump from event to event (failure, repair, straggler start/end) over a long horizon.

Between two events the cluster state does not change, so the policy's tokens/s for that state (from step times
priced once per configuration and cached, `harness.failures.step_costs`) turns the interval into tokens in one
step; no per-iteration loop and no per-device process (the approach of AIReSim's coordinator and Bamboo's
simulator: an event heap, step times per configuration). At each failure/repair the policy returns a pause (no
progress; a new failure during a pause restarts it from that moment if longer) and the finished work it throws away
(at most the tokens produced so far: work never done cannot be lost, so tokens/s >= 0 and the drop <= 100 %).

Per failure (an event that takes at least one new device down) a timeline row records what it cost; a repair
that brings devices back is a row too. `simulate` returns totals: tokens, tokens/s, time paused and in degraded
mode (running below the policy's failure-free speed), lost work, time to a token target, the timeline, and the
drop vs the failure-free speed, from the shortfall summed as it happens (exactly 0 for a run that never falls short).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from harness.failures.policies import ClusterState, Interruption, Policy
from harness.failures.processes import Event

HOUR = 3600.0


@dataclass
class MacroResult:
    """Totals of one policy over one event list, and the per-event timeline (list of dict rows)."""

    policy: str
    horizon_s: float
    tokens: float
    reference_tokens_per_s: float
    paused_s: float
    degraded_s: float
    lost_tokens: float
    n_failures: int
    n_repairs: int
    lost_per_failure_s: list[float]
    time_to_target_s: float
    timeline: list[dict] = field(default_factory=list)
    #: tokens short of running at the reference speed for the whole horizon: paused time, time below the
    #: reference speed and lost work, summed as they happen (so a run that never falls short has exactly 0)
    shortfall_tokens: float = 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.horizon_s

    @property
    def drop_pct(self) -> float:
        """Throughput lost vs the reference, percent: the shortfall over the reference's tokens, not the difference
        of two separately summed totals (whose rounding gave the failure-free policy -2e-14 % instead of 0). At most
        100 (no tokens left); the cap only absorbs the rounding of the summed pauses of a run paused throughout."""
        return min(100.0, 100.0 * self.shortfall_tokens / (self.reference_tokens_per_s * self.horizon_s))


def transitions(events: list[Event], horizon_s: float) -> list[tuple[float, int, Event]]:
    """(time s, +1 start / -1 end, event), sorted by time; at equal times ends come before starts, except the end
    of a zero-length episode, which follows its own start."""
    items = []
    for e in events:
        start = e.time_h * HOUR
        end = max(start, e.end_h * HOUR)
        items.append((start, 1, +1, e))
        if end < horizon_s:
            items.append((end, 2 if end == start else 0, -1, e))
    items.sort(key=lambda item: (item[0], item[1]))
    return [(time_s, sign, e) for time_s, _, sign, e in items]


def _apply(state: ClusterState, sign: int, event: Event) -> tuple[int, ...]:
    """Apply one start/end; returns the devices whose up/down status changed (empty for stragglers)."""
    changed = []
    for d in event.devices:
        if event.kind == "straggle":
            factors = state.slow.setdefault(d, [])
            factors.append(event.slowdown) if sign > 0 else factors.remove(event.slowdown)
            continue
        before = state.down[d]
        state.down[d] += sign
        if (before == 0) != (state.down[d] == 0):
            changed.append(d)
    return tuple(changed)


def simulate(events: list[Event], policy: Policy, n_devices: int, horizon_h: float,
             target_tokens: float | None = None, timeline: bool = True) -> MacroResult:
    """Run ``policy`` through ``events`` over ``horizon_h`` hours on ``n_devices`` devices."""
    horizon_s = horizon_h * HOUR
    state = ClusterState(n_devices)
    policy.reset()
    reference = policy.reference_rate()
    if not (0.0 < reference < math.inf):
        # every loss is also reported in seconds at this speed, and the drop is relative to it
        raise ValueError(f"policy {policy.name} has no positive failure-free speed on {n_devices} devices "
                         f"({reference} tokens/s)")
    tokens = paused = degraded = lost_total = shortfall = 0.0
    busy_until, now = 0.0, 0.0
    rate = policy.rate(state) / state.slowdown()
    n_failures = n_repairs = 0
    lost_per_failure: list[float] = []
    rows: list[dict] = []
    time_to_target = math.nan

    def advance(until: float) -> None:
        nonlocal tokens, paused, degraded, shortfall, now, time_to_target
        start = max(now, busy_until)
        pause = max(0.0, min(until, busy_until) - now)
        paused += pause
        shortfall += reference * pause
        running = max(0.0, until - start)
        if running > 0:
            before = tokens
            produced = policy.produce(running, rate)
            tokens += produced
            shortfall += reference * running - produced
            if rate < reference * (1 - 1e-12):
                degraded += running
            if target_tokens is not None and math.isnan(time_to_target) and before < target_tokens <= tokens:
                time_to_target = start + (target_tokens - before) / (tokens - before) * running
        now = until

    for time_s, sign, event in transitions(events, horizon_s):
        advance(time_s)
        changed = _apply(state, sign, event)
        cost = Interruption()
        if changed and sign > 0:
            n_failures += 1
            cost = policy.on_failure(state, changed)
            lost_per_failure.append(cost.pause_s + min(cost.lost_tokens, tokens) / reference)
        elif changed:
            n_repairs += 1
            cost = policy.on_repair(state, changed)
        # work never done cannot be lost: the policies lose only what they produced, and this keeps tokens >= 0
        # whatever a policy claims (and through rounding)
        lost = min(cost.lost_tokens, tokens)
        if lost != cost.lost_tokens:
            cost = Interruption(cost.pause_s, lost)
        tokens -= lost
        lost_total += lost
        shortfall += lost
        busy_until = max(busy_until, time_s + cost.pause_s)
        rate = policy.rate(state) / state.slowdown()
        if timeline and (changed or event.kind == "straggle"):
            rows.append({"time_h": time_s / HOUR, "event": ("start" if sign > 0 else "end") + f"_{event.kind}",
                         "component": event.component, "devices_down": int(len(state.down_set())),
                         "pause_s": cost.pause_s, "lost_tokens": cost.lost_tokens, "tokens_per_s": rate})
    advance(horizon_s)
    return MacroResult(policy.name, horizon_s, tokens, reference, paused, degraded, lost_total, n_failures, n_repairs,
                       lost_per_failure, time_to_target, rows, shortfall_tokens=shortfall)
