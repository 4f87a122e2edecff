"""Gaps in the tests of `finetune_memory` found by a mutation audit.

Closed here (round 2), on the modelled LLaMA-2-7B (6,738,415,616 parameters, its published count):

- LoRA is modelled (only DoRA and GaLore have no formula) and its rows carry the model's parameters, not its
  trainable ones;
- a MISA row at a further budget in ``deltas`` prices its static bytes and activations at that budget:
  static bytes = 2 P (bf16 weights) + 14 per trainable parameter (bf16 gradient, fp32 master, two fp32 moments);
- ``trainable_share`` is per row: full AdamW trains all of each model.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.workloads import finetune_memory as fm
from harness.workloads.base import RunContext

LLAMA2_7B_PARAMETERS = 6_738_415_616


def _run(**workload):
    scenario = fm.FinetuneMemoryScenario.model_validate({"name": "t", "workload": {"measure": False, **workload}})
    return fm.run(scenario, RunContext(seed_seq=np.random.SeedSequence(0))).metrics


def test_lora_is_modelled_and_dora_and_galore_are_not():
    m = _run(methods=["lora", "dora", "galore"], modelled=["llama2-7b"])
    assert m["method"].tolist() == ["lora"]
    row = m.iloc[0]
    assert row["parameters"] == LLAMA2_7B_PARAMETERS
    assert 0 < row["trainable_params"] < LLAMA2_7B_PARAMETERS * 0.01
    assert row["trainable_share"] == pytest.approx(row["trainable_params"] / LLAMA2_7B_PARAMETERS)


def test_a_further_misa_budget_is_priced_at_that_budget():
    from methods.misa.memory import LLAMA2_7B, activation_bytes_per_token

    m = _run(methods=["misa"], modelled=["llama2-7b"], delta=0.03, deltas=[0.1], seq_lens=[512], micro_batch=2)
    by_delta = m.set_index("delta")
    assert sorted(by_delta.index) == [0.03, 0.1]
    for delta, row in by_delta.iterrows():
        static = row["step_peak_bytes"] - row["saved_activation_bytes"]
        assert static == 2 * LLAMA2_7B_PARAMETERS + 14 * row["trainable_params"]
        assert row["gradient_bytes"] == 2 * row["trainable_params"]
        assert row["saved_activation_bytes"] == activation_bytes_per_token("misa", LLAMA2_7B, delta) * 512 * 2
    assert by_delta.loc[0.1, "trainable_params"] > 3 * by_delta.loc[0.03, "trainable_params"]


def test_full_adamw_trains_all_of_every_model():
    m = _run(methods=["adamw"], modelled=["llama2-7b", "llama3-8b"])
    assert m["trainable_share"].tolist() == [1.0, 1.0]
    assert m.loc[m["model"] == "llama2-7b", "parameters"].item() == LLAMA2_7B_PARAMETERS
