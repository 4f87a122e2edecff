"""`harness fidelity`: measure real gloo runs (loopback and/or a tbf-limited netns network) against the simulator.

Writes the comparison tables (signed % errors), the alpha-beta fits and the raw measurements under
``results/fidelity/`` (see `harness.fidelity.study`) and prints the per-point table and the median |error|.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from harness.errors import HarnessError

SHOWN_COLUMNS = ["setting", "rate_mbit", "n_ranks", "op", "size_bytes", "model_shape", "measured_ms",
                 "predicted_ms_closed_form", "predicted_ms_link_level", "error_pct"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fidelity",
        help="real torch.distributed (gloo) runs vs the simulator's predictions",
        description="Measure gloo ping-pong (to fit alpha and beta), all-reduce and a small data-parallel step "
        "with 2 and 4 processes, on loopback and/or across network namespaces joined by tbf rate-limited veths "
        "(100 Mbit/s, 1 Gbit/s; needs root), predict them with the simulator, and write the tables of signed "
        "% errors under results/fidelity/. Without --loopback/--netns both settings run (netns is skipped, "
        "with the reason, where it is unavailable).",
    )
    parser.add_argument("--loopback", action="store_true", help="run the loopback setting")
    parser.add_argument("--netns", action="store_true", help="run the network-namespace setting (root)")
    parser.add_argument("--quick", action="store_true", help="few sizes and repeats (a CI-size check)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="output folder (default: results/fidelity under the project root)")
    parser.set_defaults(func=main)


def _format(table: pd.DataFrame) -> str:
    shown = table[[c for c in SHOWN_COLUMNS if c in table.columns]].copy()
    if shown["rate_mbit"].isna().all():
        shown = shown.drop(columns=["rate_mbit"])
    return shown.to_string(index=False, float_format=lambda v: f"{v:.3f}")


def main(args: argparse.Namespace) -> int:
    from harness.fidelity.netns import netns_unavailable_reason
    from harness.fidelity.study import FULL_PLAN, QUICK_PLAN, run_study, write_tables
    from harness.provenance import project_root

    want_loopback = args.loopback or not (args.loopback or args.netns)
    want_netns = args.netns or not (args.loopback or args.netns)
    reason = netns_unavailable_reason() if want_netns else None
    if reason:
        if args.netns:
            raise HarnessError(f"--netns: network namespaces are unavailable here: {reason}")
        print(f"note: skipping the netns setting: {reason}", file=sys.stderr)
        want_netns = False
    plan = QUICK_PLAN if args.quick else FULL_PLAN
    result = run_study(plan, loopback=want_loopback, netns=want_netns,
                       progress=lambda message: print(f"[fidelity] {message}", file=sys.stderr, flush=True))
    out_dir = args.out or project_root() / "results" / "fidelity"
    written = write_tables(result, out_dir)
    for table in (result.loopback, result.netns):
        if table is not None:
            print(_format(table))
            print()
    print("alpha-beta fits (from ping-pong only):")
    print(result.fits.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print()
    print("median |error| (%):")
    print(result.summary.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    print(f"\nwrote {len(written)} files under {out_dir}/")
    return 0
