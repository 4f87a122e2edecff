"""The `harness` command (also `python -m harness`).

Each subcommand is one module in `harness.commands` exposing ``add_parser(subparsers)`` (which sets
``func``) and a handler returning an exit code. A user's mistake (`HarnessError`) prints its message and exits
with code 2; only bugs show a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from harness import __version__
from harness.errors import HarnessError


def build_parser() -> argparse.ArgumentParser:
    import harness.commands as commands

    parser = argparse.ArgumentParser(
        prog="harness",
        description="Simulation and benchmarking harness for efficient-ML and energy techniques.",
    )
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"harness.commands.{info.name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except HarnessError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished runs are kept and will be reused", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
