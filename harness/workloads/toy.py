"""Scenario kind ``toy``: a template for new kinds and a smoke test of the harness machinery.
Simulates alpha-beta message transfers on one link; follows no paper.

It sends ``n_messages`` messages with exponentially distributed sizes (mean ``mean_size_bytes``) over the
scenario's inter-node link and reports each message's alpha-beta transfer time, ``latency + size / bandwidth``.
That is deliberately trivial physics: the kind exists to exercise loading, ``--set``, sweeps, the run store and
the executors end to end. ``sleep_ms`` makes each run take wall time, so tests can interrupt a sweep midway.

Copy this file to add a kind: a workload model (units in field names, help text on every field), a scenario
model narrowing ``kind`` to a ``Literal``, and a run function registered with ``@register_workload`` that
draws randomness only from ``ctx.seed_seq`` and returns tidy metrics without touching files.
"""

from __future__ import annotations

import time
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt

from harness.config.blocks import NetworkBlock, ScenarioBase, Strict
from harness.workloads.base import RunContext, RunOutput, register_workload

BITS_PER_BYTE = 8


class ToyWorkload(Strict):
    n_messages: PositiveInt = Field(
        8, le=10_000_000, description="how many messages to send (one metrics row each; at most 10 million)"
    )
    mean_size_bytes: PositiveFloat = Field(
        1e6, le=2**40, description="mean of the exponential message-size distribution (at most 1 TiB)"
    )
    sleep_ms: NonNegativeFloat = Field(
        0.0, le=600_000, description="wall time the run sleeps (to test interrupted sweeps; at most 10 minutes)"
    )


class ToyScenario(ScenarioBase, NetworkBlock):
    """Template kind: random message sizes over one link, alpha-beta transfer times."""

    kind: Literal["toy"] = "toy"
    workload: ToyWorkload = Field(default_factory=ToyWorkload)


def transfer_time_us(size_bytes: np.ndarray, bandwidth_gbps: float, latency_us: float) -> np.ndarray:
    """alpha-beta time of one message: latency + bits / bandwidth (1 Gbit/s = 1e3 bits per microsecond)."""
    return latency_us + size_bytes * BITS_PER_BYTE / (bandwidth_gbps * 1e3)


@register_workload("toy", ToyScenario)
def run(scenario: ToyScenario, ctx: RunContext) -> RunOutput:
    """Draw the message sizes from the run's seed and time each message on ``network.inter_node``."""
    workload = scenario.workload
    link = scenario.network.inter_node
    (sizes_seed,) = ctx.seed_seq.spawn(1)
    rng = np.random.default_rng(sizes_seed)
    size_bytes = np.ceil(rng.exponential(workload.mean_size_bytes, size=workload.n_messages)).astype(np.int64)
    if workload.sleep_ms > 0:
        time.sleep(workload.sleep_ms / 1e3)
    metrics = pd.DataFrame(
        {
            "message": np.arange(workload.n_messages),
            "size_bytes": size_bytes,
            "transfer_time_us": transfer_time_us(size_bytes, link.payload_gbps, link.latency_us),
        }
    )
    return RunOutput(metrics=metrics, info={"total_bytes": int(size_bytes.sum())})
