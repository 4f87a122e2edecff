"""Gaps in the tests of `plots.papers.moc` found by a mutation audit.

The draw functions were only run end to end on real runs, with no check on their tables or "ours" sentences.
Closed here on hand-built sweeps, metrics and measured tables (the `verdict_*` functions are audited in
``test_moc_verdict_mutation_gaps.py``):
- `fraction_text` (d_ff itself, d_ff/n only for a whole n, other fractions), `model_name` for other names;
- `training_runs`: the record's seed, K of a dense run as d_ff, the memory columns (NaN when missing);
- fig1: sizes ordered by parameter count, the FFN share of activations in "ours";
- fig_memory: curves and bars in one frame, the block saving of MoC without checkpointing in "ours";
- fig_loss: curves from the gate runs of the main size only (not |up| / random, not other sizes), finals of the
  main size only, seed means (not medians) in "ours" for every K;
- tab_ppl: one row per size, perplexity as mean ± sample std, parameters in millions, the loss gap, its tolerance
  and the "competitive" cell, the arms kept and the data's order; one seed per arm is never "competitive";
- tab_ablation_k: the main size only, K, perplexity, activation and FFN bytes against the dense arm, "—" for the
  mask-form arms, the row order and "ours";
- tab_throughput: rows in the run order, tokens/s as mean ± sample std, the mean relative throughput and the
  saved (not peak) bytes, "ours";
- fig_decode: "ours" at the K nearest d_ff/8, that K rounded to a sixteenth, the weight-traffic bound as 1 / ratio;
- tab_hparams: the GaLore shapes' parameter counts in millions and one row per size of the training file.
"""

from __future__ import annotations

import math
from types import SimpleNamespace as NS

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from plots.papers import moc


def _draw(draw, **ctx):
    output = draw(NS(**ctx))
    if output.figure is not None:
        plt.close(output.figure)
    return output


# ------------------------------------------------------------------------------------------------------- helpers
def test_fraction_text_names_whole_divisors_of_d_ff_only():
    assert moc.fraction_text(1.0) == "d_ff"
    assert moc.fraction_text(0.125) == "d_ff/8"
    assert moc.fraction_text(1 / 3) == "d_ff/3"
    assert moc.fraction_text(0.3) == "0.3 d_ff"  # 1 / 0.3 = 3.33 is not a whole divisor
    assert moc.fraction_text(0.75) == "0.75 d_ff"


def test_model_name_rewrites_llama_presets_only():
    assert moc.model_name("llama-60m") == "LLaMA-60M"
    assert moc.model_name("gpt-tiny") == "gpt-tiny"


# ------------------------------------------------------------------------------------------------ training sweep
#: arm -> (ffn, selection, k_fraction, k, d_model, d_ff, losses per seed, perplexities per seed, memory)
ARMS = {
    "dense": ("dense", "none", 1.0, None, 64, 172, [2.0, 2.2, 2.4], [10.0, 12.0, 14.0], (10000, 5000, 10000)),
    "MoC K=d_ff/8": ("moc", "gate", 0.125, 22, 64, 172, [2.1, 2.3, 2.5], [7.0, 7.5, 8.0], (6000, 1000, 6000)),
    "MoC K=d_ff/4": ("moc", "gate", 0.25, 43, 64, 172, [2.2, 2.3, 3.1], [9.0, 9.0, 9.0], (7000, 2000, 7000)),
    "random channels K=d_ff/8": ("moc", "random", 0.125, 22, 64, 172, [5.0, 5.0, 5.0], [20.0, 20.0, 20.0],
                                 (20000, 15000, None)),
    "|up| score K=d_ff/8": ("moc", "abs_up", 0.125, 22, 64, 172, [4.0, 4.0, 4.0], [15.0, 15.0, 15.0],
                            (20000, 15000, None)),
    "XS dense": ("dense", "none", 1.0, None, 32, 88, [2.0, 2.2, 2.4], [26.0, 30.0, 34.0], (4000, 2000, 4000)),
    "XS MoC": ("moc", "gate", 0.125, 11, 32, 88, [3.0, 3.2, 3.4], [10.0, 12.0, 14.0], (3000, 500, 3000)),
}
PARAMETERS = {64: 198765, 32: 31234}


def _sweep() -> NS:
    runs, metrics = [], []
    for ffn, selection, fraction, k, d_model, d_ff, losses, ppls, (saved, saved_ffn, analytic) in ARMS.values():
        for seed, (loss, ppl) in enumerate(zip(losses, ppls)):
            memory = {"saved_bytes_per_token": saved, "saved_ffn_bytes_per_token": saved_ffn,
                      "analytic_saved_bytes_per_token": analytic}
            info = {"ffn": ffn, "selection": selection, "k_fraction": fraction, "k": k, "d_ff": d_ff,
                    "d_model": d_model, "n_layers": 2, "parameters": PARAMETERS[d_model], "final_eval_loss": loss,
                    "final_eval_ppl": ppl, "tokens_per_s": 100.0, "memory": memory}
            runs.append(NS(values={"seed": seed}, info=info))
            # the metrics name a dense run's selection "gate", as the scenario file does
            point = {"workload.ffn": ffn, "workload.selection": "gate" if ffn == "dense" else selection,
                     "workload.k_fraction": fraction, "workload.model.d_model": d_model, "seed": seed}
            metrics += [{**point, "step": 0, "loss": 9.0, "eval_loss": np.nan},
                        {**point, "step": 10, "loss": loss + 1.0, "eval_loss": loss}]
    return NS(runs=runs, metrics=pd.DataFrame(metrics))


def test_training_runs_reads_seed_k_and_memory_of_each_record():
    bare = NS(values={"seed": 7}, info={**_sweep().runs[0].info, "memory": {}})
    runs = moc.training_runs(_sweep(), NS(runs=[bare]))
    assert len(runs) == 22
    assert list(runs["seed"].iloc[:3]) == [0, 1, 2] and runs["seed"].iloc[-1] == 7
    dense, eighth = runs.iloc[0], runs.iloc[3]
    assert (dense["arm"], dense["k"], dense["size"]) == ("dense", 172, "d_model 64, 2 blocks")
    assert (eighth["arm"], eighth["k"]) == ("MoC K=d_ff/8", 22)
    assert (eighth["saved_bytes_per_token"], eighth["saved_ffn_bytes_per_token"],
            eighth["analytic_saved_bytes_per_token"]) == (6000, 1000, 6000)
    assert math.isnan(runs.iloc[9]["analytic_saved_bytes_per_token"])  # random channels: no analytic count
    last = runs.iloc[-1]
    assert math.isnan(last["saved_bytes_per_token"]) and math.isnan(last["analytic_saved_bytes_per_token"])


def test_fig_loss_curves_and_finals_come_from_the_gate_runs_of_the_main_size():
    output = _draw(moc.draw_fig_loss, run=lambda path: _sweep())
    curves = output.data[output.data["panel"] == "curve"]
    assert set(curves["arm"]) == {"dense", "MoC K=d_ff/8", "MoC K=d_ff/4"}
    at_10 = curves[curves["step"] == 10].set_index("arm")
    # MoC K=d_ff/8 at d_model 64: losses 2.1, 2.3, 2.5 (+1 for the train loss); random / XS runs left out
    assert at_10.loc["MoC K=d_ff/8", "eval_loss_mean"] == pytest.approx(2.3)
    assert at_10.loc["MoC K=d_ff/8", "loss_mean"] == pytest.approx(3.3)
    assert at_10.loc["MoC K=d_ff/8", "n_seeds"] == 3
    finals = output.data[output.data["panel"] == "final"]
    assert len(finals) == 9 and set(finals["arm"]) == {"dense", "MoC K=d_ff/8", "MoC K=d_ff/4"}
    assert output.ours == "final held-out loss (seed means): dense 2.200, MoC K=d_ff/8 2.300, MoC K=d_ff/4 2.533"


def test_tab_ppl_rows_give_perplexity_parameters_gap_and_tolerance_per_size():
    output = _draw(moc.draw_tab_ppl, run=lambda path: _sweep())
    assert list(output.data["d_model"]) == [32] * 6 + [64] * 6
    assert list(output.data["arm"].iloc[:6]) == ["MoC K=d_ff/8"] * 3 + ["dense"] * 3
    assert list(output.data["seed"].iloc[:3]) == [0, 1, 2]
    table = output.table.set_index("model")
    small, main = table.loc["d_model 32, 2 blocks"], table.loc["d_model 64, 2 blocks"]
    assert list(table.index) == ["d_model 32, 2 blocks", "d_model 64, 2 blocks"]
    assert (small["parameters (M)"], main["parameters (M)"]) == ("0.03", "0.20")
    assert (main["dense perplexity"], main["MoC K=d_ff/8 perplexity"]) == ("12 ± 2", "7.5 ± 0.5")
    assert (small["dense perplexity"], small["MoC K=d_ff/8 perplexity"]) == ("30 ± 4", "12 ± 2")
    # gaps: 2.3 - 2.2 and 3.2 - 2.2; tolerance 2 x sqrt((0.2^2 + 0.2^2) / 2) = 0.4 at both sizes
    assert (main["loss gap"], main["tolerance"], main["competitive"]) == ("+0.1000", "0.4000", "yes")
    assert (small["loss gap"], small["tolerance"], small["competitive"]) == ("+1.0000", "0.4000", "no")
    assert output.ours == ("MoC K=d_ff/8 minus dense, final held-out loss (seed means): d_model 32, 2 blocks: "
                           "+1.0000 (tolerance 0.4000); d_model 64, 2 blocks: +0.1000 (tolerance 0.4000)")


def test_one_seed_per_arm_is_never_judged_competitive():
    one_seed = NS(runs=[r for r in _sweep().runs if r.values["seed"] == 0])
    row = _draw(moc.draw_tab_ppl, run=lambda path: one_seed).table.iloc[1]
    # MoC's loss 2.1 is 0.1 above dense's 2.0, but with one seed there is no spread to judge the gap by
    assert (row["model"], row["loss gap"], row["tolerance"], row["competitive"]) == (
        "d_model 64, 2 blocks", "+nan", "nan", "no")
    finals = pd.DataFrame({"arm": ["dense", "MoC K=d_ff/8"], "final_eval_loss": [2.0, 1.0]})
    assert not moc.competitive_check(finals, "MoC K=d_ff/8", "d_model 64").holds


def test_tab_ablation_k_rows_compare_each_arm_with_the_dense_arm_of_the_main_size():
    output = _draw(moc.draw_tab_ablation_k, run=lambda path: _sweep())
    assert set(output.data["k_fraction"]) == {0.125, 0.25, 1.0} and len(output.data) == 15
    assert list(output.data["selection"].iloc[::3]) == ["abs_up", "gate", "gate", "none", "random"]
    assert list(output.data["k_fraction"].iloc[3:9:3]) == [0.125, 0.25]
    expected = pd.DataFrame([
        ("dense", 172, "12 ± 2", "10,000", "5,000", "100%"),
        ("MoC K=d_ff/8", 22, "7.5 ± 0.5", "6,000", "1,000", "60%"),
        ("MoC K=d_ff/4", 43, "9 ± 0", "7,000", "2,000", "70%"),
        ("|up| score K=d_ff/8", 22, "15 ± 0", "—", "—", "—"),
        ("random channels K=d_ff/8", 22, "20 ± 0", "—", "—", "—"),
    ], columns=["arm", "K", "perplexity", "activation B/token", "of which FFN", "vs dense"])
    pd.testing.assert_frame_equal(output.table, expected, check_dtype=False)
    assert output.ours.startswith("dense: ppl 12 ± 2, activations 100% of dense; MoC K=d_ff/8: ppl 7.5 ± 0.5, "
                                  "activations 60% of dense;")
    assert output.ours.endswith("random channels K=d_ff/8: ppl 20 ± 0, activations not shown (mask form)")


# ------------------------------------------------------------------------------------------------------ fig1
def test_fig1_orders_sizes_by_parameters_and_reports_the_ffn_share():
    parts = {"parameters_bytes": 1.0, "gradients_bytes": 1.0, "optimizer_states_bytes": 2.0}
    metrics = pd.DataFrame([
        {"model": "llama-7b", "n_params": 7e9, **parts, "activation_attention_bytes": 10.0,
         "activation_ffn_bytes": 30.0, "activation_other_bytes": 0.0},
        {"model": "llama-1b", "n_params": 1e9, **parts, "activation_attention_bytes": 4.0,
         "activation_ffn_bytes": 5.0, "activation_other_bytes": 1.0},
        {"model": "llama-60m", "n_params": 6e7, **parts, "activation_attention_bytes": 2.0,
         "activation_ffn_bytes": 6.0, "activation_other_bytes": 2.0},
    ])
    output = _draw(moc.draw_fig1, run=lambda path: NS(metrics=metrics))
    assert list(output.data["model"]) == ["llama-60m", "llama-1b", "llama-7b"]
    assert list(output.data.columns) == ["model", "n_params", *(c for c, _, _ in moc.PROFILE_PARTS)]
    assert output.ours == "FFN share of activations: LLaMA-60M 60%, LLaMA-1B 50%, LLaMA-7B 75%"


# ------------------------------------------------------------------------------------------------ fig_memory
def test_fig_memory_joins_curves_and_bars_and_reports_the_block_saving_without_checkpointing():
    curves = pd.DataFrame([
        {"ffn": ffn, "checkpointing": "none", "micro_batch": mb, "activation_bytes": per * mb,
         "peak_gib": 10.0 * mb, "max_micro_batch": fits, "capacity_gib": 80.0}
        for ffn, per, fits in (("dense", 100.0, 8), ("moc", 60.0, 16)) for mb in (1, 8)
    ])
    measured = pd.DataFrame([
        ("llama-1b", "dense", "none", 1000.0), ("llama-1b", "moc", "none", 600.0),
        ("llama-1b", "dense", "attention", 500.0), ("llama-1b", "moc", "attention", 450.0),
        ("llama-1b", "moc", "block", 100.0),
        ("llama-7b", "dense", "none", 2000.0), ("llama-7b", "moc", "none", 1500.0),
    ], columns=["model", "ffn", "checkpointing", "measured_block_bytes_per_token"])
    measured["analytic_block_bytes_per_token"] = measured["measured_block_bytes_per_token"]
    output = _draw(moc.draw_fig_memory, run=lambda path: NS(metrics=curves), read_csv=lambda path: measured)
    assert list(output.data["panel"]) == ["modelled LLaMA-1B"] * 4 + ["measured block"] * 7
    assert list(output.data["measured_block_bytes_per_token"].iloc[4:6]) == [1000.0, 600.0]
    assert output.ours == ("LLaMA-1B: MoC saves 40% of a block's activations; "
                           "LLaMA-7B: MoC saves 25% of a block's activations")
    assert moc.measured_savings(measured) == pytest.approx({"llama-1b": 0.4, "llama-7b": 0.25})


# -------------------------------------------------------------------------------------------- tab_throughput
def test_tab_throughput_rows_keep_the_run_order_and_average_over_seeds():
    rows = []
    for variant, tokens, rel, saved in (("dense", (1000.0, 1200.0), (1.0, 1.0), 800.0),
                                        ("moc", (1150.0, 1250.0), (1.1, 1.3), 500.0),
                                        ("dense+ckpt", (800.0, 800.0), (0.8, 0.8), 300.0),
                                        ("moc+ckpt", (900.0, 700.0), (0.9, 0.7), 200.0)):
        for seed in (0, 1):
            rows.append({"workload.model.d_model": 16, "workload.model.n_layers": 1, "seed": seed,
                         "variant": variant, "k": 3, "time_ms_median": 1.0, "tokens_per_s": tokens[seed],
                         "relative_throughput": rel[seed], "saved_bytes_per_token": saved,
                         "peak_bytes_per_token": 9999.0})
    output = _draw(moc.draw_tab_throughput, run=lambda path: NS(metrics=pd.DataFrame(rows)))
    assert list(output.data.columns[:2]) == ["d_model", "n_layers"]
    expected = pd.DataFrame([
        ("d_model 16, 1 blocks", "dense", "1,100 ± 141", "1.00x", "800"),
        ("d_model 16, 1 blocks", "moc", "1,200 ± 71", "1.20x", "500"),
        ("d_model 16, 1 blocks", "dense+ckpt", "800 ± 0", "0.80x", "300"),
        ("d_model 16, 1 blocks", "moc+ckpt", "800 ± 141", "0.80x", "200"),
    ], columns=["model", "variant", "tokens/s", "vs dense", "activation B/token"])
    pd.testing.assert_frame_equal(output.table, expected)
    assert output.ours == ("d_model 16, 1 blocks dense: 1.00x; d_model 16, 1 blocks MoC: 1.20x; "
                           "d_model 16, 1 blocks dense + checkpointing: 0.80x; "
                           "d_model 16, 1 blocks MoC + checkpointing: 0.80x")


# ----------------------------------------------------------------------------------------------- fig_decode
def test_fig_decode_ours_reads_the_k_nearest_an_eighth():
    d_ff = 5461
    rows = [{"part": "ffn", "impl": "dense", "k": d_ff, "k_fraction": 1.0, "bytes_ratio": 1.0, "ffn_speedup": 1.0,
             "block_speedup": 1.0, "time_ms_median": 10.0},
            {"part": "attention", "impl": "dense", "k": 0, "k_fraction": np.nan, "bytes_ratio": np.nan,
             "ffn_speedup": np.nan, "block_speedup": np.nan, "time_ms_median": 5.0}]
    # given out of K order; K = 683 is 0.12507 of d_ff, shown as d_ff/8
    for k, speedup, layer, ratio in ((1365, 1.4, 1.2, 0.5), (341, 2.5, 1.6, 0.375), (683, 1.8, 1.3, 0.4167),
                                     (d_ff, 0.9, 0.95, 1.0), (2731, 1.1, 1.05, 0.6667)):
        rows.append({"part": "ffn", "impl": "moc", "k": k, "k_fraction": k / d_ff, "bytes_ratio": ratio,
                     "ffn_speedup": speedup, "block_speedup": layer, "time_ms_median": 10.0 / speedup})
    metrics = pd.DataFrame(rows).assign(time_ms_p10=lambda f: f["time_ms_median"] * 0.99,
                                        time_ms_p90=lambda f: f["time_ms_median"] * 1.01, n_reps=5)
    output = _draw(moc.draw_fig_decode, run=lambda path: NS(metrics=metrics))
    assert output.ours == "K=d_ff/8: FFN 1.80x, layer 1.30x (bound 2.40x)"
    assert len(output.data) == 7


# ---------------------------------------------------------------------------------------------- tab_hparams
def test_hparams_table_counts_parameters_in_millions_and_lists_each_training_size_once():
    table = moc.hparams_table()
    shapes = table.set_index("model")
    # LLaMA-60M: 2 x 32000 x 512 (embedding, head) + 8 x (4 x 512^2 + 3 x 512 x 1376 + 2 x 512) + 512
    assert shapes.loc["llama-60m", "parameters (M)"] == pytest.approx(58.0736)
    training = table[table["scenario"] == "moc_training"]
    assert list(training["d_model"]) == [64, 32, 128]
    assert list(training["layers"]) == [2, 2, 4] and list(training["d_ff"]) == [172, 88, 344]
    assert set(training["sequence length"]) == {64} and set(training["steps"]) == {800}
    assert set(training["optimizer"]) == {"adamw, lr 0.003, warm-up 80, cosine to 0.1"}
    assert list(table.loc[table["scenario"].isin(["moc_memory_profile", "moc_memory_techniques"]),
                          "sequence length"]) == [256, 256]
