"""The fidelity study end to end: measure real gloo runs, fit alpha-beta from ping-pong, predict, compare.

Validation ladder step 3 (DESIGN.md; harness_anchors.md section 8.4): a small real run against the simulator's
prediction for the same configuration, as signed % errors. Two settings:

- ``loopback``: 2 and 4 ranks as processes on this machine over 127.0.0.1 (mostly measures the CPU);
- ``netns``: 2 and 4 ranks in network namespaces joined through a bridge by veths rate-limited with tc tbf
  (`harness.fidelity.netns`), at 100 Mbit/s and 1 Gbit/s.

Per setting, rank count (and rate): ping-pong -> `fit_alpha_beta` (the ONLY calibration) -> the simulator's
all-reduce (closed form and link-level, `harness.fidelity.predict`) -> signed % error against the measured
all-reduce; and a data-parallel SGD step of a small MLP against measured single-process compute + simulated
all-reduce. `run_study` returns the tables; `write_tables` writes them (atomically) under ``results/fidelity/``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from harness.fidelity.compare import signed_error_pct, summarize
from harness.fidelity.fit import AlphaBetaFit, fit_alpha_beta
from harness.fidelity.launch import InNamespaces, Loopback, reduce_rows, run_ranks
from harness.fidelity.measure import mlp_param_count
from harness.fidelity.predict import (
    cpu_share_factor,
    gloo_segments_per_rank,
    loopback_hop,
    netns_hop,
    predict_allreduce_ns,
    predict_dp_step_ns,
)
from harness.fidelity.quiet import wait_until_quiet
from harness.sim.collectives import LinkCost

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
    mtu_bytes: int = 1500
    timeout_s: float = 600.0
    quiet_busy_below: float = 0.15  # wait for the CPUs to be this idle before each measurement ...
    quiet_max_wait_s: float = 60.0  # ... but no longer than this

    def netns_sizes_bytes(self, rate_mbit: float) -> tuple[int, ...]:
        cap = self.netns_max_size_bytes.get(rate_mbit, max(self.loopback_sizes_bytes))
        return tuple(s for s in self.loopback_sizes_bytes if s <= cap)


FULL_PLAN = StudyPlan()
QUICK_PLAN = StudyPlan(
    loopback_sizes_bytes=(4 * KIB, 256 * KIB, 4 * MIB),
    warmup=1,
    loopback_repeats=5,
    dp_shapes=(MlpShape(512, 4, 64),),
    dp_repeats=3,
    netns_max_size_bytes={100.0: 256 * KIB, 1000.0: 4 * MIB},
    netns_repeats=3,
    netns_dp_shapes=(MlpShape(512, 4, 64),),
    timeout_s=300.0,
    quiet_max_wait_s=5.0,
)


@dataclass
class StudyResult:
    """The tables of one study. ``raw`` holds measurements; ``loopback``/``netns`` the comparisons."""

    raw: dict[str, pd.DataFrame]
    fits: pd.DataFrame
    loopback: pd.DataFrame | None
    netns: pd.DataFrame | None
    summary: pd.DataFrame
    meta: dict


Progress = Callable[[str], None]


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


def measure_compute(shapes: tuple[MlpShape, ...], plan: StudyPlan, repeats: int) -> pd.DataFrame:
    """Single-process fwd+bwd+flatten+SGD time of each shape (no process group, one thread)."""
    rows = []
    for shape in shapes:
        args = shape.worker_args() + ["--warmup", str(plan.warmup), "--repeats", str(repeats)]
        (row,) = _measure("compute", 1, args, Loopback(), plan, key="param_count")
        rows.append({**asdict(shape), "grad_bytes": shape.grad_bytes, **_ms_columns(row)})
    return pd.DataFrame(rows)


def measure_group(
    setting: str, n_ranks: int, sizes: tuple[int, ...], shapes: tuple[MlpShape, ...], repeats: int, placement,
    plan: StudyPlan, rate_mbit: float | None = None,
) -> dict[str, pd.DataFrame]:
    """Ping-pong, all-reduce and DP-step measurements of one (setting, rank count, rate)."""
    common = {"setting": setting, "rate_mbit": rate_mbit, "n_ranks": n_ranks}
    out: dict[str, list[dict]] = {"pingpong": [], "allreduce": [], "dp_step": []}
    for kind in ("pingpong", "allreduce"):
        for row in _measure(kind, n_ranks, _size_args(sizes, plan.warmup, repeats), placement, plan):
            out[kind].append({**common, "size_bytes": row["size_bytes"], **_ms_columns(row)})
    for shape in shapes:
        args = shape.worker_args() + ["--warmup", str(plan.warmup), "--repeats", str(repeats)]
        (row,) = _measure("dp_step", n_ranks, args, placement, plan, key="param_count")
        out["dp_step"].append({**common, **asdict(shape), "grad_bytes": shape.grad_bytes, **_ms_columns(row)})
    return {kind: pd.DataFrame(rows) for kind, rows in out.items()}


# ------------------------------------------------------------------------------------------------ predicting


def fit_from_pingpong(pingpong: pd.DataFrame) -> AlphaBetaFit:
    return fit_alpha_beta(pingpong["size_bytes"].to_numpy(), pingpong["time_ms_median"].to_numpy() * 1e6)


@dataclass(frozen=True)
class Variant:
    """One prediction: a name (column suffix), the hop it uses, gloo's ring as modelled, and the sim model."""

    name: str
    hop: LinkCost
    algorithm: str = "ring"
    model: str = "closed_form"


def prediction_variants(setting: str, fit: AlphaBetaFit, rate_mbit: float | None, mtu_bytes: int) -> list[Variant]:
    """Our model (closed form and link level) first, then the alternatives reported beside it."""
    if setting == "loopback":
        hop = loopback_hop(fit.alpha_ns, fit.bytes_per_ns, duplex="half")
        other = Variant("full_duplex", loopback_hop(fit.alpha_ns, fit.bytes_per_ns, duplex="full"))
    else:
        hop = netns_hop(fit.alpha_ns, rate_mbit, mtu_bytes)
        other = Variant("fitted_beta", LinkCost(alpha_ns=round(fit.alpha_ns), bytes_per_ns=fit.bytes_per_ns))
    return [
        Variant("closed_form", hop),
        Variant("link_level", hop, model="link_level"),
        Variant("ring_unpipelined", hop, algorithm="ring_unpipelined"),
        other,
    ]


def _prediction_columns(setting: str, n_ranks: int, size_bytes: int, variants: list[Variant], measured_ms: float,
                        compute_ns: int | None = None) -> dict:
    """``predicted_ms_<variant>`` and ``error_pct_<variant>`` per variant; ``error_pct`` is the link level's."""
    cols: dict = {}
    for v in variants:
        if compute_ns is None:
            ns = predict_allreduce_ns(setting, n_ranks, size_bytes, v.hop, v.algorithm, v.model)
        else:
            ns = predict_dp_step_ns(setting, n_ranks, compute_ns, size_bytes, v.hop, v.algorithm, v.model)
        cols[f"predicted_ms_{v.name}"] = ns / 1e6
        cols[f"error_pct_{v.name}"] = signed_error_pct(ns / 1e6, measured_ms)
    cols["error_pct"] = cols["error_pct_link_level"]
    return cols


def compare_group(
    setting: str, n_ranks: int, measured: dict[str, pd.DataFrame], compute: pd.DataFrame, n_cores: int,
    rate_mbit: float | None = None, mtu_bytes: int = 1500,
) -> tuple[dict, pd.DataFrame]:
    """Fit alpha-beta from this group's ping-pong, predict its all-reduces and DP steps, and compare."""
    fit = fit_from_pingpong(measured["pingpong"])
    variants = prediction_variants(setting, fit, rate_mbit, mtu_bytes)
    hop = variants[0].hop
    fit_row = {
        "setting": setting, "rate_mbit": rate_mbit, "n_ranks": n_ranks,
        "alpha_us": fit.alpha_ns / 1e3, "ns_per_byte": fit.ns_per_byte, "fitted_gbps": fit.bandwidth_gbps,
        "fit_rel_rms": fit.rel_rms, "n_points": fit.n_points,
        "configured_gbps": rate_mbit / 1e3 if rate_mbit else None,
        "hop_gbps_used": hop.bytes_per_ns * 8, "hop_alpha_us_used": hop.alpha_ns / 1e3,
    }
    base = {"setting": setting, "rate_mbit": rate_mbit, "n_ranks": n_ranks}
    rows = []
    for _, m in measured["allreduce"].iterrows():
        size = int(m["size_bytes"])
        rows.append({**base, "op": "all_reduce", "size_bytes": size, "model_shape": "",
                     "measured_ms": m["time_ms_median"], "measured_ms_p10": m["time_ms_p10"],
                     "measured_ms_p90": m["time_ms_p90"], "segments_per_rank": gloo_segments_per_rank(size, n_ranks),
                     **_prediction_columns(setting, n_ranks, size, variants, m["time_ms_median"])})
    share = cpu_share_factor(n_ranks, n_cores)
    for _, m in measured["dp_step"].iterrows():
        shape = (int(m["width"]), int(m["depth"]), int(m["batch"]))
        c = compute[(compute["width"] == shape[0]) & (compute["depth"] == shape[1]) & (compute["batch"] == shape[2])]
        compute_ns = int(round(float(c["time_ms_median"].iloc[0]) * 1e6 * share))
        size = int(m["grad_bytes"])
        rows.append({**base, "op": "dp_step", "size_bytes": size, "model_shape": "mlp w{} d{} b{}".format(*shape),
                     "measured_ms": m["time_ms_median"], "measured_ms_p10": m["time_ms_p10"],
                     "measured_ms_p90": m["time_ms_p90"], "segments_per_rank": gloo_segments_per_rank(size, n_ranks),
                     "compute_ms_used": compute_ns / 1e6, "cpu_share_factor": share,
                     **_prediction_columns(setting, n_ranks, size, variants, m["time_ms_median"], compute_ns)})
    return fit_row, pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------ the study


def run_study(
    plan: StudyPlan, *, loopback: bool = True, netns: bool = True, progress: Progress | None = None
) -> StudyResult:
    """Measure, fit, predict and compare; ``netns`` needs root (see `harness.fidelity.netns`)."""
    say = progress or (lambda message: None)
    n_cores = os.cpu_count() or 1
    raw: dict[str, list[pd.DataFrame]] = {"pingpong": [], "allreduce": [], "dp_step": []}
    fits, tables = [], {"loopback": [], "netns": []}
    meta: dict = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(), "cpu_count": n_cores, "python": platform.python_version(),
        "plan": _plan_dict(plan), "qdisc_stats": {},
    }
    import torch

    meta["torch"] = torch.__version__
    all_shapes = tuple(dict.fromkeys((plan.dp_shapes if loopback else ()) + (plan.netns_dp_shapes if netns else ())))
    say(f"compute: {len(all_shapes)} MLP shape(s) on one process")
    compute = measure_compute(all_shapes, plan, plan.dp_repeats)

    def add(setting: str, n_ranks: int, measured: dict[str, pd.DataFrame], rate_mbit: float | None) -> None:
        for kind, frame in measured.items():
            raw[kind].append(frame)
        fit_row, table = compare_group(setting, n_ranks, measured, compute, n_cores, rate_mbit, plan.mtu_bytes)
        fits.append(fit_row)
        tables[setting].append(table)

    if loopback:
        for n_ranks in plan.rank_counts:
            say(f"loopback: {n_ranks} ranks")
            measured = measure_group("loopback", n_ranks, plan.loopback_sizes_bytes, plan.dp_shapes,
                                     plan.loopback_repeats, Loopback(), plan)
            add("loopback", n_ranks, measured, None)
    if netns:
        from harness.fidelity.netns import StarNetwork

        for rate_mbit in plan.netns_rates_mbit:
            for n_ranks in plan.rank_counts:
                say(f"netns: {n_ranks} ranks at {rate_mbit:g} Mbit/s")
                with StarNetwork(n_ranks=n_ranks, rate_mbit=rate_mbit, mtu_bytes=plan.mtu_bytes) as net:
                    measured = measure_group("netns", n_ranks, plan.netns_sizes_bytes(rate_mbit),
                                             plan.netns_dp_shapes, plan.netns_repeats, InNamespaces(net), plan,
                                             rate_mbit=rate_mbit)
                    meta["qdisc_stats"][f"{rate_mbit:g}mbit_{n_ranks}ranks"] = net.qdisc_stats()
                add("netns", n_ranks, measured, rate_mbit)

    loop_table = pd.concat(tables["loopback"], ignore_index=True) if tables["loopback"] else None
    netns_table = pd.concat(tables["netns"], ignore_index=True) if tables["netns"] else None
    summary = summarize_tables(loop_table, netns_table)
    raw_frames = {f"{kind}": pd.concat(frames, ignore_index=True) for kind, frames in raw.items() if frames}
    raw_frames["compute"] = compute
    return StudyResult(raw=raw_frames, fits=pd.DataFrame(fits), loopback=loop_table, netns=netns_table,
                       summary=summary, meta=meta)


def summarize_tables(loopback: pd.DataFrame | None, netns: pd.DataFrame | None) -> pd.DataFrame:
    """Median |error| per setting and op (and overall), for every error column present."""
    parts = []
    for table in (loopback, netns):
        if table is None or table.empty:
            continue
        errors = [c for c in table.columns if c.startswith("error_pct")]
        setting = table["setting"].iloc[0]
        by = ["op", "rate_mbit", "n_ranks"] if setting == "netns" else ["op", "n_ranks"]
        detail = summarize(table, errors, by, overall=False)
        per_op = summarize(table, errors, ["op"], overall=True)
        part = pd.concat([detail, per_op], ignore_index=True).fillna({name: "all" for name in by})
        part.insert(0, "setting", setting)
        parts.append(part)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _plan_dict(plan: StudyPlan) -> dict:
    data = asdict(plan)
    data["netns_max_size_bytes"] = {f"{k:g}": v for k, v in plan.netns_max_size_bytes.items()}
    return data


# ------------------------------------------------------------------------------------------------ writing


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def write_tables(result: StudyResult, out_dir: Path) -> list[Path]:
    """Write, per setting present: ``<setting>.csv`` (the comparison), ``fits_<setting>.csv``,
    ``summary_<setting>.csv``, ``raw/<setting>_{pingpong,allreduce,dp_step,compute}.csv`` and
    ``meta_<setting>.json``. A setting the study did not run keeps its earlier files.
    """
    written = []

    def put(name: str, frame: pd.DataFrame) -> None:
        path = out_dir / name
        _atomic_write_text(path, frame.to_csv(index=False, float_format="%.6g"))
        written.append(path)

    for setting, table in (("loopback", result.loopback), ("netns", result.netns)):
        if table is None:
            continue
        put(f"{setting}.csv", table)
        put(f"fits_{setting}.csv", result.fits[result.fits["setting"] == setting])
        put(f"summary_{setting}.csv", result.summary[result.summary["setting"] == setting])
        for kind, frame in result.raw.items():
            if "setting" in frame.columns:
                put(f"raw/{setting}_{kind}.csv", frame[frame["setting"] == setting])
        shapes = set(zip(table["model_shape"]))
        compute = result.raw["compute"]
        used = compute[[f"mlp w{w} d{d} b{b}" in {s for (s,) in shapes}
                        for w, d, b in zip(compute["width"], compute["depth"], compute["batch"])]]
        put(f"raw/{setting}_compute.csv", used)
        meta = {**result.meta, "setting": setting}
        if setting != "netns":
            meta.pop("qdisc_stats", None)
        path = out_dir / f"meta_{setting}.json"
        _atomic_write_text(path, json.dumps(meta, indent=2, default=str) + "\n")
        written.append(path)
    return written
