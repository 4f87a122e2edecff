"""Gaps in the tests of `harness.pipeline_study.study` found by a mutation audit.

Its table and summary parts only.

`reduce_records` was checked only through real stage processes (tests that spawn workers); here it gets
hand-built records. Closed here:
- the step time is the slowest stage per timed step (warm-up steps left out), its median, p10 and p90;
- a clock a stage did not report in a step counts as 0 ms there;
- wire bytes per micro-batch from stage 0 (forward) and stage 1 (backward), the payload per micro-batch, the
  bytes per boundary and step, per-stage clock medians and the busiest stage's compute per micro-batch;
- the first and last loss of the last stage in step order; the digest check counts every message and needs
  at least one, and one mismatch makes it fail;
- `summary_table`: median |error| per network and overall, the worst SIGNED error, the target met at exactly
  the target, and an error column with a gap left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.pipeline_study.plan import ModelSpec, RunSpec, StudyPlan, run_config
from harness.pipeline_study.study import TARGET_MEDIAN_PCT, reduce_records, summary_table

MS = 1_000_000


def _config(network: str = "100mbit"):
    plan = StudyPlan(model=ModelSpec(d_model=64, d_ff=128, n_heads=2, n_layers=2, vocab_size=64), micro_batch=2,
                     seq_len=8, n_micro_batches=2, runs=[RunSpec(stages=2, networks=[network])])
    return run_config(plan, plan.runs[0], network)


def _step(step, measured, total_ms, forward_ms, backward_ms, loss=None, **bytes_sent):
    row = {"step": step, "measured": measured, "total_ns": total_ms * MS, "forward_ns": forward_ms * MS,
           "backward_ns": backward_ms * MS, **bytes_sent}
    return row if loss is None else {**row, "loss": loss}


def _records(received_fwd=("a", "b"), received_bwd=("c",)):
    zero = {"sent_fwd_bytes": 0, "sent_bwd_bytes": 0, "payload_fwd_bytes": 0}
    rank0 = [_step(0, False, 100, 50, 50, sent_fwd_bytes=9000, sent_bwd_bytes=0, payload_fwd_bytes=9000),
             _step(1, True, 10, 4, 8, sent_fwd_bytes=1000, sent_bwd_bytes=0, payload_fwd_bytes=900),
             _step(2, True, 30, 6, 10, sent_fwd_bytes=1000, sent_bwd_bytes=0, payload_fwd_bytes=800),
             _step(3, True, 20, 5, 9, sent_fwd_bytes=1200, sent_bwd_bytes=0, payload_fwd_bytes=1300)]
    rank1 = [_step(0, False, 50, 1, 1, loss=5.0, **{**zero, "sent_bwd_bytes": 9000}),
             _step(3, True, 40, 3, 6, loss=2.5, **{**zero, "sent_bwd_bytes": 600, "send_wait_ns": 6 * MS}),
             _step(1, True, 12, 3, 7, loss=4.0, **{**zero, "sent_bwd_bytes": 400}),
             _step(2, True, 25, 3, 5, loss=3.0, **{**zero, "sent_bwd_bytes": 600})]
    return [
        {"rank": 0, "steps": rank0, "digests": {"sent_fwd": ["a", "b"], "received_bwd": list(received_bwd)}},
        {"rank": 1, "steps": rank1, "digests": {"received_fwd": list(received_fwd), "sent_bwd": ["c"]}},
    ]


def test_reduce_records_takes_the_slowest_stage_of_each_timed_step():
    row, steps = reduce_records(_records(), _config(), run_index=5)
    # slowest per timed step: 12, 30, 40 ms (the warm-up step's 100 ms is left out)
    assert row["measured_ms"] == 30.0
    assert row["measured_ms_p10"] == pytest.approx(15.6)  # 12 + 0.2 * (30 - 12)
    assert row["measured_ms_p90"] == pytest.approx(38.0)  # 30 + 0.8 * (40 - 30)
    assert row["n_steps"] == 3
    assert (row["run_index"], row["network"], row["rate_mbit"], row["stages"]) == (5, "100mbit", 100.0, 2)
    assert list(steps.columns[:2]) == ["run_index", "network"] and len(steps) == 8


def test_reduce_records_bytes_clocks_and_compute_per_micro_batch():
    row, _ = reduce_records(_records(), _config(), run_index=0)
    assert row["fwd_wire_bytes"] == 500  # median 1000 B per step over 2 micro-batches
    assert row["bwd_wire_bytes"] == 300  # median 600 B from stage 1
    assert row["fwd_payload_bytes"] == 450.0  # median 900 B (the mean would be 1000 B)
    assert row["bytes_per_boundary_per_step"] == 2 * (500 + 300)
    assert (row["measured_forward_ms_s0"], row["measured_backward_ms_s0"]) == (5.0, 9.0)
    assert (row["measured_forward_ms_s1"], row["measured_backward_ms_s1"]) == (3.0, 6.0)
    assert row["measured_wait_ms_s0"] == 0.0  # a clock no stage reported
    assert row["measured_send_wait_ms_s1"] == 0.0  # reported in one step of three: 0, 0, 6 ms
    assert row["measured_stage_compute_ms"] == 7.0  # max(5 + 9, 3 + 6) / 2


def test_reduce_records_reads_the_losses_in_step_order():
    row, _ = reduce_records(_records(), _config(), run_index=0)
    assert (row["loss_first"], row["loss_last"]) == (5.0, 2.5)


def test_reduce_records_checks_every_message_digest():
    row, _ = reduce_records(_records(), _config(), run_index=0)
    assert (row["messages_checked"], row["sender_receiver_agree"]) == (3, True)
    row, _ = reduce_records(_records(received_fwd=("a", "x")), _config(), run_index=0)
    assert row["sender_receiver_agree"] is False
    row, _ = reduce_records(_records(received_bwd=("z",)), _config(), run_index=0)
    assert row["sender_receiver_agree"] is False


def test_reduce_records_with_no_message_checked_does_not_agree():
    records = _records()
    records[0]["digests"] = {"sent_fwd": [], "received_bwd": []}
    records[1]["digests"] = {"received_fwd": [], "sent_bwd": []}
    row, _ = reduce_records(records, _config("loopback"), run_index=0)
    assert (row["messages_checked"], row["sender_receiver_agree"], row["rate_mbit"]) == (0, False, None)


ERROR_COLUMNS = ["error_pct", "error_pct_single_flush", "error_pct_op_profile", "error_pct_kernel_codec",
                 "error_pct_measured_compute", "error_pct_eager"]


def test_summary_table_medians_worst_signed_error_and_target():
    errors = [10.0, -30.0, TARGET_MEDIAN_PCT]
    table = pd.DataFrame({"network": ["loopback", "loopback", "100mbit"],
                          **{c: errors for c in ERROR_COLUMNS}})
    table["error_pct_eager"] = [1.0, 2.0, 3.0]
    table["error_pct_op_profile"] = [1.0, np.nan, 3.0]
    out = summary_table(table)
    assert out["network"].tolist() == ["100mbit", "loopback", "all"]
    assert out["median_abs_error_pct"].tolist() == [15.0, 20.0, 15.0]
    assert out["median_abs_error_pct_eager"].tolist() == [3.0, 1.5, 2.0]
    assert out["worst_error_pct"].tolist() == [15.0, -30.0, -30.0]
    assert out["meets_target"].tolist() == [True, False, True]
    assert "median_abs_error_pct_op_profile" not in out
