"""Scenario kind ``decision_latency``: how fast diffusion planners decide, and whether they keep up with a control
loop (RACTD, Duan et al., arXiv 2506.07822, Table 4: a one-step student vs its 80-bin EDM teacher, DDIM/DDPM
samplers of that teacher; paper: 142x faster than the teacher per action on a V100).

Per method (sampler and bins) and batch size (environments served by one batched call):

* network evaluations per action, counted by running the method's planner once (per sampler and bins) with a
  counting wrapper around an identity stand-in network planning one step of one action from one observation
  value: the count depends on the sampler and its bins only, never on the sizes, and at full size the sampling
  loop would cost steps x horizon x act_dim work for nothing (minutes at 10,000 bins and a 4096 x 1024 plan);
* time per network call, from ``per_call.source``: ``compute_model`` prices every GEMM the network runs (linear
  layers, convolutions as im2col GEMMs, transposed convolutions as col2im GEMMs; shapes traced on the meta device)
  through the timing replay (``linear_fwd`` on a CPU, ``matmul`` on a GPU) plus the device's dispatch gap per
  module call, so norms and activations pay launches only; ``measured`` times the real network on this machine
  (median of ``repeats`` calls after warm-up, ``threads`` torch threads), refused at validation when the two
  networks and the largest batch's forward would take more than `MAX_MEASURED_BYTES` (traced on the meta device,
  `measured_bytes`);
* action latency = evaluations x per-call time; actions per second = batch / latency;
* a control loop in SimPy at ``control.rate_hz``: an observation arrives at each tick (plus a uniform delay up to
  ``arrival_jitter_ms``); one planner, whenever free, decides on the newest observation waiting and skips older
  ones; each decision takes the action latency times a mean-one lognormal factor of spread
  ``compute_jitter_cv``; a tick whose action is not ready by the next tick (late or skipped) is a deadline miss
  (the environment would apply a stale action).

Metrics: one row per (method, batch) with ``nfe``, ``per_call_ms``, ``action_latency_ms``, ``actions_per_s``,
``speedup_vs_first`` (latency of the first listed method at the same batch over this one), simulated latency
p50/p99 (waiting included), ``deadline_miss_fraction`` and ``skipped_fraction``. run.json info: the per-call
source and, for the compute model, the timing replay's sources; ``nfe_counted`` per method.
"""

from __future__ import annotations

import functools
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import Field, NonNegativeFloat, PositiveInt, model_validator

from harness.config.blocks import NAME_PATTERN, DeviceScenario, Strict
from harness.workloads.base import RunContext, RunOutput, register_workload, torch_threads

NS_PER_MS = 1_000_000
MAX_BATCH = 65_536
GIB = 1 << 30
#: what ``per_call.source: measured`` may take (`measured_bytes` x `MEASURED_SLACK`): a third of the 23 GiB dev
#: machine, room left for the process and a parallel sweep point. The paper U-Net (2 x 0.93 GiB of fp32
#: parameters) fits up to batch ~20,000 at horizon 16; past the bound the run is refused at validation, before
#: anything is built
MAX_MEASURED_BYTES = 8 * GIB
#: the process grew 15-19% above the traced bytes (allocator slack, convolution workspaces): cpu_small at batch
#: 16,384 x horizon 64 and 65,536 x 16, the paper U-Net at 512 x 16
MEASURED_SLACK = 1.2
PRESET_NAMES = Literal["cpu_small", "paper", "toy_mlp"]


class MethodSpec(Strict):
    name: str = Field(pattern=NAME_PATTERN, max_length=64, description="label of the method in the metrics")
    sampler: Literal["heun", "ddim", "ddpm", "student"] = Field(
        description="teacher sampler over the Karras grid (heun, ddim, ddpm) or the one-step student")
    steps: PositiveInt = Field(80, le=10_000, description="grid bins of a teacher sampler (at least 2: the Karras "
                               "grid runs from sigma_max to sigma_min); 1 for the student")

    @model_validator(mode="after")
    def _student_one_step(self) -> "MethodSpec":
        if self.sampler == "student" and self.steps != 1:
            raise ValueError(f"steps: the student makes one jump; expected 1, got {self.steps}")
        if self.sampler != "student" and self.steps < 2:
            raise ValueError(f"steps: the {self.sampler} sampler needs at least 2 bins (the Karras grid runs from "
                             f"sigma_max to sigma_min), got {self.steps}")
        return self


def _default_methods() -> list[MethodSpec]:
    return [MethodSpec(name="edm_heun80", sampler="heun", steps=80),
            MethodSpec(name="ddpm100", sampler="ddpm", steps=100),
            MethodSpec(name="ddim20", sampler="ddim", steps=20),
            MethodSpec(name="ractd_student", sampler="student", steps=1)]


class PlannerNetworkSpec(Strict):
    preset: PRESET_NAMES = Field("cpu_small", description="network size: cpu_small, paper (the authors' U-Net "
                                 "512/1024/2048) or toy_mlp (methods.offline_rl.networks.PRESETS)")
    obs_dim: PositiveInt = Field(11, le=4096, description="observation size (Hopper: 11)")
    act_dim: PositiveInt = Field(3, le=1024, description="action size (Hopper: 3)")
    horizon: PositiveInt = Field(16, le=4096, description="planned actions per sample (authors: 16 for MuJoCo)")

    @model_validator(mode="after")
    def _horizon_fits_unet(self) -> "PlannerNetworkSpec":
        from methods.offline_rl.networks import PRESETS

        cfg = PRESETS[self.preset]
        factor = 2 ** (len(cfg.down_dims) - 1)
        if cfg.kind == "unet" and self.horizon % factor:
            raise ValueError(f"horizon: the {self.preset} U-Net halves it {len(cfg.down_dims) - 1} times; "
                             f"expected a multiple of {factor}, got {self.horizon}")
        return self


class PerCallSpec(Strict):
    source: Literal["compute_model", "measured"] = Field(
        "compute_model",
        description="compute_model: GEMMs priced by the timing replay; measured: time the network on this machine")
    repeats: PositiveInt = Field(20, le=10_000, description="measured: timed calls per network and batch")
    threads: PositiveInt = Field(1, le=256, description="measured: torch threads")
    dtype: Literal["float32", "bfloat16"] = Field("float32", description="compute_model: GEMM dtype")


class ControlSpec(Strict):
    rate_hz: float = Field(125.0, ge=1e-3, le=1e6, description="control rate (at least 1e-3: ticks of at most "
                           "1,000 s keep the nanosecond clock in range); Hopper-v5 steps every 0.008 s = 125 Hz")
    ticks: PositiveInt = Field(500, le=1_000_000, description="control ticks simulated per method and batch")
    arrival_jitter_ms: NonNegativeFloat = Field(0.0, le=1e6, description="uniform delay of each observation, "
                                                "0 to this many ms")
    compute_jitter_cv: NonNegativeFloat = Field(0.1, le=10.0, description="spread (coefficient of variation) of "
                                                "the mean-one lognormal factor on each decision's time")


class DecisionLatencyWorkload(Strict):
    model: PlannerNetworkSpec = Field(default_factory=PlannerNetworkSpec,
                                      description="the planner network: preset size and Hopper-like dimensions")
    methods: list[MethodSpec] = Field(default_factory=_default_methods, min_length=1, max_length=64)
    batch_sizes: list[Annotated[int, Field(gt=0, le=MAX_BATCH)]] = Field(
        default_factory=lambda: [1], min_length=1, max_length=64,
        description="environments served by one batched call (distinct; each at most 65536 = 2**16, more than "
        "one batched planner call serves, and the measured source holds batch x horizon x channels activations)")
    per_call: PerCallSpec = Field(default_factory=PerCallSpec)
    control: ControlSpec = Field(default_factory=ControlSpec)

    @model_validator(mode="after")
    def _unique(self) -> "DecisionLatencyWorkload":
        names = [m.name for m in self.methods]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"methods: {', '.join(twice)} listed twice")
        if len(set(self.batch_sizes)) != len(self.batch_sizes):
            raise ValueError(f"batch_sizes: expected distinct sizes, got {self.batch_sizes}")
        return self

    @model_validator(mode="after")
    def _measured_fits(self) -> "DecisionLatencyWorkload":
        if self.per_call.source != "measured":
            return self
        m, batch = self.model, max(self.batch_sizes)
        params, forward = measured_bytes(m.preset, m.obs_dim, m.act_dim, m.horizon, batch)
        need = MEASURED_SLACK * (params + forward)
        if need > MAX_MEASURED_BYTES:
            raise ValueError(
                f"per_call.source: measured would build the {m.preset} teacher and student on this CPU and run batch "
                f"{batch} at horizon {m.horizon}: about {need / GIB:,.1f} GiB ({params / GIB:,.1f} GiB of parameters "
                f"and {forward / GIB:,.1f} GiB of inputs and live activations, plus {MEASURED_SLACK - 1:.0%} "
                f"allocator slack), more than the {MAX_MEASURED_BYTES // GIB} GiB it may take; lower batch_sizes, "
                "model.horizon, model.act_dim, model.obs_dim or model.preset, or use source: compute_model")
        return self


class DecisionLatencyScenario(DeviceScenario):
    """Diffusion-planner decision latency: evaluations per action x per-call time, and control deadline misses."""

    kind: Literal["decision_latency"] = "decision_latency"
    workload: DecisionLatencyWorkload = Field(default_factory=DecisionLatencyWorkload)


def counted_evaluations(method: MethodSpec) -> int:
    """Network calls one action costs, counted on the method's planner around an identity stand-in network that
    plans one step of one action from one observation value. The count depends on the sampler and its bins only
    (the planner's loop runs over the grid, one batched call per evaluation), not on the network or the sizes:
    at full size the sampling loop alone would cost steps x horizon x act_dim work."""
    import torch

    from methods.offline_rl.edm import EDMDenoiser
    from methods.offline_rl.planner import ActionBounds, Planner
    from methods.offline_rl.student import CTMStudent

    class StandIn(torch.nn.Module):  # F(x, t, obs[, s]) = x: the cheapest network the wrappers accept
        def forward(self, x: torch.Tensor, *conditions: object) -> torch.Tensor:
            return x

    student = method.sampler == "student"
    model = CTMStudent(StandIn()) if student else EDMDenoiser(StandIn())
    bounds = ActionBounds(-np.ones(1), np.ones(1))
    planner = Planner(model, bounds, 1, sampler=None if student else method.sampler, steps=method.steps)
    planner.act(np.zeros(1))
    return planner.evaluations


def simulate_control_loop(latency_ms: float, control: ControlSpec, rng: np.random.Generator) -> dict[str, float]:
    """SimPy control loop; returns latency p50/p99 (ms, observation to action, decided observations only), the
    fraction of ticks whose action missed its deadline and the fraction of observations skipped."""
    from harness.sim.clock import GuardedEnvironment

    env = GuardedEnvironment()
    period_ns = int(round(NS_PER_MS * 1000.0 / control.rate_hz))
    cv = control.compute_jitter_cv
    s2 = np.log1p(cv**2)
    factors = rng.lognormal(-s2 / 2, np.sqrt(s2), control.ticks) if cv > 0 else np.ones(control.ticks)
    delays = rng.uniform(0, control.arrival_jitter_ms, control.ticks) if control.arrival_jitter_ms > 0 \
        else np.zeros(control.ticks)
    arrivals = np.arange(control.ticks) * period_ns + np.round(delays * NS_PER_MS).astype(np.int64)
    latencies = np.full(control.ticks, np.nan)
    missed = np.ones(control.ticks, dtype=bool)  # decided in time clears it
    pending: list[int] = []
    wakeup = [env.event()]

    def observations():
        for k in np.argsort(arrivals, kind="stable"):
            yield env.timeout(int(arrivals[k]) - env.now)
            pending.append(int(k))
            if not wakeup[0].triggered:
                wakeup[0].succeed()

    def planner():
        handled = 0
        while handled < control.ticks:
            if not pending:
                wakeup[0] = env.event()
                yield wakeup[0]
            k = pending[-1]  # the newest observation; older waiting ones are skipped
            handled += len(pending)
            pending.clear()
            yield env.timeout(max(1, int(round(latency_ms * factors[k] * NS_PER_MS))))
            latencies[k] = (env.now - arrivals[k]) / NS_PER_MS
            missed[k] = env.now > (k + 1) * period_ns

    env.process(observations())
    env.process(planner())
    env.run()
    decided = latencies[~np.isnan(latencies)]
    return {"latency_p50_ms": float(np.median(decided)), "latency_p99_ms": float(np.percentile(decided, 99)),
            "deadline_miss_fraction": float(missed.mean()),
            "skipped_fraction": float(1 - len(decided) / control.ticks)}


def _networks(net: PlannerNetworkSpec):
    """The teacher's and the student's networks of the preset (untrained: time does not depend on weights)."""
    from methods.offline_rl.networks import build_network

    return {role: build_network(net.preset, act_dim=net.act_dim, obs_dim=net.obs_dim, horizon=net.horizon,
                                with_stop_time=role == "student")
            for role in ("teacher", "student")}


def _inputs(net: PlannerNetworkSpec, batch: int, role: str):
    import torch

    x = torch.randn(batch, net.horizon, net.act_dim)
    t = torch.full((batch,), 1000.0)
    obs = torch.randn(batch, net.obs_dim)
    return (x, t, obs, t if role == "student" else None)


@functools.lru_cache(maxsize=64)
def measured_bytes(preset: str, obs_dim: int, act_dim: int, horizon: int, batch: int) -> tuple[int, int]:
    """What the measured source holds at ``batch``, traced on the meta device (nothing is allocated): the bytes of
    the teacher's and the student's parameters (both built at once, fp32), and the peak of one forward call, the
    larger network's: its inputs plus the tensors alive at once under inference mode (each op's new outputs
    counted until freed, views sharing their base: `harness.cost.live_bytes`). Allocator slack and kernel
    workspaces are not seen (`MEASURED_SLACK`)."""
    import torch

    from harness.cost.live_bytes import LiveBytes

    net = PlannerNetworkSpec(preset=preset, obs_dim=obs_dim, act_dim=act_dim, horizon=horizon)
    with torch.device("meta"):
        nets = _networks(net)
    params = sum(p.numel() * p.element_size() for n in nets.values() for p in n.parameters())
    forward = 0
    for role, module in nets.items():
        with torch.device("meta"):
            inputs = _inputs(net, batch, role)
        tracer = LiveBytes()
        with torch.inference_mode(), tracer:
            module(*inputs)
        given = sum(x.numel() * x.element_size() for x in {id(x): x for x in inputs if x is not None}.values())
        forward = max(forward, given + tracer.peak)
    return params, forward


def traced_gemms(module, inputs, device: str) -> tuple[list, int]:
    """`OpCall`s of the GEMMs one forward call runs (launches 0) and the number of leaf-module calls (launches)."""
    from torch import nn

    from harness.cost.training_step import OpCall, forward_gemm_op

    op = forward_gemm_op(device)
    calls: list[OpCall] = []
    leaf_calls = [0]

    def hook(mod, args, out):
        leaf_calls[0] += 1
        x = args[0]
        if isinstance(mod, nn.Linear):
            shape = {"m": int(np.prod(x.shape[:-1])), "n": mod.out_features, "k": mod.in_features}
        elif isinstance(mod, nn.ConvTranspose1d):  # col2im: (B L_in, C_out kernel, C_in)
            shape = {"m": x.shape[0] * x.shape[2], "n": mod.out_channels * mod.kernel_size[0], "k": mod.in_channels}
        elif isinstance(mod, nn.Conv1d):  # im2col: (B L_out, C_out, C_in kernel)
            shape = {"m": out.shape[0] * out.shape[2], "n": mod.out_channels, "k": mod.in_channels * mod.kernel_size[0]}
        else:
            return
        calls.append(OpCall(op, shape, type(mod).__name__, launches=0))  # its launch is in the module count

    handles = [m.register_forward_hook(hook) for m in module.modules() if not list(m.children())]
    try:
        module(*inputs)
    finally:
        for h in handles:
            h.remove()
    return calls, leaf_calls[0]


def per_call_ms(scenario: DecisionLatencyScenario, ctx: RunContext) -> tuple[dict[tuple[str, int], float], dict]:
    """Time of one network call per (teacher|student, batch), and where it came from."""
    import torch

    w = scenario.workload
    out: dict[tuple[str, int], float] = {}
    if w.per_call.source == "measured":
        import time

        with torch_threads(w.per_call.threads):
            nets = _networks(w.model)
            for role, net in nets.items():
                net.eval()
                for batch in w.batch_sizes:
                    inputs = _inputs(w.model, batch, role)
                    with torch.inference_mode():
                        for _ in range(3):
                            net(*inputs)
                        times = []
                        for _ in range(w.per_call.repeats):
                            start = time.perf_counter_ns()
                            net(*inputs)
                            times.append((time.perf_counter_ns() - start) / NS_PER_MS)
                    out[(role, batch)] = float(np.median(times))
        return out, {"source": "measured", "threads": w.per_call.threads, "repeats": w.per_call.repeats,
                     "statistic": "median after 3 warm-up calls", "torch": torch.__version__}

    from harness.cost.training_step import dispatch_gap_us, price

    if ctx.timings is None:
        from harness.errors import HarnessError

        raise HarnessError("decision_latency with per_call.source compute_model needs the timing replay; got None")
    with torch.device("meta"):
        nets = _networks(w.model)
    for role, net in nets.items():
        for batch in w.batch_sizes:
            with torch.device("meta"):
                calls, launches = traced_gemms(net, _inputs(w.model, batch, role), scenario.cluster.device)
            gemm_ms = price(calls, ctx.timings, w.per_call.dtype).time_ms
            out[(role, batch)] = gemm_ms + launches * dispatch_gap_us(ctx.timings) * 1e-3
    return out, {"source": "compute_model", "dispatch_gap_us": dispatch_gap_us(ctx.timings),
                 "timings": ctx.timings.info()}


@register_workload("decision_latency", DecisionLatencyScenario)
def run(scenario: DecisionLatencyScenario, ctx: RunContext) -> RunOutput:
    """One row per (method, batch); the per-call source and its provenance in info."""
    w = scenario.workload
    counts: dict[tuple[str, int], int] = {}
    for m in w.methods:  # one count per sampler and bins
        if (m.sampler, m.steps) not in counts:
            counts[(m.sampler, m.steps)] = counted_evaluations(m)
    nfe = {m.name: counts[(m.sampler, m.steps)] for m in w.methods}
    call_ms, source_info = per_call_ms(scenario, ctx)
    rng = np.random.default_rng(ctx.seed_seq.spawn(1)[0])
    rows = []
    for batch in w.batch_sizes:
        first_latency = None
        for method in w.methods:
            role = "student" if method.sampler == "student" else "teacher"
            one_call = call_ms[(role, batch)]
            latency = nfe[method.name] * one_call
            first_latency = latency if first_latency is None else first_latency
            rows.append({"method": method.name, "sampler": method.sampler, "steps": method.steps, "batch": batch,
                         "nfe": nfe[method.name], "per_call_ms": one_call, "action_latency_ms": latency,
                         "actions_per_s": batch * 1000.0 / latency, "speedup_vs_first": first_latency / latency,
                         "control_rate_hz": w.control.rate_hz, "per_call_source": w.per_call.source,
                         **simulate_control_loop(latency, w.control, rng)})
    return RunOutput(metrics=pd.DataFrame(rows), info={"per_call": source_info,
                                                       "nfe_counted": nfe})
