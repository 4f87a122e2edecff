"""Fixtures of the failure tests: a step pricer with fixed step times, so the policies and the macro simulation are
tested without timing tables."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from harness.failures.step_costs import StepPricer


@dataclass(frozen=True)
class _Setup:
    stages_min: int = 2
    stages_max: int = 4


@dataclass(frozen=True)
class _Topology:
    n_ranks: int


class FixedPricer:
    """Normal step 1 s; neighbour step 1 + 0.4 (k - 1) s; Bamboo 1.3 / 1.8 s; pipelines (m + s - 1) / s; Oobleck's
    pipeline sizes by the real rule."""

    def __init__(self, n: int = 8, tokens_per_step: int = 1000, state_bytes: int = 10**9):
        self.topology, self.setup = _Topology(n), _Setup()
        self.tokens_per_step, self.state_bytes = tokens_per_step, state_bytes

    def normal_step_s(self) -> float:
        return 1.0

    def neighbour_step_s(self, k: int) -> float:
        return 1.0 + 0.4 * (k - 1)

    def bamboo_step_s(self, fallback: bool) -> float:
        return 1.8 if fallback else 1.3

    def pipeline_sizes(self, devices: int) -> list[int]:
        """Oobleck's pipelines on ``devices`` as `StepPricer.pipeline_sizes` forms them (whole stages: 7 devices are
        pipelines of 4 and 3; the step time above spreads them evenly, 3.5 and 3.5)."""
        return StepPricer.pipeline_sizes(self, devices)

    def pipeline_step_s(self, devices: int) -> float:
        if devices < self.setup.stages_min:
            return math.inf
        pipes = math.ceil(devices / self.setup.stages_max)
        size = devices / pipes
        return (self.topology.n_ranks / pipes + size - 1) / size


@pytest.fixture(scope="module")
def pricer() -> FixedPricer:
    return FixedPricer()
