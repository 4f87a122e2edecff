"""Inputs that validated but failed at run time, found by a robustness sweep: each now exits 2 with one line
naming the key (or the file's line and column), before anything runs where the model can tell:

- `compressed_training`: `workload.warmup_steps >= workload.steps` with a compressor (every step ran dense, yet the
  rows carried the compressor's name); still allowed for the dense `none` method
- `pipeline_training`: a forward or backward codec on `workload.n_stages: 1` (nothing sent, 0 bytes, rows labelled
  with the codec)
- `decision_latency`: `workload.control.rate_hz` below 1e-3 (OverflowError traceback: the tick period in ns was
  infinite, or wrapped int64 over many ticks)
- `harness sweep --workers 1` (or one point left to run): a point's error did not say which point (a pool's did)
- `harness timings import vidur-network`: a bad value in the second or later collective's rows named the wrong line;
  a bad `num_workers` was reported as column `n_ranks`, which the file does not have
"""

from __future__ import annotations

import pytest

from tests.harness.cli_run import cli
from tests.harness.test_run_time_inputs_audit import SCENARIOS, one_line, run


@pytest.mark.parametrize("warmup", [2, 3])
def test_a_warmup_covering_every_step_is_refused_for_a_compressor(capsys, tmp_path, warmup):
    code, err = run(capsys, tmp_path, "arctopk/fig3_logistic.yaml", "workload.steps=2",
                    f"workload.warmup_steps={warmup}", "technique={name: topk, params: {ratio: 0.2}}")
    assert code == 2
    assert (f"workload.warmup_steps: {warmup} dense warm-up steps of 2 leave no step compressed by 'topk'; use fewer "
            "than workload.steps (or technique.name: none for a dense run)") in one_line(err)


def test_a_warmup_covering_every_step_still_runs_the_dense_method(capsys, tmp_path):
    argv = ["run", SCENARIOS / "arctopk/fig3_logistic.yaml", "--out", tmp_path / "runs", "--no-progress",
            "--set", "sweep=null", "--set", "tune=null", "--set", "workload.steps=2",
            "--set", "workload.warmup_steps=2", "--set", "workload.task.n_samples=800"]
    code, out, err = cli(capsys, *argv)
    assert code == 0, err
    assert out.splitlines()[0].startswith("arctopk_fig3_logistic: computed; results in ")


DECISION_LATENCY = """\
name: audit
kind: decision_latency
workload:
  control: {ticks: 10}
"""


def test_a_control_rate_too_low_for_the_nanosecond_clock_is_refused(capsys, tmp_path):
    scenario = tmp_path / "latency.yaml"
    scenario.write_text(DECISION_LATENCY)
    code, _, err = cli(capsys, "run", scenario, "--out", tmp_path / "runs", "--no-progress",
                       "--set", "workload.control.rate_hz=1e-300")
    assert code == 2
    assert "workload.control.rate_hz: expected a number >= 0.001, got 1e-300" in one_line(err)


SWEEP = """\
name: audit_sweep
kind: moc_training
workload:
  model: {d_model: 32, n_layers: 1, n_heads: 2, d_ff: 64, seq_len: 8}
  corpus: {n_sentences: 200, eval_sentences: 50, eval_batches: 1}
  steps: 2
  warmup_steps: 1
  measure_memory: false
sweep:
  product:
    workload.model.seq_len: [8, 4096]
"""


def test_a_point_failing_in_process_names_the_point_and_keeps_the_finished_one(capsys, tmp_path):
    scenario = tmp_path / "sweep.yaml"
    scenario.write_text(SWEEP)
    code, _, err = cli(capsys, "sweep", scenario, "--out", tmp_path / "runs", "--no-progress", "--workers", "1")
    assert code == 2
    assert one_line(err).startswith("error: sweep point 2 (workload.model.seq_len=4096): "
                                    "workload.corpus.eval_sentences: 50 sentences give")
    assert len(list((tmp_path / "runs").rglob("metrics.csv"))) == 1


VIDUR_HEADER = (",time_stats.all_reduce.min,time_stats.all_reduce.max,time_stats.all_reduce.median,"
                "time_stats.all_gather.min,time_stats.all_gather.max,time_stats.all_gather.median,"
                "num_workers,size,collective,devices_per_node\n")


def vidur_import(capsys, tmp_path, rows: str) -> tuple[int, str]:
    path = tmp_path / "net.csv"
    path.write_text(VIDUR_HEADER + rows)
    code, _, err = cli(capsys, "timings", "import", "vidur-network", path, "--device", "imp", "--out", tmp_path / "t")
    assert not (tmp_path / "t").exists()
    return code, err.replace(str(path), "net.csv")


def test_a_bad_vidur_value_after_another_collectives_rows_names_its_own_line(capsys, tmp_path):
    code, err = vidur_import(capsys, tmp_path, "0,0.01,0.02,0.012,,,,4,2048,all_reduce,4\n"
                                               "1,0.03,0.05,0.041,,,,4,65536,all_reduce,4\n"
                                               "2,,,,0.03,0.05,nan,4,65536,all_gather,4\n")
    assert code == 2
    assert one_line(err) == "error: net.csv: line 4: column time_stats.all_gather.median: not a finite number: 'nan'"


@pytest.mark.parametrize("workers", ["0", "2.5"])
def test_a_bad_vidur_worker_count_names_the_num_workers_column_not_n_ranks(capsys, tmp_path, workers):
    code, err = vidur_import(capsys, tmp_path, "0,,,,0.03,0.05,0.04,4,65536,all_gather,4\n"
                                               f"1,0.01,0.02,0.012,,,,{workers},2048,all_reduce,4\n")
    assert code == 2
    assert one_line(err) == f"error: net.csv: line 3: column num_workers: expected a whole number >= 1, got '{workers}'"


@pytest.mark.parametrize("side, codec", [("forward", "{name: aqsgd, params: {bits: 4}}"),
                                         ("backward", "{name: fixpoint, params: {bits: 6}}")])
def test_a_codec_on_a_single_stage_pipeline_is_refused(capsys, tmp_path, side, codec):
    code, err = run(capsys, tmp_path, "tahquant/convergence.yaml", "workload.steps=2", "workload.n_train=16",
                    "workload.eval_windows=2", "workload.n_stages=1", f"workload.{side}={codec}")
    name = codec.split(",")[0].removeprefix("{name: ")
    assert code == 2
    assert (f"workload.n_stages: one stage sends nothing between stages, so {side}: {name} would compress nothing; "
            "use n_stages >= 2 (or codec none)") in one_line(err)
