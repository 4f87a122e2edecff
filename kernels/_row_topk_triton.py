"""Triton kernels of `kernels.row_topk` (imported lazily: only when a Triton path runs).

Exact Top-K of a row without a sort. Each float maps to an order-preserving uint32 key; the K-th largest key is
found, then the kept columns (keys above it, plus the lowest-index ties) are compacted with prefix sums, so the
indices come out ascending. Two ways to find the K-th largest key:

* `row_topk_kernel` (many rows: one program per row): a 32-step bitwise binary search, each step one
  block-wide count over the row held in registers;
* `row_histogram_kernel` + `select_from_histogram_kernel` (few wide rows, e.g. one decode token): many programs
  count the keys' top 12 bits into a 4096-bin histogram with atomics (the MoC gate GEMV does this in its
  epilogue), then one program per row reads the histogram to find the bin holding the K-th largest key, copies
  that bin's few candidates into a small scratch buffer and searches only their 20 low bits, two bits per step
  (three counts packed in one int32 reduction). A single program's 32 full-row steps cost ~11 us on an H100
  (issue slots plus one cross-warp barrier per step); this path does ~1 full-row pass and 10 short steps.
  If the bin holds more than CAP - 1 keys (massive ties), the search runs over the full row instead.

For bf16 values (held as fp32) a third way needs no candidate search at all: a bf16 value's key is its top 16
bits (the low 16 are constant), so two histograms, 256 bins over the key's top 8 bits and 65536 over its top 16,
give the k-th largest value exactly from two 256-bin scans (`add_to_bf16_histograms`, `bf16_threshold`; the MoC
bf16 decode uses them, and any number of programs can derive the threshold in parallel).
"""

from __future__ import annotations

import triton
import triton.language as tl

#: histogram bins over the top 12 bits of the key, and how many low bits remain to search (constexpr globals:
#: the only kind a Triton kernel may read)
NBINS = tl.constexpr(4096)
LOW_BITS = tl.constexpr(20)
LOW_MASK = tl.constexpr((1 << 20) - 1)
#: scratch lanes for the candidates of one bin (bins holding more fall back to a full-row search)
CAP = 1024
#: bf16 histograms of one row: 256 coarse bins (key bits 31-24), then 65536 fine bins (key bits 31-16)
BF16_COARSE = tl.constexpr(256)
BF16_HIST_BINS = tl.constexpr(256 + 65536)


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
    belong to the top k (the ones with the lowest indices). 32 steps of one block-wide count each."""
    key = tl.where(valid, key, 0)
    thr = tl.zeros((), tl.uint32)
    for b in tl.static_range(31, -1, -1):
        cand = thr | (1 << b)
        count = tl.sum((key >= cand).to(tl.int32), axis=0)
        thr = tl.where(count >= k, cand, thr)
    n_above = tl.sum((key > thr).to(tl.int32), axis=0)  # masked lanes hold key 0, never above
    return thr, k - n_above


@triton.jit
def _kth_largest_small(v, k, BITS: tl.constexpr):
    """k-th largest of non-negative ints ``v`` < 2^BITS (BITS even; at most 1023 lanes nonzero-relevant: the three
    counts of a two-bit step are packed into one int32, 10 bits each); masked lanes must hold a value that never
    reaches the candidates (callers pass lanes with v = -1, i.e. int32)."""
    thr = tl.zeros((), tl.int32)
    for b in tl.static_range(BITS - 2, -1, -2):
        c1 = thr | (1 << b)
        c2 = thr | (2 << b)
        c3 = thr | (3 << b)
        packed = (v >= c1).to(tl.int32) + ((v >= c2).to(tl.int32) << 10) + ((v >= c3).to(tl.int32) << 20)
        counts = tl.sum(packed, axis=0)
        n1 = counts & 0x3FF
        n2 = (counts >> 10) & 0x3FF
        n3 = counts >> 20
        thr = tl.where(n3 >= k, c3, tl.where(n2 >= k, c2, tl.where(n1 >= k, c1, thr)))
    return thr


@triton.jit
def _compact_store(g_row, val_out, idx_out, n_cols, thr, ties_kept, CHUNK: tl.constexpr):
    """Store the columns with key > thr plus the first ``ties_kept`` with key == thr, ascending."""
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
        tl.store(idx_out + slot, c.to(idx_out.dtype.element_ty), mask=sel)
        tl.store(val_out + slot, g, mask=sel)
        base += tl.sum(sel.to(tl.int32), axis=0)
        ties_before += tl.sum(tie.to(tl.int32), axis=0)


@triton.jit
def row_topk_kernel(g_ptr, val_ptr, idx_ptr, n_cols, k, stride_g, stride_out, BLOCK: tl.constexpr,
                    CHUNK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    g_row = g_ptr + row * stride_g
    cols = tl.arange(0, BLOCK)
    valid = cols < n_cols
    key = order_key(tl.load(g_row + cols, mask=valid, other=0.0).to(tl.float32))
    thr, ties_kept = kth_largest_key(key, valid, k)
    _compact_store(g_row, val_ptr + row * stride_out, idx_ptr + row * stride_out, n_cols, thr, ties_kept, CHUNK)


@triton.jit
def add_to_histogram(hist_row, g, mask):
    """Count the float32 values ``g`` (where ``mask``) into the 4096-bin histogram of their keys' top 12 bits."""
    bins = (order_key(g) >> LOW_BITS).to(tl.int32)
    tl.atomic_add(hist_row + bins, 1, mask=mask, sem="relaxed")


@triton.jit
def row_histogram_kernel(g_ptr, hist_ptr, n_cols, stride_g, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    ok = cols < n_cols
    g = tl.load(g_ptr + row * stride_g + cols, mask=ok, other=0.0).to(tl.float32)
    add_to_histogram(hist_ptr + row * NBINS, g, ok)


@triton.jit
def select_from_histogram_kernel(g_ptr, hist_ptr, scratch_ptr, val_ptr, idx_ptr, n_cols, k, stride_g, stride_out,
                                 BLOCK: tl.constexpr, CAP: tl.constexpr, CHUNK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    g_row = g_ptr + row * stride_g
    # 1. the bin holding the k-th largest key, how many keys lie above it, how many are in it
    bins = tl.arange(0, NBINS)
    h = tl.load(hist_ptr + row * NBINS + bins)
    at_or_above = tl.sum(h, axis=0) - tl.cumsum(h, axis=0) + h  # keys in bins >= b
    top_bin = tl.max(tl.where(at_or_above >= k, bins, -1), axis=0)
    above = tl.sum(tl.where(bins > top_bin, h, 0), axis=0)
    n_cand = tl.sum(tl.where(bins == top_bin, h, 0), axis=0)
    need = k - above  # the k-th largest is the need-th largest candidate
    # 2. candidates: keys in that bin; the search is over their low 20 bits
    cols = tl.arange(0, BLOCK)
    valid = cols < n_cols
    key = order_key(tl.load(g_row + cols, mask=valid, other=0.0).to(tl.float32))
    cand = valid & ((key >> LOW_BITS).to(tl.int32) == top_bin)
    low = (key & LOW_MASK).to(tl.int32)
    if n_cand < CAP:  # usual case: copy the few candidates out and search them alone
        slot = tl.cumsum(cand.to(tl.int32), axis=0) - 1
        scratch = scratch_ptr + row * CAP
        tl.store(scratch + slot, low, mask=cand)
        tl.debug_barrier()  # the stores above are read back by other threads of this program
        lanes = tl.arange(0, CAP)
        small = tl.load(scratch + lanes, mask=lanes < n_cand, other=-1, cache_modifier=".cg")
        low_thr = _kth_largest_small(small, need, LOW_BITS)
    else:  # massive ties: search the low bits over the whole row
        low_thr = _kth_largest_small_wide(tl.where(cand, low, -1), need, LOW_BITS)
    thr = (top_bin.to(tl.uint32) << LOW_BITS) | low_thr.to(tl.uint32)
    n_above = above + tl.sum((cand & (low > low_thr)).to(tl.int32), axis=0)
    ties_kept = k - n_above
    if CHUNK == BLOCK:  # rows up to 16K: compact from the keys already in registers, one prefix sum
        tie = valid & (key == thr)
        if tl.sum(tie.to(tl.int32), axis=0) == ties_kept:  # usual case: every key equal to thr is kept
            sel = (valid & (key > thr)) | tie
        else:
            sel = (valid & (key > thr)) | (tie & (tl.cumsum(tie.to(tl.int32), axis=0) <= ties_kept))
        slot = tl.cumsum(sel.to(tl.int32), axis=0) - 1
        g = tl.load(g_row + cols, mask=sel, other=0.0)  # cache hits
        tl.store(idx_ptr + row * stride_out + slot, cols.to(idx_ptr.dtype.element_ty), mask=sel)
        tl.store(val_ptr + row * stride_out + slot, g, mask=sel)
    else:  # wider rows: a chunked second pass keeps the prefix sums narrow (no register spills)
        _compact_store(g_row, val_ptr + row * stride_out, idx_ptr + row * stride_out, n_cols, thr, ties_kept, CHUNK)


@triton.jit
def _kth_largest_small_wide(v, k, BITS: tl.constexpr):
    """As `_kth_largest_small` for any number of lanes (one bit and one int32 count per step)."""
    thr = tl.zeros((), tl.int32)
    for b in tl.static_range(BITS - 1, -1, -1):
        c = thr | (1 << b)
        thr = tl.where(tl.sum((v >= c).to(tl.int32), axis=0) >= k, c, thr)
    return thr


@triton.jit
def bf16_key(g):
    """int32 in [0, 65536): the order of bf16 values held as fp32 ``g`` (their order keys' top 16 bits)."""
    return (order_key(g) >> 16).to(tl.int32)


@triton.jit
def add_to_bf16_histograms(hist_row, g, mask):
    """Count the bf16 values ``g`` (held as fp32; where ``mask``) into the row's coarse and fine histograms."""
    key = bf16_key(g)
    tl.atomic_add(hist_row + (key >> 8), 1, mask=mask, sem="relaxed")
    tl.atomic_add(hist_row + BF16_COARSE + key, 1, mask=mask, sem="relaxed")


@triton.jit
def bf16_threshold(hist_row, k):
    """(key, above, equal) of the k-th largest bf16 value of a row, from its `add_to_bf16_histograms` counts:
    its `bf16_key`, how many values are larger and how many equal it. Two 256-bin scans: the coarse bin holding
    the k-th largest, then that bin's 256 fine bins."""
    bins = tl.arange(0, BF16_COARSE)
    coarse = tl.load(hist_row + bins)
    at_or_above = tl.sum(coarse, axis=0) - tl.cumsum(coarse, axis=0) + coarse
    top = tl.max(tl.where(at_or_above >= k, bins, -1), axis=0)
    above = tl.sum(tl.where(bins > top, coarse, 0), axis=0)
    fine = tl.load(hist_row + BF16_COARSE + top * BF16_COARSE + bins)
    at_or_above = above + tl.sum(fine, axis=0) - tl.cumsum(fine, axis=0) + fine
    low = tl.max(tl.where(at_or_above >= k, bins, -1), axis=0)
    above += tl.sum(tl.where(bins > low, fine, 0), axis=0)
    equal = tl.sum(tl.where(bins == low, fine, 0), axis=0)
    return top * BF16_COARSE + low, above, equal
