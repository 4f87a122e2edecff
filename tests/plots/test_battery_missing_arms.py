"""Figures of `battery` drawn from run sets that lack an arm: each now fails with one line naming what the figure
needs and what the runs have, or its verdict says why it is not checkable.

- fig8 / tab3 without the proposed run or a conventional rule (a bare KeyError or IndexError before);
- fig5 / fig9 without the proposed run, fig7 without the proposed run or a conventional rule;
- a case file's sweep without a run (an IndexError before);
- the SoC-balance and cost verdicts on data without a conventional rule, fig10's verdict on no solve-time runs.
"""

from __future__ import annotations

from types import SimpleNamespace as NS

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from plots.papers import battery as bt
from tests.plots.test_battery_builders_mutation_gaps import _socs, _totals, _tracking, case_sweep, ctx_of


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _results_ctx(drop: str):
    totals = {"proposed": _totals(6.0, 9.0), "loss_only": _totals(5.0, 12.0), "capacity": _totals(10.0, 10.0),
              "soc": _totals(12.0, 5.0)}
    totals.pop(drop)
    info = {"totals": totals, "scheduler": {"mode": "priority"}}
    empty = pd.DataFrame({"method": []})
    return ctx_of({bt.CASE1: case_sweep(empty, info), bt.CASE2: case_sweep(empty, info)})


@pytest.mark.parametrize(("draw", "figure"), [(bt.draw_fig8, "battery.fig8"), (bt.draw_tab3, "battery.tab3")])
def test_cost_items_without_the_proposed_run_say_so(draw, figure):
    with pytest.raises(ValueError) as err:
        draw(_results_ctx("proposed"))
    assert str(err.value) == f"{figure} (Case I) needs runs of proposed; the runs have loss_only, capacity, soc"


def test_tab3_without_a_conventional_rule_says_so():
    with pytest.raises(ValueError) as err:
        bt.draw_tab3(_results_ctx("soc"))
    assert str(err.value) == "battery.tab3 (Case I) needs runs of soc; the runs have proposed, loss_only, capacity"


def test_cost_items_without_loss_only_still_compare_the_conventional_rules():
    output = bt.draw_fig8(_results_ctx("loss_only"))
    assert "loss-only" not in output.ours and output.verdict.status != "not_checkable"


def test_fig5_and_fig9_without_the_proposed_run_say_so():
    metrics = _tracking([1.0] * 4, [0.5, -0.5, 0.5, -0.5]).assign(active_modules=1)
    metrics = metrics[metrics["method"] != "proposed"]
    ctx = ctx_of({bt.CASE1: case_sweep(metrics, {"regulation_kw": 60.0, "modules": [{"name": "A"}]})})
    for draw, figure in ((bt.draw_fig5, "battery.fig5"), (bt.draw_fig9, "battery.fig9")):
        with pytest.raises(ValueError) as err:
            draw(ctx)
        assert str(err.value) == f"{figure} needs runs of proposed; the runs have soc"


@pytest.mark.parametrize(("drop", "message"), [
    ("proposed", "battery.fig7 (Case I) needs runs of proposed; the runs have capacity, soc"),
    ("soc", "battery.fig7 (Case I) needs runs of soc; the runs have proposed, capacity"),
])
def test_fig7_without_an_arm_says_which(drop, message):
    socs = _socs(0.0)
    sweep = case_sweep(socs[socs["method"] != drop], {"modules": [{"name": "A"}, {"name": "B"}]})
    with pytest.raises(ValueError) as err:
        bt.draw_fig7(ctx_of({bt.CASE1: sweep, bt.CASE2: sweep}))
    assert str(err.value) == message


def test_a_case_file_without_a_run_says_so():
    with pytest.raises(ValueError) as err:
        bt.draw_fig5(ctx_of({bt.CASE1: NS(runs=[])}))
    assert str(err.value) == "battery needs the run of scenarios/battery/case1.yaml; the sweep has none"


def test_soc_balance_verdict_without_a_rule_is_not_checkable():
    socs = _socs(0.0).assign(case="Case I")
    data = socs[socs["method"] != "soc"].melt(id_vars=["method", "time_s", "case"], var_name="module",
                                              value_name="soc")
    verdict = bt.verdict_fig7(data)
    assert verdict.status == "not_checkable"
    assert verdict.explanation == "the SoC balance check (Case I) needs runs of soc; the runs have proposed, capacity"


@pytest.mark.parametrize("verdict", [bt.verdict_fig8, bt.verdict_tab3])
def test_cost_verdicts_without_a_rule_are_not_checkable(verdict):
    data = pd.DataFrame({"case": ["Case I"], "method": ["capacity"], "loss_reduction_pct": [30.0],
                         "aging_reduction_pct": [5.0]})
    result = verdict(data)
    assert result.status == "not_checkable"
    assert result.explanation == "the cost check (Case I) needs runs of soc; the runs have capacity"


def test_fig10_verdict_without_solve_time_runs_is_not_checkable():
    data = pd.DataFrame({"n_modules": [], "mode": [], "step": [], "solve_ms": [], "fallback": []})
    assert bt.verdict_fig10(data).status == "not_checkable"
