"""harness/fidelity/compute.py and `harness fidelity-compute`: a real tiny step measured and predicted from the
tables alone, errors signed, --recompute reproduces the predictions, a missing table set is a user error."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch

from harness.cli import main
from harness.cost.training_step import price, step_ops, step_touched_bytes
from harness.errors import HarnessError
from harness.fidelity.compute import (
    ALLOCATORS,
    FULL_PLAN,
    MEASURED_COLUMNS,
    OP_PROFILE_COLUMNS,
    QUICK_PLAN,
    TABLE_SETS,
    open_cache_state_replay,
    open_cpu_replay,
    predict_points,
    step_profile,
    read_measured,
    run_study,
    summarize,
    write_study,
)
from harness.timing.op_profile import StudyOpReplay, distinct_calls

# cpu/: matmul and copy only (the rest: roofline); the cache-state family cpu-f4 (same times) and cpu-f64 (twice)
TIMINGS = Path(__file__).parents[2] / "data" / "timings"


@pytest.fixture(scope="module")
def study():
    return run_study(QUICK_PLAN, TIMINGS, progress=lambda m: None)


def test_full_plan_is_the_issues_grid():
    assert len(FULL_PLAN.sizes) >= 4 and len(FULL_PLAN.micro_batches) >= 2 and len(FULL_PLAN.seq_lens) >= 2
    assert FULL_PLAN.threads == (1, 2) and set(FULL_PLAN.threads) <= set(TABLE_SETS)
    assert FULL_PLAN.allocators == ("default", "keep") and set(FULL_PLAN.allocators) <= set(ALLOCATORS)
    assert len(FULL_PLAN.points()) == 2 * 2 * len(FULL_PLAN.sizes) * 4


def test_quick_study_measures_predicts_and_signs_the_error(study):
    table = study.table
    assert list(table.columns[: len(MEASURED_COLUMNS)]) == MEASURED_COLUMNS
    assert len(table) == len(QUICK_PLAN.points())
    row = table.iloc[0]
    assert row["measured_ms_p10"] <= row["measured_ms"] <= row["measured_ms_p90"] and row["n_steps"] == 3
    assert row["error_pct"] == pytest.approx(100 * (row["predicted_ms"] - row["measured_ms"]) / row["measured_ms"])
    # the fixture set has no attention/norm/optimizer tables: those ops are roofline estimates, and say so
    assert 0 < row["roofline_fraction"] <= 1
    size = QUICK_PLAN.sizes[0]
    calls = step_ops(size.dims(), 2, 64, optimizer="adamw", device="cpu").calls()
    touched = step_touched_bytes(size.dims(), 2, 64)
    assert row["touched_mib"] == pytest.approx(touched / 2**20) and 4 < row["touched_mib"] < 64
    expected = price(calls, open_cache_state_replay(1, TIMINGS).at(touched), "float32").time_ms
    assert row["predicted_ms"] == pytest.approx(expected, rel=1e-12)
    # the fixture family's 64 MiB set is twice its 4 MiB set: the step sits strictly between the two
    low, high = (price(calls, open_cache_state_replay(1, TIMINGS).at(mib << 20), "float32").time_ms for mib in (4, 64))
    assert low < row["predicted_ms"] < high
    from kernels.profiler import default_cpu_flush_bytes

    fixed = price(calls, open_cache_state_replay(1, TIMINGS).at(default_cpu_flush_bytes()), "float32").time_ms
    assert row["predicted_fixed_flush_ms"] == pytest.approx(fixed, rel=1e-12)
    assert row["error_fixed_flush_pct"] == pytest.approx(100 * (fixed - row["measured_ms"]) / row["measured_ms"])
    assert study.by_op["predicted_ms"].sum() == pytest.approx(row["predicted_ms"], rel=1e-9)
    assert set(study.meta["timing_tables"]) == {"cpu-f4", "cpu-f64"}
    assert study.meta["timing_tables"]["cpu-f64"]["table_hashes"].keys() == {"copy", "matmul"}
    assert study.summary.iloc[0]["median_abs_error_fixed_flush_pct"] == pytest.approx(abs(row["error_fixed_flush_pct"]))


def test_the_op_profile_diagnostic_prices_the_same_ops_timed_beside_the_steps(study):
    # every distinct op call of the step timed in the study's rounds; the diagnostic prices the step from them
    row = study.table.iloc[0]
    size = QUICK_PLAN.sizes[0]
    calls = step_ops(size.dims(), 2, 64, optimizer="adamw", device="cpu").calls()
    profile = study.op_times
    assert list(profile.columns) == OP_PROFILE_COLUMNS
    assert len(profile) == len(distinct_calls(calls)) and (profile["n_passes"] == QUICK_PLAN.rounds).all()
    replay = StudyOpReplay(profile, open_cache_state_replay(1, TIMINGS).at(step_touched_bytes(size.dims(), 2, 64)))
    assert row["predicted_op_profile_ms"] == pytest.approx(price(calls, replay, "float32").time_ms, rel=1e-12)
    assert replay.summary() and all(set(c) == {"study"} for c in replay.summary().values())  # nothing from tables
    assert row["error_op_profile_pct"] == pytest.approx(
        100 * (row["predicted_op_profile_ms"] - row["measured_ms"]) / row["measured_ms"])
    summary = study.summary.iloc[0]
    assert summary["median_abs_error_op_profile_pct"] == pytest.approx(abs(row["error_op_profile_pct"]))


def test_the_op_profile_times_each_call_after_a_flush_of_the_bytes_the_step_touches():
    size = QUICK_PLAN.sizes[0]
    profile = step_profile(size, 2, 64, 1, 0)
    assert profile.settings.flush_bytes() == step_touched_bytes(size.dims(), 2, 64)


def test_recompute_reproduces_the_predictions(study, tmp_path):
    write_study(study, tmp_path)
    measured, op_times = read_measured(tmp_path)
    again = run_study(QUICK_PLAN, TIMINGS, measured=measured, op_times=op_times, progress=lambda m: None)
    saved = pd.read_csv(tmp_path / "steps.csv")
    for column in ("predicted_ms", "predicted_fixed_flush_ms", "predicted_op_profile_ms"):
        assert saved[column].to_numpy() == pytest.approx(again.table[column].to_numpy(), rel=1e-5)
    assert (tmp_path / "summary.csv").is_file() and (tmp_path / "meta.json").is_file()
    (tmp_path / "op_times.csv").unlink()  # a study from before the op profile: the diagnostic is NaN, not an error
    measured, op_times = read_measured(tmp_path)
    older = run_study(QUICK_PLAN, TIMINGS, measured=measured, op_times=op_times, progress=lambda m: None)
    assert op_times is None and older.table["error_op_profile_pct"].isna().all()
    assert older.summary["median_abs_error_op_profile_pct"].isna().all()
    write_study(study, tmp_path)
    write_study(older, tmp_path)  # a study without an op profile leaves no other study's op profile behind
    assert not (tmp_path / "op_times.csv").exists()


def test_measuring_runs_build_a_history_and_its_spread(study, tmp_path):
    write_study(study, tmp_path)  # a recompute keeps no history
    assert not (tmp_path / "runs").exists() and not (tmp_path / "run_spread.csv").exists()
    write_study(study, tmp_path, measured_now=True)
    slower = replace(study, table=study.table.assign(measured_ms=study.table["measured_ms"] * 1.5),
                     meta={**study.meta, "date": "2000-01-01T00:00:00Z"})
    write_study(slower, tmp_path, measured_now=True)
    assert len(list((tmp_path / "runs").glob("*.csv"))) == 2
    spread = pd.read_csv(tmp_path / "run_spread.csv")
    base = study.table["measured_ms"].iloc[0]
    assert spread.loc[0, "n_runs"] == 2 and spread.loc[0, "run_min_ms"] == pytest.approx(base, rel=1e-5)
    assert spread.loc[0, "run_spread_pct"] == pytest.approx(100 * 0.5 / 1.25, rel=1e-4)  # (1.5 - 1) / median 1.25


def test_measuring_restores_the_thread_count():
    from harness.fidelity.compute import measure_points

    before = torch.get_num_threads()
    plan = replace(QUICK_PLAN, threads=(2,) if before == 1 else (1,), measured_steps=1, warmup_steps=0)
    measured, _ = measure_points(plan, progress=lambda m: None)
    assert torch.get_num_threads() == before and measured["minor_faults_per_step"].notna().all()


def test_points_are_measured_in_interleaved_rounds(monkeypatch):
    # the machine drifts for seconds at a time: each shape's allocators and thread counts are measured back to
    # back, every point once per round, rounds spread over the whole study, and a point's median pools its steps
    # of all rounds
    import harness.fidelity.compute as compute

    order = []
    events = []  # steps and op-profile passes, in the order they ran

    def timer(allocator):
        def fake(threads, size, micro_batch, seq_len, warmup_steps, measured_steps, seed, min_measured_s):
            order.append((allocator, threads, size.name, micro_batch, seq_len))
            events.append(("step",))
            return [10.0 * len(order)] * measured_steps, 0.0
        return fake

    class Profile:  # the op profile of one shape and thread count: one pass right before the shape's steps
        def __init__(self, key):
            self.key, self.passes = key, 0

        def run_pass(self):
            self.passes += 1
            events.append(("ops", *self.key))

        def frame(self):
            return pd.DataFrame([{"op": "copy", "impl": "torch", "shape": '{"numel":1}', "time_ms": 1.0,
                                  "time_ms_min": 1.0, "time_ms_max": 1.0, "n_passes": self.passes}])

    monkeypatch.setattr(compute, "wait_until_quiet", lambda *a: 0.0)
    monkeypatch.setattr(compute, "step_profile", lambda size, b, s, threads, seed: Profile((threads, size.name, b, s)))
    plan = replace(FULL_PLAN, sizes=FULL_PLAN.sizes[:2], micro_batches=(2,), seq_lens=(64,), measured_steps=2,
                   rounds=3)
    measured, op_times = compute.measure_points(plan, progress=lambda m: None,
                                                timers={name: timer(name) for name in plan.allocators})
    shapes = [("d64", 2, 64), ("d128", 2, 64)]
    forward = [(a, t) for a in ("default", "keep") for t in (1, 2)]
    assert order == [(a, t, *shape) for r in range(3) for shape in shapes
                     for a, t in (forward if r % 2 == 0 else forward[::-1])]
    threads_order = [(1, 2), (2, 1), (1, 2)]
    assert events == [e for r in range(3) for shape in shapes
                      for e in [*(("ops", t, *shape) for t in threads_order[r]), *[("step",)] * 4]]
    assert len(op_times) == 4 and (op_times["n_passes"] == 3).all()
    assert list(op_times.columns) == compute.OP_PROFILE_COLUMNS
    assert list(zip(measured["allocator"], measured["threads"], measured["size"]))[:4] == [
        ("default", 1, "d64"), ("default", 1, "d128"), ("default", 2, "d64"), ("default", 2, "d128")]
    first = measured.iloc[0]  # measured at positions 1, 12, 17 of the schedule: 10, 120, 170 ms
    assert first["n_steps"] == 6 and first["measured_ms"] == 120.0
    assert first["measured_ms_p10"] == 10.0 and first["measured_ms_p90"] == 170.0


def test_short_steps_are_measured_until_they_fill_the_minimum_time(monkeypatch):
    # a round measures at least measured_steps steps and, for short steps, as many more as fill min_measured_s
    import harness.fidelity.compute as compute

    clock = {"ns": 0}
    monkeypatch.setattr(compute.time, "perf_counter_ns", lambda: clock["ns"])

    class Step:  # every step "takes" 10 ms of the fake clock
        def __init__(self, *args, **kwargs):
            pass

        def parameters(self):
            return [torch.nn.Parameter(torch.zeros(1))]

        def loss(self, tokens, targets):
            clock["ns"] += 10_000_000
            return (self.parameters()[0] * 0).sum()

    monkeypatch.setattr("methods.models.gpt.TinyLlama", Step)
    size = compute.ModelSize("t", 32, 1, 2, 64, vocab=64)
    times, _ = compute.step_times(size, 1, 8, warmup_steps=0, measured_steps=3)
    assert times == [10.0] * 3
    times, _ = compute.step_times(size, 1, 8, warmup_steps=0, measured_steps=3, min_measured_s=0.095)
    assert times == [10.0] * 10  # 10 steps reach 95 ms; 9 would not
    times, _ = compute.step_times(size, 1, 8, warmup_steps=0, measured_steps=12, min_measured_s=0.05)
    assert len(times) == 12


def test_the_keep_allocator_runs_in_a_worker_started_with_its_variables():
    from harness.fidelity.compute import ModelSize, allocator_timers, timed_steps

    with allocator_timers(("default", "keep")) as timers:
        assert timers["default"] is timed_steps  # this process's environment sets no mallopt variable
        times, faults = timers["keep"](1, ModelSize("t", 32, 1, 2, 64, vocab=64), 2, 16, 1, 2, 0)
    assert len(times) == 2 and min(times) > 0 and faults >= 0
    with pytest.raises(HarnessError, match="unknown allocator"), allocator_timers(("jemalloc",)):
        pass


def test_summary_targets():
    table = pd.DataFrame({"allocator": ["keep"] * 4 + ["default"], "threads": [1, 1, 2, 2, 1],
                          "error_pct": [-5.0, 8.0, 2.0, -30.0, 40.0]})
    summary = summarize(table).set_index(["allocator", "threads"])
    assert summary.loc[("keep", "1"), "meets_targets"] and not summary.loc[("keep", "2"), "meets_targets"]
    assert summary.loc[("keep", "all"), "worst_error_pct"] == -30.0
    assert summary.loc[("keep", "all"), "median_abs_error_pct"] == 6.5
    assert summary.loc[("default", "all"), "worst_error_pct"] == 40.0


def test_the_two_thread_replay_uses_the_two_thread_kernel_floor(tmp_path):
    # the 2-thread tables come with their own floor (meta.json roofline, measured at 2 threads); the replay of the
    # 2-thread points must not take the 1-thread set's
    import json
    import shutil

    for name, floor in (("cpu", 3.0), ("cpu-2t", 50.0)):
        shutil.copytree(TIMINGS / "cpu", tmp_path / name)
        meta = json.loads((tmp_path / name / "meta.json").read_text())
        meta["device"], meta["roofline"]["kernel_floor_us"] = name, floor
        (tmp_path / name / "meta.json").write_text(json.dumps(meta))
    assert open_cpu_replay(1, tmp_path).device.kernel_floor_us == 3.0
    two = open_cpu_replay(2, tmp_path)
    assert two.device.kernel_floor_us == 50.0
    assert two.predict("copy", numel=1024).time_ms == pytest.approx(0.05)


def test_a_missing_table_set_is_a_user_error(tmp_path, capsys):
    with pytest.raises(HarnessError, match="--threads 2 --table-set cpu-2t"):
        open_cpu_replay(2, TIMINGS)
    measured = pd.DataFrame([dict.fromkeys(MEASURED_COLUMNS, 1) | {"threads": 2, "size": "x", "d_model": 64,
                                                                  "n_heads": 2, "d_ff": 128}])
    with pytest.raises(HarnessError):
        predict_points(measured, TIMINGS)
    import shutil

    shutil.copytree(TIMINGS / "cpu", tmp_path / "only_cpu" / "cpu")  # the single-flush set without its family
    assert main(["fidelity-compute", "--quick", "--timings", str(tmp_path / "only_cpu"), "--out",
                 str(tmp_path / "o")]) == 2
    assert "cache-state tables cpu-f<MiB>" in capsys.readouterr().err
    assert main(["fidelity-compute", "--recompute", "--out", str(tmp_path / "none")]) == 2
    assert main(["fidelity-compute", "--quick", "--max-wait-s", "-1"]) == 2


def test_cli_quick_run(tmp_path, capsys):
    assert main(["fidelity-compute", "--quick", "--timings", str(TIMINGS), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "median_abs_error_pct" in out and (tmp_path / "steps.csv").is_file()
    plan = replace(QUICK_PLAN, threads=(1,))
    assert len(pd.read_csv(tmp_path / "steps.csv")) == len(plan.points())
