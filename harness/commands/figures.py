"""`harness figures`: regenerate paper figures (cached runs, cached drawings) and the gallery page.

The work lives in `plots.runner`; this module parses flags and prints the outcome. It imports `plots` inside the
handler: the CLI is the one place allowed to reach the top layer (ARCHITECTURE.md "Layers").
Exit codes: 0 all figures ok, 1 some figure (or figure module) failed, 2 a user mistake (unknown id or paper, an
``--out`` that is a file or cannot be written).

``--out`` and ``--results-root`` default to ``results/figures`` and ``results/runs`` of the checkout, so the gallery
can be built from any working directory, or into another folder, reusing the finished runs.
"""

from __future__ import annotations

import argparse
import sys

from harness.commands._paths import check_out_file, check_out_folder, path_arg
from harness.executors import check_workers
from harness.provenance import project_root


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "figures",
        help="regenerate figures and the gallery page",
        description="Run what each figure needs (finished runs are reused), draw it unless nothing changed, and "
        "write <out>/<paper>/<fig-id>.png + .csv (+ .table.html for tables) + .json (status, verdict, provenance) "
        "and the gallery <out>/index.html.",
    )
    parser.add_argument("--paper", metavar="NAME", help="only the figures of this paper (e.g. harness, arctopk)")
    parser.add_argument(
        "--only", metavar="FIG_ID", action="append", default=[], help="only this figure id (repeatable)"
    )
    profile = parser.add_mutually_exclusive_group()
    profile.add_argument(
        "--quick", dest="profile", action="store_const", const="quick", help="reduced profile (default)"
    )
    profile.add_argument("--full", dest="profile", action="store_const", const="full", help="full profile")
    parser.set_defaults(profile="quick")
    parser.add_argument(
        "--workers", type=int, default=None, metavar="N",
        help=("sweep workers per scenario (default: every CPU for figures whose runs are independent and time "
              "nothing, else 1); figures whose verdict rests on a measured time always run one point at a time"),
    )
    parser.add_argument(
        "--executor", choices=("local", "ray"), default="local", help="sweep executor (default local)"
    )
    parser.add_argument(
        "--out", type=path_arg, default=None, metavar="DIR",
        help="output folder for the figures and index.html (default: results/figures of the checkout)",
    )
    parser.add_argument(
        "--results-root", type=path_arg, default=None, metavar="DIR",
        help="run store to read finished runs from and write new ones to (default: results/runs of the checkout)",
    )
    parser.add_argument("--force", action="store_true", help="redraw even figures whose inputs and code are unchanged")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress output")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from plots.papers import load_all
    from plots.runner import RunSettings, render_figures, select_figures

    if args.workers is not None:
        check_workers(args.workers, args.executor)  # 1 to 4 local workers per CPU, before any figure runs
    out_dir = (args.out if args.out is not None else project_root() / "results" / "figures").expanduser()
    results_root = args.results_root if args.results_root is not None else project_root() / "results" / "runs"
    check_out_folder("--results-root", results_root, writable=False)  # not a file, nor under one
    registry, import_errors = load_all(keep_going=True)
    for module, error in import_errors.items():
        print(f"error: figure module plots/papers/{module}.py failed to import: {error}", file=sys.stderr)
    specs = select_figures(registry, paper=args.paper, only=args.only)
    # every folder and file a figure or the gallery is written to, before any figure runs (nothing made yet)
    check_out_folder("--out", out_dir, inside=sorted({spec.paper for spec in specs}))
    check_out_file("--out", out_dir / "index.html")
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = RunSettings(
        profile=args.profile,
        out_dir=out_dir,
        results_root=results_root,
        workers=args.workers,
        executor=args.executor,
        force=args.force,
        progress=args.progress,
    )
    report = render_figures(specs, settings, registry=registry)
    from plots.verdict import STATUS_LABELS

    counts = {status: sum(r.status == status for r in report.results) for status in ("ok", "cached", "failed")}
    verdicts = ", ".join(
        f"{n} {label}" for status, label in STATUS_LABELS.items()
        if (n := sum(r.verdict == status for r in report.results))
    )
    print(
        f"{len(report.results)} figure(s): {counts['ok']} drawn, {counts['cached']} unchanged, "
        f"{counts['failed']} failed" + (f" ({verdicts})" if verdicts else "") + f"; gallery: {report.gallery_path}"
    )
    if loaded := [r.id for r in report.results if r.timed_under_load]:
        print(f"warning: the verdicts of {', '.join(loaded)} rest on times measured while other work shared the "
              "CPUs; rerun them on a quiet machine (--only ID --force) before relying on them", file=sys.stderr)
    for failed in report.failed:
        print(f"FAILED {failed.id}: {failed.error}", file=sys.stderr)
    return 1 if report.failed or import_errors else 0
