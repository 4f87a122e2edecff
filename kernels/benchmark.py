"""Side-by-side benchmark of our kernels against their baselines, measured in the same run.

Per op and shape: our implementation's time (Triton on a GPU; the torch reference on the CPU), the baseline's time
(the op's ``baseline`` impl, e.g. dense SwiGLU, the torch tile-Hadamard quantizer, flat ``torch.topk``; else the
torch reference), the speedup (baseline / ours), and our achieved bandwidth (the op's minimal bytes / our time)
against the device's copy bandwidth measured at the start of the same run. Timers: `kernels.profiler.time_call`.
Ops (`bench_ops`): every registered op with a torch or Triton implementation except the two roofline ceilings
(``matmul``, ``copy``); the rest (`why_not_benched`) have their tables from `harness profile` only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from kernels.ops import TimedOp
from kernels.profiler import TimerSettings, measure_roofline, select_ops, time_call


@dataclass(frozen=True)
class BenchRow:
    op: str
    shape: dict[str, int]
    dtype: str
    ours_impl: str
    ours_ms: float
    baseline_impl: str | None
    baseline_ms: float | None
    speedup: float | None
    achieved_gbps: float
    copy_fraction: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


#: ops a bench run does not compare: the two roofline ceilings, measured at its start for the GB/s columns
CEILING_OPS: tuple[str, ...] = ("matmul", "copy")


def why_not_benched(op: TimedOp) -> str | None:
    """Why ``op`` has no bench row (None: it has one): a roofline ceiling, or no torch/Triton implementation to
    time (the optimizer steps' impls are torch's own loop variants, which `harness profile` times)."""
    if op.name in CEILING_OPS:
        return "a roofline ceiling; timed by 'harness profile'"
    if not {"torch", "triton"} & set(op.impls or {}):
        return f"impls {', '.join(op.impls or {}) or 'none'}, no torch or triton one; timed by 'harness profile'"
    return None


def bench_ops() -> list[str]:
    """The registered ops a bench run compares (every op `why_not_benched` lets through), sorted."""
    from kernels.ops import load_all_ops

    return [name for name, op in load_all_ops().items() if why_not_benched(op) is None]


def ours_impl(op: TimedOp, device: str, allow_interpreted_triton: bool = False) -> str | None:
    impls = op.impls or {}
    if "triton" in impls and (device != "cpu" or allow_interpreted_triton):
        return "triton"
    return "torch" if "torch" in impls else None


def baseline_impl(op: TimedOp, ours: str) -> str | None:
    candidate = op.baseline or "torch"
    return candidate if candidate in (op.impls or {}) and candidate != ours else None


def bench_op(
    op: TimedOp,
    device: str,
    shapes: Sequence[dict[str, int]],
    gen: torch.Generator,
    copy_gbytes_per_s: float,
    settings: TimerSettings = TimerSettings(),
    *,
    allow_interpreted_triton: bool = False,
    log: Callable[[str], None] = print,
) -> list[BenchRow]:
    """Our impl vs the baseline for every shape and dtype of ``op`` (failures are logged and skipped)."""
    ours = ours_impl(op, device, allow_interpreted_triton)
    if ours is None:
        return []
    base = baseline_impl(op, ours)
    rows = []
    for shape in shapes:
        for dtype in op.dtypes:
            try:
                args = op.make_inputs(shape, dtype, device, gen)
                times = {}
                for impl in (ours, base):
                    if impl is None:
                        continue
                    fn = op.impls[impl]
                    fn(*args)  # compile / autotune first
                    times[impl] = time_call(lambda fn=fn, args=args: fn(*args), device, settings).time_ms_median
            except Exception as err:  # noqa: BLE001 - one failing shape must not end the benchmark
                log(f"  {op.name} {dict(shape)} {dtype}: failed: {type(err).__name__}: {err}")
                continue
            ours_ms = times[ours]
            base_ms = times.get(base) if base else None
            gbps = op.bytes_moved(shape, dtype) / (ours_ms * 1e-3) / 1e9
            rows.append(
                BenchRow(
                    op=op.name, shape=dict(shape), dtype=dtype, ours_impl=ours, ours_ms=ours_ms, baseline_impl=base,
                    baseline_ms=base_ms, speedup=(base_ms / ours_ms) if base_ms else None, achieved_gbps=gbps,
                    copy_fraction=gbps / copy_gbytes_per_s,
                )
            )
            del args
    return rows


def run_bench(
    device: str = "cpu",
    ops: Sequence[str] | None = None,
    grid: str = "quick",
    seed: int = 0,
    settings: TimerSettings = TimerSettings(),
    *,
    allow_interpreted_triton: bool = False,
    log: Callable[[str], None] = print,
) -> tuple[list[BenchRow], dict[str, Any]]:
    """Benchmark ``ops`` (default: every op of `bench_ops`) over the grid; returns (rows, measured roofline).

    Raises:
        ValueError: an op named in ``ops`` that bench does not compare (`why_not_benched`).
    """
    chosen = select_ops(ops or bench_ops())
    refused = [f"{op.name} ({why})" for op in chosen if (why := why_not_benched(op))]
    if refused:
        raise ValueError(f"bench does not run {'; '.join(refused)}")
    roofline = measure_roofline(device, settings)
    gen = torch.Generator().manual_seed(seed)
    rows: list[BenchRow] = []
    for op in chosen:
        shapes = op.quick_grid if grid == "quick" else op.grid
        rows += bench_op(
            op, device, shapes, gen, roofline["copy_gbytes_per_s"], settings,
            allow_interpreted_triton=allow_interpreted_triton, log=log,
        )
        log(f"  {op.name}: done")
    return rows, roofline


def format_rows(rows: Sequence[BenchRow], copy_gbytes_per_s: float) -> str:
    """A fixed-width text table of benchmark rows."""
    head = f"{'op':<15} {'shape':<44} {'dtype':<9} {'ours':<7} {'ours_ms':>9} {'baseline':<19} {'base_ms':>9} " \
           f"{'speedup':>8} {'GB/s':>8} {'%copy':>6}"
    lines = [f"copy bandwidth measured in this run: {copy_gbytes_per_s:.1f} GB/s", head, "-" * len(head)]
    for r in rows:
        shape = ",".join(f"{k}={v}" for k, v in r.shape.items())
        base_ms = f"{r.baseline_ms:9.4f}" if r.baseline_ms is not None else f"{'-':>9}"
        speed = f"{r.speedup:7.2f}x" if r.speedup is not None else f"{'-':>8}"
        lines.append(
            f"{r.op:<15} {shape:<44.44} {r.dtype:<9} {r.ours_impl:<7} {r.ours_ms:9.4f} {r.baseline_impl or '-':<19} "
            f"{base_ms} {speed} {r.achieved_gbps:8.1f} {100 * r.copy_fraction:5.1f}%"
        )
    return "\n".join(lines)
