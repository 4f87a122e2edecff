"""`harness profile`: time the registered kernel ops on this machine and write timing tables.

The work lives in `kernels.profiler`; this module parses flags, checks them and prints progress per op.
Writes ``<out>/<device>/<op>.csv`` + ``meta.json`` (device ``cpu``, or the GPU family such as ``h100``); ``<out>``
defaults to the project's ``results/timings`` (`harness.provenance.default_timings_root`, where `harness run`, the
figures and `harness timings` read tables), whatever the current directory.
"""

from __future__ import annotations

import argparse
import math

from harness.commands._kernel_args import add_kernel_arguments, check_kernel_arguments
from harness.commands._paths import path_arg

#: the largest cache flush a profile may write before every call (a flush is a buffer of that size)
MAX_FLUSH_MIB = 16384


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "profile",
        help="measure kernel timing tables on this machine",
        description="Time every registered op (or those named) over its shape grid on this machine and write "
        "<out>/<device>/<op>.csv plus meta.json (versions, timer, kernel-source hash, measured copy bandwidth and "
        "matmul TFLOP/s). Triton implementations run on CUDA devices only.",
    )
    add_kernel_arguments(parser)
    parser.add_argument(
        "--out", type=path_arg, default=None, metavar="DIR",
        help="tables folder (default: the project's results/timings, which scenarios and 'harness timings' read, "
        "whatever the current directory)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, metavar="N", help="torch CPU threads (default: torch's choice)"
    )
    parser.add_argument(
        "--budget-s", type=float, default=0.25, metavar="S",
        help="CPU only: seconds of repeats per measurement (default %(default)s)",
    )
    parser.add_argument(
        "--passes", type=int, default=1, metavar="N",
        help="time every row in N passes over all the ops chosen (budget split between them) and keep the median "
        "over the passes (default %(default)s)",
    )
    parser.add_argument(
        "--dtypes", nargs="+", choices=("float32", "bfloat16", "float16"), metavar="DTYPE",
        help="only these dtypes (float32 bfloat16 float16; default: every dtype of each op); an op's rows of "
        "these dtypes are replaced, its rows of other dtypes kept",
    )
    parser.add_argument(
        "--cpu-flush-mib", type=float, default=None, metavar="MIB",
        help="CPU only: MiB written before every timed call to evict the caches (0: none; default: four times the "
        "cores' private L2). Tables of one op set at several flush sizes give the cache-state axis "
        "(harness.timing.cache_state)",
    )
    parser.add_argument(
        "--table-set", default=None, metavar="NAME",
        help="folder name under --out (default: the device, cpu or the GPU family); e.g. cpu-2t for 2-thread tables",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from harness.commands._paths import check_out_folder, shown_path
    from harness.errors import HarnessError
    from harness.provenance import default_timings_root
    from harness.timing.sets import check_set_name
    from kernels.profiler import TimerSettings, device_folder, run_profile

    check_kernel_arguments(args)
    if args.threads is not None and args.threads < 1:
        raise HarnessError(f"--threads: expected an integer >= 1, got {args.threads}")
    if not (args.budget_s > 0 and math.isfinite(args.budget_s)):
        raise HarnessError(f"--budget-s: expected a finite number > 0, got {args.budget_s}")
    if args.passes < 1:
        raise HarnessError(f"--passes: expected an integer >= 1, got {args.passes}")
    if args.cpu_flush_mib is not None and (args.device != "cpu" or not 0 <= args.cpu_flush_mib <= MAX_FLUSH_MIB):
        raise HarnessError(f"--cpu-flush-mib: expected a number from 0 to {MAX_FLUSH_MIB} with --device cpu, got "
                           f"{args.cpu_flush_mib:g}")
    flush_bytes = None if args.cpu_flush_mib is None else int(args.cpu_flush_mib * (1 << 20))
    if args.table_set is not None:
        check_set_name("--table-set", args.table_set)
    out = args.out if args.out is not None else default_timings_root()
    check_out_folder("--out" if args.out is not None else "timings folder",
                     out / (args.table_set or device_folder(args.device)))
    folder = run_profile(
        device=args.device, ops=args.ops, grid=args.grid, out=out, seed=args.seed, threads=args.threads,
        settings=TimerSettings(cpu_budget_s=args.budget_s, cpu_flush_bytes=flush_bytes), dtypes=args.dtypes,
        folder_name=args.table_set, passes=args.passes,
    )
    print(f"tables: {shown_path(folder)}")
    return 0
