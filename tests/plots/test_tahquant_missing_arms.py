"""Figures of `tahquant` drawn from run sets that lack an arm: each now fails with one line naming what the figure
needs and what the runs have, or its verdict says why it is not checkable.

- fig5 / tab2 / tab3 without TAH-Quant ("attempt to get argmax of an empty sequence", KeyError: 'FP32',
  IndexError), tab2 / tab3 without AQ-SGD or direct 4-bit (KeyError, IndexError);
- an empty speed or convergence sweep (KeyError: 'series'; "the sweep has no runs" named no scenario);
- fig4 / tab1 without two FP32 seeds state the tolerance as n/a (they wrote "Tolerance nan");
- the speed verdicts on data without TAH-Quant or AQ-SGD.
"""

from __future__ import annotations

from types import SimpleNamespace as NS

import matplotlib.pyplot as plt
import pytest

from plots.papers import tahquant as t
from tests.plots.test_tahquant_builders_mutation_gaps import (AQ, DIRECT, TAH, ctx_of, run_frame, speed_sweep,
                                                              training_sweep)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _without(method: str) -> NS:
    metrics = speed_sweep().metrics
    return NS(metrics=metrics[metrics["method"] != method])


@pytest.mark.parametrize("draw", [t.draw_fig5, t.draw_tab2, t.draw_tab3])
def test_speed_items_without_tahquant_say_so(draw):
    with pytest.raises(ValueError) as err:
        draw(ctx_of(_without(TAH)))
    figure = draw.__name__.removeprefix("draw_")
    assert str(err.value) == f"tahquant.{figure} needs runs of TAH-Quant; the runs have AQ-SGD 4-bit, direct 4-bit"


@pytest.mark.parametrize(("method", "series"), [(AQ, "AQ-SGD 4-bit"), (DIRECT, "direct 4-bit")])
@pytest.mark.parametrize("draw", [t.draw_tab2, t.draw_tab3])
def test_speed_tables_without_a_compared_method_say_which(draw, method, series):
    with pytest.raises(ValueError) as err:
        draw(ctx_of(_without(method)))
    figure = draw.__name__.removeprefix("draw_")
    assert str(err.value).startswith(f"tahquant.{figure} needs runs of {series}; the runs have ")


def test_fig5_without_the_other_codecs_still_draws_tahquant_against_fp32():
    assert t.draw_fig5(ctx_of(_without(AQ))).ours == "TAH-Quant vs FP32: 0.1 Gbit/s: 4.00x, 1 Gbit/s: 1.60x"


def test_speed_verdicts_without_an_arm_are_not_checkable():
    data = t.speed_rows(speed_sweep())
    no_tah = data[~data["series"].isin(["TAH-Quant", "FP32", "BF16"])]
    assert t.verdict_fig5(no_tah).explanation == ("the speedup check needs runs of TAH-Quant; the runs have "
                                                  "AQ-SGD 4-bit, direct 4-bit")
    assert t.verdict_tab2(no_tah).status == "not_checkable"
    no_aq = data[data["series"] != "AQ-SGD 4-bit"].rename(columns={"cache_bytes_per_side": "extra_bytes_per_boundary"})
    assert t.verdict_tab3(no_aq).status == "not_checkable"


def test_an_empty_speed_sweep_says_so():
    with pytest.raises(ValueError) as err:
        t.draw_tab2(ctx_of(NS(metrics=speed_sweep().metrics.iloc[:0])))
    assert str(err.value) == "tahquant needs the runs of scenarios/tahquant/speed_vs_bandwidth.yaml; the sweep has none"


def test_an_empty_convergence_sweep_names_the_scenario():
    with pytest.raises(ValueError) as err:
        t.draw_tab1(ctx_of(NS(points=[], runs=[])))
    assert str(err.value) == "tahquant needs the runs of scenarios/tahquant/convergence.yaml; the sweep has no runs"


@pytest.mark.parametrize("fp32_seeds", [0, 1])
def test_tolerance_of_fewer_than_two_fp32_seeds_is_n_a(fp32_seeds):
    runs = [({"name": "none"}, seed, run_frame(1.0, fwd_bits=32.0, rel_error=0.0)) for seed in range(fp32_seeds)]
    runs += [({"name": "tahquant"}, seed, run_frame(1.1)) for seed in range(3)]
    for draw in (t.draw_fig4, t.draw_tab1):
        ours = draw(ctx_of(training_sweep(runs))).ours
        assert f"Tolerance n/a (2 x the std of {fp32_seeds} FP32 seeds)." in ours
        assert "nan" not in ours
