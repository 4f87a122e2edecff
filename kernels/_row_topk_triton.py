"""Triton kernels of `kernels.row_topk` (imported lazily: only when a Triton path runs).

Exact Top-K of one row by one program, without a sort:
1. map each float to an order-preserving uint32 key and hold the row's keys in registers;
2. find the K-th largest key by a 32-step bitwise binary search (each step one block-wide count);
3. walk the row again in chunks (cache hits), keep the keys above that threshold plus the lowest-index ties,
   and compact the kept columns with a per-chunk prefix sum plus a running offset, so they come out ascending.
The chunked second pass keeps the prefix sums narrow (a full-row scan spills registers at 16K columns).
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def order_key(g):
    """uint32 key with the order of the float32 values ``g`` (-0.0 is mapped to +0.0 first)."""
    g = tl.where(g == 0.0, 0.0, g)
    bits = g.to(tl.uint32, bitcast=True)
    flip = tl.where((bits >> 31) != 0, 0xFFFFFFFF, 0x80000000)
    return bits ^ flip


@triton.jit
def kth_largest_key(key, valid, k):
    """(threshold key, ties to keep): the k-th largest key among ``valid`` lanes and how many lanes equal to it
    belong to the top k (the ones with the lowest indices)."""
    key = tl.where(valid, key, 0)
    thr = tl.zeros((), tl.uint32)
    for b in tl.static_range(31, -1, -1):
        cand = thr | (1 << b)
        count = tl.sum((key >= cand).to(tl.int32), axis=0)
        thr = tl.where(count >= k, cand, thr)
    n_above = tl.sum((key > thr).to(tl.int32), axis=0)  # masked lanes hold key 0, never above
    return thr, k - n_above


@triton.jit
def row_topk_kernel(g_ptr, val_ptr, idx_ptr, n_cols, k, stride_g, stride_out, BLOCK: tl.constexpr,
                    CHUNK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    g_row = g_ptr + row * stride_g
    cols = tl.arange(0, BLOCK)
    valid = cols < n_cols
    key = order_key(tl.load(g_row + cols, mask=valid, other=0.0).to(tl.float32))
    thr, ties_kept = kth_largest_key(key, valid, k)
    base = 0
    ties_before = 0
    for start in range(0, n_cols, CHUNK):
        c = start + tl.arange(0, CHUNK)
        ok = c < n_cols
        g = tl.load(g_row + c, mask=ok, other=0.0)
        kc = order_key(g.to(tl.float32))
        tie = (kc == thr) & ok
        tie_rank = ties_before + tl.cumsum(tie.to(tl.int32), axis=0)
        sel = ((kc > thr) & ok) | (tie & (tie_rank <= ties_kept))
        slot = base + tl.cumsum(sel.to(tl.int32), axis=0) - 1
        tl.store(idx_ptr + row * stride_out + slot, c.to(idx_ptr.dtype.element_ty), mask=sel)
        tl.store(val_ptr + row * stride_out + slot, g, mask=sel)
        base += tl.sum(sel.to(tl.int32), axis=0)
        ties_before += tl.sum(tie.to(tl.int32), axis=0)
