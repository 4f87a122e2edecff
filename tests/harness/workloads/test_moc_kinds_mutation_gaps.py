"""Gaps in the tests of `moc_decode` and `moc_throughput` found by a mutation audit.

Closed here:

- both kinds keep at least one channel when K / d_ff rounds to 0;
- the decode rows' k_fraction is 1 for dense and K / d_ff for MoC, and the dense row's speedups are exactly 1
  (the block speedup divides attention + dense FFN by attention + this FFN);
- the throughput kind checkpoints what ``checkpointing`` names.
"""

from __future__ import annotations

import numpy as np

from harness.workloads import moc_decode, moc_throughput
from harness.workloads.base import RunContext


def test_decode_keeps_one_channel_and_dense_speedups_are_one():
    scenario = moc_decode.MoCDecodeScenario.model_validate(
        {"name": "d", "workload": {"d_model": 32, "d_ff": 80, "n_heads": 4, "context": 8,
                                   "k_fractions": [0.001, 0.5], "repeats": 3, "warmup": 1}})
    out = moc_decode.run(scenario, RunContext(seed_seq=np.random.SeedSequence(0)))
    assert out.info["ks"] == [1, 40]  # round(0.08) = 0 -> 1 channel
    ffn = out.metrics[out.metrics["part"] == "ffn"].set_index("k")
    assert list(ffn.index) == [0, 1, 40]
    assert list(ffn["k_fraction"]) == [1.0, 1 / 80, 0.5]
    assert ffn.loc[0, "ffn_speedup"] == 1.0 and ffn.loc[0, "block_speedup"] == 1.0
    for k in (1, 40):  # attention dilutes the FFN's speedup: the block's lies between 1 and the FFN's
        low, high = sorted((1.0, ffn.loc[k, "ffn_speedup"]))
        assert low <= ffn.loc[k, "block_speedup"] <= high


def test_throughput_keeps_one_channel_and_checkpoints_what_it_is_told():
    model = {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 24, "seq_len": 16}
    scenario = moc_throughput.MoCThroughputScenario.model_validate(
        {"name": "t", "workload": {"model": model, "batch_size": 2, "rounds": 1, "warmup": 0, "k_fraction": 0.01,
                                   "checkpointing": "attention"}})
    out = moc_throughput.run(scenario, RunContext(seed_seq=np.random.SeedSequence(0)))
    assert out.info["k"] == 1  # round(0.24) = 0 -> 1 channel
    assert list(out.metrics["checkpointing"]) == ["none", "none", "attention", "attention"]
