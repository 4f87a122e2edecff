"""Gaps in the tests of `moc_decode` found by a mutation audit.

Closed here:

- a d_model that does not split into n_heads heads is refused;
- K = f x d_ff is rounded to the nearest channel (0.07 x 80 = 5.6 -> 6), not truncated;
- the run's info reports the dtype it ran in (bfloat16).
"""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from harness.workloads import moc_decode
from harness.workloads.base import RunContext


def test_d_model_must_split_into_the_heads():
    with pytest.raises(ValidationError, match="n_heads"):
        moc_decode.MoCDecodeWorkload(d_model=30, n_heads=4)


def test_k_is_rounded_to_the_nearest_channel_and_info_keeps_the_dtype():
    scenario = moc_decode.MoCDecodeScenario.model_validate(
        {"name": "d", "workload": {"d_model": 32, "d_ff": 80, "n_heads": 4, "context": 8, "dtype": "bfloat16",
                                   "k_fractions": [0.07], "repeats": 2, "warmup": 0}})
    out = moc_decode.run(scenario, RunContext(seed_seq=np.random.SeedSequence(0)))
    assert out.info["ks"] == [6]
    assert out.info["dtype"] == "bfloat16"
    ffn = out.metrics[(out.metrics["part"] == "ffn") & (out.metrics["impl"] == "moc")]
    assert ffn["k"].tolist() == [6] and ffn["k_fraction"].tolist() == pytest.approx([6 / 80])
