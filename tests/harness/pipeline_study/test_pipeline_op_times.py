"""The study's own op profile: it covers every op the kind prices, the prediction uses it, and old study folders
(no ``op_times.csv``) are still predicted from the committed tables."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from harness.fidelity.compute import open_cpu_replay
from harness.pipeline_study.op_times import measure_op_times, model_op_calls
from harness.pipeline_study.plan import load_plan
from harness.pipeline_study.predict import link_model, table_stage_times, workload
from harness.timing.op_profile import OP_TIME_COLUMNS, StudyOpReplay, shape_key

ROOT = Path(__file__).resolve().parents[3]
PLANS = ROOT / "harness" / "pipeline_study" / "plans"
TIMINGS = ROOT / "results" / "timings"


def _profile(plan, scale: float, replay) -> pd.DataFrame:
    """An op profile whose every time is ``scale`` x the committed tables' prediction of that call."""
    rows = []
    for op, impl, shape in model_op_calls(plan):
        ms = replay.predict(op, impl=impl, dtype="float32", **shape).time_ms
        rows.append({"op": op, "impl": impl or "torch", "shape": shape_key(shape), "time_ms": scale * ms,
                     "time_ms_min": scale * ms, "time_ms_max": scale * ms, "n_passes": 1})
    return pd.DataFrame(rows, columns=OP_TIME_COLUMNS)


def test_the_profile_covers_every_call_the_kind_prices_and_is_used():
    plan = load_plan(PLANS / "pipeline_fidelity.yaml")
    tables = open_cpu_replay(1, TIMINGS)
    w = workload(plan, plan.runs[0], link_model("loopback", ROOT / "results" / "fidelity", plan.mtu_bytes))
    base = table_stage_times(w, tables, 64)
    study = StudyOpReplay(_profile(plan, 2.0, tables), open_cpu_replay(1, TIMINGS))
    doubled = table_stage_times(w, study, 64)
    assert set(study.summary()) and all(set(c) == {"study"} for c in study.summary().values())
    for ours, theirs in ((doubled.forward_ns, base.forward_ns), (doubled.backward_ns, base.backward_ns)):
        assert ours == pytest.approx([2 * t for t in theirs], rel=1e-6, abs=2)
    assert doubled.optimizer_ns == pytest.approx(2 * base.optimizer_ns, rel=1e-6, abs=2)


def test_calls_it_does_not_hold_go_to_the_tables():
    plan = load_plan(PLANS / "pipeline_fidelity_quick.yaml")
    tables = open_cpu_replay(1, TIMINGS)
    study = StudyOpReplay(_profile(plan, 3.0, tables), open_cpu_replay(1, TIMINGS))
    other = study.predict("matmul", m=96, n=96, k=96)
    assert other.source != "study"
    assert other.time_ms == pytest.approx(tables.predict("matmul", m=96, n=96, k=96).time_ms)
    op, impl, shape = model_op_calls(plan)[0]
    assert study.predict(op, dtype="bfloat16", **shape).source != "study"


def test_measure_op_times_times_every_distinct_call():
    plan = load_plan(PLANS / "pipeline_fidelity_quick.yaml")
    frame = measure_op_times(plan, passes=2, budget_s=0.0)
    calls = model_op_calls(plan)
    assert list(frame.columns) == OP_TIME_COLUMNS and len(frame) == len(calls)
    assert len({(c[0], c[1], shape_key(c[2])) for c in calls}) == len(calls)
    assert (frame["time_ms"] > 0).all() and (frame["n_passes"] == 2).all()
    assert (frame["time_ms_min"] <= frame["time_ms"]).all() and (frame["time_ms"] <= frame["time_ms_max"]).all()
    with pytest.raises(ValueError, match="passes"):
        measure_op_times(plan, passes=0)


def _copy_of_committed_study(tmp_path):
    committed = ROOT / "results" / "pipeline"
    if not (committed / "runs.csv").is_file():
        pytest.skip("no committed pipeline study")
    out = tmp_path / "study"
    shutil.copytree(committed, out)
    return out


def test_recompute_keeps_the_tables_judged_and_adds_the_op_profile_beside(tmp_path):
    from harness.pipeline_study.readme import readme_text
    from harness.pipeline_study.study import recompute

    out = _copy_of_committed_study(tmp_path)
    (out / "op_times.csv").unlink(missing_ok=True)
    old = recompute(out, timings_root=TIMINGS, fidelity_dir=ROOT / "results" / "fidelity")
    assert old.op_times is None and old.runs["predicted_ms_op_profile"].isna().all()
    assert "op-profile" in readme_text(old) and "op_times.csv" not in readme_text(old)
    plan = load_plan(PLANS / "pipeline_fidelity.yaml")
    assert json.loads((out / "meta.json").read_text())["plan"]["model"] == plan.model.model_dump(mode="json")
    _profile(plan, 1.5, open_cpu_replay(1, TIMINGS)).to_csv(out / "op_times.csv", index=False)
    new = recompute(out, timings_root=TIMINGS, fidelity_dir=ROOT / "results" / "fidelity")
    assert new.op_times is not None
    # the op profile was made at 1.5x the single-flush set (the cache-state tables price the judged prediction)
    ratio = new.runs["predicted_stage_compute_ms_op_profile"] / new.runs["predicted_stage_compute_ms_single_flush"]
    assert ratio.to_numpy() == pytest.approx(1.5, rel=1e-3)
    assert new.runs["predicted_ms"].tolist() == pytest.approx(old.runs["predicted_ms"].tolist())
    assert new.summary["median_abs_error_pct"].tolist() == pytest.approx(old.summary["median_abs_error_pct"].tolist())
    assert new.summary["median_abs_error_pct_op_profile"].notna().all()
    assert "op_times.csv" in readme_text(new)


def test_measuring_runs_are_kept_and_each_predicted_again(tmp_path):
    from harness.pipeline_study.study import HISTORY_COLUMNS, history_table, keep_in_history, recompute, write_study

    out = _copy_of_committed_study(tmp_path)
    shutil.rmtree(out / "history", ignore_errors=True)
    assert history_table(out, TIMINGS, ROOT / "results" / "fidelity").empty
    study = recompute(out, timings_root=TIMINGS, fidelity_dir=ROOT / "results" / "fidelity")
    # the committed tables are what predicting their own written measurements gives, to the written digit
    write_study(study, tmp_path / "again")
    for name in ("runs.csv", "summary.csv", "meta.json"):
        assert (tmp_path / "again" / name).read_text() == (out / name).read_text(), name
    kept = keep_in_history(study, out)
    assert kept.parent == out / "history" and (kept / "raw" / "steps.csv").is_file()
    later = dict(study.meta, date="2099-01-01T00:00:00Z")
    keep_in_history(type(study)(study.runs.assign(measured_ms=2 * study.runs["measured_ms"]), study.summary,
                                study.codec_times, study.steps, later, study.op_times), out)
    history = history_table(out, TIMINGS, ROOT / "results" / "fidelity")
    assert list(history.columns) == HISTORY_COLUMNS
    assert list(history["date"]) == [study.meta["date"], "2099-01-01T00:00:00Z"]  # oldest first
    overall = study.summary[study.summary["network"] == "all"].iloc[0]
    assert history["median_abs_error_pct"].iloc[0] == pytest.approx(overall["median_abs_error_pct"])
    assert history["median_abs_error_pct"].iloc[1] != pytest.approx(overall["median_abs_error_pct"])
    # the study just predicted stands for its own kept run: the same row as predicting that run again
    reused = history_table(out, TIMINGS, ROOT / "results" / "fidelity", current=study)
    pd.testing.assert_frame_equal(reused, history)
