"""Comparison math of the fidelity study: signed % error, its median absolute value, and the summary rows.

``error_pct = 100 * (predicted - measured) / measured``: positive when the simulator is too slow (pessimistic),
negative when it is too fast. The study's headline number is the median of ``|error_pct|`` over all points of a
table, the statistic Vidur and LLMServingSim report for their validation runs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def signed_error_pct(predicted, measured):
    """``100 * (predicted - measured) / measured``, element-wise; ``measured`` must be > 0."""
    predicted_arr = np.asarray(predicted, dtype=float)
    measured_arr = np.asarray(measured, dtype=float)
    if np.any(~np.isfinite(measured_arr)) or np.any(measured_arr <= 0):
        raise ValueError("measured: expected finite times > 0")
    if np.any(~np.isfinite(predicted_arr)) or np.any(predicted_arr < 0):
        raise ValueError("predicted: expected finite times >= 0")
    error = 100.0 * (predicted_arr - measured_arr) / measured_arr
    return float(error) if error.ndim == 0 else error


def median_abs_error_pct(errors_pct) -> float:
    """Median of ``|error|`` over the points (NaN-free input required; empty input is an error)."""
    values = np.abs(np.asarray(errors_pct, dtype=float))
    if values.size == 0:
        raise ValueError("errors_pct: expected at least one value")
    if np.any(~np.isfinite(values)):
        raise ValueError("errors_pct: expected finite values")
    return float(np.median(values))


def summarize(table: pd.DataFrame, error_columns: list[str], by: list[str], overall: bool = True) -> pd.DataFrame:
    """One row per group of ``by`` (plus, with ``overall``, a row whose ``by`` keys read ``all``): the point
    count and the median |error| of each error column (``median_abs_<column>``)."""
    rows = []
    groups = list(table.groupby(by, sort=True, dropna=False)) if by else []
    if overall:
        groups.append((tuple("all" for _ in by), table))
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by, key))
        row["n_points"] = len(group)
        for column in error_columns:
            row[f"median_abs_{column}"] = median_abs_error_pct(group[column])
        rows.append(row)
    return pd.DataFrame(rows)
