"""Scenario kind ``fault_tolerant_training``: LLaMA data-parallel training under failures, per fault-tolerance
policy, over a long horizon (MeCeFO, Hu et al., arXiv 2510.16415, and its baselines; Llama 3's interruption record).

The ``failures:`` block draws failures anywhere in the cluster (one process, a uniformly drawn up device per
failure), per device, per node and optionally per rack (exponential or mean-matched
Weibull inter-arrivals, fixed / lognormal / empirical repairs, stragglers; `harness.failures.processes`) or replays
a CSV trace (`harness.failures.traces`). The trace and empirical repair CSVs are `DataFile` keys
(`harness.config.datafiles`): relative to the scenario file's folder, checked at validation, their contents part of
the run-id. Every replicate (``failures.replicates``, one child seed each) draws one
event list and runs every policy of ``workload.policies`` through it (`harness.failures.macro`), so the policies
meet the same failures. Step times per configuration are priced op by op from the timing replay
(`harness.failures.step_costs`), each once.

Validation refuses what cannot run: Oobleck (``oobleck`` among ``workload.policies``) with a smallest pipeline
template (``workload.oobleck.stages_min``) larger than the cluster, and failure rates that draw more than
`MAX_ARRIVALS` arrivals per replicate on average (horizon / MTBF per failing component, summed).

Metrics: one row per replicate and policy: ``tokens_per_s``, ``failure_free_tokens_per_s`` (the policy's own
speed with every device up), ``drop_pct``, ``n_failures``, ``n_repairs``, ``paused_h``, ``degraded_h``,
``lost_work_h`` (finished work thrown away, at failure-free speed), ``lost_per_failure_max_s`` and the policy's
documented bound ``bound_s``, ``time_to_target_h``. ``outputs.traces: true`` puts the first replicate's per-event
timeline into run.json (``info["timeline"]``).

Example scenarios: ``scenarios/mecefo/*.yaml``.
"""

from __future__ import annotations

import math
from typing import Literal

import pandas as pd
from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, field_validator, model_validator

from harness.config.blocks import ClusterScenario, OutputsSpec, Strict
from harness.config.datafiles import DataFile
from harness.errors import ScenarioError
from harness.failures.macro import simulate
from harness.failures.policies import POLICIES, PolicyCosts
from harness.failures.processes import (ClusterProcess, ComponentClass, InterArrival, Repair, generate_events,
                                        read_repair_csv)
from harness.failures.step_costs import StepPricer, StepSetup
from harness.failures.traces import ClusterShape, read_trace
from harness.models.llama import LLAMA_PRESETS, LlamaModel, resolve_model
from harness.non_finite import NOT_APPLICABLE_KEY
from harness.sim.topology import Topology
from harness.sim.units import gbps_to_bytes_per_ns
from harness.workloads.base import RunContext, RunOutput, register_workload
from harness.workloads.data_parallel_step import MAX_MICRO_BATCH, check_bucket_mb

PolicyName = Literal["failure_free", "checkpoint_restart", "bamboo", "oobleck", "mecefo"]
#: ``time_to_target_h`` is NaN without ``workload.target_tokens`` or when the horizon ends before the target
#: (`harness.failures.macro.simulate`), ``bound_s`` for checkpoint-restart when nothing can fail (no checkpoint is
#: ever written) (`harness.non_finite`)
NAN_MEANS_NOT_APPLICABLE = ("time_to_target_h", "bound_s")


class RepairSpec(Strict):
    kind: Literal["fixed", "lognormal", "empirical"] = Field("fixed", description="repair-time distribution")
    mean_h: NonNegativeFloat = Field(2.0, description="mean repair time, hours (fixed: the time)")
    sigma: PositiveFloat = Field(1.0, le=10, description="lognormal: standard deviation of the log")
    csv: DataFile | None = Field(None, description=(
        "empirical: CSV with one column duration_h (a relative path is read from the scenario file's folder; "
        "given with --set, from the current directory)"))

    @model_validator(mode="after")
    def _csv_for_empirical(self) -> RepairSpec:
        if self.kind == "empirical" and not self.csv:
            raise ValueError("repair kind 'empirical' needs csv: <file with a duration_h column>")
        if self.kind == "lognormal" and self.mean_h <= 0:
            raise ValueError("a lognormal repair needs mean_h > 0")
        return self

    def build(self, key: str = "repair") -> Repair:
        """The repair distribution; an empirical CSV's problems are raised naming ``key.csv`` and the file."""
        samples = ()
        if self.kind == "empirical" and self.csv:
            try:
                samples = read_repair_csv(self.csv)
            except ScenarioError as err:
                raise ScenarioError([f"{key}.csv: {line}" for line in err.problems]) from None
        return Repair(self.mean_h, self.kind, self.sigma, samples)


class ProcessSpec(Strict):
    mtbf_h: PositiveFloat = Field(description="mean time between failures of one component, hours")
    distribution: Literal["exponential", "weibull"] = "exponential"
    shape: float = Field(1.0, ge=0.1, le=100, description=(
        "Weibull shape (mean-matched to mtbf_h). At least 0.1: fitted failure logs give 0.7-0.8 (Schroeder & "
        "Gibson, DSN 2006), and below 0.1 a mean-matched Weibull puts nearly all draws near 0, so the draws it takes "
        "to pass the horizon explode (~3,400 to pass one mean at shape 0.05, ~10^17 at 0.01)"))
    repair: RepairSpec = Field(default_factory=RepairSpec)

    def interarrival(self) -> InterArrival:
        return InterArrival(self.mtbf_h, self.distribution, self.shape)


class RackSpec(ProcessSpec):
    nodes_per_rack: PositiveInt = Field(description="nodes behind one rack/switch (all go down with it)")


class StragglerSpec(Strict):
    mtbf_h: PositiveFloat = Field(description="mean time between straggler episodes of one device, hours")
    slowdown: float = Field(1.5, gt=1.0, le=1000, description="the device runs this many times slower")
    duration_h: PositiveFloat = Field(0.5, description="length of an episode, hours")


class FaultFailures(Strict):
    """Failure processes (or a trace) and the horizon."""

    horizon_h: PositiveFloat = Field(100.0, description="simulated wall-clock time, hours (e.g. horizon: 54d)")
    replicates: PositiveInt = Field(1, le=10_000, description="independent failure draws (one child seed each)")
    cluster: ProcessSpec | None = Field(None, description=(
        "failures anywhere in the cluster: mtbf_h between two failures, each on a device drawn among those up"))
    device: ProcessSpec | None = Field(None, description="per-device failures")
    node: ProcessSpec | None = Field(None, description="per-node failures (a node takes its devices down)")
    rack: RackSpec | None = Field(None, description="per-rack/switch failures (optional correlated domain)")
    stragglers: StragglerSpec | None = None
    failing_fraction: float = Field(1.0, gt=0.0, le=1.0, description=(
        "asymmetric failures: only the first ceil(fraction x count) devices / nodes can fail, each at mtbf_h"))
    trace: DataFile | None = Field(None, description=(
        "CSV trace time_h,component,kind,duration_h[,slowdown] instead of the processes (a relative path is read "
        "from the scenario file's folder; given with --set, from the current directory)"))


class MeCeFOSpec(Strict):
    lowrank_rank: PositiveInt = Field(64, le=1 << 16, description="r of the low-rank FFN weight gradient")
    refresh_every: PositiveInt = Field(100, le=1 << 20, description="tau: steps between refreshes of V1")
    power_iterations: PositiveInt = Field(2, le=100, description="block power-iteration rounds per refresh")


class OobleckSpec(Strict):
    stages_min: PositiveInt = Field(2, le=4096, description="smallest pipeline template (stages)")
    stages_max: PositiveInt = Field(8, le=4096, description="largest pipeline template (stages)")

    @model_validator(mode="after")
    def _ordered(self) -> OobleckSpec:
        if self.stages_min > self.stages_max:
            raise ValueError(f"stages_min {self.stages_min} > stages_max {self.stages_max}")
        return self


class CheckpointSpec(Strict):
    storage_gbytes_per_s: PositiveFloat = Field(10.0, description="checkpoint write/read bandwidth, GB/s")
    restart_min: NonNegativeFloat = Field(20.0, description="restart of the whole job after a failure, minutes")
    interval_rule: Literal["young", "daly"] = "young"
    interval_min: PositiveFloat | None = Field(None, description="fixed interval instead of Young/Daly, minutes")


class FaultTolerantWorkload(Strict):
    model: LlamaModel = Field("llama-350m", description=f"preset ({', '.join(LLAMA_PRESETS)}) or dims")
    micro_batch: PositiveInt = Field(8, le=MAX_MICRO_BATCH, description="sequences per rank per step")
    seq_len: PositiveInt = Field(256, le=1 << 20, description="tokens per sequence")
    dtype: Literal["float32", "bfloat16", "float16"] = "bfloat16"
    optimizer: Literal["adamw", "adamw_fused", "sgd_momentum", "none"] = "adamw"
    bucket_mb: PositiveFloat = Field(25.0, le=1e6, description="gradient bucket cap, MiB (at least 2**-20 = 1 byte)")
    overlap: bool = True
    activation_checkpointing: bool = Field(False, description=(
        "normal steps recompute every block's forward in backward (MeCeFO's neighbour keeps its own recomputation)"))
    policies: list[PolicyName] = Field(
        default_factory=lambda: ["failure_free", "checkpoint_restart", "bamboo", "oobleck", "mecefo"], min_length=1)
    detect_s: NonNegativeFloat = Field(30.0, description="failure detection time charged by every policy, s")
    target_tokens: PositiveFloat | None = Field(None, description="report the time to this many tokens")
    mecefo: MeCeFOSpec = Field(default_factory=MeCeFOSpec)
    oobleck: OobleckSpec = Field(default_factory=OobleckSpec)
    checkpoint: CheckpointSpec = Field(default_factory=CheckpointSpec)

    @field_validator("bucket_mb")
    @classmethod
    def _at_least_a_byte(cls, value: float) -> float:
        return check_bucket_mb(value)


#: failure / straggler arrivals expected per replicate, at most: ~2,400 times the Llama 3 405B record (419 in 54 days
#: on 16,384 GPUs) and 600 times the most frequent shipped scenario (1,600); every arrival is drawn and simulated
#: one by one (up to tens of microseconds per policy on 16,384 devices), so this keeps a replicate to minutes
MAX_ARRIVALS = 1_000_000


def expected_arrivals(failures: FaultFailures, shape: ClusterShape) -> list[tuple[str, float]]:
    """(key of the rate, arrivals it draws per replicate on average): horizon / MTBF per failing component (repairs
    only lower it; a cluster-wide process is one component)."""
    def failing(count: int) -> int:
        return count if failures.failing_fraction >= 1.0 else math.ceil(failures.failing_fraction * count)

    counts = {"cluster": 1, "device": failing(shape.n_devices), "node": failing(shape.nodes),
              "rack": math.ceil(shape.nodes / failures.rack.nodes_per_rack) if failures.rack else 0,
              "stragglers": shape.n_devices}
    return [(f"failures.{block}.mtbf_h", counts[block] * failures.horizon_h / spec.mtbf_h)
            for block in counts if (spec := getattr(failures, block)) is not None]


class FaultTolerantScenario(ClusterScenario):
    """LLaMA data-parallel training under failures: throughput of each fault-tolerance policy."""

    kind: Literal["fault_tolerant_training"] = "fault_tolerant_training"
    workload: FaultTolerantWorkload = Field(default_factory=FaultTolerantWorkload)
    failures: FaultFailures = Field(default_factory=FaultFailures)
    outputs: OutputsSpec = Field(default_factory=OutputsSpec)

    @model_validator(mode="after")
    def _fits_the_cluster(self) -> FaultTolerantScenario:
        n_devices = self.cluster.n_devices
        stages_min = self.workload.oobleck.stages_min
        if "oobleck" in self.workload.policies and stages_min > n_devices:
            # no pipeline template fits even with every device up: Oobleck could not train at all
            raise ValueError(f"workload.oobleck.stages_min: must be at most the cluster's {n_devices} device(s) "
                             f"(no pipeline of {stages_min} stages fits), got {stages_min}; enlarge the cluster "
                             "(cluster.nodes, cluster.devices_per_node) or leave oobleck out of workload.policies")
        if self.failures.trace is None:
            shape = ClusterShape(self.cluster.nodes, self.cluster.devices_per_node)
            arrivals = expected_arrivals(self.failures, shape)
            total = sum(n for _, n in arrivals)
            if total > MAX_ARRIVALS:
                key, n = max(arrivals, key=lambda item: item[1])
                raise ValueError(f"{key}: ~{total:.3g} failure arrivals per replicate expected over horizon_h "
                                 f"{self.failures.horizon_h:g} ({n:.3g} from this rate); at most {MAX_ARRIVALS:,} "
                                 f"are simulated: raise the MTBF or shorten the horizon")
        return self


def component_classes(failures: FaultFailures, shape: ClusterShape) -> list[ComponentClass]:
    """The failure processes of the block, as component classes (devices, nodes, racks, stragglers)."""
    def subset(count: int) -> tuple[int, ...] | None:
        return None if failures.failing_fraction >= 1.0 else tuple(range(math.ceil(failures.failing_fraction * count)))

    def repair(block: str) -> Repair:
        return getattr(failures, block).repair.build(f"failures.{block}.repair")

    classes: list[ComponentClass | ClusterProcess] = []
    if failures.cluster:
        f = failures.cluster
        classes.append(ClusterProcess(shape.n_devices, f.interarrival(), repair("cluster"), subset(shape.n_devices)))
    if failures.device:
        f = failures.device
        classes.append(ComponentClass("device", shape.n_devices, 1, f.interarrival(), repair("device"),
                                      subset=subset(shape.n_devices)))
    if failures.node:
        f = failures.node
        classes.append(ComponentClass("node", shape.nodes, shape.devices_per_node, f.interarrival(),
                                      repair("node"), subset=subset(shape.nodes)))
    if failures.rack:
        f = failures.rack
        n_racks = math.ceil(shape.nodes / f.nodes_per_rack)
        classes.append(ComponentClass("rack", n_racks, f.nodes_per_rack * shape.devices_per_node, f.interarrival(),
                                      repair("rack")))
    if failures.stragglers:
        s = failures.stragglers
        classes.append(ComponentClass("device", shape.n_devices, 1, InterArrival(s.mtbf_h), Repair(s.duration_h),
                                      kind="straggle", slowdown=s.slowdown))
    return classes


def job_mtbf_h(classes: list[ComponentClass | ClusterProcess]) -> float:
    """Mean time between failures of the whole job: 1 / sum of the failing components' rates (stragglers
    excluded; repairs ignored, as Young and Daly do)."""
    def count(c: ComponentClass | ClusterProcess) -> int:
        if isinstance(c, ClusterProcess):
            return 1
        return len(c.subset) if c.subset is not None else c.count

    rate = sum(count(c) / c.interarrival.mean_h for c in classes if c.kind == "fail")
    return math.inf if rate == 0 else 1.0 / rate


@register_workload("fault_tolerant_training", FaultTolerantScenario)
def run(scenario: FaultTolerantScenario, ctx: RunContext) -> RunOutput:
    w, f = scenario.workload, scenario.failures
    cluster = scenario.cluster
    shape = ClusterShape(cluster.nodes, cluster.devices_per_node, f.rack.nodes_per_rack if f.rack else None)
    classes = component_classes(f, shape)
    try:
        trace = read_trace(f.trace, shape, f.horizon_h) if f.trace else None
    except ScenarioError as err:
        raise ScenarioError([f"failures.trace: {line}" for line in err.problems]) from None
    if trace is None and not classes:
        raise ScenarioError(["failures: give at least one of cluster, device, node, rack, stragglers, or a trace"])
    n_trace_failures = sum(e.kind == "fail" for e in trace or [])
    mtbf_h = (f.horizon_h / n_trace_failures if n_trace_failures else math.inf) if trace else job_mtbf_h(classes)
    topology = Topology.from_config(cluster, scenario.network)
    setup = StepSetup(resolve_model(w.model), w.micro_batch, w.seq_len, w.dtype, w.optimizer, w.bucket_mb, w.overlap,
                      w.mecefo.lowrank_rank, w.mecefo.refresh_every, w.mecefo.power_iterations,
                      w.oobleck.stages_min, w.oobleck.stages_max, w.activation_checkpointing)
    pricer = StepPricer(setup, ctx.timings, topology)
    ckpt = w.checkpoint
    costs = PolicyCosts(
        detect_s=w.detect_s, restart_s=ckpt.restart_min * 60.0, storage_bytes_per_s=ckpt.storage_gbytes_per_s * 1e9,
        network_bytes_per_s=gbps_to_bytes_per_ns(scenario.network.inter_node.bandwidth_gbps) * 1e9,
        interval_rule=ckpt.interval_rule, interval_s=ckpt.interval_min * 60.0 if ckpt.interval_min else None,
        job_mtbf_s=mtbf_h * 3600.0)
    policies = [POLICIES[name](pricer, costs) for name in w.policies]
    rows, timeline = [], []
    total = f.replicates * len(policies)  # progress: one unit per replicate and policy
    for replicate, child in enumerate(ctx.seed_seq.spawn(f.replicates)):
        events = trace if trace is not None else generate_events(classes, f.horizon_h, child)
        for policy in policies:
            result = simulate(events, policy, shape.n_devices, f.horizon_h, w.target_tokens,
                              timeline=scenario.outputs.traces and replicate == 0)
            timeline += [{"policy": policy.name, **row} for row in result.timeline]
            rows.append({
                "replicate": replicate, "policy": policy.name, "tokens_per_s": result.tokens_per_s,
                "failure_free_tokens_per_s": result.reference_tokens_per_s, "drop_pct": result.drop_pct,
                "n_failures": result.n_failures, "n_repairs": result.n_repairs, "paused_h": result.paused_s / 3600,
                "degraded_h": result.degraded_s / 3600,
                "lost_work_h": result.lost_tokens / result.reference_tokens_per_s / 3600,
                "lost_per_failure_max_s": max(result.lost_per_failure_s, default=0.0), "bound_s": policy.bound_s(),
                "time_to_target_h": result.time_to_target_s / 3600,
            })
            ctx.progress(len(rows), total)
    info = {
        "timing_sources": ctx.timings.summary(),
        "n_devices": shape.n_devices,
        "job_mtbf_h": mtbf_h,
        "tokens_per_step": pricer.tokens_per_step,
        "step_s": {"normal": pricer.normal_step_s(), "mecefo_neighbour_2": pricer.neighbour_step_s(2),
                   "bamboo": pricer.bamboo_step_s(False), "bamboo_fallback": pricer.bamboo_step_s(True),
                   "oobleck_all_up": pricer.pipeline_step_s(shape.n_devices)},
        "checkpoint": {"state_bytes": pricer.state_bytes,
                       "interval_s": next((p.interval_s for p in policies if hasattr(p, "interval_s")), None)},
        "trace": f.trace,
        NOT_APPLICABLE_KEY: list(NAN_MEANS_NOT_APPLICABLE),
    }
    if timeline:
        info["timeline"] = timeline
    return RunOutput(metrics=pd.DataFrame(rows), info=info)


def summarise(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per policy: median tokens/s and drop over replicates, the failure-free speed, median failures."""
    grouped = metrics.groupby("policy", sort=False)
    return pd.DataFrame({
        "failure_free_tokens_per_s": grouped["failure_free_tokens_per_s"].first(),
        "tokens_per_s": grouped["tokens_per_s"].median(),
        "drop_pct": grouped["drop_pct"].median(),
        "n_failures": grouped["n_failures"].median(),
    }).reset_index()


