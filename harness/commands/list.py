"""`harness list`: the scenario kinds, the scenario files under scenarios/, and the registered figures."""

from __future__ import annotations

import argparse
import importlib
import inspect
from pathlib import Path

from harness.commands._paths import path_arg
from harness.config.loader import load_scenario
from harness.errors import HarnessError
from harness.provenance import project_root
from harness.sweep import max_points, point_count

SKIPPED_FOLDERS = ("broken",)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "list",
        help="list scenario kinds, scenario files and figures",
        description="List the scenario kinds (with their one-line docs), the scenario files under scenarios/ "
        "(their kind and number of sweep points), and the registered figures when the figure registry "
        "(plots.registry) is available.",
    )
    parser.add_argument("--scenarios", type=path_arg, default=None, metavar="DIR",
                        help="folder of scenario files (default: scenarios/ here, else the project's)")
    parser.set_defaults(func=main)


def first_line(text: str | None) -> str:
    return inspect.cleandoc(text).splitlines()[0] if text and text.strip() else ""


def kind_lines() -> list[str]:
    from harness.workloads import WORKLOADS, load_all

    load_all()
    lines = []
    for name, kind in WORKLOADS.items():
        module = inspect.getmodule(kind.run)
        doc = first_line(kind.model.__doc__) or first_line(kind.run.__doc__) or first_line(module and module.__doc__)
        lines.append(f"  {name:<24} {doc}")
    return lines


def scenario_folder(explicit: Path | None) -> Path:
    """``--scenarios DIR`` (which must be a folder: `HarnessError` otherwise), else scenarios/ here or the project's."""
    if explicit is not None:
        if not explicit.is_dir():
            why = "not a folder" if explicit.exists() else "no such folder"
            raise HarnessError(f"--scenarios {explicit}: {why}")
        return explicit
    here = Path("scenarios")
    return here if here.is_dir() else project_root() / "scenarios"


def scenario_lines(folder: Path) -> list[str]:
    files = sorted(p for p in folder.rglob("*.y*ml") if not set(p.relative_to(folder).parts) & set(SKIPPED_FOLDERS))
    lines = []
    for file in files:
        try:
            scenario = load_scenario(file)
        except HarnessError:
            lines.append(f"  {file}  (invalid: run 'harness validate {file}')")
            continue
        points = point_count(scenario.sweep)
        lines.append(f"  {file}  kind={scenario.kind}  points={points}")
    return lines


def figure_lines() -> list[str] | None:
    """One line per registered figure, or None when the figure registry (plots.registry) does not import."""
    try:
        registry = importlib.import_module("plots.registry")
    except ImportError:
        return None
    lines = []
    try:
        papers = importlib.import_module("plots.papers")
        _, errors = papers.load_all(keep_going=True)
    except (ImportError, AttributeError, TypeError):
        errors = {}
    figures = getattr(registry, "FIGURES", None)
    if figures is None:
        return None
    for spec in figures:
        spec = figures.get(spec) if isinstance(spec, str) else spec
        title = first_line(getattr(spec, "title", "") or getattr(spec, "caption", ""))
        lines.append(f"  {getattr(spec, 'id', spec)!s:<40} {getattr(spec, 'paper', '')!s:<12} {title}")
    lines.extend(f"  (figure module {name} failed to import: {error})" for name, error in errors.items())
    return lines


def main(args: argparse.Namespace) -> int:
    folder = scenario_folder(args.scenarios)
    max_points()  # a bad $HARNESS_MAX_SWEEP_POINTS is this command's problem, not every file's: one line, exit 2
    print("Scenario kinds:")
    print("\n".join(kind_lines()) or "  (none)")
    print(f"\nScenario files ({folder}):")
    print("\n".join(scenario_lines(folder)) or "  (none)")
    figures = figure_lines()
    if figures is not None:
        print("\nFigures:")
        print("\n".join(figures) or "  (none registered)")
    return 0
