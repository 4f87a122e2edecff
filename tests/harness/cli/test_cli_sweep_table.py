"""`harness sweep` writes one tidy CSV of all points beside the runs and prints a plain per-point table."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from harness.cli import main

SWEEP = """\
name: toy_table
kind: toy
workload: {n_messages: 3}
sweep:
  product:
    network.inter_node.bandwidth: [10Gbit/s, 100Gbit/s]
  zip:
    workload.n_messages: [2, 5]
    workload.mean_size_bytes: [1000, 2000]
"""


def test_sweep_writes_one_tidy_csv_and_a_readable_table(tmp_path, capsys):
    scenario = tmp_path / "toy_table.yaml"
    scenario.write_text(SWEEP)
    out = tmp_path / "runs"
    assert main(["sweep", str(scenario), "--workers", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "{" not in printed and "[" not in printed  # no dicts or lists
    header = next(line for line in printed.splitlines() if line.split()[:1] == ["point"])
    assert header.split() == ["point", "bandwidth_gbps", "n_messages", "mean_size_bytes", "status", "run_id"]
    assert [line.split()[-2] for line in printed.splitlines()[2:6]] == ["computed"] * 4

    shown = re.search(r"run_id\): (\S+)$", printed, re.MULTILINE).group(1)
    tables = list((out / "toy_table").glob("sweep-*.csv"))
    assert len(tables) == 1 and tables[0].name == Path(shown).name
    table = pd.read_csv(tables[0])
    axes = ["network.inter_node.bandwidth_gbps", "workload.n_messages", "workload.mean_size_bytes"]
    assert {"point", "run_id", *axes} <= set(table.columns)
    assert sorted(table["point"].unique()) == [1, 2, 3, 4]
    for point, rows in table.groupby("point"):
        run_dir = out / "toy_table" / rows["run_id"].iloc[0]
        metrics = pd.read_csv(run_dir / "metrics.csv")
        assert len(rows) == len(metrics) == rows["workload.n_messages"].iloc[0]
        pd.testing.assert_frame_equal(rows[list(metrics.columns)].reset_index(drop=True), metrics)
    assert table.groupby("point")["network.inter_node.bandwidth_gbps"].first().tolist() == [10, 10, 100, 100]

    # a rerun reuses every point and rewrites the same table
    assert main(["sweep", str(scenario), "--workers", "1", "--out", str(out)]) == 0
    again = capsys.readouterr().out
    assert [line.split()[-2] for line in again.splitlines()[2:6]] == ["reused"] * 4
    assert list((out / "toy_table").glob("sweep-*.csv")) == tables
    pd.testing.assert_frame_equal(pd.read_csv(tables[0]), table)
