"""Gaps in the tests of `training_memory` found by a mutation audit.

Closed here:

- the measured block's parameter bound (4 d^2 + 3 d d_ff + 2 d <= 2**30) at and around its edge;
- subset training counts whole trainable parameters (floor) and whole parameter tensors (ceil) by hand;
- MoC keeps at least one channel, a dense row reports moc_k 0;
- a capacity below one sequence's peak gives largest micro-batch 0; a peak equal to the capacity fits;
- the model column: a preset's name, else d<d_model>.
"""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from harness.models.llama import LlamaDims
from harness.workloads.base import RunContext
from harness.workloads.training_memory import GIB, TrainingMemoryScenario, TrainingMemoryWorkload, run

#: 29,344 parameters: two blocks of 4 d^2 + 3 d f + 2 d = 4096 + 8448 + 64, embedding and head 64 x 32 each, norm 32
TINY = LlamaDims(d_model=32, d_ff=88, n_heads=4, n_layers=2, vocab_size=64)
TINY_PARAMS = 2 * 12_608 + 2 * 2048 + 32


def _row(**workload):
    scenario = TrainingMemoryScenario(name="mem", workload=TrainingMemoryWorkload(**workload))
    return run(scenario, RunContext(seed_seq=np.random.SeedSequence(0))).metrics.iloc[0]


def test_the_measured_block_bound_is_four_d_squared_plus_three_d_dff_plus_two_d():
    # d 16384, d_ff 2: 4 x 2**28 + 98,304 + 32,768 = 2**30 + 131,072 parameters: refused
    with pytest.raises(ValidationError, match="one block holds 1,073,872,896 parameters"):
        TrainingMemoryWorkload(model={"d_model": 16384, "d_ff": 2, "n_heads": 128, "n_layers": 1}, measure=True)
    # d 16382: 4 x 268,369,924 + 98,292 + 32,764 = 1,073,610,752 <= 2**30: accepted
    TrainingMemoryWorkload(model={"d_model": 16382, "d_ff": 2, "n_heads": 8191, "n_layers": 1}, measure=True)


def test_subset_training_counts_whole_parameters_and_whole_tensors():
    row = _row(model=TINY, trainable_fraction=0.3)
    assert row.n_params == TINY_PARAMS == 29_344
    # floor(0.3 x 29,344) = 8803 trainable parameters, ceil(0.3 x 21 tensors) = 7 tensors; bf16, AdamW's two moments
    # per parameter plus 4 bytes per tensor
    assert row.gradients_bytes == 2 * 8803
    assert row.optimizer_states_bytes == 2 * 2 * 8803 + 4 * 7
    assert row.parameters_bytes == 2 * TINY_PARAMS


def test_every_tensor_is_counted_when_training_everything():
    row = _row(model=TINY)
    assert row.optimizer_states_bytes == 2 * 2 * TINY_PARAMS + 4 * (3 + 9 * 2)


def test_moc_keeps_at_least_one_channel_and_dense_reports_zero():
    assert _row(model=TINY, ffn="moc", moc_k_fraction=0.001).moc_k == 1  # round(0.088) = 0 -> 1
    assert _row(model=TINY, ffn="moc", moc_k_fraction=0.25).moc_k == 22
    assert _row(model=TINY).moc_k == 0


def test_a_capacity_below_one_sequence_gives_micro_batch_zero():
    row = _row(model=TINY, capacity_gib=1e-6)  # 1074 bytes: less than the parameters alone
    assert row.max_micro_batch == 0 and not row.fits


def test_a_peak_equal_to_the_capacity_fits():
    peak = int(_row(model=TINY).peak_bytes)
    assert _row(model=TINY, capacity_gib=peak / GIB).fits
    assert not _row(model=TINY, capacity_gib=(peak - 1) / GIB).fits


def test_the_model_column_names_a_preset_or_the_width():
    assert _row(model="llama-60m", seq_len=8).model == "llama-60m"
    assert _row(model=TINY).model == "d32"
