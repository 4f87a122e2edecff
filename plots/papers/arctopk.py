"""ARC-Top-K (Chen et al., arXiv 2510.26709): every figure and table of shared/FIGURES.md §2, at reduced scale.

The paper's text could not be read (only its abstract); every item is rebuilt from the abstract, the authors'
code and secondary sources (research card ``shared/research/arctopk_greedylore.md``), says so in its caption
(`plots.registry.FigureSpec.full_caption`) and names its small-scale substitute:

- ``arctopk.fig1``: the method as a box-and-arrow diagram (static), bytes from the compressor's comm_plan;
- ``arctopk.fig2``: the authors' robust shifted objective re-implemented exactly (``compressed_training``);
- ``arctopk.fig3`` / ``arctopk.fig_scaling``: heterogeneous logistic regression with the non-convex regulariser;
- ``arctopk.fig4`` / ``arctopk.tab4``: a tiny GPT on a generated corpus instead of LLaMA on C4;
- ``arctopk.tab1``: compressor properties: byte plans and the aggregate error on two fixed inputs (computed, the
  only columns its verdict reads); contraction, unbiasedness and use of magnitudes from the definitions (shown);
- ``arctopk.tab2``: digits MLP/CNN instead of CIFAR ResNets; ``arctopk.tab3``: synthetic text classification
  instead of GLUE;
- ``arctopk.tab5``: seconds per iteration from the ``compressed_dp_step`` simulator at the paper's setting.

Each item's verdict is a pure function of the DataFrame written as its CSV (``verdict_<name>(data)``, collected in
`VERDICTS`). Where the paper says "matches" or "≈" the tolerance is stated in the check (`APPROX_FACTOR` for values
read off log-scale plots, `plots.papers.compression_time` for losses, accuracies and "compresses").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from plots.arms import missing_arms, missing_in_groups, raise_missing
from plots.papers.compression_time import (
    GPT_FULL,
    GPT_METHODS,
    GPT_QUICK,
    GPT_SCALE,
    accuracy_matches,
    bytes_vs_dense,
    compresses,
    failed_names,
    label_methods,
    loss_matches,
    method_color,
    method_legend,
    ordered,
    run_frame,
)
from plots.registry import FigureOutput, register_figure
from plots.spread import draw_band, final_over_seeds, n_seeds, over_seeds, pm
from plots.style import PALETTE, new_figure
from plots.verdict import Check, Verdict, above, at_least, at_most, judge, not_checkable, within
from plots.verdict import ordered as ordered_check

if TYPE_CHECKING:
    from plots.runner import FigureContext

FIG2 = ("scenarios/arctopk/fig2_msgd.yaml", "scenarios/arctopk/fig2_sgd2m.yaml")
FIG3 = "scenarios/arctopk/fig3_logistic.yaml"
SCALING = "scenarios/arctopk/scaling_logistic.yaml"
TAB2 = ("scenarios/arctopk/tab2_digits_mlp.yaml", "scenarios/arctopk/tab2_digits_cnn.yaml")
TAB3 = "scenarios/arctopk/tab3_text.yaml"
TAB4_SMALL = "scenarios/arctopk/tab4_gpt_small.yaml"
TAB5 = "scenarios/arctopk/tab5_paper_setting.yaml"
EF_COLUMN = "workload.error_feedback.name"
EF_TITLES = {"ef21m": "EF21-MSGD", "ef21_sgd2m": "EF21 double momentum", "ef14": "EF14", "ef21": "EF21"}
MODELS = ("llama-60m", "llama-130m", "llama-350m", "llama-1b")


def _tail_mean(group: pd.DataFrame, column: str, fraction: float = 0.1) -> float:
    """Mean of ``column`` over the last ``fraction`` of a run's recorded rows (at least one)."""
    values = group.sort_values("step")[column].dropna().to_numpy()
    n = max(1, int(round(len(values) * fraction)))
    return float(values[-n:].mean())


def _final(group: pd.DataFrame, column: str) -> float:
    values = group.sort_values("step")[column].dropna()
    return float(values.iloc[-1]) if len(values) else float("nan")


def tail_over_seeds(data: pd.DataFrame, by: list[str], column: str) -> pd.DataFrame:
    """Per group of ``by``: each seed's `_tail_mean` of ``column``, then ``mean``, ``std`` (0 for one seed),
    ``n_seeds`` over the seeds."""
    per_run = [{**dict(zip(by, key)), "value": _tail_mean(group, column)}
               for key, group in data.groupby([*by, "seed"], sort=False)]
    stats = pd.DataFrame(per_run).groupby(by, sort=False)["value"].agg(["mean", "std", "count"]).reset_index()
    stats["std"] = stats["std"].fillna(0.0)
    return stats.rename(columns={"count": "n_seeds"})


def spread_note(label: str, gap: float, spread: float) -> str:
    """Whether a gap between two seed means lies inside the larger of their seed standard deviations."""
    where = "inside" if abs(gap) <= spread else "outside"
    return f" {label}: gap {gap:+.3g}, {where} the seed spread (largest std {spread:.3g})."


def lacking(data: pd.DataFrame, needed: list[str], where: str, by: tuple[str, ...] = ()) -> str | None:
    """`plots.arms.missing_arms`'s line for the runs' methods, per group of ``by`` when given (``where`` is the
    figure id and the words before the group's values: "arctopk.fig2 under" -> "arctopk.fig2 under EF21-MSGD");
    None when nothing is missing. The draw function raises it, the verdict returns it as not checkable."""
    if not by:
        return missing_arms(data["method"], needed, where)
    figure, group = where.split(" ", 1)
    return missing_in_groups(data, "method", needed, figure, by, group)


def fallback_check(data: pd.DataFrame, method: str = "ARC-Top-K") -> Check:
    """``method`` never fell back to a dense all-reduce (run.json's dense_fallback_calls, largest over runs)."""
    calls = data.loc[data["method"] == method, "dense_fallback_calls"]
    return at_most(f"{method}: dense fallback calls per run (run.json)", ours=float(calls.max()), high=0.0,
                   paper="the authors' ARC-Top-K always compresses")


# "≈ x" read off a log-scale plot (distances, gradient norms): within a factor 2 either side
APPROX_FACTOR = 2.0
ABSTRACT = "ARC-Top-K matches Top-K accuracy (abstract; this table's cells not recovered)"


def approx(name: str, ours: float, low: float, high: float, paper: str) -> Check:
    """``low / APPROX_FACTOR <= ours <= high * APPROX_FACTOR``."""
    return within(name, ours=ours, low=low / APPROX_FACTOR, high=high * APPROX_FACTOR,
                  paper=f"{paper} (≈: within a factor {APPROX_FACTOR:g})")


def _with_failures(explanation: str, checks: list[Check], reason: str) -> str:
    failed = failed_names(checks)
    return f"{explanation} Does not hold: {failed}. {reason}".strip() if failed else explanation


SMALL_RUNS = ("Short runs of a small stand-in model; the full profile runs longer with the same seeds and "
              "learning-rate tuning.")
RUN_COLUMNS = ["method", "seed", "step", "lr", "dense", "ring_sent_bytes_per_worker", "dense_fallback_calls"]


def _legend_entries(data: pd.DataFrame) -> dict[str, str]:
    """Legend entry per method: its learning rate(s) and its bytes per worker relative to dense."""
    share = bytes_vs_dense(data)
    return {method: method_legend(data, method, float(share[method])) for method in ordered(data["method"])}


# ---------------------------------------------------------------------------------------------------- fig1
@register_figure(
    id="arctopk.fig1",
    paper="arctopk",
    kind="figure",
    title="ARC-Top-K: sketch, all-reduce, common rows, index-free all-reduce",
    caption=(
        "The ARC-Top-K compressor on one gradient matrix per worker (rows = selection units), drawn from the "
        "authors' DDP hook as rebuilt in methods/compress/arc_topk.py: each worker sketches its G_i with a shared "
        "Gaussian V (same seed everywhere), the n x r sketches are all-reduced, every worker takes the same K rows "
        "of largest sketch energy, and only those K rows are all-reduced, with no indices. The byte counts under "
        "the boxes are the compressor's own byte plan for a 768 x 768 LLaMA-130M matrix at rho = 0.2, r = 4."
    ),
    claim="—",
    scale_note="diagram; byte example at full LLaMA-130M matrix size",
    computed=False,
)
def draw_fig1(ctx: FigureContext) -> FigureOutput:
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    from methods.compress import make_compressor

    n = m = 768
    calls = make_compressor("arc_topk", ratio=0.2, rank=4).comm_plan((n, m), n_workers=4)
    topk_calls = make_compressor("topk", ratio=0.2).comm_plan((n, m), n_workers=4)
    sketch_b, rows_b = calls[0].size_bytes, calls[1].size_bytes
    dense_b = n * m * 4
    fig, (ax,) = new_figure(width_in=11.0, height_in=4.2)
    ax.set_xlim(0, 11)
    ax.set_ylim(0.6, 4.1)
    ax.axis("off")
    ax.grid(False)
    steps = [
        (0.2, "local gradients\nG_i (n x m)\non every worker", "#f2f2f2"),
        (2.35, "sketch\nP_i = G_i V\nV ~ N(0,1), m x r,\nshared seed", "#dbe9f6"),
        (4.5, f"All-Reduce\nmean_i P_i\n(n r = {sketch_b // 4:,} floats)", "#fde9c9"),
        (6.65, "scores ||P_j||^2\nrows S = Top-K\n(identical on\nevery worker)", "#dbe9f6"),
        (8.8, f"All-Reduce rows\nmean_i G_i[S,:]\n(K m = {rows_b // 4:,} floats,\nno indices)", "#fde9c9"),
    ]
    for x, text, color in steps:
        ax.add_patch(FancyBboxPatch((x, 1.6), 1.9, 1.9, boxstyle="round,pad=0.05", facecolor=color, edgecolor="0.3"))
        ax.text(x + 0.95, 2.55, text, ha="center", va="center", fontsize=8.5)
    for (x0, _, _), (x1, _, _) in zip(steps[:-1], steps[1:]):
        ax.add_patch(FancyArrowPatch((x0 + 1.95, 2.55), (x1 - 0.05, 2.55), arrowstyle="-|>", mutation_scale=12,
                                     color="0.3"))
    ax.text(5.5, 1.05,
            f"output: Gbar on rows S, zero elsewhere  =  row Top-K of the MEAN gradient (exact when V = I).   "
            f"Bytes per worker and step for 768 x 768: ARC {sketch_b + rows_b:,} B "
            f"({(sketch_b + rows_b) / dense_b:.1%} of dense {dense_b:,} B), Top-K all-gather contributes "
            f"{topk_calls[0].size_bytes:,} B and receives N-1 times that.",
            ha="center", va="center", fontsize=8, wrap=True)
    ax.text(5.5, 3.85, "compute (blue) and All-Reduce (orange) phases of one ARC-Top-K call",
            ha="center", fontsize=10)
    data = pd.DataFrame([
        {"phase": "sketch all-reduce", "op": calls[0].op, "size_bytes": sketch_b},
        {"phase": "rows all-reduce", "op": calls[1].op, "size_bytes": rows_b},
        {"phase": "dense all-reduce (reference)", "op": "all_reduce", "size_bytes": dense_b},
        {"phase": "Top-K all-gather contribution", "op": topk_calls[0].op, "size_bytes": topk_calls[0].size_bytes},
    ])
    ours = (f"diagram; 768x768 matrix: ARC sends {(sketch_b + rows_b) // 4:,} floats in two all-reduces "
            f"({(sketch_b + rows_b) / dense_b:.1%} of dense), from the compressor's byte plan")
    return FigureOutput(data=data, figure=fig, ours=ours, verdict=verdict_fig1(data))


def verdict_fig1(data: pd.DataFrame) -> Verdict:
    return not_checkable("A diagram of the method; the paper attaches no number to it (the bytes shown are our "
                         "compressor's exact byte plan).")


# ---------------------------------------------------------------------------------------------------- fig2
@register_figure(
    id="arctopk.fig2",
    paper="arctopk",
    kind="figure",
    title="Robust shifted objective: distance to optimum and loss under EF21-type momentum",
    caption=(
        "Exact re-implementation of the authors' synthetic 'robust shifted objective' (10 workers, x = 200 blocks "
        "x 10, 150 noise blocks whose targets are +/-100 for the two worker groups, coupled to one signal block "
        "with gamma = 5, gradient noise 1e-3; methods/data/synthetic.py), run by the project's compressed-training "
        "workload. "
        "Columns: EF21-MSGD (eta 0.5) and EF21 double momentum; rows: distance to the exact optimum and mean loss, "
        "log scale, mean over 3 seeds (band: min-max). Series: no compression, Random Block (Rand-K over blocks), "
        "Local Top-K (each worker's own top blocks, all-gathered), ARC-Top-K with the exact sketch (V = I, it "
        "sends the n m sketch plus the K m rows: more than dense, a reference) and with the r = 2 Gaussian sketch; "
        "5% of the blocks kept (K = 10). Every method uses the script's learning rate (not tuned, so the curves "
        "compare with the authors' plot); legends give it and the bytes per worker relative to dense."
    ),
    claim="From the authors' plotting script: Local Top-K stalls at distance ~6e-2 (MSGD) / ~1.3e-1 (double "
    "momentum), ARC and ARC-sketch reach ~1e-3-3e-3, dense ~5e-4-2e-3; Random Block oscillates early",
    scale_note="the paper's own synthetic setting, no reduction: 1,000 steps, 3 seeds (full profile, estimated "
    "1 min on 2 CPU cores); quick profile: 150 of the 1,000 steps, 3 seeds",
    scenarios=FIG2,
    quick_overrides=("workload.steps=150", "workload.record_every=5"),
    full_overrides=("workload.steps=1000", "workload.record_every=10"),
)
def draw_fig2(ctx: FigureContext) -> FigureOutput:
    frames = []
    for path, ef in zip(FIG2, ("ef21m", "ef21_sgd2m")):
        frame = run_frame(ctx.run(path))
        frame["optimizer"] = EF_TITLES[ef]
        frames.append(frame)
    data = pd.concat(frames, ignore_index=True)[["optimizer", *RUN_COLUMNS, "dist", "loss"]]
    raise_missing(lacking(data, FIG2_ARMS, "arctopk.fig2 under", by=("optimizer",)))
    optimizers = list(dict.fromkeys(data["optimizer"]))
    fig, axes = new_figure(2, 2, sharex=True)
    summary = []
    for col, opt in enumerate(optimizers):
        sub = data[data["optimizer"] == opt]
        labels = _legend_entries(sub)
        stats = over_seeds(sub, by=["method"], x="step", y=["dist", "loss"])
        finals = tail_over_seeds(sub, ["method"], "dist").set_index("method")
        for index, method in enumerate(ordered(sub["method"])):
            group = stats[stats["method"] == method]
            color = method_color(method, index)
            draw_band(axes[col], group, "step", "dist", color=color, label=labels[method])
            draw_band(axes[2 + col], group, "step", "loss", color=color, label=labels[method])
        summary.append(f"{opt}: " + ", ".join(f"{m} {pm(finals.loc[m, 'mean'], finals.loc[m, 'std'], 2)}"
                                              for m in ordered(sub["method"])))
        axes[col].set_title(opt)
        axes[col].legend(loc="upper right", fontsize=7)
        axes[2 + col].set_xlabel("iteration")
    for ax in axes:
        ax.set_yscale("log")
    axes[0].set_ylabel("distance to optimum")
    axes[2].set_ylabel("loss")
    ours = (f"final distance (mean of last 10% of records, mean ± std over {n_seeds(data)} seeds): "
            + "; ".join(summary))
    return FigureOutput(data=data, figure=fig, ours=ours, verdict=verdict_fig2(data))


FIG2_ARMS = ["dense", "Local Top-K", "ARC-Top-K", "ARC-Top-K (exact)"]  # what fig2 and its verdict compare
FIG2_STALL = {"EF21-MSGD": 6e-2, "EF21 double momentum": 1.3e-1}  # Local Top-K's final distance, authors' plot
FIG2_REACH = {"ARC-Top-K": (1e-3, 3e-3), "ARC-Top-K (exact)": (1e-3, 3e-3), "dense": (5e-4, 2e-3)}


def verdict_fig2(data: pd.DataFrame) -> Verdict:
    """Seed-mean final distances (mean of the last 10% of records) in the bands read off the authors' plot; ARC
    (sketch) compresses; both ARC series ran compressed (no dense fallback)."""
    if reason := lacking(data, FIG2_ARMS, "arctopk.fig2 under", by=("optimizer",)):
        return not_checkable(reason)
    checks = []
    for optimizer, sub in data.groupby("optimizer", sort=False):
        final = tail_over_seeds(sub, ["method"], "dist").set_index("method")["mean"]
        stall = FIG2_STALL[optimizer]
        checks.append(approx(f"{optimizer}: Local Top-K final distance", final["Local Top-K"], stall, stall,
                             paper=f"Local Top-K stalls at ≈{stall:g}"))
        for method, (low, high) in FIG2_REACH.items():
            checks.append(approx(f"{optimizer}: {method} final distance", final[method], low, high,
                                 paper=f"{method} reaches ≈{low:g}-{high:g}"))
    share = bytes_vs_dense(data)
    checks.append(compresses("ARC-Top-K (Gaussian sketch)", float(share["ARC-Top-K"])))
    checks += [fallback_check(data, "ARC-Top-K"), fallback_check(data, "ARC-Top-K (exact)")]
    explanation = (f"Final distance to the optimum after {int(data['step'].max()) + 1} iterations (the authors "
                   f"plot 1,000), mean of the last 10% of records, mean over {n_seeds(data)} seeds; Random Block's "
                   f"early oscillation is not checked. ARC-Top-K (exact) sends {share['ARC-Top-K (exact)']:.2f}x "
                   "dense's bytes by construction (its sketch is the whole tensor).")
    return judge(checks, explanation=_with_failures(explanation, checks, "The quick profile stops before the "
                                                    "curves settle; the full profile runs the authors' 1,000 steps."))


# ---------------------------------------------------------------------------------------------------- fig3
@register_figure(
    id="arctopk.fig3",
    paper="arctopk",
    kind="figure",
    title="Logistic regression with non-convex regulariser: Top-K vs Rand-K vs ARC-Top-K",
    caption=(
        "Logistic regression with the regulariser rho sum x^2/(1+x^2) (rho = 0.01) on data from 3 feature-shifted "
        "groups split over 4 workers (heterogeneous), d = 40 viewed as 10 rows of 4, batch 200 per worker, ratio "
        "0.2 for every compressor, EF21-MSGD and EF21 double momentum (eta 0.9, the authors' normalised form). "
        "Full-gradient norm and full loss vs iteration, mean over seeds (band: min-max). Learning rate per method "
        "and optimizer chosen from 0.02 / 0.05 / 0.1 (authors: 0.05) by the final gradient norm of one tuning run "
        "each (same budget for all); legends give it and the bytes per worker relative to dense. With r = 4 "
        "columns per row, ARC's sketch has as many entries as x (sent in fp32, x is fp64), so ARC saves few bytes "
        "here (the authors' setting; the figure compares convergence at equal ratio). A torch port of the "
        "authors' cupy experiment run by the project's compressed-training workload; 144k samples instead of 1.44M."
    ),
    claim="— (expected from the method: ARC ~ Top-K, better than Rand-K at equal ratio)",
    scale_note="144k samples (paper 1.44M), 1,500 iterations (paper 3,000), 3 seeds (paper 20), tuning runs of "
    "500 iterations (full profile, estimated 1.5 min on 2 CPU cores); quick profile: 14.4k samples, 150 "
    "iterations, 3 seeds, tuning over 0.05 / 0.1 with 75 iterations",
    scenarios=(FIG3,),
    quick_overrides=("workload.steps=150", "workload.task.n_samples=14400", "sweep.product.seed=[0, 1, 2]",
                     "workload.record_every=10", "tune.values=[0.05, 0.1]",
                     'tune.overrides={"workload.steps": 75, "seed": 1000}'),
    full_overrides=("workload.steps=1500", "sweep.product.seed=[0, 1, 2]",
                    'tune.overrides={"workload.steps": 500, "seed": 1000}'),
)
def draw_fig3(ctx: FigureContext) -> FigureOutput:
    data = run_frame(ctx.run(FIG3))[[EF_COLUMN, *RUN_COLUMNS, "grad_norm", "loss"]]
    raise_missing(lacking(data, FIG3_ARMS, "arctopk.fig3 under", by=(EF_COLUMN,)))
    efs = list(dict.fromkeys(data[EF_COLUMN]))
    fig, axes = new_figure(2, len(efs), sharex=True)
    summary = []
    for col, ef in enumerate(efs):
        sub = data[data[EF_COLUMN] == ef]
        labels = _legend_entries(sub)
        stats = over_seeds(sub, by=["method"], x="step", y=["grad_norm", "loss"])
        finals = tail_over_seeds(sub, ["method"], "grad_norm").set_index("method")
        for index, method in enumerate(ordered(sub["method"])):
            group = stats[stats["method"] == method]
            color = method_color(method, index)
            for row, metric in enumerate(("grad_norm", "loss")):
                draw_band(axes[row * len(efs) + col], group, "step", metric, color=color, label=labels[method])
        summary.append(f"{EF_TITLES.get(ef, ef)}: " + ", ".join(
            f"{m} {pm(finals.loc[m, 'mean'], finals.loc[m, 'std'])}" for m in ordered(sub["method"])))
        axes[col].set_title(EF_TITLES.get(ef, ef))
        axes[col].legend(loc="upper right", fontsize=7)
        axes[len(efs) + col].set_xlabel("iteration")
    for ax in axes:
        ax.set_yscale("log")
    axes[0].set_ylabel("full-gradient norm")
    axes[len(efs)].set_ylabel("loss")
    ours = (f"final gradient norm (last 10% of records, mean ± std over {n_seeds(data)} seeds): "
            + "; ".join(summary))
    return FigureOutput(data=data, figure=fig, ours=ours, verdict=verdict_fig3(data))


FIG3_ARMS = ["dense", "Top-K", "Rand-K", "ARC-Top-K"]  # dense for the bytes, the rest for the verdict
FIG3_EXPECTED = "expected from secondary sources; no paper value recovered"


def verdict_fig3(data: pd.DataFrame) -> Verdict:
    """ARC ≈ Top-K (factor 2) and ARC <= Rand-K in seed-mean final gradient norm, per optimizer; ARC ran
    compressed (no dense fallback)."""
    if reason := lacking(data, FIG3_ARMS, "arctopk.fig3 under", by=(EF_COLUMN,)):
        return not_checkable(reason)
    checks, notes = [], ""
    for ef, sub in data.groupby(EF_COLUMN, sort=False):
        stats = tail_over_seeds(sub, ["method"], "grad_norm").set_index("method")
        final = stats["mean"].to_dict()
        title = EF_TITLES.get(ef, ef)
        checks.append(approx(f"{title}: ARC-Top-K / Top-K final gradient norm", final["ARC-Top-K"] / final["Top-K"],
                             1.0, 1.0, paper=f"ARC ≈ Top-K ({FIG3_EXPECTED})"))
        checks.append(ordered_check(f"{title}: final gradient norm ARC-Top-K <= Rand-K", final, ["ARC-Top-K", "Rand-K"],
                                    paper=f"ARC better than Rand-K at equal ratio ({FIG3_EXPECTED})"))
        notes += spread_note(f"{title}, ARC-Top-K - Rand-K", final["ARC-Top-K"] - final["Rand-K"],
                             float(stats.loc[["ARC-Top-K", "Rand-K"], "std"].max()))
    checks.append(fallback_check(data))
    share = bytes_vs_dense(data)
    explanation = (f"Final full-gradient norm (last 10% of records, mean over {n_seeds(data)} seeds) per optimizer; "
                   "the paper's values are not recovered, so the checks are the expected ordering. ARC-Top-K sent "
                   f"{share['ARC-Top-K']:.2f}x dense's bytes (x is 10 x 4 and r = 4: the fp32 sketch has as many "
                   "entries as the fp64 x)."
                   + notes)
    return judge(checks, explanation=_with_failures(explanation, checks, ""))


# ----------------------------------------------------------------------------------------------- fig_scaling
@register_figure(
    id="arctopk.fig_scaling",
    paper="arctopk",
    kind="figure",
    title="Scaling in the number of workers: convergence and bytes per worker",
    caption=(
        "The logistic task of arctopk.fig3 split over N = 8, 16, 32, 64 simulated workers (EF21-MSGD, ratio 0.2, "
        "learning rate per method chosen at N = 8 from 0.02 / 0.05 / 0.1 by one tuning run each). Left: "
        "full-gradient norm at the end of the run vs N (mean of the last 10% of records; mean over seeds, bars: "
        "std) per compressor; middle: ARC-Top-K (solid) and dense (dashed) gradient-norm curves per N (seed "
        "mean, band min-max); right: bytes each worker really sent per step in the run (ring accounting of the "
        "collectives the compressors issued): Top-K's all-gather grows linearly in N, the all-reduce compressors "
        "stay flat. Workers are simulated in one process."
    ),
    claim="ARC comparable to dense across 8-64 nodes (summary)",
    scale_note="128k samples, 500 iterations, 3 seeds, tuning runs of 300 iterations, N = 8-64 in one process "
    "(full profile, estimated 2.5 min on 2 CPU cores); quick profile: 12.8k samples, 40 iterations, 3 seeds, "
    "tuning over 0.05 / 0.1 with 40 iterations",
    scenarios=(SCALING,),
    quick_overrides=("workload.steps=40", "workload.task.n_samples=12800", "workload.record_every=5",
                     "tune.values=[0.05, 0.1]", 'tune.overrides={"workload.steps": 40, "seed": 1000}'),
    full_overrides=("workload.steps=500", 'tune.overrides={"workload.steps": 300, "seed": 1000}'),
)
def draw_fig_scaling(ctx: FigureContext) -> FigureOutput:
    data = run_frame(ctx.run(SCALING))
    data["n_workers"] = data["workload.n_workers"].astype(int)
    data = data[["n_workers", *RUN_COLUMNS, "grad_norm", "payload_bytes_per_worker"]]
    raise_missing(lacking(data, ["ARC-Top-K", "Top-K", "dense"], "arctopk.fig_scaling at N =", by=("n_workers",)))
    labels = _legend_entries(data)
    finals = tail_over_seeds(data, ["method", "n_workers"], "grad_norm")
    sent = data[~data["dense"].astype(bool)].groupby(["method", "n_workers"])["ring_sent_bytes_per_worker"].mean()
    fig, axes = new_figure(1, 3)
    ns = sorted(data["n_workers"].unique())
    for index, method in enumerate(ordered(data["method"])):
        group = finals[finals["method"] == method].sort_values("n_workers")
        color = method_color(method, index)
        axes[0].errorbar(group["n_workers"], group["mean"], yerr=group["std"], marker="o", color=color,
                         label=labels[method], capsize=2)
        axes[2].plot(ns, [sent[(method, n)] for n in ns], marker="o", color=color, label=method)
    for index, n in enumerate(ns):
        color = PALETTE[index % len(PALETTE)]
        for method, style in (("ARC-Top-K", "-"), ("dense", "--")):
            stats = over_seeds(data[(data["method"] == method) & (data["n_workers"] == n)], by=["method"], x="step",
                               y="grad_norm")
            draw_band(axes[1], stats, "step", "grad_norm", color=color, linestyle=style,
                      label=f"N={n}" if method == "dense" else None)
    for ax in (axes[0], axes[2]):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ns, [str(n) for n in ns])
        ax.minorticks_off()
        ax.set_xlabel("workers N")
    for ax in axes:
        ax.set_yscale("log")
    axes[0].set_ylabel("final full-gradient norm")
    axes[1].set_xlabel("iteration")
    axes[1].set_ylabel("full-gradient norm (ARC solid, dense dashed)")
    axes[2].set_ylabel("bytes sent per worker per step")
    axes[0].legend(loc="upper right", fontsize=7)
    axes[1].legend(loc="upper right")
    wide = finals.pivot_table(index="n_workers", columns="method", values="mean")
    ratio = wide["ARC-Top-K"] / wide["dense"]
    ours = (f"ARC/dense final gradient norm (mean of {n_seeds(data)} seeds) at N={ns[0]}..{ns[-1]}: "
            + ", ".join(f"{r:.2f}" for r in ratio)
            + f"; bytes/worker/step N={ns[0]}->{ns[-1]}: Top-K {sent[('Top-K', ns[0])]:.0f}->"
            f"{sent[('Top-K', ns[-1])]:.0f}, ARC {sent[('ARC-Top-K', ns[0])]:.0f}->{sent[('ARC-Top-K', ns[-1])]:.0f}, "
            f"dense {sent[('dense', ns[0])]:.0f}->{sent[('dense', ns[-1])]:.0f}")
    return FigureOutput(data=data, figure=fig, ours=ours, verdict=verdict_fig_scaling(data))


def verdict_fig_scaling(data: pd.DataFrame) -> Verdict:
    """ARC ≈ dense (factor 2) in seed-mean final gradient norm at every N; ARC ran compressed at every N."""
    if reason := lacking(data, ["ARC-Top-K", "dense"], "arctopk.fig_scaling at N =", by=("n_workers",)):
        return not_checkable(reason)
    finals = tail_over_seeds(data, ["method", "n_workers"], "grad_norm")
    wide = finals.pivot_table(index="n_workers", columns="method", values="mean")
    std = finals.pivot_table(index="n_workers", columns="method", values="std")
    ratio = wide["ARC-Top-K"] / wide["dense"]
    checks = [approx(f"N = {n}: ARC-Top-K / dense final gradient norm", float(r), 1.0, 1.0,
                     paper="ARC comparable to dense across 8-64 nodes") for n, r in ratio.items()]
    checks.append(fallback_check(data))
    notes = "".join(spread_note(f"N = {n}, ARC-Top-K - dense", float(wide.loc[n, "ARC-Top-K"] - wide.loc[n, "dense"]),
                                float(std.loc[n, ["ARC-Top-K", "dense"]].max())) for n in wide.index)
    explanation = (f"Final full-gradient norm (last 10% of records, mean over {n_seeds(data)} seeds) per worker "
                   "count." + notes)
    return judge(checks, explanation=_with_failures(explanation, checks, ""))


# ---------------------------------------------------------------------------------------------------- fig4
@register_figure(
    id="arctopk.fig4",
    paper="arctopk",
    kind="figure",
    title="LLM training curves: held-out loss vs step and vs communicated bytes",
    caption=(
        "LLaMA pre-training on C4 replaced by a tiny LLaMA-style GPT on a generated grammar corpus, 4 simulated "
        "workers, AdamW with cosine decay, dense warm-up for the first 10% of steps, then Top-K, Rand-K or "
        "ARC-Top-K at ratio 0.2 (r = 4) with EF14 (the authors' C4 setting); embeddings and LM head are sent "
        "dense, as in the authors' hook. Learning rate per method from 1e-3 / 3e-3 / 1e-2 by the final held-out "
        "loss of one tuning run each (same budget for all); legends give it and the bytes per worker relative to "
        "dense. Held-out loss vs step (left) and vs the cumulative bytes each worker sent (right; ring accounting "
        "of the collectives the run issued); mean over seeds, band min-max."
    ),
    claim="ARC matches Top-K accuracy with less communication",
    scale_note=GPT_SCALE,
    scenarios=(GPT_METHODS,),
    quick_overrides=GPT_QUICK,
    full_overrides=GPT_FULL,
)
def draw_fig4(ctx: FigureContext) -> FigureOutput:
    data = run_frame(ctx.run(GPT_METHODS))
    data = data[data["method"].isin(["dense", "Top-K", "Rand-K", "ARC-Top-K"])]
    raise_missing(lacking(data, ["dense", "Top-K", "ARC-Top-K"], "arctopk.fig4"))
    labels = _legend_entries(data)
    evals = data.dropna(subset=["eval_loss"])[[*RUN_COLUMNS, "eval_loss", "cum_ring_sent_bytes_per_worker"]]
    stats = over_seeds(evals, by=["method"], x="step", y=["eval_loss", "cum_ring_sent_bytes_per_worker"])
    stats["mib"] = stats["cum_ring_sent_bytes_per_worker_mean"] / 2**20
    fig, axes = new_figure(1, 2, sharey=True)
    for index, method in enumerate(ordered(evals["method"])):
        group = stats[stats["method"] == method]
        color = method_color(method, index)
        draw_band(axes[0], group, "step", "eval_loss", color=color, label=labels[method])
        draw_band(axes[1], group, "mib", "eval_loss", color=color, label=labels[method])
    axes[0].set_xlabel("step")
    axes[0].set_ylabel("held-out loss (nats/char)")
    axes[1].set_xlabel("MiB sent per worker (cumulative)")
    axes[1].set_xscale("log")
    axes[0].legend(loc="upper right", fontsize=7)
    finals = final_over_seeds(evals, ["method"], "eval_loss").set_index("method")
    ours = (f"final held-out loss (mean ± std over {n_seeds(evals)} seeds): "
            + ", ".join(f"{m} {pm(finals.loc[m, 'mean'], finals.loc[m, 'std'])}" for m in ordered(finals.index)))
    return FigureOutput(data=evals, figure=fig, ours=ours, verdict=verdict_fig4(evals))


def verdict_fig4(data: pd.DataFrame) -> Verdict:
    """ARC's seed-mean final held-out loss within 2% of Top-K's, with fewer cumulative bytes."""
    if reason := lacking(data, ["Top-K", "ARC-Top-K"], "arctopk.fig4"):
        return not_checkable(reason)
    finals = final_over_seeds(data, ["method"], "eval_loss").set_index("method")
    sent = final_over_seeds(data, ["method"], "cum_ring_sent_bytes_per_worker").set_index("method")["mean"]
    paper = "ARC matches Top-K accuracy with less communication"
    checks = [
        loss_matches("ARC-Top-K", float(finals.loc["ARC-Top-K", "mean"]), float(finals.loc["Top-K", "mean"]),
                     "Top-K", paper),
        ordered_check("bytes sent per worker over the run: ARC-Top-K <= Top-K", sent.to_dict(),
                      ["ARC-Top-K", "Top-K"], paper=paper),
        fallback_check(data),
    ]
    explanation = (f"Final held-out loss (mean over {n_seeds(data)} seeds) and cumulative bytes after "
                   f"{int(data['step'].max()) + 1} steps of the tiny GPT."
                   + spread_note("ARC-Top-K - Top-K held-out loss",
                                 float(finals.loc["ARC-Top-K", "mean"] - finals.loc["Top-K", "mean"]),
                                 float(finals.loc[["ARC-Top-K", "Top-K"], "std"].max())))
    return judge(checks, explanation=_with_failures(explanation, checks, SMALL_RUNS))


# ---------------------------------------------------------------------------------------------------- tab1
#: compressors of Table 1 as implemented here: label, registry name, parameters; then the columns read from their
#: definitions (not computed): contraction, unbiased, uses gradient magnitudes (research card sec. 1.3 and 3: the
#: ARC authors' abstract and code, Vogels et al. 2019 for PowerSGD; the paper's own cells are unknown)
TAB1_COMPRESSORS = (
    ("Rand-K", "randk", {"ratio": 0.2}, "in expectation (unscaled, delta = k/d)", "yes when scaled by d/k", "no"),
    ("Top-K", "topk", {"ratio": 0.2}, "per worker yes; aggregate NO (counterexample)", "no", "yes (local)"),
    ("ARC-Top-K", "arc_topk", {"ratio": 0.2, "rank": 4}, "aggregate yes (alpha = K/n; exact sketch "
     "deterministic, Gaussian sketch in expectation)", "no", "yes (global, via sketch)"),
    ("PowerSGD", "powersgd", {"rank": 4}, "no guarantee (greedy, biased)", "no", "yes (low rank)"),
)
#: draws (shared seeds: Rand-K's indices, ARC's sketch, PowerSGD's start) the heavy-tailed error is averaged over
TAB1_DRAWS = 8
BY_DEFINITION = "(by definition, not computed)"


def tab1_inputs() -> dict[str, list]:
    """The fixed inputs the aggregate error is computed on, one gradient per worker (float64).

    ``counterexample``: the research card's two-worker example (sec. 1.3) as 2 x 8 matrices, rows (1, -0.9) on one
    worker and (-0.9, 1) on the other: the mean is small, each worker's largest entries cancel in it.
    ``heavy_tailed``: 4 workers, 40 x 32, rows scaled by 1 / j^1.5 (a few rows hold most of the energy), the same
    mean plus 10% worker noise.
    """
    import torch

    counterexample = [torch.tensor([[1.0] * 8, [-0.9] * 8], dtype=torch.float64),
                      torch.tensor([[-0.9] * 8, [1.0] * 8], dtype=torch.float64)]
    gen = torch.Generator().manual_seed(0)
    scale = (1.0 / torch.arange(1, 41, dtype=torch.float64) ** 1.5)[:, None]
    mean = torch.randn(40, 32, generator=gen, dtype=torch.float64) * scale
    heavy = [mean + 0.1 * torch.randn(40, 32, generator=gen, dtype=torch.float64) * scale for _ in range(4)]
    return {"counterexample": counterexample, "heavy_tailed": heavy}


def aggregate_error_ratio(name: str, params: dict[str, Any], tensors: list, draws: int = 1) -> float:
    """||aggregate - mean||^2 / ||mean||^2 of one compression call on ``len(tensors)`` simulated workers (fresh
    compressors, no error feedback), averaged over ``draws`` shared seeds. Below 1 on every input is what a
    contraction of the aggregate needs; above 1 on one input shows it is not one."""
    import torch

    from methods.compress import make_compressor
    from methods.compress.simulated import compress_once

    mean = torch.stack(tensors).mean(0)
    ratios = []
    for seed in range(draws):
        results, _ = compress_once([make_compressor(name, **params) for _ in tensors], tensors, seed=seed)
        ratios.append(float(((results[0].aggregate - mean) ** 2).sum() / (mean**2).sum()))
    return float(np.mean(ratios))


@register_figure(
    id="arctopk.tab1",
    paper="arctopk",
    kind="table",
    title="Compressor properties",
    caption=(
        "Properties of Rand-K, Top-K, ARC-Top-K and PowerSGD as implemented in methods/compress. Computed: the "
        "'collectives' and 'bytes/worker' columns, read from each compressor's byte plan for a 768 x 768 matrix "
        "(fp32) at N = 4 and N = 16, and the aggregate error ||mean of the compressed - mean||² / ||mean||² of one "
        "call on two fixed inputs: a two-worker counterexample to Top-K's aggregate contraction (2 x 8, rows "
        "(1, -0.9) and (-0.9, 1)) and 4 workers' heavy-tailed 40 x 32 gradients (row j scaled by 1/j^1.5; mean over "
        f"{TAB1_DRAWS} shared seeds). From the definitions, not computed (marked so): contraction, unbiasedness "
        "and use of gradient magnitudes, as read from the ARC authors' abstract and code and PowerSGD's paper; "
        "the paper's own cells are unknown."
    ),
    claim="ARC is the only one with all properties",
    scale_note="byte plans at full LLaMA-130M matrix size; aggregate errors on two small fixed inputs",
)
def draw_tab1(ctx: FigureContext) -> FigureOutput:
    from methods.compress import make_compressor

    inputs = tab1_inputs()
    rows = []
    for label, name, params, contraction, unbiased, magnitudes in TAB1_COMPRESSORS:
        comp = make_compressor(name, **params)
        plan4, plan16 = comp.comm_plan((768, 768), 4), comp.comm_plan((768, 768), 16)
        ops = sorted({c.op for c in plan4})
        sent4 = sum(c.ring_sent_bytes_per_worker for c in plan4)
        sent16 = sum(c.ring_sent_bytes_per_worker for c in plan16)
        counter = aggregate_error_ratio(name, params, inputs["counterexample"])
        heavy = aggregate_error_ratio(name, params, inputs["heavy_tailed"], draws=TAB1_DRAWS)
        rows.append({
            "compressor": label,
            "collectives": " + ".join(op.replace("_", "-") for op in ops),
            "All-Reduce compatible": "yes" if ops == ["all_reduce"] else "no",
            "bytes/worker N=4 -> N=16": f"{sent4 / 1024:.0f} -> {sent16 / 1024:.0f} KiB",
            "aggregate error / ||mean||^2, counterexample": f"{counter:.3g}",
            "aggregate error / ||mean||^2, heavy-tailed": f"{heavy:.3g}",
            f"contraction {BY_DEFINITION}": contraction,
            f"unbiased {BY_DEFINITION}": unbiased,
            f"uses gradient magnitudes {BY_DEFINITION}": magnitudes,
            "all_reduce_compatible": ops == ["all_reduce"],
            "error_ratio_counterexample": counter,
            "error_ratio_heavy_tailed": heavy,
        })
    data = pd.DataFrame(rows)
    table = data.drop(columns=list(TAB1_COMPUTED))
    ok = table.set_index("compressor")["All-Reduce compatible"]
    ours = (f"All-Reduce compatible per byte plan: {', '.join(f'{k} {v}' for k, v in ok.items())}; aggregate error "
            "/ ||mean||² on the two-worker counterexample: " + ", ".join(
                f"{r.compressor} {r.error_ratio_counterexample:.3g}" for r in data.itertuples()))
    return FigureOutput(data=data, table=table, ours=ours, verdict=verdict_tab1(data))


#: the computed columns the verdict reads (the definition columns are shown, never checked)
TAB1_COMPUTED = ("all_reduce_compatible", "error_ratio_counterexample", "error_ratio_heavy_tailed")


def verdict_tab1(data: pd.DataFrame) -> Verdict:
    """Computed evidence only (`TAB1_COMPUTED`): ARC-Top-K is All-Reduce only and Top-K is not (byte plans); on the
    two-worker counterexample ARC's aggregate keeps part of the mean and Top-K's errs by more than the mean itself
    (a contraction never does); on heavy-tailed rows ARC's aggregate errs less than Rand-K's at the same ratio."""
    by = data.set_index("compressor")
    heavy = by["error_ratio_heavy_tailed"].astype(float)
    paper = "ARC is the only one with all properties"
    checks = [
        at_least("ARC-Top-K: All-Reduce only, from its byte plan (1 yes, 0 no)",
                 ours=float(bool(by.loc["ARC-Top-K", "all_reduce_compatible"])), low=1,
                 paper=f"{paper}: ARC is All-Reduce compatible"),
        at_most("Top-K: All-Reduce only, from its byte plan (1 yes, 0 no)",
                ours=float(bool(by.loc["Top-K", "all_reduce_compatible"])), high=0,
                paper=f"{paper}: Top-K needs an All-Gather"),
        above("ARC-Top-K: 1 - aggregate error / ||mean||^2, two-worker counterexample",
              ours=1.0 - float(by.loc["ARC-Top-K", "error_ratio_counterexample"]), low=0.0,
              paper=f"{paper}: ARC contracts the aggregate (keeps part of the mean)"),
        above("Top-K: aggregate error / ||mean||^2, two-worker counterexample",
              ours=float(by.loc["Top-K", "error_ratio_counterexample"]), low=1.0,
              paper=f"{paper}: Top-K's aggregate is not a contraction (errs by more than the mean)"),
        above(f"Rand-K minus ARC-Top-K: aggregate error / ||mean||^2, heavy-tailed rows (mean of {TAB1_DRAWS} draws)",
              ours=float(heavy["Rand-K"] - heavy["ARC-Top-K"]), low=0.0,
              paper=f"{paper}: ARC uses gradient magnitudes, Rand-K does not"),
    ]
    explanation = (
        "Only computed columns are checked: the byte plans, and the aggregate error of one compression call on two "
        "fixed inputs (a strict inequality each: a tie shows neither contraction nor its failure, nor a use of "
        "magnitudes). The rest of the claim comes from the definitions and is shown, not checked: PowerSGD's "
        "missing contraction guarantee (here its aggregate is a projection of the mean and errs by less than the "
        "mean on both inputs, which no finite test can turn into a guarantee or its absence) and the unbiasedness "
        "column (no magnitude-aware compressor is unbiased).")
    return judge(checks, explanation=explanation)


# ---------------------------------------------------------------------------------------------------- tab2
@register_figure(
    id="arctopk.tab2",
    paper="arctopk",
    kind="table",
    title="Image classification accuracy (digits stand-in for CIFAR)",
    caption=(
        "Test accuracy (mean ± std over seeds) after training with 4 simulated data-parallel workers. "
        "CIFAR-10/ResNet-18/50 are replaced by scikit-learn's bundled 8x8 digits (1,347 train / 450 test images) "
        "with a small MLP and a two-layer CNN; dense vs Top-K, Rand-K and ARC-Top-K (r = 4; 1-D tensors: top-k "
        "of the mean, the authors' hook) at ratio 0.2, each with EF14 and EF21; momentum SGD with cosine decay, "
        "20 dense warm-up steps. Learning rate per method, error feedback and model from 0.02 / 0.05 / 0.1 by the "
        "held-out loss of one tuning run each (same budget for all); the lr and bytes-per-worker (relative to "
        "dense) columns give the choice and the cost."
    ),
    claim="— (cells not recovered)",
    scale_note="digits 8x8, 4 workers, 600 steps (~57 epochs), 3 seeds, tuning runs of 200 steps (full profile, "
    "estimated 2.5 min on 2 CPU cores); quick profile: 50 steps, warm-up 10, 3 seeds, tuning over 0.05 / 0.1 with "
    "25 steps",
    scenarios=TAB2,
    quick_overrides=("workload.steps=50", "workload.warmup_steps=10", "workload.eval_every=50",
                     "workload.record_every=10", "tune.values=[0.05, 0.1]",
                     'tune.overrides={"workload.steps": 25, "seed": 1000}'),
    full_overrides=("workload.steps=600", 'tune.overrides={"workload.steps": 200, "seed": 1000}'),
)
def draw_tab2(ctx: FigureContext) -> FigureOutput:
    frames = []
    for path, model in zip(TAB2, ("MLP", "CNN")):
        frame = run_frame(ctx.run(path))
        frame["model"] = model
        frame["error feedback"] = [EF_TITLES.get(ef, ef) for ef in frame[EF_COLUMN]]
        frames.append(frame)
    runs = pd.concat(frames, ignore_index=True)
    raise_missing(lacking(runs, ["dense"], "arctopk.tab2 for", by=("model",)))
    raise_missing(lacking(runs, ["Top-K", "ARC-Top-K"], "arctopk.tab2 for", by=("model", "error feedback")))
    share = bytes_vs_dense(runs, by=["model"])
    rows = []
    for (model, method, ef, seed), group in runs.groupby(["model", "method", "error feedback", "seed"]):
        rows.append({"model": model, "method": method, "error feedback": ef, "seed": seed,
                     "accuracy": _final(group, "accuracy"), "lr": float(group["lr"].iloc[0]),
                     "bytes_vs_dense": float(share[(model, method)]),
                     "dense_fallback_calls": float(group["dense_fallback_calls"].max())})
    long = pd.DataFrame(rows)
    stats = long.groupby(["method", "error feedback", "model"]).agg(
        mean=("accuracy", "mean"), std=("accuracy", "std"), lr=("lr", "first"), share=("bytes_vs_dense", "first"))
    stats["std"] = stats["std"].fillna(0.0)
    table = pd.DataFrame([
        {"method": method, "error feedback": ef,
         **{f"{model} accuracy": pm(row["mean"], row["std"]) for model, row in group.droplevel([0, 1]).iterrows()},
         **{f"{model} lr": f"{row['lr']:g}" for model, row in group.droplevel([0, 1]).iterrows()},
         "bytes / dense": f"{group['share'].mean():.2f}x"}
        for (method, ef), group in stats.groupby(level=[0, 1])])
    table["method"] = pd.Categorical(table["method"], ordered(table["method"]), ordered=True)
    table = table.sort_values(["method", "error feedback"]).reset_index(drop=True)
    table["method"] = table["method"].astype(str)
    best = long.groupby("method")["accuracy"].mean()
    ours = (f"mean accuracy over MLP/CNN, EF variants and {n_seeds(long)} seeds: "
            + ", ".join(f"{m} {best[m]:.3f}" for m in ordered(best.index)))
    return FigureOutput(data=long, table=table, ours=ours, verdict=verdict_tab2(long))


def _cell_checks(data: pd.DataFrame, keys: list[str], value: str, make: Any) -> tuple[list[Check], str]:
    """One check per cell of ``keys`` from the seed means of ARC-Top-K and Top-K (``make(name, arc, topk)``),
    and the spread notes of those cells."""
    stats = data.groupby([*keys, "method"])[value].agg(["mean", "std"]).fillna(0.0)
    checks, notes = [], ""
    for cell, group in stats.groupby(level=list(range(len(keys)))):
        cell = cell if isinstance(cell, tuple) else (cell,)
        group = group.droplevel(list(range(len(keys))))
        name = ", ".join(map(str, cell))
        arc, topk = float(group.loc["ARC-Top-K", "mean"]), float(group.loc["Top-K", "mean"])
        checks.append(make(f"{name}: ARC-Top-K", arc, topk))
        notes += spread_note(f"{name}, ARC-Top-K - Top-K", arc - topk,
                             float(group.loc[["ARC-Top-K", "Top-K"], "std"].max()))
    return checks, notes


def verdict_tab2(data: pd.DataFrame) -> Verdict:
    """ARC's seed-mean test accuracy at most 2 points below Top-K's, per model and error feedback; ARC ran
    compressed."""
    if reason := lacking(data, ["Top-K", "ARC-Top-K"], "arctopk.tab2 for", by=("model", "error feedback")):
        return not_checkable(reason)
    checks, notes = _cell_checks(data, ["model", "error feedback"], "accuracy",
                                 lambda name, arc, topk: accuracy_matches(name, arc, topk, "Top-K", ABSTRACT))
    checks.append(fallback_check(data))
    explanation = (f"Final test accuracy on the digits stand-in (mean over {n_seeds(data)} seeds), ARC-Top-K "
                   "against Top-K in every cell." + notes)
    return judge(checks, explanation=_with_failures(explanation, checks, SMALL_RUNS))


# ---------------------------------------------------------------------------------------------------- tab3
@register_figure(
    id="arctopk.tab3",
    paper="arctopk",
    kind="table",
    title="Text classification (synthetic stand-in for GLUE)",
    caption=(
        "GLUE with RoBERTa-base replaced by three synthetic sequence-classification tasks on a 2-layer tiny causal "
        "transformer (harness/workloads/compressed_training.py): 'planted' (does a marker token occur), "
        "'majority' (which of two tokens occurs more often), 'order' (does token A come before token B). 4 "
        "simulated workers, AdamW, ratio 0.2 with EF14, 20 dense warm-up steps; ARC's 1-D tensors: top-k of the "
        "mean (the authors' hook). Learning rate per method from 1e-3 / 3e-3 / 1e-2 by the held-out loss of one "
        "tuning run each on the 'planted' task (same budget for all). Test accuracy and Matthews correlation (MCC, "
        "the CoLA metric), mean ± std over seeds, on 500 held-out sequences per task."
    ),
    claim="— (cells not recovered)",
    scale_note="2,000 training sequences of 16 tokens per task, d_model 32, 250 steps, 3 seeds, tuning runs of "
    "100 steps (full profile, estimated 2 min on 2 CPU cores); quick profile: 25 steps, warm-up 5, 3 seeds, "
    "tuning over 3e-3 / 1e-2 with 12 steps",
    scenarios=(TAB3,),
    parallel_runs=True,
    quick_overrides=("workload.steps=25", "workload.warmup_steps=5", "workload.eval_every=25",
                     "workload.record_every=25", "tune.values=[0.003, 0.01]",
                     'tune.overrides={"workload.steps": 12, "seed": 1000}'),
    full_overrides=("workload.steps=250", 'tune.overrides={"workload.steps": 100, "seed": 1000}'),
)
def draw_tab3(ctx: FigureContext) -> FigureOutput:
    runs = run_frame(ctx.run(TAB3))
    runs["task"] = [t["rule"] for t in runs["workload.task"]]
    raise_missing(lacking(runs, ["dense"], "arctopk.tab3"))
    raise_missing(lacking(runs, ["Top-K", "ARC-Top-K"], "arctopk.tab3 on task", by=("task",)))
    share = bytes_vs_dense(runs)
    rows = []
    for (method, task, seed), group in runs.groupby(["method", "task", "seed"]):
        rows.append({"method": method, "task": task, "seed": seed, "lr": float(group["lr"].iloc[0]),
                     "bytes_vs_dense": float(share[method]),
                     "dense_fallback_calls": float(group["dense_fallback_calls"].max()),
                     **{k: _final(group, k) for k in ("accuracy", "f1", "mcc")}})
    long = pd.DataFrame(rows)
    stats = long.groupby(["method", "task"])[["accuracy", "mcc"]].agg(["mean", "std"]).fillna(0.0)
    avg = long.groupby(["method", "seed"])["accuracy"].mean().groupby("method").agg(["mean", "std"]).fillna(0.0)
    table_rows = []
    for method in ordered(long["method"]):
        row = {"method": method}
        for task in sorted(long["task"].unique()):
            for metric in ("accuracy", "mcc"):
                row[f"{task} {metric}"] = pm(stats.loc[(method, task), (metric, "mean")],
                                             stats.loc[(method, task), (metric, "std")])
        row["average accuracy"] = pm(avg.loc[method, "mean"], avg.loc[method, "std"])
        row["lr"] = f"{long.loc[long['method'] == method, 'lr'].iloc[0]:g}"
        row["bytes / dense"] = f"{share[method]:.2f}x"
        table_rows.append(row)
    table = pd.DataFrame(table_rows)
    ours = (f"average accuracy over the 3 tasks (mean ± std over {n_seeds(long)} seeds): "
            + ", ".join(f"{m} {pm(avg.loc[m, 'mean'], avg.loc[m, 'std'])}" for m in ordered(avg.index)))
    return FigureOutput(data=long, table=table, ours=ours, verdict=verdict_tab3(long))


def verdict_tab3(data: pd.DataFrame) -> Verdict:
    """ARC's seed-mean test accuracy at most 2 points below Top-K's, per task; ARC ran compressed."""
    if reason := lacking(data, ["Top-K", "ARC-Top-K"], "arctopk.tab3 on task", by=("task",)):
        return not_checkable(reason)
    checks, notes = _cell_checks(data, ["task"], "accuracy",
                                 lambda name, arc, topk: accuracy_matches(name, arc, topk, "Top-K", ABSTRACT))
    checks.append(fallback_check(data))
    explanation = (f"Final test accuracy on the synthetic text tasks (stand-in for GLUE), mean over {n_seeds(data)} "
                   "seeds, ARC-Top-K against Top-K." + notes)
    return judge(checks, explanation=_with_failures(explanation, checks, SMALL_RUNS))


# ---------------------------------------------------------------------------------------------------- tab4
@register_figure(
    id="arctopk.tab4",
    paper="arctopk",
    kind="table",
    title="Pre-training: final held-out loss and perplexity (tiny GPT stand-in for C4)",
    caption=(
        "Final held-out loss and per-character perplexity (mean ± std over seeds) of the arctopk.fig4 tiny-GPT "
        "runs at two widths (d_model 32 and 64, 2 layers), standing in for LLaMA sizes on C4; dense, Top-K, "
        "Rand-K and ARC-Top-K at ratio 0.2 with EF14, dense warm-up 10% of the steps, embeddings and LM head "
        "sent dense (the authors' hook). Learning rate per method and width from 1e-3 / 3e-3 / 1e-2 by one "
        "tuning run each (same budget for all); the lr and bytes-per-worker columns give the choice and the cost."
    ),
    claim="—",
    scale_note=GPT_SCALE + "; the d_model 32 runs use the same settings",
    scenarios=(GPT_METHODS, TAB4_SMALL),
    quick_overrides=GPT_QUICK,
    full_overrides=GPT_FULL,
)
def draw_tab4(ctx: FigureContext) -> FigureOutput:
    rows = []
    for path in (TAB4_SMALL, GPT_METHODS):
        sweep = ctx.run(path)
        width = f"d_model {sweep.points[0].scenario.workload.task.d_model}"
        data = run_frame(sweep)
        data = data[data["method"].isin(["dense", "Top-K", "Rand-K", "ARC-Top-K"])]
        raise_missing(lacking(data, ["dense", "Top-K", "ARC-Top-K"], f"arctopk.tab4 at {width}"))
        share = bytes_vs_dense(data)
        for (method, seed), group in data.groupby(["method", "seed"]):
            loss = _final(group, "eval_loss")
            rows.append({"method": method, "size": width, "seed": seed, "eval_loss": loss,
                         "perplexity": float(np.exp(loss)), "lr": float(group["lr"].iloc[0]),
                         "bytes_vs_dense": float(share[method]),
                         "dense_fallback_calls": float(group["dense_fallback_calls"].max())})
    long = pd.DataFrame(rows)
    stats = long.groupby(["method", "size"])[["eval_loss", "perplexity"]].agg(["mean", "std"]).fillna(0.0)
    sizes = sorted(long["size"].unique(), key=lambda s: int(s.split()[-1]))
    table_rows = []
    for method in ordered(long["method"]):
        row = {"method": method}
        for size in sizes:
            cell = long[(long["method"] == method) & (long["size"] == size)]
            for metric, header in (("eval_loss", "held-out loss"), ("perplexity", "perplexity")):
                row[f"{size} {header}"] = pm(stats.loc[(method, size), (metric, "mean")],
                                             stats.loc[(method, size), (metric, "std")], 4)
            row[f"{size} lr"] = f"{cell['lr'].iloc[0]:g}"
            row[f"{size} bytes / dense"] = f"{cell['bytes_vs_dense'].iloc[0]:.2f}x"
        table_rows.append(row)
    table = pd.DataFrame(table_rows)
    ppl = stats["perplexity"]
    ours = f"held-out perplexity (mean ± std over {n_seeds(long)} seeds): " + "; ".join(
        f"{size}: " + ", ".join(f"{m} {pm(ppl.loc[(m, size), 'mean'], ppl.loc[(m, size), 'std'], 4)}"
                                for m in ordered(long["method"])) for size in sizes)
    return FigureOutput(data=long, table=table, ours=ours, verdict=verdict_tab4(long))


def verdict_tab4(data: pd.DataFrame) -> Verdict:
    """ARC's seed-mean final held-out loss within 2% of Top-K's, per model width; ARC ran compressed."""
    paper = "ARC-Top-K matches Top-K accuracy (abstract; the paper's cells not recovered)"
    if reason := lacking(data, ["Top-K", "ARC-Top-K"], "arctopk.tab4 at", by=("size",)):
        return not_checkable(reason)
    checks, notes = _cell_checks(data, ["size"], "eval_loss",
                                 lambda name, arc, topk: loss_matches(name, arc, topk, "Top-K", paper))
    checks.append(fallback_check(data))
    explanation = (f"Final held-out loss of the tiny-GPT runs at each width (mean over {n_seeds(data)} seeds), "
                   "ARC-Top-K against Top-K." + notes)
    return judge(checks, explanation=_with_failures(explanation, checks, SMALL_RUNS))


# ---------------------------------------------------------------------------------------------------- tab5
# The interconnect band (busbw of NCCL over SHM through PCIe 4.0; sources in the scenario file's comments).
TAB5_BAND_GBPS = (48.0, 200.0)


@register_figure(
    id="arctopk.tab5",
    paper="arctopk",
    kind="table",
    title="Seconds per iteration at the paper's setting, across the PCIe/SHM interconnect band (simulated)",
    caption=(
        "Simulated seconds per training iteration (the project's data-parallel step simulator) at the paper's "
        "Table V setting as far as it "
        "is known: LLaMA-60M/130M/350M/1B shapes, 4 x A100 40GB PCIe in one machine without NVLink, per-GPU "
        "batch 1, seq 256, fp32, ratio 0.2, ARC r = 4, EF14 costed, blocking hooks (no overlap). The paper does "
        "not give its link speed, so every cell is computed across a sourced band of the ring's bus bandwidth for "
        "NCCL over shared memory through PCIe 4.0 x16: 48 Gbit/s (6 GB/s: measured NCCL SHM all-reduce busbw, "
        "averaged over sizes, on PCIe Gen4 GPUs; NVIDIA/nccl issue #1817) to 200 Gbit/s (25 GB/s: about 80% of "
        "PCIe 4.0 x16's 31.5 GB/s per direction), with 5.7 us per ring step (NCCL's PCI latency, Simple "
        "protocol). s/iter cells read low edge - high edge. Compute and compression from the A100 40GB PCIe "
        "datasheet roofline (no A100 timing tables exist) plus 30 us per compression primitive (launch + "
        "dispatch, measured on one H100); rooflines are optimistic (on one H100 torch.topk ran 11-130x slower "
        "than its roofline), so compression times are lower bounds. Not measured end to end: no multi-GPU "
        "machine was available."
    ),
    claim="ARC-Top-K matches Top-K accuracy with up to 60.7% less wall-clock time (which cell is unknown); dense "
    "Adam s/iter in the paper: cells not known",
    scale_note="simulated at the paper's model sizes (no reduction), at 5 points across the interconnect band; "
    "timing source per run in provenance",
    scenarios=(TAB5,),
)
def draw_tab5(ctx: FigureContext) -> FigureOutput:
    data = label_methods(ctx.run(TAB5).metrics)
    data["bandwidth_gbps"] = data["network.intra_node.bandwidth_gbps"].astype(float)
    data["model"] = data["workload.model"]
    keep = ["method", "model", "bandwidth_gbps", "step_time_ms", "compute_ms", "compression_ms", "comm_ms",
            "bytes_sent_per_worker"]
    data = data[keep]
    raise_missing(lacking(data, TAB5_ARMS, "arctopk.tab5 for", by=("model", "bandwidth_gbps")))
    models = [m for m in MODELS if m in set(data["model"])]
    seconds = data.pivot_table(index=["method", "bandwidth_gbps"], columns="model", values="step_time_ms") / 1e3
    low, high = min(data["bandwidth_gbps"]), max(data["bandwidth_gbps"])
    rows = [[f"{method} s/iter ({low:g} - {high:g} Gbit/s)",
             *[f"{seconds.loc[(method, low), m]:.4g} - {seconds.loc[(method, high), m]:.4g}" for m in models]]
            for method in ordered(data["method"].unique())]
    saved = _tab5_saving(data)
    rows += [[f"ARC vs Top-K time saved at {bw:g} Gbit/s", *[f"{saved.loc[(m, bw)]:.1f}%" for m in models]]
             for bw in sorted(data["bandwidth_gbps"].unique())]
    vs_dense = _tab5_saving(data, baseline="dense")
    rows.append(["ARC vs dense time saved (band)",
                 *[f"{vs_dense.loc[m].min():.1f}% - {vs_dense.loc[m].max():.1f}%" for m in models]])
    table = pd.DataFrame(rows, columns=["s / iteration", *models])
    ours = (f"ARC vs Top-K time saved across {low:g}-{high:g} Gbit/s: " +
            ", ".join(f"{_model_name(m)} {saved.loc[m].min():.1f}-{saved.loc[m].max():.1f}%"
                      for m in models) +
            f"; largest {saved.max():.1f}% ({_model_name(saved.idxmax()[0])} at {saved.idxmax()[1]:g} Gbit/s)")
    return FigureOutput(data=data, table=table, ours=ours, verdict=verdict_tab5(data))


def _model_name(model: str) -> str:
    """``llama-60m`` -> ``LLaMA-60M`` (the data keeps the scenario's key)."""
    return "LLaMA-" + model.removeprefix("llama-").upper() if model.startswith("llama-") else model


def _tab5_saving(data: pd.DataFrame, baseline: str = "Top-K") -> pd.Series:
    """``100 (1 - ARC / baseline)`` step time per (model, bandwidth_gbps)."""
    per = data.pivot_table(index=["model", "bandwidth_gbps"], columns="method", values="step_time_ms")
    return 100.0 * (1.0 - per["ARC-Top-K"] / per[baseline])


TAB5_ARMS = ["dense", "Top-K", "ARC-Top-K"]  # at every model and bandwidth
TAB5_SAVING_PCT, TAB5_SAVING_BAND = 60.7, 10.0  # "up to 60.7%"; ≈: ±10 points, the paper's cell is unknown


def verdict_tab5(data: pd.DataFrame) -> Verdict:
    """Across the interconnect band: ARC faster than Top-K everywhere, largest saving ≈ 60.7% (±10 points)."""
    if reason := lacking(data, ["Top-K", "ARC-Top-K"], "arctopk.tab5 for", by=("model", "bandwidth_gbps")):
        return not_checkable(reason)
    saved = _tab5_saving(data)
    band = f"{min(data['bandwidth_gbps']):g}-{max(data['bandwidth_gbps']):g} Gbit/s"
    paper = "ARC-Top-K: up to 60.7% less wall-clock time than Top-K (which cell is unknown)"
    checks = [
        at_least(f"smallest ARC-vs-Top-K time saving over models and the {band} band (%)",
                 ours=float(saved.min()), low=0.0, paper=paper),
        within(f"largest ARC-vs-Top-K time saving over models and the {band} band (%)",
               ours=float(saved.max()), low=TAB5_SAVING_PCT - TAB5_SAVING_BAND,
               high=TAB5_SAVING_PCT + TAB5_SAVING_BAND, paper=f"{paper} (≈: ±{TAB5_SAVING_BAND:g} points)"),
    ]
    explanation = (f"Simulated seconds per iteration across the sourced {band} interconnect band, largest saving "
                   f"for {_model_name(saved.idxmax()[0])} at {saved.idxmax()[1]:g} Gbit/s; compression times are "
                   "roofline "
                   "lower bounds (no A100 timing tables).")
    return judge(checks, explanation=_with_failures(
        explanation, checks, "The compression kernels' cost on an A100 is a roofline assumption here; the link "
        "speed is a band, not a number."))


VERDICTS = {
    "arctopk.fig1": verdict_fig1,
    "arctopk.fig2": verdict_fig2,
    "arctopk.fig3": verdict_fig3,
    "arctopk.fig_scaling": verdict_fig_scaling,
    "arctopk.fig4": verdict_fig4,
    "arctopk.tab1": verdict_tab1,
    "arctopk.tab2": verdict_tab2,
    "arctopk.tab3": verdict_tab3,
    "arctopk.tab4": verdict_tab4,
    "arctopk.tab5": verdict_tab5,
}

