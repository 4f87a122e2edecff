"""Whether a measured table set still describes this machine: a sample of its rows timed again now.

A table row carries the speed of the moment it was timed. On a shared machine that speed changes between hours:
the compute study (`harness.fidelity.compute`) found the dev VM's single-flush CPU tables 23-39% faster per op
than the same ops timed the next morning, more than the study's whole error target. Before trusting a prediction
priced from a set, time a few of its rows again: `check_drift` re-times up to ``rows_per_op`` rows of each table
(spread from the fastest to the slowest row) with the profiler's timer (`kernels.profiler.time_call`) at the
set's cache state (meta.json's ``cpu_flush_bytes``) and thread count, and reports now / table per row, per op and
over the set. Nothing is written into the set; nothing is fitted. Imported sets (``provenance`` in meta.json)
were measured elsewhere and are refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import HarnessError
from harness.timing.table import META_FILE, load_table_set

#: times one prepared call on a device with the profiler's settings; returns its median in ms
Timer = Callable[[Callable[[], Any], str, Any], float]
ROW_COLUMNS = ["op", "impl", "dtype", "shape", "table_ms", "now_ms", "ratio"]


@dataclass(frozen=True)
class DriftReport:
    """Rows re-timed (`ROW_COLUMNS`), the set's profile date, and what was skipped (one line per reason)."""

    table_set: str
    profiled: str
    rows: pd.DataFrame
    skipped: tuple[str, ...] = ()

    def per_op(self) -> pd.DataFrame:
        """Per op: rows re-timed, median, lowest and highest now / table."""
        grouped = self.rows.groupby("op")["ratio"]
        return pd.DataFrame({"rows": grouped.size(), "median_ratio": grouped.median(), "min_ratio": grouped.min(),
                             "max_ratio": grouped.max()}).reset_index()

    @property
    def median_ratio(self) -> float:
        """Median now / table over every row re-timed (NaN when none was)."""
        return float(np.median(self.rows["ratio"])) if len(self.rows) else float("nan")

    def summary(self) -> str:
        """One sentence: how much faster or slower this machine runs the set's ops now."""
        if not len(self.rows):
            return f"{self.table_set}: no row could be timed again here"
        ratio = self.median_ratio
        per_op = self.per_op()["median_ratio"]
        change = (f"{(1 - ratio) * 100:.0f}% faster" if ratio < 1 else f"{(ratio - 1) * 100:.0f}% slower")
        return (f"{self.table_set}: now / table median {ratio:.2f} over {len(self.rows)} rows "
                f"(per op {per_op.min():.2f} to {per_op.max():.2f}): this machine runs the set's ops {change} "
                f"now than when they were profiled ({self.profiled})")


def sample_rows(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    """Up to ``n`` rows of ``frame`` evenly spaced in the order of their median time (fastest and slowest kept)."""
    if n < 1:
        raise ValueError(f"rows per op must be >= 1, got {n}")
    ordered = frame.sort_values("time_ms_median", kind="stable").reset_index(drop=True)
    picks = sorted({int(round(i)) for i in np.linspace(0, len(ordered) - 1, min(n, len(ordered)))})
    return ordered.iloc[picks]


def profiled_threads(meta: Mapping[str, Any]) -> int | None:
    """The torch thread count a CPU set was profiled at: meta.json's ``device_name`` says it ("torch uses N
    thread(s)", written by `kernels.profiler.device_name`); None where it does not."""
    found = re.search(r"torch uses (\d+) thread", str(meta.get("device_name", "")))
    return int(found.group(1)) if found else None


def _device_of(folder: Path, meta: Mapping[str, Any]) -> str:
    if "provenance" in meta:
        source = (meta.get("provenance") or {}).get("source") or "elsewhere"
        raise HarnessError(f"{folder / META_FILE}: imported ({source}), not measured on this machine; "
                           "nothing to time again")
    if meta.get("cuda") is None:
        return "cpu"
    import torch

    if not torch.cuda.is_available():
        raise HarnessError(f"{folder / META_FILE}: profiled on {meta.get('device_name')} (CUDA); this machine has "
                           "no CUDA device")
    return "cuda"


def _time_median(fn: Callable[[], Any], device: str, settings: Any) -> float:
    from kernels.profiler import time_call

    return time_call(fn, device, settings).time_ms_median


def check_drift(folder: Path | str, *, rows_per_op: int = 5, ops: Sequence[str] | None = None, seed: int = 0,
                timer: Timer = _time_median, log: Callable[[str], None] = print) -> DriftReport:
    """Re-time up to ``rows_per_op`` rows of every table of the set in ``folder`` (only ``ops``, when given) on
    this machine, at the set's cache state and thread count; ``timer`` times one call (default: the profiler's).
    The set, its kind (measured here, not imported) and ``ops`` are checked before anything is logged or timed;
    then ``log`` gets a first line saying what is timed, and one line per op."""
    import torch

    from harness.workloads.base import torch_threads
    from kernels.profiler import TimerSettings

    folder = Path(folder)
    table_set = load_table_set(folder)
    meta = table_set.meta
    device = _device_of(folder, meta)
    unknown = sorted(set(ops or ()) - set(table_set.tables))
    if unknown:
        raise HarnessError(f"{folder}: no table for op(s) {', '.join(unknown)}; it has "
                           f"{', '.join(sorted(table_set.tables))}")
    from kernels.ops import load_all_ops

    log(f"timing {folder.name} again ({rows_per_op} row(s) per op)")
    registry = load_all_ops()
    settings = TimerSettings(cpu_flush_bytes=meta.get("cpu_flush_bytes"))
    threads = profiled_threads(meta) if device == "cpu" else None
    gen = torch.Generator().manual_seed(seed)
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    with torch_threads(threads or torch.get_num_threads()):
        for name in sorted(ops or table_set.tables):
            table = table_set.tables[name]
            op = registry.get(name)
            runnable = table.frame[[impl in (op.impls or {}) and not (device == "cpu" and impl.startswith("triton"))
                                    for impl in table.frame["impl"]]]
            if len(runnable) < len(table.frame):
                skipped.append(f"{name}: {len(table.frame) - len(runnable)} row(s) of implementations that do not "
                               f"run on this {device}")
            runnable = runnable[runnable["time_ms_median"] > 0]  # a zero time has no ratio
            for _, row in sample_rows(runnable, rows_per_op).iterrows() if len(runnable) else ():
                shape = {c: int(row[c]) for c in table.shape_columns}
                args = op.make_inputs(shape, row["dtype"], device, gen)
                fn = op.impls[row["impl"]]
                fn(*args)  # first call outside the timed window, as the profiler does
                now = timer(lambda fn=fn, args=args: fn(*args), device, settings)
                rows.append({"op": name, "impl": row["impl"], "dtype": row["dtype"], "shape": shape,
                             "table_ms": float(row["time_ms_median"]), "now_ms": float(now),
                             "ratio": float(now) / float(row["time_ms_median"])})
                del args
            done = [r["ratio"] for r in rows if r["op"] == name]
            if done:
                log(f"  {name}: {len(done)} row(s), now / table median {np.median(done):.2f} "
                    f"({min(done):.2f} to {max(done):.2f})")
    return DriftReport(table_set=folder.name, profiled=str(meta.get("date")),
                       rows=pd.DataFrame(rows, columns=ROW_COLUMNS), skipped=tuple(skipped))
