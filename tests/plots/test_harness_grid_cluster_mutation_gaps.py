"""Gaps in the tests of `plots.papers.harness_grid_cluster` found by a mutation audit.

The figure's data had only a render check and two sanity-note strings. Closed here on hand-built sweeps:
- `sweep_table`: hours from the signal, costs per hour, missing battery fields as 0, every score key, the two
  throughput columns kept apart, and the row order (capping off first, battery size ascending);
- `sanity_notes`: the exact notes with "without" before "with" capping, first and last battery size, rows given
  unsorted, both tolerances of "at least as well" (score and RMSE each decide), the mean throughput loss of the
  capped points only, the aging change (min to max, with over without capping), and the notes left out when a side
  is missing;
- `draw_grid_cluster`: "ours" from the smallest and the largest battery, and the plotted values of each panel.
"""

from __future__ import annotations

from types import SimpleNamespace as NS

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from plots.papers import harness_grid_cluster as gc


def _record(kw: float, follows: bool, *, score: float = 0.5, rmse: float = 1.0, loss_usd: float = 0.0,
            aging_usd: float = 0.0, battery: bool = True, tput: float = 1.0, tput_nominal: float = 0.5) -> NS:
    info = {
        "signal": {"steps": 900, "dt_s": 2.0},  # half an hour
        "score": {"composite": score, "accuracy": score + 0.1},
        "tracking_rmse_kw": rmse,
        "throughput_loss_pct": tput,
        "throughput_loss_vs_nominal_pct": tput_nominal,
        "cluster": {"base_kw": 300.0},
    }
    if battery:
        info["battery"] = {"loss_cost_usd": loss_usd, "aging_cost_usd": aging_usd, "fallback_steps": 4}
    return NS(info=info, values={"workload.battery_kw": kw, "workload.cluster_follows": follows})


def _ctx(records: list[NS]) -> NS:
    return NS(run=lambda path: NS(runs=records))


def _sweep() -> list[NS]:
    return [
        _record(20.0, True, score=0.9, rmse=1.0, loss_usd=3.0, aging_usd=1.0, tput=4.0, tput_nominal=2.0),
        _record(0.0, False, score=0.2, rmse=9.0, battery=False, tput=0.5, tput_nominal=0.0),
        _record(0.0, True, score=0.4, rmse=7.0, battery=False, tput=3.0, tput_nominal=1.0),
        _record(20.0, False, score=0.8, rmse=2.0, loss_usd=2.0, aging_usd=1.5, tput=0.6, tput_nominal=0.0),
    ]


def test_sweep_table_costs_per_hour_and_row_order():
    data = gc.sweep_table(_ctx(_sweep()))
    assert list(zip(data["cluster_follows"], data["battery_kw"], strict=True)) == [
        (False, 0.0), (False, 20.0), (True, 0.0), (True, 20.0)]
    row = data.iloc[3]
    assert row["hours"] == pytest.approx(0.5)
    assert row["battery_loss_usd_per_h"] == pytest.approx(6.0) and row["battery_aging_usd_per_h"] == pytest.approx(2.0)
    assert row["battery_fallback_steps"] == 4.0
    assert row["score_composite"] == 0.9 and row["score_accuracy"] == pytest.approx(1.0)
    assert row["throughput_loss_pct"] == 4.0 and row["throughput_loss_vs_nominal_pct"] == 2.0
    assert row["cluster_base_kw"] == 300.0
    no_battery = data.iloc[0]
    assert (no_battery["battery_loss_usd_per_h"], no_battery["battery_aging_usd_per_h"],
            no_battery["battery_fallback_steps"]) == (0.0, 0.0, 0.0)


def _notes_table(rows: list[tuple[bool, float, float, float, float, float]]) -> pd.DataFrame:
    """(follows, kW, composite score, RMSE, aging $/h, throughput loss vs nominal %) per row."""
    columns = ["cluster_follows", "battery_kw", "score_composite", "tracking_rmse_kw", "battery_aging_usd_per_h",
               "throughput_loss_vs_nominal_pct"]
    return pd.DataFrame(rows, columns=columns)


def test_sanity_notes_exact_text_from_unsorted_rows():
    data = _notes_table([
        (True, 20.0, 0.95, 1.0, 3.0, 3.0), (False, 10.0, 0.50, 4.0, 1.0, 0.0), (True, 0.0, 0.30, 9.0, 0.0, 1.0),
        (False, 20.0, 0.90, 2.0, 2.0, 0.0), (False, 0.0, 0.25, 9.0, 0.0, 0.0), (True, 10.0, 0.55, 4.0, 0.5, 2.0),
    ])
    assert gc.sanity_notes(data) == [
        "without GPU capping: composite score 0.25 at 0 kW -> 0.90 at 20 kW; a larger battery tracks at least as "
        "well at every step of the sweep: yes",
        "with GPU capping: composite score 0.30 at 0 kW -> 0.95 at 20 kW; a larger battery tracks at least as "
        "well at every step of the sweep: yes",
        "following with the cluster costs 2.00% of training steps against the fixed nominal cap",  # mean of 1, 2, 3
        "battery aging cost with capping against without: -50% to +50% across battery sizes",  # 0.5/1, 3/2
    ]


@pytest.mark.parametrize(
    "scores, rmse, mono",
    [
        ([0.5, 0.5, 0.5], [2.0, 2.0, 2.0], "yes"),  # flat counts as "at least as well"
        ([0.5, 0.49951171875, 0.6], [2.0, 2.0009765625, 1.0], "yes"),  # within both tolerances (1e-3)
        ([0.5, 0.49, 0.6], [2.0, 1.0, 0.5], "no"),  # the score drops
        ([0.5, 0.6, 0.7], [2.0, 2.5, 1.0], "no"),  # the score rises but the RMSE grows
    ],
)
def test_sanity_notes_tolerances_of_at_least_as_well(scores, rmse, mono):
    data = _notes_table([(False, kw, s, e, 0.0, 0.0) for kw, s, e in zip((0.0, 10.0, 20.0), scores, rmse,
                                                                         strict=True)])
    notes = gc.sanity_notes(data)
    assert notes[0].endswith(f"every step of the sweep: {mono}")
    assert len(notes) == 1  # no capped points, no aging pair: nothing else is stated


def test_sanity_notes_aging_needs_both_sides_and_a_battery():
    data = _notes_table([(True, 0.0, 0.3, 9.0, 0.0, 1.0), (True, 10.0, 0.6, 2.0, 0.4, 1.0),
                         (False, 0.0, 0.3, 9.0, 0.0, 0.0), (False, 5.0, 0.6, 3.0, 0.2, 0.0)])
    notes = gc.sanity_notes(data)  # 10 kW only with capping, 5 kW only without: no battery size has both
    assert not any("aging" in note for note in notes) and len(notes) == 3


def test_draw_states_the_smallest_and_largest_battery_and_plots_each_column():
    output = gc.draw_grid_cluster(_ctx(_sweep()))
    assert output.ours == ("no capping: score 0.20 with no battery -> 0.80 at 20 kW, training steps lost vs "
                           "uncapped GPUs 0.5%; capping: score 0.40 with no battery -> 0.90 at 20 kW, training "
                           "steps lost vs uncapped GPUs 3.0%")
    ax_score, ax_rmse, ax_cost, ax_tput = output.figure.axes[:4]
    assert [list(line.get_ydata()) for line in ax_score.lines] == [[0.2, 0.8], [0.4, 0.9]]
    assert [line.get_label() for line in ax_score.lines] == [gc.FOLLOW_LABELS[False], gc.FOLLOW_LABELS[True]]
    assert [list(line.get_ydata()) for line in ax_rmse.lines] == [[9.0, 2.0], [7.0, 1.0]]
    # loss then aging, no capping first: 2 and 1.5 $ over half an hour -> 4 and 3 $/h
    assert [list(line.get_ydata()) for line in ax_cost.lines] == [[0.0, 4.0], [0.0, 3.0], [0.0, 6.0], [0.0, 2.0]]
    assert [list(line.get_ydata()) for line in ax_tput.lines] == [[0.5, 0.6], [3.0, 4.0]]
    plt.close(output.figure)
