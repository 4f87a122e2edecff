"""Gaps in the tests of RACTD's verdicts found by a mutation audit, closed here on hand-built frames.

Closed: tab1's best baseline (neither RACTD nor the teacher) and the 1-NFE band; tab4's speedup bands (factor 2
either side) and the 90%-of-the-teacher bound; fig3's high-mode split at the dataset's median; fig4's final DSM
over the last quarter of steps (its first step included); tab15's best sigma below the largest swept; tab14's
beta = 1 within 5 points of the best; tab16's multi-step gain bound and growing time; tab17's best other (h, c);
tab5's stage means on per-seed episode means; tab3's two strict comparisons on seed means; tab16's tolerance from
the one-step seed spread.
"""

from __future__ import annotations

import pandas as pd
import pytest

from plots.papers import ractd


def holding(verdict) -> list[bool]:
    return [check.holds for check in verdict.checks]


# ------------------------------------------------------------------------------------------------------- tab1
def _scores(averages: dict[str, float], datasets=("hopper", "walker"), nfe: int = 1) -> pd.DataFrame:
    return pd.DataFrame([{"dataset": d, "seed": s, "method": m, "episode": 0, "normalized_score": v,
                          "nfe": nfe if m == ractd.STUDENT else 20}
                         for m, v in averages.items() for d in datasets for s in (0, 1)])


def test_tab1_beats_the_best_baseline_not_the_teacher():
    data = _scores({ractd.STUDENT: 90.0, "edm_teacher": 100.0, "diffuser": 70.0, "diffusion_ql": 85.0})
    assert ractd.verdict_tab1(data).status == "reproduced"
    best = _scores({ractd.STUDENT: 90.0, "edm_teacher": 100.0, "diffuser": 70.0, "diffusion_ql": 95.0})
    assert holding(ractd.verdict_tab1(best)) == [False, True, True]
    tie = _scores({ractd.STUDENT: 90.0, "edm_teacher": 100.0, "diffuser": 90.0})
    assert holding(ractd.verdict_tab1(tie)) == [False, False, True]


def test_tab1_one_network_evaluation_per_action():
    data = _scores({ractd.STUDENT: 90.0, "diffuser": 70.0}, nfe=2)
    assert holding(ractd.verdict_tab1(data)) == [True, True, False]


# ------------------------------------------------------------------------------------------------------- tab4
def _timing(teacher_ms: float, diffuser_ms: float, scores: dict[str, float] | None = None) -> pd.DataFrame:
    scores = scores or {}
    rows = []
    for method, ms in (("edm_teacher", teacher_ms), ("diffuser", diffuser_ms), (ractd.STUDENT, 1.0)):
        for seed in (0, 1):
            rows.append({"seed": seed, "method": method, "episode": 0, "normalized_score": scores.get(method, 100.0),
                         "nfe": 1, "action_ms": ms, "step_ms": ms})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("teacher, diffuser, holds", [
    (71.0, 21.5, [True, True, True]), (284.0, 86.0, [True, True, True]),
    (70.0, 21.0, [False, False, True]), (285.0, 87.0, [False, False, True]),
])
def test_tab4_speedups_within_a_factor_two(teacher, diffuser, holds):
    assert holding(ractd.verdict_tab4(_timing(teacher, diffuser))) == holds


@pytest.mark.parametrize("student, holds", [(90.5, True), (90.0, True), (89.5, False)])  # 90% of the teacher's 100
def test_tab4_score_close_to_the_teacher(student, holds):
    data = _timing(142.0, 43.0, {"edm_teacher": 100.0, ractd.STUDENT: student})
    assert holding(ractd.verdict_tab4(data))[2] is holds


# ------------------------------------------------------------------------------------------------------- fig3
def _modes(shares: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame([{"method": m, "episode": i, "episode_return": v, "normalized_score": v}
                         for m, values in shares.items() for i, v in enumerate(values)])


def test_fig3_high_mode_is_above_the_dataset_median():
    data = _modes({"dataset": [0.0, 0.0, 1.0, 1.0], ractd.STUDENT: [0.5, 0.5, 1.0, 1.0],  # median 0.5: not above
                   "edm_teacher": [0.0, 1.0, 0.0, 1.0], "ctd": [0.0, 0.0, 0.0, 1.0]})
    assert holding(ractd.verdict_fig3(data)) == [False, True, True]  # RACTD 0.5 = teacher 0.5; > CTD 0.25; >= 0.5
    data.loc[(data["method"] == ractd.STUDENT) & (data["episode"] == 0), "normalized_score"] = 0.75
    assert ractd.verdict_fig3(data).status == "reproduced"


# ------------------------------------------------------------------------------------------------------- fig4
def test_fig4_final_dsm_over_the_last_quarter_including_its_first_step():
    rows = []
    for sigma, late in ((0.0, [1.0, 1.0]), (1.5, [4.0, 0.0])):
        for step, dsm in ((0, 50.0), (50, 50.0), (75, late[0]), (100, late[1])):
            rows.append({"reward_weight": sigma, "seed": 0, "step": step, "ctm": 0.0, "dsm": dsm, "reward": 0.0,
                         "total": dsm})
    verdict = ractd.verdict_fig4(pd.DataFrame(rows))  # steps 75 and 100: means 1.0 and 2.0
    assert verdict.checks[0].ours == pytest.approx(2.0)
    assert verdict.status == "reproduced"


# -------------------------------------------------------------------------------------------- tab15 / tab14
def _sweep(axis: str, means: dict[float, float]) -> pd.DataFrame:
    return pd.DataFrame([{axis: k, "seed": s, "episode": 0, "normalized_score": v + (1 if s else -1)}
                         for k, v in means.items() for s in (0, 1)])


def test_tab15_best_sigma_below_the_largest_and_reward_helps():
    assert ractd.verdict_tab15(_sweep("sigma", {0.0: 50.0, 0.7: 100.0, 1.5: 80.0})).status == "reproduced"
    assert holding(ractd.verdict_tab15(_sweep("sigma", {0.0: 50.0, 0.7: 80.0, 1.5: 100.0}))) == [True, False]
    assert holding(ractd.verdict_tab15(_sweep("sigma", {0.0: 100.0, 0.7: 100.0, 1.5: 80.0}))) == [False, True]


@pytest.mark.parametrize("at_one, holds", [(100.0, [True, True]), (95.0, [True, True]), (94.0, [True, False]),
                                           (10.0, [False, False])])
def test_tab14_beta_one_within_five_points_of_the_best(at_one, holds):
    data = _sweep("beta", {0.0: 10.0, 0.5: 100.0, 1.0: at_one})
    assert holding(ractd.verdict_tab14(data)) == holds


# ------------------------------------------------------------------------------------------------------ tab16
def _nfe(scores: dict[int, float], ms: dict[int, float]) -> pd.DataFrame:
    return pd.DataFrame([{"method": ractd.STUDENT, "nfe": n, "seed": 0, "episode": e, "normalized_score": v,
                          "action_ms": ms[n]} for n, v in scores.items() for e in range(2)])


def test_tab16_gain_bound_and_time_growth():
    assert ractd.verdict_tab16(_nfe({1: 100.0, 2: 105.0, 4: 90.0}, {1: 1.0, 2: 2.0, 4: 4.0})).status == "reproduced"
    assert holding(ractd.verdict_tab16(_nfe({1: 100.0, 2: 90.0, 4: 106.0}, {1: 1.0, 2: 2.0, 4: 4.0}))) == [False, True]
    assert holding(ractd.verdict_tab16(_nfe({1: 100.0, 4: 90.0}, {1: 1.0, 4: 1.0}))) == [True, False]


# ------------------------------------------------------------------------------------------------------ tab17
def test_tab17_target_must_beat_the_best_other():
    means = {(4, 16): 100.0, (2, 16): 50.0, (8, 16): 101.0}
    data = pd.DataFrame([{"h": h, "c": c, "seed": 0, "episode": 0, "normalized_score": v}
                         for (h, c), v in means.items()])
    assert ractd.verdict_tab17(data).status == "not_reproduced"
    data.loc[data["h"] == 8, "normalized_score"] = 99.0
    assert ractd.verdict_tab17(data).status == "reproduced"


# ------------------------------------------------------------------------------------------------------- tab5
def test_tab5_stage_scores_are_seed_means_of_episode_means():
    rows = []
    for (teacher, student), episodes in {(False, False): [0.0, 0.0, 0.0], (True, False): [50.0, 50.0, 50.0],
                                         (False, True): [0.0, 0.0, 120.0]}.items():  # mean 40, median 0
        rows += [{"teacher_reward": teacher, "student_reward": student, "seed": 0, "episode": e,
                  "normalized_score": v} for e, v in enumerate(episodes)]
    assert holding(ractd.verdict_tab5(pd.DataFrame(rows))) == [False, True]


# ------------------------------------------------------------------------------------------------------- tab3
def test_tab3_above_diffuser_and_ctd():
    data = _scores({ractd.STUDENT: 100.0, "diffuser": 90.0, "ctd": 100.0}, datasets=("umaze",))
    assert holding(ractd.verdict_tab3(data)) == [True, False]


def test_tab15_any_gain_from_the_reward_counts():
    assert holding(ractd.verdict_tab15(_sweep("sigma", {0.0: 100.0, 0.7: 100.0625, 1.5: 80.0}))) == [True, True]


def test_tab17_scores_are_means_over_episodes():
    scores = {(4, 16): [100.0, 100.0, 100.0], (8, 16): [0.0, 110.0, 110.0]}  # (8, 16): mean 73.3, median 110
    data = pd.DataFrame([{"h": h, "c": c, "seed": 0, "episode": e, "normalized_score": v}
                         for (h, c), values in scores.items() for e, v in enumerate(values)])
    assert ractd.verdict_tab17(data).status == "reproduced"


def test_tab16_time_ratio_last_over_first():
    data = _nfe({1: 100.0, 4: 90.0}, {1: 0.5, 4: 0.625})  # 1.25x slower at 4 NFE
    assert ractd.verdict_tab16(data).status == "reproduced"


def test_tab16_gain_bound_is_the_one_step_seed_spread_when_wider_than_5():
    rows = [{"method": ractd.STUDENT, "nfe": 1, "seed": s, "episode": 0, "normalized_score": v, "action_ms": 1.0}
            for s, v in ((0, 80.0), (1, 120.0))]  # one-step seeds 80 / 120: std 20 (mean 100)
    rows += [{"method": ractd.STUDENT, "nfe": 4, "seed": s, "episode": 0, "normalized_score": 115.0,
              "action_ms": 4.0} for s in (0, 1)]
    assert ractd.verdict_tab16(pd.DataFrame(rows)).status == "reproduced"  # +15 within the 20-point spread


def test_tab3_averages_are_means_over_seeds():
    rows = [{"dataset": "umaze", "seed": s, "method": ractd.STUDENT, "episode": 0, "normalized_score": v, "nfe": 1}
            for s, v in enumerate((100.0, 100.0, 40.0))]  # mean 80, median 100
    rows += [{"dataset": "umaze", "seed": s, "method": m, "episode": 0, "normalized_score": 90.0, "nfe": 20}
             for s in range(3) for m in ("diffuser", "ctd")]
    assert ractd.verdict_tab3(pd.DataFrame(rows)).status == "not_reproduced"


def test_fig3_split_is_the_dataset_median_not_all_episodes():
    data = _modes({"dataset": [0.0, 0.0, 0.5, 0.5], ractd.STUDENT: [0.375] * 4,  # dataset median 0.25
                   "edm_teacher": [1.0, 1.0, 0.0, 0.0], "ctd": [1.0, 0.0, 0.0, 0.0]})
    assert ractd.verdict_fig3(data).status == "reproduced"  # over every episode the median would be 0.375


def test_tab16_time_is_the_median_and_scores_the_mean():
    rows = [{"method": ractd.STUDENT, "nfe": 1, "seed": 0, "episode": e, "normalized_score": 100.0, "action_ms": 1.0}
            for e in range(3)]
    rows += [{"method": ractd.STUDENT, "nfe": 4, "seed": 0, "episode": e, "normalized_score": v, "action_ms": ms}
             for e, (v, ms) in enumerate(((100.0, 0.5), (100.0, 0.5), (121.0, 10.0)))]
    # 4 NFE: score mean 107 (median 100) > 100 + 5; time median 0.5 ms (mean 3.7) below 1 NFE's 1 ms
    assert holding(ractd.verdict_tab16(pd.DataFrame(rows))) == [False, False]


def test_tab16_spread_is_over_seed_means_of_episodes():
    rows = [{"method": ractd.STUDENT, "nfe": 1, "seed": s, "episode": e, "normalized_score": v, "action_ms": 1.0}
            for s, episodes in enumerate(((80.0, 80.0, 80.0), (80.0, 80.0, 200.0))) for e, v in enumerate(episodes)]
    # one-step seed means 80 and 120 (medians 80 and 80): std 20; 4 NFE at 115 is +15 over the mean 100
    rows += [{"method": ractd.STUDENT, "nfe": 4, "seed": s, "episode": 0, "normalized_score": 115.0, "action_ms": 4.0}
             for s in (0, 1)]
    assert ractd.verdict_tab16(pd.DataFrame(rows)).status == "reproduced"


def test_tab5_stage_scores_are_means_over_seeds():
    rows = []
    for (teacher, student), per_seed in {(False, False): [0.0] * 3, (True, False): [50.0] * 3,
                                         (False, True): [0.0, 0.0, 200.0]}.items():  # seed mean 66.7, median 0
        rows += [{"teacher_reward": teacher, "student_reward": student, "seed": s, "episode": 0,
                  "normalized_score": v} for s, v in enumerate(per_seed)]
    assert ractd.verdict_tab5(pd.DataFrame(rows)).status == "reproduced"


def test_tab1_every_ractd_row_must_use_one_evaluation():
    data = _scores({ractd.STUDENT: 90.0, "diffuser": 70.0})
    data.loc[(data["method"] == ractd.STUDENT) & (data["dataset"] == "walker"), "nfe"] = 2
    assert holding(ractd.verdict_tab1(data)) == [True, True, False]
