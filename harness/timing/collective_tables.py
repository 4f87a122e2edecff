"""Measured collective tables and their replay: exact hit -> interpolation in size -> closed form.

Schema (the collective counterpart of `kernels.timing_schema`): a table set's collectives live in
``results/timings/<set>/collectives/`` (a sub-folder, so kernel-table loading never sees them):

- ``<op>.csv`` per collective op (``all_reduce``, ``reduce_scatter``, ``all_gather``, ``broadcast``, ``p2p``), one
  row per measured shape. Shape columns ``n_ranks`` (ranks in the communicator), ``devices_per_node`` (ranks per
  machine; ``n_ranks`` for one machine) and ``size_bytes`` (one rank's FULL buffer, nccl-tests' convention and
  ours: the all-gather output, the reduce-scatter input), then ``impl`` (``nccl``, ``gloo``, ...), ``dtype``,
  ``time_ms_median``, ``time_ms_p10``, ``time_ms_p90``, ``n_reps``. Times are >= 0 and
  ``p10 <= median <= p90``; a shape appears once per (impl, dtype).
- ``meta.json``: ``schema_version``, ``table_set`` and ``ops``: ``{op: {"rows": n, "provenance": {...}}}`` where
  provenance holds ``source``, ``version``, ``licence``, ``measured``, ``imported_from``, ``notes`` (written by
  `harness.timing.importers`, or by hand).

Replay (`CollectiveReplay.predict`), per op and rank count (and ranks per node when the table has several):
**exact** measured size -> its median; **interpolated** between the two nearest measured sizes, linear in size
(as the kernel tables, `harness.timing.replay`); outside the measured sizes, the **closed form**
``startup + factor * S / busbw`` (`harness.sim.collectives.startup_bandwidth_ns`) with both numbers fitted to
that rank count's rows, each weighted by its own p10-p90 spread (``closed_form_fit``, at least two sizes); with no rows at that rank count, the
caller's fallback (the topology's alpha-beta closed form, ``closed_form``). Every prediction is counted by
source for run.json.

Scenarios (`TablePricer`, `measured_collectives`): while a run executes, `harness.executors.execute_task` installs
a `TablePricer` for the scenario's table set when ``results/timings/<table_set>/collectives/`` exists, so every
collective the ``collective``, ``data_parallel_step`` and ``compressed_dp_step`` kinds price with the closed-form
network model (`harness.sim.topology.topology_collective_ns`) comes from the table where it has rows for that op
and rank count (and ranks per node), and from the topology's alpha-beta closed form otherwise; the link-level
model keeps simulating links. The table's time is what the library measured with its own algorithm choice, so
the scenario's ``algorithm`` does not change a measured collective. Where a table holds several dtypes at a
rank count, the scenario's ``workload.dtype`` picks the rows. run.json gets ``collective_sources``
(``{op: {source: count}}``, one count per collective priced; a stream reuses the price of an identical earlier
collective) and ``collective_tables`` (the set's name, its ops and their provenance).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.files import write_text_atomic
from harness.errors import HarnessError, TimingTableError
from harness.sim.collectives import OPS, StartupBandwidth, fit_startup_bandwidth, startup_bandwidth_ns
from harness.sim.topology import alpha_beta_collective_ns, collective_pricing
from harness.timing.table import MAX_SHAPE_VALUE

SCHEMA_VERSION = 1
FOLDER = "collectives"
SHAPE_COLUMNS: tuple[str, ...] = ("n_ranks", "devices_per_node", "size_bytes")
TEXT_COLUMNS: tuple[str, ...] = ("impl", "dtype")
TIME_COLUMNS: tuple[str, ...] = ("time_ms_median", "time_ms_p10", "time_ms_p90")
COLUMNS: tuple[str, ...] = (*SHAPE_COLUMNS, *TEXT_COLUMNS, *TIME_COLUMNS, "n_reps")
META_KEYS: tuple[str, ...] = ("schema_version", "table_set", "ops")
PROVENANCE_KEYS: tuple[str, ...] = ("source", "version", "licence", "measured", "imported_from", "notes")
SOURCES: tuple[str, ...] = ("exact", "interpolated", "closed_form_fit", "closed_form")


# ---------------------------------------------------------------------------------------------------------------
# loading and writing


@dataclass(frozen=True)
class CollectiveTableSet:
    """The collective tables of one table set: ``{op: frame}`` plus meta.json and each CSV's sha256."""

    folder: Path
    meta: Mapping[str, Any]
    frames: Mapping[str, pd.DataFrame]
    hashes: Mapping[str, str] = field(default_factory=dict)


def _fail(path: Path, line: int | None, message: str) -> TimingTableError:
    where = f"{path}: line {line}: " if line is not None else f"{path}: "
    return TimingTableError(where + message)


def _number(path: Path, line: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _fail(path, line, f"column {column}: expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise _fail(path, line, f"column {column}: expected a finite number, got {text!r}")
    return value


def check_rows(path: Path, frame: pd.DataFrame, lines: list[int] | None = None) -> pd.DataFrame:
    """Check a collective table's rows (strings or numbers) and return them typed; errors name file and line.

    ``lines`` gives each row's line in the source file (default: header on line 1, rows from line 2).
    """
    columns = list(frame.columns)
    missing = [c for c in COLUMNS if c not in columns]
    if missing:
        raise _fail(path, 1, f"missing column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}")
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown:
        raise _fail(path, 1, f"unknown column(s) {', '.join(unknown)}; expected {', '.join(COLUMNS)}")
    lines = lines or [i + 2 for i in range(len(frame))]
    out: dict[str, list[Any]] = {c: [] for c in COLUMNS}
    seen: dict[tuple, int] = {}
    for line, row in zip(lines, frame[list(COLUMNS)].itertuples(index=False)):
        values = dict(zip(COLUMNS, row))
        shape = {c: _number(path, line, c, str(values[c])) for c in SHAPE_COLUMNS}
        for column, value in shape.items():
            if value > MAX_SHAPE_VALUE:
                raise _fail(path, line, f"column {column}: expected at most 2**53, got {values[column]}")
        for column in ("n_ranks", "devices_per_node"):
            if shape[column] < 1 or not shape[column].is_integer():
                raise _fail(path, line, f"column {column}: expected a whole number >= 1, got {values[column]}")
        if shape["n_ranks"] % shape["devices_per_node"]:
            raise _fail(path, line, f"column devices_per_node: {int(shape['devices_per_node'])} does not divide "
                                    f"n_ranks {int(shape['n_ranks'])}")
        if shape["size_bytes"] < 0:
            raise _fail(path, line, f"column size_bytes: expected a number >= 0, got {values['size_bytes']}")
        for column in TEXT_COLUMNS:
            if not str(values[column]).strip():
                raise _fail(path, line, f"column {column}: empty")
        times = {c: _number(path, line, c, str(values[c])) for c in TIME_COLUMNS}
        for column, value in times.items():
            if value < 0:
                raise _fail(path, line, f"column {column}: time must be >= 0, got {value}")
        if not times["time_ms_p10"] <= times["time_ms_median"] <= times["time_ms_p90"]:
            raise _fail(path, line, f"expected time_ms_p10 <= time_ms_median <= time_ms_p90, got "
                                    f"{times['time_ms_p10']}, {times['time_ms_median']}, {times['time_ms_p90']}")
        n_reps = _number(path, line, "n_reps", str(values["n_reps"]))
        if n_reps < 1 or not n_reps.is_integer():
            raise _fail(path, line, f"column n_reps: expected a whole number >= 1, got {values['n_reps']}")
        key = (shape["n_ranks"], shape["devices_per_node"], shape["size_bytes"], values["impl"], values["dtype"])
        if key in seen:
            shown = (f"{c}={int(v) if isinstance(v, float) and v.is_integer() else v}"
                     for c, v in zip((*SHAPE_COLUMNS, *TEXT_COLUMNS), key))
            raise _fail(path, line, f"duplicate shape {', '.join(shown)} "
                                    f"(first on line {seen[key]})")
        seen[key] = line
        out["n_ranks"].append(int(shape["n_ranks"]))
        out["devices_per_node"].append(int(shape["devices_per_node"]))
        size = shape["size_bytes"]
        out["size_bytes"].append(int(size) if size.is_integer() else size)
        for column in TEXT_COLUMNS:
            out[column].append(str(values[column]).strip())
        for column, value in times.items():
            out[column].append(value)
        out["n_reps"].append(int(n_reps))
    return pd.DataFrame(out)


def load_collective_meta(folder: Path | str) -> dict[str, Any]:
    """Read and check the ``meta.json`` of a collectives folder (see the module docstring)."""
    meta_path = Path(folder) / "meta.json"
    if not meta_path.is_file():
        raise TimingTableError(f"{meta_path}: missing; a collectives folder needs a meta.json beside its CSVs")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as err:
        raise TimingTableError(f"{meta_path}: not valid JSON (line {err.lineno}: {err.msg})") from None
    except UnicodeDecodeError as err:
        raise TimingTableError(f"{meta_path}: not UTF-8 text (byte at offset {err.start})") from None
    if not isinstance(meta, dict) or sorted(meta) != sorted(META_KEYS):
        raise TimingTableError(f"{meta_path}: expected exactly the keys {', '.join(META_KEYS)}")
    if meta["schema_version"] != SCHEMA_VERSION:
        raise TimingTableError(f"{meta_path}: schema_version {meta['schema_version']!r} is not {SCHEMA_VERSION}")
    if not isinstance(meta["ops"], dict) or not all(isinstance(entry, dict) for entry in meta["ops"].values()):
        raise TimingTableError(f"{meta_path}: key 'ops' must map op name -> {{rows, provenance}}")
    return meta


def load_collective_tables(table_set_folder: Path | str) -> CollectiveTableSet:
    """Load ``<table_set_folder>/collectives/`` strictly (see the module docstring)."""
    folder = Path(table_set_folder) / FOLDER
    meta_path = folder / "meta.json"
    meta = load_collective_meta(folder)
    frames, hashes = {}, {}
    for path in sorted(folder.glob("*.csv")):
        if path.stem not in OPS:
            raise TimingTableError(f"{path}: unknown collective op {path.stem!r}; known: {', '.join(OPS)}")
        try:
            raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise TimingTableError(f"{path}: not a readable CSV ({err})") from None
        frames[path.stem] = check_rows(path, raw)
        hashes[path.stem] = hashlib.sha256(path.read_bytes()).hexdigest()
        rows = meta["ops"].get(path.stem, {}).get("rows")
        if rows != len(frames[path.stem]):
            raise TimingTableError(f"{meta_path}: ops.{path.stem}.rows is {rows!r} but {path.name} has "
                                   f"{len(frames[path.stem])} rows")
    listed = set(meta["ops"]) - set(frames)
    if listed:
        raise TimingTableError(f"{meta_path}: lists op(s) {', '.join(sorted(listed))} with no CSV in {folder}")
    return CollectiveTableSet(folder=folder, meta=meta, frames=frames, hashes=hashes)


def write_collective_tables(table_set_folder: Path | str, frames: Mapping[str, pd.DataFrame],
                            provenance: Mapping[str, Any]) -> list[Path]:
    """Write ``collectives/<op>.csv`` for each op in ``frames`` and update ``meta.json`` (ops already in the
    folder and not in ``frames`` are kept with their own provenance); returns the paths written. Only the earlier
    meta.json is read, so re-writing an op whose table and meta.json disagree (a write cut off between the two)
    repairs it."""
    folder = Path(table_set_folder) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    ops: dict[str, Any] = {}
    if (folder / "meta.json").is_file():
        ops = dict(load_collective_meta(folder)["ops"])
    written = []
    for op, frame in frames.items():
        if op not in OPS:
            raise ValueError(f"unknown collective op {op!r}; known: {', '.join(OPS)}")
        frame = frame[list(COLUMNS)].sort_values(["impl", "dtype", "n_ranks", "devices_per_node", "size_bytes"])
        written.append(write_text_atomic(folder / f"{op}.csv", frame.to_csv(index=False, float_format="%.9g")))
        ops[op] = {"rows": len(frame), "provenance": {key: provenance.get(key) for key in PROVENANCE_KEYS}}
    meta = {"schema_version": SCHEMA_VERSION, "table_set": Path(table_set_folder).name, "ops": ops}
    written.append(write_text_atomic(folder / "meta.json", json.dumps(meta, indent=1) + "\n"))
    return written


# ---------------------------------------------------------------------------------------------------------------
# replay


@dataclass(frozen=True)
class CollectivePrediction:
    """A predicted collective time, its source (`SOURCES`) and which rows or parameters gave it."""

    time_ms: float
    source: str
    detail: str

    @property
    def time_ns(self) -> int:
        return round(self.time_ms * 1e6)


Fallback = Callable[[str, float, int], int]  # (op, size_bytes, n_ranks) -> ns


class CollectiveReplay:
    """Predicts collective times from measured tables, else a closed form (module docstring).

    Args:
        tables: the table set's collective tables.
        fallback: ``(op, size_bytes, n_ranks) -> ns`` for rank counts the tables do not cover (e.g. the
            topology's alpha-beta closed form); None makes those an error.
        impl / dtype: which rows to use when a table holds several (default: the only one present).
    """

    def __init__(self, tables: CollectiveTableSet, fallback: Fallback | None = None, *,
                 impl: str | None = None, dtype: str | None = None):
        self.tables = tables
        self.fallback = fallback
        self.impl = impl
        self.dtype = dtype
        self._fits: dict[tuple, StartupBandwidth | None] = {}
        self._counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SOURCES, 0))

    def predict(self, op: str, size_bytes: float, n_ranks: int, devices_per_node: int | None = None, *,
                fallback: Callable[[], int] | None = None) -> CollectivePrediction:
        """Predict one collective; ``fallback`` (``() -> ns``, optional) replaces the replay's own fallback for
        this call where the table has no rows at this rank count."""
        if op not in OPS:
            raise HarnessError(f"unknown collective op {op!r}; known: {', '.join(OPS)}")
        if not (size_bytes >= 0 and math.isfinite(size_bytes)) or int(n_ranks) != n_ranks or n_ranks < 1:
            raise HarnessError(f"{op}: expected size_bytes >= 0 and a whole n_ranks >= 1, got {size_bytes}, {n_ranks}")
        if fallback is None and self.fallback is not None:
            fallback = functools.partial(self.fallback, op, float(size_bytes), int(n_ranks))
        prediction = self._predict(op, float(size_bytes), int(n_ranks), devices_per_node, fallback)
        self._counts[op][prediction.source] += 1
        return prediction

    def summary(self) -> dict[str, dict[str, int]]:
        """``{op: {source: count}}`` over every prediction so far."""
        return {op: dict(self._counts[op]) for op in sorted(self._counts)}

    def info(self) -> dict[str, Any]:
        return {"folder": str(self.tables.folder), "table_hashes": dict(self.tables.hashes),
                "provenance": {op: entry.get("provenance") for op, entry in self.tables.meta["ops"].items()},
                "collective_sources": self.summary()}

    def fitted(self, op: str, n_ranks: int, devices_per_node: int | None = None) -> StartupBandwidth | None:
        """The closed form's startup and busbw fitted to this rank count's rows (None: fewer than 2 sizes)."""
        rows = self._rows(op, n_ranks, devices_per_node)
        key = (op, n_ranks, devices_per_node)
        if key not in self._fits:
            median = rows["time_ms_median"].to_numpy(dtype=float)
            usable = median > 0
            spread = (rows["time_ms_p90"].to_numpy(dtype=float) - rows["time_ms_p10"].to_numpy(dtype=float))
            try:
                self._fits[key] = fit_startup_bandwidth(op, n_ranks, rows["size_bytes"].to_numpy(dtype=float)[usable],
                                                        median[usable] * 1e6, spread[usable] / median[usable])
            except ValueError:
                self._fits[key] = None
        return self._fits[key]

    # -- internals --------------------------------------------------------------------------------------------

    def _rows(self, op: str, n_ranks: int, devices_per_node: int | None) -> pd.DataFrame:
        frame = self.tables.frames.get(op)
        if frame is None:
            return pd.DataFrame(columns=list(COLUMNS))
        rows = frame[frame["n_ranks"] == n_ranks]
        for column, wanted in (("impl", self.impl), ("dtype", self.dtype)):
            values = sorted(set(rows[column]))
            if wanted is not None:
                rows = rows[rows[column] == wanted]
            elif len(values) > 1:
                raise HarnessError(f"{self.tables.folder}/{op}.csv: several {column} values at n_ranks={n_ranks} "
                                   f"({', '.join(values)}); choose one")
        if devices_per_node is not None:
            rows = rows[rows["devices_per_node"] == devices_per_node]
        elif rows["devices_per_node"].nunique() > 1:
            raise HarnessError(f"{self.tables.folder}/{op}.csv: several devices_per_node at n_ranks={n_ranks}; "
                               "pass devices_per_node")
        return rows.sort_values("size_bytes")

    def _predict(self, op: str, size: float, n_ranks: int, devices_per_node: int | None,
                 fallback: Callable[[], int] | None) -> CollectivePrediction:
        if n_ranks == 1:
            return CollectivePrediction(0.0, "closed_form", "one rank: no communication")
        rows = self._rows(op, n_ranks, devices_per_node)
        where = f"{op} n_ranks={n_ranks} size_bytes={size:g}"
        sizes = rows["size_bytes"].to_numpy(dtype=float)
        times = rows["time_ms_median"].to_numpy(dtype=float)
        hit = np.flatnonzero(sizes == size)
        if hit.size:
            return CollectivePrediction(float(times[hit[0]]), "exact", f"{op}.csv: {where}")
        below, above = np.flatnonzero(sizes < size), np.flatnonzero(sizes > size)
        if below.size and above.size:
            lo, hi = below[-1], above[0]
            weight = (size - sizes[lo]) / (sizes[hi] - sizes[lo])
            value = float((1.0 - weight) * times[lo] + weight * times[hi])
            return CollectivePrediction(value, "interpolated", f"{op}.csv: linear between {sizes[lo]:g} and "
                                                               f"{sizes[hi]:g} bytes at n_ranks={n_ranks}")
        fit = self.fitted(op, n_ranks, devices_per_node) if len(rows) >= 2 else None
        if fit is not None:
            ns = startup_bandwidth_ns(op, size, n_ranks, fit)
            return CollectivePrediction(ns / 1e6, "closed_form_fit",
                                        f"{where} outside the measured sizes: startup {fit.startup_ns / 1e3:.3g} us, "
                                        f"busbw {fit.busbw_bytes_per_ns:.3g} GB/s fitted to {len(rows)} rows")
        if fallback is None:
            raise HarnessError(f"collective replay: {where}: not in {self.tables.folder} and no closed-form fallback")
        return CollectivePrediction(fallback() / 1e6, "closed_form",
                                    f"{where}: no rows at this rank count; the network's alpha-beta closed form")


# ---------------------------------------------------------------------------------------------------------------
# scenarios: the pricer `harness.sim.topology.topology_collective_ns` consults during a run


class TablePricer:
    """Prices ``(op, algorithm, size_bytes, topology)`` from a table set's collective tables (module docstring).

    Args:
        tables: the set's collective tables.
        table_set: the set's name (for run.json; never a path).
        dtype: the scenario's dtype, used to pick rows where a table holds several dtypes at a rank count.
    """

    def __init__(self, tables: CollectiveTableSet, table_set: str, dtype: str | None = None):
        self.tables, self.table_set, self.dtype = tables, table_set, dtype
        self._replays: dict[tuple[str, int], CollectiveReplay] = {}

    def __call__(self, op: str, algorithm: str, size_bytes: float, topology: Any) -> int:
        prediction = self._replay(op, topology.n_ranks).predict(
            op, size_bytes, topology.n_ranks, topology.devices_per_node,
            fallback=functools.partial(alpha_beta_collective_ns, op, algorithm, size_bytes, topology))
        return prediction.time_ns

    def _replay(self, op: str, n_ranks: int) -> CollectiveReplay:
        """One replay per (op, rank count): the dtype is chosen where the rows hold several."""
        key = (op, n_ranks)
        if key not in self._replays:
            frame = self.tables.frames.get(op)
            dtypes = set() if frame is None else set(frame.loc[frame["n_ranks"] == n_ranks, "dtype"])
            dtype = self.dtype if len(dtypes) > 1 and self.dtype in dtypes else None
            self._replays[key] = CollectiveReplay(self.tables, dtype=dtype)
        return self._replays[key]

    def summary(self) -> dict[str, dict[str, int]]:
        """``{op: {source: count}}`` over every collective priced so far (sources with a zero count dropped)."""
        total: dict[str, dict[str, int]] = {}
        for replay in self._replays.values():
            for op, counts in replay.summary().items():
                merged = total.setdefault(op, dict.fromkeys(SOURCES, 0))
                for source, n in counts.items():
                    merged[source] += n
        return {op: {s: n for s, n in counts.items() if n} for op, counts in sorted(total.items())}

    def info(self) -> dict[str, Any]:
        """For run.json: ``collective_sources`` and ``collective_tables`` (name, ops, provenance; no paths)."""
        ops = {}
        for op, entry in sorted(self.tables.meta["ops"].items()):
            provenance = entry.get("provenance") or {}
            ops[op] = {"rows": entry.get("rows"),
                       **{key: provenance.get(key) for key in ("source", "version", "measured")}}
        return {"collective_sources": self.summary(), "collective_tables": {"table_set": self.table_set, "ops": ops}}


def open_table_pricer(scenario: Any, timings_root: Path | str | None = None) -> TablePricer | None:
    """The pricer of ``scenario``'s table set under ``timings_root`` (default ``results/timings``), or None
    when the set has no ``collectives/`` folder or the kind reads no table set. A broken folder raises
    `TimingTableError` (file and line); a set named in ``timings.table_set`` that does not exist, `HarnessError`."""
    from harness.config.blocks import table_set_of
    from harness.provenance import default_timings_root
    from harness.timing.sets import check_named_set

    if table_set_of(scenario) is None:
        return None
    root = Path(timings_root) if timings_root is not None else default_timings_root()
    check_named_set(scenario, root)
    folder = root / scenario.table_set
    if not (folder / FOLDER).is_dir():
        return None
    workload = getattr(scenario, "workload", None)
    return TablePricer(load_collective_tables(folder), scenario.table_set, getattr(workload, "dtype", None))


@contextlib.contextmanager
def measured_collectives(scenario: Any, timings_root: Path | str | None = None) -> Iterator[TablePricer | None]:
    """Inside the block, closed-form collectives of ``scenario`` are priced from its measured tables (if any).

    Yields the pricer (None without tables); read its `TablePricer.info` for run.json afterwards.
    """
    pricer = open_table_pricer(scenario, timings_root)
    with collective_pricing(pricer):
        yield pricer
