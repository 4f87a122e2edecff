"""The timing-table contract shared by the profiler (writes) and the replay (reads). DESIGN.md "Timing tables".

A table is ``results/timings/<device>/<op>.csv``: one row per measured shape, the op's shape parameters as
explicit numeric columns, then the fixed columns below. Beside the tables, ``meta.json`` records provenance.
"""

from __future__ import annotations

SCHEMA_VERSION = 1

#: columns every table has after its shape columns, in this order
MEASUREMENT_COLUMNS: tuple[str, ...] = (
    "impl",  # "triton" | "torch" (the reference) | another named implementation
    "dtype",  # "float32" | "bfloat16" | "float16" ...
    "time_ms_median",
    "time_ms_p10",
    "time_ms_p90",
    "n_reps",
)

#: keys meta.json must have
META_KEYS: tuple[str, ...] = (
    "schema_version",
    "device",  # the folder name, e.g. "cpu" or "h100"
    "device_name",  # what the hardware calls itself
    "torch",
    "triton",
    "cuda",
    "date",
    "timer",
    "kernel_source_sha256",
    "ops",  # {op_name: {"shape_columns": [...], "rows": int}}
    # measured on the device: {"copy_gbytes_per_s": float, "matmul_tflops": {dtype: float}, and optionally
    # "kernel_floor_us", "dispatch_gap_us" (kernels.profiler.measure_kernel_model), plus free-text method keys}
    "roofline",
)

#: keys meta.json may have: ``provenance`` of imported tables (source, version, licence, what was measured;
#: written by ``harness timings import``); ``cpu_flush_bytes``, the bytes a CPU profile wrote before every timed
#: call to evict the caches (the cache state its times belong to; `harness.timing.cache_state`)
OPTIONAL_META_KEYS: tuple[str, ...] = ("provenance", "cpu_flush_bytes")
