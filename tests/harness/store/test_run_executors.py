"""harness/executors.py: the local pool and Ray give the same bytes as an in-process run; lazy timing replay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.config.loader import load_scenario
from harness.errors import HarnessError
from harness.executors import LazyReplay, default_workers, plan, run_points, timings_for
from harness.sweep import expand
from harness.workloads.toy import ToyScenario
from harness.config.blocks import SweepSpec

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"
SWEEP = SweepSpec(product={"seed": [1, 2]}, zip={"workload.n_messages": [3, 30]})


def points():
    return expand(ToyScenario(name="toy_exec", sweep=SWEEP))


def csv_bytes(records):
    return [record.metrics_path.read_bytes() for record in records]


def test_process_pool_matches_in_process_and_then_reuses(tmp_path):
    in_process = run_points(points(), workers=1, results_root=tmp_path / "a", progress=False)
    pooled = run_points(points(), workers=2, results_root=tmp_path / "b", progress=False)
    assert [r.run_id for r in pooled] == [r.run_id for r in in_process]
    assert csv_bytes(pooled) == csv_bytes(in_process)
    assert [r.values for r in pooled] == [p.values for p in points()]
    assert not any(r.reused for r in pooled)
    again = run_points(points(), workers=2, results_root=tmp_path / "b", progress=False)
    assert all(r.reused for r in again) and [r.run_dir for r in again] == [r.run_dir for r in pooled]


def test_a_run_records_the_cpus_and_the_machine_load_around_it_and_a_reused_one_keeps_them(tmp_path, monkeypatch):
    loads = iter([(0.5, 0.25, 0.125), (1.5, 0.75, 0.375)])
    monkeypatch.setattr("harness.executors.os.getloadavg", lambda: next(loads))
    (record,) = run_points(points()[:1], workers=1, results_root=tmp_path, progress=False)
    expected = {"cpus": default_workers(), "load_average_before": [0.5, 0.25, 0.12],
                "load_average_after": [1.5, 0.75, 0.38]}
    assert json.loads((record.run_dir / "run.json").read_text())["host_load"] == expected
    assert record.host_load == expected
    (again,) = run_points(points()[:1], workers=1, results_root=tmp_path, progress=False)
    assert again.reused and again.host_load == expected


def test_duplicate_points_run_once(tmp_path):
    twice = expand(ToyScenario(name="toy_exec", sweep=SweepSpec(product={"seed": [5, 5]})))
    records = run_points(twice, workers=2, results_root=tmp_path, progress=False)
    assert records[0].run_dir == records[1].run_dir
    assert len(list((tmp_path / "toy_exec").iterdir())) == 1


def test_bad_executor_arguments_are_user_errors(tmp_path):
    with pytest.raises(HarnessError, match="unknown executor 'dask'; known: local, ray"):
        run_points(points(), executor="dask", results_root=tmp_path)
    with pytest.raises(HarnessError, match="--workers must be at least 1, got 0"):
        run_points(points(), workers=0, results_root=tmp_path)
    cpus = default_workers()
    with pytest.raises(HarnessError, match=rf"--workers {4 * cpus + 1}: more than 4x the {cpus} CPUs .* at most "
                                           rf"{4 * cpus}, or --executor ray"):
        run_points(points(), workers=4 * cpus + 1, results_root=tmp_path)
    assert not (tmp_path / "toy_exec").exists()  # refused before anything ran


def test_timing_replay_is_opened_only_when_used():
    opened = []

    class Replay:
        def summary(self):
            return {"matmul": {"exact": 1}}

    def open_replay(scenario):
        opened.append(scenario)
        return Replay()

    lazy = LazyReplay(open_replay, "scenario")
    assert opened == []
    assert lazy.summary() == {"matmul": {"exact": 1}} and lazy.summary() == {"matmul": {"exact": 1}}
    assert opened == ["scenario"]


def test_timings_for_is_a_lazy_replay_only_for_kinds_that_read_timing_tables(monkeypatch):
    import harness.timing.replay

    assert timings_for(points()[0].scenario) is None  # toy prices nothing on a device
    opened = []

    class Replay:
        def summary(self):
            return {}

    monkeypatch.setattr(harness.timing.replay, "open_replay", lambda scenario: opened.append(scenario) or Replay())
    decode = load_scenario(SCENARIOS / "chelsea" / "decode_cpu.yaml")  # kv_decode: a device, no cluster
    for scenario in (decode, expand(load_scenario(SCENARIOS / "collective_ops.yaml"))[0].scenario):
        timings = timings_for(scenario)
        assert isinstance(timings, LazyReplay) and opened == []
        assert timings.summary() == {} and opened == [scenario]
        opened.clear()


def _table_set_states(folder: Path):
    """The set ``folder`` absent, then holding one table, then with that table edited (yields between)."""
    yield
    folder.mkdir(parents=True)
    (folder / "copy.csv").write_text("numel,time_ms_median\n1,0.5\n")
    yield
    (folder / "copy.csv").write_text("numel,time_ms_median\n1,0.25\n")
    yield


def test_run_ids_change_with_the_timing_tables_only_for_kinds_that_read_them(tmp_path, monkeypatch):
    import harness.provenance

    monkeypatch.setattr(harness.provenance, "default_timings_root", lambda: tmp_path / "timings")
    toy = points()[0]
    decode = expand(load_scenario(SCENARIOS / "chelsea" / "decode_cpu.yaml"))[0]  # reads the cpu set
    assert decode.scenario.table_set == "cpu"
    toy_ids, decode_ids = [], []
    for _ in _table_set_states(tmp_path / "timings" / "cpu"):
        toy_task, decode_task = plan([toy, decode], tmp_path / "runs")
        assert toy_task.table_hashes == {}
        assert set(decode_task.table_hashes) == {"cpu"}
        toy_ids.append(toy_task.run_id)
        decode_ids.append(decode_task.run_id)
    assert len(set(toy_ids)) == 1  # no table set in the identity of a kind that reads none
    assert len(set(decode_ids)) == 3


@pytest.mark.slow
def test_ray_gives_the_same_bytes_as_local(tmp_path):
    local = run_points(points(), workers=1, results_root=tmp_path / "local", progress=False)
    on_ray = run_points(points(), workers=2, executor="ray", results_root=tmp_path / "ray", progress=False)
    assert [r.run_id for r in on_ray] == [r.run_id for r in local]
    assert csv_bytes(on_ray) == csv_bytes(local)
    assert not any(r.reused for r in on_ray)
    import ray

    assert not ray.is_initialized()  # the instance started for the sweep was shut down
