"""Scenario kinds ``moc_training``, ``moc_decode`` and ``moc_throughput`` (harness/workloads/moc_*.py): the scenario
files load, bad input is one line naming the key (exit 2 through the CLI), runs give tidy rows and the info the
figures read, deterministic for a seed apart from timings."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.config.loader import load_scenario
from harness.errors import ScenarioError
from harness.workloads import moc_decode, moc_throughput, moc_training
from harness.workloads.base import RunContext

ROOT = Path(__file__).parents[3]
TINY = {"model": {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 24, "seq_len": 16},
        "corpus": {"n_sentences": 200, "eval_sentences": 40, "eval_batches": 1}, "batch_size": 2, "steps": 6,
        "warmup_steps": 1, "eval_every": 3, "record_every": 2}


def _train(seed: int = 0, **workload):
    scenario = moc_training.MoCTrainingScenario.model_validate({"name": "m", "workload": {**TINY, **workload}})
    return moc_training.run(scenario, RunContext(seed_seq=np.random.SeedSequence(seed)))


@pytest.mark.parametrize(("name", "cls"), [("training.yaml", moc_training.MoCTrainingScenario),
                                          ("decode.yaml", moc_decode.MoCDecodeScenario),
                                          ("throughput.yaml", moc_throughput.MoCThroughputScenario)])
def test_scenario_files_load(name, cls):
    assert type(load_scenario(ROOT / "scenarios" / "moc" / name)) is cls


@pytest.mark.parametrize(("path", "override", "key"), [
    ("training.yaml", "workload.selection=abs_up", "workload.selection: 'abs_up' needs ffn: moc"),
    ("training.yaml", "workload.warmup_steps=900", "warmup_steps"),
    ("training.yaml", "workload.k_fraction=0", "workload.k_fraction"),
    ("training.yaml", "workload.model.n_heads=3", "workload.model"),
    ("decode.yaml", "workload.k_fractions=[0.5, 2]", "k_fractions"),
    ("decode.yaml", "workload.dtype=int8", "workload.dtype"),
    ("throughput.yaml", "workload.checkpointing=none", "workload.checkpointing"),
])
def test_bad_input_names_the_key(path, override, key):
    with pytest.raises(ScenarioError, match=key.replace(".", r"\.").replace("(", r"\(")):
        load_scenario(ROOT / "scenarios" / "moc" / path, [override, "sweep={}"])


def test_cli_exits_2_with_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", "scenarios/moc/decode.yaml", "--set",
                             "workload.k_fractions=[0]", "--out", str(tmp_path)], cwd=ROOT, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 2
    assert "k_fractions" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_training_run_rows_info_and_determinism():
    out = _train(ffn="moc", k_fraction=0.25)
    assert list(out.metrics.columns) == ["step", "tokens", "lr", "loss", "eval_loss"]
    assert list(out.metrics["step"]) == [2, 3, 4, 6]
    info = out.info
    assert info["k"] == 6 and info["ffn"] == "moc" and info["selection"] == "gate"
    assert info["final_eval_loss"] == out.metrics["eval_loss"].iloc[-1]
    assert math.isclose(info["final_eval_ppl"], math.exp(info["final_eval_loss"]))
    assert info["memory"]["saved_bytes_per_token"] == info["memory"]["analytic_saved_bytes_per_token"]
    assert info["tokens_per_s"] > 0
    again = _train(ffn="moc", k_fraction=0.25)
    assert again.metrics["loss"].tolist() == out.metrics["loss"].tolist()


def test_selection_arms_share_init_and_data_but_differ():
    gate, random = _train(ffn="moc", k_fraction=0.25), _train(ffn="moc", k_fraction=0.25, selection="random")
    assert random.info["memory"]["analytic_saved_bytes_per_token"] is None
    assert gate.metrics["loss"].iloc[0] != random.metrics["loss"].iloc[0]
    dense, full = _train(), _train(ffn="moc", k_fraction=1.0)
    assert np.allclose(dense.metrics["loss"], full.metrics["loss"], atol=1e-5)  # K = d_ff is dense


def test_decode_run_speedups_follow_times():
    scenario = moc_decode.MoCDecodeScenario.model_validate(
        {"name": "d", "workload": {"d_model": 32, "d_ff": 80, "n_heads": 4, "context": 8,
                                   "k_fractions": [0.125, 1.0], "repeats": 3, "warmup": 1}})
    out = moc_decode.run(scenario, RunContext(seed_seq=np.random.SeedSequence(0))).metrics
    ffn = out[out["part"] == "ffn"].set_index("k")
    assert list(ffn.index) == [0, 10, 80]
    dense = ffn.loc[0, "time_ms_median"]
    assert np.allclose(ffn["ffn_speedup"], dense / ffn["time_ms_median"])
    assert math.isclose(ffn.loc[10, "bytes_ratio"], 1 / 3 + 2 * 10 / (3 * 80))
    assert math.isnan(out.loc[out["part"] == "attention", "block_speedup"].iloc[0])


def test_throughput_run_relative_to_dense():
    scenario = moc_throughput.MoCThroughputScenario.model_validate(
        {"name": "t", "workload": {"model": TINY["model"], "batch_size": 2, "rounds": 2, "warmup": 0}})
    out = moc_throughput.run(scenario, RunContext(seed_seq=np.random.SeedSequence(0))).metrics
    assert list(out["variant"]) == ["dense", "moc", "dense+ckpt", "moc+ckpt"]
    assert out.loc[0, "relative_throughput"] == 1.0
    assert np.allclose(out["relative_throughput"], out["tokens_per_s"] / out.loc[0, "tokens_per_s"])
