"""`harness failover`: a real 4-process gloo training job with one worker SIGKILLed, MeCeFO-style take-over and
rejoin vs checkpoint-restart, measured and set beside the simulator's prediction (`harness.failover.study`).

Writes ``runs.csv`` (one row per mode: detection time, per-phase step times and tokens/s, time lost, measured and
simulated throughput drop, signed error), ``steps.csv`` (committed loss curve with phases), ``ranks.csv``
(samples per worker), ``plan.json``, ``raw/<mode>.json`` (the supervisor's record: kill / restart times, every
worker's events and the committed ledger once) and ``README.md`` under
``results/failover/`` (``--quick``: ``results/failover/quick``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from harness.commands._paths import check_out_folder, path_arg
from harness.files import write_text_atomic

SHOWN = ["mode", "steps", "detect_s_max", "normal_step_s", "before_step_s", "degraded_step_s", "after_step_s",
         "tokens_per_s_before", "tokens_per_s_degraded", "tokens_per_s_after", "lost_s", "measured_drop_pct",
         "predicted_drop_pct", "error_pp", "loss_jump_max"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "failover",
        help="real failure run: kill a gloo worker, take over, rejoin; vs checkpoint-restart and the simulator",
        description="Train a tiny LLaMA with 4 gloo data-parallel processes, SIGKILL one at a set step, let the "
        "survivors detect it (heartbeat timeout), re-form the group, hand the lost shard to the ring neighbour "
        "(MeCeFO's techniques) and readmit the worker after a recovery time; then the same job with "
        "checkpoint-restart. Writes measured detection time, time lost, throughput per phase, loss curve, "
        "samples per worker and the simulator's predicted throughput drop under results/failover/.",
    )
    parser.add_argument("--quick", action="store_true", help="shorter runs (a CI-size check)")
    parser.add_argument("--out", type=path_arg, default=None, metavar="DIR",
                        help="output folder (default results/failover, with --quick results/failover/quick)")
    parser.set_defaults(func=main)


def _load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg()) + f" on {os.cpu_count()} CPUs"


def _readme(tables: dict, load: str, quick: bool) -> str:
    runs = tables["runs"].set_index("mode")
    ranks = tables["ranks"]
    lines = [
        "# Real failure run (4 gloo processes, tiny LLaMA)",
        "",
        "Written by `harness failover" + (" --quick" if quick else "") + "` (`harness/failover/`). One worker is "
        "SIGKILLed at a set step. `mecefo`: survivors detect it through a heartbeat timeout, re-form the gloo "
        "group (new membership epoch, no restart), the ring neighbour computes the lost shard with MeCeFO's "
        "neighbour techniques, and the killed worker rejoins after the recovery time and re-syncs weights and "
        "optimizer state from the leader. `ckpt`: the survivors exit and all workers restart from the last "
        "checkpoint. The simulator's prediction uses only the measured per-step costs (normal / neighbour step, "
        "checkpoint write, process start-up) and the configured timeout. Normal step: median commit interval "
        "over the full-membership phases (before the failure and after the rejoin or restart).",
        "",
        f"Machine load (`uptime`): {load}. The CPUs are shared with other jobs, so step times drift; every "
        "phase's step time is a median. The 4 workers share the machine's cores, so while one is down the "
        "survivors get more CPU each; the simulator gives every rank its own device.",
        "",
        "| mode | detect (s, max) | normal step (ms) | before (ms) | degraded (ms) | after (ms) | time lost (s) | "
        "measured drop (%) | simulated drop (%) | error (pp) | loss jump (nats) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for mode, r in runs.iterrows():
        lines.append(f"| {mode} | {r.detect_s_max:.2f} | {1e3 * r.normal_step_s:.1f} | {1e3 * r.before_step_s:.1f} "
                     f"| {1e3 * r.degraded_step_s:.1f} "
                     f"| {1e3 * r.after_step_s:.1f} | {r.lost_s:.1f} | {r.measured_drop_pct:.1f} | "
                     f"{r.predicted_drop_pct:.1f} | {r.error_pp:+.1f} | {r.loss_jump_max:+.3f} |")
    lines += ["", "Samples of committed steps per worker (every step's 4 shards counted exactly once):", ""]
    for mode, group in ranks.groupby("mode"):
        lines.append(f"- {mode}: " + ", ".join(f"worker {w}: {s}" for w, s in zip(group.worker, group.samples)))
    lines += ["", "Files: `runs.csv`, `steps.csv` (loss curve, phase per step), `ranks.csv`, `plan.json`, "
              "`raw/<mode>.json`.", ""]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    from harness.failover.study import FULL_PLAN, QUICK_PLAN, run_study
    from harness.provenance import project_root

    out = args.out or project_root() / "results" / "failover" / ("quick" if args.quick else "")
    check_out_folder("--out", out, inside=["raw"])  # before the runs: each one's record is written to raw/
    out.mkdir(parents=True, exist_ok=True)
    load = _load()
    started = time.time()
    tables = run_study(QUICK_PLAN if args.quick else FULL_PLAN, out,
                       progress=lambda m: print(f"[failover] {m}", file=sys.stderr, flush=True))
    write_text_atomic(out / "README.md", _readme(tables, f"{load} at the start, {_load()} at the end", args.quick))
    print(tables["runs"][SHOWN].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote results under {out}/ in {time.time() - started:.0f} s")
    return 0
