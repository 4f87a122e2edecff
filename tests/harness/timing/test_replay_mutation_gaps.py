"""Gaps in the tests of `harness.timing.replay` found by a mutation audit.

Closed here: `interpolate_ms` on a table without rows is None even with no axis left; a shape value of inf or NaN
is a user error (only negative values were tested); a single implementation is the default whatever its name, and
the default is chosen among the rows of the asked dtype; an anchor that moves nothing (no efficiency) gives the
bare roofline; an op without rows runs like a copy of its OWN dtype, while an op whose rows give no efficiency is
not priced as a copy; a folder without meta.json (and without collectives) is a broken set, not roofline-only;
leave-one-out errors are relative to the measured time and summarised by absolute size (median, max) and signed
mean; the replay is named after its tables' device when no set name is given.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.config.blocks import DeviceScenario, DeviceSpec, Strict, TimingsSpec
from harness.devices import get_device
from harness.errors import HarnessError, TimingTableError
from harness.timing.replay import (
    TimingReplay,
    interpolate_ms,
    leave_one_out_error,
    leave_one_out_summary,
    open_replay,
)
from harness.timing.table import load_table_set
from tests.harness.timing.table_edits import set_rows

TIMINGS = Path(__file__).parents[2] / "data" / "timings"  # cpu: matmul at 50 GFLOP/s + 10 us, copy at 20 GB/s + 2 us


def _replay(outside_grid: str = "interpolate", root: Path = TIMINGS) -> TimingReplay:
    scenario = DeviceScenario(name="t", kind="test", workload=Strict(), cluster=DeviceSpec(device="cpu"),
                              timings=TimingsSpec(outside_grid=outside_grid))
    return open_replay(scenario, timings_root=root)


def test_no_rows_interpolate_to_nothing_even_with_no_axis_left():
    assert interpolate_ms(np.empty((0, 0)), np.empty(0), ()) is None
    assert interpolate_ms(np.empty((0, 2)), np.empty(0), (1.0, 2.0)) is None


@pytest.mark.parametrize("value", [math.inf, math.nan])
def test_a_non_finite_shape_is_a_user_error(value):
    with pytest.raises(HarnessError, match="shape numel must be a finite number >= 0"):
        _replay().predict("copy", numel=value)


def _copy_rows(rows: list[tuple[int, str, str, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["numel", "impl", "dtype", "time_ms_median"])
    frame["time_ms_p10"], frame["time_ms_p90"], frame["n_reps"] = frame["time_ms_median"], frame["time_ms_median"], 5
    return frame


def _set_copy(tmp_path: Path, rows) -> TimingReplay:
    shutil.copytree(TIMINGS / "cpu", tmp_path / "cpu")
    set_rows(tmp_path / "cpu", "copy", _copy_rows(rows))
    return _replay(root=tmp_path)


def test_a_single_implementation_is_the_default_whatever_its_name(tmp_path):
    replay = _set_copy(tmp_path, [(1024, "naive", "float32", 0.5), (4096, "naive", "float32", 0.9)])
    p = replay.predict("copy", numel=1024)
    assert (p.source, p.time_ms) == ("exact", 0.5)
    assert replay.predict("copy", numel=2048).time_ms == pytest.approx(0.5 + 0.4 / 3)


def test_the_default_implementation_is_chosen_among_the_rows_of_the_asked_dtype(tmp_path):
    # float32 measured with torch only, bfloat16 with triton only: each dtype takes its own
    replay = _set_copy(tmp_path, [(1024, "torch", "float32", 0.5), (1024, "triton", "bfloat16", 0.3)])
    assert (replay.predict("copy", numel=1024).source, replay.predict("copy", numel=1024).time_ms) == ("exact", 0.5)
    p = replay.predict("copy", numel=1024, dtype="bfloat16")
    assert (p.source, p.time_ms) == ("exact", 0.3)


def test_an_anchor_that_moves_nothing_gives_the_bare_roofline(tmp_path):
    # the only measured copy moves 0 bytes: no efficiency to scale by, so a 1 MiB copy is the bare roofline,
    # 4 MiB read + written at 20 GB/s (the fixture's memory bandwidth): 8 MiB / 20e9 B/s
    replay = _set_copy(tmp_path, [(0, "torch", "float32", 0.002)])
    p = replay.predict("copy", numel=1 << 20)
    assert p.source == "roofline" and "efficiency" not in p.detail
    assert p.time_ms == pytest.approx(8 * 2**20 / 20e9 * 1e3)


def _add_table(folder: Path, op: str, frame: pd.DataFrame) -> None:
    meta = json.loads((folder / "meta.json").read_text())
    meta["ops"][op] = {"shape_columns": ["numel"], "rows": len(frame)}
    (folder / "meta.json").write_text(json.dumps(meta))
    frame.to_csv(folder / f"{op}.csv", index=False)


def test_an_op_without_rows_runs_like_a_copy_of_its_own_dtype(tmp_path):
    # residual_add moves 3 tensors, a copy 2: 2048 bf16 elements added move what a 3072-element bf16 copy moves,
    # measured at 0.7 ms; the float32 copies (1536 elements move those bytes) are 50 times faster
    shutil.copytree(TIMINGS / "cpu", tmp_path / "cpu")
    set_rows(tmp_path / "cpu", "copy", _copy_rows([(1536, "torch", "float32", 0.014), (3072, "torch", "float32", 0.02),
                                                   (3072, "torch", "bfloat16", 0.7)]))
    p = _replay(root=tmp_path).predict("residual_add", numel=2048, dtype="bfloat16")
    assert p.source == "roofline" and "runs like a bfloat16 copy" in p.detail
    assert p.time_ms == pytest.approx(0.7)


def test_an_op_whose_own_rows_give_no_efficiency_is_not_priced_as_a_copy(tmp_path):
    # residual_add's only row took 0 ms: no efficiency, so the bare roofline (12 bytes per fp32 element at
    # 20 GB/s), not the copy table's efficiency
    shutil.copytree(TIMINGS / "cpu", tmp_path / "cpu")
    _add_table(tmp_path / "cpu", "residual_add", _copy_rows([(1024, "torch", "float32", 0.0)]))
    p = _replay(root=tmp_path).predict("residual_add", numel=1 << 20)
    assert p.source == "roofline" and "copy" not in p.detail
    assert p.time_ms == pytest.approx(12 * 2**20 / 20e9 * 1e3)


def test_a_folder_without_meta_json_and_without_collectives_is_a_broken_set(tmp_path):
    shutil.copytree(TIMINGS / "cpu", tmp_path / "cpu")
    (tmp_path / "cpu" / "meta.json").unlink()
    with pytest.raises(TimingTableError, match="meta.json: missing"):
        _replay(root=tmp_path)


def test_leave_one_out_errors_are_relative_to_the_measured_time_and_summarised_by_size(tmp_path):
    # 1024 -> 1 ms, 2048 -> 4 ms, 3072 -> 1 ms: the middle row left out interpolates to 1 ms, 75% below 4 ms
    replay = _set_copy(tmp_path, [(1024, "torch", "float32", 1.0), (2048, "torch", "float32", 4.0),
                                  (3072, "torch", "float32", 1.0)])
    loo = leave_one_out_error(replay.tables.tables["copy"])
    middle = loo[loo["numel"] == 2048].iloc[0]
    assert (middle["measured_ms"], middle["predicted_ms"], middle["error_pct"]) == (4.0, 1.0, -75.0)
    assert loo["source"].tolist() == ["outside_grid", "interpolated", "outside_grid"]
    summary = leave_one_out_summary(replay.tables).set_index("op").loc["copy"]
    assert (summary["n_rows"], summary["n_interpolated"]) == (3, 1)
    assert (summary["median_abs_error_pct"], summary["max_abs_error_pct"], summary["mean_error_pct"]) == (75, 75, -75)


def test_without_a_set_name_the_replay_is_named_after_its_tables_device():
    replay = TimingReplay(get_device("h100"), load_table_set(TIMINGS / "cpu"))
    assert replay.table_set == "cpu" and replay.info()["table_set"] == "cpu"
    assert TimingReplay(get_device("h100"), None).table_set == "h100"


def test_an_unknown_policy_is_refused_and_counts_are_listed_by_op_name():
    with pytest.raises(ValueError, match="outside_grid must be interpolate, roofline or error"):
        TimingReplay(get_device("h100"), None, outside_grid="extrapolate")
    replay = _replay()
    replay.predict("matmul", m=64, n=256, k=256)
    replay.predict("copy", numel=65536)
    assert list(replay.summary()) == ["copy", "matmul"]
