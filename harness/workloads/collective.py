"""Scenario kind ``collective``: one collective of ``size_bytes`` over every rank of the cluster.
Simulates its time with the alpha-beta cost model of Thakur, Rabenseifner & Gropp (2005) or link by link, and
reports bandwidths as nccl-tests does; a harness kind, not one paper's experiment.

The time comes from `harness.sim`: ``network.model: closed_form`` evaluates the alpha-beta closed form over the
topology (`topology_collective_ns`), ``link_level`` runs the link-level SimPy simulation
(`simulate_collective_ns`); with nothing else on the links the two agree exactly. When the scenario's table set
has measured collective tables (``results/timings/<table_set>/collectives/<op>.csv``), the closed-form model
takes the collective's time from them where they have rows for the op and rank count (exact size, else
interpolated, else a startup + bus bandwidth fit to the table), counted in run.json's ``collective_sources``
(`harness.timing.collective_tables`); the link-level model always simulates the links.

Bandwidths follow nccl-tests (``doc/PERFORMANCE.md``): ``algbw = size / time`` and ``busbw = algbw * factor``
with factor ``2(n-1)/n`` for all-reduce, ``(n-1)/n`` for reduce-scatter and all-gather, 1 for broadcast and
point-to-point. busbw is comparable with the link bandwidth whatever the rank count. ``size_bytes`` is the full
buffer of one rank (the reduce-scatter input, the all-gather output), the nccl-tests convention.
Differences from nccl-tests: bandwidths are in gigaBITS per second (``_gbps``, the project's unit, so they compare
directly with ``network.*.bandwidth_gbps``; nccl-tests prints GB/s = our value / 8), and one rank reports time 0
and bandwidths 0 (nothing crosses a link; no NaN) instead of timing a local copy.

Example scenario: ``scenarios/collective_ring.yaml``.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd
from pydantic import Field, PositiveInt, model_validator

from harness.config.blocks import ClusterScenario, Strict
from harness.sim.collective_sim import simulate_collective_ns
from harness.sim.collectives import check_op_algorithm
from harness.sim.topology import Topology, topology_collective_ns
from harness.sim.units import check_time_ns
from harness.workloads.base import RunContext, RunOutput, register_workload

CollectiveOp = Literal["all_reduce", "reduce_scatter", "all_gather", "broadcast", "p2p"]
BITS_PER_BYTE = 8
ELEMENT_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


class CollectiveWorkload(Strict):
    op: CollectiveOp = Field("all_reduce", description="which collective")
    algorithm: Literal["ring", "tree"] = Field("ring", description="collective algorithm")
    size_bytes: PositiveInt = Field(
        le=2**50, description="buffer size of one rank in bytes, at least one element of dtype (sweep it to vary "
        "the size; at most 1 PiB)"
    )
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        "float32", description="element type (the time depends on bytes only; size_bytes holds at least one)"
    )

    @model_validator(mode="after")
    def _supported(self) -> CollectiveWorkload:
        check_op_algorithm(self.op, self.algorithm)  # e.g. reduce_scatter has no tree form: ValueError
        element = ELEMENT_BYTES[self.dtype]
        if self.size_bytes < element:
            raise ValueError(f"size_bytes: expected at least {element} bytes (one {self.dtype} element), "
                             f"got {self.size_bytes}")
        return self


class CollectiveScenario(ClusterScenario):
    """One collective over every rank: time, algbw and busbw (alpha-beta closed form or link-level SimPy)."""

    kind: Literal["collective"] = "collective"
    workload: CollectiveWorkload


def bus_factor(op: str, n_ranks: int) -> float:
    """nccl-tests' busbw / algbw factor for ``op`` over ``n_ranks``."""
    if op == "all_reduce":
        return 2.0 * (n_ranks - 1) / n_ranks
    if op in ("reduce_scatter", "all_gather"):
        return (n_ranks - 1) / n_ranks
    if op in ("broadcast", "p2p"):
        return 1.0
    raise ValueError(f"unknown collective {op!r}; known: all_reduce, reduce_scatter, all_gather, broadcast, p2p")


def collective_time_ns(scenario: CollectiveScenario) -> tuple[int, int]:
    """``(time_ns, n_ranks)`` of the scenario's collective, by the model ``network.model`` names."""
    topology = Topology.from_config(scenario.cluster, scenario.network)
    w = scenario.workload
    timer = simulate_collective_ns if scenario.network.model == "link_level" else topology_collective_ns
    time_ns = check_time_ns(
        int(timer(w.op, w.algorithm, w.size_bytes, topology)),
        f"workload.size_bytes: the {w.op} of {w.size_bytes} bytes over {topology.n_ranks} ranks",
        "raise network.*.bandwidth_gbps or lower workload.size_bytes",
    )
    return time_ns, topology.n_ranks


@register_workload("collective", CollectiveScenario)
def run(scenario: CollectiveScenario, ctx: RunContext) -> RunOutput:
    """One metrics row: op, algorithm, n_ranks, size_bytes, dtype, time_ns (exact), time_us, algbw_gbps, busbw_gbps,
    and the network model that produced it."""
    w = scenario.workload
    time_ns, n_ranks = collective_time_ns(scenario)
    if time_ns > 0:
        algbw_gbps = w.size_bytes * BITS_PER_BYTE / time_ns  # bits per ns = Gbit/s
        busbw_gbps = algbw_gbps * bus_factor(w.op, n_ranks)
    else:  # one rank: nothing crosses a link
        algbw_gbps = busbw_gbps = 0.0
    metrics = pd.DataFrame(
        [
            {
                "op": w.op,
                "algorithm": w.algorithm,
                "n_ranks": n_ranks,
                "size_bytes": w.size_bytes,
                "dtype": w.dtype,
                "time_ns": time_ns,
                "time_us": time_ns / 1e3,
                "algbw_gbps": algbw_gbps,
                "busbw_gbps": busbw_gbps,
                "model": scenario.network.model,
            }
        ]
    )
    # no compute timing table is consulted; measured collective tables, if any, are counted by the executor
    return RunOutput(metrics=metrics, info={"timing_sources": {}, "collective_model": scenario.network.model})
