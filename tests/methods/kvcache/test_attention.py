"""The log-count attention bias (methods.kvcache.attention): expansion equivalence, padding, GQA."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from methods.kvcache.attention import chelsea_attention_forward, counted_attention, counts_for_length

SETTINGS = settings(max_examples=40, deadline=None)


@SETTINGS
@given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 3), st.integers(1, 12), st.integers(1, 4),
       st.integers(0, 2**31 - 1))
def test_merged_cache_with_log_count_bias_equals_expanded_cache(batch, kv_heads, groups, entries, q_len, seed):
    gen = torch.Generator().manual_seed(seed)
    d = 4
    keys = torch.randn(batch, kv_heads, entries, d, generator=gen, dtype=torch.float64)
    values = torch.randn(batch, kv_heads, entries, d, generator=gen, dtype=torch.float64)
    reps = torch.randint(1, 5, (entries,), generator=gen)
    counts = reps.to(torch.float64).expand(batch, kv_heads, entries)
    query = torch.randn(batch, kv_heads * groups, q_len, d, generator=gen, dtype=torch.float64)
    merged = counted_attention(query, keys, values, counts, torch.zeros(1, 1, q_len, entries, dtype=torch.float64))
    wide_k, wide_v = keys.repeat_interleave(reps, dim=2), values.repeat_interleave(reps, dim=2)
    ones = torch.ones(wide_k.shape[:-1], dtype=torch.float64)
    expanded = counted_attention(query, wide_k, wide_v, ones, torch.zeros(1, 1, q_len, wide_k.shape[2],
                                                                              dtype=torch.float64))
    torch.testing.assert_close(merged, expanded, rtol=1e-10, atol=1e-10)
    # without the bias the merged cache is a different attention (the test can tell them apart)
    if reps.unique().numel() > 1:  # equal counts shift every score alike and change nothing
        plain = counted_attention(query, keys, values, torch.ones_like(counts),
                                  torch.zeros(1, 1, q_len, entries, dtype=torch.float64))
        assert not torch.allclose(plain, expanded, rtol=1e-6, atol=1e-6)


def test_count_zero_slots_are_ignored_and_causal_mask_is_aligned_to_the_end():
    gen = torch.Generator().manual_seed(3)
    keys, values = torch.randn(1, 1, 6, 4, generator=gen), torch.randn(1, 1, 6, 4, generator=gen)
    query = torch.randn(1, 2, 3, 4, generator=gen)
    counts = torch.tensor([[[2.0, 1.0, 0.0, 0.0, 1.0, 1.0]]])
    keep = [0, 1, 4, 5]
    padded = counted_attention(query, keys, values, counts)
    dense = counted_attention(query, keys[:, :, keep], values[:, :, keep], counts[:, :, keep])
    torch.testing.assert_close(padded, dense)
    # the last query sees everything; the first sees all but the two newest entries
    ref = torch.nn.functional.scaled_dot_product_attention(
        query[:, :, :1], keys[:, :, [0, 1]].expand(1, 2, 2, 4), values[:, :, [0, 1]].expand(1, 2, 2, 4),
        attn_mask=torch.log(torch.tensor([[[[2.0, 1.0]]]])),
    )
    torch.testing.assert_close(padded[:, :, :1], ref)


def test_transformers_signature_reads_counts_from_the_module_and_treats_new_entries_as_ones():
    gen = torch.Generator().manual_seed(5)
    module = torch.nn.Module()
    keys, values = torch.randn(1, 2, 5, 4, generator=gen), torch.randn(1, 2, 5, 4, generator=gen)
    query = torch.randn(1, 4, 1, 4, generator=gen)
    module.chelsea_counts = torch.tensor([[[3.0, 1.0, 2.0], [1.0, 1.0, 4.0]]])
    out, weights = chelsea_attention_forward(module, query, keys, values, None, scaling=0.5)
    counts = counts_for_length(module.chelsea_counts, 1, 2, 5, keys.device)
    assert counts[0, :, 3:].eq(1).all()
    torch.testing.assert_close(out, counted_attention(query, keys, values, counts, scaling=0.5).transpose(1, 2))
    assert weights is None and out.shape == (1, 1, 4, 4)
