"""Gaps in the tests of `methods.kvcache.attention` found by a mutation audit.

- query heads that are not a multiple of the kv heads are refused by name;
- the log-count bias is computed in float32 before a cast to a low-precision dtype.
"""

from __future__ import annotations

import math

import pytest
import torch

from methods.kvcache.attention import counted_attention, log_count_bias


def test_query_heads_not_a_multiple_of_kv_heads_are_refused():
    q, k = torch.zeros(1, 3, 1, 4), torch.zeros(1, 2, 5, 4)
    with pytest.raises(ValueError, match=r"query heads \(3\) must be a multiple of kv heads \(2\)"):
        counted_attention(q, k, k, torch.ones(1, 2, 5))


def test_the_log_count_bias_is_taken_in_float32_before_a_bfloat16_cast():
    # 257 is not a bfloat16 number (it rounds to 256): its log must come from the float32 count
    bias = log_count_bias(torch.tensor([[[257.0, 1.0]]]), 2, torch.bfloat16)
    expected = torch.tensor([math.log(257.0), 0.0]).to(torch.bfloat16)
    assert bias.shape == (1, 2, 1, 2) and bias.dtype == torch.bfloat16
    assert torch.equal(bias[0, 0, 0], expected) and torch.equal(bias[0, 1, 0], expected)
    assert expected[0] != torch.tensor(math.log(256.0)).to(torch.bfloat16)
