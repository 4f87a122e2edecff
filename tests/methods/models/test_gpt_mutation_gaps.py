"""Gaps in the tests of `gpt` found by a mutation audit (after the one closed in `test_models_mutation_gaps`).

- `TinyLlama` refuses a width that does not split into the heads, even where the quotient's head size is even;
- each block rotates both its queries and its keys (the rotation itself is checked in `test_models_mutation_gaps`).
"""

from __future__ import annotations

import pytest
import torch

from methods.models import gpt
from methods.models.gpt import TinyLlama


def test_a_width_that_does_not_split_into_the_heads_is_refused():
    with pytest.raises(ValueError, match="d_model=36 must split into n_heads=8 heads of even size"):
        TinyLlama(vocab_size=10, d_model=36, n_heads=8)  # 36 // 8 = 4 is even, but 36 % 8 = 4


def test_rotary_embedding_is_applied_to_both_queries_and_keys(monkeypatch):
    model = TinyLlama(vocab_size=10, d_model=8, n_layers=1, n_heads=2, d_ff=16, max_seq_len=4, seed=0)
    tokens = torch.tensor([[1, 2, 3]])
    block = model.layers[0]
    with torch.no_grad():
        q, k, _ = block.qkv(block.attn_norm(model.embed_tokens(tokens))).split(8, dim=-1)
    heads = [t.reshape(1, 3, 2, 4).transpose(1, 2) for t in (q, k)]  # [B, H, T, D]
    seen = []
    real = gpt.apply_rope
    monkeypatch.setattr(gpt, "apply_rope", lambda x, cos, sin: seen.append(x.detach().clone()) or real(x, cos, sin))
    with torch.no_grad():
        model(tokens)
    assert len(seen) == 2
    for got, want in zip(seen, heads, strict=True):
        torch.testing.assert_close(got, want)
