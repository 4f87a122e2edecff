"""Strict loading of timing tables: ``results/timings/<device>/<op>.csv`` + ``meta.json``.

The schema is `kernels.timing_schema` (fixed measurement columns, meta.json keys, schema version) plus each op's
``shape_columns`` from the timed-op registry `kernels.ops`. Anything that breaks it raises
`harness.errors.TimingTableError` naming the file, the line (header = line 1) and the column, because a table
that silently loads wrong poisons every simulated number built on it (vidur issue #72; DESIGN.md "Timing tables").

Each loaded table carries the sha256 of its CSV bytes; the run store folds these into the run-id.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import TimingTableError
from kernels.ops import TimedOp, load_all_ops
from kernels.timing_schema import MEASUREMENT_COLUMNS, META_KEYS, OPTIONAL_META_KEYS, SCHEMA_VERSION

META_FILE = "meta.json"
TIME_COLUMNS: tuple[str, ...] = ("time_ms_p10", "time_ms_median", "time_ms_p90")
TEXT_COLUMNS: tuple[str, ...] = ("impl", "dtype")
#: the largest shape value a table may hold: every whole number up to it is exact in a float64
MAX_SHAPE_VALUE = 2**53


@dataclass(frozen=True)
class TimingTable:
    """One validated table.

    Attributes:
        op: the timed op (table file stem), e.g. ``"matmul"``.
        path: the CSV it came from.
        shape_columns: the op's shape parameters, in registry order.
        frame: one row per measurement; shape columns numeric, times float, ``n_reps`` int.
        sha256: hash of the CSV bytes.
        device: the device folder named in meta.json (None when loaded without a meta check).
    """

    op: str
    path: Path
    shape_columns: tuple[str, ...]
    frame: pd.DataFrame
    sha256: str
    device: str | None = None

    def __len__(self) -> int:
        return len(self.frame)


@dataclass(frozen=True)
class TimingTableSet:
    """Every table of one device folder plus its meta.json."""

    folder: Path
    meta: Mapping[str, Any]
    tables: Mapping[str, TimingTable] = field(default_factory=dict)

    @property
    def device(self) -> str:
        return str(self.meta["device"])

    def hashes(self) -> dict[str, str]:
        """``{op: sha256}`` of every table, sorted by op (for the run-id and run.json)."""
        return {op: self.tables[op].sha256 for op in sorted(self.tables)}


# ---------------------------------------------------------------------------------------------------------------
# meta.json


def load_meta(folder: Path | str) -> dict[str, Any]:
    """Read and check ``<folder>/meta.json``: every key of `META_KEYS`, nothing else, the current schema version."""
    path = Path(folder) / META_FILE
    if not path.is_file():
        raise TimingTableError(f"{path}: missing; every timing-table folder needs a meta.json beside its CSVs")
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise TimingTableError(f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None
    except UnicodeDecodeError as err:
        raise TimingTableError(f"{path}: not UTF-8 text (byte at offset {err.start})") from None
    if not isinstance(meta, dict):
        raise TimingTableError(f"{path}: expected a JSON object, got {type(meta).__name__}")
    missing = [key for key in META_KEYS if key not in meta]
    if missing:
        raise TimingTableError(f"{path}: missing key(s) {', '.join(missing)}; expected {', '.join(META_KEYS)}")
    unknown = sorted(set(meta) - set(META_KEYS) - set(OPTIONAL_META_KEYS))
    if unknown:
        raise TimingTableError(f"{path}: unknown key(s) {', '.join(unknown)}; expected {', '.join(META_KEYS)}")
    if meta["schema_version"] != SCHEMA_VERSION:
        raise TimingTableError(
            f"{path}: schema_version {meta['schema_version']!r} does not match this code's version {SCHEMA_VERSION}; "
            "re-profile with `harness profile` or use a matching code version"
        )
    if not isinstance(meta["ops"], dict) or not all(isinstance(entry, dict) for entry in meta["ops"].values()):
        raise TimingTableError(f"{path}: key 'ops' must map op name -> {{shape_columns, rows}}")
    if not isinstance(meta["roofline"], dict):
        raise TimingTableError(f"{path}: key 'roofline' must be an object (copy_gbytes_per_s, matmul_tflops)")
    return meta


def _check_meta_entry(meta_path: Path, meta: Mapping[str, Any], table: TimingTable) -> None:
    entry = meta["ops"].get(table.op)
    if not isinstance(entry, dict):
        raise TimingTableError(f"{meta_path}: ops has no entry for {table.op!r} (table {table.path.name})")
    declared = tuple(entry.get("shape_columns", ()))
    if declared != table.shape_columns:
        raise TimingTableError(
            f"{meta_path}: ops.{table.op}.shape_columns {list(declared)} do not match the op registry "
            f"{list(table.shape_columns)}"
        )
    if entry.get("rows") != len(table):
        raise TimingTableError(
            f"{meta_path}: ops.{table.op}.rows is {entry.get('rows')!r} but {table.path.name} has {len(table)} rows"
        )


# ---------------------------------------------------------------------------------------------------------------
# one CSV


def _op_for(path: Path) -> TimedOp:
    ops = load_all_ops()
    if path.stem not in ops:
        raise TimingTableError(f"{path}: unknown op {path.stem!r}; known ops: {', '.join(ops)}")
    return ops.get(path.stem)


def _check_columns(path: Path, columns: list[str], op: TimedOp) -> None:
    expected = list(op.shape_columns) + list(MEASUREMENT_COLUMNS)
    dupes = sorted({c for c in columns if columns.count(c) > 1})
    if dupes:
        raise TimingTableError(f"{path}: line 1: column(s) {', '.join(dupes)} appear more than once")
    missing = [c for c in expected if c not in columns]
    if missing:
        raise TimingTableError(f"{path}: line 1: missing column(s) {', '.join(missing)}; expected {', '.join(expected)}")
    unknown = [c for c in columns if c not in expected]
    if unknown:
        raise TimingTableError(f"{path}: line 1: unknown column(s) {', '.join(unknown)}; expected {', '.join(expected)}")


def _number(path: Path, line: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise TimingTableError(f"{path}: line {line}: column {column}: expected a number, got {text!r}") from None
    if math.isnan(value) or math.isinf(value):
        raise TimingTableError(f"{path}: line {line}: column {column}: expected a finite number, got {text!r}")
    return value


def _parse_rows(path: Path, raw: pd.DataFrame, op: TimedOp) -> pd.DataFrame:
    parsed: dict[str, list[Any]] = {c: [] for c in list(op.shape_columns) + list(MEASUREMENT_COLUMNS)}
    seen: dict[tuple[Any, ...], int] = {}
    for index, row in enumerate(raw.itertuples(index=False)):
        line = index + 2  # header is line 1
        values = dict(zip(raw.columns, row))
        shape = []
        for column in op.shape_columns:
            value = _number(path, line, column, values[column])
            if not 0 <= value <= MAX_SHAPE_VALUE:
                raise TimingTableError(f"{path}: line {line}: column {column}: shape value must be from 0 to 2**53, "
                                       f"got {values[column]}")
            shape.append(int(value) if value.is_integer() else value)
        for column in TEXT_COLUMNS:
            if not values[column].strip():
                raise TimingTableError(f"{path}: line {line}: column {column}: empty")
        times = {}
        for column in TIME_COLUMNS:
            value = _number(path, line, column, values[column])
            if value < 0:
                raise TimingTableError(f"{path}: line {line}: column {column}: time must be >= 0, got {value}")
            times[column] = value
        if times["time_ms_p10"] > times["time_ms_median"]:
            raise TimingTableError(
                f"{path}: line {line}: column time_ms_p10: {times['time_ms_p10']} exceeds time_ms_median "
                f"{times['time_ms_median']}"
            )
        if times["time_ms_median"] > times["time_ms_p90"]:
            raise TimingTableError(
                f"{path}: line {line}: column time_ms_p90: {times['time_ms_p90']} is below time_ms_median "
                f"{times['time_ms_median']}"
            )
        n_reps = _number(path, line, "n_reps", values["n_reps"])
        if n_reps < 1 or not n_reps.is_integer():
            raise TimingTableError(f"{path}: line {line}: column n_reps: expected a whole number >= 1, got {n_reps}")
        key = (*shape, values["impl"], values["dtype"])
        if key in seen:
            raise TimingTableError(
                f"{path}: line {line}: duplicate shape key "
                f"{', '.join(f'{c}={v}' for c, v in zip((*op.shape_columns, 'impl', 'dtype'), key))} "
                f"(first on line {seen[key]})"
            )
        seen[key] = line
        for column, value in zip(op.shape_columns, shape):
            parsed[column].append(value)
        parsed["impl"].append(values["impl"])
        parsed["dtype"].append(values["dtype"])
        for column, value in times.items():
            parsed[column].append(value)
        parsed["n_reps"].append(int(n_reps))
    return pd.DataFrame(parsed)


def load_table(path: Path | str, *, meta: Mapping[str, Any] | None = None) -> TimingTable:
    """Load and check one ``<op>.csv``.

    Args:
        path: the CSV; its stem is the op name in `kernels.ops`.
        meta: the folder's meta.json as returned by `load_meta`; read from beside the CSV when None.

    Raises:
        TimingTableError: naming the file, line and column of the first problem.
    """
    path = Path(path)
    if not path.is_file():
        raise TimingTableError(f"{path}: no such timing table")
    op = _op_for(path)
    if meta is None:
        meta = load_meta(path.parent)
    data = path.read_bytes()
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise TimingTableError(f"{path}: not a readable CSV ({err})") from None
    _check_columns(path, list(raw.columns), op)
    # A header-only table is valid (the profiler writes one when every impl of an op failed on this device);
    # the replay then falls back to the roofline for that op and says why.
    table = TimingTable(
        op=op.name,
        path=path,
        shape_columns=tuple(op.shape_columns),
        frame=_parse_rows(path, raw, op),
        sha256=hashlib.sha256(data).hexdigest(),
        device=str(meta["device"]),
    )
    _check_meta_entry(path.parent / META_FILE, meta, table)
    return table


def load_table_set(folder: Path | str) -> TimingTableSet:
    """Load every ``*.csv`` of a device folder against its meta.json.

    The folder name must equal meta.json's ``device``, and meta.json's ``ops`` must list exactly the CSVs present.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise TimingTableError(f"{folder}: no such timing-table folder")
    meta = load_meta(folder)
    meta_path = folder / META_FILE
    if meta["device"] != folder.name:
        raise TimingTableError(f"{meta_path}: device {meta['device']!r} does not match its folder name {folder.name!r}")
    csvs = sorted(folder.glob("*.csv"))
    listed = set(meta["ops"])
    present = {p.stem for p in csvs}
    if listed - present:
        raise TimingTableError(f"{meta_path}: lists op(s) {', '.join(sorted(listed - present))} with no CSV in {folder}")
    tables = {p.stem: load_table(p, meta=meta) for p in csvs}
    return TimingTableSet(folder=folder, meta=meta, tables=tables)
