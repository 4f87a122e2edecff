"""Replay of timing tables: exact hit -> interpolation -> roofline x efficiency, every prediction counted by source.

Scheme (DESIGN.md "Timing tables"; LLMServingSim 2.x ``trace_generator.py`` and Calculon/SimAI-style efficiency
scaling as described in shared/research/harness_anchors.md §1.2, §1.4, §1.5):

* **exact**: a measured row with exactly this shape, impl and dtype; its median time.
* **interpolated**: multilinear interpolation on the bracket of measured points, *linear in the shape value*
  (LLMServingSim's leave-one-out study found log-space blending biased by up to +6% per axis on doubling grids,
  linear blending +2.3..3.7% mean error). Axes are taken in the op's ``shape_columns`` order: on axis i the
  query value either is measured (then the rows with that value are interpolated on the remaining axes) or lies
  between the nearest measured values below and above it (then the two sub-slices are interpolated on the
  remaining axes and blended with weights ``(hi - x) / (hi - lo)`` and ``(x - lo) / (hi - lo)``). Each blend is
  convex, so a prediction always lies between the measured times it uses, and a table monotone along every axis
  gives a monotone interpolant. A measured value whose sub-slice cannot be interpolated (a hole in the grid) falls
  back to the neighbours on either side. No extrapolation: beyond the grid's smallest or largest value on any
  axis the bracket is open.
* **roofline** (a model, not a measurement; flagged): the roofline time ``R(q) = max(flops / peak, bytes /
  bandwidth)`` (`kernels.ops` counts, `harness.devices` ceilings, the peak being the best measured rate) divided by
  a *measured efficiency* ``R(p) / t(p)`` taken at the nearest measured shape p:

  - the op has rows for this (impl, dtype): p is the query clamped into the table's hull (each axis to its
    measured [min, max]) and t(p) its interpolated time, so ``t(q) = t(p) * R(q) / R(p)``: continuous at the grid
    edge and monotone along the axis that leaves the grid (a large GEMM runs at the efficiency of the largest
    measured one; a small-m GEMM keeps the small-m efficiency and turns memory-bound with the roofline). Where the
    clamped point falls in a hole of a sparse grid, p is the nearest measured row (distance in log shape);
  - the op has no rows for this dtype and is memory-bound at q: p is a ``copy`` moving the same bytes (the copy
    table's own efficiency, same dtype else float32), so an element-wise op runs like a copy of its traffic;
  - otherwise the bare roofline.

  With ``outside_grid: roofline`` the bare roofline is used after an exact miss.

Every prediction, whatever its source, is at least the device's kernel floor (`DeviceRoofline.kernel_floor_us`;
a measured median below it is raised to it). The device's dispatch gap is not added here: a step model adds
``device.dispatch_gap_us`` once per kernel launch.

`TimingsSpec.outside_grid` picks the policy: ``interpolate`` (all three), ``roofline`` (exact, else roofline),
``error`` (exact only; anything else raises `HarnessError` naming the op and shape). `TimingReplay.info` records
counts and summed predicted time per op and source; `harness.timing.notes.roofline_note` turns them into the
short line ``harness run`` prints when any time came from the roofline.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from harness.devices import DeviceRoofline, get_device
from harness.errors import HarnessError
from harness.provenance import default_timings_root, shown_project_path
from harness.timing.collective_tables import FOLDER as COLLECTIVES_FOLDER
from harness.timing.sets import check_named_set
from harness.timing.table import META_FILE, TimingTable, TimingTableSet, load_table_set
from kernels.ops import TimedOp, load_all_ops

Source = Literal["exact", "interpolated", "roofline"]
SOURCES: tuple[Source, ...] = ("exact", "interpolated", "roofline")
OutsideGrid = Literal["interpolate", "roofline", "error"]


@dataclass(frozen=True)
class Prediction:
    """A predicted run time and where it came from (``detail`` says which rows, or why roofline)."""

    time_ms: float
    source: Source
    detail: str


# ---------------------------------------------------------------------------------------------------------------
# pure interpolation over one (op, impl, dtype) slice of a table


def interpolate_ms(points: np.ndarray, times_ms: np.ndarray, query: tuple[float, ...]) -> float | None:
    """Multilinear interpolation of ``times_ms`` measured at ``points`` (rows x axes) at ``query``.

    Returns None when the query lies outside the measured bracket on some axis (the caller falls back to the
    roofline). See the module docstring for the scheme.
    """
    if points.shape[0] == 0:
        return None
    if points.shape[1] == 0:
        return float(times_ms[0])
    x = query[0]
    column = points[:, 0]
    rest = query[1:]
    at = column == x
    if at.any():
        value = interpolate_ms(points[at][:, 1:], times_ms[at], rest)
        if value is not None:
            return value
    below, above = column[column < x], column[column > x]
    if below.size == 0 or above.size == 0:
        return None
    lo, hi = below.max(), above.min()
    t_lo = interpolate_ms(points[column == lo][:, 1:], times_ms[column == lo], rest)
    t_hi = interpolate_ms(points[column == hi][:, 1:], times_ms[column == hi], rest)
    if t_lo is None or t_hi is None:
        return None
    weight_hi = (x - lo) / (hi - lo)
    return float((1.0 - weight_hi) * t_lo + weight_hi * t_hi)


@dataclass(frozen=True)
class _Slice:
    """Rows of one table for one (impl, dtype), ready for lookup."""

    points: np.ndarray  # rows x shape axes, float
    times_ms: np.ndarray  # median per row
    exact: Mapping[tuple[float, ...], float]

    def anchor(self, key: tuple[float, ...]) -> tuple[tuple[float, ...], float, str] | None:
        """The measured shape whose efficiency stands in for ``key``: ``(shape, time_ms, how)``; None if no rows."""
        if len(self.points) == 0:
            return None
        clamped = tuple(float(v) for v in np.clip(key, self.points.min(axis=0), self.points.max(axis=0)))
        value = interpolate_ms(self.points, self.times_ms, clamped)
        if value is not None:
            return clamped, value, "nearest point of the measured hull"
        logs = np.log1p(self.points)
        nearest = int(np.argmin(((logs - np.log1p(np.asarray(key)[None, :])) ** 2).sum(axis=1)))
        return tuple(self.points[nearest]), float(self.times_ms[nearest]), "nearest measured row"


def _slice(table: TimingTable, impl: str, dtype: str) -> _Slice:
    rows = table.frame[(table.frame["impl"] == impl) & (table.frame["dtype"] == dtype)]
    points = rows[list(table.shape_columns)].to_numpy(dtype=float)
    times = rows["time_ms_median"].to_numpy(dtype=float)
    return _Slice(points, times, {tuple(p): float(t) for p, t in zip(points, times)})


def _fmt_shape(columns: tuple[str, ...], key: tuple[float, ...]) -> str:
    return ", ".join(f"{c}={int(v) if float(v).is_integer() else round(float(v), 3)}" for c, v in zip(columns, key))


# ---------------------------------------------------------------------------------------------------------------
# the replay


class TimingReplay:
    """Predicts op run times for one device from its table set (or the roofline alone).

    Args:
        device: the device's roofline numbers, kernel floor and dispatch gap.
        tables: the device's table set; None means roofline only.
        outside_grid: ``interpolate`` | ``roofline`` | ``error`` (see `harness.config.blocks.TimingsSpec`).
        table_set: the table-set name (for provenance).
        missing_reason: why ``tables`` is None, recorded in `info()`.

    Example:
        >>> replay = TimingReplay(get_device("h100"), None)
        >>> replay.predict("matmul", m=4096, n=4096, k=4096, dtype="bfloat16").source
        'roofline'
    """

    def __init__(
        self,
        device: DeviceRoofline,
        tables: TimingTableSet | None,
        *,
        outside_grid: OutsideGrid = "interpolate",
        table_set: str | None = None,
        missing_reason: str | None = None,
    ):
        if outside_grid not in ("interpolate", "roofline", "error"):
            raise ValueError(f"outside_grid must be interpolate, roofline or error, got {outside_grid!r}")
        self.device = device
        self.tables = tables
        self.outside_grid = outside_grid
        self.table_set = table_set or (tables.device if tables else device.name)
        self.missing_reason = missing_reason
        self._ops = load_all_ops()
        self._slices: dict[tuple[str, str, str], _Slice] = {}
        self._impls: dict[tuple[str, str | None, str], str | None] = {}  # (op, impl asked, dtype) -> impl chosen
        self._counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SOURCES, 0))
        self._time_ms: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(SOURCES, 0.0))
        self._roofline_reasons: dict[str, Counter[str]] = defaultdict(Counter)

    # -- public -----------------------------------------------------------------------------------------------

    def predict(self, op: str, *, impl: str | None = None, dtype: str = "float32", **shape: float) -> Prediction:
        """Predicted run time of ``op`` at ``shape`` (keyword per shape column), counted in `summary()`."""
        timed = self._timed_op(op)
        key = self._shape_key(timed, shape)
        prediction, reason = self._predict(timed, key, impl, dtype)
        floor_ms = self.device.kernel_floor_ms
        if prediction.time_ms < floor_ms:
            prediction = Prediction(
                floor_ms, prediction.source,
                f"{prediction.detail}; raised to the kernel floor of {self.device.kernel_floor_us:.3g} us",
            )
        self._counts[op][prediction.source] += 1
        self._time_ms[op][prediction.source] += prediction.time_ms
        if reason is not None:
            self._roofline_reasons[op][reason] += 1
        return prediction

    def summary(self) -> dict[str, dict[str, int]]:
        """``{op: {"exact": n, "interpolated": n, "roofline": n}}`` over every prediction so far."""
        return {op: dict(self._counts[op]) for op in sorted(self._counts)}

    def time_by_source_ms(self) -> dict[str, dict[str, float]]:
        """``{op: {"exact": ms, "interpolated": ms, "roofline": ms}}``: predicted time summed over predictions."""
        return {op: dict(self._time_ms[op]) for op in sorted(self._time_ms)}

    def table_hashes(self) -> dict[str, str]:
        """``{op: sha256}`` of the tables in use (empty when roofline only)."""
        return self.tables.hashes() if self.tables else {}

    def info(self) -> dict[str, Any]:
        """Provenance for run.json: table set, hashes, roofline numbers and their sources, kernel floor and
        dispatch gap, prediction counts, predicted time by source and why predictions fell to the roofline."""
        return {
            "table_set": self.table_set,
            "tables_folder": shown_project_path(self.tables.folder) if self.tables else None,
            "tables_missing": self.missing_reason,
            "table_hashes": self.table_hashes(),
            "outside_grid": self.outside_grid,
            "roofline": {
                "device": self.device.name,
                "memory_gbytes_per_s": self.device.memory_gbytes_per_s,
                "peak_tflops": dict(self.device.peak_tflops),
                "kernel_floor_us": self.device.kernel_floor_us,
                "dispatch_gap_us": self.device.dispatch_gap_us,
                "sources": dict(self.device.sources),
            },
            "timing_sources": self.summary(),
            "time_by_source_ms": self.time_by_source_ms(),
            "roofline_reasons": {op: dict(self._roofline_reasons[op]) for op in sorted(self._roofline_reasons)},
        }

    # -- internals --------------------------------------------------------------------------------------------

    def _timed_op(self, op: str) -> TimedOp:
        if op not in self._ops:
            raise HarnessError(f"unknown timed op {op!r}; known: {', '.join(self._ops)}")
        return self._ops.get(op)

    @staticmethod
    def _shape_key(timed: TimedOp, shape: Mapping[str, float]) -> tuple[float, ...]:
        expected = set(timed.shape_columns)
        if set(shape) != expected:
            raise HarnessError(
                f"op {timed.name!r} takes shape {', '.join(timed.shape_columns)}; got {', '.join(sorted(shape)) or 'none'}"
            )
        for name, value in shape.items():
            if not isinstance(value, int | float | np.integer | np.floating) or not np.isfinite(value) or value < 0:
                raise HarnessError(f"op {timed.name!r}: shape {name} must be a finite number >= 0, got {value!r}")
        return tuple(float(shape[c]) for c in timed.shape_columns)

    def _pick_impl(self, table: TimingTable, impl: str | None, dtype: str) -> str | None:
        impls = sorted(set(table.frame.loc[table.frame["dtype"] == dtype, "impl"]))
        if impl is not None:
            return impl if impl in impls else None
        if len(impls) == 1:
            return impls[0]
        # the default is what the op dispatches to on that device: the Triton kernel where one was measured,
        # else the torch reference (baselines are only used when asked for by name)
        for preferred in ("triton", "torch"):
            if preferred in impls:
                return preferred
        if impls:
            raise HarnessError(
                f"{table.path}: several implementations for dtype {dtype} ({', '.join(impls)}); pass impl="
            )
        return None

    def _rows(self, op: str, impl: str | None, dtype: str) -> tuple[TimingTable | None, str | None, _Slice | None]:
        """The op's table, the impl chosen for ``dtype`` and its rows (None where absent)."""
        table = self.tables.tables.get(op) if self.tables else None
        chosen = None
        if table is not None:  # chosen once per (op, impl, dtype): a pandas filter costs more than a prediction
            if (op, impl, dtype) not in self._impls:
                self._impls[(op, impl, dtype)] = self._pick_impl(table, impl, dtype)
            chosen = self._impls[(op, impl, dtype)]
        if chosen is None:
            return table, None, None
        cached = self._slices.get((op, chosen, dtype))
        if cached is None:
            cached = self._slices[(op, chosen, dtype)] = _slice(table, chosen, dtype)
        return table, chosen, cached

    def _roofline_ms(self, timed: TimedOp, key: tuple[float, ...], dtype: str) -> float:
        shape = dict(zip(timed.shape_columns, key))
        return self.device.roofline_time_ms(timed.flops(shape), timed.bytes_moved(shape, dtype), dtype)

    def _scaled(self, timed: TimedOp, key: tuple[float, ...], dtype: str, rows: _Slice) -> tuple[float, str] | None:
        """``R(q) / efficiency(p)`` with p the measured stand-in of ``rows`` for ``key`` (module docstring)."""
        anchor = rows.anchor(key)
        if anchor is None:
            return None
        point, time_ms, how = anchor
        r_point = self._roofline_ms(timed, point, dtype)
        if r_point <= 0 or time_ms <= 0:
            return None
        efficiency = r_point / time_ms
        value = self._roofline_ms(timed, key, dtype) / efficiency
        return value, f"efficiency {efficiency:.3g} of {timed.name} at {_fmt_shape(timed.shape_columns, point)} ({how})"

    def _copy_scaled(self, timed: TimedOp, key: tuple[float, ...], dtype: str) -> tuple[float, str] | None:
        """A memory-bound op without rows runs like a ``copy`` of its bytes (copy table's efficiency)."""
        if "copy" not in self._ops:
            return None
        shape = dict(zip(timed.shape_columns, key))
        flops, bytes_moved = timed.flops(shape), timed.bytes_moved(shape, dtype)
        if bytes_moved <= 0 or flops / self.device.peak_flops_per_s(dtype) > bytes_moved / (
            self.device.memory_gbytes_per_s * 1e9
        ):
            return None
        copy = self._ops.get("copy")
        for copy_dtype in dict.fromkeys((dtype, "float32")):
            _, _, rows = self._rows("copy", None, copy_dtype)
            if rows is not None and len(rows.points):
                numel = bytes_moved / copy.bytes_moved({"numel": 1}, copy_dtype)
                scaled = self._scaled(copy, (numel,), copy_dtype, rows)
                if scaled is not None:
                    return scaled[0], f"memory-bound: runs like a {copy_dtype} copy of {bytes_moved:.4g} bytes, {scaled[1]}"
        return None

    def _predict(
        self, timed: TimedOp, key: tuple[float, ...], impl: str | None, dtype: str
    ) -> tuple[Prediction, str | None]:
        """The prediction before the floor, and (for the roofline) a short reason for the run's note."""
        where = _fmt_shape(timed.shape_columns, key)
        table, chosen, rows = self._rows(timed.name, impl, dtype)
        name = f"{self.table_set}/{timed.name}.csv"
        if table is None:
            short = f"no {timed.name} table in set {self.table_set!r}"
            reason = short + (f" ({self.missing_reason})" if self.missing_reason else "")
        elif rows is None or len(rows.points) == 0:
            short = f"no {dtype} rows{'' if impl is None else f' for impl {impl}'} in {name}"
            reason = f"{table.path.name} has no rows for impl={impl or 'any'}, dtype={dtype}"
        else:
            if key in rows.exact:
                return Prediction(rows.exact[key], "exact", f"{table.path.name}: {where} ({chosen}, {dtype})"), None
            short = f"{dtype} shapes not measured in {name}"
            reason = f"{where} not measured in {table.path.name} ({chosen}, {dtype})"
            if self.outside_grid == "interpolate":
                value = interpolate_ms(rows.points, rows.times_ms, key)
                if value is not None:
                    return Prediction(value, "interpolated", f"{table.path.name}: linear between measured points"), None
                short = f"{dtype} shapes outside the measured grid of {name}"
                reason = f"{where} outside the measured grid of {table.path.name} ({chosen}, {dtype})"
        if self.outside_grid == "error":
            raise HarnessError(
                f"timing replay (outside_grid=error): op {timed.name!r} at {where}, dtype {dtype}: {reason}; "
                "profile this shape or set timings.outside_grid to interpolate or roofline"
            )
        scaled = None
        if self.outside_grid == "interpolate":
            scaled = self._scaled(timed, key, dtype, rows) if rows is not None else None
            if scaled is None and (rows is None or len(rows.points) == 0):
                scaled = self._copy_scaled(timed, key, dtype)
        if scaled is not None:
            detail = f"{reason}; roofline of device {self.device.name!r} / measured {scaled[1]}"
            return Prediction(scaled[0], "roofline", detail), short
        bare = self._roofline_ms(timed, key, dtype)
        return Prediction(bare, "roofline", f"{reason}; roofline of device {self.device.name!r}"), short


# ---------------------------------------------------------------------------------------------------------------
# construction and validation


def open_replay(scenario: Any, *, timings_root: Path | str | None = None) -> TimingReplay:
    """The replay for a scenario: table set ``scenario.table_set`` under ``timings_root`` (default
    ``results/timings``), roofline numbers of ``scenario.cluster.device``, policy ``scenario.timings.outside_grid``.

    The set named like the device (no ``timings.table_set``) may be missing: then every op comes from the
    roofline, and the reason is recorded in `TimingReplay.info`; so for a set holding only collective tables
    (an nccl-tests import). A set named in ``timings.table_set`` must exist (`HarnessError` naming the key and
    the sets there, `harness.timing.sets`): a typo is not a request for the roofline.
    """
    root = Path(timings_root) if timings_root is not None else default_timings_root()
    check_named_set(scenario, root)
    folder = root / scenario.table_set
    device = get_device(scenario.cluster.device, timings_root=root)
    tables, missing = None, None
    if not folder.is_dir():
        missing = f"folder {shown_project_path(folder)} does not exist"
    elif not (folder / META_FILE).is_file() and (folder / COLLECTIVES_FOLDER).is_dir():
        # an imported collective set (`harness timings import nccl-tests`): collectives from it, compute from the
        # roofline
        missing = f"set {shown_project_path(folder)} holds collective tables only"
    else:
        tables = load_table_set(folder)
    return TimingReplay(
        device, tables, outside_grid=scenario.timings.outside_grid, table_set=scenario.table_set, missing_reason=missing
    )


def leave_one_out_error(table: TimingTable) -> pd.DataFrame:
    """Leave-one-out interpolation error of a table (DESIGN.md validation ladder, step 2).

    For every row: drop it, interpolate its shape from the remaining rows of the same (impl, dtype), and compare
    with the measured median. Rows with no bracket once dropped (on the grid's edge) get NaN and
    ``source = "outside_grid"``.

    Returns:
        One row per table row: the shape columns, ``impl``, ``dtype``, ``measured_ms``, ``predicted_ms``,
        ``error_pct`` (signed, 100 * (predicted - measured) / measured), ``source``.
    """
    shape_columns = list(table.shape_columns)
    records = []
    for (impl, dtype), group in table.frame.groupby(["impl", "dtype"], sort=True):
        points = group[shape_columns].to_numpy(dtype=float)
        times = group["time_ms_median"].to_numpy(dtype=float)
        for i in range(len(group)):
            keep = np.arange(len(group)) != i
            predicted = interpolate_ms(points[keep], times[keep], tuple(points[i]))
            measured = float(times[i])
            error = np.nan
            if predicted is not None and measured > 0:
                error = 100.0 * (predicted - measured) / measured
            records.append(
                {
                    **dict(zip(shape_columns, group.iloc[i][shape_columns])),
                    "impl": impl,
                    "dtype": dtype,
                    "measured_ms": measured,
                    "predicted_ms": np.nan if predicted is None else predicted,
                    "error_pct": error,
                    "source": "outside_grid" if predicted is None else "interpolated",
                }
            )
    return pd.DataFrame.from_records(records)


def leave_one_out_summary(tables: TimingTableSet) -> pd.DataFrame:
    """Per (op, impl, dtype) of a table set: rows, rows interpolable once left out, and their error statistics.

    Columns: ``op, impl, dtype, n_rows, n_interpolated, median_abs_error_pct, max_abs_error_pct,
    mean_error_pct`` (signed mean: a positive value means interpolation over-predicts). A grid with only two
    values per axis has no interior point, so ``n_interpolated`` is 0 and the statistics are NaN.
    """
    records = []
    for op in sorted(tables.tables):
        loo = leave_one_out_error(tables.tables[op])
        if loo.empty:
            continue
        for (impl, dtype), group in loo.groupby(["impl", "dtype"], sort=True):
            errors = group["error_pct"].dropna()
            records.append(
                {
                    "op": op,
                    "impl": impl,
                    "dtype": dtype,
                    "n_rows": len(group),
                    "n_interpolated": len(errors),
                    "median_abs_error_pct": errors.abs().median() if len(errors) else np.nan,
                    "max_abs_error_pct": errors.abs().max() if len(errors) else np.nan,
                    "mean_error_pct": errors.mean() if len(errors) else np.nan,
                }
            )
    return pd.DataFrame.from_records(records)
