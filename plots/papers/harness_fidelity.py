"""The harness's fidelity figure and table: real gloo runs against the simulator (DESIGN.md validation ladder 3).

Reads the committed tables of `harness fidelity` (``results/fidelity/loopback.csv`` and ``netns.csv``; see
`harness.fidelity.study` and ``results/fidelity/README.md``): all-reduce and a data-parallel MLP step measured with
torch.distributed (gloo) on 2 and 4 processes, on loopback and across network namespaces joined by tbf-limited
veths, beside the simulator's predictions.

The headline model is the collective closed form with a per-collective startup cost and an effective bus
bandwidth per rank count (`harness.sim.collectives.startup_bandwidth_ns`; columns ``predicted_ms_startup_bw`` /
``error_pct_startup_bw``), fitted per setting and rank count leaving the predicted size out. The previous
per-link alpha-beta model (alpha and beta from ping-pong only, simulated at link level; ``*_link_level``) stays
visible as the comparison series.

Both entries share one verdict (`fidelity_verdict`, the project's target): the median |error| over this machine's
points at most 10% and no point over-predicted by more than 100%; settings whose own median is above 10% are
named in the explanation. The figure computes it from the points, the table from its summary rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from plots.papers.harness_core import format_bytes
from plots.registry import FigureOutput, register_figure
from plots.style import color_for, new_figure
from plots.verdict import Verdict, at_most, judge

if TYPE_CHECKING:
    from plots.runner import FigureContext

LOOPBACK_CSV = "results/fidelity/loopback.csv"
NETNS_CSV = "results/fidelity/netns.csv"
# the same loopback study on a quiet 16-core machine (the GPU host lent to this project; CPUs only)
QUIET_HOST_CSV = "results/fidelity/quiet_host/loopback.csv"
INPUTS = (LOOPBACK_CSV, NETNS_CSV, QUIET_HOST_CSV)
QUIET_HOST_PANEL = "loopback, quiet 16-core host"
# headline: startup + effective bus bandwidth, leave-one-size-out; comparison: ping-pong alpha-beta, link level
ERROR, PREDICTED = "error_pct_startup_bw", "predicted_ms_startup_bw"
OLD_ERROR, OLD_PREDICTED = "error_pct_link_level", "predicted_ms_link_level"
MODEL = "startup + bus bandwidth"
OLD_MODEL = "ping-pong alpha-beta"
TARGET_PCT = 10.0  # median |error| target of the collective model
WORST_PCT = 100.0  # largest allowed over-prediction of any point
OVERALL = "all on the 2-core VM"
CLAIM = (
    "median |error| ≤ 10% overall and no point over-predicted by more than 100% (Vidur reports < 9% on real GPUs)"
)
SCALE_NOTE = (
    "2 and 4 gloo processes on a 2-core VM shared with other jobs: loopback, and network namespaces with tc tbf "
    "at 100 Mbit/s (MTU 1500) and 1 Gbit/s (MTU 9000); loopback repeated on a quiet 16-core host; all-reduce "
    "4 KiB-64 MiB (100 Mbit/s: up to 16 MiB) and a 1-8 M-parameter MLP step; startup and bus bandwidth fitted "
    "per setting and rank count without the predicted size; medians over 7-30 repeats, slowest rank per repeat"
)
_MARKERS = {2: "o", 4: "s"}
_ERROR_TICKS = (-100, -50, -10, 0, 10, 50, 100, 300)


def load_points(ctx: FigureContext) -> pd.DataFrame:
    """The committed tables as one frame with a ``panel`` label per setting, rate and machine."""
    frames = [ctx.read_csv(LOOPBACK_CSV).assign(panel="loopback"), ctx.read_csv(NETNS_CSV),
              ctx.read_csv(QUIET_HOST_CSV).assign(panel=QUIET_HOST_PANEL)]
    frames[1]["panel"] = "netns " + frames[1]["rate_mbit"].astype(float).map(lambda r: f"{r:g}") + " Mbit/s"
    return pd.concat(frames, ignore_index=True)


def _panel_order(points: pd.DataFrame) -> list[str]:
    netns = sorted((p for p in points["panel"].unique() if p.startswith("netns")), key=lambda p: float(p.split()[1]))
    present = set(points["panel"])
    return [p for p in ("loopback", QUIET_HOST_PANEL) if p in present] + netns


def _summary_row(setting: str, op: str, ranks: str, group: pd.DataFrame) -> dict:
    return {
        "setting": setting, "op": op, "ranks": ranks, "points": len(group),
        "median |error| %": group[ERROR].abs().median(),
        "worst signed error %": group.loc[group[ERROR].abs().idxmax(), ERROR],
        "largest over-prediction %": group[ERROR].max(),
        f"median |error| %, {OLD_MODEL}": group[OLD_ERROR].abs().median(),
        f"worst signed error %, {OLD_MODEL}": group.loc[group[OLD_ERROR].abs().idxmax(), OLD_ERROR],
    }


def error_summary(points: pd.DataFrame) -> pd.DataFrame:
    """Errors of the headline model (and the old one) per panel, op and rank count, plus per panel and overall.

    Not rounded (the verdict is computed from it); the table shown rounds to 0.1.
    """
    rows = [_summary_row(panel, op, str(n_ranks), group)
            for (panel, op, n_ranks), group in points.groupby(["panel", "op", "n_ranks"], sort=False)]
    rows += [_summary_row(panel, "all", "all", group) for panel, group in points.groupby("panel", sort=False)]
    rows.append(_summary_row(OVERALL, "all", "all", points[points["panel"] != QUIET_HOST_PANEL]))
    order = {panel: i for i, panel in enumerate(_panel_order(points) + [OVERALL])}
    table = pd.DataFrame(rows)
    table = table.sort_values(by=["setting", "op", "ranks"], key=lambda c: c.map(order) if c.name == "setting"
                              else c.map(lambda v: (v == "all", v)), kind="stable").reset_index(drop=True)
    return table


def fidelity_verdict(medians: dict[str, float], largest_over_prediction: float) -> Verdict:
    """The project's target on the headline model.

    ``medians``: median |error| (%) per setting and `OVERALL` (this machine's points); ``largest_over_prediction``:
    the largest signed error (%) of any point. Checks: the `OVERALL` median at most `TARGET_PCT`, the largest
    over-prediction at most `WORST_PCT`; settings above `TARGET_PCT` on their own are named in the explanation.
    """
    checks = [
        at_most(f"median |error|, {OVERALL}", ours=medians[OVERALL], high=TARGET_PCT, paper=CLAIM),
        at_most("largest over-prediction of any point (%)", ours=largest_over_prediction, high=WORST_PCT,
                paper=CLAIM),
    ]
    explanation = (
        f"Signed % error of the {MODEL} closed form (startup and bus bandwidth fitted per setting and rank count "
        "without the predicted size) against real gloo runs."
    )
    above = [f"{setting} ({value:.1f}%)" for setting, value in medians.items()
             if setting != OVERALL and not value <= TARGET_PCT]
    if above:
        explanation += f" Settings whose own median is above {TARGET_PCT:g}%: {', '.join(above)}."
    if not checks[0].holds or not checks[1].holds:
        explanation += (
            " The model is fitted to all-reduce sizes only, so what a size's neighbours do not show (gloo's "
            "transport threads competing with the ranks for CPU time on loopback, TCP and tbf queueing on the "
            "namespaced links) stays in the error."
        )
    return judge(checks, explanation=explanation)


def verdict_fidelity(points: pd.DataFrame) -> Verdict:
    """The fidelity verdict from the per-point table (the figure's CSV)."""
    here = points[points["panel"] != QUIET_HOST_PANEL]
    medians = {OVERALL: float(here[ERROR].abs().median())}
    medians |= {panel: float(points.loc[points["panel"] == panel, ERROR].abs().median())
                for panel in _panel_order(points)}
    return fidelity_verdict(medians, float(points[ERROR].max()))


def verdict_fidelity_errors(summary: pd.DataFrame) -> Verdict:
    """The fidelity verdict from the summary's per-setting rows (the table's CSV)."""
    rows = summary[(summary["op"] == "all") & (summary["ranks"].astype(str) == "all")]
    medians = {row["setting"]: float(row["median |error| %"]) for _, row in rows.iterrows()}
    medians = {OVERALL: medians.pop(OVERALL)} | medians
    return fidelity_verdict(medians, float(rows["largest over-prediction %"].max()))


def ours_text(points: pd.DataFrame) -> str:
    """Headline: median |error| and largest over-prediction over this machine's points, per panel, old model."""
    here = points[points["panel"] != QUIET_HOST_PANEL]
    parts = [f"{panel} {points.loc[points['panel'] == panel, ERROR].abs().median():.1f}%"
             for panel in _panel_order(points)]
    return (
        f"median |error| {here[ERROR].abs().median():.1f}% on the 2-core VM (" + ", ".join(parts) + "); "
        f"largest over-prediction {points[ERROR].max():+.1f}%; {OLD_MODEL} model: median "
        f"{here[OLD_ERROR].abs().median():.1f}%, largest over-prediction {points[OLD_ERROR].max():+.1f}%"
    )


@register_figure(
    id="harness.fidelity",
    paper="harness",
    kind="figure",
    title="Simulated vs measured: gloo all-reduce and DP step, startup + bus bandwidth model",
    caption=(
        "Top: all-reduce time of real torch.distributed (gloo) runs (markers; bars p10-p90 over repeats, slowest "
        "rank per repeat) against the simulator's collective closed form with a startup cost and an effective bus "
        "bandwidth per rank count (line), both fitted per setting and rank count to the other sizes only "
        "(leave-one-size-out), and, for comparison, the earlier per-link alpha-beta model (alpha and beta from "
        "ping-pong only, simulated at link level; crosses). Bottom: signed % error (simulated minus measured, in % "
        "of measured; symmetric-log scale) of the startup + bus bandwidth model for all-reduce (filled) and a "
        "data-parallel MLP step (open: measured one-process compute plus the predicted all-reduce of its "
        "gradients, no overlap), the alpha-beta model's all-reduce errors in grey crosses; band ±10%, dotted line "
        "+100%. Protocol: results/fidelity/README.md."
    ),
    claim=CLAIM,
    scale_note=SCALE_NOTE,
    inputs=INPUTS,
)
def draw_fidelity(ctx: FigureContext) -> FigureOutput:
    from matplotlib.lines import Line2D

    points = load_points(ctx)
    panels = _panel_order(points)
    fig, axes = new_figure(2, len(panels), width_in=3.6 * len(panels) + 0.6, height_in=6.4)
    for col, panel in enumerate(panels):
        top, bottom = axes[col], axes[len(panels) + col]
        data = points[points["panel"] == panel]
        for n_ranks, group in data.groupby("n_ranks"):
            marker, style = _MARKERS.get(int(n_ranks), "^"), "-" if n_ranks == 2 else "--"
            ar = group[group["op"] == "all_reduce"].sort_values("size_bytes")
            spread = np.vstack([ar["measured_ms"] - ar["measured_ms_p10"], ar["measured_ms_p90"] - ar["measured_ms"]])
            top.errorbar(ar["size_bytes"], ar["measured_ms"], yerr=np.clip(spread, 0, None), fmt=marker,
                         color=color_for("measured"), capsize=2)
            top.plot(ar["size_bytes"], ar[PREDICTED], color=color_for("closed_form"), linestyle=style)
            top.plot(ar["size_bytes"], ar[OLD_PREDICTED], "x", color=color_for("link_level"))
            bottom.plot(ar["size_bytes"], ar[OLD_ERROR], "x", color="#9e9e9e", zorder=1)
            bottom.plot(ar["size_bytes"], ar[ERROR], marker=marker, color=color_for("ring"), linestyle=style,
                        zorder=3)
            dp = group[group["op"] == "dp_step"]
            bottom.plot(dp["size_bytes"], dp[ERROR], marker=marker, linestyle="none", markerfacecolor="none",
                        color=color_for("tree"), zorder=3)
        ticks = np.unique(data.loc[data["op"] == "all_reduce", "size_bytes"].to_numpy(dtype=float))
        ticks = ticks[:: max(1, (len(ticks) + 3) // 4)]
        for ax in (top, bottom):
            ax.set_xscale("log", base=2)
            ax.set_xticks(ticks, [format_bytes(t) for t in ticks])
            ax.minorticks_off()
        top.set_yscale("log")
        top.set_title(panel, fontsize=10)
        bottom.set_yscale("symlog", linthresh=20)
        bottom.set_yticks(_ERROR_TICKS, [f"{t:+d}" if t else "0" for t in _ERROR_TICKS])
        bottom.set_ylim(-100, max(120.0, 1.3 * float(data[[ERROR, OLD_ERROR]].max().max())))
        bottom.axhspan(-TARGET_PCT, TARGET_PCT, color="#e8e8e8", zorder=0)
        bottom.axhline(0.0, color="black", linewidth=0.8)
        bottom.axhline(WORST_PCT, color=color_for("tree"), linewidth=0.8, linestyle=":")
        bottom.set_xlabel("bytes per rank (DP: gradients)")
    axes[0].set_ylabel("all-reduce time (ms)")
    axes[len(panels)].set_ylabel("signed error (%)")
    legend_top = [
        Line2D([], [], marker="o", linestyle="none", color=color_for("measured"), label="measured (p10-p90)"),
        Line2D([], [], color=color_for("closed_form"), label=MODEL),
        Line2D([], [], marker="x", linestyle="none", color=color_for("link_level"), label=f"{OLD_MODEL}, link level"),
        Line2D([], [], color="grey", linestyle="-", marker="o", label="2 ranks"),
        Line2D([], [], color="grey", linestyle="--", marker="s", label="4 ranks"),
    ]
    legend_bottom = [
        Line2D([], [], color=color_for("ring"), marker="o", label=f"all-reduce, {MODEL}"),
        Line2D([], [], color=color_for("tree"), marker="o", markerfacecolor="none", linestyle="none",
               label=f"DP step, {MODEL}"),
        Line2D([], [], color="#9e9e9e", marker="x", linestyle="none", label=f"all-reduce, {OLD_MODEL}"),
        Line2D([], [], color="#e8e8e8", linewidth=6, label=f"±{TARGET_PCT:g}%"),
    ]
    axes[0].legend(handles=legend_top, loc="upper left", fontsize=7)
    axes[len(panels)].legend(handles=legend_bottom, loc="best", fontsize=7)
    return FigureOutput(data=points, figure=fig, ours=ours_text(points), verdict=verdict_fidelity(points),
                        provenance={"inputs": list(INPUTS),
                                    "calibration": "startup and bus bandwidth fitted per setting and rank count, "
                                                   "leaving the predicted size out"})


@register_figure(
    id="harness.fidelity_errors",
    paper="harness",
    kind="table",
    title="Signed % error of the simulator against real gloo runs",
    caption=(
        "Median |error|, the worst signed error and the largest over-prediction of the startup + bus bandwidth "
        "closed form (fitted per setting and rank count without the predicted size) per setting, operation and "
        "rank count, with the earlier ping-pong alpha-beta link-level model beside it for comparison; from the "
        "committed fidelity tables (per-point errors in the CSV behind this table; protocol in "
        "results/fidelity/README.md). Positive: the simulator is slower than the real run."
    ),
    claim=CLAIM,
    scale_note=SCALE_NOTE,
    inputs=INPUTS,
)
def draw_fidelity_errors(ctx: FigureContext) -> FigureOutput:
    points = load_points(ctx)
    summary = error_summary(points)
    numbers = [column for column in summary.columns if column.endswith("%") or "%," in column]
    table = summary.round(dict.fromkeys(numbers, 1))
    table["op"] = table["op"].replace({"all_reduce": "all-reduce", "dp_step": "DP step"})
    return FigureOutput(data=summary, table=table, ours=ours_text(points), verdict=verdict_fidelity_errors(summary))


VERDICTS = {"harness.fidelity": verdict_fidelity, "harness.fidelity_errors": verdict_fidelity_errors}
