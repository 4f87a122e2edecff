"""Times every registered op over its shape grid on this machine and writes timing tables.

Output (DESIGN.md "Timing tables", schema in `kernels.timing_schema`): ``<out>/<device>/<op>.csv`` (shape columns,
then impl, dtype, time_ms_median/p10/p90, n_reps) and ``<out>/<device>/meta.json`` (provenance + the device's
measured roofline: copy bandwidth counting bytes read + written, matmul TFLOP/s per dtype (the best of a square
matmul and every matmul table row), kernel floor and dispatch gap (`measure_kernel_model`)). Files are written
atomically (temporary file + rename); tables of ops not profiled this time are kept and stay listed in meta.json.

Timers: on a GPU, ``triton.testing.do_bench`` (CUDA events around each call, L2 flushed between calls, warm-up
first) returning every repeat; on the CPU, ``time.perf_counter_ns`` around each call after a warm-up, repeated
until a time budget is spent, the cores' private caches flushed before every call (outside the timed window) as
on the GPU. Both report the median and the 10th/90th percentiles.

Why the CPU flush: in a training step some 40 other ops (their code and data) pass through the caches
between two calls of the same op, so an op starts with its weights, its code and the allocator's and
dispatcher's state evicted from the core's L2; an op repeated back to back finds all of them hot. Measured on the
2-core dev VM (1 thread, 2 MiB L2 per core): RMSNorm on (128, 64) takes 24 us repeated warm, ~51 us inside a
real TinyLlama step and ~80 us after a flush; summed over a step's ops, warm repeats under-predict real steps by
12-32% at every model size (`harness.fidelity.compute`). The flush writes `TimerSettings.cpu_flush_bytes`
(default `default_cpu_flush_bytes`: four times the private L2 of all cores, 16 MiB here). It makes the inputs
cold as well, while in a step an activation was just written by its producer. One flush size cannot fit every
step: the flush a real step matches grows with the bytes the step holds, from about 2 MiB for a 0.24M-parameter
model to 32-128 MiB for a 7.9M one (`benchmarks/cpu_cache_state.py`), so with 16 MiB small models come out
slower than their real steps and the largest faster. ``--cpu-flush-mib`` profiles the same ops after another
flush (recorded as ``cpu_flush_bytes`` in meta.json); sets of several sizes form a cache-state family that
`harness.timing.cache_state` blends at the bytes a step touches (``scripts/profile_cpu_cache_state.sh``).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import os
import platform
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from kernels.files import exclusive_writer, write_text_atomic
from kernels.interrupts import interrupts_deferred
from kernels.ops import TimedOp, load_all_ops
from kernels.timing_schema import MEASUREMENT_COLUMNS, META_KEYS, SCHEMA_VERSION

GRIDS: tuple[str, ...] = ("quick", "default")
KERNEL_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class TimerSettings:
    """How long to time one (shape, impl): GPU warm-up/repeat windows in ms, CPU budget in s."""

    gpu_warmup_ms: float = 10.0
    gpu_rep_ms: float = 40.0
    cpu_budget_s: float = 0.25
    cpu_min_reps: int = 3
    cpu_max_reps: int = 200
    #: bytes written before every timed CPU call to evict the cores' private caches (0: no flush); None: the
    #: machine's `default_cpu_flush_bytes`
    cpu_flush_bytes: int | None = None

    def flush_bytes(self) -> int:
        return default_cpu_flush_bytes() if self.cpu_flush_bytes is None else max(0, int(self.cpu_flush_bytes))


#: flush size where the L2 size cannot be read (16 MiB: four times the 2 x 2 MiB L2 of the dev VM)
FALLBACK_CPU_FLUSH_BYTES = 16 << 20


def _size_bytes(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    return int(text.rstrip("KMG")) * scale


def default_cpu_flush_bytes() -> int:
    """Four times the private L2 caches of all logical cores (Linux sysfs; an L2 shared by two logical cores is
    counted once per core, which only makes the flush larger); `FALLBACK_CPU_FLUSH_BYTES` where unknown."""
    try:
        for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
            if (index / "level").read_text().strip() == "2" and (index / "type").read_text().strip() != "Instruction":
                return 4 * _size_bytes((index / "size").read_text()) * (os.cpu_count() or 1)
    except (OSError, ValueError):
        pass
    return FALLBACK_CPU_FLUSH_BYTES


@dataclass(frozen=True)
class Measurement:
    time_ms_median: float
    time_ms_p10: float
    time_ms_p90: float
    n_reps: int

    @classmethod
    def from_times(cls, times_ms: Sequence[float]) -> "Measurement":
        t = np.asarray(times_ms, dtype=np.float64)
        p10, median, p90 = np.percentile(t, [10, 50, 90])
        return cls(float(median), float(min(p10, median)), float(max(p90, median)), int(t.size))


# ---------------------------------------------------------------------------------------------------------------
# device naming and timers


def device_folder(device: str) -> str:
    """Timing-table folder name: ``cpu``, or the GPU family (``h100``, ``h200``, ``a100`` ...), else ``cuda``."""
    if device == "cpu":
        return "cpu"
    name = torch.cuda.get_device_name(torch.device(device)).lower()
    for family in ("h200", "h100", "gh200", "b200", "a100", "l40s", "l4", "a10"):
        if family in name:
            return family
    return "cuda"


def device_name(device: str) -> str:
    if device == "cpu":
        return (
            f"{platform.processor() or platform.machine()} ({os.cpu_count()} logical cores; "
            f"torch uses {torch.get_num_threads()} thread(s))"
        )
    return torch.cuda.get_device_name(torch.device(device))


def time_call(fn: Callable[[], Any], device: str, settings: TimerSettings = TimerSettings()) -> Measurement:
    """Median and 10/90th percentiles of ``fn()``'s run time on ``device``."""
    if device == "cpu":
        flush_bytes = settings.flush_bytes()
        flush = torch.empty(flush_bytes // 4, dtype=torch.float32) if flush_bytes >= 4 else None
        fn()  # warm-up
        times: list[float] = []
        deadline = time.perf_counter() + settings.cpu_budget_s
        while len(times) < settings.cpu_min_reps or (
            time.perf_counter() < deadline and len(times) < settings.cpu_max_reps
        ):
            if flush is not None:
                flush.fill_(1.0)  # evict the private caches (untimed): a step runs other ops between two calls
            start = time.perf_counter_ns()
            fn()
            times.append((time.perf_counter_ns() - start) / 1e6)
        return Measurement.from_times(times)
    import triton.testing

    times = triton.testing.do_bench(fn, warmup=settings.gpu_warmup_ms, rep=settings.gpu_rep_ms, return_mode="all")
    return Measurement.from_times(times)


def timer_description(device: str, settings: TimerSettings = TimerSettings()) -> str:
    if device == "cpu":
        flush = settings.flush_bytes()
        flushed = (f"; {flush / (1 << 20):g} MiB written before every call (private caches flushed, untimed)"
                   if flush >= 4 else "; no cache flush")
        return (
            f"time.perf_counter_ns per call after 1 warm-up call; repeated >= {settings.cpu_min_reps} times and "
            f"until {settings.cpu_budget_s:.3g} s (max {settings.cpu_max_reps}){flushed}; median, p10, p90"
        )
    return (
        f"triton.testing.do_bench (CUDA events per call, L2 flushed between calls), warm-up "
        f"{settings.gpu_warmup_ms} ms, repeats over {settings.gpu_rep_ms} ms; median, p10, p90"
    )


def _synchronize(device: str) -> None:
    if device != "cpu":
        torch.cuda.synchronize(torch.device(device))


# ---------------------------------------------------------------------------------------------------------------
# roofline ceilings


def measure_roofline(device: str, settings: TimerSettings = TimerSettings()) -> dict[str, Any]:
    """Copy bandwidth (GB/s, read + write counted) and matmul TFLOP/s per dtype, measured here."""
    gpu = device != "cpu"
    copy_numel = (1 << 28) if gpu else (1 << 24)  # 1 GiB / 64 MiB of fp32
    src = torch.randn(copy_numel, device=device)
    dst = torch.empty_like(src)
    copy = time_call(lambda dst=dst, src=src: dst.copy_(src), device, settings)
    copy_gbytes_per_s = 2 * src.numel() * src.element_size() / (copy.time_ms_median * 1e-3) / 1e9
    del src, dst
    n = 8192 if gpu else 1024
    dtypes = ("bfloat16", "float16", "float32") if gpu else ("float32", "bfloat16")
    tflops: dict[str, float] = {}
    for name in dtypes:
        size = n if (gpu or name == "float32") else n // 2
        a = torch.randn(size, size, device=device).to(getattr(torch, name))
        b = torch.randn(size, size, device=device).to(getattr(torch, name))
        mm = time_call(lambda: a @ b, device, settings)
        tflops[name] = 2.0 * size**3 / (mm.time_ms_median * 1e-3) / 1e12
    return {
        "copy_gbytes_per_s": copy_gbytes_per_s,
        "matmul_tflops": tflops,
        "copy_bytes": 2 * copy_numel * 4,
        "matmul_size": n,
        "method": "copy: dst.copy_(src) of fp32, GB/s = (bytes read + written) / median time; "
        "matmul: a @ b of random square matrices, 2 n^3 / median time",
    }


#: tiny ops issued back to back for the dispatch gap
DISPATCH_SEQUENCE = 100


def measure_kernel_model(device: str, settings: TimerSettings = TimerSettings()) -> dict[str, Any]:
    """Kernel floor and dispatch gap of ``device`` in microseconds, timed with `time_call` (the table timer).

    * ``kernel_floor_us``: median time of one tiny op, ``x.add_(1.0)`` on a 1-element fp32 tensor, timed alone
      as a table row is (CPU: ``perf_counter_ns`` around the call, but warm, without the cache flush: the floor
      is a lower bound of every prediction, and a warm tiny op is the least any call takes, also below the rows
      of tables timed before the flush came in; GPU: CUDA events around the call, ``do_bench``'s L2 flush
      running before it): launch or dispatch plus the least work a kernel does. The
      replay never predicts less.
    * ``dispatch_gap_us``: ``max(0, T_N / N - kernel_floor_us)``, ``T_N`` the median time of ``N`` =
      `DISPATCH_SEQUENCE` such ops issued back to back in one timed region: what each further kernel adds to a
      sequence beyond its own timed run. On a GPU an isolated timing starts with the kernel already queued
      (behind the flush), so it hides the launch cost that a stream of short kernels pays; on a CPU each timed
      call already includes its dispatch, so the gap is near 0.
    """
    x = torch.zeros(1, device=device)
    settings = dataclasses.replace(settings, cpu_flush_bytes=0)  # warm: see above

    def sequence() -> None:
        for _ in range(DISPATCH_SEQUENCE):
            x.add_(1.0)

    floor_us = time_call(lambda: x.add_(1.0), device, settings).time_ms_median * 1e3
    per_op_us = time_call(sequence, device, settings).time_ms_median * 1e3 / DISPATCH_SEQUENCE
    return {
        "kernel_floor_us": floor_us,
        "dispatch_gap_us": max(0.0, per_op_us - floor_us),
        "kernel_model_method": f"floor: median time of one x.add_(1.0) on a 1-element fp32 tensor, timed alone "
        f"(warm: no cache flush); "
        f"gap: max(0, median time of {DISPATCH_SEQUENCE} such ops back to back / {DISPATCH_SEQUENCE} - floor)",
    }


def fold_best_matmul_rates(roofline: dict[str, Any], rows: Sequence[dict[str, Any]]) -> None:
    """Raise ``roofline["matmul_tflops"][dtype]`` to the best rate among matmul table ``rows`` (the device's
    peak is the best measured rate, not the rate of one square shape)."""
    for row in rows:
        if row["time_ms_median"] > 0:
            tflops = 2.0 * row["m"] * row["n"] * row["k"] / (row["time_ms_median"] * 1e-3) / 1e12
            if tflops > roofline["matmul_tflops"].get(row["dtype"], 0.0):
                roofline["matmul_tflops"][row["dtype"]] = tflops
                roofline["matmul_tflops_from"] = "best of the square matmul and every row of matmul.csv"


def _kept_meta(folder: Path) -> dict[str, Any]:
    """``folder``'s meta.json as written by an earlier profile ({} when absent, unreadable or not an object)."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        return {}
    return meta if isinstance(meta, dict) else {}


def fold_kept_copy_bandwidth(roofline: dict[str, Any], folder: Path) -> None:
    """Keep ``folder``'s recorded copy bandwidth when it is higher than the one measured now (the device's
    bandwidth is the best measured rate, not one moment's: a partial profile re-measures it once)."""
    kept_roofline = _kept_meta(folder).get("roofline")
    kept = kept_roofline.get("copy_gbytes_per_s") if isinstance(kept_roofline, dict) else None
    if isinstance(kept, (int, float)) and kept > roofline["copy_gbytes_per_s"]:
        roofline["copy_gbytes_per_s"] = float(kept)
        roofline["copy_gbytes_per_s_from"] = "best of this profile's copy and the one kept in meta.json"


def _kept_timer(folder: Path, name: str) -> str:
    """The timer ``folder``'s meta.json records for table ``name`` ("timer unknown" where it records none)."""
    meta = _kept_meta(folder)
    try:
        return str(meta["ops"][name].get("timer") or meta["timer"])
    except (KeyError, TypeError, AttributeError):
        return "timer unknown"


def kept_rows(folder: Path, op: TimedOp) -> list[dict[str, Any]]:
    """The rows of ``folder``'s table of ``op`` (none when absent), typed as `profile_op` returns them."""
    path = folder / f"{op.name}.csv"
    if not path.is_file():
        return []
    table = pd.read_csv(path, dtype={"impl": str, "dtype": str})
    integers = [*op.shape_columns, "n_reps"]
    return [{c: (int(v) if c in integers else v if c in ("impl", "dtype") else float(v)) for c, v in row.items()}
            for row in table.to_dict("records")]


# ---------------------------------------------------------------------------------------------------------------
# profiling one op


def _runnable_impls(op: TimedOp, device: str, allow_interpreted_triton: bool) -> list[str]:
    names = sorted(op.impls or {})
    if device == "cpu" and not allow_interpreted_triton:
        names = [n for n in names if not n.startswith("triton")]
    return names


def profile_op(
    op: TimedOp,
    device: str,
    shapes: Iterable[dict[str, int]],
    gen: torch.Generator,
    settings: TimerSettings = TimerSettings(),
    *,
    allow_interpreted_triton: bool = False,
    dtypes: Sequence[str] | None = None,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Time every (shape, dtype, impl) of ``op`` (only the ``dtypes`` named, when given); one row per measurement.
    A failing impl is logged and skipped."""
    rows: list[dict[str, Any]] = []
    impls = _runnable_impls(op, device, allow_interpreted_triton)
    op_dtypes = [d for d in op.dtypes if dtypes is None or d in dtypes]
    for shape in shapes:
        for dtype in op_dtypes:
            try:
                args = op.make_inputs(shape, dtype, device, gen)
            except Exception as err:  # noqa: BLE001 - report and go on with the next shape
                log(f"  {op.name} {dict(shape)} {dtype}: inputs failed: {type(err).__name__}: {err}")
                continue
            for impl in impls:
                fn = op.impls[impl]
                try:
                    fn(*args)  # first call: compile / autotune outside the timed window
                    _synchronize(device)
                    m = time_call(lambda fn=fn, args=args: fn(*args), device, settings)
                except Exception as err:  # noqa: BLE001
                    log(f"  {op.name} {dict(shape)} {dtype} {impl}: failed: {type(err).__name__}: {err}")
                    continue
                rows.append({**{c: shape[c] for c in op.shape_columns}, "impl": impl, "dtype": dtype, **m.__dict__})
            del args
    return rows


# ---------------------------------------------------------------------------------------------------------------
# writing tables


def kernel_source_sha256() -> str:
    """sha256 over the sources of every module in ``kernels/`` (sorted by name)."""
    digest = hashlib.sha256()
    for path in sorted(KERNEL_DIR.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _csv_text(op: TimedOp, rows: list[dict[str, Any]]) -> str:
    columns = list(op.shape_columns) + list(MEASUREMENT_COLUMNS)
    lines = [",".join(columns)]
    for row in rows:
        cells = []
        for column in columns:
            value = row[column]
            cells.append(f"{value:.6g}" if isinstance(value, float) else str(value))
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def _versions() -> dict[str, Any]:
    try:
        import triton

        triton_version = triton.__version__
    except ImportError:
        triton_version = None
    return {"torch": torch.__version__, "triton": triton_version, "cuda": torch.version.cuda}


def write_tables(
    folder: Path, device: str, tables: dict[str, tuple[TimedOp, list[dict[str, Any]]]], roofline: dict[str, Any],
    timer: str, cpu_flush_bytes: int | None = None,
) -> Path:
    """Write ``<op>.csv`` for each profiled op and a meta.json listing every table in ``folder``, each with the
    ``timer`` it was measured with (``timer`` for the ops written now; a kept table keeps its own), and, for a CPU
    profile, the ``cpu_flush_bytes`` written before every timed call. Ctrl-C and
    SIGTERM wait until the tables and meta.json are all written (`kernels.interrupts`), so they always agree."""
    ops_meta: dict[str, Any] = {}
    previous = _kept_meta(folder)
    if previous.get("schema_version") == SCHEMA_VERSION:
        for name, entry in previous.get("ops", {}).items():
            if name not in tables and (folder / f"{name}.csv").is_file():
                # a kept table keeps the timer it was measured with (the folder's timer at that time)
                ops_meta[name] = {**entry, "timer": entry.get("timer", previous.get("timer"))}
    texts = {}
    for name, (op, rows) in tables.items():
        texts[f"{name}.csv"] = _csv_text(op, rows)
        ops_meta[name] = {"shape_columns": list(op.shape_columns), "rows": len(rows), "timer": timer}
    meta = {
        "schema_version": SCHEMA_VERSION,
        "device": folder.name,
        "device_name": device_name(device),
        **_versions(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "timer": timer,
        "kernel_source_sha256": kernel_source_sha256(),
        "ops": dict(sorted(ops_meta.items())),
        "roofline": roofline,
        **({} if cpu_flush_bytes is None else {"cpu_flush_bytes": int(cpu_flush_bytes)}),
    }
    assert set(meta) - {"cpu_flush_bytes"} == set(META_KEYS), "meta.json keys drifted from kernels.timing_schema"
    texts["meta.json"] = json.dumps(meta, indent=1) + "\n"
    with interrupts_deferred():
        for file_name, text in texts.items():
            write_text_atomic(folder / file_name, text)
    return folder


def merge_passes(op: TimedOp, passes: Sequence[Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per (shape, impl, dtype) measured in any of ``passes`` (each a `profile_op` result): median,
    p10 and p90 are the medians over the passes of each pass's statistic (order kept: p10 <= median <= p90),
    ``n_reps`` their sum. Rows keep the order of their first appearance."""
    key_columns = [*op.shape_columns, "impl", "dtype"]
    grouped: dict[tuple, list[dict[str, Any]]] = {}
    for rows in passes:
        for row in rows:
            grouped.setdefault(tuple(row[c] for c in key_columns), []).append(row)
    merged = []
    for key, rows in grouped.items():
        stats = {c: float(np.median([r[c] for r in rows])) for c in ("time_ms_median", "time_ms_p10", "time_ms_p90")}
        merged.append({**dict(zip(key_columns, key)), **stats, "n_reps": int(sum(r["n_reps"] for r in rows))})
    return merged


def select_ops(names: Sequence[str] | None) -> list[TimedOp]:
    """The registered ops named (all when None); an unknown name raises KeyError listing the known ones."""
    registry = load_all_ops()
    if not names:
        return [op for _, op in registry.items()]
    return [registry.get(name) for name in names]


def run_profile(
    device: str = "cpu",
    ops: Sequence[str] | None = None,
    grid: str = "quick",
    out: Path | str = Path("results/timings"),
    seed: int = 0,
    settings: TimerSettings = TimerSettings(),
    *,
    folder_name: str | None = None,
    threads: int | None = None,
    max_shapes: int | None = None,
    dtypes: Sequence[str] | None = None,
    passes: int = 1,
    allow_interpreted_triton: bool = False,
    log: Callable[[str], None] = print,
) -> Path:
    """Profile ``ops`` (all registered when None) over the ``grid`` ("quick" | "default") on ``device`` and write
    the tables to ``<out>/<device folder>/``. Returns that folder.

    ``passes`` > 1 times every row that many times, in passes over all the ops chosen (each with the budget
    divided by ``passes``), and keeps per row the median over the passes (`merge_passes`): a machine whose speed
    changes for seconds at a time (the 2-vCPU dev VM: the same serial kernel's rows of the 1- and 2-thread sets
    differed by 0.5x to 1.85x in blocks of consecutive rows) no longer stamps one moment's speed on a block of
    consecutive rows. Tables are rewritten after every pass.

    ``threads`` sets torch's CPU thread count first (on a shared machine one thread gives steadier numbers:
    oversubscribed OpenMP barriers can slow a small bf16 GEMV a hundredfold). ``max_shapes`` keeps only the
    first shapes of each grid (smoke runs). ``dtypes`` keeps only those of each op's dtypes (an op with none of
    them is skipped; its table, if any, is kept as it was; an op's rows of other dtypes stay in its table). A profile without ``matmul`` folds the kept matmul
    table's best rate into the roofline, and a profile of some ops only keeps the folder's copy bandwidth where it
    is higher than the one measured now (the device's ceilings stay the best measured rates).
    """
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    if grid not in GRIDS:
        raise ValueError(f"grid must be one of {', '.join(GRIDS)}, got {grid!r}")
    if passes < 1:
        raise ValueError(f"passes must be >= 1, got {passes}")
    if device != "cpu" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available here")
    chosen = select_ops(ops)
    folder = Path(out) / (folder_name or device_folder(device))
    with exclusive_writer(folder, "a profile"):  # one writer per table set
        log(f"profiling {len(chosen)} op(s) on {device_name(device)} -> {folder}")
        started = time.perf_counter()
        roofline = {**measure_roofline(device, settings), **measure_kernel_model(device, settings)}
        log(
            f"  roofline: copy {roofline['copy_gbytes_per_s']:.1f} GB/s; matmul "
            + ", ".join(f"{k} {v:.2f} TFLOP/s" for k, v in roofline["matmul_tflops"].items())
            + f"; kernel floor {roofline['kernel_floor_us']:.2f} us, dispatch gap {roofline['dispatch_gap_us']:.2f} us"
        )
        # a partial profile keeps the device's best measured ceilings: the kept matmul table's peak, the kept copy rate
        chosen_names = {op.name for op in chosen}
        if "matmul" not in chosen_names:
            fold_best_matmul_rates(roofline, kept_rows(folder, load_all_ops().get("matmul")))
        if dtypes is not None or chosen_names != {op.name for op in select_ops(None)}:
            fold_kept_copy_bandwidth(roofline, folder)
        gen = torch.Generator().manual_seed(seed)
        pass_settings = dataclasses.replace(settings, cpu_budget_s=settings.cpu_budget_s / passes)
        timer = timer_description(device, pass_settings)
        if passes > 1:
            timer += f"; every row timed in {passes} passes over all the ops profiled, median over the passes"
        # a profile of some dtypes keeps the tables' rows of the other dtypes, with the timer they were measured with
        kept_other_dtypes: dict[str, tuple[list[dict[str, Any]], str]] = {}
        for op in chosen if dtypes is not None else ():
            others = [row for row in kept_rows(folder, op) if row["dtype"] not in dtypes]
            if others:
                kept_dtypes = ", ".join(sorted({r["dtype"] for r in others}))
                kept_other_dtypes[op.name] = (others, f"{timer}; {kept_dtypes} rows kept from an earlier profile "
                                                      f"({_kept_timer(folder, op.name)})")
        measured: dict[str, list[list[dict[str, Any]]]] = {}
        for pass_index in range(passes):
            if passes > 1:
                log(f" pass {pass_index + 1}/{passes}")
            for op in chosen:
                op_start = time.perf_counter()
                shapes = list(op.quick_grid if grid == "quick" else op.grid)[:max_shapes]
                if dtypes is not None and not set(op.dtypes) & set(dtypes):
                    if pass_index == 0:
                        log(f"  {op.name}: skipped (profiles {', '.join(op.dtypes)} only)")
                    continue
                measured.setdefault(op.name, []).append(profile_op(
                    op, device, shapes, gen, pass_settings, allow_interpreted_triton=allow_interpreted_triton,
                    dtypes=dtypes, log=log))
                rows = merge_passes(op, measured[op.name])
                others, op_timer = kept_other_dtypes.get(op.name, ([], timer))
                rows = others + rows
                if op.name == "matmul":
                    fold_best_matmul_rates(roofline, rows)
                # written op by op: an interrupted run keeps what it measured
                write_tables(folder, device, {op.name: (op, rows)}, roofline, op_timer,
                             cpu_flush_bytes=settings.flush_bytes() if device == "cpu" else None)
                log(f"  {op.name}: {len(rows)} rows in {time.perf_counter() - op_start:.1f} s")
        log(f"wrote {len(chosen)} table(s) to {folder} in {time.perf_counter() - started:.1f} s")
        return folder
