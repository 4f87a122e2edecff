"""Gaps in the tests of `harness.tune` found by a mutation audit.

Closed here:
- a ``per`` or ``overrides`` key that holds the tune axis (a parent block, ``workload`` of ``workload.n_messages``)
  overlaps it, and so does a ``per`` / ``overrides`` key or a sweep axis inside a tune axis that is a block;
- a tie goes to the earlier candidate, and a group's tuning points are built from its first main point (its seed);
  the main points carry the chosen value among their values.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from harness.config.loader import load_scenario
from harness.errors import ScenarioError
from harness.store import RunRecord
from harness.sweep import SweepPoint, expand
from harness.tune import tune_points


def _write(folder: Path, data: dict) -> Path:
    path = folder / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return info.value.problems


def test_a_per_key_holding_the_tune_axis_overlaps_it(tmp_path):
    path = _write(tmp_path, {"name": "t", "kind": "toy", "tune": {
        "axis": "workload.n_messages", "values": [2, 3], "metric": "loss", "per": ["workload"]}})
    assert _problems(path) == [f"{path}: tune.per: workload overlaps tune.axis workload.n_messages (a group cannot be "
                               "chosen by its choice)"]


def test_an_override_of_the_block_holding_the_tune_axis_overlaps_it(tmp_path):
    path = _write(tmp_path, {"name": "t", "kind": "toy", "tune": {
        "axis": "workload.n_messages", "values": [2, 3], "metric": "loss",
        "overrides": {"workload": {"mean_size_bytes": 2.0}}}})
    assert _problems(path) == [f"{path}: tune.overrides.workload: overlaps tune.axis workload.n_messages (the "
                               "candidates set it)"]


def test_keys_inside_a_block_tune_axis_overlap_it(tmp_path):
    path = _write(tmp_path, {"name": "t", "kind": "toy",
                             "sweep": {"product": {"network.inter_node.bandwidth_gbps": [1, 2]}},
                             "tune": {"axis": "network.inter_node", "values": [{"bandwidth_gbps": 10, "latency_us": 1}],
                                      "metric": "loss", "per": ["network.inter_node.latency_us"],
                                      "overrides": {"network.inter_node.sharing": "fifo"}}})
    assert _problems(path) == [
        f"{path}: tune.per: network.inter_node.latency_us overlaps tune.axis network.inter_node (a group cannot be "
        "chosen by its choice)",
        f"{path}: tune.overrides.network.inter_node.sharing: overlaps tune.axis network.inter_node (the candidates "
        "set it)",
        f"{path}: tune.axis: network.inter_node is also swept (sweep.product.network.inter_node.bandwidth_gbps); a key "
        "is either swept or tuned"]


def test_a_tie_goes_to_the_earlier_candidate_and_tuning_starts_from_the_first_point(tmp_path):
    path = _write(tmp_path, {"name": "t", "kind": "toy", "sweep": {"product": {"seed": [5, 6]}},
                             "tune": {"axis": "workload.n_messages", "values": [4, 2, 3], "metric": "loss"}})
    scenario = load_scenario(path)
    seen: list[SweepPoint] = []

    def run(points: list[SweepPoint]) -> list[RunRecord]:
        records = []
        for point in points:
            folder = tmp_path / f"p{len(seen)}"
            folder.mkdir()
            seen.append(point)
            loss = 2.0 if point.values["workload.n_messages"] == 3 else 1.0  # 4 and 2 tie
            pd.DataFrame({"loss": [loss, math.nan]}).to_csv(folder / "metrics.csv", index=False)
            records.append(RunRecord(folder, folder.name, False, {}, point.values))
        return records

    main, tuning = tune_points(scenario, expand(scenario), run)
    assert [p.scenario.seed for p in seen] == [5, 5, 5]
    assert [p.scenario.workload.n_messages for p in main] == [4, 4]
    assert [p.scenario.seed for p in main] == [5, 6]
    assert [p.values for p in main] == [{"seed": 5, "workload.n_messages": 4}, {"seed": 6, "workload.n_messages": 4}]
    assert tuning.table["chosen"].tolist() == [True, False, False]
