"""The harness's own figures: collective time vs message size and vs rank count, closed form vs link level.

Both run the ``collective`` scenario kind through sweeps (``scenarios/figures/collective_vs_*.yaml``): all-reduce
on H100-class nodes (8 devices on 3.6 Tbit/s, 2 us links; one 400 Gbit/s, 5 us NIC per node), ring and tree,
each point once with the alpha-beta closed form over the topology and once with the link-level SimPy model.
With nothing else on the links the two must agree exactly (DESIGN.md validation ladder, step 1); "ours" reports
how closely they did, and each figure's verdict (``verdict_<name>(data)``, collected in `VERDICTS`) checks it, and
for the rank sweep the alpha-beta claim that the tree wins for small messages and loses for large ones.

Reusable pieces for other harness figures (the measured-vs-simulated fidelity figure in
``plots/papers/harness_fidelity.py`` declares its committed tables as ``inputs`` and reads them with
``ctx.read_csv``): `model_agreement`, `format_bytes`, `set_size_axis`, and the series colours of `plots.style`
(``closed_form``, ``link_level``, ``measured``, ``ring``, ``tree``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from plots.registry import FigureOutput, register_figure
from plots.style import color_for, new_figure
from plots.verdict import Check, Verdict, above, at_most, judge

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from plots.runner import FigureContext

VS_SIZE = "scenarios/figures/collective_vs_size.yaml"
VS_RANKS = "scenarios/figures/collective_vs_ranks.yaml"
MODELS = ("closed_form", "link_level")
_BYTE_UNITS = ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"))


# ----------------------------------------------------------------------------------------------- helpers


def format_bytes(size_bytes: float) -> str:
    """``1048576`` -> ``"1 MiB"``, ``1536`` -> ``"1.5 KiB"``, ``100`` -> ``"100 B"``: three significant digits,
    whole numbers from 100 up (1023 KiB, not 1.02e+03 KiB)."""
    for factor, unit in _BYTE_UNITS:
        if size_bytes >= factor:
            return f"{_three_digits(size_bytes / factor)} {unit}"
    return f"{_three_digits(size_bytes)} B"


def _three_digits(value: float) -> str:
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def set_size_axis(ax: Axes, sizes_bytes: pd.Series | np.ndarray) -> None:
    """A log2 x axis labelled in KiB/MiB/GiB at the given sizes (every other one when crowded)."""
    ticks = np.unique(np.asarray(sizes_bytes, dtype=float))
    if len(ticks) > 7:
        ticks = ticks[::2]
    ax.set_xscale("log", base=2)
    ax.set_xticks(ticks, [format_bytes(tick) for tick in ticks])
    ax.minorticks_off()
    ax.set_xlabel("message size per rank")


def model_agreement(metrics: pd.DataFrame, keys: tuple[str, ...]) -> pd.DataFrame:
    """One row per ``keys`` combination with the closed-form and link-level times side by side.

    Columns: ``keys``, ``time_ns_closed_form``, ``time_ns_link_level``, ``time_us_closed_form``,
    ``time_us_link_level``, ``busbw_gbps_closed_form``, ``busbw_gbps_link_level``, ``rel_diff_pct``
    (link-level minus closed form, in % of the closed form; 0 where both are 0).

    Raises:
        ValueError: a model is missing for some point, or the metrics lack the ``model`` column.
    """
    if "model" not in metrics.columns:
        raise ValueError("collective metrics have no 'model' column (closed_form / link_level)")
    wide = metrics.pivot_table(
        index=list(keys), columns="model", values=["time_ns", "time_us", "busbw_gbps"], aggfunc="first"
    )
    missing = [model for model in MODELS if ("time_ns", model) not in wide.columns]
    if missing or wide[("time_ns", MODELS[0])].isna().any() or wide[("time_ns", MODELS[1])].isna().any():
        raise ValueError(f"every point needs both models {MODELS}; missing: {missing or 'some points'}")
    wide.columns = [f"{value}_{model}" for value, model in wide.columns]
    wide = wide.reset_index()
    closed, link = wide["time_ns_closed_form"].astype(float), wide["time_ns_link_level"].astype(float)
    wide["rel_diff_pct"] = np.where(closed > 0, (link - closed) / closed.where(closed > 0, 1.0) * 100.0, 0.0)
    return wide


def _agreement_text(agreement: pd.DataFrame) -> str:
    exact = int((agreement["time_ns_link_level"] == agreement["time_ns_closed_form"]).sum())
    worst_ns = float((agreement["time_ns_link_level"] - agreement["time_ns_closed_form"]).abs().max())
    worst_pct = float(agreement["rel_diff_pct"].abs().max())
    return (f"link-level = closed form (integer ns) at {exact}/{len(agreement)} points; largest difference "
            f"{worst_ns:.0f} ns ({worst_pct:.2g}%)")


def exact_agreement(agreement: pd.DataFrame) -> Check:
    """Link-level time equals the closed form at every point (largest |difference| in ns is 0)."""
    worst = (agreement["time_ns_link_level"] - agreement["time_ns_closed_form"]).abs().max()
    return at_most("largest |link-level - closed form| over all points (ns)", ours=float(worst), high=0.0,
                   paper="equal exactly with no contention (ARCHITECTURE.md)")


def verdict_time_vs_size(data: pd.DataFrame) -> Verdict:
    check = exact_agreement(data)
    explanation = f"Both models at {len(data)} points (ring and tree, every message size and rank count)."
    if not check.holds:
        explanation += " The link-level model departs from the closed form: a simulator bug, not a modelling choice."
    return judge([check], explanation=explanation)


def tree_over_ring(data: pd.DataFrame) -> pd.Series:
    """Tree / ring closed-form time per message size at the largest rank count of ``data``."""
    largest = data[data["n_ranks"] == data["n_ranks"].max()]
    times = largest.pivot_table(index="size_bytes", columns="algorithm", values="time_ns_closed_form", aggfunc="first")
    return (times["tree"] / times["ring"]).sort_index()


def verdict_time_vs_ranks(data: pd.DataFrame) -> Verdict:
    ratio = tree_over_ring(data)
    ranks = int(data["n_ranks"].max())
    small, large = ratio.index[0], ratio.index[-1]
    # "wins" and "loses" are strict: equal times (closed form, integer ns: no noise) show neither
    checks = [
        above(f"ring / tree time, {format_bytes(small)} at {ranks} ranks", ours=float((1.0 / ratio)[small]), low=1.0,
              paper="the tree wins for small messages at many ranks (a tie is not a win)"),
        above(f"tree / ring time, {format_bytes(large)} at {ranks} ranks", ours=float(ratio[large]), low=1.0,
              paper="the tree loses for large messages (a tie is not a loss)"),
        exact_agreement(data),
    ]
    explanation = (f"Closed-form times at the largest rank count ({ranks}) for the smallest and largest message "
                   "(a win or a loss needs a strictly shorter or longer time; the closed form has no noise); both "
                   "models compared at every point.")
    if not all(check.holds for check in checks):
        explanation += " A failing check means the simulated latency/bandwidth terms do not follow alpha-beta."
    return judge(checks, explanation=explanation)


def _all_reduce(ctx: FigureContext, scenario: str) -> pd.DataFrame:
    metrics = ctx.run(scenario).metrics
    metrics = metrics[metrics["op"] == "all_reduce"]
    if metrics.empty:
        raise ValueError(f"{scenario} produced no all_reduce rows")
    return metrics


def _model_legend(ax: Axes) -> None:
    from matplotlib.lines import Line2D

    ax.legend(
        handles=[
            Line2D([], [], color="0.3", linestyle="-", label="closed form (line)"),
            Line2D([], [], color="0.3", linestyle="none", marker="o", markerfacecolor="none", label="link-level (o)"),
        ],
        loc="lower right",
    )


# ----------------------------------------------------------------------------------------------- figures


@register_figure(
    id="harness.collective_time_vs_size",
    paper="harness",
    kind="figure",
    title="All-reduce time vs message size (closed form vs link-level)",
    caption=(
        "All-reduce time per message size on 1, 4 and 16 H100-class nodes (8, 32, 128 ranks), ring (left) and "
        "non-pipelined binary tree (right). Lines: alpha-beta closed form over the two-level topology; circles: "
        "the link-level SimPy simulation of the same collective. Simulated hardware, not measured: link numbers "
        "are the scenario's assumptions (3.6 Tbit/s, 2 us intra-node; 400 Gbit/s, 5 us per NIC)."
    ),
    claim="With no contention the link-level simulation equals the closed form exactly (ARCHITECTURE.md, "
    "simulator model choices)",
    scale_note="simulated 8-128 ranks, 1 KiB-1 GiB (quick profile: every other size); no reduction",
    scenarios=(VS_SIZE,),
    quick_overrides=(
        "sweep.product.workload.size_bytes=[1024, 16384, 262144, 4194304, 67108864, 1073741824]",
    ),
)
def draw_time_vs_size(ctx: FigureContext) -> FigureOutput:
    metrics = _all_reduce(ctx, VS_SIZE)
    agreement = model_agreement(metrics, ("algorithm", "n_ranks", "size_bytes"))
    rank_counts = sorted(agreement["n_ranks"].unique())
    fig, axes = new_figure(1, 2, sharey=True)
    for ax, algorithm in zip(axes, ("ring", "tree"), strict=True):
        subset = agreement[agreement["algorithm"] == algorithm]
        for index, n_ranks in enumerate(rank_counts):
            series = subset[subset["n_ranks"] == n_ranks].sort_values("size_bytes")
            color = color_for(f"ranks-{n_ranks}", index)
            ax.plot(series["size_bytes"], series["time_us_closed_form"], color=color, label=f"{n_ranks} ranks")
            ax.plot(series["size_bytes"], series["time_us_link_level"], linestyle="none", marker="o",
                    markerfacecolor="none", color=color)
        ax.set_yscale("log")
        set_size_axis(ax, subset["size_bytes"])
        ax.set_title(f"{algorithm} all-reduce")
    axes[0].set_ylabel("time (us)")
    axes[0].legend(loc="upper left")
    _model_legend(axes[1])
    return FigureOutput(data=agreement, figure=fig, ours=_agreement_text(agreement),
                        verdict=verdict_time_vs_size(agreement))


@register_figure(
    id="harness.collective_time_vs_ranks",
    paper="harness",
    kind="figure",
    title="All-reduce time vs rank count, ring vs tree (closed form vs link-level)",
    caption=(
        "All-reduce time against the number of ranks (8 per node, 1 to 32 nodes) for 64 KiB, 16 MiB and 1 GiB "
        "messages. Ring (blue) and non-pipelined binary tree (red); lines are the alpha-beta closed form over the "
        "topology, circles the link-level SimPy simulation. Simulated hardware with the scenario's assumed links."
    ),
    claim="alpha-beta model (Thakur et al. 2005): ring 2(p-1)(a + S/(pB)) grows linearly in p through its latency "
    "term while its bandwidth term saturates; the unpipelined tree 2 log2(p)(a + S/B) grows with log p, so it "
    "wins for small messages at many ranks and loses for large ones",
    scale_note="simulated 8-256 ranks (quick profile: 8-128), three message sizes; no reduction",
    scenarios=(VS_RANKS,),
    quick_overrides=("sweep.product.cluster.nodes=[1, 2, 4, 8, 16]",),
)
def draw_time_vs_ranks(ctx: FigureContext) -> FigureOutput:
    metrics = _all_reduce(ctx, VS_RANKS)
    agreement = model_agreement(metrics, ("size_bytes", "algorithm", "n_ranks"))
    sizes = sorted(agreement["size_bytes"].unique())
    fig, axes = new_figure(1, len(sizes))
    ratios = []
    for ax, size_bytes in zip(axes, sizes, strict=True):
        subset = agreement[agreement["size_bytes"] == size_bytes]
        for algorithm in ("ring", "tree"):
            series = subset[subset["algorithm"] == algorithm].sort_values("n_ranks")
            color = color_for(algorithm)
            ax.plot(series["n_ranks"], series["time_us_closed_form"], color=color, label=algorithm)
            ax.plot(series["n_ranks"], series["time_us_link_level"], linestyle="none", marker="o",
                    markerfacecolor="none", color=color)
        ranks = sorted(subset["n_ranks"].unique())
        ax.set_xscale("log", base=2)
        ax.set_xticks(ranks, [str(rank) for rank in ranks])
        ax.minorticks_off()
        ax.set_yscale("log")
        ax.set_xlabel("ranks")
        ax.set_title(f"{format_bytes(size_bytes)} all-reduce")
        largest = subset[subset["n_ranks"] == ranks[-1]].set_index("algorithm")["time_ns_closed_form"]
        ratios.append(f"{format_bytes(size_bytes)} {largest['tree'] / largest['ring']:.2g}x")
    axes[0].set_ylabel("time (us)")
    axes[0].legend(loc="upper left")
    _model_legend(axes[-1])
    max_ranks = int(agreement["n_ranks"].max())
    ours = f"tree/ring time at {max_ranks} ranks: {', '.join(ratios)}; {_agreement_text(agreement)}"
    return FigureOutput(data=agreement, figure=fig, ours=ours, verdict=verdict_time_vs_ranks(agreement))


VERDICTS = {
    "harness.collective_time_vs_size": verdict_time_vs_size,
    "harness.collective_time_vs_ranks": verdict_time_vs_ranks,
}
