"""Throughput of the FRB pair-cascade Monte Carlo (`methods.astro.cascade_mc`): particles per second with the
numpy backend and, when numba is installed (extra ``astro``), the numba backend.

    .venv/bin/python benchmarks/frb_cascade_throughput.py            # about half a minute
    .venv/bin/python benchmarks/frb_cascade_throughput.py --quick    # a smoke run

Setting (the cascade of ``scenarios/frb/dynamics.yaml`` at r = 10⁹ cm, L_X = 10⁴⁰ erg s⁻¹, Konus-Wind shape,
48 γ-ray bins): 200 seed leptons per replica, 8 replicas, 12 e-foldings, thinned to 20,000 leptons per
generation. "Particles" counts every γ-ray emitted and every lepton created. One BLAS thread; each backend is run
``--repeats`` times after a warm-up (numba's compile time is reported separately) and the best time is kept.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from methods.astro.cascade_mc import simulate
from methods.astro.cascade_rate import growth_rate_per_s
from methods.astro.counterpart import nominal
from methods.astro.field import build_tables
from methods.astro.wave import lepton_gamma, strength_parameter


def _tables(radius_cm: float = 1e9, luminosity_erg_s: float = 1e40):
    gamma = float(lepton_gamma(strength_parameter(4e38, 1.4e9, radius_cm)))
    return build_tables(nominal("konus", luminosity_erg_s), radius_cm, gamma, bins=48)


def measure(backend: str, efolds: float, replicas: int, repeats: int) -> dict[str, float]:
    tables = _tables()
    time_s = np.linspace(0.0, efolds / growth_rate_per_s(tables), 20)
    start = time.perf_counter()
    simulate(tables, time_s[:3], seeds=10, replicas=1, backend=backend, rng=np.random.default_rng(0))  # warm-up
    warmup = time.perf_counter() - start
    best, particles = float("inf"), 0
    for repeat in range(repeats):
        start = time.perf_counter()
        result = simulate(tables, time_s, seeds=200, replicas=replicas, max_per_generation=20_000, backend=backend,
                          rng=np.random.default_rng(repeat))
        elapsed = time.perf_counter() - start
        if elapsed < best:
            best, particles = elapsed, result.particles
    return {"seconds": best, "particles": particles, "particles_per_s": particles / best, "warmup_s": warmup}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer e-foldings and repeats")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    efolds, replicas, repeats = (8.0, 4, 1) if args.quick else (12.0, 8, args.repeats)
    backends = ["numpy"]
    try:
        import numba  # noqa: F401

        backends.append("numba")
    except ImportError:
        print("numba not installed: numpy backend only")
    print(f"{'backend':8} {'particles':>12} {'best s':>8} {'particles/s':>14} {'warm-up s':>10}")
    with threadpool_limits(limits=1, user_api="blas"):
        for backend in backends:
            row = measure(backend, efolds, replicas, repeats)
            print(f"{backend:8} {row['particles']:12,d} {row['seconds']:8.2f} {row['particles_per_s']:14,.0f} "
                  f"{row['warmup_s']:10.2f}")


if __name__ == "__main__":
    main()
