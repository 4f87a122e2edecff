"""Gaps in the tests of `layer_table` found by a mutation audit (its only older test went through the
``training_memory`` kind: bf16, the total per token).

- `measure_block`'s bytes per token by hand, in bf16 and fp32, for a dense and a MoC block with each
  checkpointing: the measured total, the analytic total, and the measured attention / ffn / other split.

Per token, d = 16, E = 40, H = 2, K = 8, b bytes per value, 4-byte statistics: attention half (norm input and
statistic, the shared q/k/v input, q k v o and a log-sum-exp per head) 6 d b + 4 + 4 H; dense FFN half (norm,
shared gate/up input, g, SiLU(g), u, the down projection's input) 2 d b + 4 + 4 E b; MoC FFN half 2 d b + 4 + 2 K b
+ 2 K (int16 indices); a checkpointed region keeps its input, d b (``other``).
"""

from __future__ import annotations

import pytest

from methods.memory.analytic import Technique
from methods.memory.layer_table import measure_block

# (attention, ffn dense, ffn MoC K = 8, checkpointed input) bytes per token
HAND = {"bfloat16": (6 * 32 + 12, 2 * 32 + 4 + 160 * 2, 2 * 32 + 4 + 32 + 16, 32),
        "float32": (6 * 64 + 12, 2 * 64 + 4 + 160 * 4, 2 * 64 + 4 + 64 + 16, 64)}


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
@pytest.mark.parametrize("ffn", ["dense", "moc"])
@pytest.mark.parametrize("ckpt", ["none", "attention", "block"])
def test_measured_block_bytes_and_split_by_hand(dtype, ffn, ckpt):
    attention, dense, moc, block_input = HAND[dtype]
    ffn_bytes = dense if ffn == "dense" else moc
    expected = {"none": (attention, ffn_bytes, 0), "attention": (0, ffn_bytes, block_input),
                "block": (0, 0, block_input)}[ckpt]
    out = measure_block(16, 40, 2, Technique(ffn, 8 if ffn == "moc" else None, ckpt), dtype=dtype, tokens=6)
    assert (out["measured_attention_bytes_per_token"], out["measured_ffn_bytes_per_token"],
            out["measured_other_bytes_per_token"]) == expected
    assert out["measured_bytes_per_token"] == out["analytic_bytes_per_token"] == sum(expected)
