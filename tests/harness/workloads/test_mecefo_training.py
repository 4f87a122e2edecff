"""Scenario kind ``mecefo_training`` (harness/workloads/mecefo_training.py): the scenario files load, bad input is
one line naming the key (exit 2 through the CLI), a run gives tidy rows with measured errors and the neighbour's
measured cost, deterministic for a seed."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.config.loader import load_scenario
from harness.errors import ScenarioError
from harness.workloads.base import RunContext
from harness.workloads.mecefo_training import MeCeFOTrainingScenario, run

ROOT = Path(__file__).parents[3]
SCENARIOS = sorted((ROOT / "scenarios" / "mecefo").glob("training_*.yaml"))
TINY = {"model": {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 24, "seq_len": 16},
        "corpus": {"n_sentences": 200, "eval_sentences": 40, "eval_batches": 1}, "n_ranks": 3, "batch_size": 2,
        "steps": 6, "eval_every": 3, "record_every": 2}


def _run(seed: int = 0, **workload):
    scenario = MeCeFOTrainingScenario.model_validate({"name": "m", "workload": {**TINY, **workload}})
    return run(scenario, RunContext(seed_seq=np.random.SeedSequence(seed)))


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_scenario_files_load(path):
    loaded = load_scenario(path)
    assert isinstance(loaded, MeCeFOTrainingScenario) and loaded.kind == "mecefo_training"


@pytest.mark.parametrize(("override", "key"), [
    ("workload.n_ranks=1", "workload.n_ranks"),
    ("workload.failures.interval_steps=0", "workload.failures.interval_steps"),
    ("workload.failures.repair_steps=4", "workload.failures"),
    ('workload.failures.outages=[{rank: 9, start: 0, end: 3}]', "failures.outages.0.rank"),
    ('workload.failures.outages=[{rank: 0, start: 3, end: 3}]', "workload.failures.outages.0"),
    ("workload.failures.outages=[{rank: 0, start: 0, end: 5}, {rank: 1, start: 4, end: 6}, "
     "{rank: 2, start: 0, end: 9}, {rank: 3, start: 4, end: 5}]",
     "workload.failures.outages: all 4 ranks are down at step 4"),
    ("workload.everywhere=skip_mlp", "workload.everywhere"),
    ("workload.model.n_heads=3", "workload.model"),
])
def test_bad_input_names_the_key(override, key):
    with pytest.raises(ScenarioError, match=key.replace(".", r"\.")):
        load_scenario(ROOT / "scenarios/mecefo/training_skip.yaml", [override], check_points=False)  # base point


def test_an_interval_below_the_floor_names_the_key_and_the_floor():
    """1e-9 steps between failures drew ~10^9 arrivals for 4 steps (minutes, unbounded); refused at validation."""
    with pytest.raises(ScenarioError, match=r"workload\.failures\.interval_steps: .*0\.01") as err:
        load_scenario(ROOT / "scenarios/mecefo/training_error.yaml", ["workload.failures.interval_steps=1e-9"],
                      check_points=False)
    assert len(err.value.problems) == 1
    load_scenario(ROOT / "scenarios/mecefo/training_error.yaml", ["workload.failures.interval_steps=0.01"],
                  check_points=False)


@pytest.mark.parametrize(("corpus", "seq_len", "key"), [({"n_sentences": 1}, 16, "workload.corpus.n_sentences"),
                                                       ({"eval_sentences": 1}, 64, "workload.corpus.eval_sentences")])
def test_a_corpus_too_short_for_a_sequence_names_its_key(corpus, seq_len, key):
    """Schema-valid but the drawn sentences hold fewer characters than one sequence per rank: one line naming the
    size key (it was a ValueError traceback from the corpus slicer)."""
    with pytest.raises(ScenarioError, match=key.replace(".", r"\.") + ": 1 sentences give") as err:
        _run(corpus={**TINY["corpus"], **corpus}, model={**TINY["model"], "seq_len": seq_len})
    assert len(err.value.problems) == 1


def test_cli_exits_2_with_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", "scenarios/mecefo/training_skip.yaml",
                             "--set", "workload.n_ranks=1", "--out", str(tmp_path)], cwd=ROOT, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 2
    assert "workload.n_ranks" in result.stderr


def test_run_with_failures_rows_errors_and_cost():
    output = _run(failures={"outages": [{"rank": 2, "start": 1, "end": 4}]}, cost_repeats=2)
    frame = output.metrics
    assert list(frame.columns) == ["step", "loss", "eval_loss", "n_failed", "n_neighbours", "n_dropped",
                                   "grad_rel_error"]
    assert frame["step"].tolist() == [0, 1, 2, 3, 4, 5]  # every second step plus measured and evaluation steps
    measured = frame.dropna(subset=["grad_rel_error"])
    assert measured["step"].tolist() == [1, 2, 3] and (measured["grad_rel_error"] > 0).all()
    assert not math.isnan(frame["eval_loss"].iloc[-1]) and np.isfinite(frame["loss"]).all()
    cost = output.info["neighbour_cost"]
    assert cost["neighbour_activation_bytes"] < cost["normal_activation_bytes"] * 2
    assert output.info["failure_steps"] == 3 and output.info["outages"] == [[2, 1, 4]]


def test_deterministic_for_a_seed_and_seeds_differ():
    a, b, c = _run(0), _run(0), _run(1)
    assert a.metrics.equals(b.metrics)
    assert not a.metrics["loss"].equals(c.metrics["loss"])


def test_process_failures_and_skip_study():
    output = _run(failures={"interval_steps": 2, "repair_steps": 2}, everywhere="skip_ffn")
    assert output.info["outages"] and (output.metrics["n_failed"] > 0).any()
