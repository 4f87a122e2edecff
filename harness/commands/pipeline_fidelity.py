"""`harness pipeline-fidelity`: real pipelined training over loopback and rate-limited namespace links, set beside
the pipeline simulator's prediction for each configuration (`harness.pipeline_study`; TAH-Quant arXiv 2506.01352).

Reads a plan (default ``harness/pipeline_study/plans/pipeline_fidelity.yaml``; ``--quick``: the CI-size
``pipeline_fidelity_quick.yaml``), times the codecs alone, runs every configuration as one gloo process per stage
(network namespaces behind a tc-tbf bridge for the ``<rate>mbit`` networks: needs root; without it those networks
are skipped with the reason printed), predicts each from the CPU timing tables at each stage's cache state, the
codec timing table and the fidelity study's link latency, and writes ``runs.csv``, ``summary.csv``,
``codec_times.csv``, ``raw/steps.csv``, ``meta.json`` and ``README.md`` under ``results/pipeline/`` (``--quick``:
``results/pipeline/quick``). Every measuring run is also kept whole in ``history/<date>/``, and ``history.csv``
holds each kept run predicted again with the current model. ``--recompute`` predicts again from the written
measurements.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from harness.commands._paths import path_arg
from harness.files import write_text_atomic

SHOWN = ["network", "stages", "schedule", "method", "measured_ms", "predicted_ms", "error_pct",
         "predicted_ms_measured_compute", "error_pct_measured_compute", "fwd_wire_bytes", "cpu_busy_before"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "pipeline-fidelity",
        help="real pipelined training (2-4 gloo stage processes) over shaped links vs the pipeline simulator",
        description="Train a tiny LLaMA split into 2-4 stages, one gloo process per stage, GPipe and 1F1B, with "
        "activation codecs at the boundaries (none, TAH-Quant + 6-bit fixpoint gradients, AQ-SGD), over loopback "
        "and network-namespace links rate-limited with tc tbf (100 Mbit/s - 1 Gbit/s); predict every "
        "configuration with the pipeline_step kind's engine (nothing fitted to the pipelined steps) and write the "
        "signed % errors under results/pipeline/.",
    )
    parser.add_argument("--plan", type=path_arg, default=None, metavar="FILE",
                        help="plan file (default harness/pipeline_study/plans/pipeline_fidelity.yaml)")
    parser.add_argument("--quick", action="store_true", help="the CI-size plan (pipeline_fidelity_quick.yaml)")
    parser.add_argument("--recompute", action="store_true", help="predict again from the written measurements")
    parser.add_argument("--out", type=path_arg, default=None, metavar="DIR",
                        help="output folder (default results/pipeline, with --quick results/pipeline/quick)")
    parser.add_argument("--timings", type=path_arg, default=None, metavar="DIR",
                        help="timing tables root (default results/timings; the 1-thread CPU sets are used: the "
                        "cache-state family cpu-f<MiB> for the prediction, the single-flush set cpu beside it)")
    parser.add_argument("--fidelity", type=path_arg, default=None, metavar="DIR",
                        help="the fidelity study's results, for the link latency (default results/fidelity)")
    parser.add_argument("--max-wait-s", type=float, default=20.0, metavar="S",
                        help="longest wait for quiet CPUs before each configuration (default 20)")
    parser.add_argument("--nice", type=int, default=0, metavar="N",
                        help="scheduling niceness of the study and its stage processes, -20..19 (default 0; also set "
                        "on the session's scheduler autogroup where the kernel groups by session, restored at the end; "
                        "below 0 needs root and takes CPU time from other work on a shared machine)")
    parser.set_defaults(func=main)


def _load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg()) + f" on {os.cpu_count()} CPUs"


def _without_netns(plan, progress):
    """The plan with the namespace networks dropped (and a line saying why) where namespaces cannot be built."""
    from harness.fidelity.netns import netns_unavailable_reason

    reason = netns_unavailable_reason()
    if reason is None:
        return plan
    progress(f"namespace links skipped: {reason}")
    runs = [run.model_copy(update={"networks": ["loopback"]}) for run in plan.runs if "loopback" in run.networks]
    if not runs:
        from harness.errors import HarnessError

        raise HarnessError(f"every run of the plan needs network namespaces, which are unavailable: {reason}")
    return plan.model_copy(update={"runs": runs})


AUTOGROUP = Path("/proc/self/autogroup")


def _set_nice(nice: int) -> str | None:
    """This process's niceness (inherited by the stage processes) and, where the kernel schedules sessions as
    autogroups (nice then only ranks processes inside one session), the session's autogroup niceness; returns the
    autogroup's previous line (None where there is none)."""
    from harness.errors import HarnessError

    try:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
        if not AUTOGROUP.exists():
            return None
        previous = AUTOGROUP.read_text().strip()
        AUTOGROUP.write_text(str(nice))
        return previous
    except PermissionError:
        raise HarnessError(f"--nice {nice}: not permitted for this user") from None


def _restore_autogroup(previous: str | None) -> None:
    if previous is not None and AUTOGROUP.exists():
        AUTOGROUP.write_text(previous.rsplit("nice", 1)[-1].strip())


def main(args: argparse.Namespace) -> int:
    import math

    from harness.commands._paths import check_out_folder
    from harness.errors import HarnessError
    from harness.pipeline_study.plan import load_plan
    from harness.pipeline_study.readme import readme_text
    from harness.pipeline_study.study import (
        HISTORY_DIR, history_table, keep_in_history, recompute, run_study, write_study,
    )
    from harness.provenance import project_root

    root = project_root()
    if not (args.max_wait_s >= 0 and math.isfinite(args.max_wait_s)):
        raise HarnessError(f"--max-wait-s: expected a finite number >= 0, got {args.max_wait_s}")
    if not -20 <= args.nice <= 19:
        raise HarnessError(f"--nice: expected -20..19, got {args.nice}")
    plan_path = args.plan or root / "harness" / "pipeline_study" / "plans" / (
        "pipeline_fidelity_quick.yaml" if args.quick else "pipeline_fidelity.yaml")
    out = args.out or root / "results" / "pipeline" / ("quick" if args.quick else "")
    timings = args.timings or root / "results" / "timings"
    fidelity = args.fidelity or root / "results" / "fidelity"
    check_out_folder("--out", out, inside=["raw", HISTORY_DIR])  # before measuring: the study is written there

    def progress(message: str) -> None:
        print(f"[pipeline-fidelity] {message}", file=sys.stderr, flush=True)

    started = time.time()
    if args.recompute:
        study = recompute(out, timings_root=timings, fidelity_dir=fidelity)
    else:
        plan = _without_netns(load_plan(plan_path), progress)
        previous = _set_nice(args.nice) if args.nice else None
        load = _load()
        try:
            study = run_study(plan, timings_root=timings, fidelity_dir=fidelity, progress=progress,
                              quiet_wait_s=args.max_wait_s)
        finally:
            _restore_autogroup(previous)
        study.meta["autogroup_nice"] = args.nice if previous is not None else None
        study.meta["load"] = f"{load} at the start, {_load()} at the end"
        study.meta["niceness"] = os.getpriority(os.PRIO_PROCESS, 0)
        study.meta["plan_file"] = str(Path(plan_path).resolve().relative_to(root)) if Path(
            plan_path).resolve().is_relative_to(root) else Path(plan_path).name
    write_study(study, out)
    if not args.recompute:
        keep_in_history(study, out)
    history = history_table(out, timings, fidelity, current=study)
    write_text_atomic(out / f"{HISTORY_DIR}.csv", history.to_csv(index=False, float_format="%.6g"))
    write_text_atomic(out / "README.md", readme_text(study, quick=args.quick, history=history))
    print(study.runs[SHOWN].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(study.summary.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(f"wrote results under {out}/ in {time.time() - started:.0f} s")
    return 0
