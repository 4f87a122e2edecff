"""MeCeFO tables the failure simulator can rebuild (Hu et al., arXiv 2510.16415): Table 1 (failure scenarios),
Table 2 (throughput under failures), and the appendix's asymmetric-failure (Table 7) and higher-frequency
(Table 8) tables.

Every number comes from the ``fault_tolerant_training`` kind (`harness.failures`): the paper's cluster (32 A100s in
4 nodes), LLaMA 350M / 1B / 7B, failures anywhere in the cluster at the rates of its Table 1, and five policies
meeting the same failures: failure-free, checkpoint-restart, Bamboo, Oobleck and MeCeFO's neighbour-do-both. Step
times are priced op by op on the A100's datasheet roofline (no A100 timing tables are measured), MeCeFO's
neighbour step from its documented techniques (`harness.failures.step_costs`), nothing calibrated to the paper.

The MeCeFO items that need training runs (Figures 3-7, Tables 3-6, 10) and the ones whose content is unknown
(Tables 9, 11) are not drawn here. Each verdict is a pure function of the item's CSV (`VERDICTS`); "within a
factor of 2" is the band used where the paper gives a number (`FACTOR`), 1.5x the band for "robust" (`ROBUST`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from plots.registry import FigureOutput, register_figure
from plots.verdict import Check, Verdict, at_most, judge, within
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


def frequency_labels(intervals: pd.Series) -> dict[float, str]:
    """Longest failure interval = low frequency, then medium, then high."""
    ordered = sorted(set(float(v) for v in intervals), reverse=True)
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
    rows = sweep.metrics[sweep.metrics["policy"] == "failure_free"]
    labels = frequency_labels(rows[interval_col])
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


def verdict_tab1(data: pd.DataFrame) -> Verdict:
    checks: list[Check] = []
    for row in data.itertuples():
        checks.append(within(f"{row.frequency}: scenario interval (h)", ours=row.failure_interval_h,
                             low=row.paper_failure_interval_h, high=row.paper_failure_interval_h,
                             paper=f"{row.paper_failure_interval_h} h"))
        checks.append(within(f"{row.frequency}: recovery (h)", ours=row.recovery_h, low=row.paper_recovery_h,
                             high=row.paper_recovery_h, paper=f"{row.paper_recovery_h} h"))
        checks.append(within(f"{row.frequency}: simulated interval (h), within 10%", ours=row.simulated_interval_h,
                             low=0.9 * row.paper_failure_interval_h, high=1.1 * row.paper_failure_interval_h,
                             paper=f"{row.paper_failure_interval_h} h"))
    return judge(checks, explanation="The scenario file sets the paper's intervals and recovery times, and the "
                 "simulated failure process delivers them (median count over the horizon within 10%).")


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
    labels = frequency_labels(data[interval_col])
    data["frequency"] = data[interval_col].map(lambda v: labels[float(v)])
    data = data.rename(columns={"workload.model": "model"}).drop(columns=[interval_col])
    data = data[data["policy"] != "failure_free"].reset_index(drop=True)
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
        "failed GPUs' share of a slower pipelined step. Which checks hold is listed above."))


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
    table = table.pivot(index="policy", columns="scenario", values="drop_pct").round(2).reset_index()
    return FigureOutput(data=data, table=table, verdict=verdict_tab8(data),
                        ours=_robust_ours(data, "failure_interval_h"))


def _robust_ours(data: pd.DataFrame, axis: str) -> str:
    mecefo = data[data["policy"] == "mecefo"].set_index(axis)["drop_pct"]
    return "MeCeFO drop: " + ", ".join(f"{k:g}: {v:.1f}%" for k, v in mecefo.items())


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
    table = table.pivot(index="policy", columns="failing", values="drop_pct").round(2).reset_index()
    return FigureOutput(data=data, table=table, verdict=verdict_tab7(data), ours=_robust_ours(data, "failing_fraction"))


def verdict_tab7(data: pd.DataFrame) -> Verdict:
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
