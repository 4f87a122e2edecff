"""The fidelity study end to end: measure real gloo runs, fit alpha-beta from ping-pong, predict, compare.

Validation ladder step 3 (DESIGN.md; harness_anchors.md section 8.4): a small real run against the simulator's
prediction for the same configuration, as signed % errors. Two settings:

- ``loopback``: 2 and 4 ranks as processes on this machine over 127.0.0.1 (mostly measures the CPU);
- ``netns``: 2 and 4 ranks in network namespaces joined through a bridge by veths rate-limited with tc tbf
  (`harness.fidelity.netns`), at 100 Mbit/s and 1 Gbit/s.

Two collective models are compared with every measured point:

- ``startup_bw`` (``error_pct_startup_bw``, the new collective model): the collective closed form ``startup + factor * S / busbw``
  (`harness.sim.collectives.startup_bandwidth_ns`), the model the measured-table replay falls back to. Its two
  parameters are fitted per (setting, rate, rank count) by `fit_startup_bandwidth` (relative least squares,
  each point weighted by its own p10-p90 spread) on the OTHER sizes of that group: leave-one-size-out, so the
  predicted point never enters its own fit. A data-parallel step uses the parameters fitted on all all-reduce
  sizes of its group (the step itself is never fitted): measured compute + that all-reduce.
- ``closed_form`` / ``link_level`` (``error_pct``, kept for the figures that plot it) / ``textbook_ring`` / the
  fourth variant: the per-link alpha-beta model calibrated on ping-pong only (`fit_alpha_beta`), simulated as
  gloo's segmented ring (`harness.fidelity.predict`).

`run_study` returns the tables; `write_tables` writes them (atomically) under ``results/fidelity/``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from harness.files import write_text_atomic
from harness.fidelity.compare import signed_error_pct, summarize
from harness.fidelity.fit import AlphaBetaFit, fit_alpha_beta
from harness.fidelity.launch import InNamespaces, Loopback
from harness.fidelity.predict import (
    cpu_share_factor,
    gloo_segments_per_rank,
    loopback_hop,
    netns_hop,
    predict_allreduce_ns,
    predict_dp_step_ns,
    tcp_payload_efficiency,
)
from harness.fidelity.runs import (  # noqa: F401 - FULL_PLAN, QUICK_PLAN, MlpShape re-exported for callers
    FULL_PLAN,
    QUICK_PLAN,
    MlpShape,
    StudyPlan,
    machine_meta,
    measure_compute_rows,
    measure_group_rows,
    plan_dict,
)
from harness.sim.collectives import LinkCost, fit_startup_bandwidth, startup_bandwidth_ns

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


# ------------------------------------------------------------------------------------------------ predicting


def fit_from_pingpong(pingpong: pd.DataFrame, wire_bytes_per_byte: float = 1.0, free_bytes: float = 0.0) -> AlphaBetaFit:
    """alpha-beta from the ping-pong medians (on a tbf network: headers and burst known, see `fit_alpha_beta`)."""
    return fit_alpha_beta(pingpong["size_bytes"].to_numpy(), pingpong["time_ms_median"].to_numpy() * 1e6,
                          wire_bytes_per_byte, free_bytes)


@dataclass(frozen=True)
class Variant:
    """One prediction: a name (column suffix), the hop it uses, gloo's ring as modelled, and the sim model."""

    name: str
    hop: LinkCost
    algorithm: str = "gloo_ring"
    model: str = "closed_form"


def prediction_variants(setting: str, fit: AlphaBetaFit, rate_mbit: float | None, mtu_bytes: int) -> list[Variant]:
    """Our model (closed form and link level) first, then the alternatives reported beside it."""
    if setting == "loopback":
        hop = loopback_hop(fit.alpha_ns, fit.bytes_per_ns, duplex="half")
        other = Variant("full_duplex", loopback_hop(fit.alpha_ns, fit.bytes_per_ns, duplex="full"))
    else:  # the configured rate; "fitted_beta": the wire rate fitted from ping-pong instead
        hop = netns_hop(fit.alpha_ns, rate_mbit, mtu_bytes)
        other = Variant("fitted_beta", LinkCost(alpha_ns=round(fit.alpha_ns), bytes_per_ns=fit.bytes_per_ns))
    return [
        Variant("closed_form", hop),
        Variant("link_level", hop, model="link_level"),
        Variant("textbook_ring", hop, algorithm="textbook_ring"),
        other,
    ]


def _prediction_columns(setting: str, n_ranks: int, size_bytes: int, variants: list[Variant], measured_ms: float,
                        compute_ns: int | None = None) -> dict:
    """``predicted_ms_<variant>`` and ``error_pct_<variant>`` per ping-pong-calibrated variant."""
    cols: dict = {}
    for v in variants:
        if compute_ns is None:
            ns = predict_allreduce_ns(setting, n_ranks, size_bytes, v.hop, v.algorithm, v.model)
        else:
            ns = predict_dp_step_ns(setting, n_ranks, compute_ns, size_bytes, v.hop, v.algorithm, v.model)
        cols[f"predicted_ms_{v.name}"] = ns / 1e6
        cols[f"error_pct_{v.name}"] = signed_error_pct(ns / 1e6, measured_ms)
    return cols


def _startup_bw_fit(allreduce: pd.DataFrame, n_ranks: int):
    """`fit_startup_bandwidth` on measured all-reduce rows (medians, weighted by their p10-p90 spread)."""
    median = allreduce["time_ms_median"].to_numpy(dtype=float)
    spread = (allreduce["time_ms_p90"].to_numpy(dtype=float) - allreduce["time_ms_p10"].to_numpy(dtype=float)) / median
    return fit_startup_bandwidth("all_reduce", n_ranks, allreduce["size_bytes"].to_numpy(dtype=float), median * 1e6,
                                 spread)


def _startup_bw_columns(predicted_ns: int, measured_ms: float, fit) -> dict:
    return {"predicted_ms_startup_bw": predicted_ns / 1e6,
            "error_pct_startup_bw": signed_error_pct(predicted_ns / 1e6, measured_ms),
            "startup_us_used": fit.startup_ns / 1e3, "busbw_gbps_used": fit.busbw_bytes_per_ns * 8}


def compare_group(
    setting: str, n_ranks: int, measured: dict[str, pd.DataFrame], compute: pd.DataFrame, n_cores: int,
    rate_mbit: float | None = None, mtu_bytes: int = 1500,
) -> tuple[dict, pd.DataFrame]:
    """Fit alpha-beta from this group's ping-pong, predict its all-reduces and DP steps, and compare."""
    if setting == "netns":
        from harness.fidelity.netns import tbf_burst_bytes

        fit = fit_from_pingpong(measured["pingpong"], 1.0 / tcp_payload_efficiency(mtu_bytes),
                                tbf_burst_bytes(rate_mbit, mtu_bytes))
    else:
        fit = fit_from_pingpong(measured["pingpong"])
    variants = prediction_variants(setting, fit, rate_mbit, mtu_bytes)
    hop = variants[0].hop
    fit_row = {
        "setting": setting, "rate_mbit": rate_mbit, "n_ranks": n_ranks,
        "alpha_us": fit.alpha_ns / 1e3, "ns_per_byte": fit.ns_per_byte, "fitted_gbps": fit.bandwidth_gbps,
        "fit_rel_rms": fit.rel_rms, "n_points": fit.n_points,
        "configured_gbps": rate_mbit / 1e3 if rate_mbit else None, "mtu_bytes": mtu_bytes if rate_mbit else None,
        "fit_free_bytes": fit.free_bytes, "fit_wire_bytes_per_byte": fit.wire_bytes_per_byte,
        "hop_gbps_used": hop.bytes_per_ns * 8, "hop_alpha_us_used": hop.alpha_ns / 1e3,
    }
    base = {"setting": setting, "rate_mbit": rate_mbit, "n_ranks": n_ranks}
    allreduce = measured["allreduce"]
    group_fit = _startup_bw_fit(allreduce, n_ranks)
    fit_row.update({"startup_us_all_sizes": group_fit.startup_ns / 1e3,
                    "busbw_gbps_all_sizes": group_fit.busbw_bytes_per_ns * 8})
    rows = []
    for index, m in allreduce.iterrows():
        size = int(m["size_bytes"])
        held_out = _startup_bw_fit(allreduce.drop(index), n_ranks)  # leave this size out
        rows.append({**base, "op": "all_reduce", "size_bytes": size, "model_shape": "",
                     "measured_ms": m["time_ms_median"], "measured_ms_p10": m["time_ms_p10"],
                     "measured_ms_p90": m["time_ms_p90"], "segments_per_rank": gloo_segments_per_rank(size, n_ranks),
                     **_startup_bw_columns(startup_bandwidth_ns("all_reduce", size, n_ranks, held_out),
                                           m["time_ms_median"], held_out),
                     **_prediction_columns(setting, n_ranks, size, variants, m["time_ms_median"])})
    share = cpu_share_factor(n_ranks, n_cores)
    for _, m in measured["dp_step"].iterrows():
        shape = (int(m["width"]), int(m["depth"]), int(m["batch"]))
        c = compute[(compute["width"] == shape[0]) & (compute["depth"] == shape[1]) & (compute["batch"] == shape[2])]
        if c.empty:
            raise ValueError("no one-process compute time measured for the DP step of mlp w{} d{} b{}".format(*shape))
        compute_ns = int(round(float(c["time_ms_median"].iloc[0]) * 1e6 * share))
        size = int(m["grad_bytes"])
        rows.append({**base, "op": "dp_step", "size_bytes": size, "model_shape": "mlp w{} d{} b{}".format(*shape),
                     "measured_ms": m["time_ms_median"], "measured_ms_p10": m["time_ms_p10"],
                     "measured_ms_p90": m["time_ms_p90"], "segments_per_rank": gloo_segments_per_rank(size, n_ranks),
                     "compute_ms_used": compute_ns / 1e6, "cpu_share_factor": share,
                     **_startup_bw_columns(compute_ns + startup_bandwidth_ns("all_reduce", size, n_ranks, group_fit),
                                           m["time_ms_median"], group_fit),
                     **_prediction_columns(setting, n_ranks, size, variants, m["time_ms_median"], compute_ns)})
    table = pd.DataFrame(rows)
    table["error_pct"] = table["error_pct_link_level"]
    return fit_row, table


# ------------------------------------------------------------------------------------------------ the study


def run_study(
    plan: StudyPlan, *, loopback: bool = True, netns: bool = True, progress: Progress | None = None
) -> StudyResult:
    """Measure, fit, predict and compare; ``netns`` needs root (see `harness.fidelity.netns`)."""
    return result_from_raw(measure_study(plan, loopback=loopback, netns=netns, progress=progress))


def measure_study(
    plan: StudyPlan, *, loopback: bool = True, netns: bool = True, progress: Progress | None = None
) -> dict:
    """All measurements of the study as JSON-ready rows (``meta``, ``compute``, ``pingpong``, ``allreduce``,
    ``dp_step``); `result_from_raw` turns them into the tables."""
    say = progress or (lambda message: None)
    raw: dict = {"meta": {**machine_meta(), "plan": plan_dict(plan), "qdisc_stats": {}},
                 "pingpong": [], "allreduce": [], "dp_step": []}
    shapes = tuple(dict.fromkeys((plan.dp_shapes if loopback else ()) + (plan.netns_dp_shapes if netns else ())))
    say(f"compute: {len(shapes)} MLP shape(s) on one process")
    raw["compute"] = measure_compute_rows(shapes, plan, plan.dp_repeats)

    def add(rows: dict[str, list[dict]]) -> None:
        for kind, kind_rows in rows.items():
            raw[kind] += kind_rows

    if loopback:
        for n_ranks in plan.rank_counts:
            say(f"loopback: {n_ranks} ranks")
            add(measure_group_rows("loopback", n_ranks, plan.loopback_sizes_bytes, plan.dp_shapes,
                                   plan.loopback_repeats, Loopback(), plan))
    if netns:
        from harness.fidelity.netns import StarNetwork

        for rate_mbit in plan.netns_rates_mbit:
            for n_ranks in plan.rank_counts:
                say(f"netns: {n_ranks} ranks at {rate_mbit:g} Mbit/s")
                mtu_bytes = plan.mtu_for(rate_mbit)
                with StarNetwork(n_ranks=n_ranks, rate_mbit=rate_mbit, mtu_bytes=mtu_bytes) as net:
                    add(measure_group_rows("netns", n_ranks, plan.netns_sizes_bytes(rate_mbit), plan.netns_dp_shapes,
                                           plan.netns_repeats, InNamespaces(net), plan, rate_mbit, mtu_bytes))
                    raw["meta"]["qdisc_stats"][f"{rate_mbit:g}mbit_{n_ranks}ranks"] = net.qdisc_stats()
    return raw


def split_raw(raw: dict) -> dict[str, dict]:
    """The raw rows of each setting on their own, each with the meta and the compute rows: a setting's tables
    are computed from its own raw part only (``results/fidelity/raw/<setting>.json``)."""
    settings = sorted({row["setting"] for kind in ("pingpong", "allreduce", "dp_step") for row in raw.get(kind, [])})
    return {
        setting: {**{k: v for k, v in raw.items() if k in ("meta", "compute")},
                  **{kind: [row for row in raw.get(kind, []) if row["setting"] == setting]
                     for kind in ("pingpong", "allreduce", "dp_step")}}
        for setting in settings
    }


def result_from_raw(raw: dict) -> StudyResult:
    """Fits, predictions and comparisons from raw measurement rows (`run_study`, or JSON from `runs.main`)."""
    frames = {kind: pd.DataFrame(raw.get(kind, [])) for kind in ("pingpong", "allreduce", "dp_step", "compute")}
    n_cores = int(raw["meta"].get("cpu_count") or 1)
    fits, tables = [], {"loopback": [], "netns": []}
    groups = frames["pingpong"][["setting", "rate_mbit", "n_ranks"]].drop_duplicates() if len(frames["pingpong"]) else []
    for _, g in (groups.iterrows() if len(groups) else []):
        rate = None if pd.isna(g["rate_mbit"]) else float(g["rate_mbit"])

        def select(frame: pd.DataFrame) -> pd.DataFrame:
            if frame.empty:
                return frame
            same_rate = frame["rate_mbit"].isna() if rate is None else frame["rate_mbit"] == rate
            return frame[(frame["setting"] == g["setting"]) & (frame["n_ranks"] == g["n_ranks"]) & same_rate]

        measured = {kind: select(frames[kind]) for kind in ("pingpong", "allreduce", "dp_step")}
        mtu = measured["pingpong"].get("mtu_bytes", pd.Series(dtype=float)).dropna()
        mtu_bytes = int(mtu.iloc[0]) if len(mtu) else 1500
        fit_row, table = compare_group(g["setting"], int(g["n_ranks"]), measured, frames["compute"], n_cores,
                                       rate, mtu_bytes)
        fits.append(fit_row)
        tables[g["setting"]].append(table)
    loop_table = pd.concat(tables["loopback"], ignore_index=True) if tables["loopback"] else None
    netns_table = pd.concat(tables["netns"], ignore_index=True) if tables["netns"] else None
    meta = dict(raw["meta"])
    return StudyResult(raw=frames, fits=pd.DataFrame(fits), loopback=loop_table, netns=netns_table,
                       summary=summarize_tables(loop_table, netns_table), meta=meta)


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
        part = pd.concat([detail, per_op], ignore_index=True)
        part[by] = part[by].astype(object).where(part[by].notna(), "all")
        part.insert(0, "setting", setting)
        parts.append(part)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


# ------------------------------------------------------------------------------------------------ writing


def write_tables(result: StudyResult, out_dir: Path) -> list[Path]:
    """Write, per setting present: ``<setting>.csv`` (the comparison), ``fits_<setting>.csv``,
    ``summary_<setting>.csv``, ``raw/<setting>_{pingpong,allreduce,dp_step,compute}.csv`` and
    ``meta_<setting>.json``. A setting the study did not run keeps its earlier files.
    """
    written = []

    def put(name: str, frame: pd.DataFrame) -> None:
        path = out_dir / name
        write_text_atomic(path, frame.to_csv(index=False, float_format="%.6g"))
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
        write_text_atomic(path, json.dumps(meta, indent=2, default=str) + "\n")
        written.append(path)
    return written


def write_overall_summary(out_dir: Path) -> Path | None:
    """``summary_all.csv``: median |error| and the worst over- and under-prediction (largest and smallest signed
    error) over every point of every setting written under ``out_dir`` (per op and overall), for each error column;
    None when no setting table exists."""
    tables = [pd.read_csv(out_dir / f"{s}.csv") for s in ("loopback", "netns") if (out_dir / f"{s}.csv").is_file()]
    if not tables:
        return None
    table = pd.concat(tables, ignore_index=True)
    errors = [c for c in table.columns if c.startswith("error_pct") and table[c].notna().all()]
    summary = summarize(table, errors, ["op"], overall=True)
    points = [slice(None) if op == "all" else table["op"] == op for op in summary["op"]]
    for worst in ("max", "min"):
        for column in errors:
            summary[f"{worst}_{column}"] = [getattr(table.loc[rows, column], worst)() for rows in points]
    path = out_dir / "summary_all.csv"
    write_text_atomic(path, summary.to_csv(index=False, float_format="%.6g"))
    return path
