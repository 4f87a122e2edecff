"""Gaps in the tests of `harness.store` found by a mutation audit.

Closed here:
- run.json and the run-id text keep numpy integers as integers, sets in sorted order (`canonical_json`);
- a run stored before the metrics hash: an empty metrics.csv has 0 rows, a blank line (a row of one missing value)
  is a row, and a boolean ``metrics_rows`` is no count;
- a writer whose pid cannot be signalled (another user's process), or whose state cannot be read, is alive;
- temp folders whose name cannot be parsed are stale; another host's are stale only after a day;
- a temp folder that vanished before it was looked at is not reported as removed;
- `RunStore.runs` lists the runs sorted by run-id, each with its sweep point's values from run.json.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

import harness.store as store_module
from harness.store import RunStore, canonical_json, metrics_mismatch


def test_canonical_json_keeps_numpy_integers_as_integers_and_sorts_sets():
    words = {f"w{n:02d}" for n in range(30)}  # 30 strings: their set order is almost never the sorted one
    text = canonical_json({"i": np.int64(3), "f": np.float32(0.5), "b": np.bool_(True), "a": np.arange(3),
                           "s": words, "p": Path("x") / "y"})
    expected_words = ",".join(f'"w{n:02d}"' for n in range(30))
    assert text == f'{{"a":[0,1,2],"b":true,"f":0.5,"i":3,"p":"x/y","s":[{expected_words}]}}'


def test_run_json_stores_a_numpy_integer_in_the_info_as_an_integer(tmp_path):
    store = RunStore(tmp_path)
    run_dir, _ = store.write("n", "abc", "x\n1\n", {"info": {"n_done": np.int64(7)}})
    assert '"n_done": 7\n' in (run_dir / "run.json").read_text()
    assert store.find("n", "abc").info == {"n_done": 7}


def test_an_empty_metrics_csv_of_an_old_run_counts_zero_rows(tmp_path):
    (tmp_path / "metrics.csv").write_text("")
    assert metrics_mismatch(tmp_path, {"metrics_rows": 0}) is None
    assert metrics_mismatch(tmp_path, {"metrics_rows": 1}) == "metrics.csv has 0 rows, run.json records 1"


def test_a_blank_line_of_an_old_runs_metrics_csv_is_a_row(tmp_path):
    (tmp_path / "metrics.csv").write_text("x\n1\n\n3\n")  # one column; its second value is missing
    assert metrics_mismatch(tmp_path, {"metrics_rows": 3}) is None
    assert metrics_mismatch(tmp_path, {"metrics_rows": 2}) == "metrics.csv has 3 rows, run.json records 2"


def test_a_boolean_metrics_rows_is_not_a_row_count(tmp_path):
    (tmp_path / "metrics.csv").write_text("x\n1\n2\n")
    assert metrics_mismatch(tmp_path, {"metrics_rows": True}) is None
    assert metrics_mismatch(tmp_path, {"metrics_rows": 3}) == "metrics.csv has 2 rows, run.json records 3"


def test_a_writer_that_cannot_be_signalled_is_alive_and_its_temp_folder_kept(tmp_path, monkeypatch):
    store = RunStore(tmp_path)
    temp = tmp_path / "n" / f".tmp-abc-{store._host}-4242-0000"
    temp.mkdir(parents=True)

    def not_permitted(pid, signal):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(store_module.os, "kill", not_permitted)
    assert store_module._pid_alive(4242) is True
    assert store.clean_stale("n") == [] and temp.exists()


def test_a_temp_folder_whose_name_cannot_be_parsed_is_stale(tmp_path):
    store = RunStore(tmp_path)
    odd = tmp_path / "n" / ".tmp-abc-def"  # three parts: no host, pid and token to judge by
    odd.mkdir(parents=True)
    assert store.clean_stale("n") == [odd] and not odd.exists()


def test_another_hosts_temp_folder_is_stale_only_after_a_day(tmp_path):
    store = RunStore(tmp_path)
    young = tmp_path / "n" / ".tmp-abc-otherhost-123-0000"
    old = tmp_path / "n" / ".tmp-abd-otherhost-123-1111"
    young.mkdir(parents=True)
    old.mkdir()
    day = store_module.FOREIGN_TEMP_MAX_AGE_S
    now = time.time()
    os.utime(young, (now - day + 3600, now - day + 3600))  # 23 hours old
    os.utime(old, (now - day - 3600, now - day - 3600))  # 25 hours old
    assert store.clean_stale("n") == [old]
    assert young.exists() and not old.exists()


def test_a_foreign_temp_folder_that_is_already_gone_is_not_stale(tmp_path):
    gone = tmp_path / ".tmp-abc-otherhost-123-0000"
    assert store_module._is_stale_temp(gone, "thishost") is False


def test_a_reader_treats_a_run_json_that_is_not_an_object_as_absent(tmp_path):
    store = RunStore(tmp_path)
    run_dir = store.run_dir("n", "abc")
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.csv").write_text("x\n1\n")
    (run_dir / "run.json").write_text(json.dumps(["complete", True]))
    assert store.find("n", "abc") is None and store.runs("n") == []


def test_runs_leaves_out_a_run_whose_metrics_csv_was_changed_without_deleting_it(tmp_path):
    store = RunStore(tmp_path)
    good, _ = store.write("n", "aaa", "x\n1\n", {})
    bad, _ = store.write("n", "bbb", "x\n1\n", {})
    (bad / "metrics.csv").write_text("x\n9\n")  # same rows, other bytes
    assert [record.run_id for record in store.runs("n")] == ["aaa"]
    assert store.read_run(bad) is None and store.read_run(good)["run_id"] == "aaa"
    assert (bad / "metrics.csv").read_text() == "x\n9\n"  # only `find` removes a damaged run


def test_a_write_replaces_a_finished_looking_run_whose_metrics_csv_was_changed(tmp_path):
    store = RunStore(tmp_path)
    run_dir, _ = store.write("n", "abc", "x\n1\n", {"info": {"first": True}})
    (run_dir / "metrics.csv").write_text("x\n9\n")
    final, already_there = store.write("n", "abc", "x\n2\n", {"info": {"first": False}})
    assert final == run_dir and already_there is False
    assert (run_dir / "metrics.csv").read_text() == "x\n2\n"
    assert store.find("n", "abc").info == {"first": False}
    assert [p.name for p in (tmp_path / "n").iterdir()] == ["abc"]


def test_only_a_complete_flag_that_is_exactly_true_makes_a_finished_run(tmp_path):
    store = RunStore(tmp_path)
    run_dir = store.run_dir("n", "abc")
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.csv").write_text("x\n1\n")
    for flag in (False, 1, "true"):
        (run_dir / "run.json").write_text(json.dumps({"complete": flag, "run_id": "abc"}))
        assert store.find("n", "abc") is None and store.runs("n") == [], flag


def test_find_removes_a_run_whose_metrics_csv_does_not_match_at_once(tmp_path):
    store = RunStore(tmp_path)
    run_dir, _ = store.write("n", "abc", "x\n1\n", {})
    (run_dir / "metrics.csv").write_text("x\n9\n")
    assert store.find("n", "abc") is None
    assert list((tmp_path / "n").iterdir()) == []  # the damaged folder is gone, no aside folder left either


def test_an_aside_folder_left_by_an_interrupted_discard_is_cleaned(tmp_path):
    store = RunStore(tmp_path)
    aside = tmp_path / "n" / ".aside-abc-0badf00d"
    aside.mkdir(parents=True)
    (aside / "metrics.csv").write_text("x\n1\n")
    assert store.clean_stale("n") == [aside] and not aside.exists()


def test_a_sweep_table_is_named_by_its_run_ids_in_order(tmp_path):
    store = RunStore(tmp_path)
    forward = store.write_sweep_table("n", ["aaa", "bbb"], "x\n1\n")
    backward = store.write_sweep_table("n", ["bbb", "aaa"], "x\n2\n")
    assert forward != backward and forward.read_text() == "x\n1\n" and backward.read_text() == "x\n2\n"
    assert store.write_sweep_table("n", ["aaa", "bbb"], "x\n1\n") == forward
    assert sorted(p.name for p in (tmp_path / "n").iterdir()) == sorted([forward.name, backward.name])


def test_a_writer_whose_process_state_cannot_be_read_counts_as_alive(monkeypatch):
    real = Path.read_text

    def no_proc(path, *args, **kwargs):
        if str(path).startswith("/proc/"):
            raise PermissionError(13, "Permission denied")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", no_proc)
    assert store_module._pid_alive(os.getpid()) is True


def test_runs_are_sorted_by_run_id_and_carry_their_sweep_point(tmp_path):
    store = RunStore(tmp_path)
    for run_id, size in (("ccc", 3), ("aaa", 1), ("bbb", 2)):
        store.write("n", run_id, "x\n1\n", {"sweep_point": {"workload.size": size}})
    store.write("n", "ddd", "x\n1\n", {})  # a run outside a sweep
    runs = store.runs("n")
    assert [(r.run_id, r.values, r.reused) for r in runs] == [
        ("aaa", {"workload.size": 1}, True), ("bbb", {"workload.size": 2}, True),
        ("ccc", {"workload.size": 3}, True), ("ddd", {}, True)]
