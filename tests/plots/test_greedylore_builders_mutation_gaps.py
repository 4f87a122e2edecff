"""Gaps in the tests of `plots.papers.greedylore` found by a mutation audit.

The draw functions' data assembly had no check beyond two renders on real runs (fig2, fig3). Closed here on
hand-built sweeps, contraction metrics and frames (the `fake_*` helpers of the GreedyLore runs audit):
- `early_window` with fewer than 4 compressed steps and as a quarter (rounded down) of the compressed steps,
  `window_means` without a seed column or with no value in the window, `_std` of one seed, `seeds_reason`'s plural
  and `_explain` when every check holds or without a reason (no trailing space);
- fig1: the wider tiny GPT, the early window's per-seed means (window ends, sample std per arm), the final losses,
  the learning rates and the window in "ours" and the provenance, the data columns;
- fig2: `contraction_summary` (refresh steps left out, a ratio at the bound is not above it), the per-step mean
  (not the median, over 3 trials), min and max over trials of the ratio, "ours" and the provenance, and a run
  without the one-probe and random variants;
- fig3: the final accuracy x100 per arm, GreedyLore - dense in points and GreedyLore's own bytes share;
  `greedy_label_of` refusing two plain GreedyLore series;
- fig4: `fig4_arms` (the equal-bytes arm only when its rank differs, the flag, MiB of 2^20 bytes) and "ours" per
  width (final losses, bytes shares, row order);
- fig5: `ablation_runs` at the smaller width (which run fills each slot, tau and rank in ascending order), the
  data's panels and series, and "ours" (base, dense, signed changes of the others, base-equal series left out).
"""

from __future__ import annotations

from types import SimpleNamespace as NS

import numpy as np
import pandas as pd
import pytest

from plots.papers import greedylore as gl
from plots.verdict import at_most
from tests.plots.test_greedylore_runs_mutation_gaps import fake_point, fake_record, fake_sweep, run_metrics


def _ctx(sweep: NS) -> NS:
    return NS(run=lambda path: sweep, profile="quick")


def gpt_run(method: str, params: dict, *, seed: int, d_model: float | None, eval_of, lr: float = 0.003,
            ef: str = "ef14", share: float = 0.25, last_step: int = 9, warmup: int = 2, column: str = "eval_loss",
            info: dict | None = None) -> tuple[NS, NS]:
    """One run: ``column`` = eval_of(step) at every step 0..last_step, training loss 0.5 above it, dense steps of
    1000 bytes before ``warmup`` (all steps for dense) then ``share`` x 1000, and step x 2^20 ring bytes sent."""
    frame = run_metrics({}, last_step=last_step, warmup=warmup, dense_bytes=1000.0, step_bytes=1000.0 * share,
                        all_dense=method == "none")
    frame[column] = [eval_of(step) for step in frame["step"]]
    frame["loss"] = [eval_of(step) + 0.5 for step in frame["step"]]
    if column != "eval_loss":
        frame["eval_loss"] = 0.3
    frame["cum_ring_sent_bytes_per_worker"] = frame["step"] * 2.0**20
    task = {} if d_model is None else {"d_model": d_model}
    return fake_point(method, params, seed=seed, lr=lr, ef=ef, warmup=warmup, **task), fake_record(frame, info=info)


# ------------------------------------------------------------------------------------------------ helpers
def test_early_window_is_one_step_long_when_fewer_than_4_compressed_steps():
    runs = pd.DataFrame({"step": [0, 1, 2, 3, 4], "warmup_steps": 2})  # 3 compressed steps: 3 // 4 = 0 -> 1
    assert gl.early_window(runs) == (2, 3)


def test_early_window_is_a_quarter_of_the_compressed_steps_after_the_warmup():
    runs = pd.DataFrame({"step": range(50), "warmup_steps": 10})  # steps 10..49: 40 compressed steps -> 10
    assert gl.early_window(runs) == (10, 20)
    assert gl.early_window(runs[runs["step"] <= 46]) == (10, 19)  # 37 compressed steps -> 9 (rounded down)


def test_window_means_without_a_seed_column_and_with_nothing_inside():
    rows = pd.DataFrame({"step": [1, 2, 3, 4], "eval_loss": [9.0, 1.0, 3.0, 9.0]})
    assert gl.window_means(rows, (1, 3)).to_dict() == {0: 2.0}
    with pytest.raises(ValueError, match="between steps 3 and 6"):  # step 4 is inside but has no value
        gl.window_means(rows.assign(eval_loss=[1.0, 1.0, 1.0, np.nan]), (3, 6))


def test_std_of_one_seed_is_zero_and_of_two_the_sample_std():
    assert gl._std(pd.Series([3.0])) == 0.0
    assert gl._std(pd.Series([1.0, 3.0])) == pytest.approx(2**0.5)


def test_seeds_reason_counts_seeds_with_the_plural():
    assert "over 1 seed of" in gl.seeds_reason(pd.DataFrame({"seed": [4, 4]}))
    assert "over 2 seeds of" in gl.seeds_reason(pd.DataFrame({"seed": [0, 1]}))


def test_explain_adds_the_reason_only_when_a_check_fails():
    held = at_most("a", ours=1.0, high=2.0, paper="p")
    failed = at_most("b", ours=3.0, high=2.0, paper="p")
    assert gl._explain("Text.", [held], "Why.") == "Text."
    assert gl._explain("Text.", [held, failed], "Why.") == "Text. Does not hold: b. Why."
    assert gl._explain("Text.", [failed], "") == "Text. Does not hold: b."  # no trailing space without a reason


def test_greedy_label_of_refuses_two_plain_series():
    assert gl.greedy_label_of(["dense", "GreedyLore r4", "GreedyLore r4 random", "GreedyLore r4"]) == "GreedyLore r4"
    with pytest.raises(ValueError, match="expected one plain GreedyLore series"):
        gl.greedy_label_of(["GreedyLore r2", "GreedyLore r4"])


# ------------------------------------------------------------------------------------------------------- fig1
# held-out loss 10 - step + label offset + seed offset (steps 0-9, warm-up 2): the early window is steps 3-4
FIG1_ARMS = {  # label -> (method, params, label offset, seed offsets, lr)
    "dense": ("none", {}, 0.0, (0.0, 0.2), 0.01),
    "GreedyLore r4": ("greedylore", {"rank": 4, "refresh_period": 25}, 0.5, (0.0, 0.4), 0.003),
    "GreedyLore r4 random": ("greedylore", {"rank": 4, "refresh_period": 25, "selection": "random"}, 1.0, (0.0, 0.6),
                             0.001),
}


def _fig1_sweep() -> NS:
    pairs = [gpt_run("none", {}, seed=seed, d_model=32.0, eval_of=lambda step: 50.0) for seed in (0, 1)]
    for method, params, offset, seeds, lr in FIG1_ARMS.values():
        for seed, extra in enumerate(seeds):
            pairs.append(gpt_run(method, params, seed=seed, d_model=64.0, lr=lr, info={"tuned": {"value": lr}},
                                 eval_of=lambda step, o=offset + extra: 10.0 - step + o))
    return fake_sweep(pairs)


def test_fig1_ours_early_and_final_losses_of_the_wider_gpt():
    output = gl.draw_fig1(_ctx(_fig1_sweep()))
    # steps 3-4: 6.5 + offsets; dense seeds 6.5, 6.7; greedy 7.0, 7.4; random 7.5, 8.1 (sample stds 0.14, 0.28, 0.42)
    # final (step 9): 1 + offsets -> dense 1.1, greedy 1.7, random 2.3 with the same stds
    assert output.ours == (
        "held-out loss over the first quarter of compressed steps (3-4), mean ± std over 2 seeds: greedy 7.2 ± 0.28 "
        "vs random 7.8 ± 0.42 (dense 6.6 ± 0.14); final: greedy 1.7 ± 0.28, random 2.3 ± 0.42, dense 1.1 ± 0.14 "
        "(tiny GPT d_model 64, rank 4, lr dense 0.01, GreedyLore r4 0.003, GreedyLore r4 random 0.001)")
    assert output.provenance["early_window_steps"] == [3, 4]
    early = output.provenance["early_eval_loss_per_seed"]
    assert early["GreedyLore r4"] == pytest.approx({0: 7.0, 1: 7.4})
    assert early["GreedyLore r4 random"] == pytest.approx({0: 7.5, 1: 8.1})


def test_fig1_data_is_the_three_arms_of_the_wider_gpt_with_their_columns():
    data = gl.draw_fig1(_ctx(_fig1_sweep())).data
    assert list(data.columns) == ["label", "seed", "lr", "step", "loss", "eval_loss", "d_model", "rank", "selection",
                                  "warmup_steps", "bytes_share", "cum_ring_sent_bytes_per_worker"]
    assert list(data["label"].unique()) == list(FIG1_ARMS) and set(data["d_model"]) == {64.0}
    assert len(data) == 3 * 2 * 10
    shares = data.groupby("label")["bytes_share"].first()
    assert shares["dense"] == 1.0 and shares["GreedyLore r4"] == pytest.approx(0.25)


# ------------------------------------------------------------------------------------------------------- fig2
FIG2_RATIOS = {  # variant -> per trial, the ratio at compressed steps 1-4 (step 0 is a refresh: ratio 0)
    "lazy": ([0.5, 0.9, 0.96, 0.8], [0.6, 0.7, 0.99, 0.88]),
    "semi_lazy_exact": ([0.5, 0.875, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5]),
    "semi_lazy_probe": ([0.5, 0.6, 0.7, 0.95], [0.4, 0.5, 0.6, 0.7]),
    "random": ([0.8, 0.8, 0.8, 1.0], [0.8, 0.8, 0.8, 1.0]),
}


def _contraction_metrics(variants: tuple[str, ...] = tuple(FIG2_RATIOS)) -> pd.DataFrame:
    rows = []
    for variant in variants:
        for trial, ratios in enumerate(FIG2_RATIOS[variant]):
            for step, ratio in enumerate([0.0, *ratios]):
                rows.append({"variant": variant, "trial": trial, "step": step, "refresh": step == 0, "ratio": ratio,
                             "captured": 1.0 - ratio, "bound_ratio": 0.875})
    return pd.DataFrame(rows)


def test_contraction_summary_leaves_out_refresh_steps_and_a_ratio_at_the_bound_is_not_above_it():
    summary = gl.contraction_summary(_contraction_metrics())
    assert summary.loc["lazy", "mean_ratio"] == pytest.approx(6.33 / 8)
    assert summary.loc["lazy", "max_ratio"] == pytest.approx(0.99)
    assert summary.loc["lazy", "share_above_bound"] == pytest.approx(4 / 8)  # 0.9, 0.96, 0.99, 0.88
    assert summary.loc["semi_lazy_exact", "share_above_bound"] == 0.0  # 0.875 is the bound itself
    assert summary.loc["random", "mean_ratio"] == pytest.approx(0.85)  # the median would be 0.8


def test_fig2_data_ours_and_provenance():
    output = gl.draw_fig2(_ctx(NS(metrics=_contraction_metrics())))
    data = output.data.set_index(["variant", "step"])
    assert list(data.columns) == ["refresh", "mean", "min", "max", "bound_ratio"]
    assert data.loc[("lazy", 3), ["mean", "min", "max"]].tolist() == pytest.approx([0.975, 0.96, 0.99])
    assert data.loc[("semi_lazy_probe", 0), ["mean", "max"]].tolist() == [0.0, 0.0]
    assert bool(data.loc[("lazy", 0), "refresh"]) and set(data["bound_ratio"]) == {0.875}
    assert output.ours == ("max ratio over 2 trials: lazy 0.990; semi-lazy exact 0.875 (bound 0.875); lazy above the "
                           "bound at 50% of compressed steps; one-probe semi-lazy mean 0.619, max 0.950; random mean "
                           "0.850")
    provenance = output.provenance["ratio_per_variant"]
    assert provenance["lazy (frozen top-r, GaLore-style)"] == ("max 0.990, mean 0.791, above the bound at 50.0% of "
                                                               "compressed steps")
    assert provenance["semi-lazy, exact scores"].endswith("above the bound at 0.0% of compressed steps")


def test_fig2_per_step_mean_over_three_trials_is_the_mean_not_the_median():
    rows = [{"variant": variant, "trial": trial, "step": 1, "refresh": False, "ratio": ratio, "bound_ratio": 0.875}
            for variant, ratios in (("lazy", (0.2, 0.3, 1.0)), ("semi_lazy_exact", (0.1, 0.2, 0.6)))
            for trial, ratio in enumerate(ratios)]
    output = gl.draw_fig2(_ctx(NS(metrics=pd.DataFrame(rows))))
    data = output.data.set_index("variant")
    assert data.loc["lazy", ["mean", "min", "max"]].tolist() == pytest.approx([0.5, 0.2, 1.0])  # median 0.3
    assert data.loc["semi_lazy_exact", "mean"] == pytest.approx(0.3)  # median 0.2
    assert output.ours.startswith("max ratio over 3 trials: lazy 1.000; semi-lazy exact 0.600 (bound 0.875)")


def test_fig2_without_the_one_probe_and_random_variants():
    output = gl.draw_fig2(_ctx(NS(metrics=_contraction_metrics(("lazy", "semi_lazy_exact")))))
    assert output.ours == ("max ratio over 2 trials: lazy 0.990; semi-lazy exact 0.875 (bound 0.875); lazy above the "
                           "bound at 50% of compressed steps")
    assert set(output.provenance["ratio_per_variant"]) == {"lazy (frozen top-r, GaLore-style)",
                                                           "semi-lazy, exact scores"}


# ------------------------------------------------------------------------------------------------------- fig3
FIG3_ARMS = {  # label -> (method, params, final accuracy per seed, bytes share)
    "dense": ("none", {}, (0.90, 0.94), 1.0),
    "PowerSGD r4": ("powersgd", {"rank": 4}, (0.80, 0.84), 0.2),
    "GreedyLore r4": ("greedylore", {"rank": 4, "refresh_period": 20}, (0.85, 0.91), 0.12),
    "GreedyLore r4 random": ("greedylore", {"rank": 4, "refresh_period": 20, "selection": "random"}, (0.5, 0.6),
                             0.4),
}


def test_fig3_ours_final_accuracy_in_percent_and_greedylore_minus_dense():
    pairs = []
    for method, params, finals, share in FIG3_ARMS.values():
        for seed, final in enumerate(finals):
            # an earlier accuracy of 0.1 at every step but the last one, which is reported
            pairs.append(gpt_run(method, params, seed=seed, d_model=None, share=share, column="accuracy",
                                 eval_of=lambda step, f=final: f if step == 9 else 0.1))
    output = gl.draw_fig3(_ctx(fake_sweep(pairs)))
    # sample stds of 4 and 6 points: 2.83 and 4.24; of 10: 7.07; the held-out loss (0.3) is not reported
    assert output.ours == (
        "final test accuracy, mean ± std over 2 seeds: dense 92 ± 2.8%, PowerSGD r4 82 ± 2.8%, GreedyLore r4 "
        "88 ± 4.2%, GreedyLore r4 random 55 ± 7.1%; GreedyLore - dense = -4.0 points, sending 12% of dense's bytes "
        "per compressed step")
    assert list(output.data.columns) == ["label", "seed", "lr", "step", "loss", "eval_loss", "accuracy", "bytes_share",
                                         "cum_ring_sent_bytes_per_worker", "dense"]


# ------------------------------------------------------------------------------------------------------- fig4
FIG4_ARMS = {  # (d_model, label) -> (method, params, final held-out loss per seed, bytes share)
    (32.0, "dense"): ("none", {}, (1.50, 1.54), 1.0),
    (32.0, "PowerSGD r2"): ("powersgd", {"rank": 2}, (1.70, 1.70), 0.10),
    (32.0, "PowerSGD r3"): ("powersgd", {"rank": 3}, (1.60, 1.66), 0.19),
    (32.0, "GreedyLore r2"): ("greedylore", {"rank": 2, "refresh_period": 25}, (1.52, 1.58), 0.20),
    (64.0, "dense"): ("none", {}, (1.20, 1.20), 1.0),
    (64.0, "PowerSGD r4"): ("powersgd", {"rank": 4}, (1.40, 1.44), 0.14),
    (64.0, "PowerSGD r5"): ("powersgd", {"rank": 5}, (1.30, 1.30), 0.30),
    (64.0, "GreedyLore r4"): ("greedylore", {"rank": 4, "refresh_period": 25}, (1.22, 1.26), 0.15),
}


def _fig4_sweep() -> NS:
    pairs = []
    for (d_model, _), (method, params, finals, share) in FIG4_ARMS.items():
        for seed, final in enumerate(finals):
            pairs.append(gpt_run(method, params, seed=seed, d_model=d_model, share=share,
                                 eval_of=lambda step, f=final: f + (9 - step) / 10))
    return fake_sweep(pairs)


def test_fig4_arms_add_the_equal_bytes_powersgd_only_at_another_rank():
    from plots.papers.greedylore_runs import training_runs

    runs = training_runs(_fig4_sweep())
    small = gl.fig4_arms(runs, 32.0)  # GreedyLore r2 at 20%: PowerSGD r3 (19%) is the closest, a 4th arm
    assert list(small["label"].unique()) == ["dense", "PowerSGD r2", "GreedyLore r2", "PowerSGD r3"]
    assert set(small.loc[small["equal_bytes"], "label"]) == {"PowerSGD r3"}
    wide = gl.fig4_arms(runs, 64.0)  # GreedyLore r4 at 15%: PowerSGD r4 (14%) is the closest, no extra arm
    assert list(wide["label"].unique()) == ["dense", "PowerSGD r4", "GreedyLore r4"] and len(wide) == 3 * 2 * 10
    assert set(wide.loc[wide["equal_bytes"], "label"]) == {"PowerSGD r4"}
    assert wide["sent_mib"].tolist() == wide["step"].astype(float).tolist()  # step x 2^20 bytes


def test_fig4_ours_per_width_final_losses_and_bytes_shares():
    output = gl.draw_fig4(_ctx(_fig4_sweep()))
    assert output.ours == (
        "d_model 32: final held-out loss (mean ± std, 2 seeds) dense 1.52 ± 0.028 at 100% of dense bytes, PowerSGD r2 "
        "1.7 ± 0 at 10% of dense bytes, GreedyLore r2 1.55 ± 0.042 at 20% of dense bytes, PowerSGD r3 1.63 ± 0.042 at "
        "19% of dense bytes; d_model 64: final held-out loss (mean ± std, 2 seeds) dense 1.2 ± 0 at 100% of dense "
        "bytes, PowerSGD r4 1.42 ± 0.028 at 14% of dense bytes, GreedyLore r4 1.24 ± 0.028 at 15% of dense bytes")
    data = output.data
    assert list(data.columns) == ["label", "seed", "lr", "d_model", "rank", "equal_bytes", "bytes_share", "step",
                                  "loss", "eval_loss", "cum_ring_sent_bytes_per_worker"]
    assert len(data) == 7 * 2 * 10 and not (data["label"] == "PowerSGD r5").any()


# ------------------------------------------------------------------------------------------------------- fig5
FIG5_ARMS = {  # slot -> (params, error feedback, final held-out loss per seed); all at d_model 32, GreedyLore
    "base": ({"rank": 2, "refresh_period": 25}, "ef14", (1.50, 1.54)),
    "no EF": ({"rank": 2, "refresh_period": 25}, "none", (1.70, 1.80)),
    "lazy": ({"rank": 2, "refresh_period": 25, "selection": "lazy"}, "ef14", (1.60, 1.62)),
    "tau 5": ({"rank": 2, "refresh_period": 5}, "ef14", (1.45, 1.45)),
    "tau 100": ({"rank": 2, "refresh_period": 100}, "ef14", (1.56, 1.60)),
    "rank 1": ({"rank": 1, "refresh_period": 25}, "ef14", (1.90, 1.90)),
    "rank 8": ({"rank": 8, "refresh_period": 25}, "ef14", (1.40, 1.44)),
}


def _fig5_sweep() -> NS:
    pairs = [gpt_run("none", {}, seed=seed, d_model=64.0, eval_of=lambda step: 9.0) for seed in (0, 1)]
    pairs += [gpt_run("none", {}, seed=seed, d_model=32.0, eval_of=lambda step, f=f: f + (9 - step) / 10)
              for seed, f in enumerate((1.30, 1.36))]
    pairs += [gpt_run("greedylore", {"rank": 4, "refresh_period": 25}, seed=seed, d_model=64.0,
                      eval_of=lambda step: 9.0) for seed in (0, 1)]
    for params, ef, finals in FIG5_ARMS.values():
        for seed, final in enumerate(finals):
            pairs.append(gpt_run("greedylore", params, seed=seed, d_model=32.0, ef=ef,
                                 eval_of=lambda step, f=final: f + (9 - step) / 10))
    return fake_sweep(pairs)


def test_ablation_runs_fill_each_slot_from_the_smaller_gpt():
    from plots.papers.greedylore_runs import training_runs

    panels = gl.ablation_runs(training_runs(_fig5_sweep()))
    finals = {title: [(label, float(rows.loc[rows["step"] == 9, "eval_loss"].iloc[0])) for label, rows in series]
              for title, series in panels.items()}  # seed 0's final loss tells the runs apart
    assert finals == {
        "error feedback and selection": [("dense", 1.30), ("GreedyLore r2 (EF14)", 1.50),
                                         ("GreedyLore r2, no EF", 1.70), ("lazy r2 (EF14)", 1.60)],
        "refresh period tau": [("dense", 1.30), ("tau 5", 1.45), ("tau 25", 1.50), ("tau 100", 1.56)],
        "rank": [("dense", 1.30), ("rank 1", 1.90), ("rank 2", 1.50), ("rank 8", 1.40)],
    }


def test_fig5_data_and_ours_changes_against_the_base():
    output = gl.draw_fig5(_ctx(_fig5_sweep()))
    data = output.data
    assert list(data.columns) == ["panel", "series", "seed", "lr", "step", "loss", "eval_loss", "bytes_share",
                                  "cum_ring_sent_bytes_per_worker"]
    assert len(data) == (4 + 4 + 4) * 2 * 10  # dense and the base appear in every panel they belong to
    assert list(data.loc[data["panel"] == "rank", "series"].unique()) == ["dense", "rank 1", "rank 2", "rank 8"]
    # base 1.52 ± 0.028; no EF 1.75 (+0.23), lazy 1.61 (+0.09), tau 5 1.45 (-0.07), tau 100 1.58 (+0.06),
    # rank 1 1.9 (+0.38), rank 8 1.42 (-0.1); tau 25 and rank 2 are the base run itself
    assert output.ours == (
        "final held-out loss (mean ± std, 2 seeds) GreedyLore r2 (EF14) 1.52 ± 0.028 (dense 1.33 ± 0.042); change of "
        "the seed mean vs base: GreedyLore r2, no EF +0.230, lazy r2 (EF14) +0.090, tau 5 -0.070, tau 100 +0.060, "
        "rank 1 +0.380, rank 8 -0.100")
