"""harness/commands/profile.py and bench.py: user mistakes exit 2 with a message, never a traceback."""

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
