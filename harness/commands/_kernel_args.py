"""Flags shared by `harness profile` and `harness bench` (device, ops, grid, seed) and their checks."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

#: seeds torch.Generator.manual_seed takes (from 0)
MAX_SEED = 2**64 - 1


def add_kernel_arguments(parser: argparse.ArgumentParser, all_ops: str = "every registered op") -> None:
    """``--device``, ``--ops`` (``all_ops``: what no ``--ops`` means, for the help), ``--grid``, ``--seed``."""
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to time (default cpu)")
    parser.add_argument("--ops", nargs="+", metavar="OP", help=f"only these ops (default: {all_ops})")
    parser.add_argument("--grid", choices=("quick", "default"), default="quick", help="shape grid (default quick)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")


def check_kernel_arguments(args: argparse.Namespace, runnable: Sequence[str] | None = None) -> None:
    """Raise `HarnessError` for an unknown op, a seed torch cannot take or a CUDA request on a machine without CUDA
    (before anything is timed); an op named twice is timed once. ``runnable``: the ops the command can run, listed
    as the known ones (default: every registered op)."""
    import torch

    from harness.errors import HarnessError
    from kernels.ops import load_all_ops

    registered = load_all_ops()
    known = list(registered) if runnable is None else list(runnable)
    unknown = [name for name in args.ops or () if name not in registered]
    if unknown:
        raise HarnessError(f"--ops: unknown op(s) {', '.join(unknown)}; known: {', '.join(known)}")
    if args.ops:
        args.ops = list(dict.fromkeys(args.ops))
    if not 0 <= args.seed <= MAX_SEED:
        raise HarnessError(f"--seed: expected an integer from 0 to 2**64 - 1, got {args.seed}")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise HarnessError("--device cuda: no CUDA device is available on this machine")
