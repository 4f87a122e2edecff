"""The ``tune:`` stage (`harness.tune`): best candidate per group, same run store (cached), identity through the
chosen value only, the choice exposed (table, info, metrics column), clear validation lines."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from harness.api import run_scenario_file
from tests.harness.cli_run import cli
from harness.config.loader import load_scenario
from harness.errors import HarnessError
from harness.store import RunRecord
from harness.sweep import SweepPoint
from harness.tune import last_metric, tune_points

# toy: the last message's size depends on the seed and on n_messages (the n-th draw), so the seed with the
# smallest last message differs between n_messages groups
TOY = {
    "name": "toy_tune",
    "kind": "toy",
    "workload": {"n_messages": 2},
    "sweep": {"product": {"workload.n_messages": [2, 3]}},
    "tune": {"axis": "seed", "values": [0, 1, 2, 3, 4, 5], "metric": "size_bytes", "goal": "min",
             "per": ["workload.n_messages"], "overrides": {"workload.mean_size_bytes": 2.0e6}},
}


def _write(folder: Path, data: dict, name: str = "s.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data))
    return path


def _run_dirs(root: Path) -> set[str]:
    return {p.name for p in (root / "toy_tune").iterdir() if p.is_dir()}


def test_picks_the_argmin_per_group_caches_and_is_the_hand_set_run(tmp_path):
    path = _write(tmp_path, TOY)
    root = tmp_path / "runs"
    result = run_scenario_file(path, results_root=root, progress=False)
    table = result.tuning
    assert list(table.columns) == ["group", "workload.n_messages", "value", "metric", "chosen", "run_id"]
    assert len(table) == 12 and table.groupby("group")["chosen"].sum().tolist() == [1, 1]

    # independent: every candidate run by hand with the tuning budget, its last message size compared here
    hand = {k: v for k, v in TOY.items() if k not in ("tune", "sweep")}
    hand_path = _write(tmp_path, hand, "hand.yaml")
    expected = {}
    for n in (2, 3):
        sizes = {}
        for seed in TOY["tune"]["values"]:
            run = run_scenario_file(hand_path, [f"workload.n_messages={n}", "workload.mean_size_bytes=2e6"],
                                    seed=seed, results_root=tmp_path / "hand", progress=False)
            sizes[seed] = float(run.metrics["size_bytes"].iloc[-1])
        expected[n] = min(sizes, key=sizes.get)
        rows = table[table["workload.n_messages"] == n]
        assert dict(zip(rows["value"], rows["metric"])) == sizes
        assert rows.loc[rows["chosen"], "value"].item() == expected[n]
    assert expected[2] != expected[3]  # the groups really chose differently

    # main points: the chosen value set, as a metrics column, in the records' info
    assert [r.values for r in result.runs] == [{"workload.n_messages": n, "seed": expected[n]} for n in (2, 3)]
    assert set(result.metrics["seed"]) == {expected[2], expected[3]}
    for record, n in zip(result.runs, (2, 3)):
        tuned = record.info["tuned"]
        assert tuned["axis"] == "seed" and tuned["value"] == expected[n] and len(tuned["candidates"]) == 6
        stored = json.loads((record.run_dir / "run.json").read_text())
        assert stored["scenario"]["seed"] == expected[n] and "tune" not in stored["scenario"]
        assert stored["scenario"]["workload"]["mean_size_bytes"] == 1e6  # the tuning budget stays in tuning
    tuning_run = json.loads((root / "toy_tune" / table["run_id"].iloc[0] / "run.json").read_text())
    assert tuning_run["scenario"]["workload"]["mean_size_bytes"] == 2e6

    # the same run as one with the value set by hand
    for n in (2, 3):
        by_hand = run_scenario_file(hand_path, [f"workload.n_messages={n}"], seed=expected[n], results_root=root,
                                    progress=False)
        assert by_hand.n_reused == 1
        assert by_hand.runs[0].run_id in {r.run_id for r in result.runs}

    # a second call runs nothing new
    before = _run_dirs(root)
    again = run_scenario_file(path, results_root=root, progress=False)
    assert _run_dirs(root) == before and again.n_reused == 2
    assert again.tuning.equals(table)


def test_run_json_records_the_choice(tmp_path):
    result = run_scenario_file(_write(tmp_path, TOY), results_root=tmp_path / "runs", progress=False)
    stored = json.loads((result.runs[0].run_dir / "run.json").read_text())
    assert stored["info"]["tuned"]["axis"] == "seed"


def _fake_run(tmp_path: Path, metric_by_value: dict):
    """A `run` callable writing one metrics.csv per point whose ``loss`` column ends with the given value."""

    def run(points: list[SweepPoint]) -> list[RunRecord]:
        records = []
        for point in points:
            folder = tmp_path / f"p{len(list(tmp_path.iterdir()))}"
            folder.mkdir()
            value = point.values["workload.n_messages"]
            pd.DataFrame({"loss": [metric_by_value[value], math.nan]}).to_csv(folder / "metrics.csv", index=False)
            records.append(RunRecord(folder, folder.name, False, {}, point.values))
        return records

    return run


@pytest.mark.parametrize("goal,expected", [("min", 4), ("max", 3)])
def test_nan_and_inf_are_worst_whatever_the_goal(tmp_path, goal, expected):
    data = {"name": "t", "kind": "toy",
            "tune": {"axis": "workload.n_messages", "values": [2, 3, 4, 5, 6], "metric": "loss", "goal": goal}}
    scenario = load_scenario(_write(tmp_path, data))
    from harness.sweep import expand

    store = tmp_path / "fake"
    store.mkdir()
    metrics = {2: math.nan, 3: 5.0, 4: 1.0, 5: math.inf, 6: -math.inf}
    points, tuning = tune_points(scenario, expand(scenario), _fake_run(store, metrics))
    assert points[0].scenario.workload.n_messages == expected
    assert tuning.table.loc[tuning.table["chosen"], "value"].item() == expected
    assert tuning.lines()[0].startswith(f"tuned workload.n_messages per all points: {expected} (loss ")


def test_a_candidate_whose_run_may_have_diverged_is_never_chosen(tmp_path):
    """Its metric's last finite value (from before the divergence) is not what it is scored by."""
    data = {"name": "t", "kind": "toy",
            "tune": {"axis": "workload.n_messages", "values": [2, 3], "metric": "loss", "goal": "min"}}
    scenario = load_scenario(_write(tmp_path, data))
    from harness.sweep import expand

    store = tmp_path / "fake"
    store.mkdir()
    fake = _fake_run(store, {2: 0.1, 3: 5.0})  # 2 looks best: its loss was 0.1 before it became NaN

    def run(points: list[SweepPoint]) -> list[RunRecord]:
        diverged = {"loss": {"rows": 2, "count": 1, "first_row": 1, "first_step": 1, "values": ["nan"]}}
        return [dataclasses.replace(record, non_finite=diverged if record.values["workload.n_messages"] == 2 else {})
                for record in fake(points)]

    points, tuning = tune_points(scenario, expand(scenario), run)
    assert points[0].scenario.workload.n_messages == 3
    assert math.isnan(tuning.table.loc[tuning.table["value"] == 2, "metric"].item())


def test_last_metric_skips_trailing_nans_and_names_a_missing_column():
    assert last_metric(pd.DataFrame({"m": [1.0, 2.0, math.nan]}), "m") == 2.0
    assert math.isnan(last_metric(pd.DataFrame({"m": [math.nan]}), "m"))
    with pytest.raises(HarnessError, match=r"tune\.metric: 'x' is not a column .*\(columns: m\)"):
        last_metric(pd.DataFrame({"m": [1.0]}), "x")


def test_set_overrides_reach_the_tune_block(tmp_path):
    path = _write(tmp_path, TOY)
    scenario = load_scenario(path, ["tune.values=[1, 2]", "tune.overrides={workload.n_messages: 5}"])
    assert scenario.tune.values == [1, 2] and scenario.tune.overrides == {"workload.n_messages": 5}


@pytest.mark.parametrize("override,line", [
    ("tune.axis=workload.n_mesages", "tune.axis: no such key 'n_mesages' in a 'toy' scenario"),
    ("tune.axis=workload.n_messages", "tune.axis: workload.n_messages is also swept (sweep.product."),
    ("tune.values=[]", "tune.values: expected a non-empty list of candidates, got []"),
    ("tune.per=[workload.n_mesages]", "tune.per: workload.n_mesages: no such key 'n_mesages'"),
    ("tune.overrides={workload.size: 1}", "tune.overrides.workload.size: no such key 'size'"),
    ("tune.values=[-1]", "tune.values[0] (-1): seed: expected"),
    ("tune.goal=median", "tune.goal: expected"),
    ("sweep.product.tune.metric=[a, b]", "sweep.product.tune.metric: the tune block cannot be swept"),
])
def test_validation_names_the_tune_key_and_exits_2(capsys, tmp_path, override, line):
    code, out, err = cli(capsys, "validate", _write(tmp_path, TOY), "--set", override)
    assert code == 2 and out == ""
    assert line in err, err
    code, _, err = cli(capsys, "sweep", _write(tmp_path, TOY), "--out", tmp_path / "runs", "--set", override)
    assert code == 2 and line in err


def test_a_metric_that_is_no_column_names_the_file_before_any_main_point_runs(capsys, tmp_path):
    # kinds do not declare their metric columns, so the typo is found once the tuning runs have finished
    path = _write(tmp_path, {**TOY, "tune": {**TOY["tune"], "metric": "transfer_us"}})
    code, out, err = cli(capsys, "sweep", path, "--out", tmp_path / "runs", "--workers", "1")
    assert code == 2
    line = err.splitlines()[-1].removeprefix("error: ")
    assert line == (f"{path}: tune.metric: 'transfer_us' is not a column of the tuning runs' metrics (columns: "
                    "message, size_bytes, transfer_time_us); the 12 tuning runs are kept and will be reused")
    assert len(_run_dirs(tmp_path / "runs")) == 12  # 2 groups x 6 candidates, no main point


def test_cli_prints_one_line_per_group(capsys, tmp_path):
    code, out, _ = cli(capsys, "sweep", _write(tmp_path, TOY), "--out", tmp_path / "runs", "--workers", "1")
    assert code == 0
    lines = [line for line in out.splitlines() if line.startswith("tuned ")]
    assert len(lines) == 2 and lines[0].startswith("tuned seed per workload.n_messages=2: ")
    assert "(size_bytes " in lines[0] and " vs " in lines[0]


def test_compressed_training_learning_rate_per_method(tmp_path):
    data = {
        "name": "ct_tune", "kind": "compressed_training",
        "technique": {"name": "topk", "params": {"ratio": 0.25}},
        "workload": {"n_workers": 2, "steps": 6, "task": {"name": "logistic", "n_samples": 2000, "batch_size": 50}},
        "sweep": {"product": {"technique.name": ["topk", "randk"]}},
        "tune": {"axis": "workload.optimizer.lr", "values": [1.0e-3, 0.3, 3.0e3], "metric": "loss",
                 "per": ["technique.name"], "overrides": {"workload.steps": 4, "seed": 1000}},
    }
    result = run_scenario_file(_write(tmp_path, data), results_root=tmp_path / "runs", progress=False)
    table = result.tuning
    assert len(table) == 6
    for _, rows in table.groupby("group"):
        finite = rows[rows["metric"].map(math.isfinite)]
        assert rows.loc[rows["chosen"], "value"].item() == finite.loc[finite["metric"].idxmin(), "value"]
    assert "workload.optimizer.lr" in result.metrics.columns
    for record in result.runs:
        group = table[table["technique.name"] == record.values["technique.name"]]
        assert record.values["workload.optimizer.lr"] == group.loc[group["chosen"], "value"].item()
        assert json.loads((record.run_dir / "run.json").read_text())["scenario"]["workload"]["steps"] == 6


def test_set_reaches_one_key_of_tune_overrides():
    from harness.config.overrides import parse_override

    override = parse_override("tune.overrides.workload.steps=100")
    assert override.path == ("tune", "overrides", "workload.steps") and override.value == 100
