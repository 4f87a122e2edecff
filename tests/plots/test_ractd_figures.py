"""RACTD figures (plots/papers/ractd.py): every checklist id registered or declared missing, static entries not
checkable, tables built from hand-made episodes, and each verdict moving the right way."""

from __future__ import annotations

import numpy as np
import pandas as pd

from plots.papers import load_all, ractd
from plots.registry import FIGURES, load_checklist


def test_every_ractd_checklist_id_is_registered_or_missing():
    load_all()
    ids = {i for i, e in load_checklist().items() if e.paper == "ractd"}
    drawn = {s.id for s in FIGURES if s.paper == "ractd"}
    missing = {m.id for m in FIGURES.missing("ractd")}
    assert drawn == set(ractd.VERDICTS)
    assert drawn | missing == ids and not drawn & missing
    assert {"ractd.tab2", "ractd.tab11"} <= missing


def test_static_entries_are_not_checkable():
    assert ractd.verdict_fig1(ractd.overview_boxes()).status == "not_checkable"
    table = ractd.loss_weight_table()
    assert ractd.verdict_tab9(table).status == "not_checkable"
    assert set(table["scenario"]) == {"main", "samplers", "modes", "reward_weight", "dsm_weight", "student_nfe",
                                      "history_horizon", "teacher_stage", "maze"}
    assert table.set_index("scenario").loc["maze", "sigma"] == "0.0001"


def _episodes(scores: dict[str, float], datasets=("a", "b", "c"), nfe=None) -> pd.DataFrame:
    rows = []
    for dataset in datasets:
        for seed in range(3):
            for method, score in scores.items():
                for episode in range(2):
                    rows.append({"dataset": dataset, "seed": seed, "method": method, "episode": episode,
                                 "episode_return": score * 30, "normalized_score": score + seed + episode,
                                 "episode_length": 100, "nfe": (nfe or {}).get(method, 1), "action_ms": 1.0})
    return pd.DataFrame(rows)


def test_tab1_verdict_and_table():
    good = _episodes({"bc": 40, "iql": 60, "diffuser": 50, "edm_teacher": 70, "ractd": 75},
                     nfe={"diffuser": 20, "edm_teacher": 159})
    assert ractd.verdict_tab1(good).status == "reproduced"
    bad = _episodes({"bc": 40, "iql": 80, "diffuser": 90, "edm_teacher": 70, "ractd": 75})
    assert ractd.verdict_tab1(bad).status == "partly"  # only the NFE check holds
    table = ractd.score_table(good)
    assert list(table["method"]) == ["BC", "IQL", "Diffuser-style (unguided)", "EDM teacher (Heun, 80 bins)",
                                     "RACTD (student)"]
    assert table.set_index("method").loc["RACTD (student)", "average"] == "76.5 ± 0.8"
    assert table.set_index("method").loc["EDM teacher (Heun, 80 bins)", "NFE"] == 159


def _samplers(teacher_ms: float, diffuser_ms: float, student_score: float = 95.0) -> pd.DataFrame:
    rows = []
    for method, ms, nfe, score in (("diffuser", diffuser_ms, 20, 60.0), ("edm_teacher", teacher_ms, 159, 100.0),
                                   ("ractd", 1.0, 1, student_score)):
        rows.append({"seed": 0, "method": method, "episode": 0, "normalized_score": score, "nfe": nfe,
                     "action_ms": ms, "step_ms": ms})
    return pd.DataFrame(rows)


def test_tab4_verdict_follows_the_speedups():
    assert ractd.verdict_tab4(_samplers(150.0, 40.0)).status == "reproduced"
    assert ractd.verdict_tab4(_samplers(150.0, 15.0)).status == "partly"
    assert ractd.verdict_tab4(_samplers(20.0, 5.0, 10.0)).status == "not_reproduced"
    assert ractd.sampler_table(_samplers(150.0, 40.0))["slower than RACTD"].tolist() == ["40×", "150×", "1×"]


def _modes(ractd_high: float) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [{"method": "dataset", "episode": i, "episode_return": 0.0, "normalized_score": s}
            for i, s in enumerate(np.r_[rng.normal(30, 3, 50), rng.normal(90, 3, 50)])]
    for method, high in (("edm_teacher", 0.5), ("ctd", 0.5), ("ractd", ractd_high)):
        n_high = int(round(20 * high))
        for i, s in enumerate([90.0] * n_high + [30.0] * (20 - n_high)):
            rows.append({"method": method, "episode": i, "episode_return": 0.0, "normalized_score": s})
    return pd.DataFrame(rows)


def test_fig3_verdict_counts_the_high_mode():
    assert ractd.high_mode_share(_modes(0.9))["ractd"] == 0.9
    assert ractd.verdict_fig3(_modes(0.9)).status == "reproduced"
    assert ractd.verdict_fig3(_modes(0.2)).status == "not_reproduced"


def _sweep(axis: str, scores: dict[float, float]) -> pd.DataFrame:
    return pd.DataFrame([{axis: v, "seed": seed, "episode": 0, "normalized_score": s + seed}
                         for v, s in scores.items() for seed in range(3)])


def test_sigma_beta_verdicts():
    assert ractd.verdict_tab15(_sweep("sigma", {0.0: 50, 0.7: 70, 1.5: 40})).status == "reproduced"
    assert ractd.verdict_tab15(_sweep("sigma", {0.0: 50, 0.7: 60, 1.5: 70})).status == "partly"
    assert ractd.verdict_tab15(_sweep("sigma", {0.0: 80, 0.7: 60, 1.5: 40})).status == "partly"  # reward hurts
    assert ractd.verdict_tab14(_sweep("beta", {0.0: 2, 1.0: 70})).status == "reproduced"
    assert ractd.verdict_tab14(_sweep("beta", {0.0: 80, 1.0: 30})).status == "not_reproduced"
    curves = pd.DataFrame([{"reward_weight": w, "seed": 0, "step": step, "dsm": dsm * (1 + step / 100), "reward": -1}
                           for w, dsm in ((0.0, 1.0), (1.5, 2.0)) for step in range(0, 100, 10)])
    assert ractd.verdict_fig4(curves).status == "reproduced"
    curves["dsm"] = np.where(curves["reward_weight"] > 0, 0.5, 1.0)
    assert ractd.verdict_fig4(curves).status == "not_reproduced"


def test_nfe_and_history_verdicts():
    nfe = pd.DataFrame([{"method": f"ractd_nfe{n}", "nfe": n, "seed": seed, "episode": 0,
                         "normalized_score": s + seed, "action_ms": float(n)}
                        for n, s in ((1, 70), (2, 71), (4, 69)) for seed in range(3)])
    assert ractd.verdict_tab16(nfe).status == "reproduced"
    nfe.loc[nfe["nfe"] == 4, "normalized_score"] += 30
    assert ractd.verdict_tab16(nfe).status == "partly"
    hc = pd.DataFrame([{"h": h, "c": c, "seed": 0, "episode": 0, "normalized_score": 60 + h + c / 8}
                       for h in (1, 4) for c in (8, 16)])
    assert ractd.verdict_tab17(hc).status == "reproduced"
    hc["normalized_score"] = 100 - hc["normalized_score"]
    assert ractd.verdict_tab17(hc).status == "not_reproduced"


def test_tab5_verdict_compares_the_stages():
    def frame(cells):
        return pd.DataFrame([{"teacher_reward": t, "student_reward": st, "seed": seed, "episode": 0,
                              "normalized_score": v + seed} for (t, st), v in cells.items() for seed in range(3)])

    paper_like = {(False, False): 50.8, (True, False): 90.0, (True, True): 96.0, (False, True): 109.5}
    assert ractd.verdict_tab5(frame(paper_like)).status == "reproduced"
    teacher_wins = paper_like | {(True, False): 120.0}
    assert ractd.verdict_tab5(frame(teacher_wins)).status == "partly"


def test_tab3_verdict():
    good = _episodes({"iql": 30, "diffuser": 50, "edm_teacher": 60, "ctd": 55, "ractd": 70}, datasets=("u", "m"))
    assert ractd.verdict_tab3(good).status == "reproduced"
    bad = _episodes({"iql": 30, "diffuser": 80, "edm_teacher": 60, "ctd": 85, "ractd": 70}, datasets=("u", "m"))
    assert ractd.verdict_tab3(bad).status == "not_reproduced"


# -- draw functions on hand-made runs (no training): the data plumbing from run records to tables and plots ----

class _Record:
    def __init__(self, path, info):
        self.metrics_path, self.info = path, info


class _Ctx:
    """Stands in for `plots.runner.FigureContext`: every scenario returns the same hand-made points and runs."""

    def __init__(self, tmp_path, points):
        from types import SimpleNamespace

        from harness.workloads.offline_rl import TrainBlock

        self.points, self.records = [], []
        for i, (dataset, seed, train, frame) in enumerate(points):
            path = tmp_path / f"run{i}.csv"
            frame.to_csv(path, index=False)
            workload = SimpleNamespace(dataset=dataset, train=TrainBlock(**train))
            self.points.append(SimpleNamespace(scenario=SimpleNamespace(seed=seed, workload=workload)))
            self.records.append(_Record(path, {
                "dataset_returns": [10.0, 20.0, 300.0, 310.0], "dataset_scores": [1.0, 2.0, 30.0, 31.0],
                "losses": {"student": [{"total": 1.0, "ctm": 0.1, "dsm": 0.5 + train.get("reward_weight", 1.0),
                                        "reward": -0.3}] * 3}}))

    def run(self, path):
        from types import SimpleNamespace

        return SimpleNamespace(points=self.points, runs=self.records)


def _metrics(scores: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame([{"method": m, "method_kind": m, "steps": 80, "nfe_setting": 1, "episode": e,
                          "episode_return": s * 30, "normalized_score": s + e, "episode_length": 50,
                          "nfe": 159 if m == "edm_teacher" else 1, "action_ms": 159.0 if m == "edm_teacher" else 1.0,
                          "step_ms": 1.0, "reward_weight": np.nan} for m, s in scores.items() for e in range(2)])


def test_draw_functions_build_their_data_from_runs(tmp_path):
    scores = {"bc": 10, "iql": 20, "td3bc": 15, "diffuser": 12, "edm_teacher": 25, "ractd": 30}
    ctx = _Ctx(tmp_path, [(d, s, {}, _metrics(scores)) for d in ("hopper-medium-local", "hopper-medium-expert-local")
                          for s in range(3)])
    out = ractd.draw_tab1(ctx)
    assert len(out.data) == 2 * 3 * len(scores) * 2 and out.verdict.status == "reproduced"
    assert "hopper-medium" in out.table.columns and "hopper-medium-expert" in out.table.columns

    modes = _Ctx(tmp_path, [("hopper-medium-expert-local", 0, {}, _metrics({"edm_teacher": 1, "ctd": 1,
                                                                              "ractd": 30}))])
    fig3 = ractd.draw_fig3(modes)
    assert (fig3.data["method"] == "dataset").sum() == 4 and fig3.verdict.status == "reproduced"

    sweep = _Ctx(tmp_path, [("hopper-medium-replay-local", 0, {"reward_weight": w}, _metrics({"ractd": 10 + w}))
                            for w in (0.0, 0.7, 1.5)])
    fig4 = ractd.draw_fig4(sweep)
    assert sorted(fig4.data["reward_weight"].unique()) == [0.0, 0.7, 1.5]
    assert fig4.verdict.status == "reproduced"  # the hand-made DSM loss grows with sigma
    tab15 = ractd.draw_tab15(sweep)
    assert list(tab15.table["sigma"]) == ["0", "0.7", "1.5"] and tab15.verdict.status == "partly"
