"""Scenario kind ``training_memory``: the modelled peak adds up, fits / largest micro-batch agree with the capacity,
MoC and checkpointing lower activations, the measured block equals the analytic one, bad keys are one line."""

from __future__ import annotations

import numpy as np
import pytest

from harness.config.loader import load_scenario
from harness.errors import ScenarioError
from harness.models.llama import LlamaDims
from harness.workloads.base import RunContext
from harness.workloads.training_memory import GIB, TrainingMemoryScenario, TrainingMemoryWorkload, run

TINY = LlamaDims(d_model=32, d_ff=88, n_heads=4, n_layers=2, vocab_size=64)


def _row(**workload):
    scenario = TrainingMemoryScenario(name="mem", workload=TrainingMemoryWorkload(**workload))
    return run(scenario, RunContext(seed_seq=np.random.SeedSequence(0))).metrics.iloc[0]


def test_peak_adds_up_and_the_largest_micro_batch_is_the_boundary():
    row = _row(model="llama-1b", micro_batch=16, seq_len=256, capacity_gib=40.0)
    head_grad = 32000 * 2048 * 2  # the LM head's bf16 gradient
    running = row.activation_bytes + row.backward_working_set_bytes + head_grad
    assert running > row.gradients_bytes  # at 16 x 256 tokens the start of backward is the peak
    assert row.peak_bytes == row.parameters_bytes + row.optimizer_states_bytes + running
    small = _row(model="llama-1b", micro_batch=1, seq_len=8)  # few tokens: all gradients are the peak
    assert small.peak_bytes == small.parameters_bytes + small.optimizer_states_bytes + small.gradients_bytes
    assert row.activation_bytes == (row.activation_attention_bytes + row.activation_ffn_bytes
                                    + row.activation_other_bytes)
    best = int(row.max_micro_batch)
    assert _row(model="llama-1b", micro_batch=best, seq_len=256, capacity_gib=40.0).fits
    assert not _row(model="llama-1b", micro_batch=best + 1, seq_len=256, capacity_gib=40.0).fits
    assert row.fits == (row.peak_bytes <= 40.0 * GIB)


def test_moc_and_checkpointing_lower_activations_and_raise_the_micro_batch():
    dense = _row(model="llama-7b", ffn="dense")
    moc = _row(model="llama-7b", ffn="moc", moc_k_fraction=0.125)
    ckpt = _row(model="llama-7b", ffn="dense", checkpointing="block")
    assert moc.moc_k == 1376 and moc.activation_ffn_bytes < dense.activation_ffn_bytes
    assert moc.activation_attention_bytes == dense.activation_attention_bytes
    assert ckpt.activation_bytes < moc.activation_bytes < dense.activation_bytes
    assert moc.max_micro_batch >= dense.max_micro_batch and ckpt.max_micro_batch >= dense.max_micro_batch


def test_subset_training_shrinks_gradients_and_states_only():
    full, part = _row(model="llama-130m"), _row(model="llama-130m", trainable_fraction=0.03)
    assert part.parameters_bytes == full.parameters_bytes
    assert part.gradients_bytes == pytest.approx(0.03 * full.gradients_bytes, rel=1e-6)
    assert part.optimizer_states_bytes < 0.04 * full.optimizer_states_bytes
    assert _row(model="llama-130m", optimizer="sgd").optimizer_states_bytes == 0


@pytest.mark.parametrize("ffn,ckpt", [("dense", "none"), ("moc", "attention"), ("moc", "block")])
def test_measured_block_equals_analytic(ffn, ckpt):
    row = _row(model=TINY, ffn=ffn, checkpointing=ckpt, dtype="bfloat16", measure=True, measure_tokens=12)
    assert row.measured_block_bytes_per_token == row.analytic_block_bytes_per_token > 0


def test_bad_keys_are_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nkind: training_memory\nworkload:\n  model: llama-3b\n")
    with pytest.raises(ScenarioError, match="workload.model"):
        load_scenario(path)
    path.write_text("name: x\nkind: training_memory\nworkload:\n  moc_k_fraction: 1.5\n")
    with pytest.raises(ScenarioError, match="workload.moc_k_fraction"):
        load_scenario(path)


@pytest.mark.parametrize(("overrides", "message"), [
    (["workload.model={d_model: 2, d_ff: 2, n_heads: 2, n_layers: 1}"], "heads of even size"),
    (["workload.model={d_model: 65536, d_ff: 2, n_heads: 2, n_layers: 1}"], "parameters, more than"),
])
def test_measure_refuses_a_block_it_cannot_build_naming_the_model(tmp_path, overrides, message):
    path = tmp_path / "s.yaml"
    path.write_text("name: t\nkind: training_memory\nworkload:\n  measure: true\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path, overrides)
    line = str(err.value)
    assert "workload.model: " in line and message in line and f"(set by --set {overrides[0]})" in line
    load_scenario(path, [*overrides, "workload.measure=false"])  # only the measured block needs them


def test_measure_refuses_activations_beyond_its_bound(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: t\nkind: training_memory\nworkload:\n  measure: true\n"
                    "  model: {d_model: 2048, d_ff: 100000, n_heads: 16, n_layers: 1}\n")
    with pytest.raises(ScenarioError, match=r"workload\.measure_tokens: .*more than 4 GiB"):
        load_scenario(path, ["workload.measure_tokens=8192"])
    load_scenario(path, ["workload.measure_tokens=1024"])
