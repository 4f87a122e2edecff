"""Triton kernels of `kernels.arc_select` (imported lazily: only when a Triton path runs).

`sketch_kernel` streams G [n, m] once: each program owns BLOCK_N rows and walks the columns, accumulating the R
sketch columns element-wise in registers (R separate accumulators, one FMA per element per column: no
per-chunk reductions), reducing once at the end; it writes P = G V and/or the row scores ||P_j||^2. V is passed
transposed ([R, m], contiguous) so each sketch column is one contiguous read from L2. Rows are independent and
each row is reduced in a fixed order: deterministic. `pack_kernel` / `unpack_kernel` copy selected rows to and
from one contiguous buffer (unpack writes every output row: the chosen ones from the buffer, zeros elsewhere).
"""

from __future__ import annotations

import triton
import triton.language as tl

#: most sketch columns the kernel keeps in registers
MAX_R = 8


@triton.jit
def sketch_kernel(g_ptr, vt_ptr, p_ptr, s_ptr, n, m, stride_g, R: tl.constexpr, BLOCK_N: tl.constexpr,
                  BLOCK_M: tl.constexpr, WRITE_P: tl.constexpr, WRITE_S: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BLOCK_N + tl.arange(0, BLOCK_N)
    row_ok = rows < n
    g_rows = g_ptr + rows[:, None] * stride_g
    a0 = tl.zeros((BLOCK_N, BLOCK_M), dtype=tl.float32)
    a1 = tl.zeros((BLOCK_N, BLOCK_M), dtype=tl.float32)
    a2 = tl.zeros((BLOCK_N, BLOCK_M), dtype=tl.float32)
    a3 = tl.zeros((BLOCK_N, BLOCK_M), dtype=tl.float32)
    a4 = tl.zeros((BLOCK_N, BLOCK_M), dtype=tl.float32)
    a5 = tl.zeros((BLOCK_N, BLOCK_M), dtype=tl.float32)
    a6 = tl.zeros((BLOCK_N, BLOCK_M), dtype=tl.float32)
    a7 = tl.zeros((BLOCK_N, BLOCK_M), dtype=tl.float32)
    for m0 in range(0, m, BLOCK_M):
        cols = m0 + tl.arange(0, BLOCK_M)
        col_ok = cols < m
        x = tl.load(g_rows + cols[None, :], mask=row_ok[:, None] & col_ok[None, :], other=0.0,
                    eviction_policy="evict_first").to(tl.float32)
        a0 += x * tl.load(vt_ptr + cols, mask=col_ok, other=0.0)[None, :]
        if R > 1:
            a1 += x * tl.load(vt_ptr + m + cols, mask=col_ok, other=0.0)[None, :]
        if R > 2:
            a2 += x * tl.load(vt_ptr + 2 * m + cols, mask=col_ok, other=0.0)[None, :]
        if R > 3:
            a3 += x * tl.load(vt_ptr + 3 * m + cols, mask=col_ok, other=0.0)[None, :]
        if R > 4:
            a4 += x * tl.load(vt_ptr + 4 * m + cols, mask=col_ok, other=0.0)[None, :]
        if R > 5:
            a5 += x * tl.load(vt_ptr + 5 * m + cols, mask=col_ok, other=0.0)[None, :]
        if R > 6:
            a6 += x * tl.load(vt_ptr + 6 * m + cols, mask=col_ok, other=0.0)[None, :]
        if R > 7:
            a7 += x * tl.load(vt_ptr + 7 * m + cols, mask=col_ok, other=0.0)[None, :]
    p = tl.sum(a0, axis=1)
    score = p * p
    if WRITE_P:
        tl.store(p_ptr + rows * R, p, mask=row_ok)
    if R > 1:
        p = tl.sum(a1, axis=1)
        score += p * p
        if WRITE_P:
            tl.store(p_ptr + rows * R + 1, p, mask=row_ok)
    if R > 2:
        p = tl.sum(a2, axis=1)
        score += p * p
        if WRITE_P:
            tl.store(p_ptr + rows * R + 2, p, mask=row_ok)
    if R > 3:
        p = tl.sum(a3, axis=1)
        score += p * p
        if WRITE_P:
            tl.store(p_ptr + rows * R + 3, p, mask=row_ok)
    if R > 4:
        p = tl.sum(a4, axis=1)
        score += p * p
        if WRITE_P:
            tl.store(p_ptr + rows * R + 4, p, mask=row_ok)
    if R > 5:
        p = tl.sum(a5, axis=1)
        score += p * p
        if WRITE_P:
            tl.store(p_ptr + rows * R + 5, p, mask=row_ok)
    if R > 6:
        p = tl.sum(a6, axis=1)
        score += p * p
        if WRITE_P:
            tl.store(p_ptr + rows * R + 6, p, mask=row_ok)
    if R > 7:
        p = tl.sum(a7, axis=1)
        score += p * p
        if WRITE_P:
            tl.store(p_ptr + rows * R + 7, p, mask=row_ok)
    if WRITE_S:
        tl.store(s_ptr + rows, score, mask=row_ok)


@triton.jit
def scores_kernel(p_ptr, s_ptr, n, R: tl.constexpr, R_PAD: tl.constexpr, BLOCK_N: tl.constexpr):
    """Squared row norms of P [n, R] (P contiguous)."""
    rows = tl.program_id(0).to(tl.int64) * BLOCK_N + tl.arange(0, BLOCK_N)
    c = tl.arange(0, R_PAD)
    ok = (rows < n)[:, None] & (c < R)[None, :]
    p = tl.load(p_ptr + rows[:, None] * R + c[None, :], mask=ok, other=0.0).to(tl.float32)
    tl.store(s_ptr + rows, tl.sum(p * p, axis=1), mask=rows < n)


@triton.jit
def pack_kernel(g_ptr, rows_ptr, buf_ptr, m, stride_g, BLOCK: tl.constexpr):
    i = tl.program_id(0).to(tl.int64)
    row = tl.load(rows_ptr + i).to(tl.int64)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    ok = cols < m
    v = tl.load(g_ptr + row * stride_g + cols, mask=ok, other=0.0)
    tl.store(buf_ptr + i * m + cols, v, mask=ok)


@triton.jit
def unpack_kernel(buf_ptr, pos_ptr, out_ptr, m, stride_out, BLOCK: tl.constexpr):
    r = tl.program_id(0).to(tl.int64)
    pos = tl.load(pos_ptr + r).to(tl.int64)
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    ok = cols < m
    v = tl.load(buf_ptr + pos * m + cols, mask=ok & (pos >= 0), other=0.0)
    tl.store(out_ptr + r * stride_out + cols, v, mask=ok)
