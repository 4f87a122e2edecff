"""harness/commands/profile.py and bench.py: user mistakes exit 2 with a message, never a traceback."""

import pytest
import torch

from harness.cli import main


def test_unknown_op_is_a_user_error(capsys):
    assert main(["profile", "--ops", "no_such_op"]) == 2
    assert "unknown op(s) no_such_op; known:" in capsys.readouterr().err
    assert main(["bench", "--ops", "no_such_op"]) == 2


def test_cuda_without_a_gpu_is_a_user_error(capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # checked on GPU machines too, not skipped
    assert main(["profile", "--device", "cuda"]) == 2
    assert "no CUDA device" in capsys.readouterr().err


def test_profile_writes_tables(tmp_path, capsys):
    assert main(["profile", "--ops", "copy", "--out", str(tmp_path), "--threads", "1"]) == 0
    assert (tmp_path / "cpu" / "copy.csv").is_file()
    assert main(["profile", "--threads", "0"]) == 2


def test_profile_passes_must_be_positive(capsys):
    assert main(["profile", "--ops", "copy", "--passes", "0"]) == 2
    assert "--passes: expected an integer >= 1, got 0" in capsys.readouterr().err


def test_a_cpu_flush_size_is_timed_and_recorded(tmp_path, capsys):
    import json

    assert main(["profile", "--ops", "copy", "--out", str(tmp_path), "--threads", "1", "--budget-s", "0.001",
                 "--cpu-flush-mib", "2", "--table-set", "cpu-f2"]) == 0
    meta = json.loads((tmp_path / "cpu-f2" / "meta.json").read_text())
    assert meta["cpu_flush_bytes"] == 2 << 20 and "2 MiB written before every call" in meta["timer"]
    assert main(["profile", "--ops", "copy", "--cpu-flush-mib", "-1"]) == 2
    assert "--cpu-flush-mib: expected a number from 0 to 16384 with --device cpu, got -1" in capsys.readouterr().err
    assert main(["profile", "--ops", "copy", "--cpu-flush-mib", "inf"]) == 2
    assert main(["profile", "--ops", "copy", "--device", "cuda", "--cpu-flush-mib", "2"]) == 2


def test_a_table_set_has_one_writer_at_a_time(tmp_path, capsys):
    from kernels.files import exclusive_writer

    with exclusive_writer(tmp_path / "cpu", "another profile"):  # as a second process would hold it
        assert main(["profile", "--ops", "copy", "--out", str(tmp_path), "--threads", "1"]) == 2
        err = capsys.readouterr().err
        assert "cpu: another process is writing here (a profile needs it alone" in err
        assert not (tmp_path / "cpu" / "copy.csv").exists()
    assert main(["profile", "--ops", "copy", "--out", str(tmp_path), "--threads", "1", "--budget-s", "0.001"]) == 0
    assert (tmp_path / "cpu" / "copy.csv").is_file()


def test_profile_writes_into_the_projects_timings_whatever_the_current_directory(tmp_path, capsys, monkeypatch):
    import harness.provenance

    root = tmp_path / "project_timings"  # stands in for the project's results/timings
    monkeypatch.setattr(harness.provenance, "default_timings_root", lambda: root)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["profile", "--ops", "copy", "--dtypes", "float32", "--budget-s", "0.001", "--threads", "1",
                 "--table-set", "mycpu"]) == 0
    assert (root / "mycpu" / "copy.csv").is_file()
    assert not list(elsewhere.iterdir())  # no results/timings below the current directory
    assert f"tables: {root / 'mycpu'}" in capsys.readouterr().out


@pytest.mark.parametrize("ops", [["copy"], ["matmul"], ["adamw_step"], ["topk_flat", "sgd_momentum_step"]])
def test_bench_refuses_the_ops_it_does_not_run_naming_those_it_does(capsys, ops):
    from kernels.benchmark import bench_ops

    assert main(["bench", "--ops", *ops]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith(f"error: --ops: bench does not run {ops[-1]} (")
    assert err.strip().endswith(f"; it runs: {', '.join(bench_ops())}")


def test_the_ops_bench_runs_are_the_known_ones_and_each_has_an_implementation_to_time(capsys):
    from kernels.benchmark import CEILING_OPS, bench_ops, ours_impl, run_bench
    from kernels.ops import load_all_ops

    runnable = bench_ops()
    assert main(["bench", "--ops", "no_such_op"]) == 2
    assert capsys.readouterr().err.strip() == f"error: --ops: unknown op(s) no_such_op; known: {', '.join(runnable)}"
    registry = load_all_ops()
    assert not set(CEILING_OPS) & set(runnable) and "adamw_step" not in runnable
    for name in runnable:  # every op listed gives bench rows: ours is timed on this CPU
        assert ours_impl(registry.get(name), "cpu") is not None
    with pytest.raises(ValueError, match="bench does not run copy"):
        run_bench(ops=["copy"])
