"""Failure processes: when components fail, for how long, and which devices go down with them.

Components are devices, nodes (a node failure takes its devices down) and optionally racks/switches (a rack takes
``nodes_per_rack`` nodes down). Each component is an alternating renewal process: up for a time drawn from its
inter-arrival distribution, then down for a repair time, then up again, so a component never fails while down.
Inter-arrival times are exponential or Weibull with the same mean (``scale = mean / Gamma(1 + 1/shape)``; LANL's
failure logs fit a Weibull with decreasing hazard, shape < 1: Schroeder & Gibson, DSN 2006). Repairs are fixed,
lognormal with the given mean (``mu = ln(mean) - sigma^2 / 2``; lognormal repairs: Schroeder & Gibson) or drawn
from an empirical CSV of durations. Stragglers are episodes of one device running ``slowdown`` times slower for
a while. All draws go through ``scipy.stats`` with one numpy Generator per component class.

Sampling is vectorised per component class (one array of next-failure times for all components), never one
process per device: a 16,384-device, 54-day horizon draws in milliseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
from scipy import stats

from harness.errors import ScenarioError

Distribution = Literal["exponential", "weibull"]
EventKind = Literal["fail", "straggle"]


@dataclass(frozen=True)
class Event:
    """One failure or straggler episode: ``devices`` are down (or slowed ``slowdown`` x) for ``duration_h``."""

    time_h: float
    component: str  # "device:<i>", "node:<i>", "rack:<i>"
    kind: EventKind
    duration_h: float
    devices: tuple[int, ...]
    slowdown: float = 1.0

    @property
    def end_h(self) -> float:
        return self.time_h + self.duration_h


@lru_cache(maxsize=256)
def _interarrival(distribution: str, mean_h: float, shape: float):
    if distribution == "exponential":
        return stats.expon(scale=mean_h)
    return stats.weibull_min(c=shape, scale=mean_h / math.gamma(1.0 + 1.0 / shape))


@lru_cache(maxsize=256)
def _lognormal(mean_h: float, sigma: float):
    """Lognormal with mean ``mean_h``: ``mu = ln(mean) - sigma^2 / 2``."""
    return stats.lognorm(s=sigma, scale=math.exp(math.log(mean_h) - sigma**2 / 2.0))


@dataclass(frozen=True)
class InterArrival:
    """Time between failures of one component: exponential or mean-matched Weibull (``shape``)."""

    mean_h: float
    distribution: Distribution = "exponential"
    shape: float = 1.0

    def __post_init__(self) -> None:
        if not (self.mean_h > 0 and math.isfinite(self.mean_h)):
            raise ValueError(f"mean_h must be > 0, got {self.mean_h}")
        if not self.shape > 0:
            raise ValueError(f"shape must be > 0, got {self.shape}")

    def frozen(self):
        """The scipy.stats distribution, mean ``mean_h`` either way."""
        return _interarrival(self.distribution, self.mean_h, self.shape)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.asarray(self.frozen().rvs(size=n, random_state=rng), dtype=float)


@dataclass(frozen=True)
class Repair:
    """Time a failed component stays down: ``fixed`` (``mean_h``), ``lognormal`` (mean ``mean_h``, log-sd
    ``sigma``) or ``empirical`` (drawn uniformly from ``samples_h``, e.g. read by `read_repair_csv`)."""

    mean_h: float
    kind: Literal["fixed", "lognormal", "empirical"] = "fixed"
    sigma: float = 1.0
    samples_h: tuple[float, ...] = ()

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.kind == "fixed":
            return np.full(n, float(self.mean_h))
        if self.kind == "lognormal":
            return np.asarray(_lognormal(self.mean_h, self.sigma).rvs(size=n, random_state=rng))
        values = np.asarray(self.samples_h, dtype=float)
        return values[rng.integers(0, len(values), size=n)]


def read_repair_csv(path: str | Path) -> tuple[float, ...]:
    """Repair durations (hours) from a CSV with one column ``duration_h``; errors name the file and line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise ScenarioError([f"{path}: cannot read repair CSV ({err.strerror or err})"]) from None
    try:
        lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ScenarioError([f"{path}:{line}: not UTF-8 text (byte 0x{raw[err.start]:02x})"]) from None
    if not lines or lines[0].strip() != "duration_h":
        raise ScenarioError([f"{path}:1: expected the header 'duration_h'"])
    values = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            value = float(line.strip())
        except ValueError:
            raise ScenarioError([f"{path}:{number}: duration_h: expected a number, got {line.strip()!r}"]) from None
        if not (value >= 0 and math.isfinite(value)):
            raise ScenarioError([f"{path}:{number}: duration_h: expected a number >= 0, got {value}"])
        values.append(value)
    if not values:
        raise ScenarioError([f"{path}: no repair durations"])
    return tuple(values)


@dataclass(frozen=True)
class ComponentClass:
    """``count`` identical components (``name`` = device/node/rack), each taking ``devices_of(i)`` down."""

    name: str
    count: int
    devices_per_component: int
    interarrival: InterArrival
    repair: Repair
    kind: EventKind = "fail"
    slowdown: float = 1.0
    subset: tuple[int, ...] | None = None  # only these components fail (asymmetric failures)

    def devices_of(self, index: int) -> tuple[int, ...]:
        start = index * self.devices_per_component
        return tuple(range(start, start + self.devices_per_component))


def renewal_events(component: ComponentClass, horizon_h: float, rng: np.random.Generator) -> list[Event]:
    """Every episode of every component of ``component`` starting before ``horizon_h``.

    Alternating renewal: next failure = end of the previous repair + a fresh inter-arrival draw. Vectorised over
    components. Episodes are clipped to end at the horizon at the latest.
    """
    indices = np.arange(component.count) if component.subset is None else np.asarray(component.subset, dtype=int)
    next_h = component.interarrival.sample(rng, len(indices))
    events: list[Event] = []
    while True:
        live = next_h < horizon_h
        if not live.any():
            break
        idx, starts = indices[live], next_h[live]
        durations = component.repair.sample(rng, len(idx))
        for i, start, duration in zip(idx.tolist(), starts.tolist(), durations.tolist(), strict=True):
            events.append(Event(start, f"{component.name}:{i}", component.kind, min(duration, horizon_h - start),
                                component.devices_of(i), component.slowdown))
        next_h = next_h[live] + durations + component.interarrival.sample(rng, len(idx))
        indices = idx
    return events


@dataclass(frozen=True)
class ClusterProcess:
    """Failures anywhere in a cluster of ``n_devices``: one arrival process for the whole cluster (mean
    ``interarrival.mean_h`` between two failures), each hitting a device drawn uniformly among those up (of
    ``subset`` when given); MeCeFO's Table 1 states its scenarios this way ("a failure every 0.5 h")."""

    n_devices: int
    interarrival: InterArrival
    repair: Repair
    subset: tuple[int, ...] | None = None
    kind: EventKind = "fail"


def cluster_events(process: ClusterProcess, horizon_h: float, rng: np.random.Generator) -> list[Event]:
    """The episodes of a `ClusterProcess` over ``[0, horizon_h)``; an arrival with every candidate down is skipped.

    Arrival gaps and repair times are drawn in blocks (one scipy call per block, not per failure)."""
    candidates = np.arange(process.n_devices) if process.subset is None else np.asarray(process.subset, dtype=int)
    up_again = np.zeros(len(candidates))  # time each candidate is up again
    events: list[Event] = []
    now, block = 0.0, 256
    while True:
        gaps = process.interarrival.sample(rng, block)
        repairs = process.repair.sample(rng, block)
        picks = rng.random(block)
        for gap, repair, u in zip(gaps.tolist(), repairs.tolist(), picks.tolist(), strict=True):
            now += gap
            if now >= horizon_h:
                return events
            up = np.flatnonzero(up_again <= now)
            if len(up) == 0:
                continue
            pick = int(up[min(int(u * len(up)), len(up) - 1)])
            duration = min(repair, horizon_h - now)
            up_again[pick] = now + duration
            device = int(candidates[pick])
            events.append(Event(now, f"device:{device}", process.kind, duration, (device,)))


def generate_events(classes: list[ComponentClass | ClusterProcess], horizon_h: float,
                    seed_seq: np.random.SeedSequence) -> list[Event]:
    """Events of every component class over ``[0, horizon_h)``, sorted by time; one child seed per class, so
    adding a class does not change the draws of the others."""
    events: list[Event] = []
    for component, child in zip(classes, seed_seq.spawn(len(classes)), strict=True):
        rng = np.random.default_rng(child)
        events += (cluster_events(component, horizon_h, rng) if isinstance(component, ClusterProcess)
                   else renewal_events(component, horizon_h, rng))
    return sorted(events, key=lambda e: (e.time_h, e.component))


def poisson_count_test(count: int, expected: float, false_alarm: float = 0.01) -> tuple[bool, float]:
    """Two-sided test of ``count`` against Poisson(``expected``) at false-alarm rate ``false_alarm``.

    Returns (accept, p-value) with p = 2 min(P[X <= count], P[X >= count]) capped at 1 (scipy.stats.poisson).
    """
    dist = stats.poisson(expected)
    p = min(1.0, 2.0 * min(dist.cdf(count), dist.sf(count - 1)))
    return p >= false_alarm, float(p)
