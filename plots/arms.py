"""The arms a figure compares (methods, settings), looked up in its runs with one clear line when one is missing.

A figure drawn from an edited scenario that lost an arm (no dense run to relate bytes to, no 600 MHz run) fails
with a line naming the figure's need and the arms its runs do have, not with a bare ``KeyError`` or
``IndexError`` from deep in pandas; its verdict, which also runs on its own, returns the same line as not
checkable.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def listed(values: Iterable[object]) -> str:
    """The distinct values in first-seen order, comma-separated; "none" when there are none."""
    return ", ".join(str(v) for v in dict.fromkeys(values)) or "none"


def missing_arms(present: Iterable[object], needed: Iterable[object], where: str) -> str | None:
    """The line "``where`` needs runs of ...; the runs have ..." when an arm of ``needed`` is not among
    ``present``; None when every one is there."""
    present = list(present)
    missing = [arm for arm in needed if arm not in present]
    return f"{where} needs runs of {listed(missing)}; the runs have {listed(present)}" if missing else None


def missing_in_groups(data: pd.DataFrame, column: str, needed: Iterable[object], figure: str, by: Sequence[str],
                      group: str) -> str | None:
    """`missing_arms` for the first group of ``data`` over ``by`` whose ``column`` lacks an arm of ``needed``,
    naming ``figure``, ``group`` and the group's values ("arctopk.fig_scaling at N = 16"); None when no group
    lacks one. With no rows at all, the line for ``figure`` alone."""
    needed = list(needed)
    if data.empty:
        return missing_arms([], needed, figure)
    for key, rows in data.groupby(list(by), sort=False):
        values = key if isinstance(key, tuple) else (key,)
        if reason := missing_arms(rows[column], needed, f"{figure} {group} {', '.join(map(str, values))}"):
            return reason
    return None


def raise_missing(*reasons: str | None) -> None:
    """Raise the first of ``reasons`` (lines of `missing_arms`) that is not None as a ValueError."""
    for reason in reasons:
        if reason:
            raise ValueError(reason)


def require_arms(present: Iterable[object], needed: Iterable[object], where: str) -> None:
    """Raise `missing_arms`'s line as a ValueError unless every arm in ``needed`` is among ``present``."""
    raise_missing(missing_arms(present, needed, where))


def arm_starting(present: Iterable[str], prefix: str, where: str) -> str:
    """The one arm among ``present`` whose label starts with ``prefix`` (e.g. "PowerSGD" for "PowerSGD r32");
    a ValueError naming ``where`` when there is none or more than one."""
    present = list(present)
    matches = [arm for arm in dict.fromkeys(present) if arm.startswith(prefix)]
    if len(matches) != 1:
        found = f"{len(matches)} ({listed(matches)})" if matches else "none"
        raise ValueError(f"{where} needs one {prefix} run, found {found}; the runs have {listed(present)}")
    return matches[0]
