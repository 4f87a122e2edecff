"""Solve time per control step of the battery scheduler (arXiv 2504.03150: decisions within the 2 s RegD step).

For each module count (default 6, 20, 100) and mode, runs the closed loop (`methods.battery.simulate.run_loop`,
method ``proposed``) on a RegD-like request at 2 s steps and reports the median and p99 of the per-step solve
time (data loading + solve, as measured by the scheduler). Modes: ``miqcp`` (the MIQCP built once with
cp.Parameters, SCIP), ``priority`` (binaries fixed by the activation-priority rule, convex QCP with Clarabel),
and ``rebuild`` (the same MIQCP rebuilt from scratch every step, the plain formulation the targets compare with).
Targets: <= 30 ms median at 20 modules, <= 150 ms median at 100, p99 below the 2 s control step at 100.

    .venv/bin/python benchmarks/battery_solve_time.py [--steps 60] [--modules 6 20 100] [--csv out.csv]

Timings depend on the machine and its load; say which machine and how loaded when reporting them.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from methods.battery.presets import scaled_modules
from methods.battery.scheduler import Scheduler
from methods.battery.simulate import LoopSettings, run_loop
from methods.grid.signals import regd_like


def rebuild_times(modules: tuple, request: np.ndarray) -> list[float]:
    """Seconds per step when the MIQCP is built and canonicalized anew every step (no plant: SoC held)."""
    n = len(modules)
    soc = np.array([m.soc0 for m in modules])
    times = []
    for value in request:
        start = time.perf_counter()
        scheduler = Scheduler(modules, mode="miqcp")
        scheduler.solve(soc, [value], np.ones(n), np.ones(n), np.ones(n))
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="control steps per configuration")
    parser.add_argument("--modules", type=int, nargs="+", default=[6, 20, 100])
    parser.add_argument("--modes", nargs="+", default=["miqcp", "priority", "rebuild"])
    parser.add_argument("--csv", default=None, help="also write the table here")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="Solution may be inaccurate")
    rows = []
    for n in args.modules:
        modules = scaled_modules(n)
        request = 0.5 * sum(m.power_kw for m in modules) * regd_like(2.0 * args.steps, np.random.default_rng(1))
        for mode in args.modes:
            if mode == "rebuild":
                ms = np.array(rebuild_times(modules, request)) * 1e3
                fallbacks = 0
            else:
                result = run_loop(modules, request, "proposed", LoopSettings(mode=mode, time_limit_s=2.0))
                ms = result.steps["solve_ms"].to_numpy()
                fallbacks = int(result.totals["fallback_steps"])
            row = {"modules": n, "mode": mode, "steps": len(ms), "median_ms": float(np.median(ms)),
                   "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max()), "fallbacks": fallbacks}
            rows.append(row)
            print(f"{n:4d} modules  {mode:9s} median {row['median_ms']:8.1f} ms  p99 {row['p99_ms']:8.1f} ms  "
                  f"max {row['max_ms']:8.1f} ms  fallbacks {fallbacks}", flush=True)
    table = pd.DataFrame(rows)
    if args.csv:
        table.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
