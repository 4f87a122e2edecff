"""Metrics that are not finite (NaN, +inf, -inf): found when a run is stored, shown in one line to people.

A run whose numbers blow up (a learning rate far too large) still finishes, and it is stored as it is: a diverged
arm of a learning-rate sweep is a finding, so the exit code stays 0. It must not pass silently either:

- `non_finite_columns` finds, in every numeric column of a run's metrics (booleans and text are skipped), the
  rows whose value is not finite. `harness.executors` stores the result in run.json as ``non_finite``:
  ``{column: {"rows", "count", "first_row", "values", "first_step"}}`` (``rows``: rows in metrics.csv; ``count``:
  how many are not finite; ``first_row``: the first of them, 0-based as ``pd.read_csv`` numbers them;
  ``values``: which of ``nan``, ``+inf``, ``-inf`` occur; ``first_step``: the ``step`` column's value at that row,
  only when the metrics have a ``step`` column). ``{}``: every number is finite.
- `run_line` is the one line `harness run` prints for a run with such columns (computed or reused: it reads the
  stored entry), `sweep_line` the one line `harness sweep` prints for all its points.

Some kinds leave a cell NaN by design: "not applicable at this row" (``eval_loss`` between evaluations, a latency
when no request was served). A kind declares such columns by listing them in its ``RunOutput.info`` under
``"nan_means_not_applicable"`` (`NOT_APPLICABLE_KEY`, stored in run.json's ``info`` with the rest): NaN there is not
counted, +inf and -inf still are. A column's non-finite cells are read as a possible divergence only when the
metrics have a ``step`` column and the column was finite and then stayed non-finite through the last row; any other
pattern is reported as a plain note.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

#: the ``RunOutput.info`` key under which a kind lists the metrics columns where NaN means "not applicable"
NOT_APPLICABLE_KEY = "nan_means_not_applicable"
#: the metrics column whose value names a row in the lines for people
STEP_COLUMN = "step"
NAMES_SHOWN = 3  # metrics named in one line before "..."
POINTS_SHOWN = 5  # sweep points named in one line before "N more"

_SHOWN_VALUE = {"nan": "NaN", "+inf": "+inf", "-inf": "-inf"}


def _as_floats(column: pd.Series) -> np.ndarray | None:
    """A numeric column as floats (missing values NaN); None for booleans, text and complex numbers."""
    if (pd.api.types.is_bool_dtype(column) or pd.api.types.is_complex_dtype(column)
            or not pd.api.types.is_numeric_dtype(column)):
        return None
    return column.to_numpy(dtype=float, na_value=np.nan)


def _plain(value: float) -> int | float:
    """A step as people write it: ``12``, not ``12.0``."""
    return int(value) if float(value).is_integer() else float(value)


def non_finite_columns(metrics: pd.DataFrame, not_applicable: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """Per numeric column with a value that is not finite: ``rows``, ``count``, ``first_row``, ``values`` and
    (with a ``step`` column) ``first_step``; empty when every number is finite.

    Args:
        metrics: a run's tidy metrics.
        not_applicable: columns where NaN means "not applicable at this row": only +inf and -inf count there.
    """
    skip_nan = {str(name) for name in not_applicable}
    steps = _as_floats(metrics[STEP_COLUMN]) if STEP_COLUMN in metrics.columns else None
    found = {}
    for name, column in metrics.items():
        values = _as_floats(column)
        if values is None:
            continue
        kinds = {"nan": np.isnan(values), "+inf": values == np.inf, "-inf": values == -np.inf}
        if str(name) in skip_nan:
            del kinds["nan"]
        bad = np.logical_or.reduce(list(kinds.values()))
        if not bad.any():
            continue
        first = int(np.argmax(bad))
        entry = {"rows": len(values), "count": int(bad.sum()), "first_row": first,
                 "values": [kind for kind, mask in kinds.items() if mask.any()]}
        if steps is not None and np.isfinite(steps[first]):
            entry["first_step"] = _plain(steps[first])
        found[str(name)] = entry
    return found


# ----------------------------------------------------------------------------------------- lines for people


def _to_the_end(entry: Mapping[str, Any]) -> bool:
    """Every row from the first non-finite one to the last is non-finite."""
    return entry["first_row"] + entry["count"] == entry["rows"]


def _diverged(entry: Mapping[str, Any]) -> bool:
    """A step-indexed metric that was finite and then stayed non-finite to the last row."""
    return "first_step" in entry and entry["first_row"] > 0 and _to_the_end(entry)


def may_have_diverged(non_finite: Mapping[str, Mapping[str, Any]]) -> bool:
    """Some step-indexed metric of the run was finite and then stayed non-finite to the last row."""
    return any(map(_diverged, non_finite.values()))


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:NAMES_SHOWN])
    return shown + (", ..." if len(names) > NAMES_SHOWN else "")


def _ordered(non_finite: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The columns, most telling first: those that may have diverged, then by their first non-finite row."""
    return sorted(non_finite, key=lambda name: (not _diverged(non_finite[name]), non_finite[name]["first_row"]))


def run_line(non_finite: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The one line for a run's ``non_finite`` entry (None when it is empty), about its most telling metric:
    ``warning: metric 'loss' is NaN from step 12 on (40 of 50 rows): the run may have diverged; also not finite:
    eval_loss``; without a divergence (no ``step`` column, or gaps that end before the last row) ``note: metric
    'latency_mean_s' is NaN in 1 of 4 rows, first at row 2``."""
    if not non_finite:
        return None
    order = _ordered(non_finite)
    lead, entry = order[0], non_finite[order[0]]
    values = entry["values"]
    what = _SHOWN_VALUE[values[0]] if len(values) == 1 else "not finite"
    where = f"step {entry['first_step']}" if "first_step" in entry else f"row {entry['first_row'] + 1}"
    rows = f"{entry['count']} of {entry['rows']} rows"
    if entry["count"] == 1:
        line = f"metric '{lead}' is {what} at {where} ({rows})"
    else:
        line = f"metric '{lead}' is {what} " + (f"from {where} on ({rows})" if _to_the_end(entry) else
                                               f"in {rows}, first at {where}")
    line = f"warning: {line}: the run may have diverged" if _diverged(entry) else f"note: {line}"
    return line + (f"; also not finite: {_names(order[1:])}" if len(order) > 1 else "")


def sweep_line(non_finite_per_point: Sequence[Mapping[str, Mapping[str, Any]]]) -> str | None:
    """One line for a whole sweep (points numbered from 1, as in the point table): how many points have metrics
    that are not finite, which (up to `POINTS_SHOWN`, with up to `NAMES_SHOWN` metrics each) and which of them
    may have diverged; None if every point's metrics are finite."""
    flagged = [(number, entry) for number, entry in enumerate(non_finite_per_point, start=1) if entry]
    if not flagged:
        return None
    total, count = len(non_finite_per_point), len(flagged)
    listed = "; ".join(f"point {number} ({_names(_ordered(entry))})" for number, entry in flagged[:POINTS_SHOWN])
    if count > POINTS_SHOWN:
        listed += f"; {count - POINTS_SHOWN} more"
    line = (f"{count} of {total} point{'' if total == 1 else 's'} {'has' if count == 1 else 'have'} metrics that "
            f"are not finite: {listed}")
    details = "details: non_finite in each point's run.json"
    diverged = [str(number) for number, entry in flagged if may_have_diverged(entry)]
    if not diverged:
        return f"note: {line}; {details}"
    shown = ", ".join(diverged[:POINTS_SHOWN]) + (f" and {len(diverged) - POINTS_SHOWN} more"
                                                   if len(diverged) > POINTS_SHOWN else "")
    return f"warning: {line}; point{'' if len(diverged) == 1 else 's'} {shown} may have diverged; {details}"
