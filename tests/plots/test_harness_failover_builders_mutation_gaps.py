"""Gaps in the tests of `plots.papers.harness_failover` found by a mutation audit.

Only `verdict_of` was tested; `draw_failover` and `load` were not run by any test. Closed here on hand-built
``runs.csv`` / ``ranks.csv`` frames:
- `load`: the shards counted per mode are the sum over its workers (not the largest or the number of workers); a
  run with no worker rows keeps its row and fails its shard check (it was dropped from the table and verdict);
- `draw_failover`: the table's columns in order, the "ours" sentence (measured before simulated, the signed
  error), the verdict taken from the table, and the provenance naming both inputs.
"""

from __future__ import annotations

from types import SimpleNamespace as NS

import matplotlib.pyplot as plt
import pandas as pd

from plots.papers import harness_failover as hf

COLUMNS = ["mode", "steps", "timeout_s", "detect_s_max", "normal_step_s", "degraded_step_s", "after_step_s",
           "lost_s", "measured_drop_pct", "predicted_drop_pct", "error_pp", "loss_jump_max", "shards_counted"]


def _runs() -> pd.DataFrame:
    base = {"steps": 10, "timeout_s": 2.0, "detect_s_max": 2.5, "normal_step_s": 0.05, "degraded_step_s": 0.07,
            "after_step_s": 0.05, "lost_s": 3.0, "loss_jump_max": 0.01, "kill_step": 4, "wall_s": 9.0}
    return pd.DataFrame([
        {"mode": "mecefo", **base, "measured_drop_pct": 13.76, "predicted_drop_pct": 13.62, "error_pp": -0.14},
        {"mode": "ckpt", **base, "measured_drop_pct": 36.23, "predicted_drop_pct": 41.80, "error_pp": 5.57},
    ])


def _ranks(ckpt_shards: tuple[int, ...] = (10, 10, 10, 10)) -> pd.DataFrame:
    rows = [("mecefo", 0, 10), ("mecefo", 1, 7), ("mecefo", 2, 13), ("mecefo", 3, 10)]
    rows += [("ckpt", w, s) for w, s in enumerate(ckpt_shards)]
    return pd.DataFrame(rows, columns=["mode", "worker", "shards"]).assign(samples=lambda f: 8 * f["shards"])


def _ctx(ranks: pd.DataFrame) -> NS:
    frames = {hf.RUNS_CSV: _runs(), hf.RANKS_CSV: ranks}
    return NS(read_csv=lambda path: frames[path])


def _draw(ranks: pd.DataFrame):
    output = hf.draw_failover(_ctx(ranks))
    plt.close(output.figure)
    return output


def test_load_sums_the_shards_of_every_worker_per_mode():
    data = hf.load(_ctx(_ranks((10, 10, 11, 10))))
    counted = dict(zip(data["mode"], data["shards_counted"]))
    assert counted == {"mecefo": 40, "ckpt": 41}  # 10 + 7 + 13 + 10; one shard consumed twice in ckpt


def test_draw_failover_table_has_the_columns_in_order_and_one_row_per_run():
    table = _draw(_ranks()).data
    assert list(table.columns) == COLUMNS
    assert list(table["mode"]) == ["mecefo", "ckpt"]
    assert list(table["shards_counted"]) == [40, 40]
    assert list(table["normal_step_s"]) == [0.05, 0.05]


def test_draw_failover_ours_gives_measured_then_simulated_and_the_signed_error():
    ours = _draw(_ranks()).ours
    assert ours == ("mecefo: measured 13.8%, simulated 13.6% (-0.1 pp); "
                    "ckpt: measured 36.2%, simulated 41.8% (+5.6 pp)")


def test_draw_failover_verdict_follows_the_counted_shards_and_names_both_inputs():
    exact = _draw(_ranks())
    # ckpt's error of +5.57 pp is outside the 5 pp band; everything else holds
    assert [c.holds for c in exact.verdict.checks] == [True, True, True, True, False, True, True, True]
    assert exact.provenance["inputs"] == [hf.RUNS_CSV, hf.RANKS_CSV]
    twice = _draw(_ranks((10, 10, 11, 10))).verdict
    assert [c.holds for c in twice.checks][4:6] == [False, False]  # 41 of 40 shards: one consumed twice


def test_a_run_without_worker_rows_stays_in_the_table_and_fails_its_shard_check():
    ranks = _ranks()
    output = _draw(ranks[ranks["mode"] == "mecefo"])
    assert list(output.data["mode"]) == ["mecefo", "ckpt"]
    assert pd.isna(output.data["shards_counted"].iloc[1])
    assert [c.holds for c in output.verdict.checks][5] is False and output.verdict.status != "reproduced"
