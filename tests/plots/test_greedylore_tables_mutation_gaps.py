"""Gaps in the tests of `plots.papers.greedylore_tables` found by a mutation audit.

The tables' cells had no check beyond tab2's raw floats and tab7's "60/6". Closed here, on hand-built sweeps
(tab3, tab4, tab5) and on the committed scenario file (tab7):
- tab2: the percentages of dense, the whole-LLaMA-130M step (embedding, head and 1-D tensors dense, MB, % of dense)
  against the closed forms, the cells' number formats and the "ours" sentence;
- tab3: the last evaluation of each run, accuracy and MCC x100 as mean ± sample std, the per-seed average over the
  tasks, the bytes column, the row order, and a seed with two runs refused;
- tab4: the last held-out loss per seed as perplexity (mean ± sample std), which PowerSGD rank each row picks
  (equal bytes from GreedyLore r = d/16), the rank/bytes column, the paper columns and the width's stand-in;
- tab5: 500 steps exactly, total seconds and per-step means, row order by bandwidth, speed-ups, the top bandwidth in
  "ours", the provenance counts summed over runs and the catalogue's device name;
- tab7: our settings read from tiny_gpt.yaml in both profiles.
"""

from __future__ import annotations

import math
import re
from types import SimpleNamespace as NS

import numpy as np
import pandas as pd
import pytest

from plots.papers import greedylore_tables as glt
from tests.plots.test_greedylore_runs_mutation_gaps import fake_point, fake_record, fake_sweep, run_metrics


def _ctx(sweep: NS) -> NS:
    return NS(run=lambda path: sweep, profile="quick")


# ------------------------------------------------------------------------------------------------------- tab2
def _closed_form_share(row: str) -> float:
    """LLaMA-130M bytes of one step relative to dense, from the closed forms (embedding, head, 1-D tensors dense)."""
    from harness.compression_cost import llama_param_tensors
    from harness.models.llama import LLAMA_PRESETS

    r, tau = 32, 200
    sent = dense = 0
    for tensor in llama_param_tensors(LLAMA_PRESETS["llama-130m"]):
        numel = math.prod(tensor.shape)
        dense += numel
        if tensor.name in ("embed_tokens.weight", "lm_head.weight") or len(tensor.shape) == 1:
            sent += numel
            continue
        n, m = tensor.shape
        p, q = min(n, m), max(n, m)
        sent += {"PowerSGD": r * (n + m), "amortised": ((tau - 1) * (p + r * q) + n * m) / tau}[row]
    return sent / dense, 4 * sent / 1e6


def test_tab2_percentages_and_the_whole_model_step_follow_the_closed_forms():
    table = pd.DataFrame(glt.tab2_rows()).set_index("method")
    assert table.loc["GreedyLore, steady step", "768x768 % of dense"] == pytest.approx(100 * 33 / 768)
    assert table.loc["PowerSGD", "2048x768 % of dense"] == pytest.approx(100 * 32 * 2816 / (2048 * 768))
    assert table.loc["dense", "LLaMA-130M % of dense"] == pytest.approx(100.0)
    for method, row in (("PowerSGD", "PowerSGD"), ("GreedyLore, amortised over tau", "amortised")):
        share, megabytes = _closed_form_share(row)
        assert table.loc[method, "LLaMA-130M % of dense"] == pytest.approx(100 * share, rel=1e-9)
        assert table.loc[method, "LLaMA-130M MB per worker per step"] == pytest.approx(megabytes, rel=1e-9)
    # the matrices are most of the model: compressing them leaves well under half the bytes
    assert table.loc["PowerSGD", "LLaMA-130M % of dense"] < 50


def test_tab2_cells_are_formatted_and_ours_names_the_768_matrix():
    output = glt.draw_tab2(_ctx(NS()))
    table = output.table.set_index("method")
    amortised = table.loc["GreedyLore, amortised over tau"]
    # ((200 - 1) (768 + 32 * 768) + 768^2) / 200 = 28,166.4 floats: not whole, so one decimal
    assert amortised["768x768 floats"] == "28,166.4"
    assert table.loc["dense", "768x768 floats"] == "589,824"
    assert table.loc["GreedyLore, steady step", "768x768 % of dense"] == "4.30"
    assert table.loc["dense", "LLaMA-130M % of dense"] == "100.00"
    assert re.fullmatch(r"\d+\.\d\d", str(table.loc["dense", "LLaMA-130M MB per worker per step"]))
    assert output.ours.startswith("768x768 matrix, r 32: GreedyLore 4.78% of dense amortised over tau 200 "
                                  "(steady 4.30%), PowerSGD 8.33%; whole LLaMA-130M step")


# ------------------------------------------------------------------------------------------------------- tab3
TAB3_ACC = {  # label -> rule -> per-seed final accuracy
    "dense": {"planted": [0.80, 0.90], "majority": [0.70, 0.70], "order": [0.60, 0.80]},
    "greedy": {"planted": [0.75, 0.85], "majority": [0.60, 0.64], "order": [0.50, 0.70]},
}


def _tab3_sweep(duplicate: bool = False) -> NS:
    pairs = []
    arms = (("dense", ("none", {})), ("greedy", ("greedylore", {"rank": 2, "refresh_period": 20})))
    for arm, (method, params) in arms:
        for rule, accuracies in TAB3_ACC[arm].items():
            for seed, accuracy in enumerate(accuracies):
                # an earlier evaluation at step 2 that must not be reported; the final one at step 4
                frame = run_metrics({2: {"accuracy": 0.5, "mcc": 0.0, "f1": 0.5, "eval_loss": 0.7},
                                     4: {"accuracy": accuracy, "mcc": 2 * accuracy - 1, "f1": accuracy + 0.01,
                                         "eval_loss": 0.3}}, all_dense=method == "none")
                pairs.append((fake_point(method, params, seed=seed, rule=rule), fake_record(frame)))
    if duplicate:
        pairs.append(pairs[0])
    return fake_sweep(pairs)


def test_tab3_cells_are_the_final_evaluations_as_mean_and_sample_std():
    output = glt.draw_tab3(_ctx(_tab3_sweep()))
    table = output.table
    assert list(table["method"]) == ["dense", "GreedyLore r2"]  # the runs' order, not alphabetical
    dense, greedy = table.iloc[0], table.iloc[1]
    assert dense["planted token acc"] == "85 ± 7.1"  # 80 and 90: sample std 7.07 (population std 5)
    assert dense["planted token MCC"] == "70 ± 14"  # 60 and 80 (MCC, not F1)
    assert dense["majority acc"] == "70 ± 0"
    assert dense["order acc"] == "70 ± 14"
    # per seed the mean over the three tasks: 70 and 80
    assert dense["average acc"] == "75 ± 7.1"
    assert greedy["average acc"] == "67.3 ± 8"  # 61.67 and 73.0
    assert dense["bytes / step (% of dense)"] == "100" and greedy["bytes / step (% of dense)"] == "25"
    assert "_average" not in table.columns
    assert output.ours == ("average accuracy over the 3 tasks, mean ± std over 2 seeds: dense 75 ± 7.1%, "
                           "GreedyLore r2 67.3 ± 8%")
    data = output.data
    assert len(data) == 12 and set(data["step"]) == {4}
    assert sorted(data.loc[data["label"] == "dense", "accuracy"]) == pytest.approx([0.6, 0.7, 0.7, 0.8, 0.8, 0.9])


def test_tab3_refuses_two_runs_of_one_seed():
    with pytest.raises(ValueError, match="one dense run per seed for rule 'planted'"):
        glt.draw_tab3(_ctx(_tab3_sweep(duplicate=True)))


# ------------------------------------------------------------------------------------------------------- tab4
TAB4_ARMS = [  # method, rank, bytes per compressed step (of 1000 dense), per-seed final perplexity
    ("none", None, 1000.0, [2.0, 4.0]),
    ("powersgd", 2, 100.0, [5.0, 5.0]),
    ("powersgd", 3, 200.0, [6.0, 8.0]),
    ("powersgd", 8, 500.0, [3.5, 3.5]),
    ("greedylore", 2, 190.0, [4.0, 6.0]),
    ("greedylore", 8, 450.0, [2.5, 3.5]),
]


def _tab4_sweep() -> NS:
    pairs = []
    for method, rank, step_bytes, perplexities in TAB4_ARMS:
        params = {} if rank is None else {"rank": rank, **({"refresh_period": 25} if method == "greedylore" else {})}
        for seed, ppl in enumerate(perplexities):
            frame = run_metrics({2: {"eval_loss": 3.0}, 4: {"eval_loss": math.log(ppl)}}, step_bytes=step_bytes,
                                all_dense=method == "none")
            pairs.append((fake_point(method, params, seed=seed, d_model=32), fake_record(frame)))
    return fake_sweep(pairs)


def test_tab4_rows_pick_their_arms_and_report_perplexity_mean_and_sample_std():
    output = glt.draw_tab4(_ctx(_tab4_sweep()))
    table = output.table.set_index("method")
    ppl, rank = "ours d_model 32 (char ppl)", "d_model 32 rank, bytes/step (% of dense)"
    assert table[ppl].to_dict() == {
        "dense AdamW": "3 ± 1.4", "PowerSGD, r = d/16": "5 ± 0", "PowerSGD, equal bytes": "7 ± 1.4",
        "PowerSGD, r = d/4": "3.5 ± 0", "GreedyLore, r = d/16": "5 ± 1.4", "GreedyLore, r = d/4": "3 ± 0.71"}
    assert table[rank].to_dict() == {
        "dense AdamW": "100%", "PowerSGD, r = d/16": "r2, 10%", "PowerSGD, equal bytes": "r3, 20%",
        "PowerSGD, r = d/4": "r8, 50%", "GreedyLore, r = d/16": "r2, 19%", "GreedyLore, r = d/4": "r8, 45%"}
    assert table.loc["dense AdamW", "paper 60M (C4 ppl)"] == 33.44
    assert table.loc["dense AdamW", "paper 130M (C4 ppl)"] == 24.73
    assert table.loc["dense AdamW", "paper 350M (C4 ppl)"] == "—"
    assert table.loc["GreedyLore, r = d/16", "paper 60M (C4 ppl)"] == "—"
    assert output.ours.startswith("d_model 32 (for 60M): dense AdamW 3 ± 1.4, PowerSGD d/16 5 ± 0, PowerSGD, "
                                  "equal bytes 7 ± 1.4, PowerSGD d/4 3.5 ± 0, GreedyLore d/16 5 ± 1.4, ")
    assert "mean ± std over 2 seeds" in output.ours


def test_tab4_data_has_one_row_per_arm_and_seed_with_its_perplexity():
    data = glt.draw_tab4(_ctx(_tab4_sweep())).data
    assert len(data) == 12
    equal = data[data["method"] == "PowerSGD, equal bytes"].sort_values("seed")
    assert list(equal["rank"]) == [3, 3] and list(equal["bytes_share"]) == pytest.approx([0.2, 0.2])
    assert list(equal["char_perplexity"]) == pytest.approx([6.0, 8.0])
    assert list(equal["final_eval_loss"]) == pytest.approx([math.log(6.0), math.log(8.0)])


# ------------------------------------------------------------------------------------------------------- tab5
TAB5_STEP_MS = {  # (bandwidth, d_model) -> method -> step time (ms)
    (100.0, 256): {"none": 4.0, "powersgd": 2.0, "greedylore": 1.0},
    (100.0, 512): {"none": 8.0, "powersgd": 6.0, "greedylore": 3.0},
    (25.0, 256): {"none": 8.0, "powersgd": 4.0, "greedylore": 2.0},
    (25.0, 512): {"none": 16.0, "powersgd": 12.0, "greedylore": 4.0},
}
TAB5_PARAMS = {"none": {}, "powersgd": {"rank": 32}, "greedylore": {"rank": 32, "refresh_period": 200}}


def _tab5_sweep(steps: int = 500) -> NS:
    points, runs = [], []
    for (bandwidth, d_model), methods in TAB5_STEP_MS.items():
        for method, step_ms in methods.items():
            refresh = np.zeros(steps, dtype=bool)
            if method == "greedylore":
                refresh[[0, 200, 400]] = True
            metrics = pd.DataFrame({"step_time_ms": step_ms, "refresh": refresh, "compute_ms": 1.0,
                                    "compression_ms": 0.25, "comm_ms": step_ms - 1.25,
                                    "payload_bytes_per_worker": 2e6}, index=range(steps))
            scenario = NS(cluster=NS(device="h100"), network=NS(intra_node=NS(bandwidth_gbps=bandwidth)),
                          workload=NS(model=NS(d_model=d_model)), technique=NS(name=method, params=TAB5_PARAMS[method]))
            info = {"timing_sources": {"exact": 3, "interpolated": 2, "roofline": 1},
                    "timings": {"table_set": "h100", "tables_folder": "tables/h100"}}
            points.append(NS(scenario=scenario))
            runs.append(NS(info=info, read_metrics=metrics.copy))
    return NS(points=points, runs=runs)


def test_time_table_needs_exactly_500_steps():
    for steps in (499, 501):
        with pytest.raises(ValueError, match="500 steps per run"):
            glt.time_table(_tab5_sweep(steps))


def test_time_table_totals_and_per_step_means():
    times = glt.time_table(_tab5_sweep()).set_index(["bandwidth_gbps", "d_model", "method"])
    greedy = times.loc[(100.0, 512, "GreedyLore r32")]
    assert greedy["total_s"] == pytest.approx(1.5)  # 500 x 3 ms
    assert greedy["refresh_steps"] == 3 and times.loc[(100.0, 512, "dense"), "refresh_steps"] == 0
    assert greedy["compute_ms_per_step"] == 1.0 and greedy["compression_ms_per_step"] == 0.25
    assert greedy["comm_ms_per_step"] == pytest.approx(1.75)
    assert greedy["payload_mb_per_worker_per_step"] == pytest.approx(2.0)
    assert greedy["device"] == "h100"


def test_tab5_rows_speed_ups_and_ours():
    output = glt.draw_tab5(_ctx(_tab5_sweep()))
    table = output.table.set_index("row")
    assert list(table.index) == [
        "GreedyLore r32, 100 Gbit/s", "PowerSGD r32, 100 Gbit/s", "dense, 100 Gbit/s",
        "GreedyLore speed-up vs dense, 100 Gbit/s", "GreedyLore speed-up vs PowerSGD, 100 Gbit/s",
        "GreedyLore r32, 25 Gbit/s", "PowerSGD r32, 25 Gbit/s", "dense, 25 Gbit/s",
        "GreedyLore speed-up vs dense, 25 Gbit/s", "GreedyLore speed-up vs PowerSGD, 25 Gbit/s"]
    assert list(table.columns) == ["d_model 256 (s)", "d_model 512 (s)"]
    assert list(table.loc["dense, 25 Gbit/s"]) == pytest.approx([4.0, 8.0])
    assert list(table.loc["GreedyLore speed-up vs dense, 100 Gbit/s"]) == pytest.approx([4.0, 8 / 3])
    assert list(table.loc["GreedyLore speed-up vs PowerSGD, 25 Gbit/s"]) == pytest.approx([2.0, 3.0])
    assert output.ours == ("NVIDIA H100 80GB HBM3, 100 Gbit/s, d_model 256/512: GreedyLore r32 0.5/1.5 s; "
                           "PowerSGD r32 1.0/3.0 s; dense 2.0/4.0 s (timing tables: 60 predictions from tables, "
                           "12 roofline estimates)")


def test_timing_provenance_sums_nested_counts_over_runs():
    sweep = NS(runs=[NS(info={"timing_sources_by_op": {"gemm": {"exact": 2}}, "timings": {"table_set": "a"}}),
                     NS(info={"timing_sources_by_op": {"gemm": {"exact": 5}, "qr": {"roofline": 1}},
                              "timings": {"table_set": "a", "tables_missing": "no tables"}})])
    provenance = glt._timing_provenance(sweep)
    assert provenance["sources"] == {"timing_sources_by_op.gemm.exact": 7, "timing_sources_by_op.qr.roofline": 1}
    assert provenance["table_sets"] == ["a: None", "a: no tables"]


def test_device_label_falls_back_to_the_name():
    assert glt.device_label("rtx4090") != "rtx4090" and "4090" in glt.device_label("rtx4090")
    assert glt.device_label("no-such-device") == "no-such-device"


# ------------------------------------------------------------------------------------------------------- tab7
def test_tab7_ours_reads_the_scenario_in_both_profiles():
    full = glt.tab7_ours("full")
    assert full["model"] == "char-level GPT, 2 blocks, d_model 32 / 64"
    assert full["steps (total / warm-up)"] == "700/70"
    assert full["global batch (sequences)"] == "4 workers x 8 = 32"
    assert full["sequence length"] == "32 characters"
    assert full["optimizer, lr"] == ("adamw, lr per method and width from 0.001 / 0.003 / 0.01 "
                                     "(tuning runs of 200 steps)")
    assert full["ranks"].startswith("1, 2, 4, 8, 16 (")  # GreedyLore's ranks only (PowerSGD's 3 and 5 are not)
    assert full["refresh period tau"] == "5, 25, 100 (base 25)"
    assert full["compression starts"] == "step 70 (dense all-reduce before)"
    assert full["seeds"] == "3 per arm"
    quick = glt.tab7_ours("quick")
    assert quick["steps (total / warm-up)"] == "60/6 (quick profile)"
    assert quick["optimizer, lr"].endswith("(tuning runs of 40 steps)")
    table = glt.draw_tab7(NS(profile="full")).table.set_index("setting")
    assert table.loc["sequence length", "paper (C4)"] == "256 tokens"
    assert table.loc["sequence length", "ours (tiny GPT)"] == "32 characters"
