"""Figures of `ractd` drawn from run sets that lack an arm: each now fails with one line naming what the figure
needs and what the runs have, or its verdict says why it is not checkable.

- tab1 / tab3 without RACTD (a bare KeyError), tab1 without a baseline ("max() arg is an empty sequence");
- tab4 without the teacher or RACTD (it wrote "RACTD nan× faster" and "nan×" cells);
- fig3 without the teacher, CTD or RACTD; tab16 without the 1-NFE student; fig4 without loss curves;
- an empty sweep ("No objects to concatenate");
- verdicts: fig4 on one reward weight (judged 1.0 "not above 1"), tab15 without sigma > 0 (ZeroDivisionError).
"""

from __future__ import annotations

import pytest

from plots.papers import ractd
from tests.plots.test_ractd_builders_mutation_gaps import TAB1, TAB4, FakeCtx, draw, episodes, fake_point


def _raises(function, ctx) -> str:
    with pytest.raises(ValueError) as err:
        draw(function, ctx)
    return str(err.value)


def _tab1_ctx(tmp_path, drop: set[str]) -> FakeCtx:
    return FakeCtx(tmp_path, [(fake_point(seed, dataset), episodes({m: v for m, v in scores.items() if m not in drop}),
                               None) for (dataset, seed), scores in TAB1.items()])


def test_tab1_and_tab3_without_ractd_say_so(tmp_path):
    ctx = _tab1_ctx(tmp_path, {ractd.STUDENT})
    assert _raises(ractd.draw_tab1, ctx) == "ractd.tab1 needs runs of ractd; the runs have awac, bc"
    assert _raises(ractd.draw_tab3, ctx) == "ractd.tab3 needs runs of ractd; the runs have awac, bc"


def test_tab1_without_a_baseline_says_so(tmp_path):
    message = _raises(ractd.draw_tab1, _tab1_ctx(tmp_path, {"awac", "bc"}))
    assert message == "ractd.tab1 needs a baseline run (BC, IQL, TD3+BC or Diffuser-style); the runs have ractd"


def test_score_verdicts_without_ractd_are_not_checkable():
    data = episodes({"bc": [1.0], "edm_teacher": [2.0]}).assign(dataset="d", seed=0)
    assert ractd.verdict_tab1(data).explanation == "the score check needs runs of ractd; the runs have bc, edm_teacher"
    assert ractd.verdict_tab3(data).status == "not_checkable"


@pytest.mark.parametrize(("drop", "message"), [
    ("edm_teacher", "ractd.tab4 needs runs of edm_teacher; the runs have ractd, ddim20"),
    (ractd.STUDENT, "ractd.tab4 needs runs of ractd; the runs have edm_teacher, ddim20"),
])
def test_tab4_without_the_teacher_or_the_student_says_which(tmp_path, drop, message):
    runs = []
    for seed, (teacher, ddim, student, scores) in TAB4.items():
        methods = {"edm_teacher": scores, ractd.STUDENT: [70.0, 70.0], "ddim20": [60.0, 60.0]}
        methods.pop(drop)
        runs.append((fake_point(seed), episodes(methods, ms={"edm_teacher": teacher, "ddim20": ddim,
                                                              ractd.STUDENT: student}), None))
    assert _raises(ractd.draw_tab4, FakeCtx(tmp_path, runs)) == message


def test_fig3_without_ctd_says_so_and_its_verdict_is_not_checkable(tmp_path):
    info = {"dataset_returns": [10.0, 400.0], "dataset_scores": [1.0, 40.0]}
    frame = episodes({"edm_teacher": [16.0, 40.0], ractd.STUDENT: [30.0, 1.0]})
    message = _raises(ractd.draw_fig3, FakeCtx(tmp_path, [(fake_point(0), frame, info)]))
    assert message == "ractd.fig3 needs runs of ctd; the runs have dataset, edm_teacher, ractd"
    verdict = ractd.verdict_fig3(frame.assign(method=frame["method"].replace("edm_teacher", "dataset")))
    assert verdict.explanation == "the mode check needs runs of edm_teacher, ctd; the runs have dataset, ractd"


def test_tab16_without_the_one_step_student_says_so(tmp_path):
    frame = episodes({"ractd_nfe2": [70.0], "ractd_nfe4": [75.0]}, nfe={"ractd_nfe2": 2, "ractd_nfe4": 4})
    assert _raises(ractd.draw_tab16, FakeCtx(tmp_path, [(fake_point(0), frame, None)])) == (
        "ractd.tab16 needs runs of 1 NFE; the runs have 2 NFE, 4 NFE")
    assert ractd.verdict_tab16(frame.assign(seed=0)).status == "not_checkable"


def test_fig4_without_loss_curves_says_so(tmp_path):
    ctx = FakeCtx(tmp_path, [(fake_point(0, reward_weight=0.7), episodes({ractd.STUDENT: [50.0]}), {"losses": {}})])
    assert _raises(ractd.draw_fig4, ctx) == ("ractd.fig4 needs the student's training losses of "
                                             "scenarios/ractd/reward_weight.yaml; the runs have none")


def test_an_empty_sweep_says_so(tmp_path):
    assert _raises(ractd.draw_tab1, FakeCtx(tmp_path, [])) == (
        "ractd needs the runs of scenarios/ractd/main.yaml; the sweep has none")


def test_fig4_verdict_on_one_reward_weight_is_not_checkable(tmp_path):
    info = {"losses": {"student": [{"ctm": 0.1, "dsm": d, "reward": -1.0} for d in (3.0, 2.0, 1.0)]}}
    ctx = FakeCtx(tmp_path, [(fake_point(0, reward_weight=0.7), episodes({ractd.STUDENT: [50.0]}), info)])
    verdict = draw(ractd.draw_fig4, ctx).verdict
    assert verdict.status == "not_checkable"
    assert verdict.explanation == "the stability check needs two reward weights; the runs have 0.7"


def test_tab15_verdict_without_a_positive_sigma_is_not_checkable(tmp_path):
    ctx = FakeCtx(tmp_path, [(fake_point(seed, reward_weight=0.0), episodes({ractd.STUDENT: [30.0]}), None)
                             for seed in (0, 1)])
    verdict = draw(ractd.draw_tab15, ctx).verdict
    assert verdict.status == "not_checkable"
    assert verdict.explanation == "the sigma check needs runs with sigma > 0; the runs have 0"
