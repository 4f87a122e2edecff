"""Per-action inference time of RACTD's one-step student vs its EDM teacher and the teacher's DDIM/DDPM samplers,
measured side by side in one process (RACTD, Duan et al., arXiv 2506.07822, Table 4: 142x faster than the
teacher on a V100, hopper-medium-replay).

Every method is a `methods.offline_rl.planner.Planner` deciding one action for a Hopper-sized observation
(obs 11, action 3, horizon 16) with the same network preset; network evaluations are counted by the planner's
wrapper. Rounds interleave the methods so that load on the machine hits them alike; the median per method is
reported. Weights are untrained: the time of a call does not depend on their values.

    .venv/bin/python benchmarks/ractd_inference_speedup.py [--preset cpu_small|paper] [--rounds 5] [--threads 1]
        [--methods edm_teacher_heun80,ractd_student]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from methods.offline_rl.edm import EDMDenoiser
from methods.offline_rl.networks import build_network
from methods.offline_rl.planner import ActionBounds, Planner
from methods.offline_rl.student import student_from_teacher

METHODS = (("edm_teacher_heun80", "heun", 80), ("ddpm100", "ddpm", 100), ("ddim20", "ddim", 20),
           ("ractd_student", None, 1))


def planners(preset: str, obs_dim: int, act_dim: int, horizon: int) -> dict[str, Planner]:
    torch.manual_seed(0)
    dims = {"act_dim": act_dim, "obs_dim": obs_dim, "horizon": horizon}
    teacher = EDMDenoiser(build_network(preset, **dims))
    student = student_from_teacher(teacher, build_network(preset, **dims, with_stop_time=True))
    bounds = ActionBounds(-np.ones(act_dim), np.ones(act_dim))
    out = {}
    for name, sampler, steps in METHODS:
        model = student if sampler is None else teacher
        out[name] = Planner(model, bounds, horizon, sampler=sampler or "heun", steps=steps)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu_small")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--student-calls", type=int, default=20, help="student actions timed per round")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--methods", default=",".join(m[0] for m in METHODS),
                        help="comma-separated subset of: " + ", ".join(m[0] for m in METHODS))
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    obs = np.zeros(11)
    chosen = args.methods.split(",")
    plans = {k: v for k, v in planners(args.preset, 11, 3, 16).items() if k in chosen}
    if "ractd_student" not in plans or len(plans) < 2:
        parser.error("--methods must name ractd_student and at least one teacher sampler")
    for planner in plans.values():  # warm-up: a short plan with each network
        Planner(planner.model, planner.bounds, planner.horizon, sampler="ddim", steps=2).act(obs)
    times: dict[str, list[float]] = {name: [] for name in plans}
    for _ in range(args.rounds):
        for name, planner in plans.items():
            calls = args.student_calls if planner.is_student else 1
            start = time.perf_counter()
            for _ in range(calls):
                planner.act(obs)
            times[name].append((time.perf_counter() - start) / calls)
    median = {name: float(np.median(v)) for name, v in times.items()}
    rows = [{"method": name, "nfe": plans[name].evaluations, "ms_per_action": 1e3 * median[name],
             "student_speedup": median[name] / median["ractd_student"]} for name in plans]
    print(f"preset {args.preset}, {args.threads} thread(s), torch {torch.__version__}, rounds {args.rounds}")
    for row in rows:
        print(f"{row['method']:>20}  NFE {row['nfe']:>4}  {row['ms_per_action']:10.3f} ms/action  "
              f"student is {row['student_speedup']:7.1f}x faster")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"preset": args.preset, "threads": args.threads, "rounds": args.rounds, "rows": rows}, f,
                      indent=1)


if __name__ == "__main__":
    main()
