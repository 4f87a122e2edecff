"""`harness fidelity-compute`: real tiny-LLaMA training steps on this CPU against the op-by-op compute model.

Measures every point of the plan (`harness.fidelity.compute`: 4 model sizes x 2 micro-batches x 2 sequence lengths
x 1 and 2 threads, fp32, AdamW), predicts each from the CPU timing tables of the same thread count at the step's
cache state (the families ``cpu-f<MiB>`` and ``cpu-2t-f<MiB>`` under ``--timings``, blended at the bytes the step
touches; `harness.timing.cache_state`) and, beside it, from the same tables at the profiler's default flush for
every step, and writes ``steps.csv``, ``by_op.csv``, ``summary.csv``, ``op_times.csv`` (the step's ops timed alone
beside its steps, a diagnostic) and ``meta.json`` under ``results/fidelity_compute/``. Make the tables first, on a
quiet machine (about 48 min on the 2-core dev VM; every row timed in 2 passes, so no block of rows carries one
moment's speed of a drifting machine), and measure soon after: this VM's speed changes by tens of percent between
periods::

    bash scripts/profile_cpu_cache_state.sh

Every point is measured under two glibc allocator configurations (``default``, and ``keep``: freed memory kept in
the process as a caching allocator does, so steps pay no page faults for it; see
`harness.fidelity.compute.ALLOCATORS`). The measurement takes about 7 min on a quiet 2-core machine (the op
profile flushes up to 164 MiB before every call): 3 interleaved rounds of every point, each of at least 5 steps and
0.5 s of steps, each shape's ops timed alone right before its steps (plus up to 30 s of waiting for quiet CPUs per
shape and round on a busy one; the busiest fraction seen is recorded per point). ``--recompute`` predicts again
from the saved measurements (e.g. after re-profiling). Every measuring run also keeps its points in
``runs/<date>.csv``; ``run_spread.csv`` gives, per point, how far the runs' measured medians lie apart (this VM's
speed changes between runs).
"""

from __future__ import annotations

import argparse
import sys

from harness.commands._paths import path_arg

SHOWN = ["allocator", "threads", "size", "micro_batch", "seq_len", "touched_mib", "measured_ms", "predicted_ms",
         "error_pct", "error_fixed_flush_pct", "error_op_profile_pct", "roofline_fraction", "cpu_busy_before"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fidelity-compute",
        help="real tiny-LLaMA training steps on this CPU vs the op-by-op compute model",
        description="Measure real TinyLlama + AdamW training steps on this CPU (4 sizes x 2 micro-batches x 2 "
        "sequence lengths x 1 and 2 threads x 2 allocator configurations, fp32) and predict each from the CPU "
        "timing tables at the step's cache state (cpu-f<MiB> for 1 thread, cpu-2t-f<MiB> for 2; beside it the "
        "same tables at one default flush; nothing fitted); write the signed % errors under "
        "results/fidelity_compute/. About 7 min on a quiet machine, after the profiles that make the tables "
        "(scripts/profile_cpu_cache_state.sh).",
    )
    parser.add_argument("--quick", action="store_true", help="one tiny point, 1 thread, few steps (a CI-size check)")
    parser.add_argument("--recompute", action="store_true",
                        help="do not measure: predict again from <out>/steps.csv")
    parser.add_argument("--timings", type=path_arg, default=None, metavar="DIR",
                        help="timing-table root holding the cache-state families cpu-f<MiB>/ and cpu-2t-f<MiB>/ "
                        "(default: results/timings)")
    parser.add_argument("--threads", type=int, nargs="+", choices=(1, 2), default=None, metavar="N",
                        help="only these thread counts (1 2; default both, --quick 1)")
    parser.add_argument("--allocators", nargs="+", choices=("default", "keep"), default=None, metavar="NAME",
                        help="only these glibc allocator configurations, 'default' and/or 'keep' (both unless given; "
                        "--quick: 'default')")
    parser.add_argument("--max-wait-s", type=float, default=None, metavar="S",
                        help="longest wait for quiet CPUs before each point (default 30; --quick 0)")
    parser.add_argument("--out", type=path_arg, default=None, metavar="DIR",
                        help="output folder (default results/fidelity_compute, with --quick "
                        "results/fidelity_compute/quick)")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    import math
    from dataclasses import replace

    from harness.commands._paths import check_out_folder
    from harness.errors import HarnessError
    from harness.fidelity.compute import FULL_PLAN, QUICK_PLAN, RUNS_DIR, read_measured, run_study, write_study
    from harness.provenance import default_timings_root, project_root

    plan = QUICK_PLAN if args.quick else FULL_PLAN
    if args.max_wait_s is not None:
        if not (args.max_wait_s >= 0 and math.isfinite(args.max_wait_s)):
            raise HarnessError(f"--max-wait-s: expected a finite number >= 0, got {args.max_wait_s}")
        plan = replace(plan, quiet_max_wait_s=args.max_wait_s)
    if args.threads:
        plan = replace(plan, threads=tuple(sorted(set(args.threads))))
    if args.allocators:
        plan = replace(plan, allocators=tuple(dict.fromkeys(args.allocators)))
    out_dir = args.out or project_root() / "results" / "fidelity_compute" / ("quick" if args.quick else "")
    timings = args.timings or default_timings_root()
    check_out_folder("--out", out_dir, inside=[RUNS_DIR])  # before measuring: the study is written there
    measured, op_times = read_measured(out_dir) if args.recompute else (None, None)
    study = run_study(plan, timings, measured=measured, op_times=op_times,
                      progress=lambda m: print(f"[fidelity-compute] {m}", file=sys.stderr, flush=True))
    files = write_study(study, out_dir, measured_now=measured is None)
    print(study.table[SHOWN].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print()
    print(study.summary.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    print(f"wrote {len(files)} files under {out_dir}/")
    return 0
