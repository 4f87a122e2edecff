"""`harness validate FILE...`: check scenario files; every problem on its own line, exit code 2 if any."""

from __future__ import annotations

import argparse
import sys

from harness.config.blocks import ScenarioBase
from harness.config.loader import load_scenario
from harness.errors import ScenarioError
from harness.sweep import DEFAULT_MAX_POINTS, MAX_POINTS_ENV, point_count


def add_max_points(parser: argparse.ArgumentParser) -> None:
    """``--max-points N``: the sweep-size limit (`harness.sweep.max_points`)."""
    parser.add_argument("--max-points", type=int, default=None, metavar="N",
                        help=f"refuse a sweep of more than N points (default: ${MAX_POINTS_ENV}, else "
                        f"{DEFAULT_MAX_POINTS:,})")


def check_table_sets(scenario: ScenarioBase, source: str) -> None:
    """Refuse (`ScenarioError`) a ``timings.table_set`` (or a sweep value of it) with no folder under the project's
    ``results/timings``, naming the key and listing the sets there (`harness.timing.sets`)."""
    from harness.timing.sets import table_set_problems

    problems = table_set_problems(scenario, source)
    if problems:
        raise ScenarioError(problems)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "validate",
        help="check scenario files (exit 2 with one line per problem)",
        description="Check scenario files against their kind's model, including every point of their sweep, and "
        "that a table set named in timings.table_set exists under the project's results/timings. "
        "Valid files are listed on stdout; each problem is printed on stderr as "
        "'<file>: <key.path>: expected <what>, got <value>'. Exit code 0 if all are valid, else 2.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="scenario YAML files")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                        help="override a key before validating (value parsed as YAML; repeatable)")
    add_max_points(parser)
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    failed = False
    for file in args.files:
        try:
            scenario = load_scenario(file, args.overrides, max_points=args.max_points)
            check_table_sets(scenario, file)
        except ScenarioError as err:
            failed = True
            for line in err.problems:
                print(line, file=sys.stderr)
            continue
        points = point_count(scenario.sweep)
        print(f"{file}: ok (kind {scenario.kind}, {points} point{'s' if points != 1 else ''})")
    return 2 if failed else 0
