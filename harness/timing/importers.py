"""Import published or user-measured profiles into our table schemas (``harness timings import``).

Formats (read from their public descriptions; no code taken from them):

- ``nccl-tests``: the text output of NVIDIA nccl-tests (``all_reduce_perf`` and friends). The ``# Rank N ...
  on HOST device ...`` lines give the rank count and the machines (ranks per node = ranks / distinct hosts);
  the column header (``size count type ... time algbw busbw ...``) locates the out-of-place (default) or
  in-place ``time`` in microseconds; one row per size. nccl-tests prints one average time per size over
  ``iters`` runs, so p10 = median = p90 = that time and ``n_reps`` = ``iters`` from the header. ``size`` is one
  rank's full buffer (the all-gather output), our convention too. The op is not printed: pass it (``--op``).
  -> collective table ``collectives/<op>.csv``.
- ``vidur-network``: Vidur's network profiles (``data/profiling/network/<fabric>/{all_reduce,send_recv}.csv``,
  microsoft/vidur): ``time_stats.<collective>.{min,max,mean,median,std}`` in ms, ``num_workers``, ``size`` (bytes
  of the per-rank buffer, fp16), ``collective``, ``devices_per_node``. ``send_recv`` becomes ``p2p``; an
  all-gather's size is multiplied by the rank count (Vidur sizes the input, we size the output), a
  reduce-scatter's likewise (Vidur sizes the output). Vidur records min/max, not percentiles: p10 and p90 hold
  min and max (a wider band). -> collective tables.
- ``vidur-compute``: Vidur's per-model operator profile ``data/profiling/compute/<gpu>/<model>/mlp.csv``: its four
  GEMMs (``attn_pre_proj``, ``attn_post_proj``, ``mlp_up_proj``, ``mlp_down_proj``) become ``matmul`` rows
  (``m`` = tokens; ``k``, ``n`` from the model dimensions and the tensor-parallel degree, as Vidur's column- and
  row-parallel linears split them); the element-wise operators have no table of ours yet and are listed as not
  imported in the provenance. Duplicate GEMM shapes (two operators with one shape) keep the median of their
  medians. -> kernel table ``matmul.csv`` with a ``provenance`` block in meta.json.

Every problem in a file raises `HarnessError` naming the file and line (the CLI prints it, exit 2).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.config.numbers import MAX_MAGNITUDE
from harness.files import write_text_atomic
from harness.errors import HarnessError
from harness.timing import collective_tables as ct
from harness.timing.sets import check_set_name
from kernels.files import exclusive_writer
from kernels.interrupts import interrupts_deferred

FORMATS: tuple[str, ...] = ("nccl-tests", "vidur-network", "vidur-compute")
COLLECTIVE_FORMATS: tuple[str, ...] = ("nccl-tests", "vidur-network")


@dataclass(frozen=True)
class Imported:
    """What one import produced: collective frames ``{op: frame}`` or kernel frames ``{op: frame}``, and notes."""

    collective_frames: dict[str, pd.DataFrame]
    kernel_frames: dict[str, pd.DataFrame]
    provenance: dict[str, Any]


def _error(path: Path, line: int | None, message: str) -> HarnessError:
    return HarnessError(f"{path}: line {line}: {message}" if line is not None else f"{path}: {message}")


# ---------------------------------------------------------------------------------------------------------------
# nccl-tests


_RANK_LINE = re.compile(r"#\s*Rank\s+(\d+)\s+(?:Group\s+\d+\s+)?Pid\s+\d+\s+on\s+(\S+)\s+device")
_PREFIX = re.compile(r"^\[[^\]]*\]<std(?:out|err)>:")  # mpirun --tag-output prefixes such as "[1,0]<stdout>:"


def read_nccl_tests(path: Path, op: str, place: str = "out", dtype: str | None = None,
                    impl: str = "nccl") -> Imported:
    """Parse nccl-tests output (see the module docstring) into one collective frame for ``op``."""
    if op not in ct.OPS:
        raise HarnessError(f"--op: unknown collective op {op!r}; known: {', '.join(ct.OPS)}")
    if place not in ("out", "in"):
        raise HarnessError(f"--place: expected out or in, got {place!r}")
    lines = [_PREFIX.sub("", raw).rstrip() for raw in path.read_text(errors="replace").splitlines()]
    ranks: dict[int, str] = {}
    header: list[str] | None = None
    iters = None
    rows, row_lines = [], []
    for number, text in enumerate(lines, start=1):
        stripped = text.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            match = _RANK_LINE.search(stripped)
            if match:
                ranks[int(match.group(1))] = match.group(2)
            found = re.search(r"(?<!warmup )(?<!agg )\biters:\s*(\d+)", stripped)
            if found:
                iters = int(found.group(1))
            tokens = stripped.lstrip("#").split()
            if tokens[:2] == ["size", "count"] and "time" in tokens:
                header = tokens
            continue
        tokens = stripped.split()
        # a result row starts with its size; log text (NCCL INFO lines) does not, nor has it the header's columns
        # with a count second (a row whose size is not a whole number is refused below, not skipped)
        if header is None or not (tokens[0].isdigit() or (len(tokens) == len(header) and tokens[1].isdigit())):
            continue
        if len(tokens) != len(header):
            raise _error(path, number, f"expected {len(header)} columns as in the header ({' '.join(header)}), "
                                       f"got {len(tokens)}")
        time_index = [i for i, name in enumerate(header) if name == "time"][0 if place == "out" else -1]
        try:
            size, time_us = float(tokens[0]), float(tokens[time_index])
        except ValueError:
            raise _error(path, number, f"expected numbers in columns size and time, got {tokens[0]!r}, "
                                       f"{tokens[time_index]!r}") from None
        if time_us < 0 or size < 0:
            raise _error(path, number, f"negative size or time ({tokens[0]}, {tokens[time_index]} us)")
        if not (size.is_integer() and size <= MAX_MAGNITUDE):
            raise _error(path, number, f"column size: expected a whole number of bytes up to 2**53, got {tokens[0]}")
        rows.append({"size_bytes": int(size), "time_ms": time_us / 1e3, "type": tokens[header.index("type")]})
        row_lines.append(number)
    if header is None:
        raise _error(path, None, "no nccl-tests column header ('# size count type ... time algbw busbw ...') found; "
                                 "is this nccl-tests output?")
    missing = [c for c in ("size", "time", "busbw") if c not in header]
    if missing:
        raise _error(path, None, f"the column header lacks {', '.join(missing)}")
    if not rows:
        raise _error(path, None, "no result rows after the column header")
    if not ranks:
        raise _error(path, None, "no '# Rank N ... on HOST device' lines: the rank count is unknown")
    n_ranks = len(ranks)
    hosts = len(set(ranks.values()))
    if n_ranks % hosts:
        raise _error(path, None, f"{n_ranks} ranks on {hosts} hosts: not the same count per host")
    types = sorted({r["type"] for r in rows})
    torch_dtypes = {"float": "float32", "half": "float16", "bfloat16": "bfloat16", "double": "float64",
                    "int32": "int32", "int8": "int8", "int64": "int64", "uint8": "uint8"}
    frame = pd.DataFrame({
        "n_ranks": n_ranks, "devices_per_node": n_ranks // hosts, "size_bytes": [r["size_bytes"] for r in rows],
        "impl": impl, "dtype": [dtype or torch_dtypes.get(r["type"], r["type"]) for r in rows],
        "time_ms_median": [r["time_ms"] for r in rows], "time_ms_p10": [r["time_ms"] for r in rows],
        "time_ms_p90": [r["time_ms"] for r in rows], "n_reps": iters or 1,
    })
    frame = ct.check_rows(path, frame, row_lines)
    notes = (f"nccl-tests {place}-of-place time (average over {iters or 'an unknown number of'} iterations; "
             f"p10 = median = p90 = that average); {n_ranks} ranks on {hosts} host(s); type {', '.join(types)}")
    return Imported({op: frame}, {}, {"notes": notes})


# ---------------------------------------------------------------------------------------------------------------
# Vidur


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        why = "; ".join(line.strip() for line in str(err).splitlines() if line.strip())  # pandas ends some with \n
        raise _error(path, None, f"not a readable CSV ({why})") from None
    return frame


def _require(path: Path, frame: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise _error(path, 1, f"missing column(s) {', '.join(missing)}")


def _numbers(path: Path, frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Columns as floats; a non-number, a non-finite, a negative value or one above 2**53 names its line."""
    out = {}
    for column in columns:
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values) | (values < 0) | (values > MAX_MAGNITUDE))
        if bad.size:
            i = int(bad[0])
            what = ("not a finite number" if not np.isfinite(values[i]) else "negative" if values[i] < 0
                    else "above 2**53")
            raise _error(path, int(frame.index[i]) + 2, f"column {column}: {what}: {frame[column].iloc[i]!r}")
        out[column] = values
    return pd.DataFrame(out)


VIDUR_OPS = {"all_reduce": "all_reduce", "send_recv": "p2p", "all_gather": "all_gather",
             "reduce_scatter": "reduce_scatter", "broadcast": "broadcast"}


def read_vidur_network(path: Path, dtype: str = "float16", impl: str = "nccl") -> Imported:
    """Vidur's network CSV (see the module docstring) into collective frames, one per collective present."""
    frame = _read_csv(path)
    _require(path, frame, ["num_workers", "size", "collective", "devices_per_node"])
    out: dict[str, pd.DataFrame] = {}
    for collective, rows in frame.groupby("collective", sort=True):
        if collective not in VIDUR_OPS:
            line = int(rows.index[0]) + 2
            raise _error(path, line, f"column collective: unknown {collective!r}; known: {', '.join(VIDUR_OPS)}")
        stats = [f"time_stats.{collective}.{s}" for s in ("min", "max", "median")]
        _require(path, frame, stats)
        values = _numbers(path, rows, ["num_workers", "size", "devices_per_node", *stats])
        op = VIDUR_OPS[collective]
        n = values["num_workers"]
        bad = np.flatnonzero((n < 1) | (n % 1 != 0))
        if bad.size:  # checked here, not as check_rows's n_ranks: a column this file does not have
            i = int(bad[0])
            raise _error(path, int(rows.index[i]) + 2,
                         f"column num_workers: expected a whole number >= 1, got {rows['num_workers'].iloc[i]!r}")
        size = values["size"] * (n if op in ("all_gather", "reduce_scatter") else 1)
        table = pd.DataFrame({
            "n_ranks": n.to_numpy(), "devices_per_node": np.minimum(values["devices_per_node"], n).to_numpy(),
            "size_bytes": size.to_numpy(), "impl": impl, "dtype": dtype,
            "time_ms_median": values[stats[2]].to_numpy(), "time_ms_p10": values[stats[0]].to_numpy(),
            "time_ms_p90": values[stats[1]].to_numpy(), "n_reps": 1,
        })
        out[op] = ct.check_rows(path, table, [int(i) + 2 for i in rows.index])
    if not out:
        raise _error(path, None, "no rows")
    notes = ("Vidur network profile: median of CUDA-timed runs in ms; p10/p90 hold Vidur's min/max (it records "
             "no percentiles); n_reps not recorded by the source, written as 1; sizes in bytes of fp16 buffers")
    return Imported(out, {}, {"notes": notes})


VIDUR_GEMMS = ("attn_pre_proj", "attn_post_proj", "mlp_up_proj", "mlp_down_proj")
VIDUR_MODEL_COLUMNS = ["n_head", "n_kv_head", "n_embd", "n_expanded_embd", "num_tokens",
                       "num_tensor_parallel_workers"]


def _gemm_shape(name: str, row: pd.Series, gated: bool) -> tuple[float, float, float]:
    """``(m, n, k)`` of one of Vidur's four GEMMs (column-parallel: n split by tp; row-parallel: k split)."""
    tp = row["num_tensor_parallel_workers"]
    head_dim = row["n_embd"] / row["n_head"]
    m = row["num_tokens"]
    if name == "attn_pre_proj":
        return m, (row["n_head"] + 2 * row["n_kv_head"]) * head_dim / tp, row["n_embd"]
    if name == "attn_post_proj":
        return m, row["n_embd"], row["n_head"] * head_dim / tp
    if name == "mlp_up_proj":
        return m, (2 if gated else 1) * row["n_expanded_embd"] / tp, row["n_embd"]
    return m, row["n_embd"], row["n_expanded_embd"] / tp  # mlp_down_proj


def read_vidur_compute(path: Path, dtype: str = "float16", impl: str = "torch") -> Imported:
    """Vidur's per-model ``mlp.csv`` into ``matmul`` rows (module docstring)."""
    frame = _read_csv(path)
    _require(path, frame, [*VIDUR_MODEL_COLUMNS, "use_gated_mlp"])
    present = [g for g in VIDUR_GEMMS if f"time_stats.{g}.median" in frame.columns]
    if not present:
        raise _error(path, 1, f"no time_stats.<op>.median column for any of {', '.join(VIDUR_GEMMS)}; is this "
                              "Vidur's mlp.csv?")
    stats = [f"time_stats.{g}.{s}" for g in present for s in ("min", "max", "median")]
    _require(path, frame, stats)
    values = _numbers(path, frame, [*VIDUR_MODEL_COLUMNS, *stats])
    if values.empty:
        raise _error(path, None, "no rows")
    for column in ("n_head", "num_tensor_parallel_workers"):  # divisors of the GEMM shapes
        zero = np.flatnonzero(values[column].to_numpy() == 0)
        if zero.size:
            raise _error(path, int(zero[0]) + 2, f"column {column}: expected a number > 0, got "
                                                 f"{frame[column].iloc[int(zero[0])]!r}")
    flags = frame["use_gated_mlp"].str.strip().str.lower()
    unknown = np.flatnonzero(~flags.isin(["true", "false", "1", "0"]).to_numpy())
    if unknown.size:
        raise _error(path, int(unknown[0]) + 2, f"column use_gated_mlp: expected True or False, got "
                                                f"{frame['use_gated_mlp'].iloc[int(unknown[0])]!r}")
    gated = flags.isin(["true", "1"]).to_numpy()
    records = []
    for i, row in values.iterrows():
        for name in present:
            low, high, median = (row[f"time_stats.{name}.{s}"] for s in ("min", "max", "median"))
            if not low <= median <= high:
                raise _error(path, i + 2, f"{name}: expected min <= median <= max, got {low:g}, {median:g}, "
                                          f"{high:g} ms")
            m, n, k = _gemm_shape(name, row, bool(gated[i]))
            if not all(float(v).is_integer() and 0 < v <= MAX_MAGNITUDE for v in (m, n, k)):
                raise _error(path, i + 2, f"{name}: the model dimensions give the GEMM shape m={m:g}, n={n:g}, "
                                          f"k={k:g}; expected whole numbers from 1 to 2**53")
            records.append({"m": int(m), "n": int(n), "k": int(k), "median": row[f"time_stats.{name}.median"],
                            "p10": row[f"time_stats.{name}.min"], "p90": row[f"time_stats.{name}.max"]})
    gemms = pd.DataFrame(records)
    merged = gemms.groupby(["m", "n", "k"], sort=True).agg(
        time_ms_median=("median", "median"), time_ms_p10=("p10", "min"), time_ms_p90=("p90", "max"),
        n_reps=("median", "size")).reset_index()
    merged.insert(3, "impl", impl)
    merged.insert(4, "dtype", dtype)
    skipped = sorted({c.split(".")[1] for c in frame.columns if c.startswith("time_stats.")} - set(present))
    notes = (f"Vidur operator profile: GEMMs {', '.join(present)} as matmul rows (median of CUDA-timed runs in "
             f"ms; p10/p90 hold min/max; n_reps counts the operators merged into one shape); not imported (no "
             f"table of ours for them): {', '.join(skipped) or 'none'}")
    return Imported({}, {"matmul": merged}, {"notes": notes, "not_imported": skipped})


# ---------------------------------------------------------------------------------------------------------------
# writing


def read(fmt: str, path: Path, *, op: str = "all_reduce", place: str = "out", dtype: str | None = None) -> Imported:
    """Parse ``path`` in format ``fmt`` (one of `FORMATS`)."""
    if fmt not in FORMATS:
        raise HarnessError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    if dtype is not None:
        from kernels.basic_ops import FLOAT_DTYPES  # the dtypes tables hold and scenarios select (imports torch)

        if dtype not in FLOAT_DTYPES:
            raise HarnessError(f"--dtype: unknown dtype {dtype!r}; known: {', '.join(FLOAT_DTYPES)}")
    if path.is_dir():
        raise HarnessError(f"{path}: is a folder, not a file")
    if not path.is_file():
        raise HarnessError(f"{path}: " + ("not a regular file (a pipe, device or socket)" if path.exists()
                                          else "no such file"))
    if fmt == "nccl-tests":
        return read_nccl_tests(path, op, place, dtype)
    if fmt == "vidur-network":
        return read_vidur_network(path, dtype or "float16")
    return read_vidur_compute(path, dtype or "float16")


def provenance_for(fmt: str, path: Path, imported: Imported, *, source: str | None, version: str | None,
                   licence: str | None, measured: str | None) -> dict[str, Any]:
    """The provenance block: what the user says (source, version, licence, what was measured) plus the file."""
    defaults = {"vidur-network": ("microsoft/vidur data/profiling/network", "MIT"),
                "vidur-compute": ("microsoft/vidur data/profiling/compute", "MIT"),
                "nccl-tests": ("nccl-tests output", None)}
    default_source, default_licence = defaults[fmt]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"source": source or default_source, "version": version, "licence": licence or default_licence,
            "measured": measured, "imported_from": f"{path.name} (sha256 {digest[:16]}, format {fmt})",
            "notes": imported.provenance.get("notes"),
            **({"not_imported": imported.provenance["not_imported"]} if "not_imported" in imported.provenance else {})}


def write_kernel_tables(folder: Path, frames: dict[str, pd.DataFrame], provenance: dict[str, Any],
                        device_name: str) -> list[Path]:
    """Write kernel tables plus meta.json (`kernels.timing_schema`) into an imported table set.

    Refuses a folder whose meta.json has no ``provenance`` block: that holds tables measured by ``harness
    profile``, which an import must never overwrite.
    """
    from harness.timing.table import load_meta
    from kernels.timing_schema import SCHEMA_VERSION

    meta_path = folder / "meta.json"
    ops: dict[str, Any] = {}
    if meta_path.is_file():
        existing = load_meta(folder)
        if "provenance" not in existing:
            raise HarnessError(f"{folder}: holds tables measured by `harness profile`; import into another table "
                               f"set (--device {folder.name}_imported) and select it with timings.table_set")
        ops = dict(existing["ops"])
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for op, frame in frames.items():
        written.append(write_text_atomic(folder / f"{op}.csv", frame.to_csv(index=False, float_format="%.9g")))
        ops[op] = {"shape_columns": [c for c in frame.columns if c not in
                                     ("impl", "dtype", "time_ms_median", "time_ms_p10", "time_ms_p90", "n_reps")],
                   "rows": len(frame)}
    meta = {"schema_version": SCHEMA_VERSION, "device": folder.name, "device_name": device_name,
            "torch": None, "triton": None, "cuda": None,
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "timer": f"imported: {provenance.get('notes')}", "kernel_source_sha256": None, "ops": ops,
            "roofline": {}, "provenance": provenance}
    written.append(write_text_atomic(meta_path, json.dumps(meta, indent=1) + "\n"))
    return written


def import_file(fmt: str, path: Path, device: str, root: Path, *, op: str = "all_reduce", place: str = "out",
                dtype: str | None = None, source: str | None = None, version: str | None = None,
                licence: str | None = None, measured: str | None = None) -> tuple[Imported, list[Path]]:
    """Parse and write: collective formats into ``<root>/<device>/collectives/``, compute into ``<root>/<device>/``.

    Ctrl-C and SIGTERM wait until the tables and their meta.json are all written (`kernels.interrupts`), so an
    interrupted import leaves the folder as it was or fully imported, never a table its meta.json disagrees with.
    """
    check_set_name("--device", device)
    imported = read(fmt, path, op=op, place=place, dtype=dtype)
    provenance = provenance_for(fmt, path, imported, source=source, version=version, licence=licence,
                                measured=measured)
    with exclusive_writer(root / device, "an import"), interrupts_deferred():
        if imported.collective_frames:
            written = ct.write_collective_tables(root / device, imported.collective_frames, provenance)
        else:
            written = write_kernel_tables(root / device, imported.kernel_frames, provenance,
                                          device_name=measured or f"{device} (imported)")
    return imported, written
