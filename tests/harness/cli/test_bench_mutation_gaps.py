"""Gaps in the tests of `harness.commands.bench` found by a mutation audit.

Closed here (nothing is timed: `kernels.benchmark.run_bench` is replaced by a recorder returning hand-built rows):
- every flag (device, ops, grid, seed) reaches `run_bench` as given, and the defaults are the documented ones;
- the table is printed, headed by the copy bandwidth the run measured;
- ``--json`` writes the roofline and every row, and the command still exits 0;
- several refused ops are listed in one message, separated by ``; ``.
"""

from __future__ import annotations

import json

import pytest
import torch

from kernels.benchmark import BenchRow
from tests.harness.cli_run import cli

ROOFLINE = {"copy_gbytes_per_s": 12.5, "matmul_tflops": 0.75}
ROWS = [
    BenchRow("topk_flat", {"n": 4}, "float32", "torch", 1.5, "torch.topk", 3.0, 2.0, 6.25, 0.5),
    BenchRow("residual_add", {"n": 8, "d": 2}, "float32", "torch", 0.25, None, None, None, 1.25, 0.1),
]


@pytest.fixture
def benched(monkeypatch):
    """Record `run_bench`'s arguments instead of timing; it returns the two hand-built rows above."""
    seen: dict = {}

    def run_bench(**kwargs):
        seen.update(kwargs)
        return list(ROWS), dict(ROOFLINE)

    monkeypatch.setattr("kernels.benchmark.run_bench", run_bench)
    return seen


def test_every_flag_reaches_the_benchmark(capsys, benched, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    code, _out, err = cli(capsys, "bench", "--device", "cuda", "--ops", "topk_flat", "residual_add", "topk_flat",
                          "--grid", "default", "--seed", "7")
    assert code == 0 and err == ""
    assert benched == {"device": "cuda", "ops": ["topk_flat", "residual_add"], "grid": "default", "seed": 7}


def test_the_defaults_reach_the_benchmark(capsys, benched):
    assert cli(capsys, "bench")[0] == 0
    assert benched == {"device": "cpu", "ops": None, "grid": "quick", "seed": 0}


def test_the_table_is_printed_with_the_measured_copy_bandwidth(capsys, benched):
    code, out, err = cli(capsys, "bench", "--ops", "topk_flat")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "copy bandwidth measured in this run: 12.5 GB/s"
    assert lines[3].startswith("topk_flat") and lines[4].startswith("residual_add")
    assert len(lines) == 5


def test_json_holds_the_roofline_and_every_row(capsys, benched, tmp_path):
    target = tmp_path / "sub" / "bench.json"
    code, _out, err = cli(capsys, "bench", "--json", target)
    assert code == 0 and err == ""
    assert json.loads(target.read_text()) == {
        "roofline": {"copy_gbytes_per_s": 12.5, "matmul_tflops": 0.75},
        "rows": [
            {"op": "topk_flat", "shape": {"n": 4}, "dtype": "float32", "ours_impl": "torch", "ours_ms": 1.5,
             "baseline_impl": "torch.topk", "baseline_ms": 3.0, "speedup": 2.0, "achieved_gbps": 6.25,
             "copy_fraction": 0.5},
            {"op": "residual_add", "shape": {"n": 8, "d": 2}, "dtype": "float32", "ours_impl": "torch",
             "ours_ms": 0.25, "baseline_impl": None, "baseline_ms": None, "speedup": None, "achieved_gbps": 1.25,
             "copy_fraction": 0.1},
        ],
    }


def test_without_json_no_file_is_written(capsys, benched, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli(capsys, "bench")[0] == 0
    assert list(tmp_path.iterdir()) == []


def test_several_refused_ops_are_listed_in_one_message(capsys, benched):
    code, out, err = cli(capsys, "bench", "--ops", "copy", "matmul")
    assert code == 2 and out == "" and benched == {}
    assert err.startswith("error: --ops: bench does not run copy (")
    head = err.split("; it runs: ")[0]
    assert head.endswith("); matmul (a roofline ceiling; timed by 'harness profile')")
