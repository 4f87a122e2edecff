"""Scenario kind ``compressed_dp_step``: simulated seconds per data-parallel step with gradient compression.
Follows the step-time experiments of ARC-Top-K (arXiv 2510.26709) and GreedyLore (arXiv 2507.08784): their
compressors' real payloads and compute, on a simulated cluster.

Per step and rank (all ranks identical, simulated once by symmetry):

- **compute**: forward + backward of a LLaMA-shaped model, op by op from the timing replay, and the optimizer
  step (``optimizer``) after the step's last collective, exactly as the ``data_parallel_step`` kind computes
  them (`harness.workloads.data_parallel_step.layer_times`);
- **compression**: the compute primitives each compressor runs around its collectives (sketch GEMMs, Top-K
  selection, QR, SVD, packing, error-feedback passes), priced by `harness.compression_cost` from the timing
  tables where a timed op exists, else a flagged roofline estimate (counts in ``info["compression_sources"]``),
  plus ``op_overhead_us`` per primitive (launch/dispatch; 0 by default, like ``data_parallel_step``'s compute);
- **communication**: the collectives the compressor really issues (`methods.compress` payloads: all-reduce for
  dense / Rand-K / ARC-Top-K / PowerSGD / GreedyLore, all-gather of values + int32 indices for Top-K), batched
  per DDP bucket and phase as `methods.compress.collectives.run_lockstep` batches them, over the simulated
  topology (closed form or link level, ``network.model``); with the closed form, measured collective tables of
  the scenario's table set price the collectives they cover (`harness.timing.collective_tables`).

Buckets are DDP's (`harness.sim.dp_step.assign_buckets` over whole layers, ``bucket_mb`` MiB, backward order),
the same buckets the ``data_parallel_step`` kind uses; with ``technique.name: none`` and ``overlap: false`` the
step time equals that kind's exactly (a test checks it).

- ``overlap: false`` (default; what the ARC-Top-K and GreedyLore authors' hooks do: blocking collectives inside
  the hook): forward, backward, then bucket after bucket: compression primitives and collectives in sequence.
- ``overlap: true``: a bucket's work starts as soon as backward has produced it. Its primitives run on the
  rank's one compute stream and take it before the next backward segment (a hook's kernels are queued as soon
  as the hook runs); its collectives queue on the one communication stream (FIFO). Phases of a bucket wait on
  each other (a sketch all-reduce must finish before its rows are selected).

Steps carry no state from one to the next, so each distinct kind of step is simulated once and reused: for
GreedyLore the refresh steps (every ``refresh_period``-th compressed call: one dense all-reduce and an SVD)
differ from the others; ``amortized_step_time_ms`` is the mean over one refresh period (for every other method
it equals ``step_time_ms``). Not modelled: data loading, and compute slowed
by concurrent communication; the first (dense) warm-up steps of a compressed run are the ``none`` method.

Metrics, one row per step: ``step``, ``method``, ``call_index``, ``refresh``, ``step_time_ms``,
``amortized_step_time_ms``, ``compute_ms``, ``compression_ms``, ``comm_ms``, ``exposed_ms`` (step time minus
compute and compression), ``bytes_sent_per_worker`` (bytes one rank transmits in the step's collectives,
`harness.sim.collectives.bytes_on_wire_per_rank`), ``payload_bytes_per_worker`` (bytes each rank contributes to
the step's collectives, the sum of the compressor's `comm_plan` sizes), ``compressor_payload_bytes_per_worker``
(that sum even where nothing is sent, see below), ``dense_bytes_per_worker`` (what dense ring all-reduce transmits),
``n_collectives``, ``n_buckets``. One rank exchanges nothing: no collective is issued, so ``comm_ms``, the bytes
columns and ``n_collectives`` are 0 while ``compressor_payload_bytes_per_worker`` keeps the compressor's plan (its
primitives still run, as a DDP hook does at world size 1).

Example scenario: ``scenarios/compression/dp_compressed.yaml``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
import simpy
from pydantic import Field, NonNegativeFloat, PositiveInt, field_validator, model_validator

from harness.compression_cost import EF_PASSES, OpPricer, ParamTensor, TensorWork, llama_param_tensors, tensor_work
from harness.config.blocks import ClusterScenario, TechniqueSpec
from harness.config.plugins import compressor_problem
from harness.errors import HarnessError
from harness.models.llama import resolve_model
from harness.sim.clock import GuardedEnvironment
from harness.sim.collective_sim import CollectiveEngine
from harness.sim.collectives import bytes_on_wire_per_rank
from harness.sim.dp_step import assign_buckets
from harness.sim.topology import Topology, topology_collective_ns
from harness.sim.units import ms_to_ns
from harness.workloads.base import RunContext, RunOutput, register_workload
from harness.workloads.data_parallel_step import DTYPE_BYTES, MAX_MICRO_BATCH, MIB, DataParallelWorkload, layer_times

ErrorFeedbackName = Literal["none", "ef14", "ef21", "ef21m", "ef21_sgd2m"]


class CompressedDPWorkload(DataParallelWorkload):
    """The `data_parallel_step` workload with the paper's defaults (ARC Table V) plus the compression knobs."""

    micro_batch: PositiveInt = Field(
        1, le=MAX_MICRO_BATCH, description="sequences per rank per step (ARC Table V: 1)"
    )
    dtype: Literal["float32", "bfloat16", "float16"] = Field(
        "float32", description="compute, gradient and payload dtype (indices are always int32)"
    )
    overlap: bool = Field(False, description="start a bucket's compression and collectives as soon as it is ready")
    error_feedback: ErrorFeedbackName | None = Field(
        None,
        description="error-feedback wrapper whose element-wise passes are costed; None: the compressor's usual one",
    )
    uncompressed: list[str] = Field(
        default_factory=list, description="layers sent dense (all-reduce, no compression), e.g. [embed, head]"
    )
    op_overhead_us: NonNegativeFloat = Field(
        0.0, le=1e6, description="fixed cost added to every compression primitive (kernel launch + dispatch), "
        "microseconds (at most 1 s); small torch ops took 30-50 us each on an H100 in H8's device check"
    )
    first_call_index: int = Field(
        1, ge=0,
        description="compressed calls before the first reported step (GreedyLore refreshes at multiples of tau)",
    )

    @field_validator("uncompressed")
    @classmethod
    def _known_layers(cls, layers: list[str]) -> list[str]:
        for name in layers:
            if name not in ("embed", "head") and not (name.startswith("block.") and name[6:].isdigit()):
                raise ValueError(f"uncompressed: unknown layer {name!r}; expected embed, head or block.<i>")
        return layers

    @model_validator(mode="after")
    def _blocks_exist(self) -> CompressedDPWorkload:
        """A block the model does not have (or ``block.01``) would match no layer and be silently compressed."""
        n_layers = resolve_model(self.model).n_layers
        known = {"embed", "head", *(f"block.{i}" for i in range(n_layers))}
        for name in self.uncompressed:
            if name not in known:
                raise ValueError(f"uncompressed: no layer {name!r} in a model of {n_layers} blocks "
                                 f"(block.0 .. block.{n_layers - 1})")
        return self

    def compute_workload(self) -> DataParallelWorkload:
        """The same model, batch and dtype as a ``data_parallel_step`` workload (for its compute helpers); every
        field copied has the same bounds here (inherited, or ``micro_batch``'s `MAX_MICRO_BATCH`), so a workload
        that validated builds (a test checks the fields agree)."""
        return DataParallelWorkload(model=self.model, micro_batch=self.micro_batch, seq_len=self.seq_len,
                                    dtype=self.dtype, bucket_mb=self.bucket_mb, overlap=self.overlap,
                                    optimizer=self.optimizer)


class CompressedDPScenario(ClusterScenario):
    """Compressed data-parallel steps; ``technique`` is the compressor (name + parameters of `make_compressor`)."""

    kind: Literal["compressed_dp_step"] = "compressed_dp_step"
    workload: CompressedDPWorkload = Field(default_factory=CompressedDPWorkload)
    technique: TechniqueSpec = Field(default_factory=TechniqueSpec,
                                     description="the compressor: a methods.compress registry key and its parameters")

    @model_validator(mode="after")
    def _technique_is_a_compressor(self) -> CompressedDPScenario:
        problem = compressor_problem(self.technique.name, self.technique.params)
        if problem:
            raise ValueError(problem)
        return self


def build_compressor(name: str, params: dict[str, Any]) -> Any:
    """`methods.compress.make_compressor`, with unknown names or parameters reported as ValueError."""
    from methods.compress import make_compressor

    try:
        return make_compressor(name, **dict(params))
    except (TypeError, ValueError) as err:
        raise ValueError(f"technique: {err}") from None


def effective_error_feedback(compressor: Any, requested: str | None) -> str:
    """The error feedback costed: the requested one, or the compressor's usual pairing (dense: none)."""
    name = requested if requested is not None else type(compressor).default_error_feedback
    if name not in EF_PASSES:
        raise HarnessError(f"error feedback {name!r} has no cost model; known: {', '.join(EF_PASSES)}")
    return name


# ------------------------------------------------------------------------------------------------ step plan
@dataclass(frozen=True)
class BucketPlan:
    """One bucket's work: backward time that produces it, then per phase compute (ns) and collectives.

    ``slots_ns[j]`` runs before phase j's collectives, ``slots_ns[-1]`` after the last phase. ``phases[j]`` holds
    ``(op, harness size_bytes)`` pairs (all-gather sizes are the gathered output, N x the contribution).
    """

    segment_ns: int
    slots_ns: tuple[int, ...]
    phases: tuple[tuple[tuple[str, float], ...], ...]


@dataclass(frozen=True)
class StepPlan:
    forward_ns: int
    tail_ns: int
    buckets: tuple[BucketPlan, ...]
    payload_bytes: int
    sent_bytes: float
    n_collectives: int
    compressor_payload_bytes: int


@dataclass(frozen=True)
class StepTimes:
    step_time_ns: int
    compute_ns: int
    compression_ns: int
    comm_ns: int


def _bucket_phases(works: Sequence[TensorWork], n_workers: int) -> list[list[Any]]:
    """Per phase, the collectives `run_lockstep` issues for these tensors (zero-byte groups skipped)."""
    from methods.compress.collectives import plan_phases

    n_phases = max(len(w.payloads) for w in works)
    return [plan_phases([[w.payloads[j]] for w in works if j < len(w.payloads)], n_workers) for j in range(n_phases)]


def _bucket_slots_ms(works: Sequence[TensorWork], n_phases: int, pricer: OpPricer) -> list[float]:
    """Compute time per bucket slot; a tensor's work after its own last phase joins that slot."""
    slots = [0.0] * (n_phases + 1)
    for work in works:  # work.slots[j] runs before its phase j; its last slot right after its own last phase
        for j, ops in enumerate(work.slots):
            slots[j] += sum(pricer.time_ms(op) for op in ops)
    return slots


def plan_step(
    tensors: Sequence[ParamTensor],
    compressor: Any,
    error_feedback: str,
    call_index: int,
    *,
    segment_ns: Sequence[int],
    layer_buckets: Sequence[tuple[int, ...]],
    forward_ns: int,
    tail_ns: int,
    n_workers: int,
    dtype: str,
    algorithm: str,
    uncompressed: Sequence[str],
    layer_names: Sequence[str],
    pricer: OpPricer,
) -> StepPlan:
    """Turn one step of one method into buckets of compute slots and collectives (see `BucketPlan`); one rank
    issues no collective (its phases stay, empty), only the compressor's planned payload is counted."""
    from methods.compress import make_compressor

    dense = make_compressor("none")
    buckets, payload, sent, n_calls, planned = [], 0, 0.0, 0, 0
    for layers, seg_ns in zip(layer_buckets, segment_ns):
        members = [t for t in tensors if t.layer in layers]
        works = [
            tensor_work(dense if layer_names[t.layer] in uncompressed else compressor, t.shape, n_workers,
                        call_index=call_index, dtype=dtype, error_feedback=error_feedback)
            for t in members
        ]
        calls_by_phase = _bucket_phases(works, n_workers)
        slots_ms = _bucket_slots_ms(works, len(calls_by_phase), pricer)
        phases = []
        for calls in calls_by_phase:
            phase = []
            for call in calls:
                planned += call.size_bytes
                if n_workers == 1:  # nothing to exchange: no collective, no bytes, no time
                    continue
                size = call.size_bytes * (n_workers if call.op == "all_gather" else 1)
                algo = algorithm if call.op == "all_reduce" else "ring"
                phase.append((call.op, float(size)))
                payload += call.size_bytes
                sent += bytes_on_wire_per_rank(call.op, algo, size, n_workers)
                n_calls += 1
            phases.append(tuple(phase))
        buckets.append(BucketPlan(seg_ns, tuple(ms_to_ns(t) for t in slots_ms), tuple(phases)))
    return StepPlan(forward_ns, tail_ns, tuple(buckets), payload, sent, n_calls, planned)


# ------------------------------------------------------------------------------------------------ the engine
class _CommStream:
    """One communication stream: collectives run one at a time in submission order."""

    def __init__(self, env: simpy.Environment, topology: Topology, algorithm: str, model: str):
        self.env, self.topology, self.algorithm = env, topology, algorithm
        self.busy_ns = 0
        self._engine = CollectiveEngine(env, topology) if model == "link_level" else None
        self._stream = simpy.Resource(env, capacity=1)

    def _algo(self, op: str) -> str:
        return self.algorithm if op == "all_reduce" else "ring"

    def submit(self, op: str, size_bytes: float) -> simpy.Event:
        if self._engine is not None:
            return self._engine.submit(op, self._algo(op), size_bytes)
        return self.env.process(self._closed_form(op, size_bytes))

    def _closed_form(self, op: str, size_bytes: float) -> simpy.events.ProcessGenerator:
        with self._stream.request() as turn:
            yield turn
            run_ns = topology_collective_ns(op, self._algo(op), size_bytes, self.topology)
            self.busy_ns += run_ns
            yield self.env.timeout(run_ns)

    @property
    def total_busy_ns(self) -> int:
        return self._engine.busy_ns if self._engine is not None else self.busy_ns


def simulate_step(plan: StepPlan, topology: Topology, *, algorithm: str, overlap: bool, model: str) -> StepTimes:
    """Simulate one step of ``plan`` (module docstring: overlap semantics) in a fresh environment."""
    env = GuardedEnvironment()
    comm = _CommStream(env, topology, algorithm, model)
    compute = simpy.PriorityResource(env, capacity=1)
    compression_ns = sum(sum(b.slots_ns) for b in plan.buckets)
    backward_ns = sum(b.segment_ns for b in plan.buckets) + plan.tail_ns

    def hold_compute(duration_ns: int, priority: int) -> simpy.events.ProcessGenerator:
        if duration_ns:
            with compute.request(priority=priority) as turn:
                yield turn
                yield env.timeout(duration_ns)

    def bucket(b: BucketPlan) -> simpy.events.ProcessGenerator:
        for j, phase in enumerate(b.phases):
            yield from hold_compute(b.slots_ns[j], 0)
            done = [comm.submit(op, size) for op, size in phase]
            if done:
                yield env.all_of(done)
        yield from hold_compute(b.slots_ns[-1], 0)

    def step() -> simpy.events.ProcessGenerator:
        if plan.forward_ns:
            yield env.timeout(plan.forward_ns)
        if not overlap:
            if backward_ns:
                yield env.timeout(backward_ns)
            for b in plan.buckets:
                yield from bucket(b)
            return
        started = []
        for b in plan.buckets:
            yield from hold_compute(b.segment_ns, 1)
            started.append(env.process(bucket(b)))
            yield env.timeout(0)  # let the hook queue its kernels before backward goes on
        yield from hold_compute(plan.tail_ns, 1)
        if started:
            yield env.all_of(started)

    env.run(env.process(step()))
    return StepTimes(int(env.now), plan.forward_ns + backward_ns, compression_ns, comm.total_busy_ns)


# ------------------------------------------------------------------------------------------------------ run
def _refresh_key(compressor: Any, call_index: int) -> bool:
    period = getattr(compressor, "refresh_period", None)
    return bool(period) and call_index % period == 0


def _flat_sources(by_op: dict[str, dict[str, int]], compression: dict[str, dict[str, int]]) -> dict[str, int]:
    """Prediction counts by source over compute and compression (``estimate``: this module's FLOP/byte rooflines).

    The compression counts are per primitive *use* (the replay counts each distinct shape once per step kind).
    """
    flat: dict[str, int] = {}
    for counts in by_op.values():
        for source, n in counts.items():
            flat[source] = flat.get(source, 0) + int(n)
    for labels in compression.values():
        for label, n in labels.items():
            if label.startswith("estimate:"):
                flat["estimate"] = flat.get("estimate", 0) + int(n)
    return flat


@register_workload("compressed_dp_step", CompressedDPScenario)
def run(scenario: CompressedDPScenario, ctx: RunContext) -> RunOutput:
    """One row per step (columns in the module docstring); timing and compression sources in info."""
    w = scenario.workload
    if ctx.timings is None:
        raise HarnessError("compressed_dp_step needs the timing replay (RunContext.timings); got None")
    compressor = build_compressor(scenario.technique.name, scenario.technique.params)
    error_feedback = effective_error_feedback(compressor, w.error_feedback)
    dims = resolve_model(w.model)
    times = layer_times(w.compute_workload(), ctx.timings)
    topology = Topology.from_config(scenario.cluster, scenario.network)
    n_workers = topology.n_ranks
    layer_buckets = [b.layers for b in assign_buckets(list(times.grad_bytes), int(w.bucket_mb * MIB))]
    segment_ns = [sum(times.backward_ns[layer] for layer in layers) for layers in layer_buckets]
    pricer = OpPricer(ctx.timings, w.dtype, overhead_ms=w.op_overhead_us / 1e3)
    tensors = llama_param_tensors(dims)

    def plan_for(call_index: int) -> StepPlan:
        return plan_step(
            tensors, compressor, error_feedback, call_index,
            segment_ns=segment_ns, layer_buckets=layer_buckets, forward_ns=sum(times.forward_ns),
            tail_ns=sum(times.backward_ns) - sum(segment_ns), n_workers=n_workers, dtype=w.dtype,
            algorithm=w.algorithm, uncompressed=w.uncompressed, layer_names=times.names, pricer=pricer,
        )

    # a step's payloads and costs depend on its call index only through a refresh (GreedyLore's, the one compressor
    # whose step varies): a compressor with other index-dependent steps needs its own key here
    cache: dict[bool, tuple[StepPlan, StepTimes]] = {}

    def step_kind(call_index: int) -> tuple[StepPlan, StepTimes]:
        key = _refresh_key(compressor, call_index)
        if key not in cache:
            plan = plan_for(call_index)
            cache[key] = (plan, simulate_step(plan, topology, algorithm=w.algorithm, overlap=w.overlap,
                                              model=scenario.network.model))
        return cache[key]

    period = getattr(compressor, "refresh_period", None) or 1
    optimizer_ns = times.optimizer_ns  # the optimizer steps after the step's last collective
    regular = step_kind(1 if period > 1 else 0)[1].step_time_ns + optimizer_ns
    amortized_ns = regular if period == 1 else (
        (period - 1) * regular + step_kind(0)[1].step_time_ns + optimizer_ns) / period
    dense_bytes = sum(bytes_on_wire_per_rank("all_reduce", w.algorithm, t.numel * DTYPE_BYTES[w.dtype], n_workers)
                      for t in tensors)
    rows = []
    for step in range(w.n_steps):
        call_index = w.first_call_index + step
        plan, t = step_kind(call_index)
        rows.append({
            "step": step,
            "method": scenario.technique.name,
            "call_index": call_index,
            "refresh": _refresh_key(compressor, call_index),
            "step_time_ms": (t.step_time_ns + optimizer_ns) / 1e6,
            "amortized_step_time_ms": amortized_ns / 1e6,
            "compute_ms": (t.compute_ns + optimizer_ns) / 1e6,
            "compression_ms": t.compression_ns / 1e6,
            "comm_ms": t.comm_ns / 1e6,
            "exposed_ms": (t.step_time_ns - t.compute_ns - t.compression_ns) / 1e6,
            "bytes_sent_per_worker": plan.sent_bytes,
            "payload_bytes_per_worker": plan.payload_bytes,
            "compressor_payload_bytes_per_worker": plan.compressor_payload_bytes,
            "dense_bytes_per_worker": dense_bytes,
            "n_collectives": plan.n_collectives,
            "n_buckets": len(plan.buckets),
        })
    by_op = ctx.timings.summary()
    info = {
        "timing_sources": _flat_sources(by_op, pricer.sources),
        "timing_sources_by_op": by_op,
        "timings": ctx.timings.info(),
        "compression_sources": pricer.sources,
        "compression_estimates": sorted(p for p, labels in pricer.sources.items() if "estimate:roofline" in labels),
        "n_ranks": n_workers,
        "model_dims": dims.model_dump(),
        "error_feedback": error_feedback,
        "compressor": {"name": compressor.name, "params": dict(scenario.technique.params)},
        "n_tensors": len(tensors),
    }
    return RunOutput(metrics=pd.DataFrame(rows), info=info)
