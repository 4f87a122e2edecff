"""harness/store.py: run-ids, atomic writes, reuse, and what a reader accepts as a finished run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import harness.store as store_module
from harness.config.blocks import ClusterSpec, LinkSpec, NetworkSpec
from harness.executors import execute_task, plan
from harness.provenance import table_set_hash
from harness.store import RunStore, compute_run_id, metrics_csv_text
from harness.sweep import expand
from harness.workloads.collective import CollectiveScenario, CollectiveWorkload
from harness.workloads.toy import ToyScenario, ToyWorkload

CODE = "c" * 64
TABLES = {"cpu": "absent"}


def toy(**workload) -> ToyScenario:
    return ToyScenario(name="toy_store", seed=3, workload=ToyWorkload(**workload))


def run_once(scenario, root):
    (task,) = plan(expand(scenario), root)
    return execute_task(task)


def test_run_id_depends_on_scenario_code_and_tables():
    base = compute_run_id(toy(), CODE, TABLES)
    assert len(base) == 16 and int(base, 16) >= 0
    assert compute_run_id(toy(), CODE, TABLES) == base
    assert compute_run_id(toy(n_messages=9), CODE, TABLES) != base
    assert compute_run_id(toy(), "d" * 64, TABLES) != base
    assert compute_run_id(toy(), CODE, {"cpu": "e" * 64}) != base


def test_run_id_ignores_how_the_scenario_was_written():
    explicit = ToyScenario(name="toy_store", seed=3, network=NetworkSpec(
        inter_node=LinkSpec(bandwidth_gbps=400, latency_us=5)))
    assert compute_run_id(explicit, CODE, TABLES) == compute_run_id(toy(), CODE, TABLES)


def test_same_seed_gives_byte_identical_metrics(tmp_path):
    first = run_once(toy(n_messages=50), tmp_path / "a")
    second = run_once(toy(n_messages=50), tmp_path / "b")
    assert not first.reused and not second.reused
    assert first.metrics_path.read_bytes() == second.metrics_path.read_bytes()
    other_seed = run_once(toy(n_messages=50).model_copy(update={"seed": 4}), tmp_path / "a")
    assert other_seed.run_id != first.run_id
    assert other_seed.metrics_path.read_bytes() != first.metrics_path.read_bytes()


def test_finished_run_is_reused_not_rewritten(tmp_path):
    first = run_once(toy(), tmp_path)
    stamp = json.loads((first.run_dir / "run.json").read_text())
    again = run_once(toy(), tmp_path)
    assert again.reused and again.run_dir == first.run_dir and again.info == first.info
    assert json.loads((again.run_dir / "run.json").read_text()) == stamp
    changed = run_once(toy(n_messages=3), tmp_path)
    assert not changed.reused and changed.run_id != first.run_id
    assert sorted(p.name for p in (tmp_path / "toy_store").iterdir()) == sorted([first.run_id, changed.run_id])


def test_run_json_records_provenance(tmp_path):
    record = run_once(toy(n_messages=4), tmp_path)
    stored = json.loads((record.run_dir / "run.json").read_text())
    assert stored["complete"] is True and stored["run_id"] == record.run_id
    assert stored["scenario"]["workload"]["n_messages"] == 4 and "sweep" not in stored["scenario"]
    assert stored["seed"] == 3 and stored["kind"] == "toy" and stored["name"] == "toy_store"
    assert len(stored["code_version"]) == 64
    assert stored["timing_tables"] == {}  # toy prices nothing on a device: it reads no timing tables
    assert stored["wall_time_s"] >= 0 and stored["started_at"] <= stored["finished_at"]
    assert stored["info"] == {"total_bytes": int(record.read_metrics()["size_bytes"].sum())}
    assert stored["sweep_point"] == {} and stored["metrics_rows"] == 4 and stored["harness_version"]


def test_run_json_records_the_timing_tables_of_a_kind_that_reads_them(tmp_path):
    scenario = CollectiveScenario(name="c", cluster=ClusterSpec(device="cpu"),
                                  workload=CollectiveWorkload(size_bytes=1024))
    record = run_once(scenario, tmp_path)
    stored = json.loads((record.run_dir / "run.json").read_text())
    assert stored["timing_tables"] == {"cpu": table_set_hash("cpu")}
    assert stored["timing_tables"]["cpu"] != "absent"  # the project's cpu set exists


def test_folder_without_complete_flag_is_absent_and_replaced(tmp_path):
    store = RunStore(tmp_path)
    run_dir = store.run_dir("n", "abc")
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.csv").write_text("x\n1\n")
    (run_dir / "run.json").write_text(json.dumps({"run_id": "abc"}))
    assert store.find("n", "abc") is None
    (run_dir / "run.json").write_text('{"complete": true, "trunc')
    assert store.find("n", "abc") is None
    for record in ({"complete": True}, {"complete": True, "run_id": "other"}):  # damaged, or another run's record
        (run_dir / "run.json").write_text(json.dumps(record))
        assert store.find("n", "abc") is None and store.runs("n") == []
    final, already_there = store.write("n", "abc", "x\n2\n", {"info": {"k": 1}})
    assert final == run_dir and not already_there
    assert (run_dir / "metrics.csv").read_text() == "x\n2\n"
    assert store.find("n", "abc").info == {"k": 1}
    assert [p.name for p in (tmp_path / "n").iterdir()] == ["abc"]


def test_a_finished_run_is_never_overwritten(tmp_path):
    store = RunStore(tmp_path)
    store.write("n", "abc", "x\n1\n", {"info": {"first": True}})
    final, already_there = store.write("n", "abc", "x\n2\n", {"info": {"first": False}})
    assert already_there
    assert (final / "metrics.csv").read_text() == "x\n1\n"
    assert [p.name for p in (tmp_path / "n").iterdir()] == ["abc"]


def test_stale_temp_folders_are_ignored_and_cleaned(tmp_path):
    store = RunStore(tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    host = store._host
    stale = tmp_path / "n" / f".tmp-abc-{host}-{dead_pid}-0000"
    live = tmp_path / "n" / f".tmp-abc-{host}-{os.getpid()}-1111"
    for folder in (stale, live):
        folder.mkdir(parents=True)
        (folder / "metrics.csv").write_text("x\n1\n")
        (folder / "run.json").write_text(json.dumps({"complete": True}))
    assert store.find("n", "abc") is None
    assert not stale.exists() and live.exists()  # a live writer's folder is left alone
    assert store.runs("n") == []


def test_a_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    real = store_module._write_synced

    def fail_on_run_json(path, text):
        if path.name == "run.json":
            raise OSError("disk full")
        real(path, text)

    monkeypatch.setattr(store_module, "_write_synced", fail_on_run_json)
    with pytest.raises(OSError, match="disk full"):
        store.write("n", "abc", "x\n1\n", {})
    assert list((tmp_path / "n").iterdir()) == []


def test_metrics_must_be_a_dataframe():
    with pytest.raises(TypeError, match="must be a pandas DataFrame"):
        metrics_csv_text({"a": [1]})
    assert metrics_csv_text(pd.DataFrame({"a": [1, 2], "b": [0.1, 1e-9]})) == "a,b\n1,0.1\n2,1e-09\n"


def test_default_root_is_results_runs_under_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert RunStore().root == tmp_path / "results" / "runs"


def test_a_killed_unreaped_writer_counts_as_gone(tmp_path):
    store = RunStore(tmp_path)
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while Path(f"/proc/{zombie.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    temp = tmp_path / "n" / f".tmp-abc-{store._host}-{zombie.pid}-2222"
    temp.mkdir(parents=True)
    assert store.clean_stale("n") == [temp] and not temp.exists()
    zombie.wait()
