"""Gaps in the tests of `harness.commands.profile` found by a mutation audit.

Closed here (nothing is timed: `kernels.profiler.run_profile` is replaced by a recorder):
- every flag reaches `run_profile` as given (ops, grid, seed, threads, budget, flush in bytes, dtypes, table set,
  passes), and the defaults are the documented ones (quick grid, seed 0, budget 0.25 s, 1 pass, the machine's
  default flush, the project's timings folder).
- the bounds: ``--budget-s 0`` is refused; ``--cpu-flush-mib`` 0 and 16384 are accepted, just above 16384 is
  refused, and any flush size is refused with ``--device cuda`` even where CUDA is available.
- a file in place of the default timings folder is refused naming "timings folder", not ``--out``.
- the printed ``tables:`` path is relative to the current directory when the tables lie below it.
"""

from __future__ import annotations

import pytest
import torch

from kernels.profiler import TimerSettings
from tests.harness.cli_run import cli


@pytest.fixture
def profiled(monkeypatch):
    """Record `run_profile`'s arguments instead of timing; it returns ``<out>/<folder>`` as the real one does."""
    seen: dict = {}

    def run_profile(**kwargs):
        seen.update(kwargs)
        return kwargs["out"] / (kwargs["folder_name"] or "cpu")

    monkeypatch.setattr("kernels.profiler.run_profile", run_profile)
    return seen


def _must_not_profile(monkeypatch):
    def measured(**_kwargs):
        raise AssertionError("timed before the flags were checked")

    monkeypatch.setattr("kernels.profiler.run_profile", measured)


def test_every_flag_reaches_the_profiler(capsys, tmp_path, profiled):
    code, out, err = cli(capsys, "profile", "--ops", "copy", "matmul", "--grid", "default", "--seed", "7",
                         "--threads", "2", "--budget-s", "0.5", "--passes", "3", "--dtypes", "float32", "bfloat16",
                         "--cpu-flush-mib", "1.5", "--table-set", "cpu-x", "--out", tmp_path)
    assert code == 0 and err == ""
    assert profiled == {
        "device": "cpu", "ops": ["copy", "matmul"], "grid": "default", "out": tmp_path, "seed": 7, "threads": 2,
        "settings": TimerSettings(cpu_budget_s=0.5, cpu_flush_bytes=1572864), "dtypes": ["float32", "bfloat16"],
        "folder_name": "cpu-x", "passes": 3,
    }
    assert out == f"tables: {tmp_path / 'cpu-x'}\n"


def test_the_defaults_reach_the_profiler(capsys, tmp_path, profiled, monkeypatch):
    root = tmp_path / "project_timings"
    monkeypatch.setattr("harness.provenance.default_timings_root", lambda: root)
    assert cli(capsys, "profile")[0] == 0
    assert profiled == {
        "device": "cpu", "ops": None, "grid": "quick", "out": root, "seed": 0, "threads": None,
        "settings": TimerSettings(cpu_budget_s=0.25, cpu_flush_bytes=None), "dtypes": None, "folder_name": None,
        "passes": 1,
    }


def test_a_zero_budget_is_refused_before_timing(capsys, tmp_path, monkeypatch):
    _must_not_profile(monkeypatch)
    code, out, err = cli(capsys, "profile", "--budget-s", "0", "--out", tmp_path)
    assert code == 2 and out == ""
    assert err == "error: --budget-s: expected a finite number > 0, got 0.0\n"


@pytest.mark.parametrize("mib, flush_bytes", [("0", 0), ("16384", 16384 * 1024 * 1024), ("0.5", 524288)])
def test_flush_sizes_at_the_bounds_are_accepted(capsys, tmp_path, profiled, mib, flush_bytes):
    assert cli(capsys, "profile", "--cpu-flush-mib", mib, "--out", tmp_path)[0] == 0
    assert profiled["settings"].cpu_flush_bytes == flush_bytes


def test_a_flush_just_above_the_largest_is_refused(capsys, tmp_path, monkeypatch):
    _must_not_profile(monkeypatch)
    code, out, err = cli(capsys, "profile", "--cpu-flush-mib", "16384.5", "--out", tmp_path)
    assert code == 2 and out == ""
    assert err == "error: --cpu-flush-mib: expected a number from 0 to 16384 with --device cpu, got 16384.5\n"


def test_a_flush_with_cuda_is_refused_where_cuda_is_available(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    _must_not_profile(monkeypatch)
    code, out, err = cli(capsys, "profile", "--device", "cuda", "--cpu-flush-mib", "2", "--out", tmp_path)
    assert code == 2 and out == ""
    assert err == "error: --cpu-flush-mib: expected a number from 0 to 16384 with --device cpu, got 2\n"
    assert list(tmp_path.iterdir()) == []


def test_a_file_in_place_of_the_default_timings_folder_names_the_timings_folder(capsys, tmp_path, monkeypatch):
    (tmp_path / "timings").write_text("x")
    monkeypatch.setattr("harness.provenance.default_timings_root", lambda: tmp_path / "timings")
    _must_not_profile(monkeypatch)
    code, out, err = cli(capsys, "profile")
    assert code == 2 and out == ""
    assert err.startswith(f"error: timings folder {tmp_path / 'timings' / 'cpu'}: a file is in the way")


def test_the_tables_path_is_printed_relative_to_the_current_directory(capsys, tmp_path, profiled, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = cli(capsys, "profile", "--out", tmp_path / "t", "--table-set", "mine")
    assert code == 0 and out == "tables: t/mine\n"
