"""The pipeline study end to end: time the model's ops and the codecs, run every configuration for real, predict
each, compare.

For each network of the plan (loopback, then each rate as one `harness.fidelity.netns.StarNetwork` with as many
namespaces as the largest run on it needs, deleted afterwards even when a run fails) every run of the plan on
that network is started (`harness.pipeline_study.launch.run_stages`) after a bounded wait for quiet CPUs (the busy
fraction seen is recorded). A configuration's measured step time is, per timed step, the slowest stage's time
from the barrier to its optimizer step done, then the median over the timed steps (p10 / p90 beside it). Its
prediction comes from `harness.pipeline_study.predict`; the signed error is
``100 (predicted - measured) / measured`` (`harness.fidelity.compare.signed_error_pct`).

Tables (`write_study`): ``runs.csv`` (one row per configuration: measured times, per-stage clocks, wire bytes,
losses, sender/receiver agreement, every prediction and its error), ``summary.csv`` (median |error| per network
and overall, per prediction), ``op_times.csv`` (the study's op profile, `harness.pipeline_study.op_times`),
``codec_times.csv``, ``raw/steps.csv`` (every stage's every step), ``meta.json``. A study folder without
``op_times.csv`` (written before the op profile existed) is predicted from the committed tables.
"""

from __future__ import annotations

import io
import json
import os
import platform
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness.files import write_text_atomic
from harness.fidelity.compare import signed_error_pct, summarize
from harness.fidelity.launch import InNamespaces, Loopback
from harness.fidelity.quiet import wait_until_quiet
from harness.pipeline_study.launch import run_stages
from harness.pipeline_study.op_times import plan_profile
from harness.timing.op_profile import StudyOpReplay
from harness.pipeline_study.plan import RunSpec, StudyPlan, network_rate_mbit, run_config
from harness.pipeline_study.predict import codec_label, link_model, measure_codec_times, predict_run

Progress = Callable[[str], None]
#: namespaces of this study carry this prefix (the fidelity study's StarNetwork, its own name space)
NETNS_PREFIX = "h6pipe"
#: the study's target: median |signed error| of the step-time prediction, in %
TARGET_MEDIAN_PCT = 15.0
CLOCKS = ("forward", "backward", "encode_fwd", "decode_fwd", "encode_bwd", "decode_bwd", "wait", "send_wait",
          "optimizer")
#: prediction name -> column; ``tables`` (error column ``error_pct``) is the one the study is judged on; ``op_profile``
#: (compute from the study's own op profile, ``op_times.csv``) is NaN for studies written before it existed
PREDICTIONS = {"tables": "predicted_ms", "single_flush": "predicted_ms_single_flush",
               "op_profile": "predicted_ms_op_profile",
               "kernel_codec": "predicted_ms_kernel_codec", "measured_compute": "predicted_ms_measured_compute",
               "eager": "predicted_ms_eager"}


@dataclass
class StudyTables:
    runs: pd.DataFrame
    summary: pd.DataFrame
    codec_times: pd.DataFrame
    steps: pd.DataFrame
    meta: dict
    op_times: pd.DataFrame | None = None


# ------------------------------------------------------------------------------------------------ measuring
def reduce_records(records: list[dict], config, run_index: int) -> tuple[dict, pd.DataFrame]:
    """One configuration's measured row and its per-step table from the stage processes' records."""
    run, m = config.run, config.n_micro_batches
    steps = pd.DataFrame([{"rank": r["rank"], **s} for r in records for s in r["steps"]])
    for clock in CLOCKS + ("total",):
        column = f"{clock}_ns"
        steps[f"{clock}_ms"] = steps[column].fillna(0) / 1e6 if column in steps else 0.0
        steps = steps.drop(columns=[column], errors="ignore")
    timed = steps[steps["measured"]]
    slowest = timed.groupby("step")["total_ms"].max()
    first = timed[timed["rank"] == 0]
    row = {
        "run_index": run_index, "network": config.network, "rate_mbit": network_rate_mbit(config.network),
        "stages": run.stages, "schedule": run.schedule, "method": run.method,
        "forward": codec_label(run.forward), "backward": codec_label(run.backward),
        "measured_ms": float(slowest.median()), "measured_ms_p10": float(np.percentile(slowest, 10)),
        "measured_ms_p90": float(np.percentile(slowest, 90)), "n_steps": int(slowest.size),
        "fwd_wire_bytes": int(first["sent_fwd_bytes"].median()) // m,
        "bwd_wire_bytes": int(timed[timed["rank"] == 1]["sent_bwd_bytes"].median()) // m,
        "fwd_payload_bytes": float(first["payload_fwd_bytes"].median()) / m,
    }
    row["bytes_per_boundary_per_step"] = m * (row["fwd_wire_bytes"] + row["bwd_wire_bytes"])
    for s in range(run.stages):
        mine = timed[timed["rank"] == s]
        for clock in CLOCKS:
            row[f"measured_{clock}_ms_s{s}"] = float(mine[f"{clock}_ms"].median())
    row["measured_stage_compute_ms"] = max(row[f"measured_forward_ms_s{s}"] + row[f"measured_backward_ms_s{s}"]
                                           for s in range(run.stages)) / m
    losses = steps[steps["rank"] == run.stages - 1].sort_values("step")["loss"].to_numpy(float)
    row["loss_first"], row["loss_last"] = float(losses[0]), float(losses[-1])
    checked, agree = 0, True
    by_rank = {r["rank"]: r["digests"] for r in records}
    for s in range(run.stages - 1):
        pairs = [(by_rank[s]["sent_fwd"], by_rank[s + 1]["received_fwd"]),
                 (by_rank[s + 1]["sent_bwd"], by_rank[s]["received_bwd"])]
        for sent, received in pairs:
            agree &= sent == received
            checked += len(sent)
    row["messages_checked"], row["sender_receiver_agree"] = checked, bool(agree and checked > 0)
    steps.insert(0, "run_index", run_index)
    steps.insert(1, "network", config.network)
    return row, steps


def _network_context(plan: StudyPlan, network: str, prefix: str):
    from harness.fidelity.netns import StarNetwork

    rate = network_rate_mbit(network)
    if rate is None:
        return nullcontext(None)
    return StarNetwork(n_ranks=max(2, plan.max_stages(network)), rate_mbit=rate, mtu_bytes=plan.mtu_bytes,
                       prefix=prefix)


def measure_runs(plan: StudyPlan, progress: Progress = print, quiet_wait_s: float = 20.0, *,
                 netns_prefix: str = NETNS_PREFIX, before_each: Callable[[], None] | None = None,
                 **config_extra) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Run every (run, network) of the plan; returns the measured rows, every step, and per-network notes.
    ``before_each`` runs after the quiet wait before every configuration (the study's op-profile passes).

    A failing run raises `harness.fidelity.launch.MeasurementError` after its processes are killed and its
    namespaces deleted. ``config_extra`` goes into every `RunConfig` (the tests' forced-failure hook)."""
    rows, steps, notes = [], [], {}
    todo = [(i, run, n) for n in plan.networks() for i, run in enumerate(plan.runs) if n in run.networks]
    done = 0
    for network in plan.networks():
        with _network_context(plan, network, netns_prefix) as net:
            placement = Loopback() if net is None else InNamespaces(net)
            for index, run in enumerate(plan.runs):
                if network not in run.networks:
                    continue
                busy = wait_until_quiet(0.15, quiet_wait_s, 0.5)
                load = os.getloadavg()[0]
                if before_each is not None:
                    before_each()
                config = run_config(plan, run, network, **config_extra)
                started = time.time()
                records = run_stages(config, placement, port=None if net is None else 29500 + done)
                row, table = reduce_records(records, config, index)
                row.update(cpu_busy_before=busy, load1_before=load, wall_s=time.time() - started)
                rows.append(row)
                steps.append(table)
                done += 1
                progress(f"[{done}/{len(todo)}] {network} {run.stages} stages {run.schedule} {run.method}: "
                         f"{row['measured_ms']:.1f} ms/step (p10 {row['measured_ms_p10']:.1f}, p90 "
                         f"{row['measured_ms_p90']:.1f}), {row['fwd_wire_bytes']} B forward per micro-batch, "
                         f"loss {row['loss_first']:.2f} -> {row['loss_last']:.2f}, "
                         f"CPUs {'?' if busy is None else f'{busy:.0%}'} busy before")
            if net is not None:
                stats = net.qdisc_stats()
                notes[network] = {"tbf_dropped_packets": sum(v["dropped"] for v in stats.values()),
                                  "tbf_sent_bytes": sum(v["sent_bytes"] for v in stats.values())}
    return pd.DataFrame(rows), pd.concat(steps, ignore_index=True), notes


# ------------------------------------------------------------------------------------------------ predicting
def predict_table(plan: StudyPlan, measured: pd.DataFrame, codec_times: pd.DataFrame, timings_root: Path | str,
                  fidelity_dir: Path | str, op_times: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict]:
    """Add every prediction and signed error to the measured rows; returns the table and the links used. With
    ``op_times`` (the study's op profile) the ``op_profile`` diagnostic is priced from it."""
    from harness.fidelity.compute import open_cache_state_replay, open_cpu_replay

    family = open_cache_state_replay(1, timings_root)
    replay = open_cpu_replay(1, timings_root)
    ops = None if op_times is None else StudyOpReplay(op_times, open_cpu_replay(1, timings_root))
    links = {n: link_model(n, fidelity_dir, plan.mtu_bytes) for n in sorted(set(measured["network"]))}
    rows = []
    for _, row in measured.iterrows():
        run: RunSpec = plan.runs[int(row["run_index"])]
        rows.append(predict_run(plan, run, row, links[row["network"]], family, replay, codec_times,
                                op_replay=ops))
    table = pd.concat([measured.reset_index(drop=True), pd.DataFrame(rows)], axis=1)
    for name, column in PREDICTIONS.items():
        suffix = "" if name == "tables" else f"_{name}"
        table[f"error_pct{suffix}"] = (float("nan") if table[column].isna().all()
                                       else signed_error_pct(table[column], table["measured_ms"]))
    used = {n: {"payload_gbps": l.payload_gbps, "configured_gbps": l.link.bandwidth_gbps,
                "protocol_efficiency": l.link.protocol_efficiency, "latency_us": l.link.latency_us,
                "source": l.source} for n, l in links.items()}
    provenance = {"table_set": "cpu", "table_hashes": replay.table_hashes(), "timing_sources": replay.summary(),
                  "cache_state_family": family.provenance()}
    extra = {} if ops is None else {"op_profile_sources": ops.summary()}
    return table, {"links": used, "compute_tables": provenance, **extra}


def summary_table(table: pd.DataFrame) -> pd.DataFrame:
    """Median |error| per network and overall for every prediction, the worst signed error, the target check."""
    columns = ["error_pct", "error_pct_single_flush", "error_pct_op_profile", "error_pct_kernel_codec",
               "error_pct_measured_compute", "error_pct_eager"]
    columns = [c for c in columns if table[c].notna().all()]  # op_profile: absent from studies without op_times.csv
    out = summarize(table, columns, ["network"])
    worst = []
    for network in out["network"]:
        group = table if network == "all" else table[table["network"] == network]
        errors = group["error_pct"].to_numpy(float)
        worst.append(float(errors[np.argmax(np.abs(errors))]))
    out["worst_error_pct"] = worst
    out["meets_target"] = out["median_abs_error_pct"] <= TARGET_MEDIAN_PCT
    return out


# ------------------------------------------------------------------------------------------------ the study
def machine_meta() -> dict:
    import torch

    return {"machine": platform.machine(), "logical_cores": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "numpy": np.__version__, "pandas": pd.__version__,
            "platform": platform.platform()}


def protocol(op_profile: bool) -> str:
    """The protocol paragraph; ``op_profile``: the study holds its own op profile (``op_times.csv``)."""
    if not op_profile:
        return PROTOCOL
    return PROTOCOL + (
        " Beside it (op_profile): the same prediction with the model's own ops timed alone at their exact shapes "
        "(op_times.csv: the CPU profiler's timer; two passes over all of them before the runs and one before every "
        "configuration, median over the passes).")


PROTOCOL = (
    "Each configuration: one process per stage (gloo, one torch thread each), explicit send/recv schedule "
    "(methods.pipeline.schedule), codecs of methods.pipeline at every boundary (encode on the sender, the exact "
    "wire bytes sent, decode on the receiver); per step a barrier, then the stage's events, then AdamW; step time = "
    "the slowest stage's barrier-to-optimizer time; median over the timed steps after the warm-up steps. "
    "Sender/receiver agreement: sha1 of every message's sender view and received tensor in the warm-up steps. "
    "Networks: loopback (processes on this machine), and network namespaces behind a bridge with tc tbf on every "
    "veth at the configured rate (harness.fidelity.netns). Prediction: the pipeline_step kind's engine with "
    "compute from the 1-thread CPU timing tables at each stage's cache state (the compute model of the compute "
    "study: tables profiled after flushes of 4-128 MiB, blended at the bytes a stage cycles through between two "
    "uses of its data), codec times from codec_times.csv (timed alone before the runs), "
    "link = configured rate x TCP payload efficiency and the fidelity study's ping-pong latency, a message moving "
    "only once its receiver has posted the receive (gloo's rendezvous); nothing fitted to the pipelined steps.")


def run_study(plan: StudyPlan, *, timings_root: Path | str, fidelity_dir: Path | str, progress: Progress = print,
              quiet_wait_s: float = 20.0) -> StudyTables:
    """Time the codecs, measure every configuration, predict, compare."""
    from harness.fidelity.compute import open_cache_state_replay, open_cpu_replay

    started = time.time()
    link_model(plan.networks()[-1], fidelity_dir, plan.mtu_bytes)  # fail before measuring if a fit is missing
    open_cache_state_replay(1, timings_root)  # and if the tables `predict_table` prices from are missing
    open_cpu_replay(1, timings_root)
    progress("timing the model's ops alone (the study's op profile; one more pass before every configuration)")
    profile = plan_profile(plan)
    for _ in range(2):
        profile.run_pass()
    progress("timing the codecs alone (codec timing table)")
    codec_times = measure_codec_times(plan)
    load_before = os.getloadavg()
    measured, steps, notes = measure_runs(plan, progress, quiet_wait_s, before_each=profile.run_pass)
    # predicted from the values as written, so that `recompute` of the written study gives the same tables
    measured, codec_times, op_times = as_written(measured), as_written(codec_times), as_written(profile.frame())
    table, provenance = predict_table(plan, measured, codec_times, timings_root, fidelity_dir, op_times)
    meta = {"plan": plan.model_dump(mode="json"), "machine": machine_meta(), "protocol": protocol(True),
            "target_median_abs_error_pct": TARGET_MEDIAN_PCT, "networks": notes, **provenance,
            "load_average_before": load_before, "load_average_after": os.getloadavg(),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "wall_time_s": time.time() - started}
    return StudyTables(table, summary_table(table), codec_times, steps, meta, op_times)


def recompute(out_dir: Path | str, *, timings_root: Path | str, fidelity_dir: Path | str) -> StudyTables:
    """Predict again from a written study's measurements (its plan from meta.json)."""
    from pydantic import ValidationError

    from harness.errors import HarnessError

    out = Path(out_dir)
    path = out / "meta.json"
    try:  # each file named when it is missing or unreadable (not a traceback)
        meta = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or not isinstance(meta.get("plan"), dict):
            raise ValueError("expected a JSON object with the study's 'plan'")
        plan = StudyPlan.model_validate(meta["plan"])
        runs = pd.read_csv(path := out / "runs.csv")
        codec_times = pd.read_csv(path := out / "codec_times.csv")
        steps = pd.read_csv(path := out / "raw" / "steps.csv")
        path = out / "op_times.csv"
        op_times = pd.read_csv(path) if path.is_file() else None
    except FileNotFoundError as err:
        raise HarnessError(f"--recompute: {err.filename} does not exist; run `harness pipeline-fidelity` first") from None
    except IsADirectoryError:
        raise HarnessError(f"--recompute: {path} is a folder, not the written study's file") from None
    except ValidationError as err:
        raise HarnessError(f"--recompute: {path}: the saved plan is not valid ({err.error_count()} problem(s), "
                           f"first: {'.'.join(map(str, err.errors()[0]['loc']))}: {err.errors()[0]['msg']})") from None
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        why = "; ".join(line.strip() for line in str(err).splitlines() if line.strip())
        raise HarnessError(f"--recompute: {path}: unreadable ({why})") from None
    keep = [c for c in runs.columns if not c.startswith(("predicted_", "error_pct", "link_", "cpu_share_factor",
                                                         "codec_sources"))]
    table, provenance = predict_table(plan, runs[keep], codec_times, timings_root, fidelity_dir, op_times)
    stale = {"op_profile_sources", "compute_source"} - provenance.keys()
    meta = {k: v for k, v in meta.items() if k not in stale} | provenance | {"protocol": protocol(op_times is not None)}
    return StudyTables(table, summary_table(table), codec_times, steps, meta, op_times)


#: every measuring run of the study is also kept whole in ``history/<date>/`` (`keep_in_history`), so that
#: `history_table` can predict each of them again with the current model
HISTORY_DIR = "history"
HISTORY_COLUMNS = ["date", "n_configurations", "median_abs_error_pct", "median_abs_error_pct_single_flush",
                   "median_abs_error_pct_op_profile", "median_abs_error_pct_measured_compute",
                   "stage_compute_measured_over_tables", "load_average_before"]


def _history_folder(out_dir: Path | str, study: StudyTables) -> Path:
    return Path(out_dir) / HISTORY_DIR / study.meta["date"].replace(":", "")


def keep_in_history(study: StudyTables, out_dir: Path | str) -> Path:
    """Write a measuring run's study again under ``history/<date>/`` beside the study (what `recompute` reads)."""
    folder = _history_folder(out_dir, study)
    write_study(study, folder)
    return folder


def history_table(out_dir: Path | str, timings_root: Path | str, fidelity_dir: Path | str,
                  current: StudyTables | None = None) -> pd.DataFrame:
    """One row per kept run (`keep_in_history`), oldest first, each predicted again from its own measurements with
    the current model: its median |error| per prediction and its measured / predicted stage compute. ``current``,
    a study just predicted with the current model, stands for its own kept run instead of predicting it again."""
    rows = []
    own = None if current is None else _history_folder(out_dir, current)
    for folder in sorted(p for p in (Path(out_dir) / HISTORY_DIR).glob("*") if p.is_dir()):
        study = current if folder == own else recompute(folder, timings_root=timings_root, fidelity_dir=fidelity_dir)
        overall = study.summary[study.summary["network"] == "all"].iloc[0]
        ratio = (study.runs["measured_stage_compute_ms"] / study.runs["predicted_stage_compute_ms"]).median()
        rows.append({"date": study.meta["date"], "n_configurations": int(overall["n_points"]),
                     **{c: overall.get(c, float("nan")) for c in HISTORY_COLUMNS[2:6]},
                     "stage_compute_measured_over_tables": float(ratio),
                     "load_average_before": (study.meta.get("load_average_before") or [float("nan")])[0]})
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


#: every table of the study is written with six significant digits (`write_study`)
FLOAT_FORMAT = "%.6g"


def as_written(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as `recompute` reads it back from its CSV file."""
    return pd.read_csv(io.StringIO(frame.to_csv(index=False, float_format=FLOAT_FORMAT)))


def write_study(study: StudyTables, out_dir: Path | str) -> list[Path]:
    out = Path(out_dir)
    files = {"runs.csv": study.runs.to_csv(index=False, float_format=FLOAT_FORMAT),
             "summary.csv": study.summary.to_csv(index=False, float_format=FLOAT_FORMAT),
             "codec_times.csv": study.codec_times.to_csv(index=False, float_format=FLOAT_FORMAT),
             "raw/steps.csv": study.steps.to_csv(index=False, float_format=FLOAT_FORMAT),
             "meta.json": json.dumps(study.meta, indent=1, default=str) + "\n"}
    if study.op_times is not None:
        files["op_times.csv"] = study.op_times.to_csv(index=False, float_format=FLOAT_FORMAT)
    for name, text in files.items():
        write_text_atomic(out / name, text)
    return [out / name for name in files]
