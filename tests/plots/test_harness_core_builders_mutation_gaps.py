"""Gaps in the tests of `harness_core` and `harness_pipeline` found by a mutation audit.

Their verdicts were audited before (test_harness_verdict_mutation_gaps.py); this file closes gaps in the code that
builds their data, on hand-built metrics frames, sweeps and committed tables:
- `format_bytes` keeps three significant digits; `set_size_axis` labels every size once, every other one (from
  the smallest) above seven sizes;
- `model_agreement` without a ``model`` column, and with a point that only one of the two models covers;
- `draw_time_vs_size`: only the all-reduce rows count (none: an error), the table's key columns and row order, and
  the "ours" sentence (points that agree exactly, the largest absolute difference in ns and in %, both signed
  negative);
- `draw_time_vs_ranks`: the tree/ring ratio per message size (ascending) at the largest rank count, two
  significant digits, the table's key columns, row order and relative differences;
- `harness_pipeline.load`'s labels, and `draw_pipeline_fidelity`'s table columns (the optional op-profile and
  single-flush ones only where the study has them), "ours" sentence (median |error| of both predictions, the
  range over the plan's measuring runs), the verdict taken from every row, and the provenance naming both inputs.
"""

from __future__ import annotations

from types import SimpleNamespace as NS

import pandas as pd
import pytest
from matplotlib.figure import Figure

from plots.papers import harness_core as hc
from plots.papers import harness_pipeline as hp


# ------------------------------------------------------------------------------------------------ helpers
def test_format_bytes_keeps_three_significant_digits():
    assert hc.format_bytes(1280) == "1.25 KiB"
    assert hc.format_bytes(3 * (1 << 29)) == "1.5 GiB"


@pytest.mark.parametrize("count, shown", [(7, [0, 1, 2, 3, 4, 5, 6]), (8, [0, 2, 4, 6])])
def test_set_size_axis_thins_the_ticks_above_seven_sizes(count, shown):
    sizes = [1024 * 4**i for i in range(count)]
    ax = Figure().add_subplot()
    hc.set_size_axis(ax, pd.Series(sizes + [1024, sizes[-1]]))  # repeated sizes count once
    assert list(ax.get_xticks()) == [float(sizes[i]) for i in shown]
    labels = [label.get_text() for label in ax.get_xticklabels()]
    assert labels[:2] == (["1 KiB", "4 KiB"] if count == 7 else ["1 KiB", "16 KiB"])
    assert ax.get_xscale() == "log"


def _metric_rows(times: dict[tuple[str, int, int], tuple[int, int]], op: str = "all_reduce") -> list[dict]:
    """(algorithm, n_ranks, size_bytes) -> (closed-form ns, link-level ns); one row per model."""
    rows = []
    for (algorithm, ranks, size), pair in times.items():
        for model, time_ns in zip(hc.MODELS, pair, strict=True):
            rows.append({"op": op, "algorithm": algorithm, "n_ranks": ranks, "size_bytes": size, "model": model,
                         "time_ns": time_ns, "time_us": time_ns / 1000.0, "busbw_gbps": size / max(time_ns, 1)})
    return rows


def test_model_agreement_needs_the_model_column():
    metrics = pd.DataFrame(_metric_rows({("ring", 8, 1024): (100, 100)})).drop(columns="model")
    with pytest.raises(ValueError, match="no 'model' column"):
        hc.model_agreement(metrics, ("algorithm", "n_ranks", "size_bytes"))


@pytest.mark.parametrize("model", ["closed_form", "link_level"])
def test_model_agreement_rejects_a_point_that_one_model_lacks(model):
    rows = _metric_rows({("ring", 8, 1024): (100, 100), ("ring", 8, 4096): (200, 200)})
    metrics = pd.DataFrame(rows)
    metrics = metrics[~((metrics["size_bytes"] == 4096) & (metrics["model"] == model))]
    with pytest.raises(ValueError, match="both models"):
        hc.model_agreement(metrics, ("algorithm", "n_ranks", "size_bytes"))


# ----------------------------------------------------------------------------------------- time vs size
def _ctx(scenario: str, rows: list[dict]) -> NS:
    sweeps = {scenario: NS(metrics=pd.DataFrame(rows))}
    return NS(run=lambda path: sweeps[path])


SIZE_POINTS = {
    ("tree", 8, 4096): (4000, 4100),  # +100 ns, +2.5%
    ("ring", 8, 4096): (2000, 2000),
    ("tree", 8, 1024): (1500, 1200),  # -300 ns, -20%: the largest difference, below the closed form
    ("ring", 8, 1024): (1000, 1000),
}


def _size_output():
    rows = _metric_rows(SIZE_POINTS)
    rows += _metric_rows({("ring", 8, 65536): (7, 7)}, op="all_gather")
    rows += _metric_rows({("ring", 8, 65536): (9, 9)}, op="reduce_scatter")
    return hc.draw_time_vs_size(_ctx(hc.VS_SIZE, rows))


def test_time_vs_size_ours_counts_exact_points_and_the_largest_absolute_difference():
    ours = _size_output().ours
    assert ours == "link-level = closed form (integer ns) at 2/4 points; largest difference 300 ns (20%)"


def test_time_vs_size_table_keeps_only_all_reduce_keyed_by_algorithm_ranks_size():
    data = _size_output().data
    assert list(data.columns[:3]) == ["algorithm", "n_ranks", "size_bytes"]
    assert list(zip(data["algorithm"], data["size_bytes"], strict=True)) == [
        ("ring", 1024), ("ring", 4096), ("tree", 1024), ("tree", 4096)]
    assert list(data["rel_diff_pct"]) == pytest.approx([0.0, 0.0, -20.0, 2.5])
    assert list(data["time_us_link_level"]) == pytest.approx([1.0, 2.0, 1.2, 4.1])


def test_time_vs_size_without_all_reduce_rows_is_an_error():
    rows = _metric_rows({("ring", 8, 1024): (100, 100)}, op="all_gather")
    with pytest.raises(ValueError, match="no all_reduce rows"):
        hc.draw_time_vs_size(_ctx(hc.VS_SIZE, rows))


# ---------------------------------------------------------------------------------------- time vs ranks
RANK_POINTS = {
    ("ring", 64, 1 << 20): (1000, 1000), ("tree", 64, 1 << 20): (1260, 1260),  # tree / ring 1.26 at 64 ranks
    ("ring", 8, 1 << 20): (1000, 1000), ("tree", 8, 1 << 20): (1500, 1500),
    ("ring", 64, 1024): (400, 400), ("tree", 64, 1024): (252, 252),  # 0.63 at 64 ranks
    ("ring", 8, 1024): (100, 100), ("tree", 8, 1024): (80, 80),  # 0.8 at 8 ranks
}


def _ranks_output():
    return hc.draw_time_vs_ranks(_ctx(hc.VS_RANKS, _metric_rows(RANK_POINTS)))


def test_time_vs_ranks_ours_gives_tree_over_ring_per_size_at_the_largest_rank_count():
    ours = _ranks_output().ours
    assert ours == ("tree/ring time at 64 ranks: 1 KiB 0.63x, 1 MiB 1.3x; link-level = closed form (integer ns) "
                    "at 8/8 points; largest difference 0 ns (0%)")


def test_time_vs_ranks_table_is_keyed_by_size_algorithm_ranks():
    output = _ranks_output()
    data = output.data
    assert list(data.columns[:3]) == ["size_bytes", "algorithm", "n_ranks"]
    assert list(zip(data["size_bytes"], data["algorithm"], data["n_ranks"], strict=True)) == [
        (1024, "ring", 8), (1024, "ring", 64), (1024, "tree", 8), (1024, "tree", 64),
        (1 << 20, "ring", 8), (1 << 20, "ring", 64), (1 << 20, "tree", 8), (1 << 20, "tree", 64)]
    assert list(data["time_ns_closed_form"]) == [100, 400, 80, 252, 1000, 1000, 1500, 1260]
    assert list(data["rel_diff_pct"]) == [0.0] * 8
    assert output.verdict.status == "reproduced"  # the tree wins at 1 KiB and loses at 1 MiB on 64 ranks


# ------------------------------------------------------------------------------------- pipeline fidelity
PIPELINE_COLUMNS = [
    "network", "stages", "schedule", "method", "fwd_wire_bytes", "bwd_wire_bytes", "measured_ms", "measured_ms_p10",
    "measured_ms_p90", "predicted_ms", "error_pct", "predicted_ms_measured_compute", "error_pct_measured_compute",
    "predicted_ms_eager", "error_pct_eager", "measured_stage_compute_ms", "predicted_stage_compute_ms",
    "cpu_busy_before", "sender_receiver_agree", "messages_checked", "loss_first", "loss_last"]
OPTIONAL = ["predicted_ms_op_profile", "error_pct_op_profile", "predicted_stage_compute_ms_op_profile",
            "predicted_ms_single_flush", "error_pct_single_flush", "predicted_stage_compute_ms_single_flush"]
RUNS = "results/pipeline/runs.csv"
HISTORY = "results/pipeline/history.csv"


def _pipeline_runs(optional: bool = True, agree: tuple[bool, ...] = (True, True, True)) -> pd.DataFrame:
    keys = [("netns-100", 4, "1f1b", "tahquant/fixpoint(bits=6)"), ("loopback", 2, "gpipe", "none/none"),
            ("netns-100", 2, "1f1b", "aqsgd/fixpoint(bits=6)")]  # not sorted: the table keeps the file's order
    rows = []
    for i, ((network, stages, schedule, method), error, measured, ok) in enumerate(
            zip(keys, (-20.0, 5.0, 10.0), (-1.0, 2.0, -3.0), agree, strict=True)):
        row = {"run_index": i, "rate_mbit": 100.0, "network": network, "stages": stages, "schedule": schedule,
               "method": method, "fwd_wire_bytes": 1000, "bwd_wire_bytes": 2000, "measured_ms": 100.0,
               "measured_ms_p10": 90.0, "measured_ms_p90": 120.0, "predicted_ms": 100.0 / (1 + error / 100),
               "error_pct": error, "predicted_ms_measured_compute": 100.0, "error_pct_measured_compute": measured,
               "predicted_ms_eager": 95.0, "error_pct_eager": -5.0, "measured_stage_compute_ms": 10.0,
               "predicted_stage_compute_ms": 10.0, "cpu_busy_before": 0.1, "sender_receiver_agree": ok,
               "messages_checked": 8, "loss_first": 10.0, "loss_last": 9.0}
        if optional:
            row |= {"predicted_ms_op_profile": 101.0, "error_pct_op_profile": 1.0,
                    "predicted_stage_compute_ms_op_profile": 9.0, "predicted_ms_single_flush": 102.0,
                    "error_pct_single_flush": 2.0, "predicted_stage_compute_ms_single_flush": 8.0}
        rows.append(row)
    return pd.DataFrame(rows)


def _pipeline_ctx(runs: pd.DataFrame) -> NS:
    history = pd.DataFrame({"date": ["a", "b", "c"], "median_abs_error_pct": [12.0, 4.64387, 24.6694]})
    frames = {RUNS: runs, HISTORY: history}
    return NS(read_csv=lambda path: frames[path].copy())


def test_pipeline_load_labels_network_stages_schedule_and_short_method():
    labels = hp.load(_pipeline_ctx(_pipeline_runs()))["label"]
    assert list(labels) == ["netns-100 4st 1f1b tahquant/fixpoint6", "loopback 2st gpipe none/none",
                            "netns-100 2st 1f1b aqsgd/fixpoint6"]


@pytest.mark.parametrize("optional", [True, False])
def test_pipeline_table_has_the_optional_columns_only_where_the_study_has_them(optional):
    output = hp.draw_pipeline_fidelity(_pipeline_ctx(_pipeline_runs(optional)))
    assert list(output.data.columns) == PIPELINE_COLUMNS + (OPTIONAL if optional else [])
    assert list(output.data["error_pct"]) == [-20.0, 5.0, 10.0]


def test_pipeline_ours_gives_both_medians_and_the_range_over_the_measuring_runs():
    ours = hp.draw_pipeline_fidelity(_pipeline_ctx(_pipeline_runs())).ours
    # |error| 20, 5, 10 -> 10; the runs' own stage times: |-1|, 2, |-3| -> 2; history 4.6 .. 24.7 over 3 runs
    assert ours == ("median |error| 10.0% over 3 configurations (with the runs' own stage times: 2.0%); over the 3 "
                    "measuring run(s) of this plan, each predicted again: 4.6-24.7%")


def test_pipeline_verdict_counts_every_row_and_provenance_names_both_inputs():
    output = hp.draw_pipeline_fidelity(_pipeline_ctx(_pipeline_runs(agree=(False, True, True))))
    assert [check.holds for check in output.verdict.checks] == [True, False]  # the first run's bytes disagree
    assert output.provenance["inputs"] == [RUNS, HISTORY]
