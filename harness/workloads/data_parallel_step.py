"""Scenario kind ``data_parallel_step``: training steps of a LLaMA-shaped model under data parallelism.

Every rank runs forward and backward of one micro-batch, then the gradients are all-reduced in DDP-style buckets
(filled in backward order, ``bucket_mb`` MiB each, as ``torch.nn.parallel.DistributedDataParallel``'s
``bucket_cap_mb``). With ``overlap`` a bucket's all-reduce starts as soon as backward has produced it; without,
all communication follows backward. The step engine is `harness.sim.dp_step` (closed-form or link-level
collectives, ``network.model``).

Compute per layer comes from the timing replay (`harness.timing.replay`): each GEMM of `harness.models.llama` is
one ``matmul`` prediction (times its batch count), each layer's memory-bound passes one ``copy`` prediction of
the same element count; shapes the tables do not cover fall back to the device roofline, and the count of
predictions by source goes to ``info["timing_sources"]``. Identical ranks take identical compute time (symmetry).
Not modelled: the optimizer step, data loading, kernel-launch gaps, and compute slowed by concurrent communication.

Example scenario: ``scenarios/dp_llama.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd
from pydantic import Field, PositiveFloat, PositiveInt, field_validator

from harness.config.blocks import ScenarioBase, Strict
from harness.errors import HarnessError
from harness.models.llama import LLAMA_PRESETS, LayerWork, LlamaDims, layer_work, resolve_model
from harness.sim.dp_step import simulate_dp_steps
from harness.sim.topology import Topology
from harness.sim.units import ms_to_ns
from harness.workloads.base import RunContext, RunOutput, register_workload

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
MIB = 1 << 20


class DataParallelWorkload(Strict):
    model: str | LlamaDims = Field(
        "llama-130m", description=f"preset ({', '.join(LLAMA_PRESETS)}) or explicit dims {{d_model, d_ff, ...}}"
    )
    micro_batch: PositiveInt = Field(4, description="sequences per rank per step")
    seq_len: PositiveInt = Field(256, description="tokens per sequence")
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        "bfloat16", description="compute and gradient dtype (gradients are all-reduced in this dtype)"
    )
    bucket_mb: PositiveFloat = Field(25.0, description="gradient bucket cap in MiB (DDP bucket_cap_mb)")
    overlap: bool = Field(True, description="start each bucket's all-reduce as soon as backward has produced it")
    n_steps: PositiveInt = Field(1, description="training steps to simulate (one metrics row each)")
    algorithm: Literal["ring", "tree"] = Field("ring", description="all-reduce algorithm")

    @field_validator("model")
    @classmethod
    def _known_preset(cls, model: str | LlamaDims) -> str | LlamaDims:
        if isinstance(model, str) and model not in LLAMA_PRESETS:
            raise ValueError(f"unknown model preset {model!r}; known: {', '.join(LLAMA_PRESETS)}")
        return model


class DataParallelScenario(ScenarioBase):
    """Data-parallel LLaMA-shaped training steps: replayed compute plus bucketed gradient all-reduce."""

    kind: Literal["data_parallel_step"] = "data_parallel_step"
    workload: DataParallelWorkload = Field(default_factory=DataParallelWorkload)


@dataclass(frozen=True)
class LayerTimes:
    """Per layer, in forward order: forward and backward compute (ns) and gradient size (bytes)."""

    names: tuple[str, ...]
    forward_ns: tuple[int, ...]
    backward_ns: tuple[int, ...]
    grad_bytes: tuple[int, ...]


def _pass_ms(replay, gemms, elementwise_numel: int, dtype: str) -> float:
    time_ms = 0.0
    for gemm in gemms:
        time_ms += gemm.count * replay.predict("matmul", dtype=dtype, m=gemm.m, n=gemm.n, k=gemm.k).time_ms
    if elementwise_numel > 0:
        time_ms += replay.predict("copy", dtype=dtype, numel=elementwise_numel).time_ms
    return time_ms


def layer_times(workload: DataParallelWorkload, replay) -> LayerTimes:
    """Forward/backward time of every layer from ``replay`` (a `TimingReplay`), rounded to whole ns."""
    if replay is None:
        raise HarnessError("data_parallel_step needs the timing replay (RunContext.timings); got None")
    dims = resolve_model(workload.model)
    layers: list[LayerWork] = layer_work(dims, workload.micro_batch, workload.seq_len)
    dtype = workload.dtype
    forward = [ms_to_ns(_pass_ms(replay, l.forward_gemms, l.forward_elementwise_numel, dtype)) for l in layers]
    backward = [ms_to_ns(_pass_ms(replay, l.backward_gemms, l.backward_elementwise_numel, dtype)) for l in layers]
    return LayerTimes(
        names=tuple(l.name for l in layers),
        forward_ns=tuple(forward),
        backward_ns=tuple(backward),
        grad_bytes=tuple(l.grad_bytes(DTYPE_BYTES[dtype]) for l in layers),
    )


@register_workload("data_parallel_step", DataParallelScenario)
def run(scenario: DataParallelScenario, ctx: RunContext) -> RunOutput:
    """Per step: step, step_time_ms, compute_ms, comm_ms, exposed_comm_ms, n_buckets; timing sources in info."""
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
    )
    metrics = pd.DataFrame(
        [
            {
                "step": i,
                "step_time_ms": r.step_time_ns / 1e6,
                "compute_ms": r.compute_ns / 1e6,
                "comm_ms": r.comm_ns / 1e6,
                "exposed_comm_ms": r.exposed_comm_ns / 1e6,
                "n_buckets": r.n_buckets,
            }
            for i, r in enumerate(records)
        ]
    )
    dims = resolve_model(w.model)
    info = {
        "timing_sources": ctx.timings.summary(),
        "timings": ctx.timings.info(),
        "n_ranks": topology.n_ranks,
        "model_dims": dims.model_dump(),
        "grad_bytes_total": int(sum(times.grad_bytes)),
        "forward_ms_per_layer": [t / 1e6 for t in times.forward_ns],
        "backward_ms_per_layer": [t / 1e6 for t in times.backward_ns],
    }
    return RunOutput(metrics=metrics, info=info)
