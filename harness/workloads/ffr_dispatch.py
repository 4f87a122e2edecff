"""Scenario kind ``ffr_dispatch``: N battery modules follow a regulation / FFR request (arXiv 2504.03150).

The request is P_req = P_base + r_k C_reg with r_k in [-1, 1] from ``workload.signal``: a RegD-like signal, the
droop response to an Ornstein-Uhlenbeck grid-frequency deviation or to a generation-loss event, or a user's CSV
(`methods.grid.signals`; ``workload.signal.path`` is a `DataFile` key, `harness.config.datafiles`: relative to the
scenario file's folder, checked at validation, its content part of the run-id). Each method of
``workload.methods`` runs the same request in closed loop (`methods.battery.simulate.run_loop`): ``proposed``
(the MIQCP with aging, or its activation-priority acceleration, per ``workload.scheduler.mode``; the MIQCP as a
native SCIP model or through cvxpy, per ``workload.scheduler.backend``), ``loss_only``, ``capacity``, ``soc``.

Metrics, one row per (method, step): ``method``, ``step``, ``time_s``, ``request_kw``, ``delivered_kw``,
``shortfall_kw``, ``loss_kw``, ``loss_cost_usd``, ``active_modules``, ``switches``, ``soc_min``, ``soc_max``,
``soc_spread``, ``solve_ms`` (wall clock; NaN for rule-based methods), ``solve_cpu_ms`` (this process's CPU time
of the same call, robust to other load on the machine), ``fallback`` (the scheduler failed and the fallback
baseline decided this step), ``solver_nodes`` (SCIP nodes; 0 = proven by the Lagrangian bound),
``model_loss_excess_kw``, ``power_kw_<module>`` and ``soc_<module>`` per module.
run.json ``info``: ``totals`` per method (loss cost, aging cost by exact rainflow, tracking RMSE, shortfall, SoC
spread, fallback steps, solver statuses, solve-time median / p99), ``per_module`` aging, ``modules`` (parameters),
``signal`` (what was generated and its statistics).

Example scenarios: ``scenarios/battery/case1.yaml``, ``case2.yaml``, ``frequency_droop.yaml``.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

from harness.config.blocks import ScenarioBase, Strict
from harness.config.datafiles import DataFile
from harness.errors import ScenarioError
from harness.non_finite import NOT_APPLICABLE_KEY
from harness.workloads.base import RunContext, RunOutput, register_workload
from methods.grid.signals import MIN_INERTIA_S

Method = Literal["proposed", "loss_only", "capacity", "soc"]
#: the scheduler's columns (`methods.battery.simulate.run_loop`): NaN on the rows of the rule-based methods, and
#: the solver's nodes and model loss excess also where the backend does not report them (cvxpy) or the step fell
#: back (`harness.non_finite`)
NAN_MEANS_NOT_APPLICABLE = ("solve_ms", "solve_cpu_ms", "solver_nodes", "model_loss_excess_kw")


#: Most control steps (duration_s / dt_s) of one signal: a week of RegD's 2 s updates, the longest signal the
#: schema allowed at the RegD rate. Every step is one scheduler call per method in the closed loop (~0.5 ms for the
#: sharing rules, ~5 ms for the priority QCP on the 2-core dev machine, up to time_limit_s for the MIQCP) and one
#: metrics row per method with two columns per module, so this is already hours of loop and GiB of rows.
MAX_CONTROL_STEPS = 302_400
#: Most (control step, module, method) cells of one run: the closed loop keeps ~120 bytes of metrics per module
#: and step for every method (per-module power and SoC columns, row dicts, the CSV text; measured), so ~2.4 GB.
#: Six modules and four methods never reach it within `MAX_CONTROL_STEPS`; 1000 scaled modules do after 20,000.
MAX_MODULE_STEPS = 20_000_000


class SignalSpec(Strict):
    """Where the normalized request r in [-1, 1] comes from."""

    type: Literal["regd", "frequency", "event", "csv"] = Field("regd", description="signal generator")
    duration_s: PositiveFloat = Field(3600.0, le=7 * 86400, description=(
        "simulated time, seconds: at least dt_s (one control step), at most 302,400 x dt_s"))
    dt_s: PositiveFloat = Field(2.0, le=60, description=(
        "control step, seconds (RegD: 2 s); duration_s / dt_s is capped at 302,400 steps (a week at 2 s)"))
    grid: Literal["continental_europe", "great_britain", "nordic"] = Field(
        "continental_europe", description="frequency statistics preset (type frequency)")
    deadband_hz: NonNegativeFloat = Field(0.015, description="droop deadband (types frequency, event, csv in Hz)")
    full_response_hz: PositiveFloat = Field(0.2, description="deviation of full response (droop)")
    loss_pu: NonNegativeFloat = Field(0.02, lt=1, description="generation lost, per unit of system load (event)")
    inertia_s: float = Field(5.0, ge=MIN_INERTIA_S, description=(
        "system inertia constant H, seconds of rated energy (event): 2-9 s in large grids (Kundur 1994), ~1 s in "
        "low-inertia and island grids; at least 0.1 s, ten times below those (the nadir grid resolves the "
        "fastest mode, ~1/(2H), so its cost grows as 1/H)"))
    path: DataFile | None = Field(None, description=(
        "CSV with time_s and one of frequency_hz, deviation_hz, deviation_mhz, regulation_pu (type csv; a relative "
        "path is read from the scenario file's folder; given with --set, from the current directory)"))

    @model_validator(mode="after")
    def _check(self) -> SignalSpec:
        if self.duration_s < self.dt_s:
            raise ValueError(f"duration_s: must be at least dt_s = {self.dt_s:g} s (one control step), got "
                             f"{self.duration_s:g}")
        if self.duration_s / self.dt_s > MAX_CONTROL_STEPS:
            raise ValueError(f"dt_s: duration_s / dt_s = {self.duration_s:g} / {self.dt_s:g} = "
                             f"{self.duration_s / self.dt_s:.3g} control steps, more than {MAX_CONTROL_STEPS:,} "
                             f"(a week of RegD's 2 s updates); raise dt_s or shorten duration_s")
        if (self.type == "csv") != (self.path is not None):
            raise ValueError("path: give a CSV path exactly when type is csv")
        if self.deadband_hz >= self.full_response_hz:
            raise ValueError(f"deadband_hz: must be below full_response_hz = {self.full_response_hz}")
        return self


class ModuleSpec(Strict):
    """One module (units in the key names; see `methods.battery.modules.ModuleParams`)."""

    name: str = Field(max_length=20, pattern=r"^[A-Za-z0-9_]+$")
    capacity_kwh: PositiveFloat
    power_kw: PositiveFloat
    v_nom: float = Field(ge=1, description=(
        "pack voltage at SoC 0.5, volts: at least 1 V (one cell is ~3.7 V; packs run 48-1500 V), which keeps "
        "the loss coefficient R / V^2 finite"))
    r_pack_ohm: NonNegativeFloat
    r_conv_ohm: NonNegativeFloat
    switch_v: NonNegativeFloat = 0.6
    standby_w: NonNegativeFloat = 40.0
    soc0: float = Field(0.5, ge=0, le=1)
    soh: float = Field(1.0, gt=0, le=1)
    soc_min: float = Field(0.1, ge=0, le=1)
    soc_max: float = Field(0.9, ge=0, le=1)

    @model_validator(mode="after")
    def _check(self) -> ModuleSpec:
        from methods.battery.modules import ModuleParams

        if not (self.soc_min <= self.soc0 <= self.soc_max):
            raise ValueError(f"soc0: expected soc_min <= soc0 <= soc_max, got {self.soc_min}, {self.soc0}, "
                             f"{self.soc_max}")
        # The plant solves Pb = P + rho Pb^2 + (a/V) Pb + b for the rated discharge P at every SoC in the window;
        # that has a root only up to the maximum power transfer (1 - a/V)^2 / (4 rho) - b, lowest at the lowest
        # voltage (OCV at soc_min). A module whose rating is beyond it cannot deliver its rating.
        module = ModuleParams(**self.model_dump())
        rho, a_over_v, b_kw = module.loss_coefficients(self.soc_min)
        volts = module.ocv(self.soc_min)
        if a_over_v >= 1.0:
            raise ValueError(f"switch_v: the switching loss a |I| must stay below the power V |I|: a = "
                             f"{self.switch_v:g} V >= the pack's OCV at soc_min, {volts:.4g} V")
        reach = (1.0 - a_over_v) ** 2 / (4.0 * rho) - b_kw if rho > 0 else float("inf")
        if self.power_kw > reach:
            raise ValueError(f"power_kw: {self.power_kw:g} kW is beyond the module's maximum power transfer at its "
                             f"lowest voltage ({volts:.4g} V at soc_min = {self.soc_min:g}): {reach:.4g} kW with "
                             f"r_pack_ohm + r_conv_ohm = {self.r_pack_ohm + self.r_conv_ohm:g}, switch_v = "
                             f"{self.switch_v:g}, standby_w = {self.standby_w:g}")
        return self


class SchedulerSpec(Strict):
    mode: Literal["miqcp", "priority"] = Field("miqcp", description="full MIQCP (SCIP) or priority + QCP")
    backend: Literal["native", "cvxpy"] = Field(
        "native", description="how the MIQCP reaches SCIP: one PySCIPOpt model updated in place (native) or "
                              "cvxpy Parameters and its SCIP interface (cvxpy); same problem, same gap")
    horizon: PositiveInt = Field(1, le=150, description="receding-horizon steps H")
    forecast: Literal["persistence", "perfect"] = Field("persistence", description="request over the horizon")
    time_limit_s: PositiveFloat = Field(1.0, description=(
        "solver time limit per step, seconds of SCIP's CPU time (other work on the machine does not count)"))
    mip_gap: NonNegativeFloat = Field(1e-4, description="relative MIP gap at which SCIP stops")
    fallback: Literal["capacity", "soc"] = Field("soc", description="baseline used for a failed step")


class CostSpec(Strict):
    energy_usd_per_kwh: NonNegativeFloat = 0.10
    switch_usd: NonNegativeFloat = 0.0
    shortfall_usd_per_kwh: NonNegativeFloat = 100.0
    replacement_usd_per_kwh: NonNegativeFloat = 150.0
    end_of_life: float = Field(0.8, gt=0, lt=1)
    stress_k_p: PositiveFloat = Field(5.24e-4, description="Phi(d) = k_p d^k_e (Xu et al. 2018)")
    stress_k_e: float = Field(2.03, ge=1, le=4)


class FfrWorkload(Strict):
    case: Literal["case1", "case2", "custom", "scaled"] = Field("case1", description="module set")
    modules: list[ModuleSpec] = Field(default_factory=list, description="modules (case custom)")
    n_modules: PositiveInt = Field(6, le=1000, description="module count (case scaled)")
    regulation_kw: PositiveFloat | None = Field(None, description="C_reg; default: the case's value")
    base_kw: float = Field(0.0, description="P_base added to r C_reg")
    signal: SignalSpec = Field(default_factory=SignalSpec)
    methods: list[Method] = Field(default_factory=lambda: ["proposed", "loss_only", "capacity", "soc"],
                                  min_length=1)
    scheduler: SchedulerSpec = Field(default_factory=SchedulerSpec)
    costs: CostSpec = Field(default_factory=CostSpec)

    @model_validator(mode="after")
    def _check(self) -> FfrWorkload:
        if (self.case == "custom") != bool(self.modules):
            raise ValueError("modules: list modules exactly when case is custom")
        if len(set(self.methods)) != len(self.methods):
            raise ValueError(f"methods: listed twice: {self.methods}")
        steps = round(self.signal.duration_s / self.signal.dt_s)
        cells = steps * self.module_count * len(self.methods)
        if cells > MAX_MODULE_STEPS:
            key = "n_modules" if self.case == "scaled" else "modules" if self.case == "custom" else "methods"
            raise ValueError(f"{key}: control steps x modules x methods = {steps} x {self.module_count} x "
                             f"{len(self.methods)} = {cells:.3g}, more than "
                             f"{MAX_MODULE_STEPS:.3g} (~120 bytes of per-module metrics each); shorten "
                             f"signal.duration_s, raise signal.dt_s, or use fewer modules or methods")
        return self

    @property
    def module_count(self) -> int:
        if self.case == "custom":
            return len(self.modules)
        if self.case == "scaled":
            return self.n_modules
        from methods.battery.presets import CASES

        return len(CASES[self.case][0])


class FfrScenario(ScenarioBase):
    """Modular-battery fast frequency response: proposed scheduler vs baselines on one request signal."""

    kind: Literal["ffr_dispatch"] = "ffr_dispatch"
    workload: FfrWorkload = Field(default_factory=FfrWorkload)


# ------------------------------------------------------------------------------------------------ building
def build_modules(w: FfrWorkload, seed: int = 0) -> tuple[tuple, float]:
    """(modules, C_reg in kW) of the workload."""
    from methods.battery.modules import ModuleParams
    from methods.battery.presets import CASES, scaled_modules

    if w.case == "custom":
        modules = tuple(ModuleParams(**spec.model_dump()) for spec in w.modules)
        default = 0.5 * sum(m.power_kw for m in modules)
    elif w.case == "scaled":
        modules = scaled_modules(w.n_modules, seed)
        default = 0.5 * sum(m.power_kw for m in modules)
    else:
        modules, default = CASES[w.case]
    return modules, (w.regulation_kw or default)


def build_signal(spec: SignalSpec, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, float | str]]:
    """Normalized request r (one value per control step) and a description of it for run.json."""
    from methods.grid import signals

    n = int(round(spec.duration_s / spec.dt_s))
    info: dict[str, float | str] = {"type": spec.type, "steps": n, "dt_s": spec.dt_s}
    droop = {"deadband_hz": spec.deadband_hz, "full_hz": spec.full_response_hz}
    if spec.type == "regd":
        r = signals.regd_like(spec.duration_s, rng, dt_s=spec.dt_s)
    elif spec.type == "frequency":
        df = signals.ou_frequency_deviation(spec.duration_s, rng, spec.grid, dt_s=spec.dt_s)
        info.update(grid=spec.grid, deviation_std_hz=float(np.std(df)))
        r = signals.droop_request(df, **droop)
    elif spec.type == "event":
        event = signals.generation_loss_event(spec.loss_pu, spec.duration_s, inertia_s=spec.inertia_s,
                                              dt_s=spec.dt_s)
        info.update(nadir_hz=event.nadir_hz, nadir_time_s=event.nadir_time_s, rocof_hz_per_s=event.rocof_hz_per_s)
        r = signals.droop_request(event.deviation_hz, **droop)
    else:
        try:
            trace = signals.read_signal_csv(spec.path or "")
        except signals.SignalFileError as error:
            raise ScenarioError([f"workload.signal.path: {error}"]) from None
        except UnicodeDecodeError as error:
            raise ScenarioError([f"workload.signal.path: {spec.path}: not UTF-8 text ({error.reason} at byte "
                                 f"{error.start})"]) from None
        except OSError as error:
            raise ScenarioError([f"workload.signal.path: {spec.path}: cannot read the file "
                                 f"({error.strerror or error})"]) from None
        values = trace.resample(spec.dt_s, spec.duration_s)
        info["quantity"] = trace.quantity
        if trace.quantity == "regulation_pu":
            r = values
        else:
            nominal = 60.0 if abs(float(np.median(values)) - 60.0) < 5 else 50.0
            df = values - nominal if trace.quantity == "frequency_hz" else values
            r = signals.droop_request(df, **droop)
    r = np.asarray(r, dtype=float)[:n]
    info.update(mean=float(np.mean(r)), std=float(np.std(r)), saturated_share=float(np.mean(np.abs(r) >= 0.999)))
    return r, info


def loop_settings(w: FfrWorkload):
    """`LoopSettings` of the workload."""
    from methods.battery.aging import AgingCost, StressCurve
    from methods.battery.scheduler import Prices
    from methods.battery.simulate import LoopSettings

    c, s = w.costs, w.scheduler
    return LoopSettings(
        dt_s=w.signal.dt_s, horizon=s.horizon, forecast=s.forecast, mode=s.mode, backend=s.backend,
        time_limit_s=s.time_limit_s, mip_gap=s.mip_gap, fallback=s.fallback,
        prices=Prices(c.energy_usd_per_kwh, c.switch_usd, c.shortfall_usd_per_kwh),
        aging=AgingCost(c.replacement_usd_per_kwh, c.end_of_life, StressCurve(c.stress_k_p, c.stress_k_e)),
    )


@register_workload("ffr_dispatch", FfrScenario)
def run(scenario: FfrScenario, ctx: RunContext) -> RunOutput:
    """Every method x step (columns in the module docstring); totals per method in ``info``."""
    from methods.battery.simulate import run_loop

    w = scenario.workload
    signal_seed, module_seed = ctx.seed_seq.spawn(2)
    modules, regulation_kw = build_modules(w, int(module_seed.generate_state(1)[0]))
    r, signal_info = build_signal(w.signal, np.random.default_rng(signal_seed))
    request = w.base_kw + regulation_kw * r
    settings = loop_settings(w)
    frames, totals, per_module = [], {}, {}
    total = len(w.methods) * len(request)  # control steps of every method
    for i, method in enumerate(w.methods):
        result = run_loop(modules, request, method, settings,
                          on_step=lambda done, _steps, before=i * len(request): ctx.progress(before + done, total))
        frames.append(result.steps.assign(method=method, regulation=r))
        totals[method] = result.totals
        per_module[method] = result.per_module.to_dict(orient="list")
    metrics = pd.concat(frames, ignore_index=True)
    info = {
        "totals": totals,
        "per_module": per_module,
        "modules": [dataclasses.asdict(m) for m in modules],
        "regulation_kw": regulation_kw,
        "signal": signal_info,
        "scheduler": w.scheduler.model_dump(),
        NOT_APPLICABLE_KEY: list(NAN_MEANS_NOT_APPLICABLE),
    }
    return RunOutput(metrics=metrics, info=info)
