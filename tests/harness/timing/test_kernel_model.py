"""Kernel model: floor and dispatch gap (measured, catalogued, applied), the best measured peak, roofline x
efficiency outside the tables, bf16 tables used when present, and the provenance line of ``harness run``."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from harness.cli import main
from harness.config.blocks import ClusterSpec, DeviceScenario, DeviceSpec, Strict, TimingsSpec
from harness.devices import NOT_MEASURED, _CatalogEntry, get_device, load_catalog
from harness.errors import HarnessError, TimingTableError
from harness.provenance import default_timings_root
from harness.timing.notes import roofline_note
from harness.timing.replay import TimingReplay, interpolate_ms, open_replay
from harness.timing.table import load_table_set
from kernels.profiler import TimerSettings, fold_best_matmul_rates, measure_kernel_model
from tests.harness.timing.table_edits import add_bf16_rows, update_roofline

TIMINGS = Path(__file__).parents[2] / "data" / "timings"


def _scenario(device="cpu", outside_grid="interpolate", table_set=None) -> DeviceScenario:
    return DeviceScenario(
        name="t", kind="test", workload=Strict(), cluster=DeviceSpec(device=device),
        timings=TimingsSpec(outside_grid=outside_grid, table_set=table_set),
    )


def _table_set(tmp_path: Path, *, roofline: dict | None = None, bf16_scale: float | None = None) -> Path:
    """A copy of the fixture CPU set; ``roofline`` keys replace meta.json's; ``bf16_scale`` adds bfloat16 rows
    (the float32 rows' times times the scale) to matmul.csv and copy.csv."""
    folder = tmp_path / "cpu"
    shutil.copytree(TIMINGS / "cpu", folder)
    update_roofline(folder, **(roofline or {}))
    if bf16_scale is not None:
        add_bf16_rows(folder, ("matmul", "copy"), bf16_scale)
    return tmp_path


# --- devices: floor, gap, best measured peak -------------------------------------------------------------------


def test_catalogue_floor_and_gap_name_their_source():
    base = load_catalog()["h100"].model_dump()
    with pytest.raises(ValidationError, match="kernel_floor_us and kernel_floor_source go together"):
        _CatalogEntry.model_validate({**base, "kernel_floor_us": 3.0})
    entry = _CatalogEntry.model_validate({**base, "dispatch_gap_us": 2.0, "dispatch_gap_source": "measured: x"})
    assert entry.dispatch_gap_us == 2.0
    for name, entry in load_catalog().items():
        for key in ("kernel_floor", "dispatch_gap"):
            assert (getattr(entry, f"{key}_us") is None) == (getattr(entry, f"{key}_source") is None), name


def test_unmeasured_floor_and_gap_are_zero_and_say_so(tmp_path):
    h100 = get_device("h100", timings_root=tmp_path)
    assert (h100.kernel_floor_us, h100.dispatch_gap_us) == (0.0, 0.0)
    assert h100.sources["kernel_floor"] == h100.sources["dispatch_gap"] == NOT_MEASURED


def test_measured_floor_and_gap_come_from_meta(tmp_path):
    root = _table_set(tmp_path, roofline={"kernel_floor_us": 4.5, "dispatch_gap_us": 1.25})
    cpu = get_device("cpu", timings_root=root)
    assert (cpu.kernel_floor_us, cpu.dispatch_gap_us) == (4.5, 1.25)
    assert cpu.kernel_floor_ms == pytest.approx(4.5e-3)
    assert cpu.sources["kernel_floor"] == "measured by harness profile (cpu/meta.json roofline)"
    assert str(tmp_path) not in json.dumps(dict(cpu.sources))


@pytest.mark.parametrize("value", [-1.0, "3", True])
def test_bad_measured_floor(tmp_path, value):
    root = _table_set(tmp_path, roofline={"kernel_floor_us": value})
    with pytest.raises(TimingTableError, match=r"roofline.kernel_floor_us: expected a number >= 0"):
        get_device("cpu", timings_root=root)


def test_peak_is_the_best_measured_rate(tmp_path):
    root = _table_set(tmp_path, roofline={"matmul_tflops": {"float32": 0.01}})
    frame = load_table_set(root / "cpu").tables["matmul"].frame
    rates = 2.0 * frame["m"] * frame["n"] * frame["k"] / (frame["time_ms_median"] * 1e-3) / 1e12
    best = frame.loc[rates.idxmax()]
    cpu = get_device("cpu", timings_root=root)
    assert cpu.peak_tflops["float32"] == pytest.approx(rates.max())
    assert f"m={best.m}, n={best.n}, k={best.k}" in cpu.sources["float32"] and "matmul.csv" in cpu.sources["float32"]
    # a meta.json rate above every row stays the peak
    assert get_device("cpu", timings_root=TIMINGS).peak_tflops["float32"] == 0.05


def test_profiler_measures_floor_and_gap_on_this_cpu():
    model = measure_kernel_model("cpu", TimerSettings(cpu_budget_s=0.02, cpu_min_reps=5))
    assert 0.0 < model["kernel_floor_us"] < 1e4 and math.isfinite(model["kernel_floor_us"])
    assert 0.0 <= model["dispatch_gap_us"] < 1e4
    assert "x.add_(1.0)" in model["kernel_model_method"]


def test_profiler_folds_the_best_table_rate_into_the_peak():
    roofline = {"matmul_tflops": {"float32": 1.0}}
    rows = [{"m": 1000, "n": 1000, "k": 1000, "dtype": "float32", "time_ms_median": 1.0},  # 2 TFLOP/s
            {"m": 10, "n": 10, "k": 10, "dtype": "float32", "time_ms_median": 1.0},
            {"m": 1000, "n": 1000, "k": 500, "dtype": "bfloat16", "time_ms_median": 2.0}]  # 0.5 TFLOP/s
    fold_best_matmul_rates(roofline, rows)
    assert roofline["matmul_tflops"] == {"float32": pytest.approx(2.0), "bfloat16": pytest.approx(0.5)}


# --- the replay: floor, roofline x efficiency, provenance ------------------------------------------------------


def _replay(root: Path = TIMINGS, floor_us: float = 0.0, outside_grid: str = "interpolate") -> TimingReplay:
    replay = open_replay(_scenario(outside_grid=outside_grid), timings_root=root)
    replay.device = dataclasses.replace(replay.device, kernel_floor_us=floor_us)
    return replay


def test_the_floor_applies_to_every_source():
    floor_ms = 0.3  # above the smallest measured matmul (0.177772 ms) and the smallest copy (0.028214 ms)
    replay = _replay(floor_us=floor_ms * 1e3)
    exact = replay.predict("matmul", m=64, n=256, k=256)
    interpolated = replay.predict("copy", numel=70_000)
    roofline = replay.predict("copy", numel=1000)
    assert [p.source for p in (exact, interpolated, roofline)] == ["exact", "interpolated", "roofline"]
    assert all(p.time_ms == floor_ms and "raised to the kernel floor of 300 us" in p.detail
               for p in (exact, interpolated, roofline))
    assert replay.predict("matmul", m=256, n=512, k=512).time_ms == 2.694355  # above the floor: untouched


def test_roofline_times_efficiency_outside_the_grid():
    replay = _replay()
    device = replay.device

    def roofline(m, n, k):
        return device.roofline_time_ms(2.0 * m * n * k, 4.0 * (m * k + k * n + m * n), "float32")

    edge = replay.predict("matmul", m=256, n=384, k=512)
    assert edge.source == "interpolated"
    for m in (257, 512, 4096):  # above the grid: the efficiency of the clamped point (256, 384, 512)
        p = replay.predict("matmul", m=m, n=384, k=512)
        assert p.source == "roofline" and "nearest point of the measured hull" in p.detail
        assert p.time_ms == pytest.approx(edge.time_ms * roofline(m, 384, 512) / roofline(256, 384, 512))
    just_above = replay.predict("matmul", m=256.001, n=384, k=512).time_ms
    assert just_above == pytest.approx(edge.time_ms, rel=1e-4)  # continuous at the grid edge
    # below the grid: the small-m efficiency of the m=64 edge, never the peak
    low = replay.predict("matmul", m=1, n=512, k=512)
    assert low.time_ms == pytest.approx(0.681089 * roofline(1, 512, 512) / roofline(64, 512, 512))
    assert low.time_ms > roofline(1, 512, 512)


def test_ops_without_rows_for_the_dtype_run_like_a_copy_of_their_bytes():
    replay = _replay()
    copy = load_table_set(TIMINGS / "cpu").tables["copy"].frame
    points, times = copy[["numel"]].to_numpy(float), copy["time_ms_median"].to_numpy(float)
    p = replay.predict("copy", numel=1 << 20, dtype="bfloat16")  # 4 MiB moved = a float32 copy of 2^19 elements
    assert p.source == "roofline" and "runs like a float32 copy" in p.detail
    assert p.time_ms == pytest.approx(interpolate_ms(points, times, (float(1 << 19),)))
    # a bfloat16 GEMV is memory-bound on this device: it also runs like a copy of its bytes
    gemv = replay.predict("matmul", m=1, n=512, k=512, dtype="bfloat16")
    numel = 2 * (512 + 512 * 512 + 512) / 8
    assert gemv.time_ms == pytest.approx(interpolate_ms(points, times, (numel,)))
    # compute-bound without rows: the bare roofline at the best measured peak
    big = replay.predict("matmul", m=256, n=512, k=512, dtype="bfloat16")
    flops = 2.0 * 256 * 512 * 512
    assert big.time_ms == pytest.approx(1e3 * flops / replay.device.peak_flops_per_s("bfloat16"))
    assert big.detail.endswith("roofline of device 'cpu'")


def test_roofline_mode_uses_the_bare_roofline():
    replay = _replay(outside_grid="roofline")
    p = replay.predict("matmul", m=4096, n=384, k=512)
    flops, bytes_moved = 2.0 * 4096 * 384 * 512, 4.0 * (4096 * 512 + 512 * 384 + 4096 * 384)
    assert p.time_ms == pytest.approx(replay.device.roofline_time_ms(flops, bytes_moved, "float32"))


def test_time_by_source_sums_the_predictions():
    replay = _replay()
    predictions = [replay.predict("matmul", m=m, n=256, k=256) for m in (64, 100, 200, 256, 1024, 2048)]
    predictions.append(replay.predict("copy", numel=1 << 16))
    by_source = replay.info()["time_by_source_ms"]
    for source in ("exact", "interpolated", "roofline"):
        matmul = sum(p.time_ms for p in predictions[:-1] if p.source == source)
        assert by_source["matmul"][source] == pytest.approx(matmul)
    assert by_source["copy"] == {"exact": predictions[-1].time_ms, "interpolated": 0.0, "roofline": 0.0}
    assert replay.info()["roofline_reasons"] == {"matmul": {"float32 shapes outside the measured grid of cpu/matmul.csv": 2}}


def test_roofline_note_names_ops_share_and_reason(tmp_path):
    replay = _replay()
    assert roofline_note(replay.info()) is None
    replay.predict("matmul", m=64, n=256, k=256)
    assert roofline_note(replay.info()) is None  # nothing from the roofline, nothing to say
    roof = replay.predict("matmul", m=64, n=256, k=256, dtype="bfloat16")
    share = 100 * roof.time_ms / (roof.time_ms + 0.177772)
    note = roofline_note({"timings": replay.info()})
    assert note == (f"note: {share:.0f}% of predicted compute time came from the roofline model (1 op(s): matmul; "
                    "why per op: run.json info.timings.roofline_reasons)")
    assert replay.info()["roofline_reasons"] == {"matmul": {"no bfloat16 rows in cpu/matmul.csv": 1}}
    missing = open_replay(_scenario(device="h100"), timings_root=tmp_path)  # the device's own set: not there
    missing.predict("copy", numel=10)
    note = roofline_note({"timings": missing.info()})
    assert note.startswith("note: 100% of predicted") and f"no kernel tables: folder {tmp_path / 'h100'}" in note
    assert roofline_note({"timing_sources": {}}) is None  # a kind without a replay


def test_bf16_scenario_uses_bf16_tables_when_present(tmp_path):
    from harness.models.llama import LlamaDims
    from harness.workloads.base import RunContext
    from harness.workloads.data_parallel_step import DataParallelScenario, DataParallelWorkload, run

    root = _table_set(tmp_path, bf16_scale=0.5)
    tiny = LlamaDims(d_model=256, d_ff=512, n_heads=4, n_layers=2, vocab_size=512)
    scenario = DataParallelScenario(
        name="dp", cluster=ClusterSpec(nodes=1, devices_per_node=2, device="cpu"),
        workload=DataParallelWorkload(model=tiny, micro_batch=1, seq_len=64, dtype="bfloat16", n_steps=1),
    )
    replay = open_replay(scenario, timings_root=root)
    out = run(scenario, RunContext(seed_seq=np.random.SeedSequence(0), timings=replay))
    matmul = out.info["timings"]["timing_sources"]["matmul"]
    assert matmul["exact"] + matmul["interpolated"] > 0
    assert out.info["timings"]["time_by_source_ms"]["matmul"]["exact"] > 0
    # and an exact bf16 hit is the bf16 row, not the float32 one
    assert replay.predict("matmul", m=64, n=256, k=256, dtype="bfloat16").time_ms == pytest.approx(0.177772 * 0.5)


def test_error_mode_keeps_refusing_with_bf16_tables(tmp_path):
    replay = open_replay(_scenario(outside_grid="error"), timings_root=_table_set(tmp_path, bf16_scale=0.5))
    assert replay.predict("matmul", m=64, n=256, k=256, dtype="bfloat16").source == "exact"
    with pytest.raises(HarnessError, match=r"outside_grid=error.*op 'matmul' at m=100, n=256, k=256, dtype bfloat16"):
        replay.predict("matmul", m=100, n=256, k=256, dtype="bfloat16")
    with pytest.raises(HarnessError, match=r"dtype float16: matmul.csv has no rows"):
        replay.predict("matmul", m=64, n=256, k=256, dtype="float16")


def test_harness_run_prints_one_roofline_line(capsys, tmp_path):
    scenario = tmp_path / "dp.yaml"
    scenario.write_text(
        "name: dp_roof\nkind: data_parallel_step\n"
        "cluster: {nodes: 1, devices_per_node: 2, device: a100}\n"  # a catalogue device nobody profiled
        "workload: {model: llama-60m, micro_batch: 1, seq_len: 64, dtype: bfloat16, n_steps: 1}\n"
    )
    assert not (default_timings_root() / "a100").exists()
    code = main(["run", str(scenario), "--out", str(tmp_path / "runs")])
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in out + err
    lines = [line for line in err.splitlines() if "roofline model" in line]
    assert len(lines) == 1
    assert lines[0].startswith("note: 100% of predicted compute time came from the roofline model (")
    # short: the share, the ops (the first few by roofline time), why in one phrase; per-op reasons stay in run.json
    assert re.search(r"\(\d+ op\(s\): \w+, \w+, \w+ and \d+ more; no kernel tables: folder results/timings/a100 "
                     r"does not exist\)$", lines[0]), lines[0]
    assert len(lines[0]) < 250 and str(tmp_path) not in lines[0]
    run_json = json.loads(next((tmp_path / "runs" / "dp_roof").glob("*/run.json")).read_text())
    assert run_json["info"]["timings"]["timing_sources"]["matmul"]["roofline"] > 0
