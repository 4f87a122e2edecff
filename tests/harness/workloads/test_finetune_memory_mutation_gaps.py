"""Gaps in the tests of `finetune_memory` found by a mutation audit.

Closed here (modelled rows only, ``measure: false``, except the one measured MISA row):

- full AdamW on LLaMA-2-7B by hand: 6,738,415,616 parameters, bf16 weights and gradients, fp32 masters (4 bytes)
  and two fp32 moments (8 bytes) per parameter;
- saved activations scale with the micro-batch and the sequence length, one row per ``seq_lens`` entry;
- MISA is modelled once per budget of ``delta`` and ``deltas`` (sorted, each row carrying its own delta), and
  ``deltas`` accepts 1 and refuses 0;
- GaLore has no modelled row; ``measure: false`` measures nothing;
- the measured MISA finetuner trains at the scenario's ``delta``; measured weights are fp32.
"""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from harness.workloads.base import RunContext
from harness.workloads.finetune_memory import FinetuneMemoryScenario, FinetuneMemoryWorkload, run

LLAMA2_7B_PARAMS = 6_738_415_616  # meta-llama/Llama-2-7b-hf


def _metrics(**workload):
    scenario = FinetuneMemoryScenario(name="ftm", workload=FinetuneMemoryWorkload(**workload))
    return run(scenario, RunContext(seed_seq=np.random.SeedSequence(0))).metrics


def test_full_adamw_on_llama2_7b_by_hand():
    m = _metrics(methods=["adamw"], measure=False, modelled=["llama2-7b"])
    row = m.iloc[0]
    assert len(m) == 1 and row.source == "modelled" and row.model == "llama2-7b"
    assert row.parameters == row.trainable_params == LLAMA2_7B_PARAMS
    assert row.weights_bytes == row.gradient_bytes == 2 * LLAMA2_7B_PARAMS
    assert row.master_bytes == 4 * LLAMA2_7B_PARAMS
    assert row.optimizer_state_bytes == 8 * LLAMA2_7B_PARAMS
    assert row.trainable_share == 1.0


def test_saved_activations_scale_with_micro_batch_and_sequence_length():
    one = _metrics(methods=["adamw"], measure=False, modelled=["llama2-7b"], seq_lens=[1024, 2048])
    two = _metrics(methods=["adamw"], measure=False, modelled=["llama2-7b"], seq_lens=[1024], micro_batch=2)
    assert list(one["seq_len"]) == [1024, 2048]
    short, long = one["saved_activation_bytes"]
    assert long == 2 * short > 0
    assert two["saved_activation_bytes"].iloc[0] == 2 * short
    static = 16 * LLAMA2_7B_PARAMS  # weights, gradients, masters and moments: 2 + 2 + 4 + 8 bytes per parameter
    assert list(one["step_peak_bytes"]) == [static + short, static + long]


def test_misa_is_modelled_once_per_budget_with_its_own_delta():
    m = _metrics(methods=["misa", "adamw"], measure=False, modelled=["llama2-7b"], delta=0.03, deltas=[0.05, 0.01])
    misa = m[m["method"] == "misa"]
    assert list(misa["delta"]) == [0.01, 0.03, 0.05]
    # floor(delta x 6,738,415,616)
    assert list(misa["trainable_params"]) == [67_384_156, 202_152_468, 336_920_780]
    assert list(m.loc[m["method"] == "adamw", "delta"]) == [0.03]


def test_deltas_accept_one_and_refuse_zero():
    assert FinetuneMemoryWorkload(deltas=[1.0]).deltas == [1.0]
    with pytest.raises(ValidationError, match=r"deltas.0: expected a share in \(0, 1\], got 0"):
        FinetuneMemoryWorkload(deltas=[0.0])


def test_galore_has_no_modelled_row_and_nothing_is_measured_unless_asked():
    m = _metrics(methods=["galore", "adamw"], measure=False, modelled=["llama3-8b"])
    assert list(m["method"]) == ["adamw"] and set(m["source"]) == {"modelled"}


def test_the_measured_misa_finetuner_trains_at_the_scenario_delta():
    m = _metrics(methods=["misa"], steps=1, modelled=[], delta=0.5, batch=1, seq_len=8,
                 model={"d_model": 16, "d_ff": 32, "n_heads": 2, "n_layers": 2, "vocab_size": 32})
    row = m.iloc[0]
    assert row.source == "measured" and row.delta == 0.5
    # two blocks of 4 x 16^2 + 3 x 16 x 32 + 2 x 16 = 2592, embedding and head 32 x 16 each, final norm 16; fp32
    assert row.parameters == 2 * 2592 + 2 * 512 + 16 == 6224
    assert row.weights_bytes == 4 * 6224
    assert 0.25 < row.trainable_share <= 0.5  # 3072 of 6224 parameters; the default budget would train ~3 %
