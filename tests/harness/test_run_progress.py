"""Progress of a point run in this process (`RunContext.progress`, `harness.executors.RunBar`): long kinds report
monotonic progress that ends at its total through the API; the default is a no-op; ``harness run`` shows a bar only
when stderr is a terminal, and none with ``--no-progress``."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest

from harness import executors
from harness.api import run_scenario
from harness.cli import main
from harness.config.loader import load_scenario
from harness.workloads.base import RunContext, no_progress

ROOT = Path(__file__).resolve().parents[2]
FFR = ["workload.signal.duration_s=40", "workload.methods=[capacity, soc]"]  # 20 control steps per method
MECEFO_PROBES = ["workload.steps=3", "workload.eval_every=3", "workload.corpus.n_sentences=200",
                 "workload.corpus.eval_sentences=40", "workload.corpus.eval_batches=1",
                 "workload.probes={zero_shot_items: 2, finetune_steps: 2, finetune_train_items: 8, "
                 "finetune_test_items: 4}"]


class Recorder:
    """Stands in for `RunBar`: records every call."""

    made: list[Recorder] = []

    def __init__(self, desc: str):
        self.desc, self.calls, self.closed = desc, [], False
        Recorder.made.append(self)

    def __call__(self, done: int, total: int) -> None:
        self.calls.append((done, total))

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def recorder(monkeypatch):
    Recorder.made = []
    monkeypatch.setattr(executors, "RunBar", Recorder)
    return Recorder


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("path", "overrides", "total"), [
    ("compression/training_digits.yaml", ["workload.steps=6", "workload.n_workers=2", "workload.task.hidden=8",
                                          "workload.warmup_steps=1", "workload.eval_every=3"], 6),
    ("battery/case1.yaml", FFR, 2 * 20),  # control steps of both methods
    ("mecefo/throughput.yaml", ["failures.replicates=2", "failures.horizon_h=10"], 2 * 5),  # replicates x policies
    ("battery/grid_cluster.yaml", ["workload.signal.duration_s=60"], 30),  # the battery's control steps (dt 2 s)
    ("mecefo/training_frequency.yaml", MECEFO_PROBES, 3 + 4 + 4 * 2),  # steps, zero-shot tasks, 4 tasks x 2 steps
], ids=["compressed_training", "ffr_dispatch", "fault_tolerant_training", "grid_cluster", "mecefo_training_probes"])
def test_kinds_report_monotonic_progress_up_to_the_total(recorder, tmp_path, path, overrides, total):
    scenario = load_scenario(ROOT / "scenarios" / path, overrides, check_points=False)
    result = run_scenario(scenario, sweep=False, workers=1, results_root=tmp_path, progress=True, points_bar=False)
    assert not result.runs[0].reused
    (bar,) = recorder.made
    assert bar.desc == scenario.name and bar.closed
    done = [d for d, _ in bar.calls]
    assert {t for _, t in bar.calls} == {total} and done == sorted(done) and done[-1] == total


def test_no_bar_without_progress_and_a_no_op_default(recorder, tmp_path):
    scenario = load_scenario(ROOT / "scenarios" / "battery" / "case1.yaml", FFR, check_points=False)
    run_scenario(scenario, sweep=False, workers=1, results_root=tmp_path, progress=False)
    assert recorder.made == []
    ctx = RunContext(seed_seq=np.random.SeedSequence(0))
    assert ctx.progress is no_progress and ctx.progress(1, 2) is None


def test_run_bar_draws_only_on_a_terminal(monkeypatch):
    for stream, shown in ((io.StringIO(), False), (Terminal(), True)):
        monkeypatch.setattr(sys, "stderr", stream)
        bar = executors.RunBar("demo")
        for done in range(1, 5):
            bar(done, 4)
        bar(1, 3)  # a new phase restarts the bar
        assert (bar.bar.n, bar.bar.total) == ((1, 3) if shown else (0, 3))
        bar.close()
        assert ("demo" in stream.getvalue()) is shown


@pytest.mark.parametrize(("terminal", "flags", "shown"), [
    (False, [], False),  # CI logs, tests: never a bar
    (True, [], True),
    (True, ["--no-progress"], False),
])
def test_harness_run_bar(monkeypatch, capsys, tmp_path, terminal, flags, shown):
    stderr = Terminal() if terminal else sys.stderr
    monkeypatch.setattr(sys, "stderr", stderr)
    sets = [arg for key in FFR for arg in ("--set", key)]
    assert main(["run", str(ROOT / "scenarios" / "battery" / "case1.yaml"), "--out", str(tmp_path), *sets,
                 *flags]) == 0
    text = stderr.getvalue() if terminal else capsys.readouterr().err
    assert ("battery_case1" in text) is shown and ("\r" in text) is shown  # the bar: its name, redrawn in place


@pytest.mark.parametrize(("flags", "shown"), [([], True), (["--no-progress"], False)])
def test_harness_sweep_points_bar_and_no_progress(capsys, tmp_path, flags, shown):
    """The points bar prints wherever stderr goes (as before); ``--no-progress`` leaves it out."""
    assert main(["sweep", str(ROOT / "scenarios" / "collective_ring.yaml"), "--out", str(tmp_path), "--workers", "1",
                 *flags]) == 0
    assert ("point/s" in capsys.readouterr().err) is shown
