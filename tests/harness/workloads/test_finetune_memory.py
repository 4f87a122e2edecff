"""Scenario kind ``finetune_memory``: measured rows for the small model, modelled rows at 7B/8B, MISA below its
baselines in optimizer state, bad keys one line."""

from __future__ import annotations

import numpy as np
import pytest

from harness.config.loader import load_scenario
from harness.errors import ScenarioError
from harness.workloads.base import RunContext
from harness.workloads.finetune_memory import FinetuneMemoryScenario, FinetuneMemoryWorkload, run


def test_rows_and_misa_below_its_baselines():
    pytest.importorskip("badam")
    workload = FinetuneMemoryWorkload(methods=["adamw", "misa", "lisa", "badam"], steps=2,
                                      model={"d_model": 32, "d_ff": 64, "n_heads": 2, "n_layers": 4,
                                             "vocab_size": 64}, batch=2, seq_len=16, delta=0.1)
    out = run(FinetuneMemoryScenario(name="ftm", workload=workload), RunContext(seed_seq=np.random.SeedSequence(0)))
    m = out.metrics.set_index(["source", "model", "method"])
    assert len(m) == 4 + 2 * 4
    small = m.loc[("measured", "small")]
    assert (small.optimizer_state_bytes + small.master_bytes).idxmin() == "misa"
    assert small.loc["misa", "trainable_share"] <= 0.1
    assert small.loc["misa", "saved_activation_bytes"] <= small.loc["adamw", "saved_activation_bytes"]
    big = m.loc[("modelled", "llama3-8b")]
    assert big.loc["misa", "optimizer_state_bytes"] < big.loc["lisa", "optimizer_state_bytes"]
    static = big.loc["misa", ["weights_bytes", "gradient_bytes", "optimizer_state_bytes", "master_bytes"]].sum()
    assert big.loc["misa", "step_peak_bytes"] == static + big.loc["misa", "saved_activation_bytes"] > static


def test_bad_keys_are_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nkind: finetune_memory\nworkload:\n  methods: [sgdx]\n")
    with pytest.raises(ScenarioError, match="workload.methods"):
        load_scenario(path)
    path.write_text("name: x\nkind: finetune_memory\nworkload:\n  model: {d_model: 30, n_heads: 4}\n")
    with pytest.raises(ScenarioError, match="workload.model"):
        load_scenario(path)


def test_the_peak_leaves_out_the_token_ids_the_saved_bytes_count():
    """``saved_activation_bytes`` counts the batch's token ids (kept by the embedding and the loss, resident before
    the step), ``step_peak_bytes`` only what the step allocates: at tiny widths the peak can be the smaller one,
    never by more than the ids' bytes (the fuzz case: DoRA and GaLore on a 6-wide one-layer model)."""
    pytest.importorskip("peft")
    pytest.importorskip("galore_torch")
    workload = FinetuneMemoryWorkload(methods=["dora", "galore", "adamw", "lora"], steps=1, modelled=[],
                                      model={"d_model": 6, "d_ff": 1, "n_heads": 3, "n_layers": 1})
    out = run(FinetuneMemoryScenario(name="ftm", workload=workload), RunContext(seed_seq=np.random.SeedSequence(0)))
    m = out.metrics.set_index("method")
    ids = workload.batch * workload.seq_len * 8  # int64 ids, also the targets (one storage)
    assert (m["step_peak_bytes"] >= m["saved_activation_bytes"] - ids).all()
    assert (m["step_peak_bytes"] < m["saved_activation_bytes"]).any()  # the bases differ: not a measuring error
