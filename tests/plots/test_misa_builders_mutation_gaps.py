"""Gaps in the tests of `plots.papers.misa` found by a mutation audit (its data builders; the verdicts have their own
audit in test_misa_verdict_mutation_gaps.py).

Closed here on hand-built sweeps (`fake_run` writes a run.json and serves a metrics frame) and memory frames:
- `sweep_frame`: the run.json seed over the sweep axis, the method name (None without a method spec), the learning
  rate (NaN when absent), only numeric, non-bool info entries;
- `final_rows` (the last step of each run, rows out of order), `pooled_std` (sample variances, one seed as 0, no
  groups), `seed_counts` (one count, a range, the singular);
- fig1: only full fine-tuning's runs, weight matrices of a numbered layer, the ratio sentence (median and range);
- fig2: modelled LLaMA3-8B rows only, delta kept for MISA only, bytes to GiB, slopes in GiB per 1k tokens;
- fig3: its four methods, the seed-mean final loss in the sentence;
- the ablations: each variant name, the mean accuracy over the task columns, mean / sample std / seed count per
  variant (std 0 for one seed), the table cells and the sentence;
- tab_memory: the 2,048-token LLaMA3-8B rows with MISA at 3%, optimizer = states + masters, GiB and KiB units,
  the total, a method without a measurement, ORDER, the table's rounding and labels;
- the accuracy tables: the final row of each run, the task average, percent mean ± sample std, trainable share,
  measured state, the modelled 8B peak at 2,048 tokens and δ = 3% (none for DoRA), learning rates, seeds, order;
- tab_pretrain: Adam's label, the perplexity cells, the state in KiB, the seeds and the sentence.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace as NS

import numpy as np
import pandas as pd
import pytest

from plots.papers import misa

GIB = 2**30


def fake_run(root: Path, name: str, frame: pd.DataFrame, *, method: str | None, seed: int, lr: float | None = None,
             info: dict | None = None, values: dict | None = None) -> NS:
    """A sweep record: ``root/name/run.json`` as the harness writes it, ``frame`` as its metrics."""
    run_dir = root / name
    run_dir.mkdir(parents=True)
    workload: dict = {"method": {"name": method} if method is not None else "none"}
    if lr is not None:
        workload["lr"] = lr
    meta = {"seed": seed, "scenario": {"workload": workload}, "info": info or {}}
    (run_dir / "run.json").write_text(json.dumps(meta))
    return NS(run_dir=str(run_dir), read_metrics=frame.copy, values=values or {})


def ctx_of(sweep: NS) -> NS:
    return NS(run=lambda path: sweep, profile="quick")


# ------------------------------------------------------------------------------------------------ data helpers
def test_sweep_frame_takes_seed_method_lr_and_numeric_info_from_run_json(tmp_path):
    frame = pd.DataFrame({"step": [0, 50], "eval_loss": [2.0, 1.0]})
    info = {"parameters": 1000, "rate": 0.5, "flag": True, "name": "x", "nested": {"a": 1}}
    runs = [fake_run(tmp_path, "a", frame, method="misa", seed=1, lr=0.01, info=info,
                     values={"seed": 5, "workload.method.delta": 0.03}),
            fake_run(tmp_path, "b", frame, method=None, seed=2)]
    out = misa.sweep_frame(NS(runs=runs))
    first, second = out.iloc[:2], out.iloc[2:]
    assert len(out) == 4
    assert list(first["seed"]) == [1, 1] and list(second["seed"]) == [2, 2]  # run.json's seed over the axis
    assert list(first["method"]) == ["misa"] * 2 and second["method"].isna().all()
    assert list(first["lr"]) == [0.01] * 2 and second["lr"].isna().all()
    assert list(first["workload.method.delta"]) == [0.03] * 2
    assert list(first["info_parameters"]) == [1000] * 2 and list(first["info_rate"]) == [0.5] * 2
    assert not {"info_flag", "info_name", "info_nested"} & set(out.columns)


def test_final_rows_is_the_last_step_of_each_run():
    frame = pd.DataFrame({"method": ["a", "a", "a", "b", "a", "b"], "seed": [0, 0, 1, 0, 1, 0],
                          "step": [100, 0, 50, 20, 0, 10], "eval_loss": [1.0, 9.0, 2.0, 3.0, 8.0, 7.0]})
    last = misa.final_rows(frame).set_index(["method", "seed"])["eval_loss"]
    assert last.to_dict() == {("a", 0): 1.0, ("a", 1): 2.0, ("b", 0): 3.0}
    variants = pd.DataFrame({"variant": ["x", "x", "y"], "seed": [0, 0, 0], "step": [9, 5, 1], "v": [1, 2, 3]})
    assert misa.final_rows(variants).set_index("variant")["v"].to_dict() == {"x": 1, "y": 3}


def test_pooled_std_is_the_root_mean_sample_variance():
    # group a: 1, 3 (sample variance 2); b: 2, 2, 2 (0) -> sqrt(1) = 1; population variances would give 0.71
    data = pd.DataFrame({"g": ["a", "a", "b", "b", "b"], "y": [1.0, 3.0, 2.0, 2.0, 2.0]})
    assert misa.pooled_std(data, "g", "y") == pytest.approx(1.0)
    # a lone seed counts as variance 0: (8 + 0) / 2 = 4 -> 2
    lone = pd.DataFrame({"g": ["a", "a", "c"], "y": [0.0, 4.0, 5.0]})
    assert misa.pooled_std(lone, "g", "y") == pytest.approx(2.0)
    assert misa.pooled_std(lone.iloc[:0], "g", "y") == 0.0


def test_seed_counts_gives_a_count_a_range_or_the_singular():
    same = pd.DataFrame({"method": ["a"] * 3 + ["b"] * 3, "seed": [0, 1, 2] * 2})
    assert misa.seed_counts(same, "method") == "3 seeds per method"
    assert misa.seed_counts(same.iloc[:5], "method") == "2-3 seeds per method"
    one = pd.DataFrame({"variant": ["a", "b"], "seed": [0, 0]})
    assert misa.seed_counts(one, "variant") == "1 seed per variant"


# ------------------------------------------------------------------------------------------------------- fig1
def _norms(entries: dict[str, float]) -> list[dict]:
    return [{"module": k, "numel": 16, "grad_norm": v} for k, v in entries.items()]


def test_fig1_rows_come_from_full_fine_tuning_weight_matrices_of_numbered_layers(tmp_path):
    frame = pd.DataFrame({"step": [0]})
    seed0 = _norms({"model.layers.0.self_attn.q_proj.weight": 1.0, "model.layers.0.mlp.up_proj.weight": 4.0,
                    "model.layers.1.self_attn.q_proj.weight": 2.0, "model.layers.1.mlp.down_proj.weight": 3.2,
                    "model.layers.12.self_attn.k_proj.weight": 2.0, "model.layers.12.self_attn.v_proj.weight": 6.0,
                    "model.embed_tokens.weight": 90.0, "model.layers.1.self_attn.q_proj.bias": 0.01,
                    "model.layers.1.self_attn.q_proj.weight_orig": 50.0})
    seed1 = _norms({"model.layers.0.self_attn.q_proj.weight": 1.0, "model.layers.0.mlp.up_proj.weight": 8.0})
    runs = [fake_run(tmp_path, "a0", frame, method="adamw", seed=0, info={"grad_norms": seed0}),
            fake_run(tmp_path, "a1", frame, method="adamw", seed=1, info={"grad_norms": seed1}),
            *(fake_run(tmp_path, f"{m}0", frame, method=m, seed=0, info={"grad_norms": _norms(
                {"model.layers.0.self_attn.q_proj.weight": 1000.0})}) for m in ("misa", "lora"))]
    out = misa.draw_fig1(ctx_of(NS(runs=runs)))
    data = out.data
    assert len(data) == 8 and set(data["numel"]) == {16}
    assert sorted(zip(data["seed"], data["layer"], data["module"], data["grad_norm"])) == [
        (0, 0, "q_proj", 1.0), (0, 0, "up_proj", 4.0), (0, 1, "down_proj", 3.2), (0, 1, "q_proj", 2.0),
        (0, 12, "k_proj", 2.0), (0, 12, "v_proj", 6.0), (1, 0, "q_proj", 1.0), (1, 0, "up_proj", 8.0)]
    # ratios per (seed, layer): 4, 1.6, 3, 8 -> median 3.5, range 1.6-8
    assert out.ours == ("largest / smallest module norm within a layer: median 3.5x (range 1.6x-8.0x over layers "
                        "and seeds)")


# ------------------------------------------------------------------------------------------------------- fig2
FIG2_SLOPES = {("adamw", None): 0.5, ("lora", None): 0.4, ("lisa", None): 0.3, ("badam", None): 0.2,
               ("misa", 0.01): 0.05, ("misa", 0.03): 0.1, ("misa", 0.10): 0.15}


def _fig2_metrics() -> pd.DataFrame:
    rows = []
    for (method, delta), slope in FIG2_SLOPES.items():
        base = 10.0 if method == "misa" else 20.0
        for seq in (4096, 1024, 2048):
            rows.append({"source": "modelled", "model": "llama3-8b", "method": method,
                         "delta": delta if delta is not None else 0.03, "seq_len": seq,
                         "step_peak_bytes": (base + slope * seq / 1000) * GIB, "saved_activation_bytes": seq * 10.0})
    # rows the figure must leave out: another model and a measurement
    rows.append({"source": "modelled", "model": "tiny", "method": "lora", "delta": 0.03, "seq_len": 8192,
                 "step_peak_bytes": 1e15, "saved_activation_bytes": 0.0})
    rows.append({"source": "measured", "model": "llama3-8b", "method": "misa", "delta": 0.03, "seq_len": 8192,
                 "step_peak_bytes": 1e15, "saved_activation_bytes": 0.0})
    return pd.DataFrame(rows)


def test_fig2_keeps_the_modelled_8b_rows_in_gib_and_reports_slopes_per_1k_tokens():
    out = misa.draw_fig2(ctx_of(NS(metrics=_fig2_metrics())))
    data = out.data
    assert len(data) == 21 and set(data["seq_len"]) == {1024, 2048, 4096}
    assert data.loc[data["method"] != "misa", "delta"].isna().all()
    assert sorted(data.loc[data["method"] == "misa", "delta"].unique()) == [0.01, 0.03, 0.10]
    lora = data[data["method"] == "lora"].set_index("seq_len")["peak_gib"]
    assert lora.to_dict() == pytest.approx({1024: 20.4096, 2048: 20.8192, 4096: 21.6384})
    assert out.ours == ("full FT (AdamW) 0.50, LoRA 0.40, LISA 0.30, BAdam 0.20, MISA δ=1% 0.05, MISA δ=3% 0.10, "
                        "MISA δ=10% 0.15 GiB per 1k tokens")
    assert misa.series_label("misa", 0.10) == "MISA δ=10%" and misa.series_label("lisa", None) == "LISA"


# ------------------------------------------------------------------------------------------------------- fig3
def _curve(final: float, *, acc: dict[str, float] | None = None, trainable: float = 0.0) -> pd.DataFrame:
    """Three evaluations, given out of step order; the final one (step 100) has loss ``final`` and ``acc``."""
    acc = acc or {}
    rows = [{"step": 100, "wall_s": 10.0, "eval_loss": final, **acc},
            {"step": 0, "wall_s": 0.0, "eval_loss": 5.0, **{k: 0.0 for k in acc}},
            {"step": 50, "wall_s": 5.0, "eval_loss": 3.0, **{k: 0.01 for k in acc}}]
    return pd.DataFrame(rows).assign(trainable_params=trainable)


def test_fig3_keeps_its_four_methods_and_reports_seed_mean_final_losses(tmp_path):
    finals = {"adamw": (0.5, 0.7), "misa": (0.8, 1.0), "lisa": (1.1, 1.3), "badam": (1.4, 1.6), "lora": (0.1, 0.1)}
    runs = [fake_run(tmp_path, f"{m}{s}", _curve(v[s]), method=m, seed=s, lr=0.002 + 0.001 * s)
            for m, v in finals.items() for s in (0, 1)]
    out = misa.draw_fig3(ctx_of(NS(runs=runs)))
    assert list(out.data.columns) == ["method", "seed", "step", "wall_s", "eval_loss", "lr"]
    assert set(out.data["method"]) == {"adamw", "misa", "lisa", "badam"} and len(out.data) == 24
    assert out.ours == ("full FT (AdamW) 0.600, MISA 0.900, LISA 1.200, BAdam 1.500 final eval loss (seed mean)")


# -------------------------------------------------------------------------------------------------- ablations
AXES = ("eta", "delta", "interval", "granularity", "sampling")


def _knobs(eta=1.0, delta=0.03, interval=50, granularity="module", sampling="importance") -> dict:
    return {f"workload.method.{k}": v for k, v in zip(AXES, (eta, delta, interval, granularity, sampling),
                                                      strict=True)}


@pytest.mark.parametrize(("knobs", "name"), [
    ({}, "default (η=1, δ=3%, T=50)"),
    ({"sampling": "uniform", "granularity": "layer"}, "uniform sampling"),
    ({"granularity": "layer"}, "layer granularity"),
    ({"eta": 10.0}, "η=10"),
    ({"eta": 0.0}, "η=0"),
    ({"delta": 0.1, "interval": 200}, "δ=10%, T=200"),
    ({"eta": 500.0, "delta": 0.25, "interval": 10}, "η=500, δ=25%, T=10"),
])
def test_variant_names_each_changed_knob(knobs, name):
    assert misa._variant(pd.Series(_knobs(**knobs))) == name


def _ablation_sweep(root: Path) -> NS:
    # (variant knobs, seed, final eval loss, final acc_add, final acc_mod)
    finals = [({}, 0, 0.5, 0.2, 0.4), ({}, 1, 0.6, 0.4, 0.6), ({}, 2, 0.7, 0.6, 0.8),
              ({"sampling": "uniform"}, 0, 0.8, 0.1, 0.1), ({"sampling": "uniform"}, 1, 1.0, 0.3, 0.3),
              ({"granularity": "layer"}, 0, 1.2, 0.25, 0.35)]
    runs = []
    for i, (knobs, seed, loss, add, mod) in enumerate(finals):
        runs.append(fake_run(root, f"r{i}", _curve(loss, acc={"acc_add": add, "acc_mod": mod}), method="misa",
                             seed=seed, values={**_knobs(**knobs), "seed": seed}))
    return NS(runs=runs)


def test_ablation_frame_averages_the_task_columns(tmp_path):
    frame = misa.ablation_frame(_ablation_sweep(tmp_path))
    last = frame[frame["step"] == 100].set_index(["variant", "seed"])["mean_accuracy"]
    default = "default (η=1, δ=3%, T=50)"
    assert last.to_dict() == pytest.approx({(default, 0): 0.3, (default, 1): 0.5, (default, 2): 0.7,
                                            ("uniform sampling", 0): 0.1, ("uniform sampling", 1): 0.3,
                                            ("layer granularity", 0): 0.3})


def test_ablation_table_and_sentence_use_final_seed_means_and_sample_stds(tmp_path):
    out = misa.draw_tab_ablation(ctx_of(_ablation_sweep(tmp_path)))
    table = out.table.set_index("variant")
    default = "default (η=1, δ=3%, T=50)"
    assert table.loc[default].to_dict() == {"final eval loss": "0.6 ± 0.1", "mean exact match": "0.5 ± 0.2",
                                            "seeds": 3}
    assert table.loc["uniform sampling"].to_dict() == {"final eval loss": "0.9 ± 0.14",
                                                       "mean exact match": "0.2 ± 0.14", "seeds": 2}
    assert table.loc["layer granularity"].to_dict() == {"final eval loss": "1.2 ± 0", "mean exact match": "0.3 ± 0",
                                                        "seeds": 1}
    assert sorted(out.data.columns) == ["eval_loss", "mean_accuracy", "seed", "variant"] and len(out.data) == 6
    parts = set(out.ours.removesuffix(" (final eval loss)").split("; "))
    assert parts == {f"{default} 0.600", "uniform sampling 0.900", "layer granularity 1.200"}


def test_ablation_figure_data_and_sentence(tmp_path):
    out = misa.draw_fig_ablation(ctx_of(_ablation_sweep(tmp_path)))
    assert out.data.groupby("variant")["eval_loss"].mean().to_dict() == pytest.approx(
        {"default (η=1, δ=3%, T=50)": 0.6, "uniform sampling": 0.9, "layer granularity": 1.2})
    assert "layer granularity 1.200" in out.ours and out.ours.endswith(" (final eval loss)")


def test_ablation_summary_of_one_seed_has_zero_std():
    last = pd.DataFrame({"variant": ["a", "a", "b"], "seed": [0, 1, 0], "eval_loss": [1.0, 3.0, 2.0],
                         "mean_accuracy": [0.1, 0.5, 0.2]})
    summary = misa.ablation_summary(last).set_index("variant")
    assert summary.loc["a", "eval_loss_std"] == pytest.approx(math.sqrt(2.0))
    assert summary.loc["a", "mean_accuracy_std"] == pytest.approx(math.sqrt(0.08))
    assert summary.loc["b", "eval_loss_std"] == 0.0 and summary.loc["b", "n_seeds"] == 1
    assert summary.loc["a", "n_seeds"] == 2 and summary.loc["a", "mean_accuracy_mean"] == pytest.approx(0.3)


# ------------------------------------------------------------------------------------------------- memory table
def _memory_metrics() -> pd.DataFrame:
    # (method, delta, trainable, weights, gradients, states, masters, activations) in GiB, at 2,048 tokens
    modelled = [("misa", 0.03, 2.4449e8, 15.0, 0.5, 2.0, 1.0, 1.25),
                ("adamw", 0.03, 8.0e9, 15.0, 15.0, 60.0, 30.0, 4.0),
                ("lora", 0.03, 2.04e7, 15.0, 0.25, 0.5, 0.25, 6.0),
                ("badam", 0.03, 2.2e8, 15.0, 0.5, 2.0, 1.0, 2.0),
                ("lisa", 0.03, 2.0e8, 15.0, 0.75, 3.0, 1.5, 3.0),
                ("misa", 0.01, 1.0e8, 99.0, 99.0, 99.0, 99.0, 99.0)]
    rows = [{"source": "modelled", "model": "llama3-8b", "seq_len": 2048, "method": m, "delta": d,
             "trainable_params": n, "weights_bytes": w * GIB, "gradient_bytes": g * GIB,
             "optimizer_state_bytes": s * GIB, "master_bytes": ms * GIB, "saved_activation_bytes": a * GIB}
            for m, d, n, w, g, s, ms, a in modelled]
    other = dict(trainable_params=1.0, weights_bytes=1e15, gradient_bytes=0.0, optimizer_state_bytes=0.0,
                 master_bytes=0.0, saved_activation_bytes=0.0)
    rows.append({"source": "modelled", "model": "llama3-8b", "seq_len": 4096, "method": "adamw", "delta": 0.03,
                 **other})
    rows.append({"source": "modelled", "model": "tiny", "seq_len": 2048, "method": "lora", "delta": 0.03, **other})
    for method, state in (("adamw", 4096.0), ("lora", 1234.0), ("lisa", 3072.0), ("misa", 512.0)):  # no BAdam
        rows.append({"source": "measured", "model": "small", "seq_len": 64, "method": method, "delta": 0.03,
                     **{**other, "weights_bytes": 1.0, "optimizer_state_bytes": state}})
    return pd.DataFrame(rows)


def test_tab_memory_builds_the_8b_rows_in_gib_with_the_measured_state_in_kib():
    out = misa.draw_tab_memory(ctx_of(NS(metrics=_memory_metrics())))
    data = out.data.set_index("method")
    assert list(data.index) == ["adamw", "lora", "lisa", "badam", "misa"]
    assert data.loc["misa", "weights_gib"] == pytest.approx(15.0)  # MISA at 3%, not 1%
    assert data.loc["adamw", "optimizer_gib"] == pytest.approx(90.0)  # states + masters
    assert data["total_gib"].to_dict() == pytest.approx(
        {"adamw": 124.0, "lora": 22.0, "lisa": 23.25, "badam": 20.5, "misa": 19.75})
    assert data.loc["lora", "activations_gib"] == pytest.approx(6.0)
    assert data.loc["lisa", "gradients_gib"] == pytest.approx(0.75)
    state = data["small_measured_state_kib"]
    assert state[["adamw", "lora", "lisa", "misa"]].to_dict() == pytest.approx(
        {"adamw": 4.0, "lora": 1234 / 1024, "lisa": 3.0, "misa": 0.5})
    assert math.isnan(state["badam"])
    table = out.table.set_index("method")
    assert list(table.index) == ["full FT (AdamW)", "LoRA", "LISA", "BAdam", "MISA δ=3%"]
    assert table.loc["MISA δ=3%", "trainable (M)"] == 244.0 and table.loc["LoRA", "trainable (M)"] == 20.0
    assert table.loc["LISA", "total"] == pytest.approx(23.2)  # 23.25 to one decimal
    assert table.loc["MISA δ=3%", "total"] == pytest.approx(19.8)
    assert table.loc["full FT (AdamW)", "optimizer states"] == pytest.approx(90.0)
    assert table.loc["MISA δ=3%", "activations"] == pytest.approx(1.2)  # 1.25 rounded half to even
    assert table.loc["LoRA", "small model: measured state (KiB)"] == pytest.approx(1.2)
    assert out.ours == ("full FT (AdamW) 124.0 GiB, LoRA 22.0 GiB, LISA 23.2 GiB, BAdam 20.5 GiB, "
                        "MISA 19.8 GiB")


# ---------------------------------------------------------------------------------------------- accuracy tables
def _accuracy_sweep(root: Path) -> NS:
    # (method, seed, lr, acc per task at the last step, trainable, parameters, optimizer state, master bytes)
    specs = [("misa", 0, 0.003, 0.5, 0.7, 30, 1024, 2048), ("misa", 1, 0.003, 0.7, 0.9, 50, 2048, 2048),
             ("adamw", 0, 0.003, 0.9, 0.9, 1000, 8192, 0), ("adamw", 1, 0.001, 0.8, 1.0, 1000, 8192, 0),
             ("dora", 0, 0.01, 0.2, 0.4, 45, 512, 0), ("badam", 0, 0.003, 0.4, 0.4, 250, 1024, 1024)]
    runs = []
    for i, (method, seed, lr, add, mod, trainable, state, master) in enumerate(specs):
        frame = _curve(1.0, acc={"acc_add": add, "acc_mod": mod}, trainable=trainable)
        info = {"parameters": 1000, "peak_optimizer_state_bytes": state, "peak_master_bytes": master}
        runs.append(fake_run(root, f"r{i}", frame, method=method, seed=seed, lr=lr, info=info))
    return NS(runs=runs)


def test_math_table_cells_are_percent_means_and_sample_stds_of_the_final_rows(tmp_path):
    from methods.misa.memory import LLAMA3_8B, peak_bytes

    out = misa.draw_tab_math(ctx_of(_accuracy_sweep(tmp_path)))
    table = out.table.set_index("method")
    assert list(table.index) == ["full FT (AdamW)", "DoRA", "BAdam", "MISA δ=3%"]  # ORDER, not alphabetical
    misa_row = table.loc["MISA δ=3%"]
    # add 50, 70; mod 70, 90; average 60, 80: means 60 / 80 / 70, sample std 14.1 (population std would be 10)
    assert (misa_row["add"], misa_row["mod"], misa_row["average"]) == ("60 ± 14", "80 ± 14", "70 ± 14")
    assert misa_row["trainable (%)"] == 4.0  # 3% and 5%
    assert misa_row["state (KiB, measured)"] == 3.5  # (3072 + 4096) / 2 bytes
    assert misa_row["lr"] == "0.003" and misa_row["seeds"] == 2
    assert table.loc["full FT (AdamW)", "lr"] == "0.001/0.003"
    assert table.loc["full FT (AdamW)", "average"] == "90 ± 0"
    assert table.loc["DoRA", "add"] == "20 ± n/a"  # one seed: no sample std
    assert math.isnan(table.loc["DoRA", "8B peak (GiB, modelled)"])
    expected = peak_bytes("misa", LLAMA3_8B, 2048, delta=0.03) / GIB
    assert misa_row["8B peak (GiB, modelled)"] == pytest.approx(round(expected, 1))
    assert peak_bytes("misa", LLAMA3_8B, 4096, delta=0.03) / GIB > expected + 0.1  # the length matters
    assert table.loc["full FT (AdamW)", "8B peak (GiB, modelled)"] > misa_row["8B peak (GiB, modelled)"]
    assert out.ours == "MISA 70.0%, best full FT (AdamW) 90.0% average"
    data = out.data.set_index(["method", "seed"])
    assert data.loc[("misa", 1), "average"] == pytest.approx(0.8)
    assert data.loc[("adamw", 0), "modelled_8b_gib"] == pytest.approx(peak_bytes("adamw", LLAMA3_8B, 2048) / GIB)


def test_commonsense_table_averages_its_four_tasks(tmp_path):
    sweep = _accuracy_sweep(tmp_path)
    for i, run in enumerate(sweep.runs):
        frame = run.read_metrics()
        frame["acc_category"], frame["acc_larger"] = 0.2 + 0.1 * i, 0.4
        frame["acc_even"], frame["acc_next"] = 0.6, 0.8 - 0.1 * i
        run.read_metrics = frame.copy
    out = misa.draw_tab_commonsense(ctx_of(sweep))
    # every run averages (0.2 + 0.1 i + 0.4 + 0.6 + 0.8 - 0.1 i) / 4 = 0.5
    assert out.data["average"].to_numpy() == pytest.approx([0.5] * 6)
    assert list(out.table.columns[1:6]) == ["category", "larger", "even", "next", "average"]
    assert out.ours == "MISA 50.0%, full FT 50.0% average"


# ------------------------------------------------------------------------------------------------ pre-training
def test_pretrain_table_cells_and_sentence(tmp_path):
    specs = [("adamw", 0, 3.0, 2048), ("adamw", 1, 3.2, 4096), ("galore", 0, 4.0, 1024),
             ("misa", 0, 2.5, 512), ("misa", 1, 2.6, 512), ("misa", 2, 3.0, 512)]
    runs = []
    for i, (method, seed, ppl, state) in enumerate(specs):
        frame = pd.DataFrame({"step": [100, 0], "eval_loss": [np.log(ppl), 9.0], "perplexity": [ppl, 99.0]})
        runs.append(fake_run(tmp_path, f"r{i}", frame, method=method, seed=seed,
                             info={"peak_optimizer_state_bytes": state}))
    out = misa.draw_tab_pretrain(ctx_of(NS(runs=runs)))
    table = out.table.set_index("method")
    assert list(table.index) == ["Adam", "GaLore", "MISA"]
    # MISA 2.5, 2.6, 3.0: mean 2.7 (median 2.6), sample std 0.265
    assert table["perplexity"].to_dict() == {"Adam": "3.1 ± 0.14", "GaLore": "4 ± n/a", "MISA": "2.7 ± 0.26"}
    assert table["optimizer state (KiB)"].to_dict() == {"Adam": 3.0, "GaLore": 1.0, "MISA": 0.5}
    assert table["seeds"].to_dict() == {"Adam": 2, "GaLore": 1, "MISA": 3}
    assert out.ours == "Adam 3.100, GaLore 4.000, MISA 2.700 perplexity"
    assert list(out.data.columns) == ["method", "seed", "eval_loss", "perplexity", "info_peak_optimizer_state_bytes"]
    assert len(out.data) == 6
