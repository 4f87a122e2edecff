"""Gaps in the tests of `harness.api` found by a mutation audit.

Closed here:
- `tidy_table`: 1-based ``point``, axis values (a swept block as compact JSON with sorted keys), ``run_id``;
- `write_sweep_table`: nothing for an empty sweep, else the tidy table beside the runs of the scenario;
- `point_table`: short unique axis names, values as people write them, reused/computed status;
- `SweepResult.n_reused` counts the reused runs; a point's own info is merged over its run's info.
"""

from __future__ import annotations

import pandas as pd

from harness.api import SweepResult, _with_point_info, point_table, tidy_table, write_sweep_table
from harness.store import RunRecord
from harness.sweep import SweepPoint
from harness.workloads.toy import ToyScenario


def _record(root, run_id, csv, values, reused=False, info=None):
    run_dir = root / "toy_api" / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.csv").write_text(csv)
    return RunRecord(run_dir, run_id, reused, info or {}, values)


def test_tidy_table_numbers_points_from_one_and_writes_a_swept_block_as_compact_json(tmp_path):
    first = _record(tmp_path, "aaa", "x\n1\n2\n", {"workload.size": 10.0, "workload.opts": {"b": 2, "a": [1, 2]}})
    second = _record(tmp_path, "bbb", "x\n3\n", {"workload.size": 20.0, "workload.opts": None})
    table = tidy_table(SweepResult(metrics=pd.DataFrame(), runs=[first, second]))
    assert table.to_dict("list") == {
        "point": [1, 1, 2], "x": [1, 2, 3], "workload.size": [10.0, 10.0, 20.0],
        "workload.opts": ['{"a":[1,2],"b":2}', '{"a":[1,2],"b":2}', None], "run_id": ["aaa", "aaa", "bbb"]}
    assert list(table.index) == [0, 1, 2]


def test_write_sweep_table_writes_the_tidy_table_beside_the_runs_and_nothing_for_no_runs(tmp_path):
    assert write_sweep_table(SweepResult(metrics=pd.DataFrame(), runs=[]), tmp_path) is None
    runs = [_record(tmp_path, "aaa", "x\n1\n", {"n": 1}), _record(tmp_path, "bbb", "x\n2\n", {"n": 2})]
    path = write_sweep_table(SweepResult(metrics=pd.DataFrame(), runs=runs), tmp_path)
    assert path.parent == tmp_path / "toy_api" and path.name.startswith("sweep-") and path.suffix == ".csv"
    assert path.read_text() == "point,x,n,run_id\n1,1,1,aaa\n2,2,2,bbb\n"


def test_point_table_shortens_axis_names_and_shows_values_as_people_write_them(tmp_path):
    values = [
        {"network.inter_node.bandwidth_gbps": 1234567.0, "a.size": 0.5, "b.size": None, "workload.block": {"r": 2.0}},
        {"network.inter_node.bandwidth_gbps": 2e12, "a.size": 1e-7, "b.size": [1.0, 2], "workload.block": {"r": 3}},
    ]
    runs = [_record(tmp_path, "aaa", "x\n1\n", values[0], reused=True),
            _record(tmp_path, "bbb", "x\n1\n", values[1], reused=False)]
    table = point_table(SweepResult(metrics=pd.DataFrame(), runs=runs))
    assert table.to_dict("records") == [
        {"point": 1, "bandwidth_gbps": "1234567", "a.size": "0.5", "b.size": "null", "block": "r=2",
         "status": "reused", "run_id": "aaa"},
        {"point": 2, "bandwidth_gbps": "2e+12", "a.size": "1e-07", "b.size": "1, 2", "block": "r=3",
         "status": "computed", "run_id": "bbb"},
    ]


def test_a_short_name_is_the_shortest_tail_shared_by_no_other_axis_at_a_dot(tmp_path):
    def columns(values):
        (record,) = [_record(tmp_path / str(len(values)), "aaa", "x\n1\n", values)]
        return list(point_table(SweepResult(metrics=pd.DataFrame(), runs=[record])).columns)

    assert columns({"a.size": 1, "b.msize": 2}) == ["point", "size", "msize", "status", "run_id"]
    assert columns({"size": 1, "workload.size": 2, "x.y.z": 3}) == ["point", "size", "workload.size", "z", "status",
                                                                     "run_id"]


def test_n_reused_counts_only_the_reused_runs(tmp_path):
    runs = [_record(tmp_path, "aaa", "x\n1\n", {}, reused=True), _record(tmp_path, "bbb", "x\n1\n", {}),
            _record(tmp_path, "ccc", "x\n1\n", {}, reused=True)]
    assert SweepResult(metrics=pd.DataFrame(), runs=runs).n_reused == 2


def test_a_points_own_info_is_merged_over_the_runs_info(tmp_path):
    record = _record(tmp_path, "aaa", "x\n1\n", {}, info={"tuned": "old", "kept": 1})
    point = SweepPoint(index=0, values={}, scenario=ToyScenario(name="toy_api"), info={"tuned": {"lr": 0.1}})
    assert _with_point_info(record, point).info == {"tuned": {"lr": 0.1}, "kept": 1}
    plain = SweepPoint(index=0, values={}, scenario=ToyScenario(name="toy_api"))
    assert _with_point_info(record, plain) is record
