"""Solve time per control step of the battery scheduler (arXiv 2504.03150: decisions within the 2 s RegD step).

For each module count (default 6, 20, 100) and variant, runs the closed loop (`methods.battery.simulate.run_loop`,
method ``proposed``) on the same RegD-like request at 2 s steps and reports the median and p99 of the per-step
solve time (data loading + solve: wall clock as measured by the scheduler, and this process's CPU time of the same
call, which other load on the machine barely changes), in one process. Variants: ``native`` (the MIQCP as one
PySCIPOpt model updated in place, `methods.battery.scip_native`, with the Lagrangian warm start and dual bound of
`methods.battery.lagrangian`: a step whose warm start the bound proves optimal skips SCIP), ``native_v1`` (the same
model with the earlier warm start: priority or previous set, 1/rho split; SCIP every step), ``miqcp`` (the MIQCP
built once with cp.Parameters, cvxpy's SCIP interface), ``priority`` (binaries fixed by the activation-priority
rule, convex QCP with Clarabel), and ``rebuild`` (the cvxpy MIQCP rebuilt from scratch every step, the plain
formulation the targets compare with). Also reported: steps that fell back to a baseline (time limit), and for the
exact variants the loss + aging cost of the run (plant model), so that speed is not bought with worse decisions;
for the native variants SCIP's branch-and-bound nodes per step (0 where the bound proved the warm start), the
share of steps proven by the bound, and the steps where the model's loss exceeded the plant's (the loss
inequality's caveat, `methods.battery.scip_native`).
Targets: <= 30 ms median at 20 modules, <= 150 ms median at 100, p99 below the 2 s control step at 100.

    .venv/bin/python benchmarks/battery_solve_time.py [--steps 60] [--modules 6 20 100] [--time-limit 2]
        [--csv out.csv]

Timings depend on the machine and its load; the script prints the 1-minute load average and the CPU count
before and after; say which machine and how loaded when reporting them.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd

from methods.battery.presets import scaled_modules
from methods.battery.scheduler import Scheduler
from methods.battery.scip_native import PROVEN
from methods.battery.simulate import LoopSettings, run_loop
from methods.grid.signals import regd_like


def _stat(function, values: np.ndarray) -> float:
    """``function`` of the finite values (NaN where there are none: backends that do not report them)."""
    finite = values[np.isfinite(values)]
    return float(function(finite)) if finite.size else float("nan")


def rebuild_times(modules: tuple, request: np.ndarray) -> tuple[list[float], list[float]]:
    """(wall, CPU) seconds per step when the cvxpy MIQCP is built and canonicalized anew every step (SoC held)."""
    n = len(modules)
    soc = np.array([m.soc0 for m in modules])
    wall, cpu = [], []
    for value in request:
        start, start_cpu = time.perf_counter(), time.process_time()
        scheduler = Scheduler(modules, mode="miqcp")
        scheduler.solve(soc, [value], np.ones(n), np.ones(n), np.ones(n))
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="control steps per configuration")
    parser.add_argument("--modules", type=int, nargs="+", default=[6, 20, 100])
    parser.add_argument("--modes", nargs="+", default=["native", "native_v1", "miqcp", "priority", "rebuild"],
                        choices=["native", "native_v1", "miqcp", "priority", "rebuild"])
    parser.add_argument("--time-limit", type=float, default=2.0,
                        help="solver time limit per step, wall-clock seconds (a step over it falls back)")
    parser.add_argument("--rebuild-steps", type=int, default=None,
                        help="steps for the rebuild variant (default: --steps; it is the slowest)")
    parser.add_argument("--csv", default=None, help="also write the table here")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="Solution may be inaccurate")
    print(f"load average {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} CPUs, niceness {os.nice(0)}",
          flush=True)
    rows = []
    for n in args.modules:
        modules = scaled_modules(n)
        request = 0.5 * sum(m.power_kw for m in modules) * regd_like(2.0 * args.steps, np.random.default_rng(1))
        for mode in args.modes:
            cost, nodes, proven, excess = float("nan"), np.array([np.nan]), float("nan"), float("nan")
            if mode == "rebuild":
                wall, cpu = rebuild_times(modules, request[: args.rebuild_steps or args.steps])
                ms, cpu_ms = np.array(wall) * 1e3, np.array(cpu) * 1e3
                fallbacks = 0
            else:
                settings = LoopSettings(mode="priority" if mode == "priority" else "miqcp",
                                        backend="native" if mode.startswith("native") else "cvxpy",
                                        time_limit_s=args.time_limit, lagrangian=mode != "native_v1")
                result = run_loop(modules, request, "proposed", settings)
                ms = result.steps["solve_ms"].to_numpy()
                cpu_ms = result.steps["solve_cpu_ms"].to_numpy()
                fallbacks = int(result.totals["fallback_steps"])
                cost = result.totals["loss_cost_usd"] + result.totals["aging_cost_usd"]
                nodes = result.steps["solver_nodes"].to_numpy()
                proven = result.totals.get(f"status_{PROVEN}", 0.0) / len(ms)
                excess = result.totals["model_loss_excess_steps"]
            row = {"modules": n, "mode": mode, "steps": len(ms), "median_ms": float(np.median(ms)),
                   "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max()),
                   "cpu_median_ms": float(np.median(cpu_ms)), "cpu_p99_ms": float(np.percentile(cpu_ms, 99)),
                   "fallbacks": fallbacks, "cost_usd": cost, "nodes_median": _stat(np.median, nodes),
                   "nodes_p99": _stat(lambda x: np.percentile(x, 99), nodes), "nodes_max": _stat(np.max, nodes),
                   "share_proven_by_bound": proven, "loss_excess_steps": excess}
            rows.append(row)
            print(f"{n:4d} modules  {mode:9s} wall median {row['median_ms']:7.1f} ms  p99 {row['p99_ms']:7.1f} ms  "
                  f"max {row['max_ms']:7.1f} ms | CPU median {row['cpu_median_ms']:7.1f} ms  p99 "
                  f"{row['cpu_p99_ms']:7.1f} ms | fallbacks {fallbacks:3d}  loss+aging {cost:.6f} $ | SCIP nodes "
                  f"median {row['nodes_median']:.0f} p99 {row['nodes_p99']:.0f} max {row['nodes_max']:.0f} | "
                  f"proven by the Lagrangian bound {proven:.0%} | model loss above plant's: {excess:.0f} steps",
                  flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} (1 min) at the end", flush=True)
    table = pd.DataFrame(rows)
    if args.csv:
        table.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
