"""`harness run FILE`: run one scenario (the base point of a sweep file) and show where its results are."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.api import run_scenario
from harness.config.loader import load_scenario
from harness.sweep import point_count

PREVIEW_ROWS = 10


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run one scenario",
        description="Run one scenario and store metrics.csv + run.json under <out>/<name>/<run-id>/. A finished "
        "run with the same scenario, code and timing tables is reused, not recomputed. If the file has a "
        "sweep block, only its base point runs; 'harness sweep' runs the grid.",
    )
    parser.add_argument("file", metavar="FILE", help="scenario YAML file")
    parser.add_argument("--seed", type=int, default=None, help="replace the file's seed")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="results root (default: results/runs under the current directory)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                        help="override a key (value parsed as YAML, e.g. --set cluster.nodes=8; repeatable)")
    parser.set_defaults(func=main)


def shown_path(path: Path) -> str:
    """``path`` relative to the current directory when it lies below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.file, args.overrides, seed=args.seed)
    if scenario.sweep is not None:
        print(f"note: {args.file} has a sweep block ({point_count(scenario.sweep)} points); running its base point "
              f"only. 'harness sweep {args.file}' runs the grid.", file=sys.stderr)
    result = run_scenario(scenario, sweep=False, workers=1, results_root=args.out, progress=False)
    record = result.runs[0]
    how = "reused (finished earlier)" if record.reused else "computed"
    print(f"{scenario.name}: {how}; results in {shown_path(record.run_dir)}/")
    metrics = result.metrics
    print(f"metrics.csv: {len(metrics)} rows x {len(metrics.columns)} columns"
          + (f"; first {PREVIEW_ROWS}:" if len(metrics) > PREVIEW_ROWS else ":"))
    print(metrics.head(PREVIEW_ROWS).to_string(index=False))
    return 0
