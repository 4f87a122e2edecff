"""`harness timings`: bring your own measurements (``import``), see which table sets exist (``list``), and check
that a measured set still describes this machine (``drift``, `harness.timing.drift`).

``harness timings import FORMAT FILE --device NAME`` converts a published or user-measured profile into our
schemas with its provenance (`harness.timing.importers`): nccl-tests output and Vidur network CSVs become
collective tables (``results/timings/<NAME>/collectives/<op>.csv``), Vidur compute CSVs become kernel tables
of an imported table set (``results/timings/<NAME>/``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.commands._paths import check_out_file, path_arg
from harness.errors import HarnessError


#: where the tables go and come from unless --out says otherwise (`harness.provenance.default_timings_root`)
ROOT_HELP = "timings root (default: the project's results/timings, whatever the current directory)"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("timings", help="import measured profiles; list table sets; check a set for drift",
                                   description="Import published or user-measured profiles into timing tables, "
                                   "list the table sets present, or time a sample of a measured set's rows again "
                                   "to see whether it still describes this machine.")
    sub = parser.add_subparsers(dest="timings_command", metavar="ACTION", required=True)
    imp = sub.add_parser("import", help="convert a profile file into timing tables",
                         description="Convert FILE (nccl-tests output, Vidur network CSV, Vidur compute mlp.csv) "
                         "into timing tables with provenance. Collective formats write "
                         "<out>/<device>/collectives/<op>.csv; vidur-compute writes <out>/<device>/matmul.csv "
                         "(never into a folder measured by `harness profile`).")
    from harness.timing.importers import FORMATS

    imp.add_argument("format", metavar="FORMAT", help=f"one of: {', '.join(FORMATS)}")
    imp.add_argument("file", type=path_arg, metavar="FILE")
    imp.add_argument("--device", required=True, metavar="NAME", help="table-set name (folder under --out)")
    imp.add_argument("--out", type=path_arg, default=None, metavar="DIR", help=ROOT_HELP)
    imp.add_argument("--op", default=None, help="nccl-tests only: which collective the file measured "
                     "(all_reduce, reduce_scatter, all_gather, broadcast, p2p; default all_reduce)")
    imp.add_argument("--place", choices=("out", "in"), default=None,
                     help="nccl-tests only: out- or in-place time (default out)")
    imp.add_argument("--dtype", default=None, help="override the dtype recorded: float32, bfloat16 or float16 "
                     "(nccl-tests: the file's type column by default; Vidur: float16)")
    imp.add_argument("--source", default=None, help="provenance: where the file comes from (URL, repository)")
    imp.add_argument("--version", dest="source_version", default=None, help="provenance: commit or version")
    imp.add_argument("--licence", default=None, help="provenance: the data's licence")
    imp.add_argument("--measured", default=None, help="provenance: what was measured (hardware, software)")
    imp.set_defaults(func=run_import)
    lst = sub.add_parser("list", help="table sets under the timings root, with their ops and sources")
    lst.add_argument("--out", type=path_arg, default=None, metavar="DIR", help=ROOT_HELP)
    lst.set_defaults(func=run_list)
    drift = sub.add_parser("drift", help="time a sample of a measured set's rows again: does it still describe "
                           "this machine?",
                           description="Time up to --rows rows of each table of SET again on this machine, at the "
                           "set's cache state and thread count, and print now / table per op and over the set. "
                           "Writes nothing into the set.")
    drift.add_argument("table_set", metavar="SET", help="table-set name (folder under --out)")
    drift.add_argument("--out", type=path_arg, default=None, metavar="DIR", help=ROOT_HELP)
    drift.add_argument("--rows", type=int, default=5, metavar="N",
                       help="rows per op, from the fastest to the slowest (default %(default)s)")
    drift.add_argument("--ops", default=None, metavar="OP[,OP...]", help="only these ops (default: every table)")
    drift.add_argument("--csv", type=path_arg, default=None, metavar="FILE", help="also write every row re-timed here")
    drift.add_argument("--fail-above", type=float, default=None, metavar="PCT",
                       help="exit 1 when the median now / table is more than PCT percent away from 1")
    drift.set_defaults(func=run_drift)


def _root(args: argparse.Namespace) -> Path:
    from harness.provenance import default_timings_root

    return args.out or default_timings_root()


def run_import(args: argparse.Namespace) -> int:
    from harness.timing.importers import FORMATS, import_file

    given = [flag for flag, value in (("--op", args.op), ("--place", args.place)) if value is not None]
    if given and args.format in FORMATS and args.format != "nccl-tests":  # Vidur: collectives named, one time each
        raise HarnessError(f"{given[0]}: only for nccl-tests files, not {args.format}")
    root = _root(args)
    try:
        imported, written = import_file(args.format, args.file, args.device, root, op=args.op or "all_reduce",
                                        place=args.place or "out", dtype=args.dtype, source=args.source,
                                        version=args.source_version, licence=args.licence, measured=args.measured)
    except OSError as err:
        where = f"--out {root}" if args.out is not None else str(root)
        target = err.filename2 or err.filename  # os.replace(temp file, table): the table
        raise HarnessError(f"{where}: cannot write the tables under {root / args.device} "
                           f"({err.strerror or err}{f': {target}' if target else ''})") from None
    for op, frame in {**imported.collective_frames, **imported.kernel_frames}.items():
        ranks = sorted(set(frame["n_ranks"])) if "n_ranks" in frame else None
        print(f"{op}: {len(frame)} rows" + (f" (n_ranks {', '.join(map(str, ranks))})" if ranks else ""))
    for path in written:
        print(f"wrote {path}")
    return 0


def _how_measured(meta: dict) -> str:
    """``imported`` or ``measured <date>[, N thread(s)][, M MiB flush]`` from a set's meta.json."""
    if "provenance" in meta:
        return "imported"
    from harness.timing.drift import profiled_threads

    threads = profiled_threads(meta)
    flush = meta.get("cpu_flush_bytes")
    return ", ".join([f"measured {str(meta.get('date', ''))[:10]}".rstrip(),
                      *([f"{threads} thread(s)"] if threads else []),
                      *([f"{flush / (1 << 20):g} MiB flush"] if flush is not None else [])])


def run_list(args: argparse.Namespace) -> int:
    from harness.timing.collective_tables import FOLDER, load_collective_meta
    from harness.timing.table import load_meta

    root = _root(args)
    if root.exists() and not root.is_dir():
        raise HarnessError(f"--out {root}: is a file, not a timings folder")
    if not root.is_dir():
        if args.out is not None:  # a folder named on purpose that is not there: most likely a typo
            raise HarnessError(f"--out {root}: no such timings folder")
        print(f"no timings folder at {root}")
        return 0
    failed = False
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        parts = []
        try:
            if (folder / "meta.json").is_file():
                data = load_meta(folder)
                parts.append(f"kernels ({_how_measured(data)}): " + ", ".join(f"{op} {e.get('rows')}"
                                                                          for op, e in data["ops"].items()))
            if (folder / FOLDER / "meta.json").is_file():
                data = load_collective_meta(folder / FOLDER)
                parts.append("collectives: " + ", ".join(
                    f"{op} {e.get('rows')} ({(e.get('provenance') or {}).get('source')})"
                    for op, e in data["ops"].items()))
        except HarnessError as err:
            print(f"error: {err}", file=sys.stderr)
            failed = True
            continue
        print(f"{folder.name}: " + ("; ".join(parts) or "no tables"))
    return 2 if failed else 0


def run_drift(args: argparse.Namespace) -> int:
    import math

    from harness.files import write_text_atomic
    from harness.timing.drift import check_drift
    from harness.timing.sets import check_set_name

    if args.rows < 1:
        raise HarnessError(f"--rows must be >= 1, got {args.rows}")
    if args.fail_above is not None and not (math.isfinite(args.fail_above) and args.fail_above >= 0):
        raise HarnessError(f"--fail-above must be a percentage >= 0, got {args.fail_above}")
    check_set_name("SET", args.table_set)
    if args.csv is not None:
        check_out_file("--csv", args.csv)  # before timing: the rows would be lost
    ops = [name.strip() for name in args.ops.split(",") if name.strip()] if args.ops else None
    folder = _root(args) / args.table_set
    if not (folder / "meta.json").is_file():
        known = sorted(p.parent.name for p in folder.parent.glob("*/meta.json"))
        raise HarnessError(f"{args.table_set!r}: no such kernel table set in {folder.parent}; "
                           f"known: {', '.join(known) or 'none'}")
    report = check_drift(folder, rows_per_op=args.rows, ops=ops)
    for line in report.skipped:
        print(f"  skipped {line}")
    print(report.summary())
    if args.csv is not None:
        rows = report.rows.assign(shape=[json.dumps(shape, sort_keys=True) for shape in report.rows["shape"]])
        write_text_atomic(args.csv, rows.to_csv(index=False))
        print(f"wrote {args.csv}")
    if args.fail_above is not None and not len(report.rows):
        print(f"error: {folder.name}: no row could be timed again, so the set is not checked", file=sys.stderr)
        return 1
    if args.fail_above is not None and abs(report.median_ratio - 1) * 100 > args.fail_above:
        print(f"error: {folder.name}: now / table {report.median_ratio:.2f} is beyond the allowed "
              f"{args.fail_above:g}%", file=sys.stderr)
        return 1
    return 0
