"""Gaps in the tests of `plots.papers.greedylore_runs` found by a mutation audit.

Closed here on hand-built sweeps and frames (`fake_sweep` stands in for a ``compressed_training`` sweep):
- `variant_label` / `compressor_settings` with the compressors' defaults filled in;
- `training_runs`: the run index, the record's seed and tuned learning rate, the error feedback the run recorded,
  the warm-up steps, NaN ``d_model`` for tasks without one, and the bytes share of each run;
- `compressed_bytes_share`: the last warm-up row as the origin, the step count, dense payload as the unit, rows
  given out of step order, and (a fault, fixed) a last warm-up step that the rows kept every k steps skip: it was
  counted as a compressed step (the quick text profile's PowerSGD r2 showed 13% of dense bytes instead of 10.5%);
- `pick` with NaN; `per_seed_final` (order by step, the frame without seeds, no values); `gap_note` (the scale, the
  sample std, the |mean| = std edge, a gap of one sign that is inside the spread, one seed);
- `bytes_legend`'s rounding; `one_arm` with two runs of a seed; `rank_low` / `rank_high`; `equal_bytes_powersgd`'s
  relative distance and the 15% limit; `powersgd` and `greedy` selecting by width and error feedback;
  `gpt_sizes` ascending without NaN; `final_stats` of another column; `arm_share` as the mean.
"""

from __future__ import annotations

from types import SimpleNamespace as NS

import numpy as np
import pandas as pd
import pytest

from plots.papers import greedylore_runs as glr


def run_metrics(finals: dict[int, dict], *, last_step: int = 4, warmup: int = 2, dense_bytes: float = 1000.0,
                step_bytes: float = 250.0, all_dense: bool = False) -> pd.DataFrame:
    """One run's recorded rows for steps 0..last_step; ``finals`` gives extra columns at some steps (NaN elsewhere).

    Steps before ``warmup`` (every step when ``all_dense``) are dense and send ``dense_bytes``, the rest
    ``step_bytes``; ``cum_payload_bytes_per_worker`` accumulates them."""
    rows, cum = [], 0.0
    for step in range(last_step + 1):
        is_dense = all_dense or step < warmup
        payload = dense_bytes if is_dense else step_bytes
        cum += payload
        rows.append({"step": step, "dense": is_dense, "payload_bytes_per_worker": payload,
                     "cum_payload_bytes_per_worker": cum, **finals.get(step, {})})
    return pd.DataFrame(rows)


def fake_point(method: str, params: dict, *, seed: int, lr: float = 0.003, ef: str = "ef14", warmup: int = 2,
               **task) -> NS:
    workload = NS(error_feedback=NS(name=ef), optimizer=NS(lr=lr), task=NS(**task), warmup_steps=warmup)
    return NS(scenario=NS(technique=NS(name=method, params=params), workload=workload, seed=seed))


def fake_record(frame: pd.DataFrame, *, seed: int | None = None, info: dict | None = None) -> NS:
    return NS(info=info or {}, seed=seed, read_metrics=frame.copy)


def fake_sweep(pairs: list[tuple[NS, NS]]) -> NS:
    return NS(points=[p for p, _ in pairs], runs=[r for _, r in pairs])


# ------------------------------------------------------------------------------------------------ training_runs
def test_training_runs_takes_seed_lr_and_error_feedback_from_the_record():
    frame = run_metrics({4: {"eval_loss": 1.0}})
    pairs = [
        (fake_point("none", {}, seed=0, warmup=2), fake_record(frame, seed=7, info={"tuned": {"value": 0.01}})),
        (fake_point("greedylore", {"rank": 2, "refresh_period": 25}, seed=1, warmup=3, ef="ef14", rule="order"),
         fake_record(run_metrics({}, warmup=3, step_bytes=100.0), info={"error_feedback": "none"})),
    ]
    runs = glr.training_runs(fake_sweep(pairs))
    first, second = runs[runs["run"] == 0], runs[runs["run"] == 1]
    assert len(first) == len(second) == 5
    assert set(first["seed"]) == {7} and set(second["seed"]) == {1}  # the record's seed wins, else the scenario's
    assert set(first["lr"]) == {0.01} and set(second["lr"]) == {0.003}  # tuned rate, else the optimizer's
    assert set(second["error_feedback"]) == {"none"} and set(second["label"]) == {"GreedyLore r2 no EF"}
    assert set(first["warmup_steps"]) == {2} and set(second["warmup_steps"]) == {3}
    assert first["d_model"].isna().all() and set(second["rule"]) == {"order"} and set(first["rule"]) == {""}
    assert set(second["refresh_period"]) == {25} and set(second["selection"]) == {"greedy"}
    # run 1: 3 dense steps of 1000 bytes, then 2 of 100 -> 0.1 of dense; run 0's rows are 2 dense, 3 of 250
    assert second["bytes_share"].iloc[0] == pytest.approx(0.1) and first["bytes_share"].iloc[0] == pytest.approx(0.25)


def test_training_runs_label_of_a_powersgd_run_has_no_selection():
    pairs = [(fake_point("powersgd", {"rank": 3}, seed=0, d_model=32), fake_record(run_metrics({})))]
    runs = glr.training_runs(fake_sweep(pairs))
    assert set(runs["label"]) == {"PowerSGD r3"} and set(runs["selection"]) == {""} and set(runs["rank"]) == {3}
    assert set(runs["d_model"]) == {32}


def test_labels_and_settings_fill_in_the_compressors_defaults():
    # methods.compress: PowerSGD's rank defaults to 1; GreedyLore's to rank 4, tau 200, greedy selection
    assert glr.variant_label("powersgd", {}, "ef14") == "PowerSGD r1"
    assert glr.variant_label("greedylore", {"selection": "lazy"}, "ef14") == "GreedyLore r4 lazy"
    assert glr.compressor_settings("greedylore", {}) == {"rank": 4, "refresh_period": 200, "selection": "greedy"}


def test_training_runs_of_an_empty_sweep_raises():
    with pytest.raises(ValueError, match="no runs"):
        glr.training_runs(fake_sweep([]))


# ------------------------------------------------------------------------------------------------ bytes share
def test_bytes_share_counts_from_the_last_warm_up_row_in_steps_and_dense_payloads():
    # steps 0-2 dense (1000 bytes each, the last warm-up step sends 600 to tell it apart), steps 3-6 send 300 each
    rows = run_metrics({}, last_step=6, warmup=3, step_bytes=300.0)
    rows.loc[2, "payload_bytes_per_worker"] = 600.0
    rows["cum_payload_bytes_per_worker"] = rows["payload_bytes_per_worker"].cumsum()
    # (cum at 6 - cum at 2) / (6 - 2) = 300 bytes per step, over the last warm-up row's 600 bytes
    assert glr.compressed_bytes_share(rows) == pytest.approx(0.5)
    assert glr.compressed_bytes_share(rows.iloc[::-1]) == pytest.approx(0.5)  # rows out of step order


def _kept_every_5(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows compressed_training keeps with record_every 5: steps 0, 4, 9, ... and the last."""
    last = int(frame["step"].max())
    return frame[[(s + 1) % 5 == 0 or s in (0, last) for s in frame["step"]]]


def test_bytes_share_when_the_last_warm_up_step_was_not_recorded():
    # 6 dense steps (0-5) of 1000 bytes, then 34 steps of 100: the share is 0.1. Kept every 5 steps, the last
    # warm-up row is step 4, so step 5 (dense) lies between it and the compressed rows; counting it as compressed
    # gave (1000 + 34 x 100) / 35 / 1000 = 0.126.
    kept = _kept_every_5(run_metrics({}, last_step=39, warmup=6, dense_bytes=1000.0, step_bytes=100.0))
    assert list(kept["step"][:3]) == [0, 4, 9]
    assert glr.compressed_bytes_share(kept.assign(warmup_steps=6)) == pytest.approx(0.1)
    runs = glr.training_runs(fake_sweep([(fake_point("powersgd", {"rank": 2}, seed=0, warmup=6), fake_record(kept))]))
    assert list(runs["bytes_share"].unique()) == pytest.approx([0.1])


def test_bytes_share_with_the_last_warm_up_step_recorded_is_unchanged_by_the_warm_up_column():
    # warm-up 5 steps kept every 5: step 4 is recorded; (cum 39 - cum 4) / 35 = 100 bytes per step
    kept = _kept_every_5(run_metrics({}, last_step=39, warmup=5, dense_bytes=1000.0, step_bytes=100.0))
    assert glr.compressed_bytes_share(kept.assign(warmup_steps=5)) == pytest.approx(0.1)
    assert glr.compressed_bytes_share(kept) == pytest.approx(0.1)


# ------------------------------------------------------------------------------------------------ selections
def test_pick_matches_nan_only_to_nan():
    runs = pd.DataFrame({"d_model": [32.0, np.nan, 64.0], "run": [0, 1, 2]})
    assert list(glr.pick(runs, d_model=np.nan)["run"]) == [1]
    assert list(glr.pick(runs, d_model=32.0)["run"]) == [0]


def test_per_seed_final_is_the_last_step_of_each_seed():
    rows = pd.DataFrame({"seed": [0, 0, 1, 1], "step": [9, 3, 2, 8], "eval_loss": [1.0, 5.0, 6.0, 2.0]})
    assert glr.per_seed_final(rows).to_dict() == {0: 1.0, 1: 2.0}
    no_seed = pd.DataFrame({"step": [5, 1, 3], "eval_loss": [0.5, 4.0, np.nan]})
    assert glr.per_seed_final(no_seed).to_dict() == {0: 0.5}
    with pytest.raises(ValueError, match="no recorded 'eval_loss'"):
        glr.per_seed_final(no_seed.assign(eval_loss=np.nan))


def test_gap_note_scales_and_uses_the_sample_std():
    a = pd.Series([1.0, 2.0, 3.0], index=[0, 1, 2])
    b = pd.Series([0.0, 0.0, 0.0], index=[0, 1, 2])
    # gaps x100: 100, 200, 300 -> mean 200, sample std 100 (the population std would be 82)
    expected = "g: 200 ± 100 pp over 3 seeds, the same sign in all 3 seeds."
    assert glr.gap_note("g", a, b, scale=100.0, unit=" pp") == expected


def test_gap_note_edges_of_inside_the_spread():
    zero2, zero3 = pd.Series([0.0, 0.0], index=[0, 1]), pd.Series([0.0, 0.0, 0.0], index=[0, 1, 2])
    # gaps 1 and 3: mean 2, sample std 1.41 < 2, one sign -> outside
    assert "the same sign in all 2 seeds" in glr.gap_note("g", pd.Series([1.0, 3.0], index=[0, 1]), zero2)
    # gaps 0.5 and 3.5: mean 2, sample std 2.12 >= 2, one sign -> inside (|mean| <= std alone decides)
    assert "inside the seed spread" in glr.gap_note("g", pd.Series([0.5, 3.5], index=[0, 1]), zero2)
    # gaps 0, 3, 6: mean 3 and sample std exactly 3 -> inside (the edge belongs to "inside")
    assert "inside the seed spread" in glr.gap_note("g", pd.Series([0.0, 3.0, 6.0], index=[0, 1, 2]), zero3)
    # gaps -0.1, 10, 10, 10: mean 7.5 > std 5.05, but the sign changes -> inside
    mixed = pd.Series([-0.1, 10.0, 10.0, 10.0], index=[0, 1, 2, 3])
    assert "inside the seed spread" in glr.gap_note("g", mixed, pd.Series(0.0, index=[0, 1, 2, 3]))


def test_gap_note_of_one_shared_seed_says_no_spread():
    a = pd.Series([2.0, 5.0], index=[0, 1])
    b = pd.Series([1.5, np.nan], index=[0, 1])
    assert glr.gap_note("g", a, b) == "g: +0.5 (one seed: no spread)."


def test_bytes_legend_rounds_to_whole_percent():
    assert glr.bytes_legend("GreedyLore r2", 0.1875) == "GreedyLore r2 (19% of dense bytes)"


def test_one_arm_refuses_a_seed_with_two_runs_even_when_another_seed_has_one():
    runs = pd.DataFrame({"run": [0, 1, 2], "seed": [0, 0, 1], "method": ["none"] * 3})
    with pytest.raises(ValueError, match="found 3 runs"):
        glr.one_arm(runs, method="none")


def test_rank_low_and_high_are_a_sixteenth_and_a_quarter_of_the_width():
    assert (glr.rank_low(64.0), glr.rank_high(64.0)) == (4, 16)
    assert (glr.rank_low(32), glr.rank_high(32)) == (2, 8)


def _arms() -> pd.DataFrame:
    def arm(run: int, method: str, d_model: float, rank: int, share: float, **extra) -> dict:
        row = {"run": run, "seed": 0, "method": method, "d_model": d_model, "rank": rank, "bytes_share": share,
               "refresh_period": 25, "selection": "greedy", "error_feedback": "ef14"}
        return {**row, **extra}

    return pd.DataFrame([
        arm(0, "greedylore", 32.0, 2, 0.20), arm(1, "powersgd", 32.0, 2, 0.10), arm(2, "powersgd", 32.0, 3, 0.30),
        arm(3, "powersgd", 32.0, 8, 0.172), arm(4, "powersgd", 64.0, 2, 0.05),
        arm(5, "greedylore", 32.0, 2, 0.30, error_feedback="none"),
    ])


def test_equal_bytes_powersgd_uses_the_relative_distance_and_refuses_past_15_percent():
    runs = _arms()
    reference = runs[runs["run"] == 0]
    # relative to 0.20: r2 -50%, r3 +50%, r8 -14% -> r8 (within 15%)
    assert list(glr.equal_bytes_powersgd(runs, 32.0, reference)["run"]) == [3]
    moved = runs.assign(bytes_share=runs["bytes_share"].where(runs["run"] != 3, 0.168))  # -16%: refused
    with pytest.raises(ValueError, match="closest: rank 8"):
        glr.equal_bytes_powersgd(moved, 32.0, reference)


def test_arm_selectors_filter_by_width_and_error_feedback():
    runs = _arms()
    assert list(glr.powersgd(runs, 32.0, 2)["run"]) == [1]
    assert list(glr.greedy(runs, 32.0, 2)["run"]) == [0]  # the default is EF14, not the no-EF ablation
    assert list(glr.greedy(runs, 32.0, 2, error_feedback="none")["run"]) == [5]


def test_gpt_sizes_ascending_without_nan():
    runs = pd.DataFrame({"d_model": [64.0, np.nan, 32.0, 64.0]})
    assert glr.gpt_sizes(runs) == [32.0, 64.0]


def test_final_stats_of_another_column():
    runs = pd.DataFrame({"label": ["a"] * 4, "seed": [0, 0, 1, 1], "step": [1, 2, 1, 2],
                         "eval_loss": [9.0, 9.0, 9.0, 9.0], "accuracy": [0.1, 0.5, 0.2, 0.7]})
    stats = glr.final_stats(runs, "accuracy")
    assert stats.loc["a", "mean"] == pytest.approx(0.6) and stats.loc["a", "n_seeds"] == 2


def test_arm_share_is_the_mean_over_rows():
    assert glr.arm_share(pd.DataFrame({"bytes_share": [0.2, 0.4]})) == pytest.approx(0.3)
