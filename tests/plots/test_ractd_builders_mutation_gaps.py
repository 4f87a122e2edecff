"""Gaps in the tests of `plots.papers.ractd` found by a mutation audit.

The draw functions' data assembly (the verdicts were audited in test_ractd_verdict_mutation_gaps.py), closed here
on hand-made runs (`FakeCtx` stands in for `plots.runner.FigureContext`, `fake_point` for a sweep point):
- `episodes_frame`: each run's seed, dataset and training settings (h, c, beta, teacher and student reward weight);
- `dataset_label` for the mazes, the local datasets and an unknown name; `mean_std` for one and two seeds;
- `score_table` (tab1 / tab3): method order (labelled methods first, unknown ones after), dataset columns in run
  order with the mazes' names, cells and the average over seed means (episode means first), the "ours" averages;
- `sampler_table` / tab4: the median over seeds of each run's time per action, the ratio to RACTD, the score over
  seed means, and the speed-up in "ours";
- fig3: the dataset's episodes taken from the run's info, the high-mode split at the dataset's median (a score at
  the split is not high), the percentages in "ours";
- fig4: the student's losses every 10th step per seed and sigma, the final DSM loss over the last quarter (the
  quarter's first step included) in "ours";
- tab15 / tab14: seed means per swept value, the value's text, the seed count, the best value in "ours";
- tab16 / tab17 / tab5: the cells over seed means, the median time per action, row order, the "ours" numbers,
  h and c kept apart, the four reward stages (and a missing stage left out);
- `loss_weight_table`: the swept and zipped weights and datasets of the scenario files, and the defaults
  (alpha = beta = sigma = 1, as `TrainBlock`'s) for a scenario that sets none;
- reduced scale: fig3's note names its own episode counts (20 quick, 100 full), tab17's quick profile drops QUICK's
  fixed horizon for its own horizon sweep.
"""

from __future__ import annotations

from types import SimpleNamespace as NS

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from plots.papers import ractd
from plots.registry import FIGURES


def fake_point(seed: int = 0, dataset: str = "hopper-medium-replay-local", **train) -> NS:
    settings = {"history": 1, "horizon": 8, "beta": 1.0, "teacher_reward_weight": 0.0, "reward_weight": 1.0, **train}
    return NS(scenario=NS(seed=seed, workload=NS(dataset=dataset, train=NS(**settings))))


def episodes(scores: dict[str, list[float]], *, nfe: dict[str, int] | None = None,
             ms: dict[str, float] | None = None, kind: dict[str, str] | None = None) -> pd.DataFrame:
    """One run's metrics: per method (in the given order) one row per episode score."""
    return pd.DataFrame([{"method": m, "method_kind": (kind or {}).get(m, m), "episode": e,
                          "episode_return": 10.0 * s, "normalized_score": s, "episode_length": 50,
                          "nfe": (nfe or {}).get(m, 1), "action_ms": (ms or {}).get(m, 1.0), "step_ms": 1.0}
                         for m, values in scores.items() for e, s in enumerate(values)])


class FakeCtx:
    """Every scenario path answers with the same hand-made runs: (point, metrics frame, info) triples."""

    def __init__(self, tmp_path, runs):
        self.points, self.records, self.paths = [], [], []
        for i, (point, frame, info) in enumerate(runs):
            path = tmp_path / f"run{i}.csv"
            frame.to_csv(path, index=False)
            self.points.append(point)
            self.records.append(NS(metrics_path=path, info=info or {}))

    def run(self, path):
        self.paths.append(path)
        return NS(points=self.points, runs=self.records)


def draw(function, ctx):
    out = function(ctx)
    if out.figure is not None:
        plt.close(out.figure)
    return out


# ------------------------------------------------------------------------------------------------ small helpers
def test_dataset_label_names_mazes_and_drops_the_local_suffix():
    assert ractd.dataset_label("pointmaze-umaze-local") == "PointMaze U-Maze"
    assert ractd.dataset_label("pointmaze-medium-local") == "PointMaze Medium"
    assert ractd.dataset_label("walker2d-medium-replay-local") == "walker2d-medium-replay"
    assert ractd.dataset_label("custom") == "custom"


def test_mean_std_shows_a_lone_seed_alone_and_the_population_spread_of_two():
    assert ractd.mean_std(pd.Series([4.26])) == "4.3"
    assert ractd.mean_std(pd.Series([1.0, 3.0])) == "2.0 ± 1.0"


def test_episodes_frame_tags_each_run_with_its_point(tmp_path):
    ctx = FakeCtx(tmp_path, [
        (fake_point(3, "a-local", history=4, horizon=16, beta=0.5, teacher_reward_weight=1.0, reward_weight=0.7),
         episodes({"ractd": [1.0, 2.0]}), None),
        (fake_point(5, "b-local"), episodes({"ractd": [3.0]}), None)])
    frame = ractd.episodes_frame(ctx, ractd.MAIN)
    assert ctx.paths == [ractd.MAIN]
    assert frame.index.tolist() == [0, 1, 2]
    assert frame["seed"].tolist() == [3, 3, 5]
    assert frame["dataset"].tolist() == ["a-local", "a-local", "b-local"]
    assert frame["train_history"].tolist() == [4, 4, 1]
    assert frame["train_horizon"].tolist() == [16, 16, 8]
    assert frame["train_beta"].tolist() == [0.5, 0.5, 1.0]
    assert frame["train_teacher_reward_weight"].tolist() == [1.0, 1.0, 0.0]
    assert frame["train_reward_weight"].tolist() == [0.7, 0.7, 1.0]
    assert frame["normalized_score"].tolist() == [1.0, 2.0, 3.0]


# ------------------------------------------------------------------------------------------------ tab1 / tab3
#: per (dataset, seed): each method's episode scores; "awac" has no label, and the frames list it first
TAB1 = {("walker2d-medium-local", 3): {"awac": [5.0] * 3, "ractd": [50.0] * 3, "bc": [0.0, 0.0, 30.0]},
        ("walker2d-medium-local", 7): {"awac": [5.0] * 3, "ractd": [50.0] * 3, "bc": [30.0] * 3},
        ("hopper-medium-local", 3): {"awac": [5.0] * 3, "ractd": [40.0] * 3, "bc": [3.0] * 3},
        ("hopper-medium-local", 7): {"awac": [5.0] * 3, "ractd": [40.0] * 3, "bc": [6.0, 6.0, 9.0]}}


def _tab1_ctx(tmp_path, renames=None):
    renames = renames or {}
    return FakeCtx(tmp_path, [(fake_point(seed, renames.get(dataset, dataset)), episodes(scores), None)
                              for (dataset, seed), scores in TAB1.items()])


def test_tab1_table_cells_are_over_seed_means_with_datasets_in_run_order(tmp_path):
    out = draw(ractd.draw_tab1, _tab1_ctx(tmp_path))
    table = out.table.set_index("method")
    assert list(out.table.columns) == ["method", "walker2d-medium", "hopper-medium", "average", "NFE"]
    assert list(table.index) == ["BC", "RACTD (student)", "awac"]
    # BC: walker seed means 10 (0, 0, 30) and 30; hopper 3 and 7 (6, 6, 9); per-seed averages 6.5 and 18.5
    assert table.loc["BC"].tolist()[:3] == ["20.0 ± 10.0", "5.0 ± 2.0", "12.5 ± 6.0"]
    assert table.loc["RACTD (student)"].tolist()[:3] == ["50.0 ± 0.0", "40.0 ± 0.0", "45.0 ± 0.0"]
    assert set(out.data["seed"]) == {3, 7}
    assert list(out.data.columns) == ["dataset", "seed", "method", "episode", "episode_return", "normalized_score",
                                      "episode_length", "nfe"]  # no action_ms: the runs shared the cores
    assert out.ours == "average normalised score: BC 12.5, RACTD (student) 45.0, awac 5.0"


def test_averages_are_means_over_datasets_of_seed_means():
    data = pd.concat([episodes(scores).assign(dataset=dataset, seed=seed) for (dataset, seed), scores in TAB1.items()])
    assert ractd.averages(data) == pytest.approx({"bc": 12.5, "ractd": 45.0, "awac": 5.0})


def test_tab3_columns_carry_the_mazes_names(tmp_path):
    renames = {"walker2d-medium-local": "pointmaze-medium-local", "hopper-medium-local": "pointmaze-umaze-local"}
    out = draw(ractd.draw_tab3, _tab1_ctx(tmp_path, renames))
    assert list(out.table.columns) == ["method", "PointMaze Medium", "PointMaze U-Maze", "average", "NFE"]
    assert out.table.set_index("method").loc["BC", "PointMaze U-Maze"] == "5.0 ± 2.0"


# ------------------------------------------------------------------------------------------------------- tab4
#: per seed: (teacher ms, DDIM ms, student ms, teacher's two episode scores)
TAB4 = {0: (100.0, 10.0, 1.0, [90.0, 110.0]), 1: (120.0, 12.0, 2.0, [90.0, 90.0]), 2: (400.0, 40.0, 6.0, [80.0, 80.0])}


def _tab4_ctx(tmp_path):
    runs = []
    for seed, (teacher, ddim, student, scores) in TAB4.items():
        frame = episodes({"edm_teacher": scores, ractd.STUDENT: [70.0, 70.0], "ddim20": [60.0, 60.0]},
                         nfe={"edm_teacher": 159, "ddim20": 20},
                         ms={"edm_teacher": teacher, "ddim20": ddim, ractd.STUDENT: student})
        runs.append((fake_point(seed), frame, None))
    return FakeCtx(tmp_path, runs)


def test_tab4_times_are_medians_over_seeds_and_ratios_to_the_student(tmp_path):
    out = draw(ractd.draw_tab4, _tab4_ctx(tmp_path))
    assert out.table.to_dict("records") == [
        {"method": "DDIM (20 steps)", "NFE": 20, "ms per action": "12.00", "slower than RACTD": "6×",
         "score": "60.0 ± 0.0"},
        {"method": "EDM teacher (Heun, 80 bins)", "NFE": 159, "ms per action": "120.00", "slower than RACTD": "60×",
         "score": "90.0 ± 8.2"},  # seed means 100, 90, 80 (not the six episodes' spread, 10.0)
        {"method": "RACTD (student)", "NFE": 1, "ms per action": "2.00", "slower than RACTD": "1×",
         "score": "70.0 ± 0.0"}]
    assert out.ours == "RACTD 60× faster than the teacher per action"  # 120 / 2


# ------------------------------------------------------------------------------------------------------- fig3
def _modes_ctx(tmp_path):
    info = {"dataset_returns": [10.0, 20.0, 160.0, 400.0, 410.0], "dataset_scores": [1.0, 2.0, 16.0, 40.0, 41.0]}
    frame = episodes({"edm_teacher": [16.0, 40.0], "ctd": [0.0, 18.0, 5.0, 5.0],
                      ractd.STUDENT: [30.0, 30.0, 30.0, 1.0]})
    return FakeCtx(tmp_path, [(fake_point(0, "hopper-medium-expert-local"), frame, info)])


def test_fig3_splits_at_the_dataset_median_and_reports_percentages(tmp_path):
    out = draw(ractd.draw_fig3, _modes_ctx(tmp_path))
    dataset = out.data[out.data["method"] == "dataset"]
    assert dataset["episode"].tolist() == [0, 1, 2, 3, 4]
    assert dataset["normalized_score"].tolist() == [1.0, 2.0, 16.0, 40.0, 41.0]
    assert dataset["episode_return"].tolist() == [10.0, 20.0, 160.0, 400.0, 410.0]
    # split = median 16 (the mean, 20, would drop CTD's 18); a score of exactly 16 is not in the high mode
    assert ractd.high_mode_share(out.data) == pytest.approx({"dataset": 0.4, "edm_teacher": 0.5, "ctd": 0.25,
                                                            ractd.STUDENT: 0.75})
    assert out.ours == ("CTD (student, no reward) 25% high, dataset 40% high, EDM teacher (Heun, 80 bins) 50% high, "
                        "RACTD (student) 75% high")


# ------------------------------------------------------------------------------------------------------- fig4
#: per (sigma, seed): the DSM loss at each recorded student step (every 10th step: 0, 10, ..., 40)
FIG4 = {(0.0, 0): [9.0, 9.0, 5.0, 1.0, 3.5], (0.0, 1): [9.0, 9.0, 5.0, 2.0, 6.0],
        (1.5, 0): [1.0, 1.0, 1.0, 8.0, 8.0], (1.5, 1): [1.0, 1.0, 1.0, 8.0, 8.0]}


def _fig4_ctx(tmp_path):
    runs = []
    for (sigma, seed), dsm in FIG4.items():
        info = {"losses": {"teacher": [{"dsm": 0.0}], "student": [{"ctm": 0.1, "dsm": d, "reward": -1.0} for d in dsm]}}
        runs.append((fake_point(seed, reward_weight=sigma), episodes({ractd.STUDENT: [50.0]}), info))
    return FakeCtx(tmp_path, runs)


def test_fig4_loss_rows_carry_step_seed_and_sigma(tmp_path):
    out = draw(ractd.draw_fig4, _fig4_ctx(tmp_path))
    first = out.data.iloc[:5]
    assert first["step"].tolist() == [0, 10, 20, 30, 40]
    assert first["dsm"].tolist() == FIG4[(0.0, 0)]
    assert out.data["seed"].tolist() == [0] * 5 + [1] * 5 + [0] * 5 + [1] * 5
    assert out.data["reward_weight"].tolist() == [0.0] * 10 + [1.5] * 10


def test_fig4_final_dsm_is_the_mean_over_the_last_quarter_of_steps(tmp_path):
    out = draw(ractd.draw_fig4, _fig4_ctx(tmp_path))
    # sigma 0: steps 30 and 40 (30 = 0.75 x 40 included) of both seeds: (1 + 3.5 + 2 + 6) / 4 = 3.125
    assert out.ours == "σ 0: final DSM 3.12, σ 1.5: final DSM 8"


# ------------------------------------------------------------------------------------------------ tab15 / tab14
#: per (swept value, seed): the episode scores
SWEEP = {(0.0, 0): [10.0, 30.0], (0.0, 1): [40.0, 40.0], (0.7, 0): [60.0, 60.0], (0.7, 1): [70.0, 70.0],
         (1.5, 0): [50.0, 50.0], (1.5, 1): [50.0, 50.0]}


def test_tab15_rows_are_seed_means_per_sigma(tmp_path):
    ctx = FakeCtx(tmp_path, [(fake_point(seed, reward_weight=v), episodes({ractd.STUDENT: s}), None)
                             for (v, seed), s in SWEEP.items()])
    out = draw(ractd.draw_tab15, ctx)
    assert ctx.paths == [ractd.REWARD_WEIGHT]
    assert out.table.to_dict("records") == [{"sigma": "0", "score": "30.0 ± 10.0", "seeds": 2},
                                            {"sigma": "0.7", "score": "65.0 ± 5.0", "seeds": 2},
                                            {"sigma": "1.5", "score": "50.0 ± 0.0", "seeds": 2}]
    assert out.ours == "best sigma = 0.7 (normalised score 65.0)"  # the mean of the seeds, not the best seed (70)


def test_tab14_sweeps_beta_not_the_reward_weight(tmp_path):
    sweep = {(0.0, 0): [2.0, 2.0], (0.0, 1): [4.0, 4.0], (1.0, 0): [60.0, 60.0], (1.0, 1): [70.0, 70.0]}
    ctx = FakeCtx(tmp_path, [(fake_point(seed, beta=v, reward_weight=1.0), episodes({ractd.STUDENT: s}), None)
                             for (v, seed), s in sweep.items()])
    out = draw(ractd.draw_tab14, ctx)
    assert ctx.paths == [ractd.DSM_WEIGHT]
    assert out.table.to_dict("records") == [{"beta": "0", "score": "3.0 ± 1.0", "seeds": 2},
                                            {"beta": "1", "score": "65.0 ± 5.0", "seeds": 2}]
    assert out.ours == "best beta = 1 (normalised score 65.0)"


# ------------------------------------------------------------------------------------------------------ tab16
def test_tab16_scores_over_seed_means_and_median_times(tmp_path):
    nfe1 = {0: ([100.0, 80.0], 1.0), 1: ([90.0, 90.0], 1.0), 2: ([60.0, 60.0], 4.0)}
    runs = []
    for seed, (scores, ms1) in nfe1.items():
        frame = episodes({"ractd_nfe1": scores, "ractd_nfe2": [70.0, 70.0], "ractd_nfe4": [75.0, 75.0]},
                         nfe={"ractd_nfe1": 1, "ractd_nfe2": 2, "ractd_nfe4": 4},
                         ms={"ractd_nfe1": ms1, "ractd_nfe2": 2.0, "ractd_nfe4": 4.0})
        runs.append((fake_point(seed), frame, None))
    out = draw(ractd.draw_tab16, FakeCtx(tmp_path, runs))
    # 1 NFE: seed means 90, 90, 60 -> 80 ± 14.1 (the six episodes would give ± 15.3); times 1, 1, 4 -> median 1
    assert out.table.to_dict("records") == [{"NFE": 1, "score": "80.0 ± 14.1", "ms per action": "1.00"},
                                            {"NFE": 2, "score": "70.0 ± 0.0", "ms per action": "2.00"},
                                            {"NFE": 4, "score": "75.0 ± 0.0", "ms per action": "4.00"}]
    assert out.ours == "1 / 2 / 4 NFE: normalised score 80.0 / 70.0 / 75.0"  # means (the median of 1 NFE is 85)


# ------------------------------------------------------------------------------------------------------ tab17
def test_tab17_keeps_h_and_c_apart_and_reports_the_best_cell(tmp_path):
    cells = {(1, 8): ([10.0, 30.0], [40.0, 40.0]), (1, 16): ([50.0, 50.0], [50.0, 50.0]),
             (4, 8): ([45.0, 45.0], [45.0, 45.0]), (4, 16): ([60.0, 60.0], [70.0, 70.0])}
    runs = [(fake_point(seed, history=h, horizon=c), episodes({ractd.STUDENT: per_seed[seed]}), None)
            for (h, c), per_seed in cells.items() for seed in (0, 1)]
    out = draw(ractd.draw_tab17, FakeCtx(tmp_path, runs))
    assert out.table.to_dict("records") == [{"h": 1, "c": 8, "score": "30.0 ± 10.0"},
                                            {"h": 1, "c": 16, "score": "50.0 ± 0.0"},
                                            {"h": 4, "c": 8, "score": "45.0 ± 0.0"},
                                            {"h": 4, "c": 16, "score": "65.0 ± 5.0"}]
    assert out.ours == "best: h = 4, c = 16 (normalised score 65.0)"


# ------------------------------------------------------------------------------------------------------- tab5
#: per (teacher reward weight, seed): the CTD and the RACTD student's episode scores
STAGES = {(0.0, 0): ([10.0, 30.0], [90.0, 90.0]), (0.0, 1): ([40.0, 40.0], [90.0, 90.0]),
          (1.0, 0): ([50.0, 50.0], [60.0, 60.0]), (1.0, 1): ([50.0, 50.0], [70.0, 80.0])}


def _stage_ctx(tmp_path, teacher_weights=(0.0, 1.0)):
    return FakeCtx(tmp_path, [
        (fake_point(seed, teacher_reward_weight=w), episodes({"ctd": ctd, "ractd": student},
                                                             kind={"ctd": "ctd", "ractd": "student"}), None)
        for (w, seed), (ctd, student) in STAGES.items() if w in teacher_weights])


def test_tab5_rows_follow_the_stages_in_order(tmp_path):
    out = draw(ractd.draw_tab5, _stage_ctx(tmp_path))
    assert out.table.to_dict("records") == [
        {"reward at": "unconditional teacher + unconditional student (CTD)", "score": "30.0 ± 10.0"},
        {"reward at": "reward teacher + unconditional student", "score": "50.0 ± 0.0"},
        {"reward at": "reward teacher + reward student", "score": "67.5 ± 7.5"},
        {"reward at": "unconditional teacher + reward student (RACTD)", "score": "90.0 ± 0.0"}]
    assert out.ours == ("normalised score, reward at: neither (CTD) 30.0, teacher stage 50.0, both stages 67.5, "
                        "student stage (RACTD) 90.0")


def test_tab5_leaves_out_a_stage_without_runs(tmp_path):
    out = draw(ractd.draw_tab5, _stage_ctx(tmp_path, teacher_weights=(0.0,)))
    assert out.table["reward at"].tolist() == ["unconditional teacher + unconditional student (CTD)",
                                               "unconditional teacher + reward student (RACTD)"]
    assert out.ours == "normalised score, reward at: neither (CTD) 30.0, student stage (RACTD) 90.0"


# ------------------------------------------------------------------------------------------------------- tab9
def test_loss_weight_table_reads_zipped_and_swept_weights_from_the_files():
    table = ractd.loss_weight_table().set_index("scenario")
    main = table.loc["main"]
    assert main["datasets"] == ("hopper-medium, hopper-medium-replay, hopper-medium-expert, walker2d-medium, "
                                "walker2d-medium-replay, walker2d-medium-expert, halfcheetah-medium, "
                                "halfcheetah-medium-replay, halfcheetah-medium-expert")
    assert main["sigma"] == "1 / 1 / 0.5 / 0.4 / 0.5 / 0.2 / 0.5 / 1 / 0" and main["beta"] == "1"
    assert (main["student steps"], main["teacher steps"]) == (2000, 5000)
    assert table.loc["dsm_weight", "beta"] == "0 / 0.25 / 0.5 / 1 / 2"
    assert table.loc["maze", "datasets"] == "PointMaze U-Maze, PointMaze Medium"


def test_loss_weight_table_defaults_match_the_train_block(tmp_path, monkeypatch):
    bare = tmp_path / "bare.yaml"
    bare.write_text("workload:\n  dataset: hopper-medium-local\n  train: {teacher_steps: 7}\n")
    monkeypatch.setattr(ractd, "ALL_SCENARIOS", (str(bare),))
    row = ractd.loss_weight_table().iloc[0]
    assert row["scenario"] == "bare" and row["datasets"] == "hopper-medium"
    assert (row["alpha"], row["beta"], row["sigma"]) == (1.0, "1", "1")
    assert row["teacher steps"] == 7 and row["student steps"] is None


# ------------------------------------------------------------------------------------------------ reduced scale
def test_fig3_scale_note_states_its_own_episode_counts():
    import yaml

    from plots.runner import resolve_project_path

    spec = FIGURES.get("ractd.fig3")
    full = yaml.safe_load(resolve_project_path(ractd.MODES).read_text())["workload"]["rollout"]["episodes"]
    assert "workload.rollout.episodes=20" in spec.quick_overrides and full == 100
    assert "20 evaluation episodes" in spec.scale_note and "3 evaluation episodes" not in spec.scale_note
    assert "100 episodes of up to 1000 steps" in spec.scale_note


def test_tab17_quick_profile_sweeps_the_horizon_instead_of_fixing_it():
    overrides = FIGURES.get("ractd.tab17").quick_overrides
    assert not any(o.startswith("workload.train.horizon=") for o in overrides)
    assert "sweep.product.workload.train.horizon=[8, 16]" in overrides
    assert "workload.dataset=hopper-medium-replay-local" in overrides and "sweep.product.seed=[0]" in overrides
