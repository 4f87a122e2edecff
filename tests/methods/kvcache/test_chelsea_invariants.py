"""Invariants of Chelsea's Chunked Soft Matching (methods.kvcache.chelsea), checked with hypothesis."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from methods.kvcache.attention import counted_attention
from methods.kvcache.chelsea import (
    ChelseaParams,
    compress_layer,
    compress_to_budget,
    edges_available,
    match_edges,
    merge_edges,
)

SETTINGS = settings(max_examples=40, deadline=None)


@st.composite
def caches(draw, max_len: int = 72):
    """A random float64 cache (batch, heads, length, d) with integer counts, windows and a target."""
    sink = draw(st.integers(0, 5))
    recent = draw(st.integers(0, 9))
    length = draw(st.integers(max(1, sink + recent), max_len))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), length, draw(st.integers(2, 6)))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    keys = torch.randn(shape, generator=gen, dtype=torch.float64)
    values = torch.randn(shape, generator=gen, dtype=torch.float64)
    counts = torch.randint(1, 5, shape[:-1], generator=gen).to(torch.float64)
    params = ChelseaParams(sink, recent, draw(st.integers(1, 24)))
    target = draw(st.integers(1, length))
    return keys, values, counts, params, target


@SETTINGS
@given(caches())
def test_counts_and_first_moments_are_conserved(case):
    keys, values, counts, params, target = case
    k, v, n = compress_to_budget(keys, values, counts, target, params)
    torch.testing.assert_close(n.sum(-1), counts.sum(-1), rtol=0, atol=0)
    for new, old in ((k, keys), (v, values)):
        torch.testing.assert_close((new * n[..., None]).sum(-2), (old * counts[..., None]).sum(-2))


@SETTINGS
@given(caches())
def test_reaches_target_or_cannot_shrink_further(case):
    keys, values, counts, params, target = case
    k, _, _ = compress_to_budget(keys, values, counts, target, params)
    length = k.shape[-2]
    assert length >= min(target, keys.shape[-2])
    assert length <= target or edges_available(length, params) == 0


@SETTINGS
@given(caches())
def test_protected_regions_unchanged(case):
    keys, values, counts, params, target = case
    k, v, n = compress_to_budget(keys, values, counts, target, params)
    s, r = params.sink_tokens, params.recent_tokens
    for new, old in ((k, keys), (v, values), (n, counts)):
        assert torch.equal(new[:, :, :s], old[:, :, :s])
        if r:
            assert torch.equal(new[:, :, new.shape[2] - r :], old[:, :, old.shape[2] - r :])


@SETTINGS
@given(st.integers(0, 4), st.integers(0, 6), st.integers(1, 12), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_merging_duplicates_is_exact(sink, recent, pairs, half_chunk, seed):
    """Twin entries (same key and value) at offsets 2j, 2j+1 of a chunk merge, and attention does not change."""
    gen = torch.Generator().manual_seed(seed)
    heads, d = 2, 5
    base_k = torch.randn(1, heads, pairs, d, generator=gen, dtype=torch.float64)
    base_v = torch.randn(1, heads, pairs, d, generator=gen, dtype=torch.float64)
    mid_k, mid_v = base_k.repeat_interleave(2, dim=2), base_v.repeat_interleave(2, dim=2)
    edge = lambda n: torch.randn(1, heads, n, d, generator=gen, dtype=torch.float64)  # noqa: E731
    keys = torch.cat([edge(sink), mid_k, edge(recent)], 2)
    values = torch.cat([edge(sink), mid_v, edge(recent)], 2)
    counts = torch.ones(keys.shape[:-1], dtype=torch.float64)
    params = ChelseaParams(sink, recent, 2 * half_chunk)
    k, v, n = compress_to_budget(keys, values, counts, keys.shape[2] - pairs, params)
    assert k.shape[2] == keys.shape[2] - pairs
    torch.testing.assert_close(k[:, :, sink : sink + pairs], base_k, rtol=0, atol=1e-12)
    query = torch.randn(1, 4, 3, d, generator=gen, dtype=torch.float64)
    mask = torch.zeros(1, 1, 3, keys.shape[2], dtype=torch.float64)
    full = counted_attention(query, keys, values, counts, mask)
    merged = counted_attention(query, k, v, n, torch.zeros(1, 1, 3, k.shape[2], dtype=torch.float64))
    torch.testing.assert_close(merged, full, rtol=1e-10, atol=1e-10)


@SETTINGS
@given(caches(), st.integers(0, 2**31 - 1))
def test_matching_is_chunk_local(case, seed):
    keys, _, _, params, _ = case
    flat = keys.reshape(-1, keys.shape[2], keys.shape[3])
    every = edges_available(flat.shape[1], params)
    src, dst, sim = match_edges(flat, every, params)
    s, c = params.sink_tokens, params.chunk_size
    assert torch.equal((src - s) // c, (dst - s) // c)
    assert bool(((src - s) % c % 2 == 0).all()) and bool(((dst - s) % c % 2 == 1).all())
    # changing the keys of one chunk leaves the edges proposed in every other chunk as they were
    middle = flat.shape[1] - params.protected
    if middle < 2:
        return
    chunk = torch.randint(0, (middle + c - 1) // c, (1,), generator=torch.Generator().manual_seed(seed)).item()
    lo, hi = s + chunk * c, min(s + (chunk + 1) * c, s + middle)
    changed = flat.clone()
    changed[:, lo:hi] = torch.randn(changed[:, lo:hi].shape, dtype=changed.dtype)
    src2, dst2, sim2 = match_edges(changed, every, params)
    outside = lambda a, b, w: sorted(  # noqa: E731
        (int(x), int(y), float(z)) for x, y, z in zip(a, b, w) if not lo <= int(x) < hi
    )
    for h in range(flat.shape[0]):
        assert outside(src[h], dst[h], sim[h]) == outside(src2[h], dst2[h], sim2[h])


def _reference_bipartite_pass(keys, values, counts, r, sink, recent):
    """Global bipartite soft matching over the whole middle part of one head, written with Python loops."""
    length = keys.shape[0]
    mid = list(range(sink, length - recent))
    a_set, b_set = mid[0::2], mid[1::2]
    unit = torch.nn.functional.normalize(keys.float(), dim=-1)
    edges = []
    for a in a_set:
        sims = [float(unit[a] @ unit[b]) for b in b_set]
        best = max(range(len(b_set)), key=lambda i: sims[i])
        edges.append((sims[best], a, b_set[best]))
    edges.sort(reverse=True)
    k, v, n = keys.clone(), values.clone(), counts.clone()
    members: dict[int, list[int]] = {}
    for _, a, b in edges[:r]:
        members.setdefault(b, [b]).append(a)
    for b, group in members.items():
        total = sum(float(counts[i]) for i in group)
        k[b] = sum(counts[i] * keys[i] for i in group) / total
        v[b] = sum(counts[i] * values[i] for i in group) / total
        n[b] = total
    gone = {a for _, a, _ in edges[:r]}
    keep = [i for i in range(length) if i not in gone]
    return k[keep], v[keep], n[keep]


@SETTINGS
@given(caches(max_len=40), st.integers(1, 40))
def test_one_chunk_equals_global_bipartite_matching(case, r):
    keys, values, counts, params, _ = case
    if edges_available(keys.shape[2], params) == 0:
        return
    whole = ChelseaParams(params.sink_tokens, params.recent_tokens, chunk_size=keys.shape[2])
    flat = [x.reshape(-1, *x.shape[2:]) for x in (keys, values, counts)]
    r = min(r, edges_available(keys.shape[2], whole))
    src, dst, _ = match_edges(flat[0], r, whole)
    k, v, n = merge_edges(*flat, src, dst)
    for h in range(flat[0].shape[0]):
        rk, rv, rn = _reference_bipartite_pass(flat[0][h], flat[1][h], flat[2][h], r, params.sink_tokens,
                                               params.recent_tokens)
        torch.testing.assert_close(k[h], rk)
        torch.testing.assert_close(v[h], rv)
        torch.testing.assert_close(n[h], rn)


@SETTINGS
@given(caches())
def test_heads_are_compressed_independently(case):
    keys, values, counts, params, target = case
    k, v, n = compress_to_budget(keys, values, counts, target, params)
    for b in range(keys.shape[0]):
        for h in range(keys.shape[1]):
            one = compress_to_budget(keys[b : b + 1, h : h + 1], values[b : b + 1, h : h + 1],
                                     counts[b : b + 1, h : h + 1], target, params)
            for joint, alone in zip((k, v, n), one):
                assert torch.equal(joint[b : b + 1, h : h + 1], alone)


@SETTINGS
@given(caches(), st.data())
def test_outlier_heads_stay_full_and_padding_is_ignored(case, data):
    keys, values, counts, params, target = case
    heads = keys.shape[1]
    outliers = data.draw(st.sets(st.integers(0, heads - 1), max_size=heads))
    k, v, n = compress_layer(keys, values, counts, target, params, outliers)
    assert k.shape == keys.shape if outliers else k.shape[2] <= keys.shape[2]
    rest = [h for h in range(heads) if h not in outliers]
    for h in outliers:
        assert torch.equal(k[:, h], keys[:, h]) and torch.equal(n[:, h], counts[:, h])
    if not rest:
        return
    alone = compress_to_budget(keys[:, rest], values[:, rest], counts[:, rest], target, params)
    s = alone[0].shape[2]
    for got, want in zip((k, v, n), alone):
        assert torch.equal(got[:, rest, :s], want)
    assert bool((n[:, rest, s:] == 0).all())
    query = torch.randn(keys.shape[0], heads, 2, keys.shape[3], dtype=torch.float64)
    padded = counted_attention(query, k, v, n, torch.zeros(1, 1, 2, k.shape[2], dtype=torch.float64))
    if outliers:
        return
    plain = counted_attention(query, *alone, torch.zeros(1, 1, 2, s, dtype=torch.float64))
    torch.testing.assert_close(padded, plain)


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 16, 256])
@pytest.mark.parametrize(("sink", "recent"), [(0, 0), (3, 5), (16, 64)])
def test_edges_available_equals_the_count_over_chunks(chunk, sink, recent):
    params = ChelseaParams(sink, recent, chunk)
    for length in range(0, 700):
        middle = max(0, length - params.protected)
        bounds = [(s, min(s + chunk, middle)) for s in range(0, middle, chunk)]
        assert edges_available(length, params) == sum((e - s + 1) // 2 for s, e in bounds if e - s >= 2)


def test_edges_available_builds_nothing_that_grows_with_the_length():
    """A simulated cost model asks about prompts of millions of tokens; the count is a closed form."""
    import tracemalloc

    tracemalloc.start()
    try:
        assert edges_available(10**8 + 80, ChelseaParams()) == 10**8 // 2
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
