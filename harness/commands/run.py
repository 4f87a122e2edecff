"""`harness run FILE`: run one scenario (the base point of a sweep file) and show where its results are.

While the run computes, a kind that reports progress (`RunContext.progress`) shows a bar on stderr when stderr is a
terminal (``--no-progress``: none). A run whose metrics hold NaN or +-inf (a diverged run) is stored as it is and
exits 0, with one line on stderr (`harness.non_finite.run_line`, from run.json, so a reused run shows it again).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from harness.api import run_scenario
from harness.commands._paths import path_arg, shown_path
from harness.commands.validate import add_max_points, check_table_sets
from harness.config.blocks import ClusterSpec, DeviceScenario, ScenarioBase
from harness.config.loader import load_scenario
from harness.errors import HarnessError
from harness.non_finite import run_line
from harness.store import RunStore
from harness.sweep import point_count
from harness.timing.notes import timing_notes

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
    parser.add_argument("--out", type=path_arg, default=None, metavar="DIR",
                        help="results root (default: results/runs under the current directory)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                        help="override a key (value parsed as YAML, e.g. --set cluster.nodes=8; repeatable)")
    add_max_points(parser)
    parser.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bar (it shows only on a terminal, for kinds that report progress)")
    parser.set_defaults(func=main)


def check_results_root(root: Path | None, flag: str = "--out") -> None:
    """Refuse a results root that is a file or cannot be written (`HarnessError`), before anything runs."""
    folder = RunStore(root).root
    what = f"{flag} {root}" if root is not None else f"results folder {shown_path(folder)}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except (FileExistsError, NotADirectoryError):
        raise HarnessError(f"{what}: a file is in the way; expected a folder (or a path to create one)") from None
    except OSError as err:
        raise HarnessError(f"{what}: cannot write there ({err.strerror or err})") from None


def device_line(scenario: ScenarioBase) -> str | None:
    """Which device (and cluster) the run simulated, and whether the file chose it; None for a kind without one."""
    if not isinstance(scenario, DeviceScenario):
        return None
    cluster = scenario.cluster
    chosen = "" if "device" in cluster.model_fields_set else " (cluster.device not set: the default)"
    size = (f"; {cluster.nodes} node(s) x {cluster.devices_per_node} device(s)"
            if isinstance(cluster, ClusterSpec) else "")
    return f"device: {cluster.device}{chosen}{size}; timing tables: {scenario.table_set}"


def main(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.file, args.overrides, seed=args.seed, max_points=args.max_points,
                             check_points=False)  # only the base point runs: the sweep is counted, not built
    check_table_sets(scenario, args.file)
    check_results_root(args.out)
    if scenario.sweep is not None:
        print(f"note: {args.file} has a sweep block ({point_count(scenario.sweep)} points); running its base point "
              f"only. 'harness sweep {args.file}' runs the grid.", file=sys.stderr)
    # a bar over the units the kind reports while it runs (on a terminal); none over its one point
    result = run_scenario(scenario, sweep=False, workers=1, results_root=args.out, progress=args.progress,
                          points_bar=False)
    record = result.runs[0]
    for line in result.tuning_lines:
        print(line)
    how = "reused (finished earlier)" if record.reused else "computed"
    print(f"{scenario.name}: {how}; results in {shown_path(record.run_dir)}/")
    if (line := device_line(scenario)) is not None:
        print(line)
    for note in timing_notes(record.info):  # roofline share of compute; collectives from measured tables
        print(note, file=sys.stderr)
    if (line := run_line(record.non_finite)) is not None:  # NaN / inf metrics: stored as they are, exit 0
        print(line, file=sys.stderr)
    metrics = result.metrics
    print(f"metrics.csv: {len(metrics)} rows x {len(metrics.columns)} columns"
          + (f"; first {PREVIEW_ROWS}:" if len(metrics) > PREVIEW_ROWS else ":"))
    print(metrics.head(PREVIEW_ROWS).to_string(index=False))
    return 0
