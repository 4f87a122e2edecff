"""Gaps in the tests of `plots.papers.battery` found by a mutation audit (the draw functions' data, not verdicts).

Closed here on hand-built runs (`case_sweep` stands in for an ``ffr_dispatch`` sweep of one run):
- `results_table` (fig8 / tab3): the proposed method's totals as the reference, loss against loss and aging against
  aging, the direction of a reduction, NaN when the other cost is 0, every copied column in its place, and the
  scheduler's name (an old run's info without a backend was a cvxpy one);
- `reductions_text`: the three comparisons per case (loss-only included) and the scheduler's name as text;
- tab3: the table's rounding and names, the CSV data kept unrounded;
- fig5: the proposed rows only, C_reg from the run, the RMSE (not the mean error), the sample std, saturation at
  |r| >= 0.999 and the 1e-6 kW display limit;
- fig6 / fig7: module names without the column prefix, C_reg from the run, the gap over C_reg, the final (not the
  first) SoC spread and the sample std across modules;
- fig9: the proposed rows only, the module count from the run, the mean of the active count;
- fig10: solve times in ms as recorded, median and p99 per (mode, N), only the smallest and largest N in the text;
- fig2 / fig3 / tab1 / tab2 on the real stand-in modules: loss in W at SoC 0.5, efficiencies below 1, every module
  in the text, the tangent at d = 0.5, the fade weighted by the cycle counts, usable energy, Case II's
  resistances and C_reg, and the converter / price ranges.
"""

from __future__ import annotations

import re
import warnings
from types import SimpleNamespace as NS

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from plots.papers import battery as bt


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def case_sweep(metrics: pd.DataFrame, info: dict) -> NS:
    return NS(runs=[NS(info=info, read_metrics=metrics.copy)])


def ctx_of(sweeps: dict) -> NS:
    return NS(run=lambda path: sweeps[path], profile="quick")


# ------------------------------------------------------------------------------------------------ results table
def _totals(loss: float, aging: float, **extra) -> dict:
    row = {"loss_cost_usd": loss, "aging_cost_usd": aging, "final_soc_spread": 0.11, "mean_soc_std": 0.022,
           "tracking_rmse_kw": 0.5, "fallback_steps": 3, "solve_ms_median": 12.0, "solve_ms_p99": 99.0}
    return {**row, **extra}


def _results_ctx(case2_scheduler: dict | None = None) -> NS:
    case1 = {"totals": {"proposed": _totals(6.0, 9.0), "loss_only": _totals(5.0, 12.0),
                        "capacity": _totals(10.0, 10.0), "soc": _totals(12.0, 0.0)},
             "scheduler": {"mode": "priority", "backend": "native"}}
    case2 = {"totals": {"proposed": _totals(1.2345678, 2.0, tracking_rmse_kw=0.123456, final_soc_spread=0.12345),
                        "loss_only": _totals(1.2345678, 2.0), "capacity": _totals(3.0, 8.0),
                        "soc": _totals(0.0, 4.0)},
             "scheduler": case2_scheduler or {"mode": "miqcp", "backend": "native"}}
    empty = pd.DataFrame({"method": []})
    return ctx_of({bt.CASE1: case_sweep(empty, case1), bt.CASE2: case_sweep(empty, case2)})


def test_results_table_reduces_each_method_against_the_proposed_one():
    data = bt.draw_fig8(_results_ctx()).data.set_index(["case", "method"])
    # Case I: proposed loss 6 / aging 9; loss-only 5 / 12; capacity 10 / 10; SoC 12 / 0
    assert data.loc[("Case I", "capacity"), "loss_reduction_pct"] == pytest.approx(40.0)
    assert data.loc[("Case I", "capacity"), "aging_reduction_pct"] == pytest.approx(10.0)
    assert data.loc[("Case I", "soc"), "loss_reduction_pct"] == pytest.approx(50.0)
    assert np.isnan(data.loc[("Case I", "soc"), "aging_reduction_pct"])  # the other cost is 0: undefined
    assert data.loc[("Case I", "loss_only"), "loss_reduction_pct"] == pytest.approx(-20.0)  # proposed costs more
    assert data.loc[("Case I", "loss_only"), "aging_reduction_pct"] == pytest.approx(25.0)
    assert data.loc[("Case I", "proposed"), "loss_reduction_pct"] == 0.0
    # Case II: capacity 3 / 8 against proposed 1.2345678 / 2
    assert data.loc[("Case II", "capacity"), "aging_reduction_pct"] == pytest.approx(75.0)
    assert data.loc[("Case II", "capacity"), "loss_reduction_pct"] == pytest.approx(100 * (1 - 1.2345678 / 3))


def test_results_table_copies_each_total_into_its_own_column():
    row = bt.draw_fig8(_results_ctx()).data.set_index(["case", "method"]).loc[("Case I", "soc")]
    assert (row["loss_cost_usd"], row["aging_cost_usd"]) == (12.0, 0.0)
    assert (row["final_soc_spread"], row["mean_soc_std"]) == (0.11, 0.022)
    assert (row["solve_ms_median"], row["solve_ms_p99"]) == (12.0, 99.0)
    assert (row["tracking_rmse_kw"], row["fallback_steps"]) == (0.5, 3)


def test_scheduler_name_of_a_run_without_a_backend_is_cvxpy():
    data = bt.draw_tab3(_results_ctx({"mode": "miqcp"})).data
    assert set(data.loc[data["case"] == "Case II", "scheduler"]) == {"miqcp (cvxpy)"}
    assert set(data.loc[data["case"] == "Case I", "scheduler"]) == {"priority"}


def test_reductions_text_names_the_scheduler_and_all_three_comparisons():
    ours = bt.draw_fig8(_results_ctx()).ours
    case1, case2 = ours.removesuffix(" (a negative reduction: the proposed method costs more)").split(" | ")
    assert case1 == ("Case I (activation priority): vs capacity-proportional: loss-cost reduction 40.0%, aging-cost "
                     "reduction 10.0%; vs SoC-based: loss-cost reduction 50.0%, aging-cost reduction nan%; "
                     "vs loss-only: loss-cost reduction -20.0%, aging-cost reduction 25.0%")
    assert case2.startswith("Case II (MIQCP (native)): vs capacity-proportional: loss-cost reduction 58.8%, "
                            "aging-cost reduction 75.0%; vs SoC-based: loss-cost reduction nan%, aging-cost reduction "
                            "50.0%; vs loss-only:")


def test_tab3_rounds_and_names_the_cells_but_keeps_the_data_unrounded():
    output = bt.draw_tab3(_results_ctx())
    table = output.table.set_index(["case", "method"])
    row = table.loc[("Case II", "proposed")]
    assert row["loss cost ($)"] == 1.2346 and row["tracking RMSE (kW)"] == 0.1235
    assert row["final SoC spread"] == 0.123
    assert table.loc[("Case II", "capacity-proportional"), "loss reduction (%)"] == 58.8
    assert set(table.loc["Case II"]["scheduler"]) == {"MIQCP (native)"}
    assert set(table.loc["Case I"]["scheduler"]) == {"activation priority"}
    assert sorted(table.loc["Case I"].index) == ["SoC-based", "capacity-proportional", "loss-only", "proposed"]
    data = output.data.set_index(["case", "method"])
    assert data.loc[("Case II", "proposed"), "loss_cost_usd"] == 1.2345678
    assert data.loc[("Case II", "capacity"), "loss_reduction_pct"] == pytest.approx(58.8477, abs=1e-4)


# ------------------------------------------------------------------------------------------------ fig5
def _tracking(diffs: list[float], regulation: list[float]) -> pd.DataFrame:
    r = np.array(regulation)
    request = 60.0 * r
    proposed = pd.DataFrame({"method": "proposed", "time_s": 2.0 * np.arange(len(r)), "regulation": r,
                             "request_kw": request, "delivered_kw": request - np.array(diffs)})
    other = proposed.assign(method="soc", delivered_kw=0.0)
    return pd.concat([proposed, other], ignore_index=True)


def test_fig5_text_from_the_proposed_rows_rmse_sample_std_and_saturation():
    metrics = _tracking([4.0, 0.0, 0.0, 0.0], [1.0, -1.0, 0.999, -0.999])
    info = {"regulation_kw": 60.0, "scheduler": {"mode": "priority"}}
    output = bt.draw_fig5(ctx_of({bt.CASE1: case_sweep(metrics, info)}))
    # RMSE sqrt(16 / 4) = 2 (mean |error| would be 1); sample std sqrt(3.996002 / 3) = 1.154 (population: 0.9995);
    # all four |r| >= 0.999
    assert output.ours == "tracking RMSE 2 kW of C_reg 60 kW; signal std 1.15, saturated 100.0% of steps"
    assert len(output.data) == 4 and list(output.data["delivered_kw"]) == pytest.approx([56.0, -60.0, 59.94, -59.94])
    assert set(output.data["regulation_kw"]) == {60.0} and set(output.data["scheduler"]) == {"priority"}


@pytest.mark.parametrize("error, shown", [(0.0, "below 1e-6 kW (exact up to round-off)"), (1e-4, "0.0001 kW")])
def test_fig5_shows_an_rmse_down_to_1e_6_kw(error, shown):
    metrics = _tracking([error] * 4, [0.5, -0.5, 0.5, -0.5])
    info = {"regulation_kw": 80.0, "scheduler": {"mode": "priority"}}
    ours = bt.draw_fig5(ctx_of({bt.CASE1: case_sweep(metrics, info)})).ours
    assert ours.startswith(f"tracking RMSE {shown} of C_reg 80 kW;")


# ------------------------------------------------------------------------------------------------ fig6 / fig7
def _dispatch() -> pd.DataFrame:
    rows = []
    for method, short in (("proposed", 0.0), ("capacity", 8.0)):
        for t, request in ((0.0, 30.0), (2.0, 50.0)):
            gap = short if t == 2.0 else 0.0
            rows.append({"method": method, "time_s": t, "request_kw": request, "delivered_kw": request - gap,
                         "power_kw_A": 10.0, "power_kw_B": request - 10.0 - gap, "soc_A": 0.5, "soc_B": 0.5})
    return pd.DataFrame(rows)


def test_fig6_long_data_and_power_balance_over_c_reg():
    info = {"modules": [{"name": "A"}, {"name": "B"}], "regulation_kw": 80.0}
    output = bt.draw_fig6(ctx_of({bt.CASE1: case_sweep(_dispatch(), info)}))
    assert sorted(set(output.data["module"])) == ["A", "B"] and len(output.data) == 8
    assert set(output.data["regulation_kw"]) == {80.0}
    # capacity misses 8 kW of 50 at t = 2: 8 / 80 = 0.1
    assert output.ours == "max |sum P_i - request| / C_reg: capacity-proportional 1.0e-01, proposed 0.0e+00"


def _socs(case_shift: float) -> pd.DataFrame:
    rows = []
    for method in ("proposed", "capacity", "soc"):
        spread = {"proposed": 0.2, "capacity": 0.6, "soc": 0.4}[method]
        for t, (a, b) in ((0.0, (0.5, 0.5)), (2.0, (0.5 - spread / 2, 0.5 + spread / 2))):
            rows.append({"method": method, "time_s": t, "soc_A": a + case_shift, "soc_B": b + case_shift})
    return pd.DataFrame(rows)


def test_fig7_final_spread_and_mean_sample_std_across_modules():
    info = {"modules": [{"name": "A"}, {"name": "B"}]}
    output = bt.draw_fig7(ctx_of({bt.CASE1: case_sweep(_socs(0.0), info), bt.CASE2: case_sweep(_socs(0.1), info)}))
    assert set(output.data["module"]) == {"A", "B"} and set(output.data["case"]) == {"Case I", "Case II"}
    # final spread 0.2 / 0.6 / 0.4 (the first step's is 0); across-module sample std 0, then spread / sqrt 2: mean
    # spread / (2 sqrt 2) = 0.0707 / 0.2121 / 0.1414 (population std: 0.05 / 0.15 / 0.1)
    each = ["capacity-proportional: final spread 0.600, mean std 0.212", "proposed: final spread 0.200, mean std 0.071",
            "SoC-based: final spread 0.400, mean std 0.141"]
    assert output.ours.split("; ") == [f"Case I {e}" for e in each] + [f"Case II {e}" for e in each]


# ------------------------------------------------------------------------------------------------ fig9
def test_fig9_counts_the_proposed_rows_against_the_runs_module_count():
    proposed = pd.DataFrame({"method": "proposed", "time_s": [0.0, 2.0, 4.0], "request_kw": [-10.0, 10.0, 40.0],
                             "active_modules": [1, 1, 3]})
    metrics = pd.concat([proposed, proposed.assign(method="soc", active_modules=3)], ignore_index=True)
    info = {"modules": [{"name": n} for n in ("A", "B", "C")]}
    output = bt.draw_fig9(ctx_of({bt.CASE1: case_sweep(metrics, info)}))
    # mean of 1, 1, 3 = 1.67 (median 1); |request| 10, 10, 40 is linear in the count: correlation 1
    assert output.ours == "mean 1.67 of 3 on; corr(|request|, active) 1.00"
    assert len(output.data) == 3 and set(output.data["n_modules"]) == {3}


def test_fig9_text_when_the_active_count_never_changes():
    metrics = pd.DataFrame({"method": "proposed", "time_s": [0.0, 2.0], "request_kw": [5.0, 50.0],
                            "active_modules": [2, 2]})
    output = bt.draw_fig9(ctx_of({bt.CASE1: case_sweep(metrics, {"modules": [{"name": "A"}, {"name": "B"}]})}))
    assert output.ours == "mean 2.00 of 2 on; corr(|request|, active) n/a (one of them constant)"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NaN by the guard, not by numpy dividing by a zero spread
        assert np.isnan(bt.load_correlation(metrics))


# ------------------------------------------------------------------------------------------------ fig10
def test_fig10_medians_and_p99_at_the_smallest_and_largest_module_counts():
    frames = []
    for mode, scale in (("priority", 1.0), ("miqcp", 10.0)):
        for n in (4, 8, 12):
            frames.append(pd.DataFrame({"workload.n_modules": n, "workload.scheduler.mode": mode,
                                        "step": np.arange(101), "solve_ms": scale * np.arange(101.0) ** 2,
                                        "fallback": False}))
    metrics = pd.concat(frames, ignore_index=True)
    output = bt.draw_fig10(ctx_of({bt.SOLVE_TIME: NS(metrics=metrics)}))
    # squares of 0..100: median 50^2 = 2500 (mean 3383.5), p99 99^2 = 9801 (max 10000)
    assert output.ours == ("MIQCP N=4: median 25000 ms, p99 98010 ms; MIQCP N=12: median 25000 ms, p99 98010 ms; "
                           "activation priority N=4: median 2500 ms, p99 9801 ms; activation priority N=12: "
                           "median 2500 ms, p99 9801 ms")
    assert output.data["solve_ms"].max() == 100000.0 and len(output.data) == 606


# ------------------------------------------------------------------------------------------------ model items
def test_fig2_loss_in_watts_at_soc_half_and_efficiencies_below_one():
    output = bt.draw_fig2(ctx_of({}))
    m1 = output.data[output.data["module"] == "M1"].set_index("power_kw")
    # M1 at SoC 0.5: V = 400 V, rho = (60 + 20) mOhm / V^2 = 5e-4 /kW, a/V = 0.0015, b = 40 W; Pb = P + L solved by
    # hand: at +25 kW Pb = 25.4007 (loss 400.7 W), at 0 Pb = 0.04006 (40.06 W), at -25 kW loss 380.0 W
    assert m1.loc[25.0, "loss_w"] == pytest.approx(400.699, abs=1e-2)
    assert m1.loc[0.0, "loss_w"] == pytest.approx(40.061, abs=1e-2)
    assert m1.loc[-25.0, "loss_w"] == pytest.approx(380.002, abs=1e-2)
    assert m1.loc[25.0, "efficiency"] == pytest.approx(25 / 25.400699, abs=1e-6)
    assert m1.loc[-25.0, "efficiency"] == pytest.approx(24.619998 / 25, abs=1e-6)
    assert np.isnan(m1.loc[0.0, "efficiency"]) and len(m1) == 81
    assert [part.split(":")[0] for part in output.ours.split("; ")] == ["M1", "M2", "M3", "M4", "M5", "M6"]
    ratings = output.data.groupby("module")["rating_kw"].unique().map(list).to_dict()
    assert ratings == {"M1": [25], "M2": [25], "M3": [20], "M4": [20], "M5": [15], "M6": [15]}


def test_fig3_tangent_touches_at_half_and_fade_weights_the_counts():
    output = bt.draw_fig3(ctx_of({}))
    phi = output.data[output.data["part"] == "phi"].set_index("x")
    phi_half = 5.24e-4 * 0.5**2.03
    slope_half = 2.03 * 5.24e-4 * 0.5**1.03
    assert phi.loc[0.5, "tangent"] == pytest.approx(phi_half, rel=1e-9)
    assert phi.loc[1.0, "tangent"] == pytest.approx(phi_half + 0.5 * slope_half, rel=1e-9)
    cyc = output.data[output.data["part"] == "cycle"]
    assert set(cyc["count"]) == {0.5, 1.0}  # half and full cycles both present, so the weights matter
    fade = float((cyc["count"] * 5.24e-4 * cyc["depth"] ** 2.03).sum())
    match = re.search(r"(\d+) cycles \(([\d.]+) equivalent\), total fade ([\d.e+-]+) of capacity", output.ours)
    assert match is not None
    assert int(match[1]) == len(cyc) and float(match[2]) == pytest.approx(cyc["count"].sum(), abs=0.05)
    assert float(match[3]) == pytest.approx(fade, rel=1e-2)


def test_tab1_usable_energy_case_two_resistances_and_c_reg():
    table = bt.draw_tab1(ctx_of({})).table.set_index(["case", "module"])
    m1, m1_2 = table.loc[("case1", "M1")], table.loc[("case2", "M1")]
    assert m1["usable (kWh)"] == 47.5 and m1["R_pack (mOhm)"] == 60.0 and m1["C_reg (kW)"] == 60.0
    assert m1["R_conv (mOhm)"] == pytest.approx(20.0)
    assert table.loc[("case1", "M6"), "R_conv (mOhm)"] == pytest.approx(30.0)
    # Case II: halfway to the mean 115 mOhm -> 87.5 mOhm, C_reg 90 kW
    assert m1_2["R_pack (mOhm)"] == 87.5 and m1_2["C_reg (kW)"] == 90.0
    assert table.loc[("case1", "M5"), "usable (kWh)"] == 24.0


def test_tab2_ranges_and_prices():
    table = bt.draw_tab2(ctx_of({})).table.set_index("parameter")["value"]
    assert table["converter conduction resistance R_c"] == "20-30 mOhm"
    assert table["switching coefficient a (loss a|I|)"] == "0.6-0.8 V"
    assert table["standby loss b while on"] == "30-40 W"
    assert table["energy price"] == "0.1 $/kWh"
