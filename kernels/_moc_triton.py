"""Triton kernels of `kernels.moc` (imported lazily: only when a Triton path runs).

Decode (per token, memory-bound GEMVs; weights streamed once with evict-first so x, g and h stay in L2):
  `gate_gemv_kernel`      g = W_g x accumulated in fp32 and rounded to x's dtype (all E rows: the gate ranks every
                          channel, in the compute dtype as training does), kept in an fp32 buffer, and in its
                          epilogue the histogram of g's order keys that the selection starts from (bf16: the two
                          exact bf16 histograms; fp16 / fp32: 4096 bins over the keys' top 12 bits)
  bf16: `select_up_kernel` many programs per token, each deriving the exact Top-K threshold from the histograms,
                          compacting the chosen channels of its own range of E and running their up GEMVs:
                          h_c = SiLU(g_c) * (W_u[I_c] . x) (no single-program selection on the critical path)
  fp16 / fp32: exact row Top-K of g (`kernels._row_topk_triton.select_from_histogram_kernel`), then
  `up_gather_kernel`      h_c = SiLU(g_c) * (W_u[I_c] . x) for the K selected rows, split over selected channels
  `down_partial_kernel`   partial y = sum_c h_c W_dT[I_c, cols], split over (column block, channel range)
  `finalize_kernel`       y = sum of the partials, cast to the output dtype (no atomics: deterministic)
Training (one program per token row):
  `train_forward_kernel`  Top-K of the row's gate, dense h = mask * SiLU(g) * u, and the compact (I, g_I, u_I)
  `train_backward_kernel` from (I, g_I, u_I) and dh: scatter dg, du and the recomputed h into zeroed rows.
The scatter stores are masked with the slot mask (slot < K), not the row-width mask: the authors' kernel masked
them with the row width, letting lanes past K write garbage (research card A2).
"""

from __future__ import annotations

import triton
import triton.language as tl
import triton.testing

from kernels._row_topk_triton import (
    BF16_HIST_BINS,
    NBINS,
    add_to_bf16_histograms,
    add_to_histogram,
    bf16_key,
    bf16_threshold,
    kth_largest_key,
    order_key,
)


@triton.jit
def round_to_dtype(v, DTYPE: tl.constexpr):
    """fp32 ``v`` rounded to DTYPE (round to nearest, ties to even) and returned as fp32; fp32 is unchanged.

    bf16 is rounded with integer arithmetic on the bits: the CPU interpreter's fp32 -> bf16 cast truncates,
    while the GPU and torch round to nearest even. NaN stays NaN.
    """
    if DTYPE == tl.bfloat16:
        bits = v.to(tl.uint32, bitcast=True)
        bits = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
        v = tl.where(v == v, bits.to(tl.float32, bitcast=True), v)
    elif DTYPE == tl.float16:
        v = v.to(tl.float16).to(tl.float32)
    return v


@triton.jit
def gate_gemv_kernel(x_ptr, w_ptr, out_ptr, hist_ptr, E, D, stride_x, stride_w, stride_out,
                     BLOCK_E: tl.constexpr, BLOCK_D: tl.constexpr, BF16_BINS: tl.constexpr):
    t = tl.program_id(0).to(tl.int64)
    rows = tl.program_id(1) * BLOCK_E + tl.arange(0, BLOCK_E)
    row_ok = rows < E
    w_rows = w_ptr + rows.to(tl.int64)[:, None] * stride_w
    acc = tl.zeros((BLOCK_E, BLOCK_D), dtype=tl.float32)
    for d0 in range(0, D, BLOCK_D):
        cols = d0 + tl.arange(0, BLOCK_D)
        col_ok = cols < D
        w = tl.load(w_rows + cols[None, :], mask=row_ok[:, None] & col_ok[None, :], other=0.0,
                    eviction_policy="evict_first")
        xv = tl.load(x_ptr + t * stride_x + cols, mask=col_ok, other=0.0)
        acc += w.to(tl.float32) * xv.to(tl.float32)[None, :]
    g = round_to_dtype(tl.sum(acc, axis=1), x_ptr.dtype.element_ty)  # the values training's gate GEMM returns
    tl.store(out_ptr + t * stride_out + rows, g, mask=row_ok)
    # epilogue: count the gate values into the row's key histograms (the Top-K selection reads them)
    if BF16_BINS:
        add_to_bf16_histograms(hist_ptr + t * BF16_HIST_BINS, g, row_ok)
    else:
        add_to_histogram(hist_ptr + t * NBINS, g, row_ok)


@triton.jit
def gathered_rows_dot(w_ptr, idx, slot_ok, x_row, D, stride_w, CH: tl.constexpr, BLOCK_D: tl.constexpr):
    """fp32 dot products of the CH rows ``idx`` of W (where ``slot_ok``) with the token ``x_row``, ``[CH]``."""
    w_rows = w_ptr + idx.to(tl.int64)[:, None] * stride_w
    acc = tl.zeros((CH, BLOCK_D), dtype=tl.float32)
    for d0 in range(0, D, BLOCK_D):
        cols = d0 + tl.arange(0, BLOCK_D)
        col_ok = cols < D
        w = tl.load(w_rows + cols[None, :], mask=slot_ok[:, None] & col_ok[None, :], other=0.0,
                    eviction_policy="evict_first")
        xv = tl.load(x_row + cols, mask=col_ok, other=0.0)
        acc += w.to(tl.float32) * xv.to(tl.float32)[None, :]
    return tl.sum(acc, axis=1)


@triton.jit
def up_gather_kernel(x_ptr, w_ptr, gsel_ptr, idx_ptr, h_ptr, K, D, stride_x, stride_w,
                     CH: tl.constexpr, BLOCK_D: tl.constexpr):
    t = tl.program_id(0).to(tl.int64)
    slots = tl.program_id(1) * CH + tl.arange(0, CH)
    slot_ok = slots < K
    idx = tl.load(idx_ptr + t * K + slots, mask=slot_ok, other=0)
    u = gathered_rows_dot(w_ptr, idx, slot_ok, x_ptr + t * stride_x, D, stride_w, CH, BLOCK_D)
    g = tl.load(gsel_ptr + t * K + slots, mask=slot_ok, other=0.0).to(tl.float32)
    tl.store(h_ptr + t * K + slots, g * tl.sigmoid(g) * u, mask=slot_ok)


@triton.jit
def select_up_kernel(x_ptr, w_ptr, g_ptr, hist_ptr, idx_ptr, h_ptr, E, K, D, stride_x, stride_w,
                     CH_E: tl.constexpr, PREFIX: tl.constexpr, CH: tl.constexpr, BLOCK_D: tl.constexpr):
    # bf16 gate: every program derives the exact threshold from the histograms, counts the chosen channels
    # before its own CH_E (for its output offset: the chosen indices come out ascending, as from one program),
    # compacts its chosen channels and runs their up GEMVs
    t = tl.program_id(0).to(tl.int64)
    start = tl.program_id(1) * CH_E
    g_row = g_ptr + t * E
    thr, n_above, n_equal = bf16_threshold(hist_ptr + t * BF16_HIST_BINS, K)
    ties_kept = K - n_above  # ties go to the lowest indices
    above_before = 0
    ties_before = 0
    for p0 in range(0, start, PREFIX):
        c = p0 + tl.arange(0, PREFIX)
        ok = c < start
        key = bf16_key(tl.load(g_row + c, mask=ok, other=0.0))
        above_before += tl.sum(((key > thr) & ok).to(tl.int32), axis=0)
        ties_before += tl.sum(((key == thr) & ok).to(tl.int32), axis=0)
    ch = start + tl.arange(0, CH_E)
    ok = ch < E
    key = bf16_key(tl.load(g_row + ch, mask=ok, other=0.0))
    tie = (key == thr) & ok
    if ties_kept == n_equal:  # usual case: every value equal to the threshold is kept
        sel = ((key > thr) & ok) | tie
    else:
        sel = ((key > thr) & ok) | (tie & (ties_before + tl.cumsum(tie.to(tl.int32), axis=0) <= ties_kept))
    base = t * K + above_before + tl.minimum(ties_before, ties_kept)
    tl.store(idx_ptr + base + tl.cumsum(sel.to(tl.int32), axis=0) - 1, ch.to(idx_ptr.dtype.element_ty), mask=sel)
    n_sel = tl.sum(sel.to(tl.int32), axis=0)
    tl.debug_barrier()  # the indices stored above are read back by other threads of this program
    for s0 in range(0, n_sel, CH):
        slots = s0 + tl.arange(0, CH)
        slot_ok = slots < n_sel
        idx = tl.load(idx_ptr + base + slots, mask=slot_ok, other=0, cache_modifier=".cg")
        u = gathered_rows_dot(w_ptr, idx, slot_ok, x_ptr + t * stride_x, D, stride_w, CH, BLOCK_D)
        g = tl.load(g_row + idx, mask=slot_ok, other=0.0)
        tl.store(h_ptr + base + slots, g * tl.sigmoid(g) * u, mask=slot_ok)


@triton.jit
def down_partial_kernel(wdt_ptr, idx_ptr, h_ptr, part_ptr, T, K, D, stride_w, slots_per_split,
                        CH: tl.constexpr, BLOCK_D: tl.constexpr):
    t = tl.program_id(0).to(tl.int64)
    cols = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    col_ok = cols < D
    split = tl.program_id(2)
    lo = split * slots_per_split
    hi = tl.minimum(lo + slots_per_split, K)
    acc = tl.zeros((CH, BLOCK_D), dtype=tl.float32)
    for c0 in range(lo, hi, CH):
        slots = c0 + tl.arange(0, CH)
        slot_ok = slots < hi
        idx = tl.load(idx_ptr + t * K + slots, mask=slot_ok, other=0).to(tl.int64)
        h = tl.load(h_ptr + t * K + slots, mask=slot_ok, other=0.0)
        w = tl.load(wdt_ptr + idx[:, None] * stride_w + cols[None, :], mask=slot_ok[:, None] & col_ok[None, :],
                    other=0.0, eviction_policy="evict_first")
        acc += w.to(tl.float32) * h[:, None]
    tl.store(part_ptr + (split * T + t) * D + cols, tl.sum(acc, axis=0), mask=col_ok)


@triton.jit
def finalize_kernel(part_ptr, out_ptr, T, D, n_splits, stride_out, SPLITS_PAD: tl.constexpr, BLOCK_D: tl.constexpr):
    # all partial rows of a column block in one load (a loop over splits would chain one L2 latency per split)
    t = tl.program_id(0).to(tl.int64)
    cols = tl.program_id(1) * BLOCK_D + tl.arange(0, BLOCK_D)
    col_ok = cols < D
    s = tl.arange(0, SPLITS_PAD)
    ptrs = part_ptr + (s[:, None] * T + t) * D + cols[None, :]
    parts = tl.load(ptrs, mask=(s < n_splits)[:, None] & col_ok[None, :], other=0.0)
    tl.store(out_ptr + t * stride_out + cols, tl.sum(parts, axis=0).to(out_ptr.dtype.element_ty), mask=col_ok)


@triton.jit
def train_forward_kernel(g_ptr, u_ptr, h_ptr, idx_ptr, gc_ptr, uc_ptr, E, K, stride_g, stride_u, stride_h,
                         BLOCK: tl.constexpr, CHUNK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    valid = cols < E
    key = order_key(tl.load(g_ptr + row * stride_g + cols, mask=valid, other=0.0).to(tl.float32))
    thr, ties_kept = kth_largest_key(key, valid, K)
    base = 0
    ties_before = 0
    for start in range(0, E, CHUNK):
        c = start + tl.arange(0, CHUNK)
        ok = c < E
        g = tl.load(g_ptr + row * stride_g + c, mask=ok, other=0.0)
        u = tl.load(u_ptr + row * stride_u + c, mask=ok, other=0.0)
        gf = g.to(tl.float32)
        kc = order_key(gf)
        tie = (kc == thr) & ok
        tie_rank = ties_before + tl.cumsum(tie.to(tl.int32), axis=0)
        sel = ((kc > thr) & ok) | (tie & (tie_rank <= ties_kept))
        slot = base + tl.cumsum(sel.to(tl.int32), axis=0) - 1
        h = tl.where(sel, gf * tl.sigmoid(gf) * u.to(tl.float32), 0.0)
        tl.store(h_ptr + row * stride_h + c, h.to(h_ptr.dtype.element_ty), mask=ok)
        tl.store(idx_ptr + row * K + slot, c.to(idx_ptr.dtype.element_ty), mask=sel)
        tl.store(gc_ptr + row * K + slot, g, mask=sel)
        tl.store(uc_ptr + row * K + slot, u, mask=sel)
        base += tl.sum(sel.to(tl.int32), axis=0)
        ties_before += tl.sum(tie.to(tl.int32), axis=0)


@triton.jit
def train_backward_kernel(dh_ptr, idx_ptr, gc_ptr, uc_ptr, dense_ptr, plane, E, K, stride_dh,
                          BLOCK_K: tl.constexpr):
    # dense_ptr is [3, T, E] (dg, du, h), zero-filled by the caller; plane = T * E
    row = tl.program_id(0).to(tl.int64)
    for c0 in range(0, K, BLOCK_K):
        slots = c0 + tl.arange(0, BLOCK_K)
        ok = slots < K
        idx = tl.load(idx_ptr + row * K + slots, mask=ok, other=0).to(tl.int64)
        g = tl.load(gc_ptr + row * K + slots, mask=ok, other=0.0).to(tl.float32)
        u = tl.load(uc_ptr + row * K + slots, mask=ok, other=0.0).to(tl.float32)
        dh = tl.load(dh_ptr + row * stride_dh + idx, mask=ok, other=0.0).to(tl.float32)
        sig = tl.sigmoid(g)
        a = g * sig
        out = dense_ptr + row * E + idx
        dtype = dense_ptr.dtype.element_ty
        tl.store(out, (dh * u * (a * (1.0 - sig) + sig)).to(dtype), mask=ok)
        tl.store(out + plane, (dh * a).to(dtype), mask=ok)
        tl.store(out + 2 * plane, (a * u).to(dtype), mask=ok)


# ---------------------------------------------------------------------------------------------------------------
# autotuned variants for large decode shapes on a GPU (the fixed-config kernels above serve small shapes and the
# CPU interpreter). Every config computes the same function; the tuner times each once per (shape) key.


def _quick_bench(fn, quantiles):
    return triton.testing.do_bench(fn, warmup=5, rep=25, quantiles=quantiles)


def _configs(names, rows):
    return [triton.Config(dict(zip(names, values[:-1])), num_warps=values[-1]) for values in rows]


gate_gemv_tuned = triton.autotune(
    configs=_configs(
        ("BLOCK_E", "BLOCK_D"),
        [(8, 512, 4), (4, 1024, 4), (16, 256, 4), (8, 1024, 8), (2, 2048, 4), (4, 2048, 8), (16, 512, 8)],
    ),
    key=["E", "D"],
    reset_to_zero=["hist_ptr"],  # the epilogue accumulates into the histogram: zero it around tuning runs
    do_bench=_quick_bench,
)(gate_gemv_kernel)

up_gather_tuned = triton.autotune(
    # (1, 4096) and (2, 4096): a whole 4096-wide row per load, one memory round trip per program
    configs=_configs(("CH", "BLOCK_D"), [(4, 1024, 4), (2, 2048, 4), (8, 512, 4), (1, 4096, 4), (2, 4096, 8)]),
    key=["K", "D"],
    do_bench=_quick_bench,
)(up_gather_kernel)

select_up_tuned = triton.autotune(
    # (CH_E channels ranked per program: about K / 8 of them chosen, CH rows per up-GEMV step, BLOCK_D, warps)
    configs=_configs(
        ("CH_E", "CH", "BLOCK_D"),
        [(64, 4, 1024, 4), (64, 8, 512, 4), (128, 8, 1024, 8), (32, 4, 1024, 4), (64, 2, 4096, 8), (128, 16, 512, 8)],
    ),
    key=["E", "K", "D"],
    do_bench=_quick_bench,
)(select_up_kernel)

down_partial_tuned = triton.autotune(
    # (32, 256, 8): a 48-slot channel range in two loads instead of three to six
    configs=_configs(("CH", "BLOCK_D"), [(8, 512, 4), (16, 256, 4), (4, 1024, 4), (32, 256, 8)]),
    key=["K", "D"],
    do_bench=_quick_bench,
)(down_partial_kernel)
