"""Gaps in the tests of GreedyLore's verdicts found by a mutation audit, closed here on hand-built frames.

Closed: fig1's early window (after the warm-up, its end included, a quarter of the compressed steps) and its
greedy-vs-random order on held-out and training loss (a tie holds); fig2's lazy reach (0.95, the edge included),
the exact semi-lazy bound (1 - r/p) on the largest ratio and the one-probe default on the mean ratio, refresh steps
left out; fig3's accuracy at most 2 points below dense on the last recorded accuracy; fig4's 2% loss bound per
width and the equal-bytes PowerSGD order; fig5's base-vs-no-EF and base-vs-lazy orders on final losses;
window means and seed means as means; per_seed_final without a seed column.
"""

from __future__ import annotations

import pandas as pd
import pytest

from plots.papers import greedylore as gl


def holding(verdict) -> list[bool]:
    return [check.holds for check in verdict.checks]


# ------------------------------------------------------------------------------------------------------- fig1
def _early(curves: dict[tuple[str, str], dict[int, float]], warmup: int = 4) -> pd.DataFrame:
    """Per (label, selection): loss = eval_loss at the given steps, one seed."""
    rows = []
    for (label, selection), points in curves.items():
        for step, loss in points.items():
            rows.append({"label": label, "selection": selection, "seed": 0, "lr": 1e-3, "step": step, "loss": loss,
                         "eval_loss": loss, "d_model": 64, "rank": 4, "warmup_steps": warmup})
    return pd.DataFrame(rows)


def test_fig1_early_window_is_the_first_quarter_after_the_warm_up():
    # warm-up 4, last step 19: 16 compressed steps, a quarter is 4: steps 5-8, given as (4, 8]
    assert gl.early_window(_early({("dense", "none"): {s: 1.0 for s in range(20)}})) == (4, 8)


def _fig1(greedy: dict[int, float], random: dict[int, float]) -> pd.DataFrame:
    steps = range(20)
    return _early({("dense", "none"): {s: 1.0 for s in steps}, ("GreedyLore r4", "greedy"): greedy,
                   ("GreedyLore r4 random", "random"): random})


def test_fig1_only_the_early_window_counts():
    base = {s: 1.0 for s in range(20)}
    # random above greedy at steps 5-8 only; below it at the warm-up end (step 4) and after the window
    random = {**base, **{s: 2.0 for s in (5, 6, 7, 8)}, 4: 0.0, 9: 0.0, 19: 0.0}
    assert gl.verdict_fig1(_fig1(base, random)).status == "reproduced"
    earlier = {**base, 4: 2.0, 9: 2.0, 19: 2.0, 8: 0.0}  # random below greedy at step 8, the window's last step
    assert gl.verdict_fig1(_fig1(base, earlier)).status == "not_reproduced"


def test_fig1_a_tie_holds_and_greedy_above_random_fails():
    base = {s: 1.0 for s in range(20)}
    assert gl.verdict_fig1(_fig1(base, dict(base))).status == "reproduced"
    worse = {**base, 6: 1.5}
    assert gl.verdict_fig1(_fig1(worse, base)).status == "not_reproduced"


# ------------------------------------------------------------------------------------------------------- fig2
def _ratios(per_variant: dict[str, list[float]], bound: float = 0.75, refresh_ratio: float = 5.0) -> pd.DataFrame:
    rows = []
    for variant, ratios in per_variant.items():
        rows.append({"variant": variant, "trial": 0, "step": 0, "refresh": True, "ratio": refresh_ratio,
                     "bound_ratio": bound})  # a refresh step: not judged
        for step, ratio in enumerate(ratios, start=1):
            rows.append({"variant": variant, "trial": 0, "step": step, "refresh": False, "ratio": ratio,
                         "bound_ratio": bound})
    data = pd.DataFrame(rows)
    return data.assign(max=data["ratio"], mean=data["ratio"])


@pytest.mark.parametrize("variants, holds", [
    ({"lazy": [0.5, 0.95], "semi_lazy_exact": [0.5, 0.75], "semi_lazy_probe": [0.5, 1.0]}, [True, True, True]),
    ({"lazy": [0.5, 0.9375], "semi_lazy_exact": [0.5, 0.75], "semi_lazy_probe": [0.5, 1.0]}, [False, True, True]),
    ({"lazy": [1.0], "semi_lazy_exact": [0.5, 0.76], "semi_lazy_probe": [0.5, 1.0]}, [True, False, True]),
    ({"lazy": [1.0], "semi_lazy_exact": [0.5], "semi_lazy_probe": [0.75, 0.875]}, [True, True, False]),
])
def test_fig2_lazy_reach_exact_bound_and_probe_mean(variants, holds):
    assert holding(gl.verdict_fig2(_ratios(variants))) == holds


def test_fig2_without_the_probe_variant_two_checks():
    assert holding(gl.verdict_fig2(_ratios({"lazy": [1.0], "semi_lazy_exact": [0.5]}))) == [True, True]


# ------------------------------------------------------------------------------------------------------- fig3
def _accuracy(finals: dict[str, float]) -> pd.DataFrame:
    rows = []
    for label, final in finals.items():
        for seed in (0, 1):
            rows += [{"label": label, "seed": seed, "step": 0, "accuracy": 0.0},
                     {"label": label, "seed": seed, "step": 10, "accuracy": final}]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("greedy, status", [(0.75, "reproduced"), (0.73046875, "reproduced"),  # 1.95 points below
                                            (0.7265625, "not_reproduced"),  # 2.34 points below
                                            (1.0, "reproduced")])
def test_fig3_at_most_two_points_below_dense(greedy, status):
    data = _accuracy({"dense": 0.75, "GreedyLore r4": greedy})  # the last recorded accuracy counts, not step 0's
    assert gl.verdict_fig3(data).status == status


# ------------------------------------------------------------------------------------------------------- fig4
def _fig4(finals: dict[int, dict[str, float]], equal: str = "PowerSGD r8") -> pd.DataFrame:
    rows = []
    for d_model, per_label in finals.items():
        for label, final in per_label.items():
            for seed in (0, 1):
                for step, loss in ((0, 9.0), (10, final)):
                    rows.append({"d_model": d_model, "label": label, "seed": seed, "step": step, "eval_loss": loss,
                                 "equal_bytes": label == equal, "bytes_share": 0.1})
    return pd.DataFrame(rows)


def test_fig4_two_percent_of_dense_and_equal_bytes_order_per_width():
    data = _fig4({32: {"dense": 1.0, "GreedyLore r2": 1.02, "PowerSGD r8": 1.02},
                  64: {"dense": 1.0, "GreedyLore r4": 1.03, "PowerSGD r8": 1.0}})
    assert holding(gl.verdict_fig4(data)) == [True, True, False, False]


# ------------------------------------------------------------------------------------------------------- fig5
def _fig5(finals: dict[str, float]) -> pd.DataFrame:
    rows = []
    for series, final in finals.items():
        for seed in (0, 1):
            for step, loss in ((0, 9.0), (10, final)):
                rows.append({"panel": "error feedback and selection", "series": series, "seed": seed, "step": step,
                             "eval_loss": loss})
    rows.append({"panel": "rank", "series": "rank 2", "seed": 0, "step": 10, "eval_loss": 0.0})  # no claim
    return pd.DataFrame(rows)


@pytest.mark.parametrize("no_ef, lazy, holds", [(1.0, 1.0, [True, True]), (0.875, 1.5, [False, True]),
                                                (1.5, 0.875, [True, False])])
def test_fig5_no_ef_and_lazy_are_not_below_the_base(no_ef, lazy, holds):
    data = _fig5({"dense": 0.5, "GreedyLore r4 (EF14)": 1.0, "GreedyLore r4, no EF": no_ef, "lazy r4 (EF14)": lazy})
    assert holding(gl.verdict_fig5(data)) == holds


def test_window_means_excludes_the_window_start_and_includes_its_end():
    rows = pd.DataFrame({"seed": 0, "step": [4, 5, 6, 8, 9], "eval_loss": [100.0, 1.0, 1.0, 4.0, 100.0]})
    assert gl.window_means(rows, (4, 8)).tolist() == [2.0]  # the mean of steps 5, 6 and 8 (median 1)


def test_per_seed_final_without_a_seed_column_is_the_last_step():
    from plots.papers import greedylore_runs as glr

    rows = pd.DataFrame({"step": [3, 1, 2], "eval_loss": [0.5, 2.0, 1.0]})
    assert glr.per_seed_final(rows).tolist() == [0.5]


def test_fig1_orders_seed_means_of_the_window_means():
    rows = []
    for seed, (greedy, random) in enumerate(((1.0, 1.25), (1.0, 1.25), (1.0, 0.0))):  # random: mean 0.83, median 1.25
        flat = {("dense", "none"): 1.0, ("GreedyLore r4", "greedy"): greedy, ("GreedyLore r4 random", "random"): random}
        rows.append(_early({key: {s: loss for s in range(20)} for key, loss in flat.items()}).assign(seed=seed))
    assert gl.verdict_fig1(pd.concat(rows, ignore_index=True)).status == "not_reproduced"


def test_early_window_of_a_short_run_is_one_step():
    assert gl.early_window(_early({("dense", "none"): {s: 1.0 for s in range(9)}})) == (4, 5)  # 5 // 4 = 1
