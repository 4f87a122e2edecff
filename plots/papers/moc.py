"""Mixture-of-Channels memory figures (Wu, He, Wang, Yuan, arXiv 2511.09323), rebuilt from measured and modelled
activation memory.

The paper's full text could not be read (research card ``shared/research/moc_tahquant.md``): each item is a
reconstruction from the abstract. Where the numbers come from:

- ``training_memory`` kind (`harness.workloads.training_memory`): parameters, gradients and AdamW states of the
  GaLore LLaMA shapes, and the bytes autograd keeps for backward per token and module (`methods.memory.analytic`,
  which the saved-tensor profiler matches exactly on random shapes: ``tests/methods/memory``);
- ``results/memory/moc_activation_per_token_bf16.csv``: one real block at the 1B and 7B widths in bf16 measured with
  the profiler on a CPU (``scenarios/moc/measured_activation.yaml``), committed;
- tab_hparams renders the scenario files' settings and the presets' shapes.

Each item's verdict is a pure function of the DataFrame written as its CSV (``verdict_<name>(data)``, `VERDICTS`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from plots.registry import FigureOutput, register_figure
from plots.style import PALETTE, new_figure
from plots.verdict import Verdict, at_least, at_most, judge, not_checkable

if TYPE_CHECKING:
    from plots.runner import FigureContext

PROFILE = "scenarios/moc/memory_profile.yaml"
TECHNIQUES = "scenarios/moc/memory_techniques.yaml"
MEASURED = "results/memory/moc_activation_per_token_bf16.csv"
NOTE = "The paper's text could not be read; this is a reconstruction from its abstract."
GB = 1e9
#: "substantial" savings (qualitative in the abstract), taken as at least this share of dense activation memory
SUBSTANTIAL = 0.10

PROFILE_PARTS = (
    ("parameters_bytes", "parameters", PALETTE[0]),
    ("gradients_bytes", "gradients", PALETTE[1]),
    ("optimizer_states_bytes", "AdamW states", PALETTE[2]),
    ("activation_attention_bytes", "activations: attention", PALETTE[3]),
    ("activation_ffn_bytes", "activations: FFN", PALETTE[4]),
    ("activation_other_bytes", "activations: other", PALETTE[5]),
)


@register_figure(
    id="moc.fig1",
    paper="moc",
    kind="figure",
    title="Memory profile of LLaMA pre-training with FlashAttention-style attention",
    caption=(
        f"{NOTE} Stacked shares of per-device memory (total above each bar) per GaLore LLaMA size (60M to 7B), "
        "dense SwiGLU, bf16 parameters, gradients and AdamW states on one device, micro-batch 8 x 256 tokens (our "
        "choice). Activations are the bytes autograd keeps for backward with attention keeping only q, k, v, o "
        "and the log-sum-exp, split into attention (its norm, projections' input, q, k, v, o, log-sum-exp), "
        "FFN (its norm and the SwiGLU intermediates) and other "
        "(embedding ids, final norm, head input, logits for the loss). The per-token counts are those the "
        "saved-tensor profiler measures exactly on real blocks."
    ),
    claim="FFN activations are the largest part of activation memory",
    scale_note="analytic counts checked against the profiler; no GPU run (a 7B model is not trained here)",
    scenarios=(PROFILE,),
)
def draw_fig1(ctx: FigureContext) -> FigureOutput:
    metrics = ctx.run(PROFILE).metrics.sort_values("n_params")
    data = metrics[["model", "n_params", *(c for c, _, _ in PROFILE_PARTS)]].reset_index(drop=True)
    fig, (ax,) = new_figure(1, 1, width_in=7.5, height_in=4.6)
    totals = data[[c for c, _, _ in PROFILE_PARTS]].sum(axis=1).to_numpy()
    bottom = np.zeros(len(data))
    for column, label, color in PROFILE_PARTS:
        values = 100 * data[column].to_numpy() / totals
        ax.bar(data["model"], values, bottom=bottom, color=color, label=label)
        bottom += values
    for x, total in enumerate(totals):
        ax.text(x, 101, f"{total / GB:.1f} GB", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("% of per-device memory")
    ax.set_ylim(0, 110)
    fig.legend(loc="outside lower center", ncols=3)
    share = data["activation_ffn_bytes"] / data[[c for c in data if c.startswith("activation_")]].sum(axis=1)
    ours = "FFN share of activations: " + ", ".join(f"{m} {s:.0%}" for m, s in zip(data["model"], share))
    return FigureOutput(data=data, figure=fig, ours=ours, verdict=verdict_fig1(data))


def verdict_fig1(data: pd.DataFrame) -> Verdict:
    """FFN activations exceed attention and other activations at every size."""
    margin = data["activation_ffn_bytes"] - data[["activation_attention_bytes", "activation_other_bytes"]].max(axis=1)
    share = data["activation_ffn_bytes"] / data[[c for c in data if c.startswith("activation_")]].sum(axis=1)
    checks = [at_least("FFN activations minus the largest other activation part, smallest over sizes (GB)",
                       ours=float(margin.min()) / GB, low=0.0,
                       paper="FFN activations are the largest part of activation memory")]
    return judge(checks, explanation="Per-token saved bytes per module (profiler-exact) for every GaLore size; "
                 f"the FFN's share of activations ranges from {share.min():.0%} to {share.max():.0%}.")


TECHNIQUE_LABELS = {("dense", "none"): "dense", ("dense", "attention"): "dense + attention ckpt",
                    ("dense", "block"): "dense + block ckpt", ("moc", "none"): "MoC K=d_ff/8",
                    ("moc", "attention"): "MoC + attention ckpt", ("moc", "block"): "MoC + block ckpt"}


@register_figure(
    id="moc.fig_memory",
    paper="moc",
    kind="figure",
    title="Activation and peak memory: dense vs MoC, with and without gradient checkpointing",
    caption=(
        f"{NOTE} Left: modelled peak memory of LLaMA-1B (GaLore config) on one device vs micro-batch (256 tokens, "
        "bf16, AdamW), dense SwiGLU vs MoC at K = d_ff/8, no checkpointing, the attention half checkpointed, or "
        "whole blocks checkpointed; dashed: an 80 GiB device. Saved activations are profiler-exact per-token counts; "
        "the backward working set on top (one recomputed region plus the logits' gradient) is our model. Right: one "
        "real block at the 1B and 7B widths in bf16 measured on a CPU with the saved-tensor profiler (64 tokens; "
        "per-token bytes do not depend on the sequence length) beside the analytic count."
    ),
    claim="MoC gives substantial activation-memory savings",
    scale_note="peak is modelled, not measured on a GPU; the measured bars are single blocks on a CPU",
    scenarios=(TECHNIQUES,),
    inputs=(MEASURED,),
)
def draw_fig_memory(ctx: FigureContext) -> FigureOutput:
    metrics = ctx.run(TECHNIQUES).metrics
    measured = ctx.read_csv(MEASURED)
    curves = metrics[["ffn", "checkpointing", "micro_batch", "activation_bytes", "peak_gib", "max_micro_batch",
                      "capacity_gib"]].assign(panel="modelled LLaMA-1B")
    bars = measured[["model", "ffn", "checkpointing", "measured_block_bytes_per_token",
                     "analytic_block_bytes_per_token"]].assign(panel="measured block")
    data = pd.concat([curves, bars], ignore_index=True)
    fig, (left, right) = new_figure(1, 2, width_in=11.0, height_in=4.6)
    for i, ((ffn, ckpt), label) in enumerate(TECHNIQUE_LABELS.items()):
        series = curves[(curves["ffn"] == ffn) & (curves["checkpointing"] == ckpt)].sort_values("micro_batch")
        if series.empty:
            continue
        fits = int(series["max_micro_batch"].iloc[0])
        left.plot(series["micro_batch"], series["peak_gib"], marker="o", color=PALETTE[i % len(PALETTE)],
                  linestyle="-" if ffn == "moc" else "--", label=f"{label} (fits {fits})")
    left.axhline(float(curves["capacity_gib"].iloc[0]), color="0.2", linestyle=":", linewidth=1.0)
    left.set_xscale("log", base=2)
    left.set_yscale("log")
    left.set_xlabel("micro-batch (sequences of 256 tokens)")
    left.set_ylabel("peak GiB (modelled)")
    left.legend(fontsize=7)
    labels = [f"{r.model.removeprefix('llama-')}\n{r.ffn}" + ("\n+attn ckpt" if r.checkpointing != "none" else "")
              for r in bars.itertuples()]
    x = np.arange(len(bars))
    right.bar(x - 0.2, bars["measured_block_bytes_per_token"] / 1e3, width=0.4, color=PALETTE[0], label="measured")
    right.bar(x + 0.2, bars["analytic_block_bytes_per_token"] / 1e3, width=0.4, color=PALETTE[1], label="analytic")
    right.set_xticks(x, labels, fontsize=7)
    right.set_ylabel("kB kept per token per block (bf16)")
    right.legend()
    savings = measured_savings(bars)
    ours = "; ".join(f"{m}: MoC saves {s:.0%} of a block's activations" for m, s in savings.items())
    return FigureOutput(data=data, figure=fig, ours=ours, verdict=verdict_fig_memory(data))


def measured_savings(bars: pd.DataFrame) -> dict[str, float]:
    """Per model: 1 - measured MoC / measured dense block bytes per token, no checkpointing."""
    plain = bars[bars["checkpointing"] == "none"].set_index(["model", "ffn"])["measured_block_bytes_per_token"]
    return {m: 1 - plain[(m, "moc")] / plain[(m, "dense")] for m in plain.index.get_level_values(0).unique()}


def verdict_fig_memory(data: pd.DataFrame) -> Verdict:
    """Measured equals analytic; MoC saves >= 10% of activations; MoC fits at least the micro-batch dense fits."""
    bars = data[data["panel"] == "measured block"]
    curves = data[data["panel"] == "modelled LLaMA-1B"]
    diff = (bars["measured_block_bytes_per_token"] - bars["analytic_block_bytes_per_token"]).abs().max()
    acts = curves.pivot_table(index=["checkpointing", "micro_batch"], columns="ffn", values="activation_bytes")
    plain = acts.loc["none"]
    fits = curves.groupby(["checkpointing", "ffn"])["max_micro_batch"].first().unstack()
    checks = [
        at_most("largest |measured - analytic| bytes per token of a block", ours=float(diff), high=0.0,
                paper="(our model must match the profiler exactly)"),
        at_least("MoC activation saving vs dense without checkpointing, LLaMA-1B, smallest over micro-batches",
                 ours=float((1 - plain["moc"] / plain["dense"]).min()), low=SUBSTANTIAL,
                 paper=f"substantial savings (taken as >= {SUBSTANTIAL:.0%})"),
        at_least("measured block saving of MoC vs dense, smallest over 1B / 7B", ours=min(measured_savings(
            bars).values()), low=SUBSTANTIAL, paper=f"substantial savings (taken as >= {SUBSTANTIAL:.0%})"),
        at_least("largest micro-batch that fits, MoC minus dense, smallest over checkpointing modes",
                 ours=float((fits["moc"] - fits["dense"]).min()), low=0.0, paper="MoC fits larger batches"),
    ]
    return judge(checks, explanation="Saved-for-backward bytes measured on real bf16 blocks and modelled for "
                 "LLaMA-1B on an 80 GiB device; the peak's backward working set is our model.")


def hparams_table() -> pd.DataFrame:
    """The GaLore shapes of the profile scenario and the settings of the memory scenarios."""
    from harness.config.loader import load_scenario
    from harness.models.llama import LLAMA_PRESETS
    from methods.memory.analytic import Shape, parameter_count

    rows = []
    for path in (PROFILE, TECHNIQUES):
        scenario = load_scenario(path)
        w = scenario.workload
        rows.append({"scenario": scenario.name, "micro-batch": w.micro_batch, "sequence length": w.seq_len,
                     "dtype": w.dtype, "optimizer": w.optimizer, "MoC K / d_ff": w.moc_k_fraction,
                     "device GiB": w.capacity_gib})
    settings = pd.DataFrame(rows)
    shapes = pd.DataFrame([{"model": name, "d_model": d.d_model, "d_ff": d.d_ff, "heads": d.n_heads,
                            "layers": d.n_layers, "vocabulary": d.vocab_size,
                            "parameters (M)": parameter_count(Shape(d.d_model, d.d_ff, d.n_heads, d.n_layers,
                                                                    d.vocab_size)) / 1e6}
                           for name, d in LLAMA_PRESETS.items()])
    return pd.concat([shapes, settings], ignore_index=True)


@register_figure(
    id="moc.tab_hparams",
    paper="moc",
    kind="table",
    title="Model configurations and memory-study settings",
    caption=(f"{NOTE} The GaLore LLaMA configurations (vocabulary 32,000, untied head) with their parameter "
             "counts, and the settings of our memory scenarios. The paper's training hyper-parameters are not "
             "known; no training run is part of these figures."),
    claim="(configuration table)",
    scale_note="no experiment; rendered from the project's presets and scenario files",
    inputs=(PROFILE, TECHNIQUES),
    computed=False,
)
def draw_tab_hparams(ctx: FigureContext) -> FigureOutput:
    table = hparams_table()
    return FigureOutput(data=table, table=table, ours="GaLore shapes 60M-7B; memory scenarios' settings",
                        verdict=verdict_tab_hparams(table))


def verdict_tab_hparams(data: pd.DataFrame) -> Verdict:
    return not_checkable("A table of settings: ours are our scenario files, so there is no claim to reproduce.")


VERDICTS = {
    "moc.fig1": verdict_fig1,
    "moc.fig_memory": verdict_fig_memory,
    "moc.tab_hparams": verdict_tab_hparams,
}
