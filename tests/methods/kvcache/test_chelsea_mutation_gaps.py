"""Gaps found by a mutation audit of methods/kvcache/chelsea.py and attention.py: the budget rule's floor and
minimum of one entry, the shapes of an empty matching, the length the online trigger watches when outlier heads
keep every entry, re-compressing a padded layer, `counts_for_length` cutting longer stored counts, boolean masks,
GQA counts and the scale against a loop reference, the refusals of `compress_layer` and `ChelseaParams`, and the
key `windows_problem` blames."""

from __future__ import annotations

import pytest
import torch

from methods.kvcache.attention import counted_attention, counts_for_length
from methods.kvcache.chelsea import (
    ChelseaParams,
    budget_tokens,
    check_budget,
    compress_layer,
    compress_to_budget,
    match_edges,
    real_length,
    windows_problem,
)


@pytest.mark.parametrize(("budget", "prompt", "decode", "expected"), [
    (0.2, 100, 0, 20), (0.3, 10, 5, 4), (0.25, 7, 0, 1), (0.5, 3, 1, 2), (1.0, 9, 0, 9),
    (0.01, 10, 0, 1),  # 0.1 entries rounds down to none: the budget is still one entry
    (0.2, 0, 0, 1), (0.05, 100, 0, 5),  # any ratio above 0 is a valid budget
])
def test_budget_is_the_floor_of_ratio_times_tokens_and_at_least_one(budget, prompt, decode, expected):
    assert budget_tokens(budget, prompt, decode) == expected


def test_a_cache_without_a_middle_part_proposes_no_edges():
    keys = torch.randn(3, 10, 4)
    src, dst, sim = match_edges(keys, 5, ChelseaParams(sink_tokens=4, recent_tokens=5, chunk_size=8))
    assert src.shape == dst.shape == sim.shape == (3, 0)


def test_real_length_counts_the_compressed_heads_entries_only():
    counts = torch.tensor([[[1.0, 1, 1, 1, 1, 1],  # outlier head: every entry kept
                            [3.0, 2, 1, 0, 0, 0],  # compressed heads: three real entries, then padding
                            [2.0, 2, 2, 0, 0, 0]]])
    assert real_length(counts, [0]) == 3
    assert real_length(counts, []) == 6
    assert real_length(counts, [0, 1, 2]) == 6  # nothing compressed: the whole cache
    batch = torch.tensor([[[1.0, 1, 0, 0]], [[1.0, 1, 1, 0]]])
    assert real_length(batch, []) == 3  # the longest row of the batch decides


def test_compress_layer_refuses_outlier_heads_outside_the_layer_and_stray_padding():
    keys, values = torch.randn(1, 2, 12, 4), torch.randn(1, 2, 12, 4)
    counts = torch.ones(1, 2, 12)
    params = ChelseaParams(sink_tokens=2, recent_tokens=2, chunk_size=4)
    for bad in ([2], [-1]):
        with pytest.raises(ValueError, match="outlier_heads"):
            compress_layer(keys, values, counts, 6, params, bad)
    padded = counts.clone()
    padded[0, 1, -1] = 0.0  # one count-0 slot in a layer without outlier heads
    with pytest.raises(ValueError, match="count-0"):
        compress_layer(keys, values, padded, 6, params)


def test_counts_for_length_cuts_longer_stored_counts_and_appends_ones():
    stored = torch.tensor([[[3.0, 1.0, 2.0, 4.0, 1.0]], [[2.0, 2.0, 1.0, 1.0, 5.0]]])  # (batch 2, 1 head, 5)
    assert torch.equal(counts_for_length(stored, 2, 1, 3, stored.device), stored[..., :3])
    assert torch.equal(counts_for_length(stored, 2, 1, 5, stored.device), stored)
    longer = counts_for_length(stored, 2, 1, 7, stored.device)
    assert torch.equal(longer[..., :5], stored) and bool(longer[..., 5:].eq(1).all())
    assert torch.equal(counts_for_length(None, 2, 3, 4, stored.device), torch.ones(2, 3, 4))


def test_recompressing_a_padded_layer_merges_only_the_real_entries():
    """The online rule compresses a layer again after decode steps; count-0 padding must stay out of the merge."""
    gen = torch.Generator().manual_seed(11)
    keys = torch.randn(1, 3, 40, 4, generator=gen, dtype=torch.float64)
    values = torch.randn(1, 3, 40, 4, generator=gen, dtype=torch.float64)
    counts = torch.ones(1, 3, 40, dtype=torch.float64)
    params = ChelseaParams(sink_tokens=2, recent_tokens=4, chunk_size=8)
    k1, v1, n1 = compress_layer(keys, values, counts, 20, params, [1])
    k2, v2, n2 = compress_layer(k1, v1, n1, 12, params, [1])
    for h in (0, 2):
        real = n2[0, h] > 0
        assert int(real.sum()) == 12 and bool(real[:12].all())  # the real entries first, then padding
        assert float(n2[0, h].sum()) == 40.0  # every original token still accounted for
        assert torch.isfinite(k2[0, h]).all() and torch.isfinite(v2[0, h]).all()
        # the same as compressing the first pass's real entries on their own
        alone = compress_to_budget(k1[:, h:h + 1, :20], v1[:, h:h + 1, :20], n1[:, h:h + 1, :20], 12, params)
        for got, want in zip((k2[:, h:h + 1, :12], v2[:, h:h + 1, :12], n2[:, h:h + 1, :12]), alone):
            torch.testing.assert_close(got, want)
    assert torch.equal(k2[0, 1], keys[0, 1]) and torch.equal(n2[0, 1], counts[0, 1])


def test_compress_layer_refuses_compressed_heads_of_different_lengths():
    keys, values = torch.randn(1, 3, 12, 4), torch.randn(1, 3, 12, 4)
    counts = torch.ones(1, 3, 12)
    counts[0, 0, -2:] = 0.0  # head 0 holds 10 real entries, head 2 holds 12
    with pytest.raises(ValueError, match="different numbers"):
        compress_layer(keys, values, counts, 6, ChelseaParams(sink_tokens=2, recent_tokens=2, chunk_size=4), [1])


def test_a_boolean_mask_means_true_is_attended():
    gen = torch.Generator().manual_seed(2)
    query = torch.randn(1, 2, 2, 4, generator=gen)
    keys, values = torch.randn(1, 1, 5, 4, generator=gen), torch.randn(1, 1, 5, 4, generator=gen)
    counts = torch.tensor([[[1.0, 2.0, 1.0, 3.0, 1.0]]])
    allowed = torch.tensor([[[[True, True, False, True, False], [True, False, True, True, True]]]])
    got = counted_attention(query, keys, values, counts, allowed)
    for i, row in enumerate(allowed[0, 0]):
        keep = row.nonzero().flatten()
        want = counted_attention(query[:, :, i:i + 1], keys[:, :, keep], values[:, :, keep], counts[:, :, keep],
                                 torch.zeros(1, 1, 1, len(keep)))
        torch.testing.assert_close(got[:, :, i:i + 1], want)


def _reference_attention(query, keys, values, counts, scale):
    """softmax(q.k * scale + log n) v with an explicit loop over query heads (query head h reads kv head
    h // group)."""
    group = query.shape[1] // keys.shape[1]
    out = torch.empty_like(query)
    for b in range(query.shape[0]):
        for h in range(query.shape[1]):
            kv = h // group
            scores = query[b, h] @ keys[b, kv].T * scale + counts[b, kv].log()
            out[b, h] = torch.softmax(scores, -1) @ values[b, kv]
    return out


def test_gqa_groups_read_their_own_kv_heads_counts_and_the_scale_is_used():
    gen = torch.Generator().manual_seed(4)
    query = torch.randn(2, 6, 3, 4, generator=gen, dtype=torch.float64)  # 3 kv heads, groups of 2
    keys = torch.randn(2, 3, 5, 4, generator=gen, dtype=torch.float64)
    values = torch.randn(2, 3, 5, 4, generator=gen, dtype=torch.float64)
    counts = torch.randint(1, 6, (2, 3, 5), generator=gen).to(torch.float64)  # different per kv head
    mask = torch.zeros(1, 1, 3, 5, dtype=torch.float64)
    for scale in (None, 0.3):
        want = _reference_attention(query, keys, values, counts, 0.5 if scale is None else scale)
        torch.testing.assert_close(counted_attention(query, keys, values, counts, mask, scaling=scale), want)


@pytest.mark.parametrize(("field", "value"), [
    ("sink_tokens", True), ("sink_tokens", 1.5), ("sink_tokens", -1), ("recent_tokens", False),
    ("recent_tokens", 2.0), ("chunk_size", True), ("chunk_size", 2.5), ("chunk_size", 0),
])
def test_params_refuse_booleans_fractions_and_out_of_range_values(field, value):
    with pytest.raises(ValueError, match=field):
        ChelseaParams(**{field: value})


@pytest.mark.parametrize(("sink", "recent", "shortest", "blamed"), [
    (16, 64, 80, None),  # exactly fits
    (4, 16, 20, None),
    (16, 70, 80, "recent_tokens"),  # the context holds the default windows: blame the raised window
    (16, 64, 79, "context_tokens"),  # not even the default windows fit: blame the context
    (26, 74, 90, "recent_tokens"),  # both raised by 10: recent on a tie
    (40, 64, 100, "sink_tokens"),
    (17, 90, 100, "recent_tokens"),
])
def test_windows_problem_blames_the_right_key(sink, recent, shortest, blamed):
    message = windows_problem(sink, recent, shortest, "context_tokens")
    if blamed is None:
        assert message is None
    else:
        assert message.startswith(f"{blamed}: ")


def test_check_budget_accepts_exactly_the_half_open_unit_interval():
    assert check_budget(1.0) == 1.0 and check_budget(1e-9) == 1e-9 and check_budget(0.05) == 0.05
    for bad in (0.0, 1.05, -0.5):
        with pytest.raises(ValueError, match="budget"):
            check_budget(bad)


def test_a_pass_that_removes_fewer_entries_than_it_merged_fails_instead_of_looping(monkeypatch):
    from methods.kvcache import chelsea

    monkeypatch.setattr(chelsea, "soft_matching_pass", lambda k, v, n, r, params: (k, v, n))  # removes nothing
    keys = torch.randn(1, 256, 4, generator=torch.Generator().manual_seed(0))
    with pytest.raises(RuntimeError, match="removed 0, not"):
        chelsea.compress_to_budget(keys, keys.clone(), torch.ones(1, 256), 100, chelsea.ChelseaParams())
