"""The arms a figure compares (methods, settings), looked up in its runs with one clear error when one is missing.

A figure drawn from an edited scenario that lost an arm (no dense run to relate bytes to, no 600 MHz run) fails
with a line naming the figure's need and the arms its runs do have, not with a bare ``KeyError`` or
``IndexError`` from deep in pandas.
"""

from __future__ import annotations

from collections.abc import Iterable


def _listed(values: Iterable[object]) -> str:
    return ", ".join(str(v) for v in dict.fromkeys(values)) or "none"


def require_arms(present: Iterable[object], needed: Iterable[object], where: str) -> None:
    """Raise a ValueError naming ``where`` unless every arm in ``needed`` is among ``present``."""
    present = list(present)
    missing = [arm for arm in needed if arm not in present]
    if missing:
        raise ValueError(f"{where} needs runs of {_listed(missing)}; the runs have {_listed(present)}")


def arm_starting(present: Iterable[str], prefix: str, where: str) -> str:
    """The one arm among ``present`` whose label starts with ``prefix`` (e.g. "PowerSGD" for "PowerSGD r32");
    a ValueError naming ``where`` when there is none or more than one."""
    present = list(present)
    matches = [arm for arm in dict.fromkeys(present) if arm.startswith(prefix)]
    if len(matches) != 1:
        found = f"{len(matches)} ({_listed(matches)})" if matches else "none"
        raise ValueError(f"{where} needs one {prefix} run, found {found}; the runs have {_listed(present)}")
    return matches[0]
