"""Scenario kind ``frb_cascade``: counterpart-driven e± pair cascades that truncate a fast radio burst.
Follows He, Keitel & Tamburini (arXiv 2505.14413), reconstructed with `methods.astro` (the paper's body could not be
read): leptons energised by the FRB wave up-scatter the X-ray counterpart's photons (Klein–Nishina), the γ-rays
make e⁺e⁻ pairs on the same photons (Breit–Wheeler), and the pairs cut the burst off.

One run is one radius. The counterpart is FRB 200428's X-ray burst (fit ``spectrum``: hxmt / konus / integral),
its luminosity from the published peak flux and distance unless ``luminosity_erg_s`` fixes it.

``output: dynamics`` — the cascade in time, one row per (solver, time point): ``solver`` (``rate``: the rate
equations; ``monte_carlo``: mean over replicas, up to ``mc_efolds`` e-foldings, none when ``mc_replicas`` is 0),
``time_s``, ``time_ms``, ``multiplicity`` (N(t)/N(0)), ``multiplicity_stderr`` (0 for the rates),
``pair_density_cm3``, and per criterion the ratio to its threshold: ``plasma_ratio`` (n_± / cut-off density),
``energy_ratio`` (drawn energy / FRB energy density), ``opacity_tau``; plus (constant) ``t_trunc_<criterion>_s``,
``truncated_<criterion>``, ``growth_rate_per_s``. The horizon is ``horizon_factor`` x the plasma cut-off time (or
``efolds`` e-foldings when it is not reached).

``output: truncation`` — one row per (sample, criterion): ``sample`` (0: central values; 1..``samples``: draws
within the observational ranges, `methods.astro.counterpart.sample`), ``alpha``, ``peak_kev``,
``luminosity_x_erg_s``, ``radius_cm``, ``a0``, ``gamma_lepton``, ``seed_density_cm3``, ``growth_rate_per_s``,
``criterion``, ``t_trunc_s``, ``t_trunc_ms``, ``truncated`` (False: not within ``horizon_s``, which is then the
value, a lower bound), ``no_cascade`` (why there is none, or empty).

Example scenarios: ``scenarios/frb/dynamics.yaml``, ``scenarios/frb/truncation_vs_radius.yaml``.
"""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import Field, NonNegativeInt, PositiveInt, model_validator

from harness.config.blocks import ScenarioBase, Strict
from harness.errors import ScenarioError
from harness.workloads.base import RunContext, RunOutput, register_workload

if TYPE_CHECKING:  # the physics (scipy's solvers) is imported when a run starts, not when the kind is listed
    from methods.astro.counterpart import Counterpart
    from methods.astro.field import CascadeTables
    from methods.astro.truncation import Truncation

Spectrum = Literal["hxmt", "konus", "integral"]

#: Smallest radius of the FRB front [cm]: the neutron-star surface (`methods.astro.truncation.NS_RADIUS_CM`).
MIN_RADIUS_CM = 1e6
#: Most rate-table builds of a truncation run, counted at 48 bins (more bins count (bins / 48)^2 each): every
#: (draw, radius) builds its own tables, ~40 ms at 48 bins and ~2 s at 512 on the 2-core dev machine, so this is
#: ~15 minutes; the shipped scans need 490 (49 draws x 10 radii).
MAX_TABLE_BUILDS = 20_000


class FrbCascadeWorkload(Strict):
    output: Literal["dynamics", "truncation"] = Field("truncation", description="what to compute (module docstring)")
    radius_cm: float = Field(1e9, ge=MIN_RADIUS_CM, le=1e14, description=(
        "radius of the FRB front from the magnetar [cm]: from the neutron-star surface (10 km, the radius the "
        "Goldreich-Julian seeds assume) out to 1e14 cm, beyond the light cylinder (1.6e10 cm for SGR 1935+2154) "
        "where synchrotron-maser shock models place FRBs (1e12-1e14 cm)"))
    radii_cm: list[Annotated[float, Field(ge=MIN_RADIUS_CM, le=1e14)]] | None = Field(
        None, min_length=1, max_length=1000,
        description="truncation: radii to scan [cm] (default: [radius_cm]; bounds as radius_cm)")
    spectrum: Spectrum = Field("konus", description="counterpart spectrum fit (methods.astro.counterpart.FITS)")
    luminosity_erg_s: float | None = Field(
        None, ge=1e30, le=1e50, description=(
            "counterpart luminosity in 20-200 keV [erg/s]; default: 4 pi d^2 x the observed peak flux (~1e40 for "
            "FRB 200428's burst). Magnetar bursts span ~1e36 (short bursts) to ~2e47 (SGR 1806-20's giant flare); "
            "bounds 1e30-1e50 keep decades of margin on both sides"))
    e_min_kev: float = Field(1.0, ge=1e-3, le=1e6, description=(
        "lowest counterpart photon energy [keV]: at least 1 eV (optical); the spectral fits were measured in "
        "X-rays (from ~1 keV, HXMT's low band), so lower is an extrapolation without support"))
    e_max_kev: float = Field(1000.0, gt=0, le=1e6, description="highest counterpart photon energy [keV]")
    frb_luminosity_erg_s: float = Field(4e38, ge=1e30, le=1e50, description=(
        "FRB isotropic luminosity [erg/s]: observed from ~1e33 (the faintest radio bursts of SGR 1935+2154, "
        "Kirsten et al. 2021) through ~1e38 (FRB 200428) to ~1e46 (the most luminous cosmological FRBs); bounds "
        "1e30-1e50 keep decades of margin"))
    frequency_hz: float = Field(1.4e9, ge=1e7, le=1e12, description=(
        "FRB frequency [Hz]: FRBs are seen from 110 MHz (LOFAR, Pleunis et al. 2021) to 8 GHz (Gajjar et al. "
        "2018); bounds 10 MHz (the ionosphere's cut-off: no ground-based radio burst below it) to 1 THz"))
    geometry: Literal["isotropic", "radial"] = Field("isotropic", description="counterpart photon directions")
    seed_multiplicity: float = Field(1.0, gt=0, le=1e12,
                                     description="seed leptons per Goldreich-Julian density (pair-loaded wind)")
    bins: PositiveInt = Field(48, ge=4, le=512, description="gamma-ray energy bins of the cascade tables")
    samples: NonNegativeInt = Field(0, le=10_000, description="truncation: draws within the observed ranges")
    horizon_s: float = Field(1.0, gt=0, le=1e4, description="truncation: latest time looked at [s]")
    time_points: PositiveInt = Field(40, ge=2, le=10_000, description="dynamics: time points")
    horizon_factor: float = Field(1.3, gt=1, le=100, description="dynamics: horizon / plasma cut-off time")
    efolds: float = Field(25.0, gt=0, le=200, description="dynamics: horizon in e-foldings when never cut off")
    mc_efolds: float = Field(12.0, gt=0, le=100, description="dynamics: Monte Carlo horizon in e-foldings")
    mc_seeds: PositiveInt = Field(500, le=1_000_000, description="dynamics: seed leptons per Monte Carlo replica")
    mc_replicas: NonNegativeInt = Field(8, le=10_000, description="dynamics: Monte Carlo replicas (0: none)")
    mc_max_per_generation: PositiveInt = Field(20_000, le=100_000_000,
                                               description="dynamics: leptons kept per generation (thinning)")
    mc_backend: Literal["numpy", "numba"] = Field("numpy", description="dynamics: Monte Carlo backend")

    @model_validator(mode="after")
    def _check(self) -> FrbCascadeWorkload:
        if self.e_max_kev <= self.e_min_kev:
            raise ValueError(f"e_max_kev: must exceed e_min_kev = {self.e_min_kev}, got {self.e_max_kev}")
        if self.output == "dynamics" and self.samples:
            raise ValueError("samples: only output 'truncation' samples the observational ranges")
        if self.output == "dynamics" and self.radii_cm is not None:
            raise ValueError("radii_cm: only output 'truncation' scans radii; dynamics uses radius_cm")
        builds = (self.samples + 1) * len(self.radii) * max(1.0, self.bins / 48) ** 2
        if self.output == "truncation" and builds > MAX_TABLE_BUILDS:
            raise ValueError(f"samples: (samples + 1) x len(radii_cm) x (bins / 48)^2 = ({self.samples} + 1) x "
                             f"{len(self.radii)} x {max(1.0, self.bins / 48) ** 2:.3g} = {builds:.3g} rate-table "
                             f"builds, more than {MAX_TABLE_BUILDS:,}; lower samples, the radii or bins")
        return self

    @property
    def radii(self) -> list[float]:
        return list(self.radii_cm) if self.radii_cm is not None else [self.radius_cm]


class FrbCascadeScenario(ScenarioBase):
    """Pair cascade on FRB 200428's X-ray counterpart: multiplicity vs time, or truncation times."""

    kind: Literal["frb_cascade"] = "frb_cascade"
    workload: FrbCascadeWorkload = Field(default_factory=FrbCascadeWorkload)


@dataclass(frozen=True)
class Setting:
    """One counterpart realisation at one radius: wave strength, lepton Lorentz factor, rate tables, seeds."""

    radius_cm: float
    a0: float
    gamma: float
    tables: CascadeTables
    seed_density_cm3: float


def _setting(w: FrbCascadeWorkload, counterpart: Counterpart, radius_cm: float) -> Setting:
    """Tables, wave and seed density of one counterpart realisation at ``radius_cm``."""
    from methods.astro.field import build_tables
    from methods.astro.truncation import goldreich_julian_density_cm3
    from methods.astro.wave import lepton_gamma, strength_parameter

    a0 = float(strength_parameter(w.frb_luminosity_erg_s, w.frequency_hz, radius_cm))
    gamma = float(lepton_gamma(a0))
    tables = build_tables(counterpart, radius_cm, gamma, bins=w.bins, geometry=w.geometry)
    return Setting(radius_cm, a0, gamma, tables, w.seed_multiplicity * goldreich_julian_density_cm3(radius_cm))


def _counterparts(w: FrbCascadeWorkload, rng: np.random.Generator) -> list[Counterpart]:
    from dataclasses import replace

    from methods.astro.counterpart import nominal, sample

    drawn = [nominal(w.spectrum, w.luminosity_erg_s), *sample(w.spectrum, w.samples, rng, w.luminosity_erg_s)]
    return [replace(c, e_min_kev=w.e_min_kev, e_max_kev=w.e_max_kev) for c in drawn]


def _truncations(w: FrbCascadeWorkload, setting: Setting, horizon_s: float) -> dict[str, Truncation]:
    from methods.astro.truncation import truncation_times

    return truncation_times(setting.tables, radius_cm=setting.radius_cm, frb_luminosity_erg_s=w.frb_luminosity_erg_s,
                            frequency_hz=w.frequency_hz, seed_density_cm3=setting.seed_density_cm3,
                            horizon_s=horizon_s)


def run_truncation(w: FrbCascadeWorkload, rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, object]]:
    from methods.astro.cascade_rate import growth_rate_per_s

    rows = []
    for (index, counterpart), radius in itertools.product(enumerate(_counterparts(w, rng)), w.radii):
        setting = _setting(w, counterpart, radius)
        common = {
            "sample": index, "alpha": counterpart.alpha, "peak_kev": counterpart.peak_kev,
            "luminosity_x_erg_s": counterpart.luminosity_erg_s, "radius_cm": radius, "a0": setting.a0,
            "gamma_lepton": setting.gamma, "seed_density_cm3": setting.seed_density_cm3,
            "growth_rate_per_s": growth_rate_per_s(setting.tables), "no_cascade": setting.tables.no_cascade,
        }
        for name, result in _truncations(w, setting, w.horizon_s).items():
            rows.append({**common, "criterion": name, "t_trunc_s": result.time_s,
                         "t_trunc_ms": 1e3 * result.time_s, "truncated": result.truncated})
    return pd.DataFrame(rows), {"samples": w.samples, "radii": len(w.radii)}


def _dynamics_rows(solver: str, time_s: np.ndarray, multiplicity: np.ndarray, stderr: np.ndarray,
                   energy_erg: np.ndarray, w: FrbCascadeWorkload, setting: Setting) -> pd.DataFrame:
    from methods.astro.constants import C_CM_S, FOUR_PI, SIGMA_T_CM2
    from methods.astro.truncation import plasma_cutoff_density_cm3

    seed = setting.seed_density_cm3
    pairs = seed * multiplicity
    frb_energy_density = w.frb_luminosity_erg_s / (FOUR_PI * w.radius_cm**2 * C_CM_S)
    return pd.DataFrame({
        "solver": solver, "time_s": time_s, "time_ms": 1e3 * time_s, "multiplicity": multiplicity,
        "multiplicity_stderr": stderr, "pair_density_cm3": pairs,
        "plasma_ratio": pairs / plasma_cutoff_density_cm3(w.frequency_hz, setting.gamma),
        "energy_ratio": seed * energy_erg / frb_energy_density,
        "opacity_tau": pairs * SIGMA_T_CM2 * w.radius_cm,
    })


def _inputs(w: FrbCascadeWorkload) -> str:
    """The physical inputs of a dynamics run, for an error message."""
    counterpart = "the observed one" if w.luminosity_erg_s is None else f"{w.luminosity_erg_s:g} erg/s"
    return (f"radius_cm = {w.radius_cm:g}, frequency_hz = {w.frequency_hz:g}, frb_luminosity_erg_s = "
            f"{w.frb_luminosity_erg_s:g}, luminosity_erg_s = {counterpart} ({w.spectrum}, {w.e_min_kev:g}-"
            f"{w.e_max_kev:g} keV)")


def run_dynamics(w: FrbCascadeWorkload, rng: np.random.Generator) -> tuple[pd.DataFrame, dict[str, object]]:
    from methods.astro.cascade_mc import PhotonBudgetError, simulate
    from methods.astro.cascade_rate import growth_rate_per_s, solve
    from methods.astro.truncation import CRITERIA

    (counterpart,) = _counterparts(w, rng)
    setting = _setting(w, counterpart, w.radius_cm)
    tables = setting.tables
    growth = growth_rate_per_s(tables)
    long = w.efolds / growth if growth > 0 else w.horizon_s
    truncations = _truncations(w, setting, max(long, w.horizon_s))
    plasma = truncations["plasma_cutoff"]
    horizon = w.horizon_factor * plasma.time_s if plasma.truncated and plasma.time_s > 0 else long
    time_s = np.linspace(0.0, horizon, w.time_points)
    try:
        with np.errstate(all="ignore"):  # a failing solve's overflow warnings would come before its one line
            rate = solve(tables, time_s)
    except RuntimeError as error:  # solve_ivp gave up (not seen within the bounds; reported, not a traceback)
        raise ScenarioError([f"workload: the rate equations cannot be integrated to {horizon:.3g} s at "
                             f"{_inputs(w)} ({error}); the closed-form truncation times (output: truncation) "
                             f"still apply"]) from None
    frames = [_dynamics_rows("rate", time_s, rate.multiplicity, np.zeros_like(time_s), rate.energy_drawn_erg, w,
                             setting)]
    info: dict[str, object] = {"growth_rate_per_s": growth, "a0": setting.a0, "gamma_lepton": setting.gamma,
                               "no_cascade": tables.no_cascade}
    if w.mc_replicas:
        mc_horizon = min(horizon, w.mc_efolds / growth) if growth > 0 else horizon
        mc_time = time_s[time_s <= mc_horizon * (1 + 1e-12)]
        try:
            mc = simulate(tables, mc_time, seeds=w.mc_seeds, replicas=w.mc_replicas,
                          max_per_generation=w.mc_max_per_generation, backend=w.mc_backend, rng=rng)
        except PhotonBudgetError as error:
            key = "mc_seeds" if error.first_generation else "mc_max_per_generation"
            raise ScenarioError([f"workload.{key}: {error} at {_inputs(w)}; lower {key} or mc_efolds, or set "
                                 f"mc_replicas: 0"]) from None
        frames.append(_dynamics_rows("monte_carlo", mc_time, mc.multiplicity_mean, mc.multiplicity_stderr,
                                     mc.energy_drawn_erg, w, setting))
        info.update(mc_particles=mc.particles, mc_generations=mc.generations, mc_horizon_s=float(mc_time[-1]))
    frame = pd.concat(frames, ignore_index=True)
    for name in CRITERIA:
        frame[f"t_trunc_{name}_s"] = truncations[name].time_s
        frame[f"truncated_{name}"] = truncations[name].truncated
    frame["growth_rate_per_s"] = growth
    frame["luminosity_x_erg_s"] = counterpart.luminosity_erg_s
    frame["radius_cm"] = w.radius_cm
    return frame, info


def _one_blas_thread() -> contextlib.AbstractContextManager[object]:
    """One BLAS thread for the run: the cascade's matrices are ~50 x 50, where a second thread only adds
    synchronisation (an eigen-decomposition took 40 ms instead of 1.4 ms on the loaded 2-core machine)."""
    try:
        from threadpoolctl import threadpool_limits  # installed with scikit-learn; optional here
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


@register_workload("frb_cascade", FrbCascadeScenario)
def run(scenario: FrbCascadeScenario, ctx: RunContext) -> RunOutput:
    """Dynamics or truncation rows (module docstring)."""
    w = scenario.workload
    rng = np.random.default_rng(ctx.seed_seq)
    with _one_blas_thread():
        frame, info = run_dynamics(w, rng) if w.output == "dynamics" else run_truncation(w, rng)
    numeric = frame.select_dtypes("number")
    if not np.isfinite(numeric.to_numpy(dtype=float)).all():
        raise RuntimeError("frb_cascade produced a non-finite number")  # guard: never NaN/inf in results
    return RunOutput(metrics=frame, info=info)
