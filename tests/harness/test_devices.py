"""Device roofline numbers: catalogue with sources, measured meta.json numbers preferred, unknown names refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.devices import get_device, load_catalog
from harness.errors import HarnessError, TimingTableError

TIMINGS = Path(__file__).parents[1] / "data" / "timings"
ANCHORS = Path("/work/shared/anchors/h100_torch_baselines.json")


def test_h100_numbers_come_from_the_anchor_file(tmp_path):
    h100 = get_device("h100", timings_root=tmp_path)
    assert h100.memory_gbytes_per_s == pytest.approx(3001.49, abs=0.01)
    assert h100.peak_tflops["bfloat16"] == pytest.approx(731.65, abs=0.01)
    assert "h100_torch_baselines.json" in h100.sources["memory"]
    assert "matmul_bf16_8192" in h100.sources["bfloat16"]
    if ANCHORS.is_file():  # the shared folder is there on the team's machines; the numbers must agree with it
        rows = {r["name"]: r for r in json.loads(ANCHORS.read_text())["rows"]}
        assert h100.memory_gbytes_per_s == pytest.approx(rows["copy_d2d_1GiB"]["GBps"], rel=1e-5)
        assert h100.peak_tflops["bfloat16"] == pytest.approx(rows["matmul_bf16_8192"]["TFLOPs"], rel=1e-5)


def test_every_catalogue_number_names_its_source():
    for name, entry in load_catalog().items():
        assert entry.memory_source.strip(), name
        assert set(entry.peak_sources) == set(entry.peak_tflops), name


def test_measured_numbers_replace_the_catalogue():
    cpu = get_device("cpu", timings_root=TIMINGS)
    assert cpu.memory_gbytes_per_s == 20.0  # fixture meta.json roofline.copy_gbytes_per_s
    assert cpu.peak_tflops["float32"] == 0.05
    assert "meta.json" in cpu.sources["float32"]
    assert cpu.peak_tflops["bfloat16"] == load_catalog()["cpu"].peak_tflops["bfloat16"]  # not measured: catalogue


def test_cpu_default_without_tables(tmp_path):
    cpu = get_device("cpu", timings_root=tmp_path)
    assert cpu.memory_gbytes_per_s == load_catalog()["cpu"].memory_gbytes_per_s
    assert "conservative default" in cpu.sources["memory"]


def test_device_known_only_from_its_measured_meta(tmp_path):
    shutil.copytree(TIMINGS / "cpu", tmp_path / "a100")
    meta = json.loads((tmp_path / "a100" / "meta.json").read_text())
    (tmp_path / "a100" / "meta.json").write_text(json.dumps({**meta, "device": "a100"}))
    assert get_device("a100", timings_root=tmp_path).memory_gbytes_per_s == 20.0


def test_unknown_device_lists_known_ones(tmp_path):
    with pytest.raises(HarnessError, match=r"unknown device 'tpu9'.*known devices: a100, a100_pcie, cpu, h100"):
        get_device("tpu9", timings_root=tmp_path)


def test_unknown_dtype(tmp_path):
    with pytest.raises(HarnessError, match=r"no peak FLOP rate for dtype 'int4'; known: bfloat16, float16, float32"):
        get_device("h100", timings_root=tmp_path).peak_flops_per_s("int4")


def test_bad_measured_roofline(tmp_path):
    shutil.copytree(TIMINGS / "cpu", tmp_path / "cpu")
    meta = json.loads((tmp_path / "cpu" / "meta.json").read_text())
    meta["roofline"] = {"copy_gbytes_per_s": -3}
    (tmp_path / "cpu" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(TimingTableError, match=r"roofline.copy_gbytes_per_s: expected a number > 0, got -3"):
        get_device("cpu", timings_root=tmp_path)


def test_roofline_time_is_the_slower_ceiling(tmp_path):
    h100 = get_device("h100", timings_root=tmp_path)
    assert h100.roofline_time_ms(0.0, 3001.49e9, "bfloat16") == pytest.approx(1000.0)
    assert h100.roofline_time_ms(731.65e12, 1.0, "bfloat16") == pytest.approx(1000.0)
