"""Fault-tolerance policies for the macro simulation: what each does at a failure and a repair, and how fast it
trains in each configuration. Step times come from `harness.failures.step_costs` (priced op by op, cached).

Each policy answers three questions: its tokens/s in the current cluster state (`rate`), what a failure or a
repair costs (`Interruption`: a pause with no progress, and tokens of finished work thrown away), and how running
time turns into tokens (`produce`; checkpoint-restart loses time to checkpoint writes). Costs and their sources:

* ``failure_free``: the reference; failures do nothing.
* ``checkpoint_restart`` (TorchElastic/Megatron practice): a checkpoint of the model state (`StepPricer.state_bytes`)
  every interval ``tau``; writing takes ``delta = state / storage bandwidth`` with training stopped. ``tau`` is
  Young's ``sqrt(2 delta M)`` (Young, CACM 1974) or Daly's ``sqrt(2 delta M) - delta`` (Daly, FGCS 2006), ``M`` the
  job's mean time between failures. At a failure the whole job stops: detection + restart (default 20 min, the
  AIReSim default restart time) + reload of the checkpoint (same bandwidth); the work since the last finished
  checkpoint, or since the restart when none has finished since, is lost (never more than was produced, so a
  failure during a restart loses nothing more). The storage bandwidth (default 10 GB/s) is our assumption, not
  from a paper: set it per cluster. Failed devices are replaced by spares, so the job restarts at full size. Lost
  time per failure <= tau + delta + restart cost (a tested bound).
* ``bamboo`` (Thorpe et al., NSDI 2023): redundant computation always (the step of `StepPricer.bamboo_step_s`); a
  failed rank's predecessor takes over after detection and the job runs in fallback (its priced step) while any
  rank is down; a failure that leaves a rank and its predecessor down together loses the job, which restarts:
  global rendezvous timeout 30 s + new instance boot 45 s (constants of Bamboo's own simulator,
  ``project_pactum``); a recovered rank rejoins through a local rendezvous of 20 s (same source).
* ``oobleck`` (Jang et al., SOSP 2023): at a failure, after detection, pipelines are re-instantiated from
  templates on the surviving devices and the missing layers' states are copied from another replica (every device
  loads its new stage in parallel over the inter-node link, so one stage of the shortest new pipeline, 1/s of the
  state, sets the time; the bound takes s = ``stages_min``); the iteration in flight is redone (half a step of
  tokens lost on average, taken as exactly half). Work never done cannot be lost: iterations start afresh when
  the job resumes after a reconfiguration (at a failure or a repair; a repair's reconfiguration lets the iteration
  in flight finish), so a failure loses at most the tokens produced since the job last resumed: nothing during a
  pause (the iteration in flight then was thrown away at the failure that began it), and all of them when they
  are fewer than half a step. A recovered device is re-admitted with another reconfiguration (the same copy, for
  the pipelines the devices then form).
* ``mecefo`` (Hu et al., arXiv 2510.16415): after detection the failed rank's healthy ring neighbour runs both
  micro-batches in neighbour mode (`StepPricer.neighbour_step_s`; a neighbour serving several failed ranks runs
  them all); no data and no finished work is lost. A recovered rank copies weights and optimizer state from a
  peer over the inter-node link before it rejoins (training paused meanwhile).

``detect_s`` (default 30 s, the rendezvous timeout of Bamboo's simulator: how long a group waits before it
declares a member gone) is charged by every policy at every failure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from harness.failures.step_costs import StepPricer


@dataclass(frozen=True)
class Interruption:
    """What a failure or repair costs: ``pause_s`` without progress and ``lost_tokens`` of finished work."""

    pause_s: float = 0.0
    lost_tokens: float = 0.0


@dataclass
class ClusterState:
    """Devices down (count of overlapping outages per device) and straggler slowdowns per device."""

    n: int
    down: np.ndarray = field(init=False)
    slow: dict[int, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.down = np.zeros(self.n, dtype=np.int32)

    def down_set(self) -> tuple[int, ...]:
        return tuple(np.flatnonzero(self.down).tolist())

    @property
    def n_up(self) -> int:
        return int(self.n - np.count_nonzero(self.down))

    def slowdown(self) -> float:
        """The slowest up device's factor (synchronous training waits for it); 1 when none straggles."""
        factors = [max(v) for d, v in self.slow.items() if v and not self.down[d]]
        return max(factors, default=1.0)


@dataclass(frozen=True)
class PolicyCosts:
    """Costs shared by the policies (seconds, bytes per second)."""

    detect_s: float = 30.0
    restart_s: float = 20 * 60.0
    storage_bytes_per_s: float = 10e9
    network_bytes_per_s: float = 25e9
    interval_rule: str = "young"
    interval_s: float | None = None
    job_mtbf_s: float = math.inf
    bamboo_fatal_s: float = 30.0 + 45.0
    bamboo_rejoin_s: float = 20.0


class Policy:
    """Base: full speed always, failures cost nothing (the failure-free reference)."""

    name = "failure_free"

    def __init__(self, pricer: StepPricer, costs: PolicyCosts):
        self.pricer, self.costs = pricer, costs
        self.tokens_per_step = pricer.tokens_per_step

    def reset(self) -> None:
        """Forget run state (called before every simulation)."""

    def reference_rate(self) -> float:
        """Tokens/s of this policy with every device up."""
        return self.tokens_per_step / self.pricer.normal_step_s()

    def rate(self, state: ClusterState) -> float:
        return self.reference_rate()

    def produce(self, seconds: float, rate: float) -> float:
        return rate * seconds

    def on_failure(self, state: ClusterState, new_down: tuple[int, ...]) -> Interruption:
        return Interruption()

    def on_repair(self, state: ClusterState, back_up: tuple[int, ...]) -> Interruption:
        return Interruption()

    def bound_s(self) -> float:
        """Documented bound on time lost per failure (pause + lost work at reference speed)."""
        return 0.0


class CheckpointRestart(Policy):
    name = "checkpoint_restart"

    def __init__(self, pricer: StepPricer, costs: PolicyCosts):
        super().__init__(pricer, costs)
        self.write_s = pricer.state_bytes / costs.storage_bytes_per_s
        self.interval_s = costs.interval_s or self.optimal_interval(self.write_s, costs.job_mtbf_s, costs.interval_rule)
        self.reset()

    @staticmethod
    def optimal_interval(write_s: float, mtbf_s: float, rule: str) -> float:
        """Young: sqrt(2 delta M); Daly: sqrt(2 delta M) - delta (for delta < 2M; else M). Infinite M -> inf."""
        if not math.isfinite(mtbf_s):
            return math.inf
        young = math.sqrt(2.0 * write_s * mtbf_s)
        if rule == "young":
            return young
        return young - write_s if write_s < 2.0 * mtbf_s else mtbf_s

    def reset(self) -> None:
        self.phase_s = 0.0  # running time into the current (compute interval + write) cycle
        self.unsaved_tokens = 0.0

    #: whole (compute + write) cycles `produce` steps through one by one before it jumps the rest with one product
    #: (a tiny write time and interval, e.g. a tiny model on fast storage, would otherwise loop once per cycle:
    #: ~10^9 times for a 1 us cycle over 10 min); no shipped scenario comes near, so their sums are unchanged
    STEP_CYCLES = 10_000

    def produce(self, seconds: float, rate: float) -> float:
        """Compute for ``interval_s``, then write ``write_s``; a finished write saves the tokens before it."""
        produced, left = 0.0, seconds
        cycle = self.interval_s + self.write_s
        stepped = 0
        while left > 0:
            stepped += 1
            if stepped > 2 * self.STEP_CYCLES and self.phase_s == 0.0 and left > 2 * cycle:
                # at a cycle boundary (nothing unsaved): jump all whole cycles but the last, which the loop steps
                whole = left // cycle - 1
                if whole < 2**53:
                    produced += rate * self.interval_s * whole
                    left -= whole * cycle
                else:  # more cycles than a float counts: the fluid share of compute time
                    produced += rate * left * (self.interval_s / cycle)
                    break
            if self.phase_s < self.interval_s:
                run = min(left, self.interval_s - self.phase_s)
                produced += rate * run
                self.unsaved_tokens += rate * run
            else:
                run = min(left, cycle - self.phase_s)
            self.phase_s += run
            left -= run
            if self.phase_s >= cycle:
                self.phase_s, self.unsaved_tokens = 0.0, 0.0
            if not math.isfinite(run):
                break
        return produced

    def on_failure(self, state: ClusterState, new_down: tuple[int, ...]) -> Interruption:
        lost = self.unsaved_tokens
        self.reset()
        reload_s = self.write_s
        return Interruption(self.costs.detect_s + self.costs.restart_s + reload_s, lost)

    def bound_s(self) -> float:
        """NaN when no checkpoint is ever written (an infinite job MTBF: nothing fails, nothing to bound)."""
        if not math.isfinite(self.interval_s):
            return math.nan
        return self.interval_s + self.write_s + self.costs.detect_s + self.costs.restart_s + self.write_s


class Bamboo(Policy):
    name = "bamboo"

    def reset(self) -> None:
        self.fatal = False

    def reference_rate(self) -> float:
        return self.tokens_per_step / self.pricer.bamboo_step_s(fallback=False)

    @staticmethod
    def _fatal(state: ClusterState, new_down: tuple[int, ...]) -> bool:
        """This failure leaves a rank and its predecessor down together (one of the two newly down); a pair that
        is still down from an earlier failure has already cost its restart."""
        return any(state.down[(d - 1) % state.n] or state.down[(d + 1) % state.n] for d in new_down)

    def rate(self, state: ClusterState) -> float:
        if state.n_up == state.n:
            return self.reference_rate()
        return self.tokens_per_step / self.pricer.bamboo_step_s(fallback=True)

    def on_failure(self, state: ClusterState, new_down: tuple[int, ...]) -> Interruption:
        if self._fatal(state, new_down):
            return Interruption(self.costs.detect_s + self.costs.bamboo_fatal_s)
        return Interruption(self.costs.detect_s)

    def on_repair(self, state: ClusterState, back_up: tuple[int, ...]) -> Interruption:
        return Interruption(self.costs.bamboo_rejoin_s)

    def bound_s(self) -> float:
        return self.costs.detect_s + self.costs.bamboo_fatal_s


class Oobleck(Policy):
    name = "oobleck"

    def __init__(self, pricer: StepPricer, costs: PolicyCosts):
        super().__init__(pricer, costs)
        self.reset()

    def reset(self) -> None:
        self.since_resume_tokens = 0.0  # tokens produced since the job last resumed (the most a failure can lose)

    def produce(self, seconds: float, rate: float) -> float:
        produced = rate * seconds
        self.since_resume_tokens += produced
        return produced

    def reference_rate(self) -> float:
        return self.tokens_per_step / self.pricer.pipeline_step_s(self.pricer.topology.n_ranks)

    def rate(self, state: ClusterState) -> float:
        step = self.pricer.pipeline_step_s(state.n_up)
        return 0.0 if not math.isfinite(step) else self.tokens_per_step / step

    def _copy_s(self, stages: int) -> float:
        """Copying one stage's share (1/``stages``) of the training state from a replica at the network rate."""
        return self.pricer.state_bytes / stages / self.costs.network_bytes_per_s

    def _reconfigure_s(self, devices: int) -> float:
        """Re-forming the pipelines on ``devices``: every device loads its new stage in parallel, so the shortest
        pipeline (the largest stages) sets the time."""
        return self._copy_s(min(self.pricer.pipeline_sizes(devices), default=self.pricer.setup.stages_min))

    def on_failure(self, state: ClusterState, new_down: tuple[int, ...]) -> Interruption:
        """Half a step of the iteration in flight is redone, but never more than was produced since the job last
        resumed (a failure during a pause, or right after one, finds less or nothing in flight)."""
        lost = min(0.5 * self.tokens_per_step, self.since_resume_tokens)
        self.since_resume_tokens = 0.0
        return Interruption(self.costs.detect_s + self._reconfigure_s(state.n_up), lost)

    def on_repair(self, state: ClusterState, back_up: tuple[int, ...]) -> Interruption:
        self.since_resume_tokens = 0.0
        return Interruption(self._reconfigure_s(state.n_up))

    def bound_s(self) -> float:
        step_s = self.pricer.pipeline_step_s(self.pricer.topology.n_ranks)
        return self.costs.detect_s + self._copy_s(self.pricer.setup.stages_min) + 0.5 * step_s


def neighbour_load(down: np.ndarray) -> int:
    """Micro-batches of the busiest healthy rank when every down rank hands its micro-batch to the next healthy
    rank of the ring (0 when no rank is up)."""
    n = len(down)
    up = np.flatnonzero(down == 0)
    if len(up) == 0:
        return 0
    # the down ranks between two consecutive healthy ranks all go to the later one
    gaps = np.diff(np.concatenate([up, [up[0] + n]])) - 1
    return 1 + int(gaps.max())


class MeCeFO(Policy):
    name = "mecefo"

    def rate(self, state: ClusterState) -> float:
        load = neighbour_load(state.down)
        return 0.0 if load == 0 else self.tokens_per_step / self.pricer.neighbour_step_s(load)

    def on_failure(self, state: ClusterState, new_down: tuple[int, ...]) -> Interruption:
        return Interruption(self.costs.detect_s)

    def on_repair(self, state: ClusterState, back_up: tuple[int, ...]) -> Interruption:
        return Interruption(self.pricer.state_bytes / self.costs.network_bytes_per_s)

    def bound_s(self) -> float:
        return self.costs.detect_s


POLICIES: dict[str, type[Policy]] = {cls.name: cls for cls in (Policy, CheckpointRestart, Bamboo, Oobleck, MeCeFO)}
