"""The quick grids (the CPU timing tables) must let leave-one-out interpolation report a finite error per table.

`harness.timing.replay.leave_one_out_error` drops a row and interpolates it from the others; a row on the edge of
its grid has no bracket and gets NaN, so a grid with fewer than 3 values on an axis that varies has no row to
check. These tests look at the grid structure only: the table is synthetic, built from each registered op's
quick grid with a time that is a positive monotone function of the shape (no profiling).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.timing.replay import leave_one_out_error
from harness.timing.table import TimingTable
from kernels.ops import TimedOp, load_all_ops, product_grid
from kernels.timing_schema import MEASUREMENT_COLUMNS

OPS = load_all_ops()
NAMES = list(OPS)


def _synthetic_table(op: TimedOp) -> TimingTable:
    """One row per quick-grid shape, time = 1 + sum of log1p(shape values): positive, increasing on every axis."""
    columns = list(op.shape_columns)
    records = []
    for shape in op.quick_grid:
        time_ms = 1.0 + sum(math.log1p(float(shape[c])) for c in columns)
        records.append({**{c: shape[c] for c in columns}, "impl": "torch", "dtype": op.dtypes[0],
                        "time_ms_median": time_ms, "time_ms_p10": time_ms, "time_ms_p90": time_ms, "n_reps": 3})
    frame = pd.DataFrame.from_records(records, columns=[*columns, *MEASUREMENT_COLUMNS])
    return TimingTable(op.name, Path(f"{op.name}.csv"), tuple(columns), frame, "0" * 64)


def _varying(op: TimedOp) -> dict[str, list[float]]:
    """The shape columns that take more than one value in the quick grid, with their sorted values."""
    values = {c: sorted({float(s[c]) for s in op.quick_grid}) for c in op.shape_columns}
    return {c: v for c, v in values.items() if len(v) > 1}


def _interior_masks(op: TimedOp, loo: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(strictly inside on every varying axis, strictly inside on at least one varying axis) per row of ``loo``."""
    varying = _varying(op)
    inside = [((loo[c] > v[0]) & (loo[c] < v[-1])).to_numpy() for c, v in varying.items()]
    if not inside:
        return np.zeros(len(loo), bool), np.zeros(len(loo), bool)
    return np.logical_and.reduce(inside), np.logical_or.reduce(inside)


@pytest.mark.parametrize("name", NAMES)
def test_every_varying_axis_of_the_quick_grid_has_three_values(name):
    op = OPS.get(name)
    assert op.quick_grid, name
    keys = [tuple(s[c] for c in op.shape_columns) for s in op.quick_grid]
    assert len(set(keys)) == len(keys), f"{name}: the quick grid repeats a shape"
    varying = _varying(op)
    assert varying, f"{name}: no shape column varies in the quick grid"
    few = {c: v for c, v in varying.items() if len(v) < 3}
    assert not few, f"{name}: quick-grid columns with fewer than 3 values (leave-one-out has no interior row): {few}"


@pytest.mark.parametrize("name", NAMES)
def test_rows_inside_the_quick_grid_have_a_finite_leave_one_out_error(name):
    op = OPS.get(name)
    loo = leave_one_out_error(_synthetic_table(op))
    assert len(loo) == len(op.quick_grid)
    inside_all, _ = _interior_masks(op, loo)
    assert inside_all.any(), f"{name}: no quick-grid row is inside the grid on every varying axis"
    bad = loo[inside_all & ~np.isfinite(loo["error_pct"].to_numpy())]
    assert bad.empty, f"{name}: rows inside the grid that cannot be interpolated once left out:\n{bad}"


@pytest.mark.parametrize("name", NAMES)
def test_every_quick_grid_row_but_the_corners_has_a_finite_leave_one_out_error(name):
    """Stronger, and true of any full product: a row inside the grid along one axis is interpolated along it."""
    op = OPS.get(name)
    loo = leave_one_out_error(_synthetic_table(op))
    _, inside_one = _interior_masks(op, loo)
    bad = loo[inside_one & ~np.isfinite(loo["error_pct"].to_numpy())]
    assert bad.empty, f"{name}: rows inside the grid on some axis that cannot be interpolated once left out:\n{bad}"


def test_product_grid_is_the_full_product_with_constant_axes():
    grid = product_grid(rows=[1, 2, 3], cols=8, k=[4, 5])
    assert len(grid) == 6 and grid[0] == {"rows": 1, "cols": 8, "k": 4} and grid[-1] == {"rows": 3, "cols": 8, "k": 5}
