"""Inputs that validated but failed at run time, found by a robustness sweep: each now exits 2 with one line
naming the key, before anything runs where the model can tell, else from the run itself:

- `compressed_dp_step`: `workload.uncompressed` naming a block the model lacks (was silently compressed, exit 0)
- `compressed_training` / `pipeline_training`: an Adam beta outside [0, 1), Nesterov without momentum (torch's
  ValueError traceback when the optimizer was built)
- `compressed_training` digits: a `test_fraction` leaving a side with fewer samples than classes, more workers than
  training samples; text classification with more workers than `n_train` (scikit-learn / sharding tracebacks)
- `compressed_training` tiny GPT: a corpus too short for the workers or the eval window (ValueError traceback)
- `kv_quality`: a budget below 2**-53 (kvpress's assertion traceback: its compression ratio 1 - budget was 1)
- `finetune_memory`: `measure: false` with no `modelled` shape (KeyError traceback on the empty table)
- `frb_cascade` dynamics: a failing rate solve printed numpy's RuntimeWarnings before its one line
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from tests.harness.cli_run import cli

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def run(capsys, tmp_path, scenario: str, *sets: str) -> tuple[int, str]:
    """``harness run`` of a shipped scenario's base point (no sweep, no tune stage) with ``--set`` overrides."""
    argv = ["run", SCENARIOS / scenario, "--out", tmp_path / "runs", "--no-progress",
            "--set", "sweep=null", "--set", "tune=null"]
    for item in sets:
        argv += ["--set", item]
    code, _, err = cli(capsys, *argv)
    return code, err


@pytest.mark.parametrize("block", ["block.12", "block.01"])
def test_an_uncompressed_block_the_model_lacks_is_refused_not_silently_compressed(capsys, tmp_path, block):
    code, err = run(capsys, tmp_path, "compression/dp_compressed.yaml", f"workload.uncompressed=[embed, {block}]")
    assert code == 2
    assert f"workload.uncompressed: no layer '{block}' in a model of 12 blocks (block.0 .. block.11)" in one_line(err)


@pytest.mark.parametrize("scenario", ["arctopk/fig3_logistic.yaml", "tahquant/convergence.yaml"])
def test_an_adam_beta_of_one_is_refused_before_the_optimizer_is_built(capsys, tmp_path, scenario):
    code, err = run(capsys, tmp_path, scenario, "workload.optimizer={name: adamw, lr: 0.01, betas: [0.9, 1.0]}")
    assert code == 2
    assert "workload.optimizer.betas.1: expected a number < 1, got 1.0" in one_line(err)


def test_nesterov_without_momentum_is_refused_before_the_optimizer_is_built(capsys, tmp_path):
    code, err = run(capsys, tmp_path, "arctopk/fig3_logistic.yaml",
                    "workload.optimizer={name: momentum, lr: 0.01, momentum: 0, nesterov: true}")
    assert code == 2
    assert "workload.optimizer.nesterov: Nesterov momentum needs momentum > 0, got momentum 0" in one_line(err)


@pytest.mark.parametrize("sets, message", [
    (["workload.task.test_fraction=0.999999"],
     "workload.task.test_fraction: 0.999999 of the 1797 digits gives 0 training and 1797 test samples; each side "
     "needs at least one per class (10)"),
    (["workload.task.test_fraction=0.005"],
     "workload.task.test_fraction: 0.005 of the 1797 digits gives 1788 training and 9 test samples"),
    (["workload.task.test_fraction=0.5", "workload.n_workers=1000"],
     "workload.n_workers: 1000 workers for 898 digits training samples (test_fraction 0.5); every worker needs at "
     "least one"),
])
def test_a_digits_split_the_data_cannot_give_is_refused(capsys, tmp_path, sets, message):
    code, err = run(capsys, tmp_path, "arctopk/tab2_digits_mlp.yaml", *sets)
    assert code == 2
    assert message in one_line(err)


def test_more_workers_than_text_classification_sequences_is_refused(capsys, tmp_path):
    code, err = run(capsys, tmp_path, "greedylore/text_classification.yaml", "workload.task.n_train=3",
                    "workload.n_workers=4")
    assert code == 2
    assert "workload.n_workers: 4 workers for n_train=3 training sequences; every worker needs at least one" in (
        one_line(err))


@pytest.mark.parametrize("sets, message", [
    (["workload.task.n_sentences=1", "workload.n_workers=8"],
     "workload.task.n_sentences: 1 sentences give 25 tokens, too few for 8 slice(s) of more than seq_len + 1 = 33"),
    (["workload.task.eval_sentences=1", "workload.task.seq_len=8192"],
     "workload.task.eval_sentences: 1 sentences give 43 tokens, no eval window of seq_len 8192"),
])
def test_a_tiny_gpt_corpus_too_short_is_one_line_not_a_traceback(capsys, tmp_path, sets, message):
    code, err = run(capsys, tmp_path, "greedylore/tiny_gpt.yaml", "workload.steps=2", "workload.warmup_steps=0",
                    *sets)
    assert code == 2
    assert one_line(err) == f"error: {message}"


def test_a_kv_budget_too_small_for_one_minus_it_is_refused(capsys, tmp_path):
    code, err = run(capsys, tmp_path, "chelsea/needle.yaml", "workload.budgets=[0.2, 1e-300]")
    assert code == 2
    assert "workload.budgets: every budget must be at least 2**-53 (1.1e-16; below it the baselines' compression " \
           "ratio 1 - budget rounds to 1), got 1e-300" in one_line(err)


def test_finetune_memory_with_nothing_to_measure_or_model_is_refused(capsys, tmp_path):
    code, err = run(capsys, tmp_path, "misa/memory.yaml", "workload.measure=false", "workload.modelled=[]")
    assert code == 2
    assert "workload.modelled: no large shape and measure: false leave no row to compute" in one_line(err)


def test_a_failing_frb_rate_solve_warns_nothing_before_its_one_line(capsys, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code, err = run(capsys, tmp_path, "frb/dynamics.yaml", "workload.radius_cm=1e14", "workload.efolds=200",
                        "workload.horizon_factor=100", "workload.mc_replicas=0")
    assert code == 2
    assert one_line(err).startswith("error: workload: the rate equations cannot be integrated to ")
    assert [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)] == []
