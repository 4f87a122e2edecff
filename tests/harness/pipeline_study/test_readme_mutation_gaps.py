"""Gaps in the tests of `harness.pipeline_study.readme` found by a mutation audit.

The README was checked only for the presence of the op-profile text. Closed here, on a hand-built study:
- the result line: median |error|, configuration count, target met / missed, worst signed error;
- each table row's numbers (p10-p90, signed errors, a missing op-profile value as ``-``, the busy fraction);
- the links (loopback plain; a shaped link with its configured rate and efficiency) and the priority note;
- the reading: under-predicted count and the measured / predicted compute span, the shared-cores line only for
  runs with more stages than cores, the single-flush source dated against `CACHE_STATE_SINCE`;
- the history ranges and rows, and the agreement line (yes / NO and the message count).
"""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from harness.pipeline_study.readme import CACHE_STATE_SINCE, _priority, readme_text


def _runs() -> pd.DataFrame:
    return pd.DataFrame({
        "network": ["loopback", "100mbit"], "stages": [2, 4], "schedule": ["gpipe", "1f1b"],
        "method": ["none/none", "tahquant/fixpoint(bits=6)"], "fwd_wire_bytes": [131072, 18128],
        "measured_ms": [100.0, 200.0], "measured_ms_p10": [90.0, 180.0], "measured_ms_p90": [110.0, 250.0],
        "predicted_ms": [110.0, 150.0], "error_pct": [10.0, -25.0],
        "predicted_ms_op_profile": [105.0, float("nan")], "error_pct_op_profile": [5.0, float("nan")],
        "predicted_ms_measured_compute": [98.0, 190.0], "error_pct_measured_compute": [-2.0, -5.0],
        "measured_stage_compute_ms": [20.0, 30.0], "predicted_stage_compute_ms": [25.0, 20.0],
        "predicted_stage_compute_ms_op_profile": [18.0, 22.0],
        "predicted_stage_compute_ms_single_flush": [40.0, 15.0],
        "cpu_busy_before": [0.05, float("nan")], "cpu_share_factor": [1.0, 2.0],
        "sender_receiver_agree": [True, True], "messages_checked": [40, 60],
    })


def _summary(median: float = 17.5, meets: bool = False) -> pd.DataFrame:
    return pd.DataFrame([{"network": "all", "n_points": 2, "median_abs_error_pct": median, "meets_target": meets,
                          "worst_error_pct": -25.0, "median_abs_error_pct_single_flush": 30.0,
                          "median_abs_error_pct_measured_compute": 3.5, "median_abs_error_pct_kernel_codec": 12.0,
                          "median_abs_error_pct_eager": 22.0, "median_abs_error_pct_op_profile": 7.0}])


def _meta(**extra) -> dict:
    plan = {"model": {"d_model": 256, "n_layers": 4, "vocab_size": 1024}, "n_micro_batches": 4, "micro_batch": 2,
            "seq_len": 64, "warmup_steps": 3, "measured_steps": 8}
    links = {"loopback": {"payload_gbps": 2.5, "configured_gbps": 2.5, "protocol_efficiency": 1.0,
                          "latency_us": 150.4, "source": "loopback fit"},
             "100mbit": {"payload_gbps": 0.0956, "configured_gbps": 0.1, "protocol_efficiency": 0.956,
                         "latency_us": 420.0, "source": "netns fit"}}
    return {"plan": plan, "protocol": "PROTOCOL", "links": links, "machine": {"logical_cores": 2, "torch": "2.x"},
            "target_median_abs_error_pct": 15.0, "date": "2026-12-07T00:00:00Z", **extra}


def _study(runs=None, summary=None, meta=None, op_times=None):
    return SimpleNamespace(runs=_runs() if runs is None else runs, summary=_summary() if summary is None else summary,
                           meta=_meta() if meta is None else meta, op_times=op_times)


def test_result_line_reports_the_median_the_target_and_the_worst_error():
    text = readme_text(_study())
    assert "17.5% over 2 configurations (target <= 15%: missed); worst -25.0%." in text
    assert "(target <= 15%: met)" in readme_text(_study(summary=_summary(median=15.0, meets=True)))
    assert "single-flush CPU tables instead" in text and ": 30.0%. " in text
    assert "Measured per-micro-batch stage compute / the tables' prediction: median 1.15x." in text  # 0.8, 1.5


def test_compute_ratio_is_the_median_over_the_runs():
    three = pd.concat([_runs(), _runs().iloc[[0]]], ignore_index=True)  # ratios 0.8, 1.5, 0.8
    text = readme_text(_study(runs=three))
    assert "12.0%. Measured per-micro-batch stage compute / the tables' prediction: median 0.80x." in text


def test_table_rows_carry_each_configurations_numbers():
    lines = readme_text(_study()).splitlines()
    assert ("| loopback | 2 | gpipe | none/none | 131072 | 100.0 (90.0-110.0) | 110.0 | +10.0 | 105.0 | +5.0 | "
            "98.0 | -2.0 | 20.0 / 25.0 / 18.0 | 5% |") in lines
    assert ("| 100mbit | 4 | 1f1b | tahquant/fixpoint(bits=6) | 18128 | 200.0 (180.0-250.0) | 150.0 | -25.0 | - | "
            "- | 190.0 | -5.0 | 30.0 / 20.0 / 22.0 | ? |") in lines


def test_links_and_priority():
    text = readme_text(_study(meta=_meta(niceness=19)))
    assert "- loopback: 2500.0 Mbit/s, latency 150 us (loopback fit)" in text
    assert ("- 100mbit: 95.6 Mbit/s of payload (configured 100 x efficiency 0.956), latency 420 us (netns fit)"
            in text)
    assert "ran at niceness 19, so the other jobs" in text
    assert _priority({}) == "" and _priority({"niceness": 0}) == ""
    assert "autogroup" in _priority({"niceness": 5, "autogroup_nice": 5})
    assert "autogroup" not in _priority({"niceness": 5})


def test_reading_counts_under_predictions_and_the_compute_span():
    text = readme_text(_study())
    assert "- 1 of 2 configurations are under-predicted" in text
    assert "spans 0.80x to 1.50x)" in text
    exact = _runs().assign(error_pct=[0.0, -25.0])  # an exact prediction is not an under-prediction
    assert "- 1 of 2 configurations are under-predicted" in readme_text(_study(runs=exact))


def test_reading_names_only_runs_with_more_stages_than_cores():
    text = readme_text(_study())
    assert "- 1 configuration(s) run more stage processes than the machine has cores" in text
    assert "(2x): signed errors -25.0%." in text
    alone = _runs().assign(cpu_share_factor=1.0)
    assert "more stage processes than" not in readme_text(_study(runs=alone))


def test_single_flush_source_is_dated_against_the_switch():
    before = readme_text(_study())  # measured 2026-12-07, after the switch
    assert "replaced before these measurements were taken" in before
    assert "measured / predicted stage compute 1.25x." in before  # median of 0.5 and 2.0 (single-flush)
    older = _meta(date="2026-12-01T00:00:00Z")
    assert "2026-12-01T00:00:00Z" < CACHE_STATE_SINCE
    assert "replaced after these measurements were taken" in readme_text(_study(meta=older))


def test_history_ranges_and_rows():
    history = pd.DataFrame({"date": ["2026-12-05", "2026-12-06"], "n_configurations": [19, 19],
                            "median_abs_error_pct": [9.0, 12.5], "median_abs_error_pct_single_flush": [20.0, 30.0],
                            "median_abs_error_pct_op_profile": [float("nan"), 8.0],
                            "median_abs_error_pct_measured_compute": [3.0, 4.0],
                            "stage_compute_measured_over_tables": [0.9, 1.1], "load_average_before": [1.5, 2.0]})
    text = readme_text(_study(), history=history)
    assert "Over 2 run(s) the median |error| ranges 9.0-12.5% (single-flush tables: 20.0-30.0%)" in text
    assert "give 3.0-4.0%, and measured / predicted stage compute ranges 0.90-1.10x." in text
    assert "| 2026-12-05 | 19 | 9.0 | 20.0 | - | 3.0 | 0.90x | 1.50 |" in text.splitlines()
    assert "`history/<date>/`" in text
    without = readme_text(_study(), history=history.iloc[0:0])
    assert "## Runs of this plan" not in without and "`history/<date>/`" not in without


def test_agreement_line():
    assert "agreed bit for bit in every configuration: yes (100 messages checked)." in readme_text(_study())
    broken = _runs().assign(sender_receiver_agree=[True, False])
    assert ": NO (see `sender_receiver_agree`) (100 messages checked)." in readme_text(_study(runs=broken))
