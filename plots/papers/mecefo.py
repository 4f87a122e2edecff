"""MeCeFO tables the failure simulator can rebuild (Hu et al., arXiv 2510.16415): Table 1 (failure scenarios),
Table 2 (throughput under failures), and the appendix's asymmetric-failure (Table 7) and higher-frequency
(Table 8) tables.

Every number comes from the ``fault_tolerant_training`` kind (`harness.failures`): the paper's cluster (32 A100s in
4 nodes), LLaMA 350M / 1B / 7B, failures anywhere in the cluster at the rates of its Table 1, and five policies
meeting the same failures: failure-free, checkpoint-restart, Bamboo, Oobleck and MeCeFO's neighbour-do-both. Step
times are priced op by op on the A100's datasheet roofline (no A100 timing tables are measured), MeCeFO's
neighbour step from its documented techniques (`harness.failures.step_costs`), nothing calibrated to the paper.

Figures 3-7 and Tables 3-6 and 10 come from real training at reduced scale (the ``mecefo_training`` kind,
`methods.mecefo`): simulated data-parallel ranks training a tiny LLaMA-shaped model (Table 10: a tiny MLA + MoE
model, `methods.models.moe_mla`) in one process, failed ranks' micro-batches taken over by neighbours with the
paper's three techniques; memory and time measured on this CPU; Tables 4-5 score Table 3's trained models on
synthetic downstream probes (`methods.mecefo.probes`), judged "flat" within a tolerance set by the seed spread.
Figures 1-2 are static diagrams; Tables 9 and 11, whose content is unknown, are declared not reconstructable.
Each verdict is a pure function of the item's CSV (`VERDICTS`); "within a factor of 2" is the band used where the
paper gives a number (`FACTOR`), 1.5x the band for "robust" (`ROBUST`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from plots.arms import missing_arms, raise_missing
from plots.registry import FigureOutput, register_figure, register_missing
from plots.spread import draw_band, final_over_seeds, n_seeds, over_seeds, pm
from plots.style import color_for, new_figure
from plots.verdict import Check, Verdict, above, at_most, judge, not_checkable, within
from plots.verdict import ordered as ordered_check

if TYPE_CHECKING:
    from plots.runner import FigureContext

THROUGHPUT = "scenarios/mecefo/throughput.yaml"
HIGHER = "scenarios/mecefo/higher_frequency.yaml"
ASYMMETRIC = "scenarios/mecefo/asymmetric.yaml"
QUICK = ("failures.replicates=3",)
FACTOR = 2.0
ROBUST = 1.5

MODELS = {"llama-350m": "LLaMA-350M", "llama-1b": "LLaMA-1B", "llama-7b": "LLaMA-7B"}
POLICY_NAMES = {"failure_free": "failure-free", "checkpoint_restart": "checkpoint-restart", "bamboo": "Bamboo",
                "oobleck": "Oobleck", "mecefo": "MeCeFO"}
BASELINES = ("checkpoint_restart", "bamboo", "oobleck")
FREQUENCIES = ("low", "medium", "high")
# Table 1 of the paper (research card B2): failure interval and recovery time, hours
PAPER_TAB1 = {"low": (2.0, 4.0), "medium": (1.0, 3.0), "high": (0.5, 2.0)}
# Table 2 (research card B6): tokens/s without failures and at high frequency; MeCeFO's drops as printed; the 7B
# baseline drops are derived from the "5.0x to 6.7x" resilience claim (4.18% x 4.99 and x 6.72)
PAPER_TAB2 = {
    ("llama-350m", "bamboo"): (438e3, 407e3), ("llama-350m", "oobleck"): (704e3, 632e3),
    ("llama-350m", "mecefo"): (1199e3, 1186e3), ("llama-1b", "bamboo"): (154e3, 141e3),
    ("llama-1b", "oobleck"): (291e3, 251e3), ("llama-1b", "mecefo"): (471e3, 457e3),
}
PAPER_MECEFO_DROP = {"llama-350m": 1.07, "llama-1b": 2.98, "llama-7b": 4.18}
PAPER_RESILIENCE_7B = {"bamboo": 5.0, "oobleck": 6.7}

SIM_NOTE = ("Simulated with the project's failure simulator at the paper's cluster and model sizes: failures anywhere "
            "in the 32-GPU cluster (exponential gaps, a uniformly drawn working GPU each time, fixed recovery), the "
            "same failures for every policy, medians over replicates. Step times are priced op by op on the A100 "
            "datasheet roofline; MeCeFO's neighbour runs two micro-batches with attention skipped in backward, the "
            "FFN recomputed from its input and low-rank FFN weight gradients (rank 64), each op priced; Bamboo pays "
            "its redundant forward always and a doubled backward in fallback; Oobleck re-forms pipelines of 2-8 "
            "stages on the surviving GPUs; checkpoint-restart writes a Young-interval checkpoint at 10 GB/s and "
            "restarts in 20 minutes. Every policy pays 30 s to detect a failure. ")


def summary(sweep, axes: list[str]) -> pd.DataFrame:
    """Medians over replicates per sweep point and policy: tokens/s, failure-free tokens/s, drop %, failures."""
    metrics = sweep.metrics
    grouped = metrics.groupby([*axes, "policy"], sort=False)
    table = grouped.agg(tokens_per_s=("tokens_per_s", "median"),
                        failure_free_tokens_per_s=("failure_free_tokens_per_s", "first"),
                        drop_pct=("drop_pct", "median"), n_failures=("n_failures", "median"),
                        replicates=("replicate", "nunique")).reset_index()
    return table


def horizon_h(sweep) -> float:
    return float(sweep.points[0].scenario.failures.horizon_h)


def frequency_labels(intervals: pd.Series, where: str = "mecefo") -> dict[float, str]:
    """Longest failure interval = low frequency, then medium, then high; a ValueError naming ``where`` unless
    there are exactly three (with fewer, labels by rank would call the shortest interval there "low")."""
    ordered = sorted(set(float(v) for v in intervals), reverse=True)
    if len(ordered) != len(FREQUENCIES):
        raise ValueError(f"{where} needs {len(FREQUENCIES)} failure intervals ({', '.join(FREQUENCIES)} frequency); "
                         f"the runs have {len(ordered)}" + (f" ({', '.join(f'{v:g}' for v in ordered)})"
                                                             if ordered else ""))
    return {value: label for value, label in zip(ordered, FREQUENCIES)}


# ----------------------------------------------------------------------------------------------------- Table 1
@register_figure(
    id="mecefo.tab1", paper="mecefo", kind="table", title="Failure scenarios",
    caption=SIM_NOTE + "Rows: the three failure scenarios as our scenario file sets them, beside the paper's; the "
    "simulated interval is the horizon divided by the median number of failures (over models and replicates); the "
    "mean number of GPUs down follows from Little's law (recovery / interval).",
    claim="a failure every 2 h / 1 h / 0.5 h, recovery after 4 h / 3 h / 2 h (low / medium / high)",
    scale_note="the paper's setting: 32 GPUs, 200 simulated hours per point",
    scenarios=(THROUGHPUT,), quick_overrides=QUICK,
)
def draw_tab1(ctx: FigureContext) -> FigureOutput:
    sweep = ctx.run(THROUGHPUT)
    interval_col, recovery_col = "failures.cluster.mtbf_h", "failures.cluster.repair.mean_h"
    raise_missing(missing_arms(sweep.metrics["policy"], ["failure_free"], "mecefo.tab1"))
    rows = sweep.metrics[sweep.metrics["policy"] == "failure_free"]
    labels = frequency_labels(rows[interval_col], "mecefo.tab1")
    data = []
    for (interval, recovery), group in rows.groupby([interval_col, recovery_col], sort=False):
        label = labels[float(interval)]
        data.append({"frequency": label, "failure_interval_h": float(interval), "recovery_h": float(recovery),
                     "paper_failure_interval_h": PAPER_TAB1[label][0], "paper_recovery_h": PAPER_TAB1[label][1],
                     "simulated_interval_h": horizon_h(sweep) / float(group["n_failures"].median()),
                     "mean_gpus_down": float(recovery) / float(interval)})
    data = pd.DataFrame(data).sort_values("failure_interval_h", ascending=False).reset_index(drop=True)
    table = data.rename(columns={"failure_interval_h": "a failure every (h)", "recovery_h": "recovery (h)",
                                 "paper_failure_interval_h": "paper: every (h)",
                                 "paper_recovery_h": "paper: recovery (h)",
                                 "simulated_interval_h": "simulated interval (h)",
                                 "mean_gpus_down": "mean GPUs down"}).round(3)
    verdict = verdict_tab1(data)
    return FigureOutput(data=data, table=table, verdict=verdict, ours="; ".join(
        f"{r.frequency}: every {r.simulated_interval_h:.2f} h simulated" for r in data.itertuples()))


#: simulated failure interval vs the paper's: our tolerance, not the paper's
INTERVAL_TOLERANCE = 0.10


def verdict_tab1(data: pd.DataFrame) -> Verdict:
    """The simulated failure interval (horizon / median failure count, a result of the run) within
    `INTERVAL_TOLERANCE` of the paper's, per scenario. The scenario's interval and recovery are inputs (our scenario
    file sets them): they are shown beside the paper's, never checked against them."""
    checks: list[Check] = []
    for row in data.itertuples():
        checks.append(within(f"{row.frequency}: simulated interval (h), within {INTERVAL_TOLERANCE:.0%}",
                             ours=row.simulated_interval_h, low=(1 - INTERVAL_TOLERANCE) * row.paper_failure_interval_h,
                             high=(1 + INTERVAL_TOLERANCE) * row.paper_failure_interval_h,
                             paper=f"a failure every {row.paper_failure_interval_h:g} h"))
    differ = [f"{row.frequency}: ours every {row.failure_interval_h:g} h / {row.recovery_h:g} h down, paper "
              f"{row.paper_failure_interval_h:g} h / {row.paper_recovery_h:g} h" for row in data.itertuples()
              if (row.failure_interval_h, row.recovery_h) != (row.paper_failure_interval_h, row.paper_recovery_h)]
    setting = ("Our scenario file sets a different setting from the paper's (" + "; ".join(differ) + ")."
               if differ else "Our scenario file sets the paper's intervals and recovery times.")
    return judge(checks, explanation=(
        "Table 1 lists the paper's failure scenarios, a setting rather than a result. What is checked is computed: "
        "the interval the simulated failure process delivers (the horizon divided by the median failure "
        f"count over models and replicates), within {INTERVAL_TOLERANCE:.0%} of the paper's interval (our "
        "tolerance). The recovery time is an input of the fixed-repair model with no simulated counterpart in this "
        f"table, so it is shown, not checked. {setting}"))


# ----------------------------------------------------------------------------------------------------- Table 2
@register_figure(
    id="mecefo.tab2", paper="mecefo", kind="table", title="Throughput under failures (tokens/s)",
    caption=SIM_NOTE + "Rows: model x policy; columns: tokens/s without failures and under the three scenarios of "
    "Table 1, the drop at high frequency, and the paper's numbers where a source gives them (the 7B Bamboo and "
    "Oobleck drops are derived from the paper's 5.0x-6.7x resilience claim).",
    claim="MeCeFO drops 1.07% / 2.98% / 4.18% at high frequency (350M / 1B / 7B); 5.0x-6.7x more resilient than "
          "Bamboo and Oobleck at 7B; failure-free MeCeFO > Oobleck > Bamboo",
    scale_note="the paper's setting (32 GPUs, 350M / 1B / 7B) simulated for 200 hours per point; 10 replicates "
               "(quick profile: 3)",
    scenarios=(THROUGHPUT,), quick_overrides=QUICK,
)
def draw_tab2(ctx: FigureContext) -> FigureOutput:
    sweep = ctx.run(THROUGHPUT)
    interval_col = "failures.cluster.mtbf_h"
    data = summary(sweep, ["workload.model", interval_col])
    labels = frequency_labels(data[interval_col], "mecefo.tab2")
    data["frequency"] = data[interval_col].map(lambda v: labels[float(v)])
    data = data.rename(columns={"workload.model": "model"}).drop(columns=[interval_col])
    data = data[data["policy"] != "failure_free"].reset_index(drop=True)
    raise_missing(tab2_lacking(data))
    ratios = {}
    for point, record in zip(sweep.points, sweep.runs, strict=True):
        steps = record.info["step_s"]
        ratios[point.scenario.workload.model] = steps["mecefo_neighbour_2"] / steps["normal"]
    data["neighbour_step_ratio"] = data["model"].map(ratios)
    table = tab2_table(data)
    verdict = verdict_tab2(data)
    high = data[(data["frequency"] == "high") & (data["model"] == "llama-7b")].set_index("policy")["drop_pct"]
    ours = (f"7B high frequency: MeCeFO drop {high['mecefo']:.2f}%, resilience vs Bamboo "
            f"{high['bamboo'] / high['mecefo']:.2f}x, vs Oobleck {high['oobleck'] / high['mecefo']:.2f}x")
    return FigureOutput(data=data, table=table, verdict=verdict, ours=ours)


def tab2_lacking(data: pd.DataFrame) -> str | None:
    """`missing_arms`'s line when a paper model, or MeCeFO, Bamboo or Oobleck at one of them, has no run."""
    reasons = [missing_arms(data["model"], list(PAPER_MECEFO_DROP), "mecefo.tab2")]
    reasons += [missing_arms(group["policy"], ["bamboo", "oobleck", "mecefo"], f"mecefo.tab2 for {model}")
                for model, group in data.groupby("model", sort=False)]
    return next((r for r in reasons if r), None)


def tab2_table(data: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (model, policy), group in data.groupby(["model", "policy"], sort=False):
        by = group.set_index("frequency")
        paper = PAPER_TAB2.get((model, policy))
        row = {"model": MODELS.get(model, model), "policy": POLICY_NAMES[policy],
               "no failure (k tokens/s)": round(by["failure_free_tokens_per_s"].iloc[0] / 1e3, 1)}
        for frequency in FREQUENCIES:
            row[f"{frequency} (k)"] = round(by.loc[frequency, "tokens_per_s"] / 1e3, 1)
        row["drop at high (%)"] = round(by.loc["high", "drop_pct"], 2)
        row["paper: no failure / high (k)"] = f"{paper[0] / 1e3:.0f} / {paper[1] / 1e3:.0f}" if paper else "—"
        row["paper: drop (%)"] = paper_drop(model, policy)
        rows.append(row)
    return pd.DataFrame(rows)


def paper_drop(model: str, policy: str) -> str:
    if policy == "mecefo":
        return f"{PAPER_MECEFO_DROP[model]:.2f}"
    if (model, policy) in PAPER_TAB2:
        free, high = PAPER_TAB2[(model, policy)]
        return f"{100 * (1 - high / free):.1f} (from the cells)"
    if model == "llama-7b" and policy in PAPER_RESILIENCE_7B:
        return f"{PAPER_MECEFO_DROP[model] * PAPER_RESILIENCE_7B[policy]:.1f} (derived)"
    return "—"


def verdict_tab2(data: pd.DataFrame) -> Verdict:
    if reason := tab2_lacking(data):
        return not_checkable(reason)
    high = data[data["frequency"] == "high"]
    drops = {(r.model, r.policy): r.drop_pct for r in high.itertuples()}
    checks: list[Check] = []
    for model, paper in PAPER_MECEFO_DROP.items():
        checks.append(within(f"{MODELS[model]}: MeCeFO drop at high frequency (%), within {FACTOR:g}x",
                             ours=drops[(model, "mecefo")], low=paper / FACTOR, high=paper * FACTOR,
                             paper=f"{paper}%"))
    for policy, paper in PAPER_RESILIENCE_7B.items():
        ratio = drops[("llama-7b", policy)] / drops[("llama-7b", "mecefo")]
        checks.append(within(f"LLaMA-7B: {POLICY_NAMES[policy]} drop / MeCeFO drop, within {FACTOR:g}x", ours=ratio,
                             low=paper / FACTOR, high=paper * FACTOR, paper=f"{paper}x"))
    free = data.groupby(["model", "policy"])["failure_free_tokens_per_s"].first()
    for model in ("llama-350m", "llama-1b"):
        checks.append(ordered_check(f"{MODELS[model]}: failure-free tokens/s", {
            p: float(free[(model, p)]) for p in ("bamboo", "oobleck", "mecefo")}, ["bamboo", "oobleck", "mecefo"],
            paper="Bamboo < Oobleck < MeCeFO"))
    ratio = data.groupby("model")["neighbour_step_ratio"].first()
    return judge(checks, explanation=(
        f"MeCeFO's neighbour step for two micro-batches, priced op by op, is {ratio.min():.2f}x-{ratio.max():.2f}x "
        "the normal step (350M-7B); with 2-4 GPUs down on average (Little's law on Table 1) some neighbour is active "
        "most of the time, and a synchronous step waits for it, so the simulated drop is close to that slowdown. "
        "The paper's 1-4% drops would need a neighbour step almost as fast as a normal one, which the documented "
        "techniques do not give in this cost model; Bamboo pays a similar fallback, and Oobleck loses only the "
        "failed GPUs' share of a slower pipelined step. Which checks hold is listed below."))


# ----------------------------------------------------------------------------------------------------- Table 8
@register_figure(
    id="mecefo.tab8", paper="mecefo", kind="table", title="Higher failure frequencies, same downtime/interval ratio",
    caption=SIM_NOTE + "LLaMA-7B. The high-frequency scenario (a failure every 0.5 h, 2 h down) and the same sped "
    "up 2x and 4x: the mean number of GPUs down stays 4. Rows: policies; columns: drop (%) per scenario.",
    claim="MeCeFO stays robust at higher failure frequencies with the same downtime/interval ratio",
    scale_note="32 GPUs, LLaMA-7B, 200 simulated hours per point; 10 replicates (quick profile: 3)",
    scenarios=(HIGHER,), quick_overrides=QUICK,
)
def draw_tab8(ctx: FigureContext) -> FigureOutput:
    sweep = ctx.run(HIGHER)
    data = summary(sweep, ["failures.cluster.mtbf_h", "failures.cluster.repair.mean_h"]).rename(
        columns={"failures.cluster.mtbf_h": "failure_interval_h", "failures.cluster.repair.mean_h": "recovery_h"})
    table = data.assign(scenario=lambda d: d["failure_interval_h"].map(lambda v: f"every {v:g} h") + " / "
                        + d["recovery_h"].map(lambda v: f"{v:g} h down"),
                        policy=lambda d: d["policy"].map(POLICY_NAMES))
    raise_missing(_robust_lacking(data, "failure_interval_h", float(data["failure_interval_h"].max()),
                                  _ROBUST_LABELS["failure_interval_h"], "mecefo.tab8"))
    table = table.pivot(index="policy", columns="scenario", values="drop_pct").round(2).reset_index()
    return FigureOutput(data=data, table=table, verdict=verdict_tab8(data),
                        ours=_robust_ours(data, "failure_interval_h"))


_ROBUST_LABELS = {"failure_interval_h": lambda v: f"a failure every {v:g} h",
                  "failing_fraction": lambda v: "failures on any GPU" if v == 1 else f"on a fixed {100 * v:g}% of GPUs"}


def _robust_ours(data: pd.DataFrame, axis: str) -> str:
    mecefo = data[data["policy"] == "mecefo"].set_index(axis)["drop_pct"]
    return "MeCeFO drop: " + ", ".join(f"{_ROBUST_LABELS[axis](k)}: {v:.1f}%" for k, v in mecefo.items())


def _robust_lacking(data: pd.DataFrame, axis: str, base: float, label, where: str) -> str | None:
    """What `_robust_checks` and the policy x scenario table need: the base scenario, a baseline, and every
    policy of the runs (MeCeFO among them) at every scenario; the line saying what is missing, or None."""
    scenarios = list(dict.fromkeys(data[axis]))
    if base not in scenarios:
        return (f"{where} needs runs at {label(base)}; the runs have "
                + (", ".join(label(v) for v in scenarios) or "none"))
    policies = list(dict.fromkeys(["mecefo", *data["policy"]]))
    if not any(p in policies for p in BASELINES):
        return missing_arms(data["policy"], BASELINES, where)
    reasons = (missing_arms(group["policy"], policies, f"{where} at {label(value)}")
               for value, group in data.groupby(axis, sort=False))
    return next((r for r in reasons if r), None)


def _robust_checks(data: pd.DataFrame, axis: str, base: float, label) -> list[Check]:
    checks: list[Check] = []
    mecefo = data[data["policy"] == "mecefo"].set_index(axis)["drop_pct"]
    for value, group in data.groupby(axis, sort=False):
        drops = group.set_index("policy")["drop_pct"]
        if float(value) != base:
            checks.append(at_most(f"{label(value)}: MeCeFO drop / its drop at the base scenario", ours=float(
                mecefo[value] / mecefo[base]), high=ROBUST, paper=f"robust (taken as <= {ROBUST:g}x)"))
        checks.append(at_most(f"{label(value)}: MeCeFO drop (%) vs the best baseline's", ours=float(drops["mecefo"]),
                              high=float(min(drops[p] for p in BASELINES if p in drops)),
                              paper="MeCeFO more resilient than the baselines"))
    return checks


def verdict_tab8(data: pd.DataFrame) -> Verdict:
    base = float(data["failure_interval_h"].max())
    if reason := _robust_lacking(data, "failure_interval_h", base, _ROBUST_LABELS["failure_interval_h"],
                                 "mecefo.tab8"):
        return not_checkable(reason)
    checks = _robust_checks(data, "failure_interval_h", base, lambda v: f"every {v:g} h")
    return judge(checks, explanation=(
        "With the same downtime/interval ratio the mean number of GPUs down is unchanged, so MeCeFO's drop moves "
        "only by what grows with the rate (detections, re-syncs of recovered GPUs); each frequency is also "
        "compared with the best baseline under the same failures."))


# ----------------------------------------------------------------------------------------------------- Table 7
@register_figure(
    id="mecefo.tab7", paper="mecefo", kind="table", title="Asymmetric failures",
    caption=SIM_NOTE + "LLaMA-7B at the high-frequency rate (a failure every 0.5 h, 2 h down), the failures hitting "
    "any GPU or only a fixed 25% of them (8 GPUs). Consecutive failed ranks share one neighbour, which then runs "
    "three or more micro-batches. Rows: policies; columns: drop (%).",
    claim="MeCeFO stays robust when failures concentrate on a fixed subset of nodes",
    scale_note="32 GPUs, LLaMA-7B, 200 simulated hours per point; 10 replicates (quick profile: 3)",
    scenarios=(ASYMMETRIC,), quick_overrides=QUICK,
)
def draw_tab7(ctx: FigureContext) -> FigureOutput:
    sweep = ctx.run(ASYMMETRIC)
    data = summary(sweep, ["failures.failing_fraction"]).rename(
        columns={"failures.failing_fraction": "failing_fraction"})
    table = data.assign(failing=lambda d: d["failing_fraction"].map(lambda v: f"{100 * v:g}% of GPUs fail"),
                        policy=lambda d: d["policy"].map(POLICY_NAMES))
    raise_missing(_robust_lacking(data, "failing_fraction", 1.0, _ROBUST_LABELS["failing_fraction"], "mecefo.tab7"))
    table = table.pivot(index="policy", columns="failing", values="drop_pct").round(2).reset_index()
    return FigureOutput(data=data, table=table, verdict=verdict_tab7(data), ours=_robust_ours(data, "failing_fraction"))


def verdict_tab7(data: pd.DataFrame) -> Verdict:
    if reason := _robust_lacking(data, "failing_fraction", 1.0, _ROBUST_LABELS["failing_fraction"], "mecefo.tab7"):
        return not_checkable(reason)
    checks = _robust_checks(data, "failing_fraction", 1.0, lambda v: f"{100 * v:g}% failing")
    return judge(checks, explanation=(
        "Failures on a fixed quarter of the GPUs put failed ranks next to each other in the ring, so one neighbour "
        "often carries three or more micro-batches; MeCeFO's drop is compared with the symmetric case and with the "
        "best baseline under the same failures."))


VERDICTS = {
    "mecefo.tab1": verdict_tab1,
    "mecefo.tab2": verdict_tab2,
    "mecefo.tab7": verdict_tab7,
    "mecefo.tab8": verdict_tab8,
}


# ------------------------------------------------------------------------------------- training runs (reduced)
SKIP = "scenarios/mecefo/training_skip.yaml"
ERROR = "scenarios/mecefo/training_error.yaml"
FREQUENCY = "scenarios/mecefo/training_frequency.yaml"
ABLATION = "scenarios/mecefo/training_ablation.yaml"
SKIP_QUICK = ("workload.steps=30", "workload.eval_every=10", "workload.record_every=5")
ERROR_QUICK = ("workload.steps=24", "workload.failures.interval_steps=6", "workload.failures.repair_steps=6",
               "workload.error_every=2", "workload.record_every=4")
FREQUENCY_QUICK = ("workload.steps=32", "workload.probes.zero_shot_items=100", "workload.probes.finetune_steps=15")
ABLATION_QUICK = ("workload.cost_repeats=7",)
TRAIN_NOTE = ("Reduced scale, on this CPU: simulated data-parallel ranks in one process train a tiny LLaMA-shaped "
              "model (RMSNorm, rotary attention, SwiGLU) on a generated grammar corpus with AdamW; when a rank "
              "fails, the next healthy rank in the ring also runs its micro-batch, both in neighbour mode "
              "(attention skipped in backward, FFN recomputed from its input, FFN weight gradients projected on the "
              "top-8 right singular vectors of each weight, refreshed every 20 steps); attention gradients are "
              "averaged over the ranks that computed them exactly, the rest over all micro-batches. Mean over the "
              "seeds (their number is in the scale note), band: min-max. ")
SKIP_NAMES = {"none": "no skip", "skip_attention": "skip-MHA", "skip_ffn": "skip-FFN"}
SKIP_SETTINGS = ("every rank skips", "only the neighbour skips")
BASELINE = "no skip"
# "stays close to the baseline": taken as a final held-out loss within 5% of no-skip training (the paper shows
# curves only); "skip-FFN degrades more": its gap above skip-MHA's
CLOSE = 0.05
# Assumption 3's empirical bound (research card B3.6: "stays below 0.6 during LLaMA-1B pre-training")
ERROR_BOUND = 0.6
ERROR_BIN = 4
WIDTHS = {32: "350M", 48: "1B", 64: "7B"}  # tiny widths standing in for the paper's models
NONE = "no failure"
# Table 3 (research card B6): validation perplexity with no failures, then low / medium / high frequency
PAPER_TAB3 = {"350M": (18.74, 18.75, 18.88, 19.04), "1B": (15.49, 15.51, 15.61, 15.83),
              "7B": (14.92, 14.97, 15.04, 15.16)}
# the device budget of Table 6's reduced version: a device the failure-free job fills to 80% (an assumption: the
# paper tunes its runs to the A100s; a naive neighbour doubling the activations then runs out of memory)
DEVICE_FILL = 0.8
ABLATION_ROWS = ("naive NDB", "+I", "+I+II", "+I+II+III")
# the simulator's neighbour step for two micro-batches, as tab2 prints it (harness.failures.step_costs)
SIM_NEIGHBOUR_RATIO = "1.41x-1.48x"


@register_figure(
    id="mecefo.fig3", paper="mecefo", kind="figure", title="Skipping attention vs skipping the FFN in backward",
    caption=TRAIN_NOTE + "Held-out loss (a corpus drawn with another seed) with attention (skip-MHA) or the FFN "
    "(skip-FFN) run with an identity backward, against exact training (no skip). Left: every rank skips at every "
    "step. Right: one of the 4 ranks is down for the whole run and only its neighbour skips, on its two "
    "micro-batches, with no other technique.",
    claim="the skip-MHA curve stays close to the baseline, while skip-FFN degrades",
    scale_note="tiny LLaMA (2 layers, d 32) on characters, 4 ranks x 4 sequences of 32, 300 steps (quick profile: "
    "30), 3 seeds; the paper pre-trains LLaMA on C4",
    scenarios=(SKIP,), quick_overrides=SKIP_QUICK,
)
def draw_fig3(ctx: FigureContext) -> FigureOutput:
    data = fig3_data(ctx.run(SKIP))
    raise_missing(fig3_lacking(data))
    fig, axes = new_figure(1, 2, sharey=True)
    for ax, setting in zip(axes, SKIP_SETTINGS, strict=True):
        for index, mode in enumerate(SKIP_NAMES.values()):
            sub = data[(data["mode"] == mode) & data["setting"].isin([setting, BASELINE])]
            stats = over_seeds(sub, by=["mode"], x="step", y="eval_loss")
            draw_band(ax, stats, "step", "eval_loss", color=color_for(mode, index), label=mode, marker="o",
                      markersize=2)
        ax.set_title(setting)
        ax.set_xlabel("iteration")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("held-out loss")
    gaps = fig3_gaps(data)
    ours = "final held-out loss vs no skip: " + "; ".join(
        f"{setting}: skip-MHA {gaps[(setting, 'skip-MHA')]:+.1%}, skip-FFN {gaps[(setting, 'skip-FFN')]:+.1%}"
        for setting in SKIP_SETTINGS)
    return FigureOutput(data=data, figure=fig, ours=ours, verdict=verdict_fig3(data))


def fig3_data(sweep) -> pd.DataFrame:
    """Every run's rows labelled by setting (every rank / neighbour only / the no-skip baseline) and mode."""
    frames = []
    for point, record in zip(sweep.points, sweep.runs, strict=True):
        w = point.scenario.workload
        if w.everywhere != "none":
            setting, mode = SKIP_SETTINGS[0], SKIP_NAMES[w.everywhere]
        elif w.failures.outages or w.failures.interval_steps is not None:
            setting = SKIP_SETTINGS[1]
            mode = SKIP_NAMES["skip_ffn" if w.techniques.skip_ffn else "skip_attention"]
        else:
            setting, mode = BASELINE, SKIP_NAMES["none"]
        frame = record.read_metrics()[["step", "loss", "eval_loss"]]
        frames.append(frame.assign(setting=setting, mode=mode, seed=point.scenario.seed))
    return pd.concat(frames, ignore_index=True)[["setting", "mode", "seed", "step", "loss", "eval_loss"]]


def fig3_lacking(data: pd.DataFrame) -> str | None:
    """`missing_arms`'s line when no-skip training or skip-MHA / skip-FFN under a setting has no run."""
    present = [mode if setting == BASELINE else f"{mode} ({setting})"
               for setting, mode in zip(data["setting"], data["mode"])]
    needed = [BASELINE, *(f"{mode} ({setting})" for setting in SKIP_SETTINGS for mode in ("skip-MHA", "skip-FFN"))]
    return missing_arms(present, needed, "mecefo.fig3")


def fig3_gaps(data: pd.DataFrame) -> dict[tuple[str, str], float]:
    """(setting, mode) -> seed-mean final held-out loss relative to no skip, minus 1."""
    final = final_over_seeds(data, ["setting", "mode"], "eval_loss").set_index(["setting", "mode"])["mean"]
    base = float(final[(BASELINE, SKIP_NAMES["none"])])
    return {key: float(value) / base - 1 for key, value in final.items() if key[0] != BASELINE}


def verdict_fig3(data: pd.DataFrame) -> Verdict:
    if reason := fig3_lacking(data):
        return not_checkable(reason)
    gaps = fig3_gaps(data)
    checks: list[Check] = []
    for setting in SKIP_SETTINGS:
        mha, ffn = gaps[(setting, "skip-MHA")], gaps[(setting, "skip-FFN")]
        checks += [
            at_most(f"{setting}: skip-MHA final held-out loss vs no skip (relative gap)", ours=mha, high=CLOSE,
                    paper=f"close to the baseline (taken as <= {CLOSE:.0%})"),
            ordered_check(f"{setting}: final held-out loss gap", {"skip-MHA": mha, "skip-FFN": ffn},
                          ["skip-MHA", "skip-FFN"], paper="skip-FFN degrades more than skip-MHA"),
        ]
    return judge(checks, explanation=(
        f"Seed-mean final held-out loss over {n_seeds(data)} seeds. When every rank skips a block, its weights get "
        "no gradient at all and the model keeps that block at its initial weights; a character model without "
        "trained attention sees no context. When only the neighbour skips, the other ranks still train the block "
        "and the skip only removes part of its gradient."))


def error_data(sweep) -> pd.DataFrame:
    """Gradient-error measurements with the width, the model it stands in for, and the step bin."""
    data = sweep.metrics.rename(columns={"workload.model.d_model": "d_model"})
    data = data.dropna(subset=["grad_rel_error"])[["d_model", "seed", "step", "grad_rel_error", "n_failed"]].copy()
    data["stands_for"] = data["d_model"].map(lambda d: f"LLaMA-{WIDTHS.get(int(d), '?')}")
    data["step_bin"] = data["step"] // ERROR_BIN * ERROR_BIN
    return data.reset_index(drop=True)


def _error_curve(ax, data: pd.DataFrame, color: str) -> None:
    per_seed = data.groupby(["stands_for", "seed", "step_bin"], as_index=False)["grad_rel_error"].mean()
    stats = over_seeds(per_seed, by=["stands_for"], x="step_bin", y="grad_rel_error")
    ax.scatter(data["step"], data["grad_rel_error"], s=6, color=color, alpha=0.35, label="each measurement")
    draw_band(ax, stats, "step_bin", "grad_rel_error", color=color, label=f"mean of {ERROR_BIN}-step bins")
    ax.axhline(ERROR_BOUND, color="0.3", linestyle="--", linewidth=1, label=f"paper's bound {ERROR_BOUND}")
    ax.set_xlabel("iteration")
    ax.set_ylabel("||g~ - g|| / ||g||")
    ax.legend(fontsize=7)


def _error_histogram(ax, data: pd.DataFrame) -> None:
    for index, (seed, group) in enumerate(data.groupby("seed")):
        ax.hist(group["grad_rel_error"], bins=15, range=(0, 1), histtype="step", color=color_for(str(seed), index),
                label=f"seed {seed}")
    ax.axvline(ERROR_BOUND, color="0.3", linestyle="--", linewidth=1, label=f"paper's bound {ERROR_BOUND}")
    ax.set_xlabel("||g~ - g|| / ||g||")
    ax.set_ylabel("failure steps")
    ax.legend(fontsize=7)


def _draw_error(ctx: FigureContext, width: int, form: str) -> FigureOutput:
    data = error_data(ctx.run(ERROR))
    widths = ctx.run(ERROR).metrics["workload.model.d_model"]
    raise_missing(missing_arms([f"d_model {int(d)}" for d in widths], [f"d_model {width}"],
                               f"the stand-in for LLaMA-{WIDTHS[width]}"))
    data = data[data["d_model"] == width].reset_index(drop=True)
    fig, axes = new_figure(1, 1)
    if form == "histogram":
        _error_histogram(axes[0], data)
    else:
        _error_curve(axes[0], data, color_for("error"))
    ours = (f"relative gradient error, {len(data)} measurements over {n_seeds(data)} seeds: "
            f"median {data['grad_rel_error'].median():.3f}, "
            f"max {data['grad_rel_error'].max():.3f}")
    return FigureOutput(data=data, figure=fig, ours=ours, verdict=verdict_error(data))


def verdict_error(data: pd.DataFrame) -> Verdict:
    if data.empty:
        return not_checkable("no step had a failed rank, so no gradient error was measured")
    checks = [at_most("largest relative gradient error, any seed and step", ours=float(data["grad_rel_error"].max()),
                      high=ERROR_BOUND, paper=f"stays below {ERROR_BOUND}")]
    checks += [at_most(f"seed {seed}: median relative gradient error", ours=float(group["grad_rel_error"].median()),
                       high=ERROR_BOUND, paper=f"below {ERROR_BOUND}") for seed, group in data.groupby("seed")]
    return judge(checks, explanation=(
        "The error compares the MeCeFO aggregate (attention averaged over exact ranks only, neighbour FFN weight "
        "gradients low-rank) with the exact data-parallel gradient at the same weights, at every measured step "
        f"with a failed rank, over {n_seeds(data)} seeds."))


def _error_spec(fig_id: str, width: int, form: str, shows: str) -> None:
    model = WIDTHS[width]
    register_figure(
        id=fig_id, paper="mecefo", kind="figure", title=f"Relative gradient error, stand-in for LLaMA-{model}"
        + (" (histogram)" if form == "histogram" else ""),
        caption=TRAIN_NOTE + f"Stand-in for LLaMA-{model}: the tiny model of width {width}. 4 ranks; failures "
        "anywhere every 20 steps on average, 20 steps down. " + shows,
        claim=f"the relative gradient error stays below {ERROR_BOUND}",
        scale_note=f"tiny LLaMA d {width} standing in for LLaMA-{model}; 300 steps (quick profile: 24 steps, "
        "failures every 6 steps, every second failure step measured), 3 seeds",
        scenarios=(ERROR,), quick_overrides=ERROR_QUICK,
    )(lambda ctx: _draw_error(ctx, width, form))


_error_spec("mecefo.fig4", 48, "curve", "||g~ - g|| / ||g|| at each failure step against the exact data-parallel "
            "gradient, dots per measurement and the mean of 4-step bins over seeds.")
_error_spec("mecefo.fig5", 32, "curve", "As Figure 4 at the smallest width.")
_error_spec("mecefo.fig6", 64, "histogram", "Distribution of the error over all failure steps, per seed.")
_error_spec("mecefo.fig7", 64, "curve", "The same measurements as Figure 6 over iterations.")


@register_figure(
    id="mecefo.tab3", paper="mecefo", kind="table", title="Held-out perplexity vs failure frequency",
    caption=TRAIN_NOTE + "The paper's three failure scenarios compressed to steps: one hour = 16 steps (a failure "
    "every 32 / 16 / 8 steps), recovery 8 / 6 / 4 steps (4 h / 3 h / 2 h divided by 8 as 32 GPUs become 4 "
    "ranks, so the share of ranks down is the paper's). Perplexity = exp(held-out loss per character) after the "
    "last step; the increase is paired per seed (same data and initial weights) against no failures.",
    claim="perplexity rises only +0.05% to +2.19% from no failures to high frequency (350M / 1B / 7B)",
    scale_note="tiny LLaMA (d 32) on characters, 4 ranks, 300 steps (quick profile: 32), 3 seeds; the paper "
    "trains 350M-7B on C4 tokens",
    scenarios=(FREQUENCY,), quick_overrides=FREQUENCY_QUICK,
)
def draw_tab3(ctx: FigureContext) -> FigureOutput:
    sweep = ctx.run(FREQUENCY)
    data = tab3_data(sweep.metrics, failed_steps=failure_steps(sweep))
    raise_missing(missing_arms(data["frequency"], FREQUENCY_ORDER, "mecefo.tab3"))
    stats = data.groupby("frequency", sort=False).agg(
        ppl_mean=("perplexity", "mean"), ppl_std=("perplexity", "std"), increase_mean=("increase_pct", "mean"),
        increase_std=("increase_pct", "std"), n_failures=("n_failures", "mean")).reindex([NONE, *FREQUENCIES])
    table = pd.DataFrame({
        "frequency": stats.index, "perplexity": [pm(r.ppl_mean, r.ppl_std, 4) for r in stats.itertuples()],
        "increase vs no failure (%)": [pm(r.increase_mean, r.increase_std, 2) for r in stats.itertuples()],
        "failures (mean)": stats["n_failures"].round(1).to_numpy(),
        **{f"paper {model}": [f"{v:.2f}" for v in values] for model, values in PAPER_TAB3.items()}})
    ours = "increase vs no failure: " + ", ".join(f"{f} {stats.loc[f, 'increase_mean']:+.2f}%" for f in FREQUENCIES)
    return FigureOutput(data=data, table=table, ours=ours, verdict=verdict_tab3(data))


def failure_steps(sweep, labels: dict[float, str] | None = None) -> pd.Series:
    """Per (frequency, seed): the steps with a failed rank, from each run's info (``failure_steps``). The metrics
    keep a row only every ``record_every`` steps (and at evaluations), so counting their rows undercounts.
    ``labels`` as in `tab3_data`."""
    intervals = [p.scenario.workload.failures.interval_steps for p in sweep.points]
    labels = labels or frequency_labels(pd.Series([v for v in intervals if v is not None]), "mecefo.tab3")
    keys = [(frequency_of(v, labels), p.scenario.seed) for v, p in zip(intervals, sweep.points, strict=True)]
    return pd.Series([int(r.info["failure_steps"]) for r in sweep.runs],
                     index=pd.MultiIndex.from_tuples(keys, names=["frequency", "seed"]))


def tab3_data(metrics: pd.DataFrame, labels: dict[float, str] | None = None, *,
              failed_steps: pd.Series) -> pd.DataFrame:
    """Per seed and frequency: final perplexity, its paired increase over no failures, failure steps seen.
    ``labels`` (failure interval in steps -> frequency) defaults to the longest interval = low, and so on.
    ``failed_steps``: the failure steps per frequency and seed (`failure_steps`)."""
    interval = "workload.failures.interval_steps"
    labels = labels or frequency_labels(metrics[interval].dropna(), "mecefo.tab3")
    metrics = metrics.assign(frequency=metrics[interval].map(lambda v: NONE if pd.isna(v) else labels[float(v)]))
    final = metrics.dropna(subset=["eval_loss"]).sort_values("step").groupby(["frequency", "seed"]).last()
    data = final[["eval_loss"]].assign(perplexity=np.exp(final["eval_loss"]), n_failures=failed_steps).reset_index()
    base = data[data["frequency"] == NONE].set_index("seed")["perplexity"]
    data["increase_pct"] = 100 * (data["perplexity"] / data["seed"].map(base) - 1)
    return data


def verdict_tab3(data: pd.DataFrame) -> Verdict:
    if reason := missing_arms(data["frequency"], FREQUENCIES, "mecefo.tab3"):
        return not_checkable(reason)
    mean = data.groupby("frequency")["increase_pct"].mean()
    paper_max = {f: max(100 * (v[i + 1] / v[0] - 1) for v in PAPER_TAB3.values()) for i, f in enumerate(FREQUENCIES)}
    checks: list[Check] = [
        at_most(f"{f}: perplexity increase over no failures (%), at most {FACTOR:g}x the paper's largest",
                ours=float(mean[f]), high=FACTOR * paper_max[f], paper=f"up to +{paper_max[f]:.2f}%")
        for f in FREQUENCIES]
    checks.append(ordered_check("perplexity increase (%)", {f: float(mean[f]) for f in ("low", "high")},
                                ["low", "high"], paper="grows with the failure frequency"))
    return judge(checks, explanation=(
        f"Seed-paired increases over {n_seeds(data)} seeds; the paper's numbers are word-piece perplexities of "
        "350M-7B models on C4, ours per character of a tiny model, so only the relative increase is compared."))


@register_figure(
    id="mecefo.tab6", paper="mecefo", kind="table", title="Ablation of the neighbour's techniques: memory and time",
    caption="Measured on this CPU (1 thread) with random initial weights: the neighbour's forward+backward over "
    "its own and the failed rank's micro-batch (one doubled batch) against a normal rank's micro-batch. Memory: "
    "bytes autograd keeps for backward (saved-tensor hooks, each storage once, weights excluded) plus weights, "
    "gradients and AdamW moments; time: median of timed passes (SVD refreshes not included: one per tau steps). "
    "Rows: naive neighbour-do-both (naive NDB), then techniques I (skip attention in backward), II (recompute "
    "the FFN), III "
    f"(low-rank FFN weight gradients, r = 8). Device budget: a device the failure-free job fills to "
    f"{DEVICE_FILL:.0%}. The project's failure simulator prices this neighbour step at {SIM_NEIGHBOUR_RATIO} a "
    "normal step at the paper's sizes on A100s.",
    claim="naive neighbour-do-both runs out of memory; the three techniques restore near failure-free memory and "
          "throughput",
    scale_note="tiny LLaMA (2 layers, d 64, d_ff 172), 4 sequences of 64 per micro-batch, on a CPU; the paper "
    "measures 350M-7B on A100s; 15 timed passes (quick profile: 7), 3 seeds (initial weights and batches)",
    scenarios=(ABLATION,), quick_overrides=ABLATION_QUICK,
    measures_time=True,
)
def draw_tab6(ctx: FigureContext) -> FigureOutput:
    sweep = ctx.run(ABLATION)
    data = tab6_data(sweep)
    raise_missing(missing_arms(data["config"], ABLATION_ROWS, "mecefo.tab6"))
    stats = data.groupby("config", sort=False).agg(
        activations=("activation_mb", "mean"), memory=("memory_mb", "mean"), memory_ratio=("memory_ratio", "mean"),
        step_ms=("step_ms", "mean"), step_std=("step_ms", "std"), time_ratio=("time_ratio", "mean"),
        time_ratio_std=("time_ratio", "std"))
    budget = float(data["budget_mb"].iloc[0])
    table = pd.DataFrame({
        "configuration": stats.index, "saved activations (MB)": stats["activations"].round(3).to_numpy(),
        "memory (MB)": stats["memory"].round(3).to_numpy(), "x failure-free": stats["memory_ratio"].round(2).to_numpy(),
        f"fits {budget:.2f} MB budget": ["yes" if m <= budget else "no (out of memory)" for m in stats["memory"]],
        "step (ms)": [pm(r.step_ms, r.step_std) for r in stats.itertuples()],
        "time x failure-free": [pm(r.time_ratio, r.time_ratio_std) for r in stats.itertuples()]})
    full = stats.loc["+I+II+III"]
    ours = (f"neighbour with I+II+III: {full['memory_ratio']:.2f}x memory, {full['time_ratio']:.2f}x time of a "
            f"normal rank (naive: {stats.loc['naive NDB', 'memory_ratio']:.2f}x, "
            f"{stats.loc['naive NDB', 'time_ratio']:.2f}x); simulator: {SIM_NEIGHBOUR_RATIO}")
    return FigureOutput(data=data, table=table, ours=ours, verdict=verdict_tab6(data))


def tab6_data(sweep) -> pd.DataFrame:
    """One row per seed and configuration (plus the failure-free rank): memory and time from run.json."""
    rows = []
    for point, record in zip(sweep.points, sweep.runs, strict=True):
        tech = point.scenario.workload.techniques
        config = ABLATION_ROWS[int(tech.skip_attention) + int(tech.recompute_ffn) + int(tech.low_rank > 0)]
        cost = record.info["neighbour_cost"]
        common = {"seed": point.scenario.seed, "budget_mb": cost["normal_memory_bytes"] / DEVICE_FILL / 1e6}
        if config == "naive NDB":
            rows.append({"config": "failure-free rank", **common,
                         "activation_mb": cost["normal_activation_bytes"] / 1e6,
                         "memory_mb": cost["normal_memory_bytes"] / 1e6, "memory_ratio": 1.0,
                         "step_ms": 1e3 * cost["normal_step_s"], "time_ratio": 1.0})
        rows.append({"config": config, **common, "activation_mb": cost["neighbour_activation_bytes"] / 1e6,
                     "memory_mb": cost["neighbour_memory_bytes"] / 1e6, "memory_ratio": cost["memory_ratio"],
                     "step_ms": 1e3 * cost["neighbour_step_s"], "time_ratio": cost["time_ratio"]})
    return pd.DataFrame(rows, columns=["config", "seed", "budget_mb", "activation_mb", "memory_mb", "memory_ratio",
                                       "step_ms", "time_ratio"])


def verdict_tab6(data: pd.DataFrame) -> Verdict:
    if reason := missing_arms(data["config"], ABLATION_ROWS, "mecefo.tab6"):
        return not_checkable(reason)
    mean = data.groupby("config").mean(numeric_only=True)
    budget = 1 / DEVICE_FILL
    checks: list[Check] = [
        above("naive NDB: memory / failure-free", ours=float(mean.loc["naive NDB", "memory_ratio"]), low=budget,
              paper=f"out of memory (over the {budget:.2f}x budget)"),
        at_most("+I+II+III: memory / failure-free", ours=float(mean.loc["+I+II+III", "memory_ratio"]), high=budget,
                paper=f"fits (within the {budget:.2f}x budget)"),
        ordered_check("neighbour memory / failure-free", {r: float(mean.loc[r, "memory_ratio"])
                                                          for r in ABLATION_ROWS}, list(ABLATION_ROWS),
                      descending=True, paper="each technique lowers memory"),
        ordered_check("neighbour time / failure-free",
                      {r: float(mean.loc[r, "time_ratio"]) for r in ("naive NDB", "+I+II+III")},
                      ["+I+II+III", "naive NDB"],
                      paper="the techniques restore throughput"),
    ]
    return judge(checks, explanation=(
        f"Means over {n_seeds(data)} seeds. The neighbour with all three techniques takes "
        f"{mean.loc['+I+II+III', 'time_ratio']:.2f}x a normal rank's time here, which a synchronous step waits for; "
        f"the project's simulator prices that step at {SIM_NEIGHBOUR_RATIO} at the paper's sizes. Time at this "
        "tiny size is dominated by per-operation overhead on a CPU, not by the FLOPs the techniques save."))


VERDICTS.update({
    "mecefo.fig3": verdict_fig3, "mecefo.fig4": verdict_error, "mecefo.fig5": verdict_error,
    "mecefo.fig6": verdict_error, "mecefo.fig7": verdict_error, "mecefo.tab3": verdict_tab3,
    "mecefo.tab6": verdict_tab6,
})


# ------------------------------------------------------------------------------------------------ static diagrams
STATIC_NOTE = "Static diagram of what the project implements; nothing is measured."
STRATEGIES = [
    ("checkpoint-restart", "every worker stops, restarts and reloads the last checkpoint; the work since it is "
     "redone", "periodic checkpoint writes", "checkpoint storage"),
    ("rescheduling / reconfiguration (Oobleck)", "pipelines re-formed on the surviving GPUs; the job runs on fewer "
     "GPUs until the failed one returns", "none beyond the data-parallel replicas", "none extra"),
    ("redundant computation (Bamboo)", "the stage holding a redundant copy of the failed stage runs both",
     "redundant computation at every step", "about 2x model state"),
    ("neighbour-do-both (MeCeFO)", "a healthy data-parallel neighbour also runs the failed rank's micro-batch, with "
     "techniques I-III", "none (plain data parallelism)", "bounded on the neighbour by techniques I-III"),
]


def _wrap(text: str, width: int = 26) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


@register_figure(
    id="mecefo.fig1", paper="mecefo", kind="figure", title="Fault-tolerance strategies compared",
    caption=f"{STATIC_NOTE} The four ways of continuing data-parallel training after a failure that the paper "
    "compares, as the project's failure simulator models them: what happens at a "
    "failure, the overhead paid without failures, and the memory each needs.",
    claim="—", scale_note="static diagram", computed=False,
)
def draw_fig1(ctx: FigureContext) -> FigureOutput:
    from plots.diagram import box, diagram_axes

    fig, ax = diagram_axes(width_in=9.0, height_in=4.2)
    colors = ("#f2d0c9", "#f2e4c9", "#e4e4f2", "#cfe8d0")
    for i, ((name, failure, overhead, memory), color) in enumerate(zip(STRATEGIES, colors, strict=True)):
        x = 0.125 + 0.25 * i
        box(ax, x, 0.88, _wrap(name, 22), w=0.23, h=0.12, color=color, fontsize=7.5)
        box(ax, x, 0.6, "at a failure:\n" + _wrap(failure), w=0.23, h=0.3, color="white", fontsize=6.5)
        box(ax, x, 0.3, "without failures:\n" + _wrap(overhead), w=0.23, h=0.16, color="white", fontsize=6.5)
        box(ax, x, 0.1, "memory: " + _wrap(memory, 24), w=0.23, h=0.13, color="white", fontsize=6.5)
    data = pd.DataFrame(STRATEGIES, columns=["strategy", "at a failure", "overhead without failures", "memory"])
    return FigureOutput(data=data, figure=fig, ours="static comparison of the four strategies the simulator models",
                        verdict=verdict_fig1(data))


def verdict_fig1(data: pd.DataFrame) -> Verdict:
    return not_checkable("An overview diagram of fault-tolerance strategies: nothing to measure.")


LAYER_ROWS = [
    ("attention (RMSNorm + MHA)", "run as usual", "nothing", "skipped: identity through the residual "
     "(dL/dx = dL/dh), no weight or input gradient"),
    ("FFN (RMSNorm + SwiGLU)", "run without keeping intermediates", "the FFN input only",
     "recomputed from its input; exact input gradient; weight gradient G_y (x^T V1) V1^T"),
    ("V1 (per FFN weight)", "top-r right singular vectors of the weight", "r x n per matrix",
     "refreshed every tau steps by an SVD"),
]


@register_figure(
    id="mecefo.fig2", paper="mecefo", kind="figure", title="One transformer layer on the neighbour",
    caption=f"{STATIC_NOTE} How a neighbour runs one pre-norm layer for its own and the failed rank's micro-batch "
    "as implemented here: forward (solid) as usual; backward (dashed) treats attention as the identity "
    "(technique I), recomputes the FFN from its saved input (II) and projects the FFN weight gradients on the "
    "top-r right singular vectors V1 of each weight, refreshed every tau steps (III). Attention weight gradients "
    "are then averaged over the ranks that computed them exactly.",
    claim="—", scale_note="static diagram", computed=False,
)
def draw_fig2(ctx: FigureContext) -> FigureOutput:
    from plots.diagram import arrow, box, diagram_axes

    fig, ax = diagram_axes(width_in=9.0, height_in=4.2)
    fwd, bwd = 0.72, 0.34
    xs = {"in": 0.06, "mha": 0.26, "add1": 0.45, "ffn": 0.64, "add2": 0.83, "out": 0.95}
    box(ax, xs["in"], fwd, "x", w=0.07, h=0.09, color="#eeeeee")
    box(ax, xs["mha"], fwd, "RMSNorm + MHA\n(forward only,\nnothing kept)", w=0.2, h=0.14, color="#f2d0c9")
    box(ax, xs["add1"], fwd, "+", w=0.05, h=0.09, color="#eeeeee")
    box(ax, xs["ffn"], fwd, "RMSNorm + SwiGLU FFN\n(input kept,\nintermediates dropped)", w=0.22, h=0.14,
        color="#cfe8d0")
    box(ax, xs["add2"], fwd, "+", w=0.05, h=0.09, color="#eeeeee")
    box(ax, xs["out"], fwd, "y", w=0.07, h=0.09, color="#eeeeee")
    for a, b in (("in", "mha"), ("mha", "add1"), ("add1", "ffn"), ("ffn", "add2"), ("add2", "out")):
        half = {"in": 0.035, "mha": 0.1, "add1": 0.025, "ffn": 0.11, "add2": 0.025, "out": 0.035}
        arrow(ax, (xs[a] + half[a], fwd), (xs[b] - half[b], fwd))
    for a, b in (("in", "add1"), ("add1", "add2")):
        ax.annotate("", xy=(xs[b], fwd + 0.045), xytext=(xs[a], fwd + 0.045),
                    arrowprops={"arrowstyle": "->", "lw": 1.0, "connectionstyle": "arc3,rad=-0.35"})
        ax.text((xs[a] + xs[b]) / 2 - 0.03, fwd + 0.17, "residual", fontsize=6.5)
    ax.text(0.01, 0.95, "forward (solid)", fontsize=7.5)
    ax.text(0.01, 0.5, "backward (dashed)", fontsize=7.5)
    box(ax, xs["mha"], bwd, "I: skipped (identity:\nthe gradient passes the\nresidual unchanged;\nno MHA gradients)",
        w=0.2, h=0.18, color="#f2d0c9")
    box(ax, xs["ffn"], bwd, "II: recompute FFN from its input\nexact input gradient\nIII: dW ~ G_y (x^T V1) V1^T",
        w=0.26, h=0.16, color="#cfe8d0")
    box(ax, xs["out"], bwd, "dL/dy", w=0.07, h=0.09, color="#eeeeee")
    box(ax, xs["in"], bwd, "dL/dx", w=0.07, h=0.09, color="#eeeeee")
    arrow(ax, (xs["out"] - 0.035, bwd), (xs["ffn"] + 0.13, bwd), dashed=True)
    arrow(ax, (xs["ffn"] - 0.13, bwd), (xs["mha"] + 0.1, bwd), dashed=True)
    arrow(ax, (xs["mha"] - 0.1, bwd), (xs["in"] + 0.035, bwd), dashed=True)
    box(ax, 0.5, 0.09, "V1: top-r right singular vectors of each FFN weight, refreshed every tau steps (SVD); "
        "only the neighbour runs this mode, the other ranks train exactly", w=0.95, h=0.08, color="#e4e4f2")
    data = pd.DataFrame(LAYER_ROWS, columns=["part", "forward", "kept for backward", "backward"])
    return FigureOutput(data=data, figure=fig, ours="static schematic of the neighbour mode as implemented",
                        verdict=verdict_fig2(data))


def verdict_fig2(data: pd.DataFrame) -> Verdict:
    return not_checkable("A schematic of one layer in neighbour mode: nothing to measure.")


# ---------------------------------------------------------------------------------- Tables 4-5: downstream probes
# "flat": every frequency's seed-mean probe accuracy (averaged over the probes) within FLAT_K pooled between-seed
# standard deviations of the no-failure mean; the spread comes from the runs themselves (at least MIN_SEEDS seeds)
FLAT_K = 2.0
MIN_SEEDS = 3
PAPER_TAB4 = {"BoolQ": (0.579, 0.594, 0.571, 0.587), "PIQA": (0.682, 0.674, 0.678, 0.684)}
PAPER_TAB5 = {"GLUE average": (80.06, 80.03, 80.13, 79.99)}
FREQUENCY_ORDER = (NONE, *FREQUENCIES)
PROBE_NOTE = ("The Table 3 models (tiny LLaMA, d 32, trained with no failures and under the three compressed failure "
              "frequencies, 3 seeds), scored after training on probes generated from the training grammar with a "
              "seed of their own (the same items for every frequency of a seed). ")


def frequency_of(interval: float | None, labels: dict[float, str]) -> str:
    return NONE if interval is None or pd.isna(interval) else labels[float(interval)]


def probe_data(sweep, part: str) -> pd.DataFrame:
    """One row per seed, frequency and probe: accuracy and the probe's chance level (run.json ``probes``)."""
    intervals = [p.scenario.workload.failures.interval_steps for p in sweep.points]
    where = "mecefo.tab4" if part == "zero_shot" else "mecefo.tab5"
    labels = frequency_labels(pd.Series([v for v in intervals if v is not None]), where)
    rows = []
    for point, record in zip(sweep.points, sweep.runs, strict=True):
        probes = record.info["probes"]
        frequency = frequency_of(point.scenario.workload.failures.interval_steps, labels)
        for task, accuracy in probes[part].items():
            chance = probes["finetune_chance"][task] if part == "finetune" else 0.5
            rows.append({"frequency": frequency, "seed": point.scenario.seed, "probe": task,
                         "accuracy": float(accuracy), "chance": float(chance)})
    return pd.DataFrame(rows)


def probe_table(data: pd.DataFrame, paper: dict[str, tuple[float, ...]], scale: float) -> pd.DataFrame:
    """Rows: probes, their average, then the paper's rows; columns: frequencies (mean ± std over seeds)."""
    average = data.groupby(["frequency", "seed"], as_index=False)[["accuracy", "chance"]].mean().assign(
        probe="average")
    rows = []
    for probe, group in pd.concat([data, average]).groupby("probe", sort=False):
        stats = group.groupby("frequency")["accuracy"].agg(["mean", "std"])
        row = {"probe": probe, "chance": round(scale * float(group["chance"].mean()), 1)}
        row.update({f: pm(scale * stats.loc[f, "mean"], scale * stats.loc[f, "std"]) for f in FREQUENCY_ORDER})
        rows.append(row)
    for name, values in paper.items():
        rows.append({"probe": f"paper: {name}", "chance": "—",
                     **{f: f"{v:g}" for f, v in zip(FREQUENCY_ORDER, values, strict=True)}})
    return pd.DataFrame(rows)


def flat_tolerance(average: pd.DataFrame) -> float:
    """FLAT_K x the pooled between-seed standard deviation of the probe-average accuracy (pooled over
    frequencies: the root of the mean per-frequency variance)."""
    variances = average.groupby("frequency")["accuracy"].var(ddof=1)
    return FLAT_K * float(np.sqrt(variances.mean()))


def verdict_flat(data: pd.DataFrame, what: str) -> Verdict:
    if data.empty or n_seeds(data) < MIN_SEEDS:
        return not_checkable(f"fewer than {MIN_SEEDS} seeds: no seed spread to set the flatness tolerance from")
    if reason := missing_arms(data["frequency"], FREQUENCY_ORDER, f"the {what} probes"):
        return not_checkable(reason)
    average = data.groupby(["frequency", "seed"], as_index=False)[["accuracy", "chance"]].mean()
    tol = flat_tolerance(average)
    mean = average.groupby("frequency")["accuracy"].mean()
    base, chance = float(mean[NONE]), float(average["chance"].mean())
    checks: list[Check] = [
        within(f"{f}: {what} accuracy, averaged over the probes", ours=float(mean[f]), low=base - tol,
               high=base + tol, paper=f"flat (taken as within {FLAT_K:g} seed standard deviations, "
               f"+-{tol:.3f}, of no failures)") for f in FREQUENCIES]
    checks.append(above(f"no failure: {what} accuracy above chance by more than the tolerance", ours=base,
                        low=chance + tol, paper="the probes measure something (the paper's models are above "
                        "chance)"))
    return judge(checks, explanation=(
        f"Seed means over {n_seeds(data)} seeds of the accuracy averaged over the probes; the tolerance is "
        f"{FLAT_K:g}x the pooled between-seed standard deviation of that average ({tol:.3f} as a fraction, "
        f"{100 * tol:.1f} points), i.e. how much the training seed alone moves it. The last check makes sure flatness is not just chance level everywhere."))


def verdict_tab4(data: pd.DataFrame) -> Verdict:
    return verdict_flat(data, "zero-shot")


def verdict_tab5(data: pd.DataFrame) -> Verdict:
    return verdict_flat(data, "fine-tuned")


def _draw_probes(ctx: FigureContext, part: str, paper: dict, scale: float, what: str) -> FigureOutput:
    data = probe_data(ctx.run(FREQUENCY), part)
    figure = "mecefo.tab4" if part == "zero_shot" else "mecefo.tab5"
    raise_missing(missing_arms(data["frequency"], FREQUENCY_ORDER, figure))
    table = probe_table(data, paper, scale)
    average = data.groupby(["frequency", "seed"])["accuracy"].mean().groupby("frequency").mean()
    ours = f"{what} accuracy averaged over the probes: " + ", ".join(
        f"{f} {scale * average[f]:.3g}{'%' if scale == 100 else ''}" for f in FREQUENCY_ORDER if f in average)
    return FigureOutput(data=data, table=table, ours=ours,
                        verdict=verdict_tab4(data) if part == "zero_shot" else verdict_tab5(data))


@register_figure(
    id="mecefo.tab4", paper="mecefo", kind="table", title="Zero-shot probe accuracy vs failure frequency",
    caption=TRAIN_NOTE + PROBE_NOTE + "Zero-shot probes, 200 two-way items each, scored by likelihood (mean "
    "log-probability per character of each choice; chance 0.5): word_order (a sentence vs two adjacent words "
    "swapped), spelling (vs two letters of a word swapped), verb_slot (after the subject, its verb vs a noun), "
    "one_adjective (after a determiner and an adjective, the noun vs another adjective). Cells: accuracy, mean ± "
    "std over seeds; the paper's BoolQ and PIQA rows for comparison of the shape only.",
    claim="zero-shot accuracy stays flat across failure frequencies (BoolQ 0.579 / 0.594 / 0.571 / 0.587, PIQA "
          "0.682 / 0.674 / 0.678 / 0.684)",
    scale_note="tiny LLaMA (d 32) on characters, 4 ranks, 300 steps (quick profile: 32 steps, 100 items per "
    "probe), 3 seeds; the paper evaluates 350M-7B models on BoolQ, PIQA and two more tasks",
    scenarios=(FREQUENCY,), quick_overrides=FREQUENCY_QUICK,
)
def draw_tab4(ctx: FigureContext) -> FigureOutput:
    return _draw_probes(ctx, "zero_shot", PAPER_TAB4, 1.0, "zero-shot")


@register_figure(
    id="mecefo.tab5", paper="mecefo", kind="table", title="Fine-tuned classification probes vs failure frequency",
    caption=TRAIN_NOTE + PROBE_NOTE + "Each probe fine-tunes a copy of the model plus a linear head on the last "
    "character's hidden state (AdamW, lr 1e-3, 60 steps of 16 items from 512; accuracy on 256 held-out items; "
    "chance = the majority class's share): grammatical (a sentence vs its word-swapped copy), verb_phrase "
    "(the verb takes an adverb or an object), subject (name / determiner and noun / with an "
    "adjective), spelled (a sentence vs its misspelled copy). Cells: accuracy in %, mean ± std over seeds.",
    claim="the GLUE average stays flat across failure frequencies (80.06 / 80.03 / 80.13 / 79.99)",
    scale_note="tiny LLaMA (d 32) on characters, 4 ranks, 300 steps (quick profile: 32 steps, 15 fine-tuning "
    "steps), 3 seeds; the paper fine-tunes on the 8 GLUE tasks",
    scenarios=(FREQUENCY,), quick_overrides=FREQUENCY_QUICK,
)
def draw_tab5(ctx: FigureContext) -> FigureOutput:
    return _draw_probes(ctx, "finetune", PAPER_TAB5, 100.0, "fine-tuned")


# ------------------------------------------------------------------------------------------ Table 10: MLA + MoE
MOE = "scenarios/mecefo/training_moe.yaml"
MOE_QUICK = ("workload.steps=32", "sweep.product.seed=[0, 1]",
             "sweep.zip={workload.failures.interval_steps: [null, 8], workload.failures.repair_steps: [null, 4]}")
# Table 3's compression of the paper's failure intervals to steps (one hour = 16 steps), by interval
STEP_FREQUENCIES = {32.0: "low", 16.0: "medium", 8.0: "high"}
MOE_NAME = "MLA + MoE (tiny)"


@register_figure(
    id="mecefo.tab10", paper="mecefo", kind="table", title="An MLA + MoE model under failures",
    caption=TRAIN_NOTE.replace("tiny LLaMA-shaped model (RMSNorm, rotary attention, SwiGLU)",
                               "tiny DeepSeek-V3-style model") + "The model: 2 layers of width 32 with "
    "multi-head latent attention (keys and values from one joint 16-wide latent; rotary positions on whole heads, "
    "not decoupled) and an FFN of 4 routed SwiGLU experts of width 43, top 2 per token (softmax router, no shared "
    "expert, no balancing loss); the neighbour projects every expert's weight gradients (the router's stay "
    "exact). Failure frequencies as in Table 3 (a failure every 32 / 16 / 8 steps, down 8 / 6 / 4), whose tiny "
    "LLaMA rows are the dense comparison. Held-out perplexity per character after the last step, its "
    "seed-paired increase over no failures, and the relative gradient error at the measured failure steps (every "
    "fifth): the largest, and each run's median averaged over seeds.",
    claim="MeCeFO carries over to a DeepSeek-V3-style MLA + MoE model (1.2B in the paper)",
    scale_note="tiny MLA + MoE (2 layers, d 32, 4 experts, top 2) on characters, 4 ranks, 300 steps, 3 seeds "
    "(quick profile: 32 steps, 2 seeds, no failures and high frequency only); the paper trains a 1.2B model",
    scenarios=(MOE,), quick_overrides=MOE_QUICK,
)
def draw_tab10(ctx: FigureContext) -> FigureOutput:
    sweep = ctx.run(MOE)
    intervals = sweep.metrics["workload.failures.interval_steps"].dropna()
    unknown = sorted(set(float(v) for v in intervals) - set(STEP_FREQUENCIES))
    if unknown:
        raise ValueError(f"mecefo.tab10 knows failure intervals of {', '.join(f'{v:g}' for v in STEP_FREQUENCIES)} "
                         f"steps (Table 3's); the runs have {', '.join(f'{v:g}' for v in unknown)}")
    data = tab10_rows(sweep.metrics, MOE_NAME, failure_steps(sweep, STEP_FREQUENCIES))
    raise_missing(missing_arms(data["frequency"], [NONE, "high"], "mecefo.tab10"))
    stats = data.groupby("frequency").agg(ppl=("perplexity", "mean"), ppl_std=("perplexity", "std"),
                                          inc=("increase_pct", "mean"), inc_std=("increase_pct", "std"),
                                          err=("max_grad_error", "max"), med=("median_grad_error", "mean"),
                                          ).reindex([f for f in FREQUENCY_ORDER if f in set(data["frequency"])])
    table = pd.DataFrame({
        "frequency": stats.index, "perplexity": [pm(r.ppl, r.ppl_std, 4) for r in stats.itertuples()],
        "increase vs no failure (%)": [pm(r.inc, r.inc_std, 2) for r in stats.itertuples()],
        "largest gradient error": stats["err"].round(3).to_numpy(),
        "median gradient error (mean of runs)": stats["med"].round(3).to_numpy()})
    ours = (f"MLA + MoE: perplexity {stats.loc['high', 'inc']:+.2f}% at high frequency, largest gradient error "
            f"{data['max_grad_error'].max():.3f}")
    return FigureOutput(data=data, table=table, ours=ours, verdict=verdict_tab10(data))


def tab10_rows(metrics: pd.DataFrame, model: str, failed_steps: pd.Series) -> pd.DataFrame:
    """Table 3's per-seed rows plus each run's largest and median gradient error, labelled with the model."""
    labels = STEP_FREQUENCIES
    data = tab3_data(metrics, labels, failed_steps=failed_steps)
    interval = "workload.failures.interval_steps"
    frequency = metrics[interval].map(lambda v: frequency_of(v, labels))
    errors = metrics.assign(frequency=frequency).groupby(["frequency", "seed"])["grad_rel_error"]
    keys = list(zip(data["frequency"], data["seed"], strict=True))
    for column, values in (("max_grad_error", errors.max()), ("median_grad_error", errors.median())):
        data[column] = [float(values.get(key, np.nan)) for key in keys]
    return data.assign(model=model)


def verdict_tab10(data: pd.DataFrame) -> Verdict:
    mean = data.groupby("frequency")["increase_pct"].mean()
    paper_max = {f: max(100 * (v[i + 1] / v[0] - 1) for v in PAPER_TAB3.values()) for i, f in enumerate(FREQUENCIES)}
    checks: list[Check] = [
        at_most(f"MLA + MoE, {f}: perplexity increase over no failures (%), at most {FACTOR:g}x the paper's "
                "largest Table 3 increase", ours=float(mean[f]), high=FACTOR * paper_max[f],
                paper=f"carries over (Table 3: up to +{paper_max[f]:.2f}%)") for f in FREQUENCIES if f in mean]
    for column, what in (("max_grad_error", "largest relative gradient error at a measured failure step"),
                         ("median_grad_error", "largest per-run median relative gradient error")):
        errors = data[column].dropna()
        checks.append(at_most(f"MLA + MoE: {what}", ours=float(errors.max()) if len(errors) else float("nan"),
                              high=ERROR_BOUND, paper=f"the bounded-error assumption (below {ERROR_BOUND} for LLaMA)"))
    return judge(checks, explanation=(
        f"Seed-paired increases over {n_seeds(data)} seeds, judged by the criterion of Table 3 (the paper's Table "
        "10 cells are not known); the gradient error is the Figure 4 measure on the MoE model."))


# ------------------------------------------------------------------------------------------ not reconstructable
register_missing("mecefo.tab9", "No source we could read gives this table's content (the paper's PDF holds 11 "
                 "table images, and the text we have names only Tables 1-8 and 10); candidates are "
                 "hyper-parameters, a tensor-parallel extension or a checkpointing comparison, so there is "
                 "nothing to rebuild or check.")
register_missing("mecefo.tab11", "No source we could read gives this table's content (the text we have does not "
                 "describe it; training hyper-parameters is only a guess), so there is nothing to rebuild or "
                 "check.")

VERDICTS.update({
    "mecefo.fig1": verdict_fig1, "mecefo.fig2": verdict_fig2, "mecefo.tab4": verdict_tab4,
    "mecefo.tab5": verdict_tab5, "mecefo.tab10": verdict_tab10,
})
