"""`harness bench`: our kernels against their baselines, timed side by side in one run.

The work lives in `kernels.benchmark`; this module parses flags and prints the table (optionally saves JSON).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="benchmark kernels against their baselines (same run)",
        description="For every registered kernel op (or those named) and shape: our time (Triton on CUDA, the "
        "torch reference on the CPU), the baseline's time (dense SwiGLU, torch tile-Hadamard, flat torch.topk, "
        "or the torch reference), the speedup, and achieved bandwidth against the copy bandwidth measured in the "
        "same run.",
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to time (default cpu)")
    parser.add_argument("--ops", nargs="+", metavar="OP", help="only these ops (default: every kernel op)")
    parser.add_argument("--grid", choices=("quick", "default"), default="quick", help="shape grid (default quick)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the rows as JSON here")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from harness.errors import HarnessError
    from kernels.benchmark import format_rows, run_bench
    from kernels.ops import load_all_ops

    known = load_all_ops()
    unknown = [name for name in args.ops or () if name not in known]
    if unknown:
        raise HarnessError(f"--ops: unknown op(s) {', '.join(unknown)}; known: {', '.join(known)}")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise HarnessError("--device cuda: no CUDA device is available on this machine")
    rows, roofline = run_bench(device=args.device, ops=args.ops, grid=args.grid, seed=args.seed)
    print(format_rows(rows, roofline["copy_gbytes_per_s"]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"roofline": roofline, "rows": [r.as_dict() for r in rows]}, indent=1))
    return 0
