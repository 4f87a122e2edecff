"""The harness's grid-interactive training cluster: regulation score, battery cost, training cost vs battery size.

No paper makes this claim: the ``grid_cluster`` kind (`harness.workloads.grid_cluster`) is the harness's own
extension of the modular-battery FFR setting of arXiv 2504.03150 to a flexible load. A 32-GPU H100 training
cluster (power from the data-parallel step model's compute and communication phases, datasheet TDP and system
figures) and a modular battery follow a RegD-like request together; the sweep of
``scenarios/battery/grid_cluster.yaml`` varies the battery's converter rating (0 = the cluster alone) and whether
the cluster caps its GPUs to follow the slow part of the request. The figure shows, per point, the PJM-style
performance score and tracking error, the battery's loss and aging cost, and the training throughput given up.

Verdict: not checkable (no paper claims these numbers); the verdict's explanation carries sanity checks computed
from the figure's own data (does a larger battery track at least as well, what capping costs in throughput).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from plots.registry import FigureOutput, register_figure
from plots.style import PALETTE, new_figure
from plots.verdict import Verdict, not_checkable

if TYPE_CHECKING:
    from plots.runner import FigureContext

GRID_CLUSTER = "scenarios/battery/grid_cluster.yaml"
QUICK = ("workload.signal.duration_s=600",)
FOLLOW_LABELS = {True: "cluster caps its GPUs (follows the slow part)", False: "battery alone (GPU cap fixed)"}
FOLLOW_STYLE = {True: "-", False: "--"}


def sweep_table(ctx: FigureContext) -> pd.DataFrame:
    """One row per sweep point: battery size, capping on/off, scores, tracking, battery costs, throughput cost."""
    rows = []
    for record in ctx.run(GRID_CLUSTER).runs:
        info, values = record.info, record.values
        battery = info.get("battery") or {}
        hours = info["signal"]["steps"] * info["signal"]["dt_s"] / 3600.0
        rows.append({
            "battery_kw": float(values["workload.battery_kw"]),
            "cluster_follows": bool(values["workload.cluster_follows"]),
            "hours": hours,
            **{f"score_{key}": float(value) for key, value in info["score"].items()},
            "tracking_rmse_kw": float(info["tracking_rmse_kw"]),
            "battery_loss_usd_per_h": float(battery.get("loss_cost_usd", 0.0)) / hours,
            "battery_aging_usd_per_h": float(battery.get("aging_cost_usd", 0.0)) / hours,
            "battery_fallback_steps": float(battery.get("fallback_steps", 0.0)),
            "throughput_loss_pct": float(info["throughput_loss_pct"]),
            "throughput_loss_vs_nominal_pct": float(info["throughput_loss_vs_nominal_pct"]),
            "cluster_base_kw": float(info["cluster"]["base_kw"]),
        })
    return pd.DataFrame(rows).sort_values(["cluster_follows", "battery_kw"]).reset_index(drop=True)


def sanity_notes(data: pd.DataFrame) -> list[str]:
    """Computed statements about the sweep (no paper to compare with): monotonicity and the cost of capping."""
    notes = []
    for follows, rows in data.groupby("cluster_follows", sort=True):
        rows = rows.sort_values("battery_kw")
        score = rows["score_composite"].to_numpy()
        rmse = rows["tracking_rmse_kw"].to_numpy()
        mono = bool(np.all(np.diff(score) >= -1e-3) and np.all(np.diff(rmse) <= 1e-3))
        label = "with GPU capping" if follows else "without GPU capping"
        notes.append(f"{label}: composite score {score[0]:.2f} at {rows['battery_kw'].iloc[0]:g} kW -> "
                     f"{score[-1]:.2f} at {rows['battery_kw'].iloc[-1]:g} kW; a larger battery tracks at least as "
                     f"well at every step of the sweep: {'yes' if mono else 'no'}")
    capped = data[data["cluster_follows"]]["throughput_loss_vs_nominal_pct"]
    if len(capped):
        notes.append(f"following with the cluster costs {capped.mean():.2f}% of training steps against the fixed "
                     "nominal cap")
    both = data.pivot_table(index="battery_kw", columns="cluster_follows",
                            values="battery_aging_usd_per_h").dropna()
    both = both[both.index > 0]
    if len(both) and {True, False} <= set(both.columns):
        change = 100 * (both[True] / both[False] - 1)
        notes.append(f"battery aging cost with capping against without: {change.min():+.0f}% to "
                     f"{change.max():+.0f}% across battery sizes")
    return notes


@register_figure(
    id="harness.grid_cluster", paper="harness", kind="figure",
    title="Grid-interactive training cluster: regulation score, battery cost and training cost vs battery size",
    caption=(
        "A simulated 32-GPU H100 training cluster (4 nodes x 8, LLaMA-1B data-parallel step; GPU power from the "
        "step's compute and exposed-communication phases with datasheet TDP and DGX system figures) and a modular "
        "battery (the six Case I stand-in modules of the battery reconstruction, scaled to the rating on the x "
        "axis, 0.5 h of energy, activation-priority scheduler) follow a 20 kW RegD-like regulation request "
        "around the cluster's nominal draw. Solid: the cluster also caps its GPUs (85% of TDP at rest, 50-100%, "
        "ramp-limited) to follow the request's slow part (2-minute average) and the battery covers the rest; "
        "dashed: the GPU cap stays at 85% and the battery covers everything. (a) PJM-style composite performance "
        "score (accuracy, delay, precision; 1 = perfect); (b) tracking RMSE of the site's net draw; (c) battery "
        "loss and aging cost per hour (aging by exact rainflow counting); (d) training steps given up against the "
        "uncapped cluster. Simulated hardware and an assumed DVFS slowdown (compute time ~ cap^(-1/3)); no paper "
        "makes this claim."
    ),
    claim="— (no paper; the harness's own extension of modular-battery FFR to a flexible training load)",
    scale_note="1 h of signal at 2 s steps per point (quick profile: 10 min); 4 battery sizes x capping on/off",
    scenarios=(GRID_CLUSTER,), quick_overrides=QUICK,
)
def draw_grid_cluster(ctx: FigureContext) -> FigureOutput:
    data = sweep_table(ctx)
    fig, axes = new_figure(2, 2, width_in=10.0, height_in=7.0)
    ax_score, ax_rmse, ax_cost, ax_tput = axes
    for follows, rows in data.groupby("cluster_follows", sort=True):
        rows = rows.sort_values("battery_kw")
        style, label = FOLLOW_STYLE[bool(follows)], FOLLOW_LABELS[bool(follows)]
        x = rows["battery_kw"]
        ax_score.plot(x, rows["score_composite"], style, marker="o", color=PALETTE[0], label=label)
        ax_rmse.plot(x, rows["tracking_rmse_kw"], style, marker="o", color=PALETTE[1], label=label)
        ax_cost.plot(x, rows["battery_loss_usd_per_h"], style, marker="o", color=PALETTE[2],
                     label=f"loss, {'capping' if follows else 'no capping'}")
        ax_cost.plot(x, rows["battery_aging_usd_per_h"], style, marker="s", color=PALETTE[3],
                     label=f"aging, {'capping' if follows else 'no capping'}")
        ax_tput.plot(x, rows["throughput_loss_pct"], style, marker="o", color=PALETTE[4 % len(PALETTE)], label=label)
    ax_score.set(ylabel="(a) PJM-style composite score", ylim=(0, 1.05))
    ax_rmse.set(ylabel="(b) tracking RMSE (kW)")
    ax_cost.set(ylabel="(c) battery cost ($/h)")
    ax_tput.set(ylabel="(d) training steps lost vs uncapped (%)", ylim=(0, None))
    for ax in axes:
        ax.set_xlabel("battery converter rating (kW)")
    ax_score.legend(fontsize=7)
    ax_cost.legend(fontsize=6)
    best = data[data["battery_kw"] == data["battery_kw"].max()]
    ours = "; ".join(
        f"{'capping' if r.cluster_follows else 'no capping'}: score {r.score_composite:.2f} with no battery -> "
        f"{b.score_composite:.2f} at {b.battery_kw:g} kW, training steps lost vs uncapped GPUs "
        f"{r.throughput_loss_pct:.1f}%"
        for r, b in zip(data[data["battery_kw"] == data["battery_kw"].min()].itertuples(), best.itertuples(),
                        strict=True))
    return FigureOutput(data=data, figure=fig, ours=ours, verdict=verdict_grid_cluster(data))


def verdict_grid_cluster(data: pd.DataFrame) -> Verdict:
    return not_checkable("No paper makes this claim (the harness's own grid-interactive cluster). Computed "
                         "sanity notes: " + "; ".join(sanity_notes(data)) + ".")


VERDICTS = {"harness.grid_cluster": verdict_grid_cluster}
