"""Scenario kind ``pipeline_step``: one pipeline-parallel training step over slow links, with activation
compression at the stage boundaries. Follows TAH-Quant (He et al., arXiv 2506.01352) and AQ-SGD (Wang et al.,
arXiv 2206.01299): GPT2-XL as 8 stages x 6 layers, 32 micro-batches of one 1024-token sequence, GPipe, FP32
(research card ``moc_tahquant.md`` B3).

Model: ``n_stages`` stages on one device each, the model's blocks split evenly (the first stages take the
remainder; the embedding joins stage 0, the final norm, LM head and loss the last stage); ``n_micro_batches``
micro-batches of ``micro_batch`` sequences run through a schedule of `methods.pipeline.schedule` (``gpipe`` or
``1f1b``). A stage runs its events in order on one compute stream; an event also waits for its input from the
neighbour stage. Each boundary has one link per direction (`harness.sim.links.Link`, FIFO: one message
serialises at a time, latency pipelined), with ``link`` or its own entry of ``boundary_links``.

- **compute**: forward/backward of each stage's layers, op by op from the timing replay
  (`harness.cost.training_step`, as the ``data_parallel_step`` kind prices it: exact -> interpolated -> roofline,
  sources counted; the blocks are identical, so one block is priced and reused);
  the optimizer step of the whole model priced the same way and split over stages by parameter share (our
  approximation: the per-tensor overhead is spread with it); the step ends when the slowest stage has stepped.
- **compression**: the sender encodes on its compute stream before the send, the receiver decodes before its
  compute. TAH-Quant from the ``tah_quantize`` / ``tah_dequantize`` timed ops (`kernels.tah_quant`) of the
  timing replay; every other codec as memory-bound passes over the activation (`CODEC_PASSES`, reads + writes in
  activation-sized units) priced as the replayed ``copy`` op. Sources per codec in ``info["codec_sources"]``.
- **wire bytes**: the codecs' ``payload_bytes`` (`methods.pipeline.codecs`; exact, TAH-Quant's is the authors'
  fixed send buffer sized for every tile flagged). AQ-SGD (``forward.name: aqsgd``) sends its delta codec's
  payload (steady state, after the uncompressed first epoch) and holds a cache per boundary and side of
  ``n_samples`` activations (``cache_bytes_per_side``, `methods.pipeline.aqsgd.cache_bytes`).

The same step is also simulated with uncompressed float32 and bfloat16 activations and gradients (their casts
priced as copies) for ``speedup_vs_fp32`` / ``speedup_vs_bf16``. Not modelled: data loading, compute slowed by
concurrent communication, activation memory limits.

Metrics, one row: ``method``, ``schedule``, ``n_stages``, ``n_micro_batches``, ``bandwidth_gbps`` (slowest
boundary; one stage, which sends nothing: ``link``'s), ``step_time_ms``, ``pipeline_ms`` (last backward done),
``optimizer_ms`` (slowest stage's share), ``bubble_fraction`` (1 - busy time of all stages / (stages x pipeline
time)), ``stage_compute_ms`` (slowest stage, per micro-batch, forward + backward), ``codec_ms`` (encode + decode on
the busiest stage, whole step),
``fwd_bytes_per_boundary`` / ``bwd_bytes_per_boundary`` (one micro-batch), ``bytes_per_boundary_per_step``
(both directions, all micro-batches), ``fwd_bits_per_element``, ``bwd_bits_per_element``,
``fp32_step_time_ms``, ``bf16_step_time_ms``, ``speedup_vs_fp32``, ``speedup_vs_bf16``, ``peak_in_flight``,
``throughput_seq_per_s``, ``cache_bytes_per_side``, ``activation_bytes`` (one micro-batch's boundary activation in
the compute dtype).

Example scenario: ``scenarios/tahquant/speed_vs_bandwidth.yaml``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
import simpy
from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, field_validator, model_validator

from harness.config.blocks import MAX_LATENCY_US, MIN_BANDWIDTH_GBPS, DeviceScenario, Strict, check_min_bandwidth
from harness.errors import HarnessError, SimulationError
from harness.models.llama import LLAMA_PRESETS, LlamaModel, resolve_model
from harness.sim.clock import GuardedEnvironment
from harness.sim.links import Link
from harness.sim.shared_cores import SharedCores
from harness.sim.units import gbps_to_bytes_per_ns, ms_to_ns, transfer_ns, us_to_ns
from harness.workloads.base import RunContext, RunOutput, register_workload
from harness.cost.training_step import layer_ops, optimizer_ops, price
from harness.workloads.data_parallel_step import DTYPE_BYTES

CodecName = Literal["none", "uniform_tensor", "uniform_tile", "fixpoint", "tahquant", "aqsgd"]
#: memory-bound passes of each codec, in activation-sized reads/writes (our count of the authors' torch code):
#: encode, decode. uniform/fixpoint: min/max (or max-abs) pass + quantize pass (read, write codes) ; decode:
#: read codes, write the activation. AQ-SGD adds reading the cache and writing it back on both sides.
CODEC_PASSES: dict[str, tuple[int, int]] = {
    "uniform_tensor": (3, 2), "uniform_tile": (3, 2), "fixpoint": (3, 2), "aqsgd": (6, 4),
}


class CodecSpec(Strict):
    """A boundary codec: a `methods.pipeline.codecs` name (or ``aqsgd``) and its parameters."""

    name: CodecName = Field("none", description="none, uniform_tensor, uniform_tile, fixpoint, tahquant, aqsgd")
    params: dict[str, Any] = Field(default_factory=dict, description="codec parameters (aqsgd: bits, cache_dtype, "
                                   "n_samples)")

    @model_validator(mode="after")
    def _builds(self) -> CodecSpec:
        build_codec(self)
        return self


class BoundaryLink(Strict):
    """One stage boundary's link; the bounds are `harness.config.blocks.LinkSpec`'s."""

    bandwidth_gbps: PositiveFloat = Field(
        description=f"per-direction bandwidth in gigabits per second (at least {MIN_BANDWIDTH_GBPS:g} = 1 kbit/s, "
        "a 1970s telephone modem)",
    )
    latency_us: NonNegativeFloat = Field(
        0.0, le=MAX_LATENCY_US, description="one-way latency per message, microseconds (at most 10 s, above any "
        "real path)"
    )

    @field_validator("bandwidth_gbps")
    @classmethod
    def _not_below_a_kbit(cls, value: float) -> float:
        return check_min_bandwidth(value)


#: most (stage, micro-batch) slots of one step's schedule (each a forward and a backward event, simulated for the
#: method and the two baselines): 2**20, 32x Megatron-LM's 1T-parameter run (Narayanan et al. 2021: 64 stages x 512
#: micro-batches per pipeline). Time and memory grow with it: 48 x 100,000 took minutes and 1.6 GB for the schedule
MAX_SCHEDULE_SLOTS = 1 << 20


class PipelineWorkload(Strict):
    model: LlamaModel = Field("llama-1b", description=f"preset ({', '.join(LLAMA_PRESETS)}) or explicit dims")
    micro_batch: PositiveInt = Field(1, le=65536, description="sequences per micro-batch")
    seq_len: PositiveInt = Field(1024, le=1 << 20, description="tokens per sequence")
    n_micro_batches: PositiveInt = Field(
        32, le=100_000, description="micro-batches per step (n_stages x n_micro_batches at most 2**20)"
    )
    n_stages: PositiveInt = Field(8, le=4096, description="pipeline stages, one device each")
    schedule: Literal["gpipe", "1f1b"] = Field("gpipe", description="pipeline schedule")
    dtype: Literal["float32", "bfloat16", "float16"] = Field("float32", description="compute dtype")
    optimizer: Literal["adamw", "adamw_fused", "sgd_momentum", "none"] = Field("adamw", description="optimizer")
    link: BoundaryLink = Field(default_factory=lambda: BoundaryLink(bandwidth_gbps=1.0, latency_us=0.0),
                               description="every boundary's link unless boundary_links is given")
    boundary_links: list[BoundaryLink] | None = Field(None, description="one link per boundary (n_stages - 1)")
    forward: CodecSpec = Field(default_factory=CodecSpec, description="codec of activations sent forward")
    backward: CodecSpec = Field(default_factory=CodecSpec, description="codec of gradients sent backward")

    @model_validator(mode="after")
    def _consistent(self) -> PipelineWorkload:
        dims = resolve_model(self.model)
        if self.n_stages > dims.n_layers:
            raise ValueError(f"n_stages: {self.n_stages} stages for {dims.n_layers} blocks")
        if self.n_stages * self.n_micro_batches > MAX_SCHEDULE_SLOTS:
            raise ValueError(
                f"n_micro_batches: {self.n_micro_batches} micro-batches x {self.n_stages} stages = "
                f"{self.n_stages * self.n_micro_batches:,} schedule slots; at most 2**20 = {MAX_SCHEDULE_SLOTS:,} "
                "(32x Megatron-LM's 1T-parameter run: 64 stages x 512 micro-batches)"
            )
        if self.boundary_links is not None and len(self.boundary_links) != self.n_stages - 1:
            raise ValueError(f"boundary_links: expected {self.n_stages - 1} entries (n_stages - 1), "
                             f"got {len(self.boundary_links)}")
        if self.backward.name == "aqsgd":
            raise ValueError("backward.name: aqsgd caches forward activations; use fixpoint for gradients")
        return self

    def links(self) -> list[BoundaryLink]:
        return list(self.boundary_links) if self.boundary_links is not None else [self.link] * (self.n_stages - 1)


class PipelineScenario(DeviceScenario):
    """A pipeline-parallel step with compressed stage boundaries (``workload.forward`` / ``workload.backward``)."""

    kind: Literal["pipeline_step"] = "pipeline_step"
    workload: PipelineWorkload = Field(default_factory=PipelineWorkload)


def build_codec(spec: CodecSpec) -> Any:
    """The `methods.pipeline.codecs` codec of ``spec`` (``aqsgd``: its delta codec, fixpoint); ValueError if bad."""
    from methods.pipeline.codecs import make_codec

    params = dict(spec.params)
    if spec.name == "aqsgd":
        unknown = set(params) - {"bits", "cache_dtype", "n_samples"}
        if unknown:
            raise ValueError(f"aqsgd: unknown parameters {sorted(unknown)}; known: bits, cache_dtype, n_samples")
        return make_codec("fixpoint", bits=params.get("bits", 4))
    return make_codec(spec.name, **params)


# ------------------------------------------------------------------------------------------------- the engine
@dataclass(frozen=True)
class BoundaryCost:
    """One boundary, per micro-batch: bytes each way, codec times on each side (ns), and its link."""

    fwd_bytes: int
    bwd_bytes: int
    fwd_encode_ns: int
    fwd_decode_ns: int
    bwd_encode_ns: int
    bwd_decode_ns: int
    bandwidth_gbps: float
    latency_us: float


@dataclass(frozen=True)
class PipelineTimes:
    pipeline_ns: int
    busy_ns: tuple[int, ...]
    codec_ns: tuple[int, ...]

    def bubble_fraction(self) -> float:
        if self.pipeline_ns == 0:
            return 0.0
        return 1.0 - sum(self.busy_ns) / (len(self.busy_ns) * self.pipeline_ns)


def simulate_pipeline(schedule: Any, forward_ns: Sequence[int], backward_ns: Sequence[int],
                      boundaries: Sequence[BoundaryCost], *, rendezvous: bool = False,
                      cores: int | None = None) -> PipelineTimes:
    """Run ``schedule`` (a `methods.pipeline.schedule.Schedule`) with per-stage compute times (ns per
    micro-batch) and per-boundary costs; returns when the last event finished.

    ``cores`` (None: every stage on its own device): the stages share that many CPU cores, each computing stage
    advancing at min(1, cores / stages computing now) (`harness.sim.shared_cores.SharedCores`); the busy times
    stay the work done (one dedicated core's ns).

    ``rendezvous=False`` (eager): a message enters its link as soon as the sender has encoded it.
    ``rendezvous=True``: as gloo's send/recv of unbound buffers does (``gloo/transport/tcp/pair.cc``: "sends cannot
    execute until the remote side is ready to receive"), the data moves only once the receiver has posted its
    receive (when it reaches that event) and its ready notice has crossed the link back (one latency).

    Eager on dedicated devices (the ``pipeline_step`` kind) every time is a max-plus function of earlier ones, so
    `_replay_eager` computes them in one pass without SimPy (the same integers: a test compares it with the
    SimPy world on random schedules and costs); rendezvous or shared cores run the SimPy world
    (`_simulate_events`)."""
    p = schedule.n_stages
    if not len(forward_ns) == len(backward_ns) == p or len(boundaries) != p - 1:
        raise ValueError(f"need {p} stage times and {p - 1} boundaries")
    if not rendezvous and (cores is None or cores >= p):
        return _replay_eager(schedule, forward_ns, backward_ns, boundaries)
    return _simulate_events(schedule, forward_ns, backward_ns, boundaries, rendezvous=rendezvous, cores=cores)


def _replay_eager(schedule: Any, forward_ns: Sequence[int], backward_ns: Sequence[int],
                  boundaries: Sequence[BoundaryCost]) -> PipelineTimes:
    """`simulate_pipeline` for eager sends on dedicated devices, as one pass over the events (no SimPy).

    The SimPy world's rules as arithmetic: a stage runs its events in order, each starting at
    ``max(stage free, input arrival)`` and taking decode + compute + encode; its message then enters the FIFO link
    at ``max(link free, now)``, serialises for `transfer_ns` and arrives one latency later (`harness.sim.links`).
    Only stage ``s`` sends on each of its links, in its event order, so the FIFO order is its program order and
    the stages can be advanced in any order that respects the arrivals: a stage runs until it needs a message
    not yet sent, and is resumed when its sender sends it. O(events) time, memory for the messages in flight.
    """
    p = schedule.n_stages
    # per (stage, phase): the stage it receives from, the one it sends to, the boundary crossed, its work and codec
    # time, and the message's serialisation and latency (every message of a boundary and direction is alike)
    plan: list[dict[str, tuple[int | None, int | None, int, int, int, int, int]]] = []
    for s in range(p):
        steps = {}
        for phase, source, target in (("F", s - 1, s + 1), ("B", s + 1, s - 1)):
            source = source if 0 <= source < p else None
            target = target if 0 <= target < p else None
            dec = enc = ser_ns = latency_ns = 0
            b = -1 if target is None else min(s, target)
            if source is not None:
                into = boundaries[min(s, source)]
                dec = into.fwd_decode_ns if phase == "F" else into.bwd_decode_ns
            if target is not None:
                out = boundaries[b]
                enc = out.fwd_encode_ns if phase == "F" else out.bwd_encode_ns
                size = out.fwd_bytes if phase == "F" else out.bwd_bytes
                ser_ns = transfer_ns(size, gbps_to_bytes_per_ns(out.bandwidth_gbps))
                latency_ns = us_to_ns(out.latency_us)
            work = forward_ns[s] if phase == "F" else backward_ns[s]
            steps[phase] = (source, target, b, dec + work + enc, dec + enc, ser_ns, latency_ns)
        plan.append(steps)
    link_free = {"F": [0] * (p - 1), "B": [0] * (p - 1)}  # when each link's last message finishes serialising
    arrived: dict[tuple[int, int, str], int] = {}  # (receiving stage, micro-batch, phase) -> arrival ns
    waiting_for: list[tuple[int, int, str] | None] = [None] * p
    clock, position, busy, codec = [0] * p, [0] * p, [0] * p, [0] * p
    ready = list(range(p))
    while ready:
        s = ready.pop()
        events, steps = schedule.stage_events(s), plan[s]
        k, now, n_events = position[s], clock[s], len(schedule.stage_events(s))
        while k < n_events:
            event = events[k]
            i, phase = event.micro_batch, event.phase
            source, target, b, duration, codec_ns, ser_ns, latency_ns = steps[phase]
            if source is not None:
                arrival = arrived.pop((s, i, phase), None)
                if arrival is None:  # not sent yet: resume when it is
                    waiting_for[s] = (s, i, phase)
                    break
                if arrival > now:
                    now = arrival
            busy[s] += duration
            codec[s] += codec_ns
            now += duration
            if target is not None:
                free = link_free[phase]
                free[b] = (free[b] if free[b] > now else now) + ser_ns
                key = (target, i, phase)
                arrived[key] = free[b] + latency_ns
                if waiting_for[target] == key:
                    waiting_for[target] = None
                    ready.append(target)
            k += 1
        position[s], clock[s] = k, now
    stuck = [s for s in range(p) if position[s] < len(schedule.stage_events(s))]
    if stuck:
        raise SimulationError(f"pipeline schedule {schedule.name!r} deadlocks: stages {stuck} wait for messages "
                              "never sent")
    return PipelineTimes(max(clock), tuple(busy), tuple(codec))


def _simulate_events(schedule: Any, forward_ns: Sequence[int], backward_ns: Sequence[int],
                     boundaries: Sequence[BoundaryCost], *, rendezvous: bool, cores: int | None) -> PipelineTimes:
    """`simulate_pipeline` in a SimPy world: any ``rendezvous`` and ``cores`` (see there)."""
    p = schedule.n_stages
    env = GuardedEnvironment()
    fwd_links = [Link(env, f"stage{s}->stage{s + 1}", b.bandwidth_gbps, b.latency_us, "fifo")
                 for s, b in enumerate(boundaries)]
    bwd_links = [Link(env, f"stage{s + 1}->stage{s}", b.bandwidth_gbps, b.latency_us, "fifo")
                 for s, b in enumerate(boundaries)]
    arrivals: dict[tuple[int, int, str], simpy.Event] = {
        (e.stage, e.micro_batch, e.phase): env.event() for e in schedule.events}
    posted = {key: env.event() for key in arrivals} if rendezvous else None
    posted_at: dict[tuple[int, int, str], int] = {}
    busy = [0] * p
    codec = [0] * p
    shared = SharedCores(env, cores) if cores is not None and cores < p else None

    def after_post(link: Link, size: int, key: tuple[int, int, str], notice_ns: int) -> simpy.events.ProcessGenerator:
        yield posted[key]
        wait_ns = posted_at[key] + notice_ns - env.now  # the ready notice left when the receive was posted
        if wait_ns > 0:
            yield env.timeout(wait_ns)
        yield link.transfer(size)
        arrivals[key].succeed()

    def send(link: Link, size: int, key: tuple[int, int, str], latency_us: float) -> None:
        if posted is not None:
            env.process(after_post(link, size, key, round(latency_us * 1000)))
            return
        target = arrivals[key]
        link.transfer(size).callbacks.append(lambda _event: target.succeed())

    def stage(s: int) -> simpy.events.ProcessGenerator:
        for event in schedule.stage_events(s):
            i = event.micro_batch
            if event.phase == "F":
                receive = s > 0
                forward_to = s < p - 1
                dec = boundaries[s - 1].fwd_decode_ns if receive else 0
                enc = boundaries[s].fwd_encode_ns if forward_to else 0
                work = forward_ns[s]
            else:
                receive = s < p - 1
                forward_to = s > 0
                dec = boundaries[s].bwd_decode_ns if receive else 0
                enc = boundaries[s - 1].bwd_encode_ns if forward_to else 0
                work = backward_ns[s]
            if receive:
                if posted is not None:
                    posted_at[(s, i, event.phase)] = int(env.now)
                    posted[(s, i, event.phase)].succeed()
                yield arrivals[(s, i, event.phase)]
            duration = dec + work + enc
            busy[s] += duration
            codec[s] += dec + enc
            if duration:
                yield env.timeout(duration) if shared is None else shared.run(duration)
            if event.phase == "F" and forward_to:
                send(fwd_links[s], boundaries[s].fwd_bytes, (s + 1, i, "F"), boundaries[s].latency_us)
            elif event.phase == "B" and forward_to:
                send(bwd_links[s - 1], boundaries[s - 1].bwd_bytes, (s - 1, i, "B"), boundaries[s - 1].latency_us)

    done = [env.process(stage(s)) for s in range(p)]
    env.run(env.all_of(done))
    return PipelineTimes(int(env.now), tuple(busy), tuple(codec))


# ------------------------------------------------------------------------------------------------- pricing
@dataclass(frozen=True)
class LayerCosts:
    """Per layer (embed, block.0 .. block.L-1, head): forward and backward ns and parameters; optimizer ns."""

    names: tuple[str, ...]
    forward_ns: tuple[int, ...]
    backward_ns: tuple[int, ...]
    n_params: tuple[int, ...]
    optimizer_ns: int


def layer_costs(w: PipelineWorkload, replay: Any) -> LayerCosts:
    """Every layer's compute from the replay; the identical blocks are priced once (same ops, same shapes)."""
    dims = resolve_model(w.model)
    layers = layer_ops(dims, w.micro_batch, w.seq_len, replay.device.name)
    priced: dict[str, tuple[int, int]] = {}
    fwd, bwd = [], []
    for layer in layers:
        key = "block" if layer.name.startswith("block.") else layer.name
        if key not in priced:
            priced[key] = (ms_to_ns(price(layer.forward, replay, w.dtype).time_ms),
                           ms_to_ns(price(layer.backward, replay, w.dtype).time_ms))
        fwd.append(priced[key][0])
        bwd.append(priced[key][1])
    optimizer = price(optimizer_ops(dims, w.optimizer, replay.device.name), replay, w.dtype)
    return LayerCosts(tuple(l.name for l in layers), tuple(fwd), tuple(bwd), tuple(l.n_params for l in layers),
                      ms_to_ns(optimizer.time_ms))


def stage_layers(n_layers: int, n_stages: int) -> list[list[int]]:
    """Indices into the layer list (embed, block.0 .. block.L-1, head) per stage: blocks split evenly."""
    base, extra = divmod(n_layers, n_stages)
    out, start = [], 1
    for s in range(n_stages):
        count = base + (1 if s < extra else 0)
        out.append(list(range(start, start + count)))
        start += count
    out[0].insert(0, 0)
    out[-1].append(n_layers + 1)
    return out


@dataclass
class CodecPricer:
    """Encode/decode time of a codec on one activation, from the timing replay (sources counted)."""

    replay: Any
    dtype: str
    sources: dict[str, dict[str, int]]

    def _count(self, codec: str, label: str) -> None:
        per = self.sources.setdefault(codec, {})
        per[label] = per.get(label, 0) + 1

    def _copy_ms(self, codec: str, passes: int, numel: int) -> float:
        if passes == 0:
            return 0.0
        pred = self.replay.predict("copy", dtype=self.dtype, numel=max(1, math.ceil(passes * numel / 2)))
        self._count(codec, f"copy:{pred.source}")
        return pred.time_ms

    def times_ns(self, spec: CodecSpec, codec: Any, shape: tuple[int, ...]) -> tuple[int, int]:
        """(encode ns, decode ns) of ``codec`` on an activation of ``shape`` (B, S, C)."""
        numel = math.prod(shape)
        if spec.name == "tahquant":
            cols = {"tokens": numel // shape[-1], "channels": shape[-1], "tile": codec.tile_size, "bits": codec.bits,
                    "bits_low": codec.bits_low, "per_tile": int(codec.allocation == "tile")}
            enc = self.replay.predict("tah_quantize", dtype=self.dtype, **cols)
            dec = self.replay.predict("tah_dequantize", dtype=self.dtype, **cols)
            self._count("tahquant", f"tah_quantize:{enc.source}")
            self._count("tahquant", f"tah_dequantize:{dec.source}")
            return ms_to_ns(enc.time_ms), ms_to_ns(dec.time_ms)
        if spec.name == "none":
            cast = codec.dtype != self.dtype  # a cast to the wire dtype and back: one read + one write each side
            return ms_to_ns(self._copy_ms("none", 2 * cast, numel)), ms_to_ns(self._copy_ms("none", 2 * cast, numel))
        enc_passes, dec_passes = CODEC_PASSES[spec.name]
        return ms_to_ns(self._copy_ms(spec.name, enc_passes, numel)), ms_to_ns(self._copy_ms(spec.name, dec_passes,
                                                                                             numel))


def _boundaries(w: PipelineWorkload, fwd: CodecSpec, bwd: CodecSpec, shape: tuple[int, ...],
                pricer: CodecPricer) -> list[BoundaryCost]:
    fcodec, bcodec = build_codec(fwd), build_codec(bwd)
    fe, fd = pricer.times_ns(fwd, fcodec, shape)
    be, bd = pricer.times_ns(bwd, bcodec, shape)
    fb, bb = fcodec.payload_bytes(shape), bcodec.payload_bytes(shape)
    return [BoundaryCost(fb, bb, fe, fd, be, bd, link.bandwidth_gbps, link.latency_us) for link in w.links()]


def method_label(fwd: CodecSpec, bwd: CodecSpec) -> str:
    def one(spec: CodecSpec) -> str:
        params = ",".join(f"{k}={v}" for k, v in sorted(spec.params.items()) if k != "n_samples")
        return spec.name + (f"({params})" if params else "")
    return f"{one(fwd)}/{one(bwd)}"


@register_workload("pipeline_step", PipelineScenario)
def run(scenario: PipelineScenario, ctx: RunContext) -> RunOutput:
    """One row (columns in the module docstring); timing and codec sources in info."""
    from methods.pipeline.aqsgd import cache_bytes
    from methods.pipeline.schedule import make_schedule

    w = scenario.workload
    if ctx.timings is None:
        raise HarnessError("pipeline_step needs the timing replay (RunContext.timings); got None")
    dims = resolve_model(w.model)
    times = layer_costs(w, ctx.timings)
    groups = stage_layers(dims.n_layers, w.n_stages)
    fwd_ns = [sum(times.forward_ns[i] for i in g) for g in groups]
    bwd_ns = [sum(times.backward_ns[i] for i in g) for g in groups]
    params = [sum(times.n_params[i] for i in g) for g in groups]
    optimizer_ns = max(round(times.optimizer_ns * n / sum(params)) for n in params)
    schedule = make_schedule(w.schedule, w.n_stages, w.n_micro_batches)
    shape = (w.micro_batch, w.seq_len, dims.d_model)
    pricer = CodecPricer(ctx.timings, w.dtype, {})

    simulated: dict[tuple[BoundaryCost, ...], PipelineTimes] = {}

    def simulate(fwd: CodecSpec, bwd: CodecSpec) -> tuple[PipelineTimes, list[BoundaryCost]]:
        bounds = _boundaries(w, fwd, bwd, shape, pricer)
        key = tuple(bounds)  # equal boundary costs give equal steps (a baseline equal to the method: no 2nd run)
        if key not in simulated:
            simulated[key] = simulate_pipeline(schedule, fwd_ns, bwd_ns, bounds)
        return simulated[key], bounds

    result, bounds = simulate(w.forward, w.backward)
    baselines = {dt: simulate(CodecSpec(name="none", params={"dtype": dt}),
                              CodecSpec(name="none", params={"dtype": dt}))[0]
                 for dt in ("float32", "bfloat16")}
    step_ns = result.pipeline_ns + optimizer_ns
    base_ns = {dt: r.pipeline_ns + optimizer_ns for dt, r in baselines.items()}

    def ticks(ns: int) -> int:  # a step priced below the clock's 1 ns (a toy model) counts one ns in the ratios
        return max(ns, 1)
    numel = math.prod(shape)
    fwd_b, bwd_b = (bounds[0].fwd_bytes, bounds[0].bwd_bytes) if bounds else (0, 0)
    cache = 0
    if w.forward.name == "aqsgd":
        params = w.forward.params
        cache = cache_bytes(int(params.get("n_samples", w.n_micro_batches * w.micro_batch)),
                            shape[1:], params.get("cache_dtype", "float16"))
    row = {
        "method": method_label(w.forward, w.backward),
        "schedule": w.schedule,
        "n_stages": w.n_stages,
        "n_micro_batches": w.n_micro_batches,
        # a one-stage pipeline sends nothing: it reports the configured link (as its byte columns report 0)
        "bandwidth_gbps": min((l.bandwidth_gbps for l in w.links()), default=w.link.bandwidth_gbps),
        "step_time_ms": step_ns / 1e6,
        "pipeline_ms": result.pipeline_ns / 1e6,
        "optimizer_ms": optimizer_ns / 1e6,
        "bubble_fraction": result.bubble_fraction(),
        "stage_compute_ms": max(f + b for f, b in zip(fwd_ns, bwd_ns)) / 1e6,
        "codec_ms": max(result.codec_ns) / 1e6,
        "fwd_bytes_per_boundary": fwd_b,
        "bwd_bytes_per_boundary": bwd_b,
        "bytes_per_boundary_per_step": w.n_micro_batches * (fwd_b + bwd_b),
        "fwd_bits_per_element": 8 * fwd_b / numel,
        "bwd_bits_per_element": 8 * bwd_b / numel,
        "fp32_step_time_ms": base_ns["float32"] / 1e6,
        "bf16_step_time_ms": base_ns["bfloat16"] / 1e6,
        "speedup_vs_fp32": ticks(base_ns["float32"]) / ticks(step_ns),
        "speedup_vs_bf16": ticks(base_ns["bfloat16"]) / ticks(step_ns),
        "peak_in_flight": max(schedule.peak_in_flight(s) for s in range(w.n_stages)),
        "throughput_seq_per_s": w.n_micro_batches * w.micro_batch / (ticks(step_ns) / 1e9),
        "cache_bytes_per_side": cache,
        "activation_bytes": numel * DTYPE_BYTES[w.dtype],
    }
    info = {
        "timing_sources_by_op": ctx.timings.summary(),
        "timings": ctx.timings.info(),
        "codec_sources": pricer.sources,
        "stage_layers": [[times.names[i] for i in g] for g in groups],
        "stage_forward_ms": [t / 1e6 for t in fwd_ns],
        "stage_backward_ms": [t / 1e6 for t in bwd_ns],
        "boundaries": [b.__dict__ for b in bounds],
        "model_dims": dims.model_dump(),
    }
    return RunOutput(metrics=pd.DataFrame([row]), info=info)
