"""Gaps in the tests of `plots.spread` found by a mutation audit, closed here on hand-built runs.

`over_seeds` (what every convergence figure draws: the mean line and min-max band, and ``n_seeds``) had no direct
test: its mean / min / max, the seed count when evaluations and training records are separate rows, the steps no
seed evaluated, one seed's zero spread and a frame without seeds all survived mutation. Also closed: the final
value of a run whose rows are not in step order, a method that never evaluated, min / max and one seed's spread in
`final_over_seeds`; when `draw_band` draws a band and which line it draws; every digit and the "n/a" of `pm`.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from plots.spread import draw_band, final_over_seeds, n_seeds, over_seeds, pm

NAN = math.nan


def _runs() -> pd.DataFrame:
    """Method A, seeds 1-3: a training row (loss) and an evaluation row (eval_loss) per seed and step; nobody
    evaluated at step 5, seed 3 has no evaluation at step 10. Rows are not in step order."""
    loss = {1: {0: 3.0, 5: 2.5, 10: 1.0}, 2: {0: 4.0, 5: 3.5, 10: 2.0}, 3: {0: 5.0, 5: 4.5, 10: 6.0}}
    evals = {1: {0: 3.5, 5: NAN, 10: 1.5}, 2: {0: 4.5, 5: NAN, 10: 2.5}, 3: {0: 5.5, 5: NAN, 10: NAN}}
    rows = []
    for seed in (1, 2, 3):
        for step in (10, 0, 5):
            rows.append({"method": "A", "seed": seed, "step": step, "loss": loss[seed][step], "eval_loss": NAN})
            rows.append({"method": "A", "seed": seed, "step": step, "loss": NAN, "eval_loss": evals[seed][step]})
    return pd.DataFrame(rows)


def test_over_seeds_mean_band_and_seed_count_per_step():
    out = over_seeds(_runs(), by=["method"], x="step", y="loss").sort_values("step").reset_index(drop=True)
    assert list(out["step"]) == [0, 5, 10]
    assert list(out["loss_mean"]) == [4.0, 3.5, 3.0]
    assert list(out["loss_min"]) == [3.0, 2.5, 1.0] and list(out["loss_max"]) == [5.0, 4.5, 6.0]
    assert out["loss_std"].tolist() == pytest.approx([1.0, 1.0, math.sqrt(7.0)])  # (4 + 1 + 9) / 2 = 7
    assert list(out["n_seeds"]) == [3, 3, 3]  # three seeds, six rows per step


def test_over_seeds_leaves_out_steps_without_an_evaluation():
    out = over_seeds(_runs(), by=["method"], x="step", y="eval_loss").sort_values("step").reset_index(drop=True)
    assert list(out["step"]) == [0, 10]  # nobody evaluated at step 5
    assert list(out["eval_loss_mean"]) == [4.5, 2.0] and list(out["eval_loss_min"]) == [3.5, 1.5]
    assert list(out["n_seeds"]) == [3, 2]  # seed 3 did not evaluate at step 10


def test_one_seed_has_no_spread_and_no_seed_column_counts_as_one_seed():
    one = _runs()[lambda frame: frame["seed"] == 2]
    out = over_seeds(one, by=["method"], x="step", y="loss").sort_values("step")
    assert list(out["loss_std"]) == [0.0, 0.0, 0.0] and list(out["n_seeds"]) == [1, 1, 1]
    no_seed = one.drop(columns="seed")
    assert list(over_seeds(no_seed, by=["method"], x="step", y="loss")["n_seeds"]) == [1, 1, 1]
    assert n_seeds(no_seed) == 1 and n_seeds(_runs()) == 3


def test_final_over_seeds_takes_each_runs_last_recorded_step():
    runs = pd.concat([_runs(), pd.DataFrame([{"method": "B", "seed": 1, "step": 10, "loss": 1.0, "eval_loss": NAN}])])
    final = final_over_seeds(runs, by=["method"], y="eval_loss").set_index("method")
    assert list(final.index) == ["A"]  # B never evaluated
    # last evaluations: seed 1 at step 10 (1.5), seed 2 at step 10 (2.5), seed 3 at step 0 (5.5)
    assert final.loc["A", "mean"] == pytest.approx(9.5 / 3)
    assert (final.loc["A", "min"], final.loc["A", "max"], final.loc["A", "n_seeds"]) == (1.5, 5.5, 3)
    one = final_over_seeds(_runs()[lambda frame: frame["seed"] == 3], by=["method"], y="loss")
    assert one[["mean", "std", "min", "max", "n_seeds"]].values.tolist() == [[6.0, 0.0, 6.0, 6.0, 1]]


class _Axes:
    def __init__(self):
        self.lines, self.bands = [], []

    def plot(self, x, y, **kwargs):
        self.lines.append((list(x), list(y), kwargs))

    def fill_between(self, x, low, high, **kwargs):
        self.bands.append((list(x), list(low), list(high)))


def test_draw_band_draws_the_mean_in_step_order_and_a_band_only_where_seeds_differ():
    summary = over_seeds(_runs(), by=["method"], x="step", y="loss").sort_values("step", ascending=False)
    ax = _Axes()
    draw_band(ax, summary, "step", "loss", color="red", label="A")
    assert ax.lines == [([0, 5, 10], [4.0, 3.5, 3.0], {"color": "red", "label": "A"})]
    assert ax.bands == [([0, 5, 10], [3.0, 2.5, 1.0], [5.0, 4.5, 6.0])]
    flat = _Axes()
    draw_band(flat, over_seeds(_runs()[lambda f: f["seed"] == 1], by=["method"], x="step", y="loss"), "step", "loss",
              color="red", label="A")
    assert len(flat.lines) == 1 and flat.bands == []  # one seed: min == max everywhere, no band


@pytest.mark.parametrize("args, text", [
    ((1.23456, 0.0123456), "1.23 ± 0.012"),
    ((1.23456, 0.0123456, 4), "1.235 ± 0.0123"),
    ((2.0, 0.123, 1), "2 ± 0.1"),
    ((123.4, 198.0), "123 ± 198"),  # not "123 ± 2e+02"
    ((123.4, 198.0, 2), "123 ± 198"),  # whole numbers below 10,000 written out, not "1.2e+02 ± 2e+02"
    ((2.5e5, 1.2e4), "2.5e+05 ± 1.2e+04"),
    ((NAN, 0.5), "n/a"),
    ((math.inf, 0.5), "n/a"),
    ((2.5, NAN), "2.5 ± n/a"),  # one seed: no sample std
])
def test_pm_cells(args, text):
    assert pm(*args) == text
