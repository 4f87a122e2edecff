"""Generation-by-generation Monte Carlo of the pair cascade (arXiv 2505.14413, reconstructed), on the rate tables of
`methods.astro.field` — the stochastic counterpart of `methods.astro.cascade_rate`.

Every lepton (held at γ_e by the FRB wave from its birth on) emits above-threshold γ-rays as a Poisson process of
rate Σ_k Ṅ_k until the horizon; each γ-ray falls in bin k with probability Ṅ_k / Σ Ṅ, and is absorbed after an
exponential time of rate κ_k, making an e⁺e⁻ pair: two leptons of the next generation. A generation is handled
at once with numpy arrays; a generation larger than ``max_per_generation`` is thinned (each lepton kept with
probability p, its weight divided by p: unbiased). The multiplicity N(t) is the weighted count of leptons born by
t, per seed, and W(t) the energy drawn from the wave (as in `cascade_rate`). Independent replicas give the
statistical error. Thinning keeps the mean but makes the late-time distribution skewed (a few early, heavy
leptons dominate), so callers compare with the rate equations over a limited number of e-foldings.

``backend="numba"`` runs the same generation step compiled with numba (imported only then; the benchmark
``benchmarks/frb_cascade_throughput.py`` measures whether it pays).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from methods.astro.constants import ME_C2_ERG
from methods.astro.field import CascadeTables

FloatArray = NDArray[np.float64]
Backend = Literal["numpy", "numba"]
BACKENDS: tuple[str, ...] = ("numpy", "numba")


@dataclass(frozen=True)
class McResult:
    time_s: FloatArray
    multiplicity_mean: FloatArray  # N(t)/N(0), mean over replicas
    multiplicity_stderr: FloatArray  # standard error of that mean
    energy_drawn_erg: FloatArray  # W(t) per seed lepton, mean over replicas (as in `cascade_rate`)
    replicas: int
    particles: int  # leptons + γ-rays simulated (all replicas)
    generations: int  # most generations in one replica


Generation = tuple[FloatArray, FloatArray, int]

#: Most γ-rays one generation may be expected to emit. The numpy step peaks at ~40 bytes per γ-ray (parent index,
#: emission and pair times, bins, random draws; measured), so this is ~0.8 GB and a few seconds; the shipped
#: scenarios emit ~3 x 10^5 per generation (20,000 leptons x ~15 γ-rays each), while a lepton barely above
#: γ = 1 in a soft field can emit 10^3-10^7 γ-rays before the horizon, which would take tens of GB.
MAX_PHOTONS_PER_GENERATION = 20_000_000


class PhotonBudgetError(ValueError):
    """A generation would emit more γ-rays than ``max_photons`` (the message says how many, per lepton)."""

    def __init__(self, message: str, *, expected: float, leptons: int, first_generation: bool):
        super().__init__(message)
        self.expected = expected
        self.leptons = leptons
        self.first_generation = first_generation


def _generation_numpy(births: FloatArray, weights: FloatArray, rate: float, cumulative: FloatArray,
                      kappa: FloatArray, horizon: float, rng: np.random.Generator) -> Generation:
    """Children (birth times, weights) of one generation; also the number of γ-rays emitted."""
    counts = rng.poisson(rate * (horizon - births))
    total = int(counts.sum())
    parent = np.repeat(np.arange(births.size), counts)
    t_emit = births[parent] + rng.random(total) * (horizon - births[parent])
    k = np.searchsorted(cumulative, rng.random(total) * cumulative[-1], side="right")
    t_pair = t_emit + rng.standard_exponential(total) / kappa[k]
    made = t_pair < horizon
    children = np.repeat(t_pair[made], 2)
    return children, np.repeat(weights[parent[made]], 2), total


@lru_cache(maxsize=1)
def _numba_generation() -> Any:
    import numba  # optional dependency (extra "astro"), imported on first use only

    @numba.njit(cache=False)
    def step(births, weights, rate, cumulative, kappa, horizon, seed):  # pragma: no cover - compiled
        np.random.seed(seed)
        n = births.size
        counts = np.empty(n, dtype=np.int64)
        total = 0
        for i in range(n):
            counts[i] = np.random.poisson(rate * (horizon - births[i]))
            total += counts[i]
        out_t = np.empty(2 * total)
        out_w = np.empty(2 * total)
        m = 0
        top = cumulative[-1]
        for i in range(n):
            span = horizon - births[i]
            for _ in range(counts[i]):
                t_emit = births[i] + np.random.random() * span
                k = np.searchsorted(cumulative, np.random.random() * top, side="right")
                t_pair = t_emit + np.random.exponential(1.0) / kappa[k]
                if t_pair < horizon:
                    out_t[m] = t_pair
                    out_t[m + 1] = t_pair
                    out_w[m] = weights[i]
                    out_w[m + 1] = weights[i]
                    m += 2
        return out_t[:m], out_w[:m], total

    return step


def _generation_numba(births: FloatArray, weights: FloatArray, rate: float, cumulative: FloatArray,
                      kappa: FloatArray, horizon: float, rng: np.random.Generator) -> Generation:
    seed = int(rng.integers(0, 2**31 - 1))
    t, w, total = _numba_generation()(births, weights, rate, cumulative, kappa, horizon, seed)
    return t, w, int(total)


def simulate(tables: CascadeTables, time_s: FloatArray, *, seeds: int = 1000, replicas: int = 8,
             max_per_generation: int = 200_000, max_generations: int = 10_000, backend: Backend = "numpy",
             rng: np.random.Generator | None = None, max_photons: float | None = None) -> McResult:
    """Run ``replicas`` independent cascades of ``seeds`` leptons up to ``time_s[-1]``; N(t)/N(0) at ``time_s``.

    Raises `PhotonBudgetError` before a generation whose expected γ-ray count, rate x Σ (horizon − birth), exceeds
    ``max_photons`` (default `MAX_PHOTONS_PER_GENERATION`; checked before any random draw, so runs within the
    budget are unchanged by the check).
    """
    max_photons = MAX_PHOTONS_PER_GENERATION if max_photons is None else max_photons
    time_s = np.asarray(time_s, dtype=np.float64)
    if time_s.size == 0 or np.any(np.diff(time_s) < 0) or time_s[0] < 0 or not np.all(np.isfinite(time_s)):
        raise ValueError("time_s: need finite, ascending times >= 0")
    for key, value in (("seeds", seeds), ("replicas", replicas), ("max_per_generation", max_per_generation)):
        if value < 1:
            raise ValueError(f"{key}: must be >= 1, got {value}")
    if backend not in BACKENDS:
        raise ValueError(f"backend: unknown {backend!r}; known: {', '.join(BACKENDS)}")
    rng = rng if rng is not None else np.random.default_rng()
    if tables.no_cascade:
        ones = np.ones_like(time_s)
        energy = tables.gamma_lepton * ME_C2_ERG + tables.ic_power_erg_s * time_s
        return McResult(time_s, ones, np.zeros_like(time_s), energy, replicas, seeds * replicas, 0)
    generation = _generation_numba if backend == "numba" else _generation_numpy
    horizon = float(time_s[-1])
    cumulative = np.cumsum(tables.emission_per_s)
    rate = float(cumulative[-1])
    kappa = np.ascontiguousarray(tables.absorption_per_s, dtype=np.float64)
    curves = np.empty((replicas, time_s.size))
    energies = np.empty((replicas, time_s.size))
    gamma_mc2 = tables.gamma_lepton * ME_C2_ERG
    particles = seeds * replicas  # the seeds, as without a cascade; the loop adds γ-rays and leptons born
    most_generations = 0
    for r in range(replicas):
        births = np.zeros(seeds)
        weights = np.ones(seeds)
        all_t, all_w = [births], [weights]
        generations = 0
        while births.size and generations < max_generations:
            expected = rate * float(np.sum(horizon - births))
            if expected > max_photons:
                raise PhotonBudgetError(
                    f"a Monte Carlo generation of {births.size} leptons would emit ~{expected:.3g} γ-rays "
                    f"(~{expected / births.size:.3g} per lepton before the {horizon:.3g} s horizon), more than "
                    f"{max_photons:.3g}", expected=expected, leptons=int(births.size),
                    first_generation=generations == 0)
            births, weights, emitted = generation(births, weights, rate, cumulative, kappa, horizon, rng)
            particles += emitted + births.size
            generations += 1
            if births.size > max_per_generation:
                keep_p = max_per_generation / births.size
                keep = rng.random(births.size) < keep_p
                births, weights = births[keep], weights[keep] / keep_p
            all_t.append(births)
            all_w.append(weights)
        most_generations = max(most_generations, generations)
        t = np.concatenate(all_t)
        w = np.concatenate(all_w)
        order = np.argsort(t, kind="stable")
        cum = np.concatenate([[0.0], np.cumsum(w[order])])
        cum_birth = np.concatenate([[0.0], np.cumsum((w * t)[order])])
        index = np.searchsorted(t[order], time_s, side="right")
        curves[r] = cum[index] / seeds
        # W = Σ_born w (γ m c² + P_IC (t − t_birth)): each lepton's energy plus the power the wave resupplies
        energies[r] = ((gamma_mc2 + tables.ic_power_erg_s * time_s) * cum[index]
                       - tables.ic_power_erg_s * cum_birth[index]) / seeds
    stderr = curves.std(axis=0, ddof=1) / np.sqrt(replicas) if replicas > 1 else np.zeros(time_s.size)
    return McResult(time_s, curves.mean(axis=0), stderr, energies.mean(axis=0), replicas, particles,
                    most_generations)
