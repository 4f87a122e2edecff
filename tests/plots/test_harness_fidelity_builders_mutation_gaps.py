"""Gaps in the tests of `plots.papers.harness_fidelity` and `plots.papers.harness_fidelity_compute` found by a
mutation audit.

Closed here on hand-built tables (the verdict functions were audited in test_harness_verdict_mutation_gaps.py):
- fidelity: `format_bytes` (shared with harness_core) at the unit edges; `load_points`' panel labels (loopback, netns rate as ``%g``, the
  quiet host) and its fresh index; `_panel_order` (loopback, quiet host, netns by rate as a number, absent panels
  left out); `error_summary`'s worst signed error, signed largest over-prediction, the old model's worst, the
  row order and the string rank counts; `ours_text` per panel and over every point; the errors table rounded to
  0.1 (the old model's columns too) with "DP step", the data and the verdict unrounded; the figure's data keeping
  the quiet host's points;
- fidelity_compute: points without a run-spread row kept; the mean signed error per size (by d_model) and the
  point count in the explanation, the fixed-flush and op-profile sentences only when every point has them;
  allocator pairs per shape and thread count and keep / default as the ratio; `ours_text`'s allocator order, |error|
  medians per thread count, the signed worst, the op-profile diagnostic over the points that have it, the run
  spread (fewest runs, at least 2, median over points); the provenance of an unknown allocator; the figure's data
  columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.fidelity.compute import SPREAD_COLUMNS
from plots.papers import harness_fidelity as hf
from plots.papers import harness_fidelity_compute as hfc

QUIET = hf.QUIET_HOST_PANEL
OLD_MEDIAN = f"median |error| %, {hf.OLD_MODEL}"
OLD_WORST = f"worst signed error %, {hf.OLD_MODEL}"


# ------------------------------------------------------------------------------------------------------- fidelity
def _rows(rows: list[tuple], **extra) -> pd.DataFrame:
    """(op, n_ranks, size_bytes, error, old error) -> the columns of the fidelity tables."""
    return pd.DataFrame([{"op": op, "n_ranks": n, "size_bytes": size, "measured_ms": 1.0, "measured_ms_p10": 0.9,
                          "measured_ms_p90": 1.2, hf.PREDICTED: 1.0 + err / 100, hf.OLD_PREDICTED: 1.0 + old / 100,
                          hf.ERROR: err, hf.OLD_ERROR: old, **extra} for op, n, size, err, old in rows])


class _FidelityCtx:
    def __init__(self, tables: dict[str, pd.DataFrame]):
        self.tables = tables

    def read_csv(self, path: str) -> pd.DataFrame:
        assert path in hf.INPUTS
        return self.tables[path].copy()


def _fidelity_tables() -> dict[str, pd.DataFrame]:
    loopback = _rows([("all_reduce", 2, 4096, 4.0, 30.0), ("all_reduce", 2, 1 << 20, -12.0, 80.0),
                      ("all_reduce", 4, 4096, 6.0, -90.0), ("dp_step", 2, 1 << 22, 2.0, 10.0)])
    netns = pd.concat([_rows([("all_reduce", 2, 4096, 20.0, 5.0)], rate_mbit=1000.0),
                       _rows([("all_reduce", 2, 4096, -30.0, -40.0)], rate_mbit=100.0)], ignore_index=True)
    quiet = _rows([("all_reduce", 2, 4096, 150.0, 200.0), ("all_reduce", 2, 1 << 20, -160.0, -10.0)])
    return {hf.LOOPBACK_CSV: loopback, hf.NETNS_CSV: netns, hf.QUIET_HOST_CSV: quiet}


@pytest.mark.parametrize(("size", "text"), [
    (1 << 20, "1 MiB"), ((1 << 20) - 1024, "1023 KiB"), (1 << 10, "1 KiB"), (1023, "1023 B"), (100, "100 B"),
    (99.5, "99.5 B"), (1 << 30, "1 GiB"),
    (3 << 20, "3 MiB"), (1234567, "1.18 MiB"), (1536, "1.5 KiB"),
])
def test_format_bytes_picks_the_largest_unit_reached(size, text):
    assert hf.format_bytes(size) == text


def test_load_points_labels_each_setting_and_numbers_rows_afresh():
    points = hf.load_points(_FidelityCtx(_fidelity_tables()))
    assert list(points["panel"]) == ["loopback"] * 4 + ["netns 1000 Mbit/s", "netns 100 Mbit/s", QUIET, QUIET]
    assert list(points.index) == list(range(8))


def test_panel_order_is_loopback_quiet_host_then_netns_by_rate():
    points = pd.DataFrame({"panel": ["netns 100 Mbit/s", "netns 20 Mbit/s", QUIET, "netns 1000 Mbit/s", "loopback"]})
    assert hf._panel_order(points) == ["loopback", QUIET, "netns 20 Mbit/s", "netns 100 Mbit/s",
                                       "netns 1000 Mbit/s"]
    assert hf._panel_order(points[points["panel"] != "loopback"])[0] == QUIET
    assert hf._panel_order(pd.DataFrame({"panel": ["netns 100 Mbit/s", "loopback"]})) == ["loopback",
                                                                                          "netns 100 Mbit/s"]


def test_error_summary_rows_and_their_order():
    summary = hf.error_summary(hf.load_points(_FidelityCtx(_fidelity_tables())))
    keys = list(zip(summary["setting"], summary["op"], summary["ranks"], strict=True))
    assert keys == [
        ("loopback", "all_reduce", "2"), ("loopback", "all_reduce", "4"), ("loopback", "dp_step", "2"),
        ("loopback", "all", "all"), (QUIET, "all_reduce", "2"), (QUIET, "all", "all"),
        ("netns 100 Mbit/s", "all_reduce", "2"), ("netns 100 Mbit/s", "all", "all"),
        ("netns 1000 Mbit/s", "all_reduce", "2"), ("netns 1000 Mbit/s", "all", "all"), (hf.OVERALL, "all", "all"),
    ]
    assert list(summary["points"]) == [2, 1, 1, 4, 2, 2, 1, 1, 1, 1, 6]


def test_error_summary_worst_is_signed_and_over_prediction_is_the_signed_maximum():
    summary = hf.error_summary(hf.load_points(_FidelityCtx(_fidelity_tables()))).set_index(["setting", "op"])
    loopback = summary.loc[("loopback", "all")]
    # errors 4, -12, 6, 2; old model 30, 80, -90, 10
    assert loopback["median |error| %"] == 5.0
    assert loopback["worst signed error %"] == -12.0 and loopback["largest over-prediction %"] == 6.0
    assert loopback[OLD_MEDIAN] == 55.0 and loopback[OLD_WORST] == -90.0
    quiet = summary.loc[(QUIET, "all")]
    assert quiet["worst signed error %"] == -160.0 and quiet["largest over-prediction %"] == 150.0
    overall = summary.loc[(hf.OVERALL, "all")]  # loopback and netns: 4, -12, 6, 2, 20, -30
    assert overall["median |error| %"] == 9.0 and overall["worst signed error %"] == -30.0
    assert overall["largest over-prediction %"] == 20.0


def test_ours_text_per_panel_and_largest_over_prediction_over_every_point():
    points = hf.load_points(_FidelityCtx(_fidelity_tables()))
    assert hf.ours_text(points) == (
        f"median |error| 9.0% on the 2-core VM (loopback 5.0%, {QUIET} 155.0%, netns 100 Mbit/s 30.0%, "
        "netns 1000 Mbit/s 20.0%); largest over-prediction +150.0%; ping-pong alpha-beta model: median 35.0%, "
        "largest over-prediction +200.0%"
    )


def test_errors_table_rounds_to_a_tenth_but_the_data_and_verdict_do_not():
    loopback = _rows([("all_reduce", 2, 4096, 10.04, 100 / 3), ("dp_step", 2, 4096, -10.04, 10.0)])
    netns = _rows([("all_reduce", 2, 4096, 10.04, 1.0)], rate_mbit=100.0)
    out = hf.draw_fidelity_errors(_FidelityCtx({hf.LOOPBACK_CSV: loopback, hf.NETNS_CSV: netns,
                                                hf.QUIET_HOST_CSV: _rows([])}))
    overall = out.table[out.table["setting"] == hf.OVERALL].iloc[0]
    assert overall["median |error| %"] == 10.0 and overall[OLD_WORST] == 33.3
    assert out.data.loc[out.data["setting"] == hf.OVERALL, "median |error| %"].iloc[0] == pytest.approx(10.04)
    assert list(out.table["op"]) == ["all-reduce", "DP step", "all", "all-reduce", "all", "all"]
    assert [c.holds for c in out.verdict.checks] == [False, True]  # 10.04% > 10%, though the table shows 10.0


def test_figure_data_keeps_every_point_including_the_quiet_host():
    out = hf.draw_fidelity(_FidelityCtx(_fidelity_tables()))
    assert len(out.data) == 8 and (out.data["panel"] == QUIET).sum() == 2


# ----------------------------------------------------------------------------------------------- fidelity compute
def _step(error: float, *, allocator: str = "keep", threads: int = 1, size: str = "d64", seq_len: int = 64,
          measured: float = 10.0, **extra) -> dict:
    d_model = int(size[1:])
    return {"allocator": allocator, "threads": threads, "size": size, "d_model": d_model, "micro_batch": 2,
            "seq_len": seq_len, "tokens": 128, "params": 1000, "measured_ms": measured,
            "measured_ms_p10": measured * 0.9, "measured_ms_p90": measured * 1.1,
            "predicted_ms": measured * (1 + error / 100), "error_pct": error, "minor_faults_per_step": 0.0,
            "roofline_fraction": 0.1, "cpu_busy_before": 0.0, **extra}


class _ComputeCtx:
    def __init__(self, steps: pd.DataFrame, spread: pd.DataFrame | None = None):
        self.steps, self.spread = steps, spread

    def read_csv(self, path: str) -> pd.DataFrame:
        assert path in hfc.INPUTS
        if path == hfc.SPREAD_CSV:
            return self.spread.copy() if self.spread is not None else pd.DataFrame(columns=SPREAD_COLUMNS)
        return self.steps.copy()


def test_a_point_without_a_run_spread_row_is_kept():
    steps = pd.DataFrame([_step(1.0, seq_len=64), _step(2.0, seq_len=128)])
    spread = pd.DataFrame([{"allocator": "keep", "threads": 1, "size": "d64", "micro_batch": 2, "seq_len": 64,
                            "n_runs": 3, "run_min_ms": 9.0, "run_median_ms": 10.0, "run_max_ms": 11.0,
                            "run_spread_pct": 20.0}])
    points = hfc.load_points(_ComputeCtx(steps, spread))
    assert list(points["error_pct"]) == [1.0, 2.0]
    assert points["n_runs"].iloc[0] == 3 and np.isnan(points["n_runs"].iloc[1])


def test_explanation_counts_points_and_gives_the_mean_signed_error_per_size():
    points = pd.DataFrame([_step(-8.0, size="d128"), _step(0.0, seq_len=64), _step(0.0, seq_len=128),
                           _step(30.0, seq_len=256)])
    text = hfc.explanation(points)
    assert text.startswith("4 points of real training steps")
    # by d_model, not by order of appearance; the mean (the median would be 0)
    assert "all points of that size: d64 +10%, d128 -8%." in text


def test_explanation_leaves_out_diagnostics_a_point_lacks():
    points = pd.DataFrame([_step(5.0, seq_len=64), _step(-5.0, seq_len=128)])
    partial = points.assign(error_fixed_flush_pct=[3.0, np.nan], error_op_profile_pct=[np.nan, 2.0])
    text = hfc.explanation(partial)
    assert "one cache state" not in text and "timed alone" not in text


def test_allocator_pairs_match_per_shape_and_thread_count_and_divide_keep_by_default():
    keep = [_step(0.0, threads=1, measured=10.0), _step(0.0, threads=2, measured=10.0),
            _step(0.0, threads=1, seq_len=128, measured=10.0)]
    default = [_step(0.0, allocator="default", threads=1, measured=20.0),
               _step(0.0, allocator="default", threads=2, measured=20.0),
               _step(0.0, allocator="default", threads=1, seq_len=128, measured=40.0)]
    text = hfc._allocator_pairs_text(pd.DataFrame(keep + default))
    # ratios 0.5, 0.5, 0.25: geometric mean 0.0625 ** (1 / 3) = 0.397
    assert "0.40x the time on average over 3 pairs" in text and "0.25x to 0.50x for single pairs" in text


def test_ours_text_keeps_the_allocators_order_and_uses_absolute_medians_and_signed_worst():
    points = pd.DataFrame([_step(-10.0, seq_len=64), _step(-20.0, seq_len=128), _step(30.0, seq_len=256),
                           _step(-40.0, threads=2), _step(5.0, allocator="default")])
    text = hfc.ours_text(points)
    assert text == ("keep allocator: median |error| 25.0% (1 thread 20.0%, 2 threads 40.0%); worst -40.0%; "
                    "default allocator: median |error| 5.0% (1 thread 5.0%); worst +5.0%")


def test_ours_text_op_profile_diagnostic_over_the_points_that_have_it():
    points = pd.DataFrame([_step(1.0, seq_len=s) for s in (64, 128, 256, 512)])
    points["error_op_profile_pct"] = [1.0, 2.0, -9.0, np.nan]
    text = hfc.ours_text(points)
    assert "both allocators): median |error| 2.0%, worst -9.0%, mean -2.0%" in text


@pytest.mark.parametrize(("n_runs", "sentence"), [
    ([1, 1, 1], None),
    ([2, 2, 2], "measured in 2 runs: medians apart by 20% of their median (median over points; largest 60%)"),
    ([3, 2, 4], "measured in 2 runs: medians apart by 20%"),
])
def test_ours_text_run_spread_from_the_fewest_runs(n_runs, sentence):
    points = pd.DataFrame([_step(1.0, seq_len=s) for s in (64, 128, 256)])
    points = points.assign(n_runs=n_runs, run_spread_pct=[10.0, 20.0, 60.0])
    text = hfc.ours_text(points)
    if sentence is None:
        assert "runs:" not in text
    else:
        assert sentence in text


def test_figure_data_columns_and_provenance_of_an_unknown_allocator():
    steps = pd.DataFrame([_step(1.0, allocator="jemalloc"), _step(-2.0, allocator="jemalloc", seq_len=128)])
    out = hfc.draw_fidelity_compute(_ComputeCtx(steps))
    assert out.provenance["allocators"] == {"jemalloc": "jemalloc"}
    assert list(out.data.columns) == [
        "allocator", "threads", "size", "d_model", "micro_batch", "seq_len", "tokens", "params", "measured_ms",
        "measured_ms_p10", "measured_ms_p90", "predicted_ms", "error_pct", "minor_faults_per_step",
        "roofline_fraction", "cpu_busy_before"]
