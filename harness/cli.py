"""The `harness` command (also `python -m harness`).

Each subcommand is one module in `harness.commands` exposing ``add_parser(subparsers)`` (which sets
``func``) and a handler returning an exit code. A user's mistake (`HarnessError`) prints its message and exits
with code 2; only bugs show a traceback. Ctrl-C and SIGTERM end any command the same way: cleanup runs (worker
processes stopped, temp files removed), one line on stderr, exit code 130 (SIGINT) or 143 (SIGTERM).
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import signal
import sys
import threading

from harness import __version__
from harness.errors import HarnessError
from kernels.files import FolderBusy


class Parser(argparse.ArgumentParser):
    """argparse's refusals (a bad flag value, a missing or conflicting flag) as one `HarnessError` line, exit 2, like
    every other user mistake, instead of the usage block; subcommand parsers are of this class too."""

    def error(self, message: str):  # type: ignore[override]
        raise HarnessError(f"{self.prog}: {message} (see '{self.prog} --help')")


class SubcommandParser(Parser):
    """A subcommand's parser (nested ones too): arguments it does not know are refused by it, so the line names the
    subcommand and its help (``harness sweep: unrecognized arguments: --x (see 'harness sweep --help')``) rather
    than the top-level parser that argparse would otherwise leave them to."""

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def build_parser() -> argparse.ArgumentParser:
    import harness.commands as commands

    parser = Parser(
        prog="harness",
        description="Simulation and benchmarking harness for efficient-ML and energy techniques.",
    )
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=SubcommandParser, required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"harness.commands.{info.name}").add_parser(sub)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the same cleanup runs."""


def _raise_terminated(signum: int, _frame: object) -> None:
    raise Terminated(signum)


def main(argv: list[str] | None = None) -> int:
    catch_sigterm = (threading.current_thread() is threading.main_thread()
                     and signal.getsignal(signal.SIGTERM) != signal.SIG_IGN)
    previous_sigterm = signal.signal(signal.SIGTERM, _raise_terminated) if catch_sigterm else None
    try:
        parser = build_parser()
        args = parser.parse_args(argv)  # a missing command or action is one line, exit 2 (subparsers required)
        return int(args.func(args) or 0)
    except (HarnessError, FolderBusy) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        terminated = isinstance(stop, Terminated)
        print(f"{'terminated' if terminated else 'interrupted'}; finished runs are kept and will be reused",
              file=sys.stderr)
        return 128 + signal.SIGTERM.value if terminated else 130
    except BrokenPipeError:
        # the reader of stdout went away (`harness list | head`): stop quietly, as a shell tool does; further
        # writes at exit go to /dev/null instead of raising again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE.value
    finally:
        if catch_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous_sigterm is None else previous_sigterm)


if __name__ == "__main__":
    raise SystemExit(main())
