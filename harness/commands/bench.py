"""`harness bench`: our kernels against their baselines, timed side by side in one run.

The work lives in `kernels.benchmark`; this module parses flags and prints the table (optionally saves JSON). An op
named in ``--ops`` that bench does not compare (`kernels.benchmark.why_not_benched`: the roofline ceilings, the
optimizer steps) is refused in one line listing the ops it runs, before anything is timed.
"""

from __future__ import annotations

import argparse
import json

from harness.commands._kernel_args import add_kernel_arguments, check_kernel_arguments
from harness.commands._paths import check_out_file, path_arg
from harness.files import write_text_atomic


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="benchmark kernels against their baselines (same run)",
        description="For every kernel op with a torch or Triton implementation (or those named; not the roofline "
        "ceilings matmul and copy, nor the optimizer steps: 'harness profile' times those) and shape: our time "
        "(Triton on CUDA, the torch reference on the CPU), the baseline's time (dense SwiGLU, torch tile-Hadamard, "
        "flat torch.topk, or the torch reference), the speedup, and achieved bandwidth against the copy bandwidth "
        "measured in the same run.",
    )
    add_kernel_arguments(parser, all_ops="every op bench runs")
    parser.add_argument("--json", type=path_arg, metavar="FILE", help="also write the rows as JSON here")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.errors import HarnessError
    from kernels.benchmark import bench_ops, format_rows, run_bench, why_not_benched
    from kernels.ops import load_all_ops

    runnable = bench_ops()
    check_kernel_arguments(args, runnable)
    registered = load_all_ops()
    refused = [f"{name} ({why_not_benched(registered.get(name))})" for name in args.ops or () if name not in runnable]
    if refused:
        raise HarnessError(f"--ops: bench does not run {'; '.join(refused)}; it runs: {', '.join(runnable)}")
    if args.json:
        check_out_file("--json", args.json)
    rows, roofline = run_bench(device=args.device, ops=args.ops, grid=args.grid, seed=args.seed)
    print(format_rows(rows, roofline["copy_gbytes_per_s"]))
    if args.json:
        write_text_atomic(args.json, json.dumps({"roofline": roofline, "rows": [r.as_dict() for r in rows]}, indent=1))
    return 0
