"""Which table sets exist under a timings root, and the check that a scenario's ``timings.table_set`` names one.

A scenario that does not name a set reads the set named like its device (``cluster.device``); where that folder
does not exist (a catalogue device such as ``a100`` that nobody profiled) the replay prices every op from the
roofline, and says so (`harness.timing.replay.open_replay`). A set named on purpose in ``timings.table_set`` that
does not exist is a typo, not a request for the roofline: `table_set_problems` refuses it, naming the key and the
sets that exist (`harness validate`, `harness run`, `harness sweep`; `check_named_set` in `open_replay` and the
collective-table pricer for library callers).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

KEY = "timings.table_set"


def check_set_name(flag: str, name: str) -> None:
    """Refuse (`HarnessError` naming ``flag``) a table-set name that ``timings.table_set`` could not select: a path
    (``../x``), an empty or hidden name, spaces, more than `harness.config.blocks.SET_NAME_MAX_CHARS` characters."""
    import re

    from harness.config.blocks import NAME_PATTERN, SET_NAME_MAX_CHARS
    from harness.errors import HarnessError

    if len(name) > SET_NAME_MAX_CHARS or not re.fullmatch(NAME_PATTERN, name):
        shown = name if len(name) <= SET_NAME_MAX_CHARS else name[:SET_NAME_MAX_CHARS] + "..."
        raise HarnessError(f"{flag}: expected a table-set name (letters, digits, _ . -, not starting with . _ or -; "
                           f"at most {SET_NAME_MAX_CHARS} characters), got {shown!r}")


def known_table_sets(root: Path | str) -> list[str]:
    """The table-set folders under ``root`` (kernel tables, collective tables or both), sorted."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def missing_set_message(name: str, root: Path | str | None = None) -> str:
    """``unknown table set 'x' (no folder results/timings/x/); known: a, b`` for a named set that is not there."""
    from harness.provenance import default_timings_root, shown_project_path

    root = Path(root) if root is not None else default_timings_root()
    known = known_table_sets(root)
    folder = shown_project_path(root / name)
    return f"unknown table set {name!r} (no folder {folder}/); known: {', '.join(known) or 'none'}"


def _named_sets(scenario: Any) -> list[tuple[str, Any]]:
    """(where, value) for ``timings.table_set`` and its sweep values (axes ``timings.table_set`` or ``timings``)."""
    timings = getattr(scenario, "timings", None)
    named = [(KEY, getattr(timings, "table_set", None))]
    sweep = getattr(scenario, "sweep", None)
    for block in ("product", "zip") if sweep is not None else ():
        axes = getattr(sweep, block, None) or {}
        for axis, values in axes.items():
            if axis not in (KEY, "timings") or not isinstance(values, list):
                continue
            for i, value in enumerate(values):
                if axis == "timings":
                    value = value.get("table_set") if isinstance(value, Mapping) else None
                named.append((f"sweep.{block}.{axis} (value {i + 1} of {len(values)})", value))
    return named


def table_set_problems(scenario: Any, source: str, root: Path | str | None = None) -> list[str]:
    """One line per named table set (``timings.table_set``, its sweep values) with no folder under ``root``
    (default: the project's ``results/timings``): ``<source>: timings.table_set: unknown table set ...``."""
    from harness.provenance import default_timings_root

    root = Path(root) if root is not None else default_timings_root()
    return [f"{source}: {where}: {missing_set_message(name, root)}"
            for where, name in _named_sets(scenario)
            if isinstance(name, str) and not (root / name).is_dir()]


def check_named_set(scenario: Any, root: Path | str) -> None:
    """Raise `HarnessError` (naming the key and the sets under ``root``) when ``timings.table_set`` names a set with
    no folder there; a set only defaulted from ``cluster.device`` may be missing."""
    from harness.errors import HarnessError

    name = scenario.timings.table_set
    if name is not None and not (Path(root) / name).is_dir():
        raise HarnessError(f"{KEY}: {missing_set_message(name, root)}")
