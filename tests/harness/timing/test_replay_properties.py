"""Properties of the replay (hypothesis), over synthetic monotone matmul tables and over the committed CPU tables:
monotone in every shape dimension, never below the kernel floor, exact at every measured point, and a finite
leave-one-out error per table.

Monotonicity across the grid edge is checked along the axis that leaves the grid, the others inside the hull. It
does not hold in general once another axis is already outside: ``t(p) * R(q) / R(p)`` with a memory-bound roofline
can shrink as an in-range axis grows (a flat table, m far above the grid, n growing: the byte ratio falls). While
the roofline is compute-bound at p and q the ratio is the FLOP ratio, which no in-range axis changes.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.devices import DeviceRoofline, get_device
from harness.timing.replay import TimingReplay, interpolate_ms, leave_one_out_summary
from harness.timing.table import TimingTable, TimingTableSet, load_table_set

COMMITTED = Path(__file__).parents[3] / "results" / "timings" / "cpu"
DEVICE = DeviceRoofline("synthetic", memory_gbytes_per_s=20.0, peak_tflops={"float32": 0.1}, sources={})
AXES = ("m", "n", "k")

axis_values = st.lists(st.integers(1, 4096), min_size=3, max_size=4, unique=True).map(sorted)


@st.composite
def monotone_tables(draw):
    """A product grid over (m, n, k) whose times grow along every axis: a per-axis increasing term plus an
    increasing product term (a launch-like constant, a bandwidth-like sum and a FLOP-like product)."""
    axes = [draw(axis_values) for _ in AXES]
    steps = [np.cumsum(draw(st.lists(st.floats(0, 1), min_size=len(a), max_size=len(a)))) for a in axes]
    base = draw(st.floats(1e-3, 1.0))
    rows = []
    for index in itertools.product(*[range(len(a)) for a in axes]):
        terms = [s[i] for s, i in zip(steps, index)]
        rows.append((*[a[i] for a, i in zip(axes, index)], base + sum(terms) + float(np.prod(terms))))
    frame = pd.DataFrame(rows, columns=[*AXES, "time_ms_median"]).assign(impl="torch", dtype="float32")
    floor_us = draw(st.floats(0.0, 1e3 * base))  # at most the smallest measured time
    return frame, axes, floor_us


def _replay(frame: pd.DataFrame, floor_us: float = 0.0) -> TimingReplay:
    table = TimingTable("matmul", Path("matmul.csv"), AXES, frame, sha256="0" * 64, device="synthetic")
    tables = TimingTableSet(folder=Path("synthetic"), meta={"device": "synthetic"}, tables={"matmul": table})
    return TimingReplay(DeviceRoofline(**{**DEVICE.__dict__, "kernel_floor_us": floor_us}), tables)


def _shape(values) -> dict[str, float]:
    return dict(zip(AXES, (float(v) for v in values)))


def _pair_along_one_axis(draw, ranges):
    """Two queries that differ on one axis only, the first not above the second."""
    low = [draw(st.floats(lo, hi)) for lo, hi in ranges]
    axis = draw(st.sampled_from(range(len(ranges))))
    high = list(low)
    high[axis] = draw(st.floats(low[axis], ranges[axis][1]))
    return low, high


@settings(max_examples=60, deadline=None)
@given(monotone_tables(), st.data())
def test_monotone_inside_the_hull(table, data):
    frame, axes, floor_us = table
    low, high = _pair_along_one_axis(data.draw, [(a[0], a[-1]) for a in axes])
    replay = _replay(frame, floor_us)
    assert replay.predict("matmul", **_shape(low)).time_ms <= replay.predict("matmul", **_shape(high)).time_ms + 1e-12


@settings(max_examples=60, deadline=None)
@given(monotone_tables(), st.data())
def test_monotone_across_the_grid_edge_along_the_leaving_axis(table, data):
    """Moving one axis from inside the grid to far outside it (either way), the others inside the hull."""
    frame, axes, floor_us = table
    inside = [(a[0], a[-1]) for a in axes]
    low, high = _pair_along_one_axis(data.draw, inside)
    axis = next((i for i, (x, y) in enumerate(zip(low, high)) if x != y), 0)
    low[axis] = data.draw(st.floats(0.0, axes[axis][-1] * 8))
    high[axis] = data.draw(st.floats(low[axis], axes[axis][-1] * 8))
    replay = _replay(frame, floor_us)
    assert replay.predict("matmul", **_shape(low)).time_ms <= replay.predict("matmul", **_shape(high)).time_ms + 1e-12


@settings(max_examples=60, deadline=None)
@given(monotone_tables(), st.data())
def test_never_below_the_floor(table, data):
    frame, axes, _ = table
    floor_us = data.draw(st.floats(0.0, 1e4))
    query = [data.draw(st.floats(0.0, a[-1] * 8)) for a in axes]
    dtype = data.draw(st.sampled_from(["float32", "bfloat16"]))  # bfloat16: no rows, the roofline
    replay = _replay(frame, floor_us)
    replay.device = DeviceRoofline(**{**replay.device.__dict__, "peak_tflops": {"float32": 0.1, "bfloat16": 0.2}})
    assert replay.predict("matmul", dtype=dtype, **_shape(query)).time_ms >= floor_us * 1e-3


@settings(max_examples=40, deadline=None)
@given(monotone_tables())
def test_exact_at_every_measured_point(table):
    frame, _, floor_us = table
    replay = _replay(frame, floor_us)
    for row in frame.itertuples():
        p = replay.predict("matmul", m=row.m, n=row.n, k=row.k)
        assert p.source == "exact" and p.time_ms == row.time_ms_median
    # and the interpolant itself passes through them (no exact lookup involved)
    points, times = frame[list(AXES)].to_numpy(float), frame["time_ms_median"].to_numpy(float)
    for point, time_ms in zip(points, times):
        assert interpolate_ms(points, times, tuple(point)) == time_ms


# --- the committed CPU tables ----------------------------------------------------------------------------------

committed = load_table_set(COMMITTED) if COMMITTED.is_dir() else None
committed_ops = sorted(committed.tables) if committed else []


def _committed_replay() -> TimingReplay:
    return TimingReplay(get_device("cpu", timings_root=COMMITTED.parent), committed)


@pytest.mark.parametrize("op", committed_ops)
def test_committed_tables_are_exact_at_every_point_and_above_the_floor(op):
    replay = _committed_replay()
    table = committed.tables[op]
    floor_ms = replay.device.kernel_floor_ms
    for _, row in table.frame.iterrows():
        shape = {c: row[c] for c in table.shape_columns}
        p = replay.predict(op, impl=row["impl"], dtype=row["dtype"], **shape)
        assert p.source == "exact" and p.time_ms == max(row["time_ms_median"], floor_ms)


@pytest.mark.parametrize("op", committed_ops)
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_committed_tables_never_below_the_floor_and_monotone_where_measured_monotone(op, data):
    """Random pairs of queries in the measured hull, differing on one axis. Monotonicity is checked where the
    interpolant is defined throughout the hull (a product grid) and along axes on which the measured rows
    themselves never decrease (noise in a measurement is replayed, not smoothed)."""
    replay = _committed_replay()
    table = committed.tables[op]
    impl, dtype = table.frame[["impl", "dtype"]].iloc[0]
    rows = table.frame[(table.frame["impl"] == impl) & (table.frame["dtype"] == dtype)]
    columns = list(table.shape_columns)
    ranges = [(float(rows[c].min()), float(rows[c].max())) for c in columns]
    low, high = _pair_along_one_axis(data.draw, ranges)
    t_low = replay.predict(op, impl=impl, dtype=dtype, **dict(zip(columns, low))).time_ms
    t_high = replay.predict(op, impl=impl, dtype=dtype, **dict(zip(columns, high))).time_ms
    assert min(t_low, t_high) >= replay.device.kernel_floor_ms
    axis = next((i for i, (x, y) in enumerate(zip(low, high)) if x != y), None)
    if axis is not None and _product_grid(rows, columns) and _measured_monotone(rows, columns, columns[axis]):
        assert t_low <= t_high + 1e-12


def _product_grid(rows: pd.DataFrame, columns: list[str]) -> bool:
    return len(rows) == int(np.prod([rows[c].nunique() for c in columns]))


def _measured_monotone(rows: pd.DataFrame, columns: list[str], axis: str) -> bool:
    others = [c for c in columns if c != axis]
    groups = rows.groupby(others) if others else [(None, rows)]
    return all(group.sort_values(axis)["time_ms_median"].is_monotonic_increasing for _, group in groups)


def _interior_possible(table: TimingTable) -> bool:
    """Some row has a measured neighbour below and above it on some axis with the other axes equal."""
    columns = list(table.shape_columns)
    for axis in columns:
        others = [c for c in columns if c != axis]
        groups = table.frame.groupby([*others, "impl", "dtype"]) if others else table.frame.groupby(["impl", "dtype"])
        if any(group[axis].nunique() >= 3 for _, group in groups):
            return True
    return False


@pytest.mark.parametrize("op", committed_ops)
def test_committed_leave_one_out_error_is_reported_and_finite(op):
    summary = leave_one_out_summary(TimingTableSet(committed.folder, committed.meta, {op: committed.tables[op]}))
    assert list(summary["op"].unique()) == [op]
    assert _interior_possible(committed.tables[op]), (
        f"{op}: no line of its grid has 3 or more measured points (the quick grid needs >= 3 points per axis), so "
        "no row can be left out and interpolated from neighbours on both sides"
    )
    assert (summary["n_interpolated"] > 0).any()
    interpolated = summary[summary["n_interpolated"] > 0]
    assert np.isfinite(interpolated[["median_abs_error_pct", "max_abs_error_pct", "mean_error_pct"]]).all().all()
