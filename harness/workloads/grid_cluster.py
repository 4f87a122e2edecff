"""Scenario kind ``grid_cluster``: a GPU training cluster and a modular battery follow a regulation request together.

A grid-interactive data centre in the setting of arXiv 2504.03150 (modular batteries providing fast frequency
response), extended with a flexible load: the site's net draw must follow

    P_net,k = P_base - r_k C_reg        (r_k in [-1, 1]: + asks the site to draw less)

where P_net = P_cluster - P_battery (battery discharge lowers the draw).

Cluster power comes from the training-step model of the ``data_parallel_step`` kind (its compute and exposed
communication phases per step, op by op from the timing tables; `harness.workloads.data_parallel_step`) and
per-device power figures with sources (`DEVICE_POWER`): during compute a GPU draws its power cap; during exposed
communication it draws ``comm_power_fraction`` of its TDP (an assumption, configurable); every node adds its
non-GPU draw. The cluster may cap its GPUs to a fraction c of TDP: compute slows as c^(-1/3) (dynamic power ~ f^3
under DVFS, an assumption that overstates the slowdown of memory-bound kernels), communication does not slow.

Split of the request: the cluster follows the slow part (an exponential moving average of r with time constant
``cluster_tau_s``) by moving its cap around ``nominal_cap`` within [``min_cap``, 1] with a ramp limit; the battery
(Case I modules scaled to ``battery_kw`` of converter rating, dispatched by `methods.battery.simulate.run_loop`
with ``battery_method``) covers the rest. Outputs: PJM-style performance score (Manual 12: accuracy = max
correlation of signal and response over delays 0-5 min, delay score = 1 - delay/5 min, precision = 1 -
mean|response - signal| / mean|signal|, composite = their mean; delays are searched up to half the run at most, so
each correlation spans at least half of the samples, and a response with no positive correlation at any delay gets
no delay score), tracking RMSE, battery loss and aging cost, and
the training-throughput cost (steps completed vs the uncapped cluster).

Metrics, one row per control step: ``time_s``, ``regulation``, ``target_kw``, ``cluster_kw``, ``battery_kw``,
``net_kw``, ``shortfall_kw``, ``gpu_cap``, ``step_time_ms``, ``throughput`` (relative to uncapped).
Example scenario: ``scenarios/battery/grid_cluster.yaml`` (a sweep over battery sizes).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, NonNegativeFloat, PositiveFloat, model_validator

from harness.config.blocks import ClusterScenario, Strict
from harness.workloads.base import RunContext, RunOutput, register_workload
from harness.workloads.data_parallel_step import DataParallelScenario, DataParallelWorkload
from harness.workloads.data_parallel_step import run as run_dp_step
from harness.workloads.ffr_dispatch import SignalSpec, build_signal

#: Device -> (GPU TDP in W, non-GPU draw per 8-GPU node in W), with sources.
#: H100 SXM: TDP up to 700 W (NVIDIA H100 Tensor Core GPU datasheet); DGX H100 system maximum 10.2 kW for 8 GPUs
#: (NVIDIA DGX H100 datasheet), so 10.2 kW - 8 x 0.7 kW = 4.6 kW for CPUs, NICs, NVSwitches, fans at most.
#: A100 SXM: TDP 400 W (NVIDIA A100 datasheet); DGX A100 system maximum 6.5 kW (NVIDIA DGX A100 datasheet), so
#: 6.5 - 8 x 0.4 = 3.3 kW per node.
DEVICE_POWER: dict[str, tuple[float, float]] = {
    "h100": (700.0, 4600.0),
    "a100": (400.0, 3300.0),
}


class GridClusterWorkload(Strict):
    training: DataParallelWorkload = Field(default_factory=DataParallelWorkload,
                                           description="the training step (data_parallel_step workload)")
    signal: SignalSpec = Field(default_factory=lambda: SignalSpec(duration_s=3600.0))
    regulation_kw: PositiveFloat = Field(20.0, description="C_reg offered by the site, kW")
    battery_kw: NonNegativeFloat = Field(20.0, description="battery converter rating (Case I modules scaled), kW")
    battery_hours: PositiveFloat = Field(0.5, le=24, description="battery energy / rating, hours")
    battery_method: Literal["proposed", "loss_only", "capacity", "soc"] = "proposed"
    battery_scheduler: Literal["miqcp", "priority"] = "priority"
    cluster_follows: bool = Field(True, description="the cluster caps its power to follow the slow part")
    cluster_tau_s: PositiveFloat = Field(120.0, description=(
        "time constant of the slow part the cluster follows, seconds (at or below dt_s: the cluster follows r)"))
    nominal_cap: float = Field(0.85, gt=0, le=1, description="GPU power cap at r = 0, fraction of TDP")
    min_cap: float = Field(0.5, gt=0, le=1, description="lowest GPU power cap, fraction of TDP")
    cap_ramp_per_s: PositiveFloat = Field(0.05, description="largest cap change per second")
    comm_power_fraction: float = Field(0.5, ge=0, le=1, description="GPU draw during exposed communication / TDP")

    @model_validator(mode="after")
    def _check(self) -> GridClusterWorkload:
        if self.min_cap > self.nominal_cap:
            raise ValueError(f"min_cap: must be <= nominal_cap = {self.nominal_cap}, got {self.min_cap}")
        return self


class GridClusterScenario(ClusterScenario):
    """A training cluster (power from its step phases) plus a modular battery following a regulation request."""

    kind: Literal["grid_cluster"] = "grid_cluster"
    workload: GridClusterWorkload = Field(default_factory=GridClusterWorkload)


@dataclasses.dataclass(frozen=True)
class ClusterPower:
    """Power model of the cluster: per-step phases and the draw at a GPU cap."""

    n_gpus: int
    n_nodes: int
    tdp_w: float
    node_w: float
    compute_ms: float
    comm_ms: float
    comm_fraction: float

    def step_ms(self, cap: float) -> float:
        return self.compute_ms * cap ** (-1.0 / 3.0) + self.comm_ms

    def power_kw(self, cap: float) -> float:
        compute = self.compute_ms * cap ** (-1.0 / 3.0)
        gpu_w = (compute * cap * self.tdp_w + self.comm_ms * self.comm_fraction * self.tdp_w) / self.step_ms(cap)
        return (self.n_gpus * gpu_w + self.n_nodes * self.node_w) * 1e-3


def cluster_power(scenario: GridClusterScenario, ctx: RunContext) -> ClusterPower:
    """Step phases from the data_parallel_step model, power figures from `DEVICE_POWER`."""
    from harness.errors import ScenarioError

    device = scenario.cluster.device
    if device not in DEVICE_POWER:
        raise ScenarioError([f"cluster.device: no sourced power figures for {device!r}; known: "
                             f"{', '.join(DEVICE_POWER)}"])
    step = DataParallelScenario(name=scenario.name, cluster=scenario.cluster, network=scenario.network,
                                timings=scenario.timings, workload=scenario.workload.training.model_copy(
                                    update={"n_steps": 1}))
    row = run_dp_step(step, ctx).metrics.iloc[0]
    tdp, node = DEVICE_POWER[device]
    n_nodes = scenario.cluster.nodes
    per_node = scenario.cluster.devices_per_node
    return ClusterPower(n_nodes * per_node, n_nodes, tdp, node * per_node / 8, float(row["compute_ms"]),
                        float(row["exposed_comm_ms"]), scenario.workload.comm_power_fraction)


def performance_score(signal: np.ndarray, response: np.ndarray, dt_s: float) -> dict[str, float]:
    """PJM-style accuracy, delay, precision and composite score (module docstring), all in [0, 1]."""
    # delays up to 5 minutes, and at most half the run: every correlation spans at least half of the samples (over
    # a few samples any two series correlate near +-1, which would credit an unrelated response in a short run)
    max_lag = min(int(300 / dt_s), len(signal) // 2)
    best, best_lag = -1.0, 0
    for lag in range(0, max_lag + 1):
        a, b = signal[: len(signal) - lag], response[lag:]
        if np.std(a) > 0 and np.std(b) > 0:
            c = float(np.corrcoef(a, b)[0, 1])
            if c > best:
                best, best_lag = c, lag
    accuracy = max(best, 0.0)
    # no positive correlation at any delay: the response does not follow the signal, so no delay is credited
    delay = max(0.0, 1.0 - best_lag * dt_s / 300.0) if best > 0 else 0.0
    precision = max(0.0, 1.0 - float(np.mean(np.abs(response - signal))) / max(float(np.mean(np.abs(signal))), 1e-12))
    return {"accuracy": accuracy, "delay": delay, "precision": precision,
            "composite": (accuracy + delay + precision) / 3.0}


def scaled_battery(rating_kw: float, hours: float) -> tuple:
    """Case I modules scaled so their ratings sum to ``rating_kw`` and each holds ``hours`` of its rating."""
    from methods.battery.presets import CASE1

    total = sum(m.power_kw for m in CASE1)
    out = []
    for m in CASE1:
        power = m.power_kw * rating_kw / total
        out.append(dataclasses.replace(m, power_kw=power, capacity_kwh=power * hours / m.soh,
                                       r_pack_ohm=m.r_pack_ohm * total / rating_kw,
                                       r_conv_ohm=m.r_conv_ohm * total / rating_kw,
                                       standby_w=m.standby_w * rating_kw / total))
    return tuple(out)


@register_workload("grid_cluster", GridClusterScenario)
def run(scenario: GridClusterScenario, ctx: RunContext) -> RunOutput:
    """Per control step (columns in the module docstring); scores and costs in ``info``."""
    from methods.battery.simulate import LoopSettings, run_loop

    w = scenario.workload
    model = cluster_power(scenario, ctx)
    r, signal_info = build_signal(w.signal, np.random.default_rng(ctx.seed_seq.spawn(1)[0]))
    dt = w.signal.dt_s
    p_base = model.power_kw(w.nominal_cap)
    caps = np.full(len(r), w.nominal_cap)
    if w.cluster_follows:
        slow, cap = 0.0, w.nominal_cap
        # forward-Euler weight of the low-pass, capped at 1: a time constant shorter than the control step means
        # the cluster follows r itself (above 1 the update overshoots, above 2 it diverges). The exact weight
        # 1 - exp(-dt/tau) would move the shipped results (0.0167 vs 0.0165 at dt = 2 s, tau = 120 s).
        alpha = min(dt / w.cluster_tau_s, 1.0)
        grid = np.linspace(w.min_cap, 1.0, 201)
        table = np.array([model.power_kw(c) for c in grid])  # increasing in the cap
        for k, value in enumerate(r):
            slow += alpha * (value - slow)
            wanted = float(np.interp(p_base - slow * w.regulation_kw, table, grid))
            step = np.clip(wanted - cap, -w.cap_ramp_per_s * dt, w.cap_ramp_per_s * dt)
            cap = float(np.clip(cap + step, w.min_cap, 1.0))
            caps[k] = cap
    cluster_kw = np.array([model.power_kw(c) for c in caps])
    target = p_base - r * w.regulation_kw
    residual = cluster_kw - target  # what the battery must discharge (+) or absorb (-)
    battery_info: dict[str, float] = {}
    if w.battery_kw > 0:
        modules = scaled_battery(w.battery_kw, w.battery_hours)
        result = run_loop(modules, residual, w.battery_method, LoopSettings(dt_s=dt, mode=w.battery_scheduler),
                          on_step=ctx.progress)  # control steps
        battery = result.steps["delivered_kw"].to_numpy()
        battery_info = {k: v for k, v in result.totals.items() if not k.startswith("status_")}
    else:
        battery = np.zeros(len(r))
    net = cluster_kw - battery
    response = (p_base - net) / w.regulation_kw
    uncapped = model.step_ms(1.0)
    throughput = np.array([uncapped / model.step_ms(c) for c in caps])
    nominal = uncapped / model.step_ms(w.nominal_cap)
    metrics = pd.DataFrame({
        "step": np.arange(len(r)), "time_s": np.arange(len(r)) * dt, "regulation": r, "target_kw": target,
        "cluster_kw": cluster_kw, "battery_kw": battery, "net_kw": net, "shortfall_kw": net - target,
        "gpu_cap": caps, "step_time_ms": [model.step_ms(c) for c in caps], "throughput": throughput,
    })
    info = {
        "score": performance_score(r, response, dt),
        "tracking_rmse_kw": float(np.sqrt(np.mean((net - target) ** 2))),
        "throughput_loss_pct": float(100 * (1 - throughput.mean())),
        "throughput_loss_vs_nominal_pct": float(100 * (1 - throughput.mean() / nominal)),
        "battery": battery_info,
        "cluster": dataclasses.asdict(model) | {"base_kw": p_base, "uncapped_kw": model.power_kw(1.0),
                                                "min_cap_kw": model.power_kw(w.min_cap)},
        "power_sources": "H100/A100 TDP and DGX system maxima from NVIDIA datasheets; communication-phase "
                         "draw and the c^(-1/3) slowdown are assumptions",
        "signal": signal_info,
    }
    return RunOutput(metrics=metrics, info=info)
