"""The README of ``results/pipeline/``: protocol, per-configuration table and summary, from a study's tables."""

from __future__ import annotations

import pandas as pd


def _table(runs: pd.DataFrame) -> list[str]:
    lines = ["| network | stages | schedule | method | fwd B / micro-batch | measured ms (p10-p90) | predicted ms | "
             "error % | op-profile prediction ms | error % | measured-compute prediction ms | error % | "
             "stage compute ms (measured / tables / op profile) | CPUs busy before |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs.itertuples():
        busy = "?" if pd.isna(r.cpu_busy_before) else f"{r.cpu_busy_before:.0%}"
        lines.append(f"| {r.network} | {r.stages} | {r.schedule} | {r.method} | {r.fwd_wire_bytes} | "
                     f"{r.measured_ms:.1f} ({r.measured_ms_p10:.1f}-{r.measured_ms_p90:.1f}) | {r.predicted_ms:.1f} | "
                     f"{r.error_pct:+.1f} | {_ms(r.predicted_ms_op_profile)} | {_pct(r.error_pct_op_profile)} | "
                     f"{r.predicted_ms_measured_compute:.1f} | "
                     f"{r.error_pct_measured_compute:+.1f} | {r.measured_stage_compute_ms:.1f} / "
                     f"{r.predicted_stage_compute_ms:.1f} / {_ms(r.predicted_stage_compute_ms_op_profile)} | {busy} |")
    return lines


def _ms(value: float) -> str:
    return "-" if pd.isna(value) else f"{value:.1f}"


def _pct(value: float) -> str:
    return "-" if pd.isna(value) else f"{value:+.1f}"


def _priority(meta: dict) -> str:
    nice = meta.get("niceness", 0)
    if not nice:
        return ""
    text = f"; the study and its stage processes ran at niceness {nice}"
    if meta.get("autogroup_nice") is not None:
        text += (" and so did their session's scheduler autogroup (the kernel shares the CPUs between sessions "
                 "first, so a process's own niceness alone ranks it only inside its session)")
    return text + ", so the other jobs took little of the CPUs during the runs"


def _ratio(runs: pd.DataFrame, column: str) -> pd.Series:
    return runs["measured_stage_compute_ms"] / runs[column]


def _compute_line(runs: pd.DataFrame, overall: pd.Series, op_profile: bool) -> str:
    text = (f"- Compute: the runs' own per-stage compute and codec times in the same engine give "
            f"{overall['median_abs_error_pct_measured_compute']:.1f}%; the rest is the compute model. "
            f"Measured per-micro-batch stage compute / the tables' prediction: median "
            f"{_ratio(runs, 'predicted_stage_compute_ms').median():.2f}x.")
    if not op_profile:
        return text
    drift = (runs["predicted_stage_compute_ms_op_profile"] / runs["predicted_stage_compute_ms"]).median()
    return text + (
        f" The model's own ops timed alone around the runs (op_times.csv) put it at {drift:.2f}x the tables "
        "(this machine's speed changes for seconds at a time, and each table row carries the speed of the moment "
        "it was timed), and the stages inside the pipelined runs computed "
        f"{_ratio(runs, 'predicted_stage_compute_ms_op_profile').median():.2f}x what those ops timed alone add up "
        f"to; predicted from the op profile, the median |error| is {overall['median_abs_error_pct_op_profile']:.1f}%.")


#: the study's prediction has priced compute from the cache-state CPU tables since this moment (UTC)
CACHE_STATE_SINCE = "2026-12-06T15:51:37Z"


def _reading(runs: pd.DataFrame, summary: pd.DataFrame, op_profile: bool = False, measured_on: str = "") -> list[str]:
    """What the numbers say about the model, computed from the tables (``measured_on``: the study's date)."""
    overall = summary[summary["network"] == "all"].iloc[0]
    shared = runs[runs["cpu_share_factor"] > 1]
    lines = [
        "## Reading",
        "",
        "- Transfers: gloo's send of an unbound buffer moves data only once the receiver has posted its receive "
        "(gloo `transport/tcp/pair.cc`), so a message cannot cross the link while the receiving stage is still "
        "computing its previous event. The prediction models that (`simulate_pipeline(..., rendezvous=True)`); "
        "the kind's default, eager transfers, gives a median |error| of "
        f"{overall['median_abs_error_pct_eager']:.1f}% (columns `predicted_ms_eager`, `error_pct_eager`). "
        "The rule was added after an earlier run of this plan, predicted with eager transfers, under-predicted the "
        "slow links; it is read from gloo's source, not fitted, these measurements were taken after it was added, "
        "and the eager numbers stay beside it.",
        _compute_line(runs, overall, op_profile),
    ]
    if "median_abs_error_pct_single_flush" in overall:
        when = ("after these measurements were taken, by the model the compute study had set, not by a fit to them"
                if measured_on < CACHE_STATE_SINCE else "before these measurements were taken")
        lines.append(
            "- Compute source: the stages' ops are priced from the CPU tables at the cache state each stage leaves "
            "(the compute study's model, validated on real training steps; a stage's forward and backward at its "
            "weights + gradients + one micro-batch's saved activations, its optimizer at everything it holds). The "
            f"study priced from the single-flush tables before; that source was replaced {when}, and its numbers "
            "stay beside (columns `*_single_flush`): median |error| "
            f"{overall['median_abs_error_pct_single_flush']:.1f}%, "
            "measured / predicted stage compute "
            f"{_ratio(runs, 'predicted_stage_compute_ms_single_flush').median():.2f}x.")
    if not shared.empty:
        lines.append(
            f"- {len(shared)} configuration(s) run more stage processes than the machine has cores; the prediction "
            "shares the cores among the stages computing at each moment (processor sharing, as the scheduler's "
            "time slices do: a stage waiting for a message leaves its share to the others) and stretches the "
            "optimizer steps, which all stages run at once, by stages / cores "
            f"({', '.join(f'{v:g}x' for v in sorted(set(shared['cpu_share_factor'])))}): signed errors "
            + ", ".join(f"{e:+.1f}%" for e in shared["error_pct"]) + ".")
    under = int((runs["error_pct"] < 0).sum())
    lines.append(f"- {under} of {len(runs)} configurations are under-predicted: per-message Python and gloo work, the "
                 "barrier that starts every measured step and the stages' start skew are not modelled, and this "
                 "machine's speed drifts between the op profile and the runs (measured / predicted stage compute "
                 f"spans {_ratio(runs, 'predicted_stage_compute_ms').min():.2f}x to "
                 f"{_ratio(runs, 'predicted_stage_compute_ms').max():.2f}x).")
    return lines


def _history(history: pd.DataFrame | None) -> list[str]:
    """The runs of this plan kept in ``history/``, each predicted again with the current model."""
    if history is None or history.empty:
        return []
    lines = ["", "## Runs of this plan", "",
             f"Every measuring run is kept in `history/<date>/`; each is predicted again here with the current model "
             f"(`history.csv`). Over {len(history)} run(s) the median |error| ranges "
             f"{history['median_abs_error_pct'].min():.1f}-{history['median_abs_error_pct'].max():.1f}% (single-flush "
             f"tables: {history['median_abs_error_pct_single_flush'].min():.1f}-"
             f"{history['median_abs_error_pct_single_flush'].max():.1f}%); the runs' own stage times give "
             f"{history['median_abs_error_pct_measured_compute'].min():.1f}-"
             f"{history['median_abs_error_pct_measured_compute'].max():.1f}%, and measured / predicted stage compute "
             f"ranges {history['stage_compute_measured_over_tables'].min():.2f}-"
             f"{history['stage_compute_measured_over_tables'].max():.2f}x.", "",
             "| run (UTC) | configurations | median \\|error\\| % | single-flush tables % | ops timed alone % | "
             "run's own stage times % | measured / predicted stage compute | load average before |",
             "|---|---|---|---|---|---|---|---|"]
    for r in history.itertuples():
        lines.append(f"| {r.date} | {r.n_configurations} | {r.median_abs_error_pct:.1f} | "
                     f"{r.median_abs_error_pct_single_flush:.1f} | {_ms(r.median_abs_error_pct_op_profile)} | "
                     f"{r.median_abs_error_pct_measured_compute:.1f} | {r.stage_compute_measured_over_tables:.2f}x | "
                     f"{r.load_average_before:.2f} |")
    return lines


def readme_text(study, quick: bool = False, history: pd.DataFrame | None = None) -> str:
    runs, summary, meta = study.runs, study.summary, study.meta
    overall = summary[summary["network"] == "all"].iloc[0]
    plan = meta["plan"]
    model = plan["model"]
    compute_ratio = _ratio(runs, "predicted_stage_compute_ms").median()
    op_profile = study.op_times is not None
    lines = [
        "# Real pipelined training over shaped links vs the pipeline simulator",
        "",
        "Written by `harness pipeline-fidelity" + (" --quick" if quick else "") + "` (`harness/pipeline_study/`); "
        "`--recompute` predicts again from these measurements. Follows TAH-Quant (arXiv 2506.01352) and AQ-SGD "
        "(arXiv 2206.01299) at a reduced scale: TinyLlama with d_model "
        f"{model['d_model']}, {model['n_layers']} blocks, vocabulary {model['vocab_size']}; "
        f"{plan['n_micro_batches']} micro-batches of {plan['micro_batch']} x {plan['seq_len']} tokens per step; "
        f"{plan['warmup_steps']} warm-up and {plan['measured_steps']} timed steps per configuration.",
        "",
        "## Protocol",
        "",
        meta["protocol"],
        "",
        "Links used by the prediction:",
        "",
    ]
    for network, link in meta["links"].items():
        rate = (f"{link['payload_gbps'] * 1000:.1f} Mbit/s" if network == "loopback" else
                f"{link['payload_gbps'] * 1000:.1f} Mbit/s of payload (configured {link['configured_gbps'] * 1000:.0f} "
                f"x efficiency {link['protocol_efficiency']:.3f})")
        lines.append(f"- {network}: {rate}, latency {link['latency_us']:.0f} us ({link['source']})")
    lines += [
        "",
        f"Machine: {meta['machine']['logical_cores']} logical CPUs, torch {meta['machine']['torch']}; "
        f"{meta.get('load', '')}. The CPUs are shared with other jobs (the busy fraction of the CPUs just before "
        "each configuration is in the table)" + _priority(meta) + ".",
        "",
        "## Result",
        "",
        f"Median |error| of the prediction (compute from the CPU timing tables at each stage's cache state): "
        f"{overall['median_abs_error_pct']:.1f}% over {int(overall['n_points'])} configurations "
        f"(target <= {meta['target_median_abs_error_pct']:g}%: {'met' if overall['meets_target'] else 'missed'}); "
        f"worst {overall['worst_error_pct']:+.1f}%. "
        + (f"From the single-flush CPU tables instead (the study's compute source before the cache-state tables): "
           f"{overall['median_abs_error_pct_single_flush']:.1f}%. " if "median_abs_error_pct_single_flush" in overall
           else "")
        + f"With the run's own per-stage compute and codec times "
        f"(schedule and link model alone): {overall['median_abs_error_pct_measured_compute']:.1f}%. With the "
        f"kernel tables' codec pricing (no serialization): {overall['median_abs_error_pct_kernel_codec']:.1f}%. "
        + (f"With the model's ops timed alone around the runs instead of the tables: "
           f"{overall['median_abs_error_pct_op_profile']:.1f}%. " if op_profile else "")
        + f"Measured per-micro-batch stage compute / the tables' prediction: median {compute_ratio:.2f}x.",
        "",
        *_table(runs),
        "",
        *_reading(runs, summary, op_profile, str(meta.get("date", ""))),
        *_history(history),
        "",
        "Every message's sender view and received tensor agreed bit for bit in every configuration: "
        + ("yes" if bool(runs["sender_receiver_agree"].all()) else "NO (see `sender_receiver_agree`)")
        + f" ({int(runs['messages_checked'].sum())} messages checked).",
        "",
        "Files: `runs.csv` (one row per configuration; per-stage clocks `measured_<clock>_ms_s<stage>` per step), "
        "`summary.csv`, " + ("`op_times.csv` (the study's op profile), " if op_profile else "")
        + "`codec_times.csv` (the codec timing table), `raw/steps.csv` (every stage's every step), "
        "`meta.json` (plan, versions, protocol, links, timing-table hashes)"
        + (", `history/<date>/` (every measuring run, whole) and `history.csv` (each predicted again)."
           if history is not None and not history.empty else "."),
        "",
    ]
    return "\n".join(lines)
