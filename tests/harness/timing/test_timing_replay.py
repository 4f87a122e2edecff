"""Replay: exact at grid points, interpolation inside its bracket and monotone, roofline outside, counted."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.config.blocks import DeviceScenario, DeviceSpec, Strict, TimingsSpec
from harness.devices import get_device
from harness.errors import HarnessError
from harness.timing.replay import TimingReplay, interpolate_ms, leave_one_out_error, open_replay
from harness.timing.table import load_table_set
from tests.harness.timing.table_edits import set_rows

TIMINGS = Path(__file__).parents[2] / "data" / "timings"


def _scenario(device="cpu", outside_grid="interpolate", table_set=None) -> DeviceScenario:
    return DeviceScenario(
        name="t",
        kind="test",
        workload=Strict(),
        cluster=DeviceSpec(device=device),
        timings=TimingsSpec(outside_grid=outside_grid, table_set=table_set),
    )


@pytest.fixture
def replay() -> TimingReplay:
    return open_replay(_scenario(), timings_root=TIMINGS)


def test_exact_at_every_grid_point(replay):
    frame = replay.tables.tables["matmul"].frame
    for row in frame.itertuples():
        p = replay.predict("matmul", m=row.m, n=row.n, k=row.k)
        assert p.source == "exact"
        assert p.time_ms == row.time_ms_median
    assert replay.summary() == {"matmul": {"exact": len(frame), "interpolated": 0, "roofline": 0}}


def test_interpolation_reproduces_a_multilinear_table(replay):
    # the fixture is 0.01 ms + 2mnk / 50 GFLOP/s, which is linear in each of m, n, k, so linear blending is exact
    for m, n, k in [(128, 256, 256), (100, 300, 400), (255, 511, 257)]:
        p = replay.predict("matmul", m=m, n=n, k=k)
        assert p.source == "interpolated"
        assert p.time_ms == pytest.approx(0.01 + 2 * m * n * k / 50e9 * 1e3, abs=2e-6)


def _gemm_roofline_ms(device, m: int, n: int, k: int) -> float:
    """The fp32 GEMM's roofline time on the fixture device (20 GB/s of memory)."""
    flops, bytes_moved = 2 * m * n * k, 4 * (m * k + k * n + m * n)
    return 1e3 * max(flops / (device.peak_tflops["float32"] * 1e12), bytes_moved / 20e9)


def test_roofline_outside_the_grid_is_recorded(replay):
    p = replay.predict("matmul", m=1024, n=256, k=256)
    assert p.source == "roofline"
    assert "outside the measured grid" in p.detail
    device = get_device("cpu", timings_root=TIMINGS)

    # roofline x the efficiency of the nearest point of the measured hull, (256, 256, 256) measured in 0.681089 ms
    efficiency = _gemm_roofline_ms(device, 256, 256, 256) / 0.681089
    assert p.time_ms == pytest.approx(_gemm_roofline_ms(device, 1024, 256, 256) / efficiency)
    assert "efficiency" in p.detail and "m=256, n=256, k=256" in p.detail
    replay.predict("copy", numel=1 << 16)
    assert replay.summary() == {
        "copy": {"exact": 1, "interpolated": 0, "roofline": 0},
        "matmul": {"exact": 0, "interpolated": 0, "roofline": 1},
    }
    assert replay.info()["timing_sources"] == replay.summary()


def test_dtype_without_rows_uses_roofline(replay):
    p = replay.predict("matmul", m=64, n=256, k=256, dtype="bfloat16")
    assert p.source == "roofline"
    assert "no rows for impl=any, dtype=bfloat16" in p.detail


def test_empty_table_falls_back_to_roofline(tmp_path):
    shutil.copytree(TIMINGS / "cpu", tmp_path / "cpu")
    set_rows(tmp_path / "cpu", "copy", pd.read_csv(TIMINGS / "cpu" / "copy.csv").iloc[:0])
    p = open_replay(_scenario(), timings_root=tmp_path).predict("copy", numel=1 << 20)
    assert p.source == "roofline" and "no rows" in p.detail


def test_error_mode_refuses_all_but_exact():
    replay = open_replay(_scenario(outside_grid="error"), timings_root=TIMINGS)
    assert replay.predict("copy", numel=1 << 20).source == "exact"
    with pytest.raises(HarnessError, match=r"op 'copy' at numel=300000, dtype float32"):
        replay.predict("copy", numel=300_000)
    with pytest.raises(HarnessError, match=r"op 'matmul' at m=4096, n=4096, k=4096"):
        replay.predict("matmul", m=4096, n=4096, k=4096)


def test_roofline_mode_skips_interpolation():
    replay = open_replay(_scenario(outside_grid="roofline"), timings_root=TIMINGS)
    assert replay.predict("copy", numel=300_000).source == "roofline"
    assert replay.predict("copy", numel=1 << 22).source == "exact"


def test_missing_folder_means_roofline_only(tmp_path):
    replay = open_replay(_scenario(device="h100"), timings_root=tmp_path)
    p = replay.predict("matmul", m=8192, n=8192, k=8192, dtype="bfloat16")
    assert p.source == "roofline"
    # the H100 anchor: an 8192^3 bf16 matmul took 1.5028 ms at 731.6 TFLOP/s, so the roofline gives that time back
    assert p.time_ms == pytest.approx(1.5028, rel=1e-3)
    info = replay.info()
    assert info["tables_missing"].endswith("does not exist")
    assert info["table_hashes"] == {}
    assert info["timing_sources"] == {"matmul": {"exact": 0, "interpolated": 0, "roofline": 1}}


def test_table_set_may_differ_from_device():
    replay = open_replay(_scenario(device="h100", table_set="cpu"), timings_root=TIMINGS)
    assert replay.predict("copy", numel=1 << 16).source == "exact"
    assert replay.device.name == "h100"


def test_bad_op_and_shape_are_user_errors(replay):
    with pytest.raises(HarnessError, match=r"unknown timed op 'conv'"):
        replay.predict("conv", n=1)
    with pytest.raises(HarnessError, match=r"op 'matmul' takes shape m, n, k; got m, n"):
        replay.predict("matmul", m=1, n=2)
    with pytest.raises(HarnessError, match=r"shape numel must be a finite number >= 0"):
        replay.predict("copy", numel=-5)


def test_leave_one_out():
    loo = leave_one_out_error(load_table_set(TIMINGS / "cpu").tables["copy"])
    assert list(loo["source"]) == ["outside_grid", "interpolated", "outside_grid"]
    mid = loo.iloc[1]
    # numel 2^20 from its neighbours 2^16 and 2^22 (fixture times 0.028214 and 1.679722 ms)
    w = (2**20 - 2**16) / (2**22 - 2**16)
    expected = (1 - w) * 0.028214 + w * 1.679722
    assert mid["predicted_ms"] == pytest.approx(expected)
    assert mid["error_pct"] == pytest.approx(100 * (expected - 0.42143) / 0.42143)


def test_leave_one_out_fills_holes_along_an_axis():
    loo = leave_one_out_error(load_table_set(TIMINGS / "cpu").tables["matmul"])
    # a 2x2x2 grid: every point is a corner, so nothing can be interpolated once it is removed
    assert (loo["source"] == "outside_grid").all()
    points = np.array([[m, n] for m in (1, 2, 3) for n in (1, 2)], dtype=float)
    times = points[:, 0] * 10 + points[:, 1]
    keep = ~((points[:, 0] == 2) & (points[:, 1] == 1))
    assert interpolate_ms(points[keep], times[keep], (2.0, 1.0)) == pytest.approx(21.0)


# --- properties of the interpolator --------------------------------------------------------------------------

axis_values = st.lists(st.integers(1, 10_000), min_size=2, max_size=4, unique=True).map(sorted)


@st.composite
def grids(draw):
    axes = draw(st.lists(axis_values, min_size=1, max_size=3))
    points = np.array(list(itertools.product(*axes)), dtype=float)
    times = np.array(draw(st.lists(st.floats(0.001, 1e3), min_size=len(points), max_size=len(points))))
    query = tuple(float(draw(st.integers(int(a[0]), int(a[-1])))) for a in axes)
    return axes, points, times, query


@settings(max_examples=50, deadline=None)
@given(grids())
def test_interpolation_stays_within_its_bracket(grid):
    axes, points, times, query = grid
    value = interpolate_ms(points, times, query)
    brackets = []
    for a, x in zip(axes, query):
        lo = max(v for v in a if v <= x)
        hi = min(v for v in a if v >= x)
        brackets.append((lo, hi))
    in_bracket = np.all([(points[:, i] >= lo) & (points[:, i] <= hi) for i, (lo, hi) in enumerate(brackets)], axis=0)
    assert times[in_bracket].min() - 1e-9 <= value <= times[in_bracket].max() + 1e-9


@st.composite
def monotone_grids(draw):
    axes = draw(st.lists(axis_values, min_size=1, max_size=3))
    # time = sum of increasing per-axis terms + an increasing product term: monotone along every axis
    steps = [np.cumsum(draw(st.lists(st.floats(0, 10), min_size=len(a), max_size=len(a)))) for a in axes]
    points = np.array(list(itertools.product(*axes)), dtype=float)
    index = list(itertools.product(*[range(len(a)) for a in axes]))
    times = np.array([sum(s[i] for s, i in zip(steps, idx)) + np.prod([s[i] for s, i in zip(steps, idx)]) for idx in index])
    q1 = [float(draw(st.integers(int(a[0]), int(a[-1])))) for a in axes]
    q2 = [float(draw(st.integers(int(x), int(a[-1])))) for a, x in zip(axes, q1)]
    return points, times, tuple(q1), tuple(q2)


@settings(max_examples=50, deadline=None)
@given(monotone_grids())
def test_monotone_tables_stay_monotone(grid):
    points, times, low, high = grid
    assert interpolate_ms(points, times, low) <= interpolate_ms(points, times, high) + 1e-9


@settings(max_examples=30, deadline=None)
@given(grids())
def test_outside_the_grid_is_open(grid):
    axes, points, times, query = grid
    beyond = (axes[0][-1] + 1.0, *query[1:])
    assert interpolate_ms(points, times, beyond) is None


def test_leave_one_out_summary():
    from harness.timing.replay import leave_one_out_summary

    summary = leave_one_out_summary(load_table_set(TIMINGS / "cpu")).set_index("op")
    assert summary.loc["matmul", "n_rows"] == 8 and summary.loc["matmul", "n_interpolated"] == 0
    assert np.isnan(summary.loc["matmul", "median_abs_error_pct"])
    copy = leave_one_out_error(load_table_set(TIMINGS / "cpu").tables["copy"])
    assert summary.loc["copy", "n_interpolated"] == 1
    assert summary.loc["copy", "mean_error_pct"] == pytest.approx(copy["error_pct"].iloc[1])


def test_default_impl_prefers_triton_then_torch_over_baselines():
    """On a GPU table the torch rows are the slow reference: the default replays what dispatch would run."""
    from types import SimpleNamespace

    import pandas as pd

    def table_with(impls):
        frame = pd.DataFrame({"impl": impls, "dtype": ["float32"] * len(impls)})
        return SimpleNamespace(frame=frame, path=Path("t.csv"))

    pick = TimingReplay._pick_impl
    assert pick(None, table_with(["dense", "torch", "triton"]), None, "float32") == "triton"
    assert pick(None, table_with(["dense", "torch"]), None, "float32") == "torch"
    assert pick(None, table_with(["dense", "torch"]), "dense", "float32") == "dense"
    with pytest.raises(HarnessError, match="several implementations"):
        pick(None, table_with(["dense", "flat_topk"]), None, "float32")


def test_records_name_the_projects_tables_without_the_checkout_path():
    # TIMINGS lies in the project: the record names it relative to the project (product text shows no machine
    # paths); so does the reason for a set that is missing there
    info = open_replay(_scenario(), timings_root=TIMINGS).info()
    assert info["tables_folder"] == "tests/data/timings/cpu"
    missing = open_replay(_scenario(device="h100"), timings_root=TIMINGS).info()["tables_missing"]
    assert missing == "folder tests/data/timings/h100 does not exist"


def test_a_query_in_a_hole_of_a_sparse_grid_takes_the_efficiency_of_the_nearest_row_in_log_shape(tmp_path):
    """Two measured GEMMs far apart at different efficiencies: a shape between them that the sparse grid cannot
    interpolate runs at the efficiency of the one nearer in log shape, whichever row comes first in the file."""
    shutil.copytree(TIMINGS / "cpu", tmp_path / "cpu")
    rows = {(512, 512, 512): 20.0, (64, 64, 64): 0.5}  # the far row first
    set_rows(tmp_path / "cpu", "matmul", pd.DataFrame(
        [{"m": m, "n": n, "k": k, "impl": "torch", "dtype": "float32", "time_ms_median": t, "time_ms_p10": t,
          "time_ms_p90": t, "n_reps": 5} for (m, n, k), t in rows.items()]))
    replay = open_replay(_scenario(), timings_root=tmp_path)
    device = get_device("cpu", timings_root=tmp_path)

    for query, nearest in (((480, 512, 512), (512, 512, 512)), ((72, 64, 64), (64, 64, 64))):
        p = replay.predict("matmul", **dict(zip("mnk", query)))
        assert p.source == "roofline" and "nearest measured row" in p.detail
        ratio = _gemm_roofline_ms(device, *query) / _gemm_roofline_ms(device, *nearest)
        assert p.time_ms == pytest.approx(rows[nearest] * ratio)
