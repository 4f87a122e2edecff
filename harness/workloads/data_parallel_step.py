"""Scenario kind ``data_parallel_step``: training steps of a LLaMA-shaped model under data parallelism.
Simulates step time with PyTorch DDP's bucketing (Li et al., VLDB 2020) on GaLore's LLaMA shapes; a harness kind,
not one paper's experiment.

Every rank runs forward and backward of one micro-batch, then the gradients are all-reduced in DDP-style buckets
(filled in backward order, ``bucket_mb`` MiB each, as ``torch.nn.parallel.DistributedDataParallel``'s
``bucket_cap_mb``), then the optimizer steps. With ``overlap`` a bucket's all-reduce starts as soon as backward
has produced it; without, all communication follows backward. The step engine is `harness.sim.dp_step`
(closed-form or link-level collectives, ``network.model``); on the closed-form model, measured collective tables
of the scenario's table set price the all-reduces where they cover the rank count (`harness.timing.collective_tables`).
The steps are identical, so the engine simulates the steady one once and repeats its record for the rest of
``n_steps`` (``repeat_steady``: exact, the rows those of simulating every step; 10^6 steps in seconds).

Compute is priced op by op (`harness.cost.training_step`): per layer the ops a real PyTorch LLaMA step runs
(embedding gather, RMSNorm, q/k/v/o GEMMs, rotary, flash-style attention, residual adds, SwiGLU GEMMs and
activation, final norm, LM head, cross-entropy, the backward of each, gradient accumulation), and after the
all-reduce the optimizer step (``optimizer``), each one timing-replay prediction in the scenario's dtype
(exact -> interpolated -> roofline, counted by source in ``info["timing_sources"]``), plus the device's
dispatch gap per kernel launch. Identical ranks take identical compute time (symmetry). Not modelled: data
loading, and compute slowed by concurrent communication.

Example scenario: ``scenarios/dp_llama.yaml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd
from pydantic import Field, PositiveFloat, PositiveInt, field_validator

from harness.config.blocks import ClusterScenario, Strict
from harness.cost.training_step import LayerOps, layer_ops, optimizer_ops, price
from harness.errors import HarnessError
from harness.models.llama import LLAMA_PRESETS, LlamaModel, resolve_model
from harness.sim.dp_step import simulate_dp_steps
from harness.sim.topology import Topology
from harness.sim.units import ms_to_ns
from harness.workloads.base import RunContext, RunOutput, register_workload

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
MIB = 1 << 20
#: sequences per rank per step (2**16: far above any real micro-batch; the kinds built on this workload share it)
MAX_MICRO_BATCH = 65536
#: the smallest bucket cap, MiB: one byte. The cap is whole bytes (``int(bucket_mb * 2**20)``, as DDP's
#: ``bucket_cap_mb``); any cap below the smallest layer's gradient already gives one bucket per layer
MIN_BUCKET_MB = 1 / MIB


def check_bucket_mb(value: float) -> float:
    """A ``bucket_mb`` of at least one byte (`MIN_BUCKET_MB`); every kind with a bucket cap validates it so."""
    if value < MIN_BUCKET_MB:
        raise ValueError("expected a number >= 2**-20 (9.54e-07 MiB = 1 byte: the cap is whole bytes)")
    return value


class DataParallelWorkload(Strict):
    model: LlamaModel = Field(
        "llama-130m", description=f"preset ({', '.join(LLAMA_PRESETS)}) or explicit dims {{d_model, d_ff, ...}}"
    )
    micro_batch: PositiveInt = Field(4, le=MAX_MICRO_BATCH, description="sequences per rank per step")
    seq_len: PositiveInt = Field(256, le=1 << 20, description="tokens per sequence")
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        "bfloat16", description="compute and gradient dtype (gradients are all-reduced in this dtype)"
    )
    bucket_mb: PositiveFloat = Field(
        25.0, le=1e6,
        description="gradient bucket cap in MiB (DDP bucket_cap_mb); at least 2**-20 MiB = 1 byte, the cap being "
        "whole bytes (a cap below the smallest layer's gradient already gives one bucket per layer)",
    )
    overlap: bool = Field(True, description="start each bucket's all-reduce as soon as backward has produced it")
    n_steps: PositiveInt = Field(1, le=1_000_000, description="training steps to simulate (one metrics row each)")
    algorithm: Literal["ring", "tree"] = Field("ring", description="all-reduce algorithm")
    optimizer: Literal["adamw", "adamw_fused", "sgd_momentum", "none"] = Field(
        "adamw", description="optimizer step after the all-reduce: adamw (the LLaMA/GaLore recipe, as torch.optim "
        "runs it by default: for-loop on CPU, foreach on GPUs), adamw_fused (fused=True), sgd_momentum "
        "(torch.optim.SGD, momentum 0.9, default implementation) or none"
    )

    @field_validator("bucket_mb")
    @classmethod
    def _at_least_a_byte(cls, value: float) -> float:
        return check_bucket_mb(value)


class DataParallelScenario(ClusterScenario):
    """Data-parallel LLaMA-shaped training steps: replayed compute plus bucketed gradient all-reduce."""

    kind: Literal["data_parallel_step"] = "data_parallel_step"
    workload: DataParallelWorkload = Field(default_factory=DataParallelWorkload)


@dataclass(frozen=True)
class LayerTimes:
    """Per layer, in forward order: forward and backward compute (ns) and gradient size (bytes); then the
    optimizer step (ns), the kernel launches of the whole step and its predicted time per op (ms)."""

    names: tuple[str, ...]
    forward_ns: tuple[int, ...]
    backward_ns: tuple[int, ...]
    grad_bytes: tuple[int, ...]
    optimizer_ns: int = 0
    n_launches: int = 0
    by_op_ms: Mapping[str, float] = field(default_factory=dict)


def layer_times(workload: DataParallelWorkload, replay) -> LayerTimes:
    """Forward/backward time of every layer and the optimizer step from ``replay`` (a `TimingReplay`), in ns."""
    if replay is None:
        raise HarnessError("data_parallel_step needs the timing replay (RunContext.timings); got None")
    dims = resolve_model(workload.model)
    layers: list[LayerOps] = layer_ops(dims, workload.micro_batch, workload.seq_len, replay.device.name)
    dtype = workload.dtype
    passes = [(price(l.forward, replay, dtype), price(l.backward, replay, dtype)) for l in layers]
    optimizer = price(optimizer_ops(dims, workload.optimizer, replay.device.name), replay, dtype)
    by_op: dict[str, float] = {}
    for part in [p for pair in passes for p in pair] + [optimizer]:
        for op, ms in part.by_op_ms.items():
            by_op[op] = by_op.get(op, 0.0) + ms
    return LayerTimes(
        names=tuple(l.name for l in layers),
        forward_ns=tuple(ms_to_ns(f.time_ms) for f, _ in passes),
        backward_ns=tuple(ms_to_ns(b.time_ms) for _, b in passes),
        grad_bytes=tuple(l.n_params * DTYPE_BYTES[dtype] for l in layers),
        optimizer_ns=ms_to_ns(optimizer.time_ms),
        n_launches=sum(f.n_launches + b.n_launches for f, b in passes) + optimizer.n_launches,
        by_op_ms=dict(sorted(by_op.items())),
    )


@register_workload("data_parallel_step", DataParallelScenario)
def run(scenario: DataParallelScenario, ctx: RunContext) -> RunOutput:
    """Per step: step, step_time_ms, compute_ms (forward + backward + optimizer), comm_ms, exposed_comm_ms,
    optimizer_ms, n_buckets; timing sources in info. The optimizer runs after the last all-reduce."""
    w = scenario.workload
    times = layer_times(w, ctx.timings)
    topology = Topology.from_config(scenario.cluster, scenario.network)
    records = simulate_dp_steps(
        forward_ns=list(times.forward_ns),
        backward_ns=list(times.backward_ns),
        grad_bytes=list(times.grad_bytes),
        bucket_cap_bytes=int(w.bucket_mb * MIB),
        topology=topology,
        algorithm=w.algorithm,
        overlap=w.overlap,
        model=scenario.network.model,
        n_steps=w.n_steps,
        repeat_steady=True,  # identical steps: the steady one is simulated once (exact; harness.sim.dp_step)
    )
    optimizer_ns = times.optimizer_ns
    metrics = pd.DataFrame({
        "step": range(len(records)),
        "step_time_ms": [(r.step_time_ns + optimizer_ns) / 1e6 for r in records],
        "compute_ms": [(r.compute_ns + optimizer_ns) / 1e6 for r in records],
        "comm_ms": [r.comm_ns / 1e6 for r in records],
        "exposed_comm_ms": [r.exposed_comm_ns / 1e6 for r in records],
        "optimizer_ms": optimizer_ns / 1e6,
        "n_buckets": [r.n_buckets for r in records],
    })
    dims = resolve_model(w.model)
    info = {
        "timing_sources": ctx.timings.summary(),
        "timings": ctx.timings.info(),
        "n_ranks": topology.n_ranks,
        "model_dims": dims.model_dump(),
        "grad_bytes_total": int(sum(times.grad_bytes)),
        "forward_ms_per_layer": [t / 1e6 for t in times.forward_ns],
        "backward_ms_per_layer": [t / 1e6 for t in times.backward_ns],
        "optimizer": w.optimizer,
        "optimizer_ms": optimizer_ns / 1e6,
        "n_kernel_launches": times.n_launches,
        "compute_ms_by_op": times.by_op_ms,
    }
    return RunOutput(metrics=metrics, info=info)
