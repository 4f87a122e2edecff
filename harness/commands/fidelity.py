"""`harness fidelity`: measure real gloo runs (loopback and/or a tbf-limited netns network) against the simulator.

Per setting, writes the raw measurements (``results/fidelity/raw/<setting>.json``), the comparison table of
signed % errors (``<setting>.csv``), the alpha-beta fits, the summary and CSV copies of the raw tables (see
`harness.fidelity.study`), and prints the per-point table and the median |error|. ``--recompute`` rebuilds the
tables from the saved raw measurements without measuring (e.g. after a change to the simulator).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from harness.commands._paths import check_out_folder, path_arg
from harness.errors import HarnessError
from harness.files import write_text_atomic

SETTINGS = ("loopback", "netns")
SHOWN_COLUMNS = ["setting", "rate_mbit", "n_ranks", "op", "size_bytes", "model_shape", "measured_ms",
                 "predicted_ms_startup_bw", "error_pct_startup_bw", "predicted_ms_link_level", "error_pct_link_level"]


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
    parser.add_argument("--recompute", action="store_true",
                        help="do not measure: rebuild the tables from <out>/raw/<setting>.json")
    parser.add_argument("--out", type=path_arg, default=None, metavar="DIR",
                        help="output folder (default: results/fidelity under the project root; with --quick "
                        "results/fidelity/quick, so a CI-size check never overwrites the committed study)")
    parser.set_defaults(func=main)


def _format(table: pd.DataFrame) -> str:
    shown = table[[c for c in SHOWN_COLUMNS if c in table.columns]].copy()
    if shown["rate_mbit"].isna().all():
        shown = shown.drop(columns=["rate_mbit"])
    return shown.to_string(index=False, float_format=lambda v: f"{v:.3f}")


#: what a saved raw part holds (`harness.fidelity.study.split_raw`): the machine's meta and lists of row objects,
#: each row with at least these fields (those the fits and comparisons read)
_LINK = ("setting", "rate_mbit", "n_ranks")
RAW_FIELDS = {"pingpong": (*_LINK, "size_bytes", "time_ms_median"),
              "allreduce": (*_LINK, "size_bytes", "time_ms_median"),
              "dp_step": (*_LINK, "width", "depth", "batch", "grad_bytes", "time_ms_median"),
              "compute": ("width", "depth", "batch", "time_ms_median")}


def _read_raw(path: Path) -> dict:
    """A saved raw part (``raw/<setting>.json``), its shape checked; `HarnessError` naming the file otherwise."""
    if path.is_dir() or not path.exists():
        why = "is a folder, not a saved measurement" if path.is_dir() else "does not exist"
        raise HarnessError(f"--recompute: {path} {why}; run `harness fidelity` to measure first")
    try:
        part = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise HarnessError(f"--recompute: {path} is not valid JSON ({err})") from None
    if not isinstance(part, dict) or not isinstance(part.get("meta"), dict) or not all(
            isinstance(part.get(kind, []), list) and all(isinstance(row, dict) for row in part.get(kind, []))
            for kind in RAW_FIELDS):
        raise HarnessError(f"--recompute: {path}: expected a JSON object with 'meta' (an object) and lists of row "
                           f"objects under {', '.join(RAW_FIELDS)}, as `harness fidelity` saves")
    for kind, fields in RAW_FIELDS.items():
        for number, row in enumerate(part.get(kind, []), start=1):
            missing = [name for name in fields if name not in row]
            if missing:
                raise HarnessError(f"--recompute: {path}: {kind} row {number}: missing {', '.join(missing)}")
    return part


def _raw_parts(args: argparse.Namespace, settings: list[str], out_dir: Path) -> dict[str, dict]:
    from harness.fidelity.study import FULL_PLAN, QUICK_PLAN, measure_study, split_raw

    if args.recompute:
        return {setting: _read_raw(out_dir / "raw" / f"{setting}.json") for setting in settings}
    plan = QUICK_PLAN if args.quick else FULL_PLAN
    raw = measure_study(plan, loopback="loopback" in settings, netns="netns" in settings,
                        progress=lambda message: print(f"[fidelity] {message}", file=sys.stderr, flush=True))
    parts = split_raw(raw)
    for setting, part in parts.items():  # saved before any fitting: a failed fit never loses a measurement
        write_text_atomic(out_dir / "raw" / f"{setting}.json", json.dumps(part, indent=1, default=str) + "\n")
    return parts


def main(args: argparse.Namespace) -> int:
    from harness.fidelity.netns import netns_unavailable_reason
    from harness.fidelity.study import result_from_raw, write_tables
    from harness.provenance import project_root

    settings = [s for s in SETTINGS if getattr(args, s)] or list(SETTINGS)
    if "netns" in settings and not args.recompute:
        reason = netns_unavailable_reason()
        if reason:
            if args.netns:
                raise HarnessError(f"--netns: network namespaces are unavailable here: {reason}")
            print(f"note: skipping the netns setting: {reason}", file=sys.stderr)
            settings.remove("netns")
    out_dir = args.out or project_root() / "results" / "fidelity" / ("quick" if args.quick else "")
    check_out_folder("--out", out_dir, inside=["raw"])  # before measuring: the measurements are written there
    n_written = 0
    # a saved part edited by hand can lack any field; a fresh measurement lacking one is a bug (traceback)
    refused = (ValueError, KeyError, TypeError) if args.recompute else ValueError
    for setting, part in _raw_parts(args, settings, out_dir).items():
        try:
            result = result_from_raw(part)
        except refused as err:
            why = f"no field {err.args[0]}" if isinstance(err, KeyError) else err
            raise HarnessError(f"{setting}: cannot fit or compare the measurements ({why}); the raw "
                               f"measurements are in {out_dir / 'raw' / (setting + '.json')}") from None
        n_written += len(write_tables(result, out_dir))
        table = result.loopback if setting == "loopback" else result.netns
        print(_format(table))
        print(f"\nalpha-beta fits ({setting}, from ping-pong only):")
        print(result.fits.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        print(f"\nmedian |error| (%), {setting}:")
        summary = result.summary.dropna(axis=1, how="all")
        print(summary.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
        print()
    from harness.fidelity.study import write_overall_summary

    overall = write_overall_summary(out_dir)
    if overall is not None:
        summary = pd.read_csv(overall).set_index("op").loc["all"]

        def worst(model: str) -> str:
            return f"worst {summary[f'max_error_pct_{model}']:+.1f}% / {summary[f'min_error_pct_{model}']:+.1f}%"

        print(f"all settings: median |error| {summary['median_abs_error_pct_startup_bw']:.1f}% over "
              f"{int(summary['n_points'])} points, {worst('startup_bw')} (collective model startup_bw; ping-pong "
              f"alpha-beta link level: {summary['median_abs_error_pct_link_level']:.1f}%, {worst('link_level')})")
        n_written += 1
    print(f"wrote {n_written} table files under {out_dir}/")
    return 0
