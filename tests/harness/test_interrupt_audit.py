"""Problems found by an audit of interrupted (Ctrl-C, SIGTERM) and concurrent commands: each command ends with one
line and a conventional exit code, stops the processes it started, and leaves every file it had written readable
and consistent with the files beside it.

Interruptions are simulated deterministically: a monkeypatched function raises KeyboardInterrupt or sends the
signal to this process at a chosen point, or a subprocess is signalled once a marker is on disk.
"""

from __future__ import annotations

import builtins
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import harness.cli
import harness.commands.validate
import harness.failover.study as failover_study
import harness.failover.supervisor
import harness.timing.collective_tables as collective_tables
import kernels.profiler as profiler
from harness.store import RunStore
from harness.timing.collective_tables import load_collective_tables
from harness.timing.table import load_table_set
from kernels.profiler import TimerSettings, run_profile
from tests.harness.cli_run import cli

CHECKOUT = Path(__file__).resolve().parents[2]

NCCL_HEADER = """# nThread 1 nGpus 1 minBytes 1024 maxBytes 4096 step: 2(factor) warmup iters: 5 iters: 20 agg iters: 1
#  Rank  0 Group  0 Pid   4349 on   hostA device  0 [0x01] NVIDIA A100-PCIE-40GB
#  Rank  1 Group  0 Pid   4350 on   hostA device  1 [0x23] NVIDIA A100-PCIE-40GB
#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
"""
NCCL_ROWS = [f"{size:12d} {size // 4:12d} float sum -1 {time_us:8.2f} 0.00 0.00 0 {time_us:8.2f} 0.00 0.00 N/A\n"
             for size, time_us in ((1024, 20.5), (2048, 30.5), (4096, 40.5))]


@pytest.fixture
def ctrl_c_raises():
    """SIGINT raises KeyboardInterrupt in this process (as in a terminal), whatever the test runner installed."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def ctrl_c_after_writing(write, suffix: str):
    """``write`` that sends SIGINT to this process right after it wrote a file whose name ends with ``suffix``."""
    def interrupted(path, *args, **kwargs):
        result = write(path, *args, **kwargs)
        if str(path).endswith(suffix):
            signal.raise_signal(signal.SIGINT)
        return result
    return interrupted


# ----------------------------------------------------------------------------------------------------- the CLI


def test_sigterm_ends_a_command_like_ctrl_c(monkeypatch, capsys):
    """SIGTERM killed the process outright: no cleanup (pool workers, gloo ranks and failover workers left
    running, temp files left behind); now it ends the command as Ctrl-C does, with exit code 143."""
    seen_by_callers_handler = []

    def callers_handler(signum, _frame):
        seen_by_callers_handler.append(signum)

    previous = signal.signal(signal.SIGTERM, callers_handler)
    try:
        monkeypatch.setattr(harness.commands.validate, "main", lambda args: os.kill(os.getpid(), signal.SIGTERM) or 0)
        code, out, err = cli(capsys, "validate", "any.yaml")
        handler_after = signal.getsignal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code == 143 and out == ""
    assert err == "terminated; finished runs are kept and will be reused\n"
    assert seen_by_callers_handler == [] and handler_after is callers_handler


def test_a_reader_that_goes_away_ends_the_command_quietly(monkeypatch, capsys):
    # `harness list | head -1`: stdout is a pipe whose reader has closed, so every write raises BrokenPipeError
    read_end, write_end = os.pipe()
    os.close(read_end)
    with os.fdopen(write_end, "w", buffering=1) as closed_pipe:
        monkeypatch.setattr(sys, "stdout", closed_pipe)
        assert harness.cli.main(["list"]) == 128 + signal.SIGPIPE.value
        print("a later write goes nowhere")  # what the interpreter's exit flush does; it raises nothing
    assert capsys.readouterr().err == ""


def test_ctrl_c_while_the_cli_starts_prints_one_line(monkeypatch, capsys):
    """Ctrl-C in the first second (building the parser imports every command module) printed a traceback."""
    def interrupted_startup():
        raise KeyboardInterrupt
    monkeypatch.setattr(harness.cli, "build_parser", interrupted_startup)
    try:
        code, out, err = cli(capsys, "sweep", "any.yaml")
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C while the CLI started escaped it: the user saw a traceback")
    assert code == 130 and out == "" and err == "interrupted; finished runs are kept and will be reused\n"


def _live_members(process_group: int) -> list[int]:
    """Processes of ``process_group`` that are still running (zombies nobody reaped do not count)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == process_group and fields[0] not in ("Z", "X"):
            members.append(int(stat.parent.name))
    return members


def test_sigterm_to_a_sweep_stops_its_pool_workers(tmp_path):
    """SIGTERM to `harness sweep` left its pool workers computing their points (a minute here), then printing
    pages of BrokenPipeError tracebacks; now the pool is terminated before the sweep exits."""
    scenario = tmp_path / "slow.yaml"
    scenario.write_text("name: toy_term\nkind: toy\nworkload: {n_messages: 2}\n"
                        "sweep:\n  product:\n    workload.sleep_ms: [0, 60000, 60001]\n")
    root, stderr = tmp_path / "runs", tmp_path / "stderr.txt"
    with stderr.open("w") as err_file:  # a file, not a pipe: workers left running would hold a pipe open
        sweep = subprocess.Popen(
            [sys.executable, "-m", "harness", "sweep", str(scenario), "--workers", "2", "--out", str(root)],
            cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(CHECKOUT)}, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=err_file)
    try:
        deadline = time.monotonic() + 60
        while not RunStore(root).runs("toy_term"):  # the quick point is done: the slow ones are in the workers
            assert sweep.poll() is None and time.monotonic() < deadline, "the sweep ended early or hung"
            time.sleep(0.05)
        sweep.send_signal(signal.SIGTERM)
        sweep.wait(timeout=30)
        err = stderr.read_text()
        deadline = time.monotonic() + 10
        while _live_members(sweep.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _live_members(sweep.pid) == []
        assert sweep.returncode == 143
        assert "Traceback" not in err and "terminated; finished runs are kept" in err
        assert len(RunStore(root).runs("toy_term")) == 1
    finally:
        for pid in _live_members(sweep.pid):
            os.kill(pid, signal.SIGKILL)
        if sweep.poll() is None:
            sweep.kill()
            sweep.wait()


# ---------------------------------------------------------------------------------------- tables and meta.json


def test_profile_interrupted_between_a_table_and_meta_json_keeps_them_in_agreement(tmp_path, monkeypatch,
                                                                                   ctrl_c_raises):
    """Ctrl-C right after `harness profile` renamed a table into place (before meta.json) left a table set that
    every run refused ("ops.copy.rows is 2 but copy.csv has 1 rows") until the op was profiled again."""
    settings = TimerSettings(cpu_budget_s=0.002)
    folder = run_profile(ops=["copy"], out=tmp_path, settings=settings, max_shapes=2, dtypes=["float32"],
                         log=lambda _: None)
    monkeypatch.setattr(profiler, "write_text_atomic", ctrl_c_after_writing(profiler.write_text_atomic, ".csv"))
    with pytest.raises(KeyboardInterrupt):
        run_profile(ops=["copy"], out=tmp_path, settings=settings, max_shapes=1, dtypes=["float32"],
                    log=lambda _: None)
    tables = load_table_set(folder)
    assert len(tables.tables["copy"].frame) == 1 and tables.meta["ops"]["copy"]["rows"] == 1


def _nccl_file(folder: Path, rows: list[str]) -> Path:
    path = folder / f"nccl_{len(rows)}.txt"
    path.write_text(NCCL_HEADER + "".join(rows))
    return path


def test_timings_import_interrupted_between_a_table_and_meta_json_keeps_them_in_agreement(tmp_path, monkeypatch,
                                                                                          capsys, ctrl_c_raises):
    """Ctrl-C between the collective table and its meta.json left a folder that every run and even the same
    import run again refused ("ops.all_reduce.rows is 3 but all_reduce.csv has 2 rows")."""
    def import_nccl(path: Path) -> tuple[int, str, str]:
        return cli(capsys, "timings", "import", "nccl-tests", path, "--device", "imported", "--out", tmp_path / "t")

    assert import_nccl(_nccl_file(tmp_path, NCCL_ROWS))[0] == 0
    monkeypatch.setattr(collective_tables, "write_text_atomic",
                        ctrl_c_after_writing(collective_tables.write_text_atomic, ".csv"))
    code, _, err = import_nccl(_nccl_file(tmp_path, NCCL_ROWS[:2]))
    assert code == 130 and err == "interrupted; finished runs are kept and will be reused\n"
    tables = load_collective_tables(tmp_path / "t" / "imported")
    assert len(tables.frames["all_reduce"]) == 2 and tables.meta["ops"]["all_reduce"]["rows"] == 2


# ------------------------------------------------------------------------------------------- study results


def _ctrl_c_while_writing(name_part: str, monkeypatch) -> None:
    """A file whose name contains ``name_part``, opened for writing, gets half of its first write, then Ctrl-C."""
    real_open = builtins.open

    class HalfWritten:
        def __init__(self, handle):
            self._handle = handle

        def write(self, text):
            self._handle.write(text[: len(text) // 2])
            self._handle.flush()
            raise KeyboardInterrupt

        def __getattr__(self, name):
            return getattr(self._handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._handle.close()

    def opening(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        chosen = isinstance(file, (str, os.PathLike)) and name_part in Path(file).name
        return HalfWritten(handle) if chosen and ("w" in mode or "a" in mode) else handle

    monkeypatch.setattr(builtins, "open", opening)
    monkeypatch.setattr(io, "open", opening)


def test_failover_tables_survive_an_interrupted_write(tmp_path, monkeypatch):
    """`harness failover` wrote runs/steps/ranks.csv (and raw/<mode>.json, plan.json) in place: Ctrl-C or SIGTERM
    while runs.csv was written left it truncated, and the harness.failover figure then read it."""
    out = tmp_path / "failover"
    out.mkdir()
    (out / "runs.csv").write_text("an earlier study's runs.csv\n")
    monkeypatch.setattr(harness.failover.supervisor, "run_job", lambda cfg, job_dir, timeout_s: {"mode": cfg.mode})
    monkeypatch.setattr(failover_study, "measure", lambda record, cfg: (
        {"mode": cfg.mode, "state_bytes": 1, "measured_drop_pct": 1.0}, pd.DataFrame({"step": [0, 1]})))
    monkeypatch.setattr(failover_study, "predict_drop_pct", lambda m, cfg, state_bytes: 2.0)
    monkeypatch.setattr(failover_study, "sample_counts", lambda record, cfg: pd.DataFrame({"worker": [0]}))
    monkeypatch.setattr(failover_study, "compact", lambda record: record)
    _ctrl_c_while_writing("runs.csv", monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        failover_study.run_study(failover_study.QUICK_PLAN, out, progress=lambda _: None)
    monkeypatch.undo()
    assert (out / "runs.csv").read_text() == "an earlier study's runs.csv\n"
    assert sorted(path.name for path in out.rglob("*") if path.is_file()) == ["ckpt.json", "mecefo.json", "runs.csv"]
