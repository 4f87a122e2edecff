"""Figures drawn from runs that lack an arm, or whose runs differ in length or seed count.

- `plots.arms`: a missing arm, or no / several arms with a prefix, is one line naming the figure's need and the
  arms present;
- greedylore.tab5 without a dense, PowerSGD or GreedyLore run at a bandwidth, arctopk.fig_scaling without one of
  its three methods, and frb.fig3 without a 600 MHz run fail with that line (they ended in a bare StopIteration,
  KeyError or IndexError), and so does the time-to-accuracy figure without a method's simulated step time;
- frb's configuration labels keep L_X = 10⁴⁰ and 1.2×10⁴⁰ apart (one significant digit merged them, and the Monte
  Carlo deviation looked up the wrong rate curve);
- ractd.tab4's RACTD time is a median over seeds, as every other method's, not over pooled episodes;
- greedylore.fig2's verdict without the exact semi-lazy variant is not checkable (it ended in a KeyError);
- moc.tab_throughput shows the spread of one seed as n/a; tahquant's training-loss window is each run's own 10%.
"""

from __future__ import annotations

from types import SimpleNamespace as NS

import numpy as np
import pandas as pd
import pytest

from plots.arms import arm_starting, listed, missing_arms, missing_in_groups, raise_missing, require_arms
from plots.papers import arctopk, compression_time, frb, greedylore, greedylore_tables, moc, ractd, tahquant
from tests.plots.test_arctopk_builders_mutation_gaps import Sweep, curve, tail
from tests.plots.test_arctopk_builders_mutation_gaps import ctx as arctopk_ctx
from tests.plots.test_compression_time_builders_mutation_gaps import TECHNIQUES, _tta_ctx
from tests.plots.test_frb_builders_mutation_gaps import _luminosity_metrics, _radius_metrics, draw, fake_ctx
from tests.plots.test_greedylore_tables_mutation_gaps import _ctx, _tab5_sweep
from tests.plots.test_ractd_builders_mutation_gaps import FakeCtx, episodes, fake_point
from tests.plots.test_tahquant_builders_mutation_gaps import _rows, run_frame


# ------------------------------------------------------------------------------------------------ plots.arms
def test_require_arms_names_what_is_missing_and_what_is_there():
    require_arms(["dense", "Top-K"], ["dense"], "fig")
    with pytest.raises(ValueError) as err:
        require_arms(["Top-K", "ARC-Top-K", "Top-K"], ["dense", "ARC-Top-K", "Rand-K"], "arctopk.fig9")
    assert str(err.value) == "arctopk.fig9 needs runs of dense, Rand-K; the runs have Top-K, ARC-Top-K"


def test_missing_arms_is_none_when_all_are_there_and_raise_missing_raises_the_first_line():
    assert missing_arms(["dense", "Top-K"], ["Top-K", "dense"], "fig") is None
    assert missing_arms([], ["dense"], "fig") == "fig needs runs of dense; the runs have none"
    assert listed([3, 1, 3]) == "3, 1" and listed([]) == "none"
    raise_missing(None, None)
    with pytest.raises(ValueError, match="^second$"):
        raise_missing(None, "second", "third")


def test_missing_in_groups_names_the_first_group_that_lacks_an_arm():
    data = pd.DataFrame({"n": [8, 8, 16, 32, 32], "ef": ["a", "a", "b", "a", "a"],
                         "method": ["dense", "Top-K", "dense", "dense", "ARC"]})
    needed = ["dense", "Top-K"]
    assert missing_in_groups(data, "method", needed, "fig9", ["n"], "at N =") == (
        "fig9 at N = 16 needs runs of Top-K; the runs have dense")
    assert missing_in_groups(data, "method", needed, "fig9", ["n", "ef"], "for") == (
        "fig9 for 16, b needs runs of Top-K; the runs have dense")
    assert missing_in_groups(data[data["n"] == 8], "method", needed, "fig9", ["n"], "at N =") is None
    assert missing_in_groups(data.iloc[:0], "method", needed, "fig9", ["n"], "at N =") == (
        "fig9 needs runs of dense, Top-K; the runs have none")


def test_arm_starting_wants_exactly_one_match():
    assert arm_starting(["dense", "PowerSGD r32", "PowerSGD r32"], "PowerSGD", "tab") == "PowerSGD r32"
    with pytest.raises(ValueError) as none:
        arm_starting(["dense"], "PowerSGD", "tab5 at 25 Gbit/s")
    assert str(none.value) == "tab5 at 25 Gbit/s needs one PowerSGD run, found none; the runs have dense"
    with pytest.raises(ValueError) as two:
        arm_starting(["PowerSGD r8", "PowerSGD r32"], "PowerSGD", "tab")
    assert str(two.value) == ("tab needs one PowerSGD run, found 2 (PowerSGD r8, PowerSGD r32); the runs have "
                              "PowerSGD r8, PowerSGD r32")


# ------------------------------------------------------------------------------------------- greedylore.tab5
def _tab5_without(method: str, bandwidth: float) -> NS:
    sweep = _tab5_sweep()
    keep = [not (p.scenario.technique.name == method and p.scenario.network.intra_node.bandwidth_gbps == bandwidth)
            for p in sweep.points]
    return NS(points=[p for p, k in zip(sweep.points, keep, strict=True) if k],
              runs=[r for r, k in zip(sweep.runs, keep, strict=True) if k])


@pytest.mark.parametrize(("method", "message"), [
    ("powersgd", "greedylore.tab5 at 25 Gbit/s needs one PowerSGD run, found none; the runs have GreedyLore r32, "
                 "dense"),
    ("greedylore", "greedylore.tab5 at 25 Gbit/s needs one GreedyLore run, found none; the runs have PowerSGD r32, "
                   "dense"),
    ("none", "greedylore.tab5 at 25 Gbit/s needs runs of dense; the runs have GreedyLore r32, PowerSGD r32"),
])
def test_tab5_without_an_arm_says_which(method, message):
    with pytest.raises(ValueError) as err:
        greedylore_tables.draw_tab5(_ctx(_tab5_without(method, 25.0)))
    assert str(err.value) == message


def test_greedylore_fig2_verdict_without_exact_semi_lazy_is_not_checkable():
    data = pd.DataFrame({"variant": ["lazy", "lazy", "semi_lazy_probe"], "refresh": [True, False, False],
                         "bound_ratio": 0.9, "max": [1.0, 1.0, 0.8], "mean": [0.9, 0.9, 0.7]})
    verdict = greedylore.verdict_fig2(data)
    assert verdict.status == "not_checkable"
    assert verdict.explanation == ("the contraction check needs runs of semi_lazy_exact; the runs have lazy, "
                                   "semi_lazy_probe")


# -------------------------------------------------------------------------------------------------- arctopk
def test_fig_scaling_without_top_k_says_so(tmp_path):
    sweep = Sweep(tmp_path)
    for method in ("dense", "ARC-Top-K"):
        sweep.add(method, 0, curve(20, grad_norm=tail(0.1), payload_bytes_per_worker=1.0),
                  **{"workload.n_workers": 8})
    with pytest.raises(ValueError) as err:
        arctopk.draw_fig_scaling(arctopk_ctx({arctopk.SCALING: sweep}))
    assert str(err.value) == "arctopk.fig_scaling at N = 8 needs runs of Top-K; the runs have dense, ARC-Top-K"


def test_time_to_accuracy_without_a_methods_simulated_step_time_says_so(tmp_path, monkeypatch):
    figure_ctx = _tta_ctx(tmp_path, monkeypatch)
    names = ["dense", "ARC-Top-K"]  # the step-time sweep lacks Top-K, which the training runs have
    cluster = NS(metrics=pd.DataFrame({"technique.name": [TECHNIQUES[m][0] for m in names],
                                       "technique.params": [TECHNIQUES[m][1] for m in names],
                                       "step_time_ms": 1.0, "amortized_step_time_ms": 1.0}), runs=[])
    monkeypatch.setattr(compression_time, "simulated_step_times", lambda context: cluster)
    with pytest.raises(ValueError) as err:
        compression_time.draw_time_to_accuracy(figure_ctx)
    assert str(err.value) == (f"the simulated step times ({compression_time.TTA_CLUSTER}) needs runs of Top-K; the "
                              "runs have ARC-Top-K, dense")


# ------------------------------------------------------------------------------------------------------ frb
def test_fig3_without_a_600_mhz_run_says_so():
    luminosity = _luminosity_metrics()
    luminosity = luminosity[luminosity["workload.frequency_hz"] != 6e8]
    medians = {("konus", "plasma_cutoff", 1e8): 5.0, ("konus", "plasma_cutoff", 1e9): 1.0}
    ctx = fake_ctx({frb.VS_RADIUS: _radius_metrics(medians), frb.VS_LUMINOSITY: luminosity})
    with pytest.raises(ValueError) as err:
        draw(frb.draw_fig3, ctx)
    assert str(err.value) == ("frb.fig3's plasma cut-off curve vs luminosity (scenarios/frb/truncation_vs_luminosity"
                              ".yaml) needs runs of 600 MHz; the runs have 1400 MHz")


def test_sci_takes_more_digits_when_asked():
    assert frb.sci(1.2e40, 2) == "1.2×10⁴⁰"
    assert frb.sci(1e40, 2) == "10⁴⁰"  # 1.0 -> 1, shown as a bare power
    assert frb.sci(2.5e9, 3) == "2.5×10⁹"
    assert frb.sci(1.2e40) == "10⁴⁰"


def test_config_labels_keep_close_luminosities_apart():
    labels = frb.config_labels(pd.Series([1e8, 1e8, 1e9, 1e8]), pd.Series([1e40, 1.2e40, 1e40, 1e40]))
    assert labels == ["r = 10⁸ cm, L_X = 10⁴⁰ erg/s", "r = 10⁸ cm, L_X = 1.2×10⁴⁰ erg/s",
                      "r = 10⁹ cm, L_X = 10⁴⁰ erg/s", "r = 10⁸ cm, L_X = 10⁴⁰ erg/s"]
    assert frb.config_labels(pd.Series([1e8, 2e9]), pd.Series([1e40, 1e41])) == [
        "r = 10⁸ cm, L_X = 10⁴⁰ erg/s", "r = 2×10⁹ cm, L_X = 10⁴¹ erg/s"]  # one digit when it is enough


def test_dynamics_table_compares_monte_carlo_with_its_own_rate_curve():
    rows = []
    for lx, rate, mc in ((1e40, 10.0, 12.0), (1.2e40, 30.0, 27.0)):
        for solver, value, stderr in (("rate", rate, 0.0), ("monte_carlo", mc, 1.0)):
            rows.append({"radius_cm": 1e8, "luminosity_x_erg_s": lx, "solver": solver, "time_s": 1e-3,
                         "multiplicity": value, "multiplicity_stderr": stderr, "plasma_ratio": 0.5,
                         "opacity_tau": 0.0})
    data = frb.dynamics_table(pd.DataFrame(rows))
    assert data["config"].nunique() == 2
    assert data["mc_deviation_sigma"].tolist() == pytest.approx([0.0, 2.0, 0.0, -3.0])


# ---------------------------------------------------------------------------------------------------- ractd
def test_tab4_student_time_is_a_median_over_seeds_not_over_pooled_episodes(tmp_path):
    # seed 0: 3 episodes at 1 ms; seeds 1 and 2: one at 5 ms and 6 ms. Per seed 1, 5, 6 -> median 5 (pooled: 1)
    runs = []
    for seed, (n_episodes, student_ms) in enumerate(((3, 1.0), (1, 5.0), (1, 6.0))):
        frame = episodes({"edm_teacher": [90.0] * n_episodes, ractd.STUDENT: [70.0] * n_episodes},
                         nfe={"edm_teacher": 159}, ms={"edm_teacher": 100.0, ractd.STUDENT: student_ms})
        runs.append((fake_point(seed), frame, None))
    out = draw(ractd.draw_tab4, FakeCtx(tmp_path, runs))
    table = out.table.set_index("method")
    assert table.loc["RACTD (student)", "ms per action"] == "5.00"
    assert table.loc["EDM teacher (Heun, 80 bins)", "slower than RACTD"] == "20×"
    assert table.loc["RACTD (student)", "slower than RACTD"] == "1×"
    assert out.ours == "RACTD 20× faster than the teacher per action"


# ------------------------------------------------------------------------------------------------------ moc
def test_tab_throughput_one_seed_spread_is_n_a():
    metrics = pd.DataFrame([{"workload.model.d_model": 16, "workload.model.n_layers": 1, "seed": 0,
                             "variant": variant, "k": 3, "time_ms_median": 1.0, "tokens_per_s": tokens,
                             "relative_throughput": tokens / 1000.0, "saved_bytes_per_token": 10.0,
                             "peak_bytes_per_token": 20.0}
                            for variant, tokens in (("dense", 1000.0), ("moc", 1234.0))])
    output = moc.draw_tab_throughput(NS(run=lambda path: NS(metrics=metrics)))
    assert output.table["tokens/s"].tolist() == ["1,000 ± n/a", "1,234 ± n/a"]


# ------------------------------------------------------------------------------------------------- tahquant
def test_final_losses_window_is_each_runs_own_tenth():
    long = _rows("FP32", 0, run_frame(1.0, steps=40))  # last 4 losses 1.3 .. 1.0 -> 1.15
    short = _rows("TAH-Quant", 0, run_frame(2.0, steps=20))  # last 2 losses 2.1, 2.0 -> 2.05 (not 4: 2.15)
    finals = tahquant.final_losses(pd.concat([long, short])).set_index("series")
    assert finals.loc["FP32", "train_loss"] == pytest.approx(1.15)
    assert finals.loc["TAH-Quant", "train_loss"] == pytest.approx(2.05)
    assert np.isfinite(finals["eval_loss"]).all()
