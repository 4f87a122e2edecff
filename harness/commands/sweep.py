"""`harness sweep FILE`: run every point of a scenario's sweep block, reusing finished points.

Prints one line per point (axis values, computed or reused, run id) and writes all points' metrics, with one
column per sweep axis, into one tidy CSV beside the runs: ``<out>/<name>/sweep-<hash>.csv``. Points whose metrics
hold NaN or +-inf are named in one line on stderr (`harness.non_finite.sweep_line`); the exit code stays 0.
"""

from __future__ import annotations

import argparse
import sys

from harness.api import point_table, run_scenario, write_sweep_table
from harness.commands._paths import path_arg, shown_path
from harness.commands.run import check_results_root
from harness.commands.validate import add_max_points, check_table_sets
from harness.config.loader import load_scenario
from harness.executors import EXECUTORS, check_workers, default_workers
from harness.non_finite import sweep_line


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="run every point of a scenario's sweep (resumable)",
        description="Expand the sweep block (Cartesian product of 'product' axes times the joint 'zip' axis) and "
        "run every point not already finished, in parallel. Each point is stored atomically as soon as it "
        "finishes, so an interrupted sweep resumes where it stopped.",
    )
    parser.add_argument("file", metavar="FILE", help="scenario YAML file")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help=f"parallel worker processes (default: the CPUs available, here {default_workers()})")
    parser.add_argument("--executor", choices=EXECUTORS, default="local",
                        help="local process pool (default) or Ray (starts a local Ray instance if none runs)")
    parser.add_argument("--seed", type=int, default=None, help="replace the file's seed")
    parser.add_argument("--out", type=path_arg, default=None, metavar="DIR",
                        help="results root (default: results/runs under the current directory)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                        help="override a key (value parsed as YAML; repeatable)")
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bars (over the points, and inside a point run in this process)")
    add_max_points(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.file, args.overrides, seed=args.seed, max_points=args.max_points)
    check_table_sets(scenario, args.file)
    if args.workers is not None:
        check_workers(args.workers, args.executor)  # before the run store's folder is made
    check_results_root(args.out)
    result = run_scenario(scenario, workers=args.workers, executor=args.executor, results_root=args.out,
                          progress=args.progress, max_points=args.max_points)
    for line in result.tuning_lines:
        print(line)
    n_points, n_reused = len(result.runs), result.n_reused
    folder = result.runs[0].run_dir.parent if result.runs else None
    print(f"{scenario.name}: {n_points} point{'' if n_points == 1 else 's'}, {n_points - n_reused} computed, "
          f"{n_reused} reused; results under {shown_path(folder)}/")
    print(point_table(result).to_string(index=False))
    if (line := sweep_line([record.non_finite for record in result.runs])) is not None:
        print(line, file=sys.stderr)
    table = write_sweep_table(result, args.out)
    if table is not None:
        print(f"all points in one table (metrics, one column per sweep axis, run_id): {shown_path(table)}")
    return 0
