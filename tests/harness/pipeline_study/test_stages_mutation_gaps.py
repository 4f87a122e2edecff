"""Gaps in the tests of `stages` found by a mutation audit.

Closed here:

- ``build_stage`` refuses a stage index below 0 or at ``n_stages``;
- ``Stage.is_last`` holds on the last stage only;
- ``make_dataset`` draws tokens from the whole vocabulary (the top id too), never outside it.
"""

from __future__ import annotations

import pytest
import torch

from harness.pipeline_study.plan import ModelSpec
from harness.pipeline_study.stages import build_stage, make_dataset

MODEL = ModelSpec(d_model=16, d_ff=32, n_heads=2, n_layers=3, vocab_size=20)


@pytest.mark.parametrize("stage", [-1, 3])
def test_build_stage_refuses_an_index_outside_the_stages(stage):
    with pytest.raises(ValueError, match=r"expected 0\.\.2"):
        build_stage(MODEL, 3, stage, 8, seed=0)


def test_only_the_last_stage_is_last():
    assert [build_stage(MODEL, 3, s, 8, seed=0).is_last for s in range(3)] == [False, False, True]
    assert build_stage(MODEL, 1, 0, 8, seed=0).is_last


def test_dataset_uses_the_whole_vocabulary():
    data = make_dataset(64, 8, 2, seed=0)
    assert data.dtype == torch.int64
    assert set(data.unique().tolist()) == {0, 1}  # 64 x 8 fair draws of {0, 1}: both appear
