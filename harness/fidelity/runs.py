"""The measuring half of the fidelity study: plans (sizes, repeats, rates) and measurement groups as plain rows.

Needs only the standard library, numpy and torch (in the worker processes), so it also runs where the simulator's
dependencies are not installed: ``python -m harness.fidelity.runs --out raw.json`` measures the loopback setting
and writes the rows as JSON, which `harness.fidelity.study.result_from_raw` turns into the comparison tables.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.fidelity.launch import Loopback, reduce_rows, run_ranks
from harness.fidelity.measure import mlp_param_count
from harness.fidelity.quiet import wait_until_quiet

KIB, MIB = 1 << 10, 1 << 20
FLOAT32_BYTES = 4


@dataclass(frozen=True)
class MlpShape:
    """The data-parallel model: ``depth`` Linear(width, width) layers, ``batch`` rows per rank."""

    width: int
    depth: int
    batch: int

    @property
    def grad_bytes(self) -> int:
        return mlp_param_count(self.width, self.depth) * FLOAT32_BYTES

    def worker_args(self) -> list[str]:
        return ["--width", str(self.width), "--depth", str(self.depth), "--batch", str(self.batch)]


@dataclass(frozen=True)
class StudyPlan:
    """Sizes, rank counts, repeats and rates of one study profile (``FULL_PLAN`` or ``QUICK_PLAN``)."""

    rank_counts: tuple[int, ...] = (2, 4)
    loopback_sizes_bytes: tuple[int, ...] = tuple(4 * KIB * 4**i for i in range(8))  # 4 KiB .. 64 MiB
    warmup: int = 3
    loopback_repeats: int = 30
    dp_shapes: tuple[MlpShape, ...] = (MlpShape(512, 4, 64), MlpShape(1024, 4, 32), MlpShape(2048, 2, 16))
    dp_repeats: int = 15
    netns_rates_mbit: tuple[float, ...] = (100.0, 1000.0)
    # per rate: the largest size kept so one 100 Mbit/s ping-pong stays near a second
    netns_max_size_bytes: dict[float, int] = field(default_factory=lambda: {100.0: 16 * MIB, 1000.0: 64 * MIB})
    netns_repeats: int = 7
    netns_dp_shapes: tuple[MlpShape, ...] = (MlpShape(1024, 4, 32),)
    # per rate: Fast Ethernet has no jumbo frames; at 1 Gbit/s jumbo frames cut the per-packet CPU cost of veth,
    # bridge and tbf six-fold, which this 2-core machine needs to keep up with the link
    netns_mtu_bytes: dict[float, int] = field(default_factory=lambda: {100.0: 1500, 1000.0: 9000})
    timeout_s: float = 600.0
    quiet_busy_below: float = 0.15  # wait for the CPUs to be this idle before each measurement ...
    quiet_max_wait_s: float = 60.0  # ... but no longer than this

    def mtu_for(self, rate_mbit: float) -> int:
        return self.netns_mtu_bytes.get(rate_mbit, 1500)

    def netns_sizes_bytes(self, rate_mbit: float) -> tuple[int, ...]:
        cap = self.netns_max_size_bytes.get(rate_mbit, max(self.loopback_sizes_bytes))
        return tuple(s for s in self.loopback_sizes_bytes if s <= cap)


FULL_PLAN = StudyPlan()
QUICK_PLAN = StudyPlan(
    loopback_sizes_bytes=(4 * KIB, 64 * KIB, 1 * MIB, 4 * MIB),
    warmup=1,
    loopback_repeats=5,
    dp_shapes=(MlpShape(512, 4, 64),),
    dp_repeats=3,
    netns_max_size_bytes={100.0: 1 * MIB, 1000.0: 4 * MIB},
    netns_repeats=3,
    netns_dp_shapes=(MlpShape(512, 4, 64),),
    timeout_s=300.0,
    quiet_max_wait_s=0.0,  # still samples the CPUs once (1 s) to record how busy they were
)



# ------------------------------------------------------------------------------------------------ measuring


def _measure(kind: str, n_ranks: int, args: list[str], placement, plan: StudyPlan, key: str = "size_bytes") -> list[dict]:
    """Wait (bounded) for quiet CPUs, run the ranks, reduce; every row records the busy fraction seen before."""
    busy = wait_until_quiet(plan.quiet_busy_below, plan.quiet_max_wait_s)
    records = run_ranks(kind, n_ranks, args, placement, timeout_s=plan.timeout_s)
    return [{**row, "cpu_busy_before": busy} for row in reduce_rows(records, key=key)]


def _size_args(sizes: tuple[int, ...], warmup: int, repeats: int) -> list[str]:
    return ["--sizes-bytes", *map(str, sizes), "--warmup", str(warmup), "--repeats", str(repeats)]


def _ms_columns(row: dict) -> dict:
    return {
        "time_ms_median": row["time_ns_median"] / 1e6,
        "time_ms_p10": row["time_ns_p10"] / 1e6,
        "time_ms_p90": row["time_ns_p90"] / 1e6,
        "n_repeats": row["n_repeats"],
        "cpu_busy_before": row["cpu_busy_before"],
    }


def measure_compute_rows(shapes: tuple[MlpShape, ...], plan: StudyPlan, repeats: int) -> list[dict]:
    """Single-process fwd+bwd+flatten+SGD time of each shape (no process group, one thread)."""
    rows = []
    for shape in shapes:
        args = shape.worker_args() + ["--warmup", str(plan.warmup), "--repeats", str(repeats)]
        (row,) = _measure("compute", 1, args, Loopback(), plan, key="param_count")
        rows.append({**asdict(shape), "grad_bytes": shape.grad_bytes, **_ms_columns(row)})
    return rows


def measure_group_rows(
    setting: str, n_ranks: int, sizes: tuple[int, ...], shapes: tuple[MlpShape, ...], repeats: int, placement,
    plan: StudyPlan, rate_mbit: float | None = None, mtu_bytes: int | None = None,
) -> dict[str, list[dict]]:
    """Ping-pong, all-reduce and DP-step rows of one (setting, rank count, rate)."""
    common = {"setting": setting, "rate_mbit": rate_mbit, "mtu_bytes": mtu_bytes, "n_ranks": n_ranks}
    out: dict[str, list[dict]] = {"pingpong": [], "allreduce": [], "dp_step": []}
    for row in _measure("pingpong_allreduce", n_ranks, _size_args(sizes, plan.warmup, repeats), placement, plan):
        out[row["op"]].append({**common, "size_bytes": row["size_bytes"], **_ms_columns(row)})
    for shape in shapes:
        args = shape.worker_args() + ["--warmup", str(plan.warmup), "--repeats", str(repeats)]
        (row,) = _measure("dp_step", n_ranks, args, placement, plan, key="param_count")
        out["dp_step"].append({**common, **asdict(shape), "grad_bytes": shape.grad_bytes, **_ms_columns(row)})
    return out


def machine_meta() -> dict:
    """Where the measurements ran (host, cores, Python, torch)."""
    import torch

    return {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "host": platform.node(),
            "cpu_count": os.cpu_count() or 1, "python": platform.python_version(), "torch": torch.__version__,
            "machine": platform.machine()}


def plan_dict(plan: StudyPlan) -> dict:
    """The plan as JSON-ready data (rate keys as strings)."""
    data = asdict(plan)
    data["netns_max_size_bytes"] = {f"{k:g}": v for k, v in plan.netns_max_size_bytes.items()}
    data["netns_mtu_bytes"] = {f"{k:g}": v for k, v in plan.netns_mtu_bytes.items()}
    return data


def measure_loopback_raw(plan: StudyPlan) -> dict:
    """Every loopback measurement of ``plan`` as JSON-ready rows: compute, and per rank count the three kinds."""
    raw: dict = {"meta": {**machine_meta(), "plan": plan_dict(plan)}, "compute": measure_compute_rows(plan.dp_shapes, plan, plan.dp_repeats),
                 "pingpong": [], "allreduce": [], "dp_step": []}
    for n_ranks in plan.rank_counts:
        rows = measure_group_rows("loopback", n_ranks, plan.loopback_sizes_bytes, plan.dp_shapes,
                                  plan.loopback_repeats, Loopback(), plan)
        for kind, kind_rows in rows.items():
            raw[kind] += kind_rows
    return raw


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.fidelity.runs",
                                     description="Measure the loopback setting only and write the rows as JSON.")
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--quick", action="store_true", help="the quick plan")
    args = parser.parse_args(argv)
    raw = measure_loopback_raw(QUICK_PLAN if args.quick else FULL_PLAN)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
