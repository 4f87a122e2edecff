"""Triton kernels of `kernels.tah_quant` (imported lazily: only when a Triton path runs).

The activation is viewed as ``[n_tiles, G]`` (a tile is G contiguous channels of one token). One program takes
ROWS tiles and does everything in registers, one read of the input and one write of the packed result:
outlier test (top-1 >= 2 x top-2 of |t|), pivot swap to index 0, normalized Sylvester Hadamard as a tensor-core
product with the +-1 matrix (operands split into exact bf16 pieces, so the product is fp32-accurate), per-tile
min/scale with directed fp16 rounding (zero rounded down, scale rounded up: codes never clip), rounding to
codes and bit packing (code i of a tile occupies bits [i*b, (i+1)*b) of the tile's little-endian byte string).
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def hadamard_rows(t, h_ptr, G: tl.constexpr, SPLITS: tl.constexpr, SCALE: tl.constexpr, F32_DOT: tl.constexpr):
    """``t @ H_G * SCALE`` (fp32) for rows ``t`` [R, G] of fp32, bf16 or fp16; ``h_ptr`` holds H_G's +-1 entries
    as bf16 [G, G] (loaded from cache: building the signs in registers cost as many instructions as the whole
    tile).

    The +-1 matrix is exact in bf16, so splitting t into SPLITS bf16 pieces (8 significant bits each) gives
    exact products and an fp32-accurate result on the tensor cores: 1 piece suffices for bf16 inputs, 2 for
    fp16, 3 for fp32. ``F32_DOT`` (the CPU interpreter, whose bf16 emulation is unreliable) uses one fp32 dot.
    """
    i = tl.arange(0, G)
    h = tl.load(h_ptr + i[:, None] * G + i[None, :])
    if F32_DOT:
        y = tl.dot(t.to(tl.float32), h.to(tl.float32), input_precision="ieee")
    else:
        hi = t.to(tl.bfloat16)  # no-op for bf16 rows
        y = tl.dot(hi, h, out_dtype=tl.float32)
        if SPLITS > 1:
            rest = t.to(tl.float32) - hi.to(tl.float32)
            mid = rest.to(tl.bfloat16)
            y += tl.dot(mid, h, out_dtype=tl.float32)
            if SPLITS > 2:
                y += tl.dot((rest - mid.to(tl.float32)).to(tl.bfloat16), h, out_dtype=tl.float32)
    return y * SCALE


@triton.jit
def _fp16_round_down(v):
    """Largest fp16 value <= v (fp32 in, fp16 out)."""
    r = v.to(tl.float16)
    bits = r.to(tl.int16, bitcast=True)
    step = tl.where(bits == 0, -32767 - bits, tl.where(bits < 0, bits + 1, bits - 1))
    return tl.where(r.to(tl.float32) > v, step.to(tl.int16).to(tl.float16, bitcast=True), r)


@triton.jit
def _fp16_round_up(v):
    """Smallest fp16 value >= v for v > 0 (fp32 in, fp16 out)."""
    r = v.to(tl.float16)
    bits = r.to(tl.int16, bitcast=True)
    return tl.where(r.to(tl.float32) < v, (bits + 1).to(tl.int16).to(tl.float16, bitcast=True), r)


@triton.jit
def _store_codes(codes_ptr, base, q, row_mask, ROWS: tl.constexpr, G: tl.constexpr, B: tl.constexpr,
                 WORDS: tl.constexpr):
    """Pack codes q [ROWS, G] (int32 in [0, 2^B)) and store them at byte offsets ``base`` [ROWS] (int64)."""
    grp = tl.arange(0, G // 8)
    shifts = tl.arange(0, 4) * (2 * B)
    word: tl.constexpr = tl.uint64 if B > 4 else tl.uint32  # 8 codes of B > 4 bits need a 64-bit word
    # adjacent codes first (a constant shift; they sit in one thread after the product), then the 4 pairs
    even, odd = tl.split(tl.reshape(q.to(word), (ROWS, G // 8, 4, 2)))
    pairs = even + (odd << B)
    v = tl.sum(pairs << shifts.to(word)[None, None, :], axis=2)  # bit fields do not overlap: sum == or
    if WORDS:  # B == 4 and 4-byte aligned rows: one 32-bit word per 8 codes
        wptr = (codes_ptr + base[:, None]).to(tl.pointer_type(tl.uint32))
        tl.store(wptr + grp[None, :], v, mask=row_mask[:, None])
    else:
        for j in tl.static_range(B):
            byte = ((v >> (8 * j)) & 0xFF).to(tl.uint8)
            tl.store(codes_ptr + base[:, None] + grp[None, :] * B + j, byte, mask=row_mask[:, None])


@triton.jit
def _load_codes(codes_ptr, base, row_mask, ROWS: tl.constexpr, G: tl.constexpr, B: tl.constexpr,
                WORDS: tl.constexpr):
    """Inverse of `_store_codes`: int32 codes [ROWS, G]."""
    grp = tl.arange(0, G // 8)
    word: tl.constexpr = tl.uint64 if B > 4 else tl.uint32
    if WORDS:
        wptr = (codes_ptr + base[:, None]).to(tl.pointer_type(tl.uint32))
        v = tl.load(wptr + grp[None, :], mask=row_mask[:, None], other=0)
    else:
        v = tl.zeros((ROWS, G // 8), dtype=word)
        for j in tl.static_range(B):
            byte = tl.load(codes_ptr + base[:, None] + grp[None, :] * B + j, mask=row_mask[:, None], other=0)
            v = v | (byte.to(word) << (8 * j))
    shifts = (tl.arange(0, 8) * B).to(word)
    q3 = (v[:, :, None] >> shifts[None, None, :]) & ((1 << B) - 1)
    return tl.reshape(q3, (ROWS, G)).to(tl.int32)


@triton.jit
def quantize_kernel(x_ptr, h_ptr, codes_ptr, zero_ptr, scale_ptr, flag_ptr, pivot_ptr, low_ptr, offs_ptr, n_tiles,
                    G: tl.constexpr, ROWS: tl.constexpr, BITS: tl.constexpr, BITS_LOW: tl.constexpr,
                    MIXED: tl.constexpr, SPLITS: tl.constexpr, SCALE: tl.constexpr, TINY: tl.constexpr,
                    F32_DOT: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * ROWS + tl.arange(0, ROWS)
    row_ok = rows < n_tiles
    c = tl.arange(0, G)
    tile_ptr = x_ptr + rows * G
    x = tl.load(tile_ptr[:, None] + c[None, :], mask=row_ok[:, None], other=0.0)  # input dtype
    # outlier test and pivot on the magnitude bits (unsigned integers order finite floats of one sign exactly),
    # one max reduction for both: key = the bits shifted left until the sign falls out, | (G - 1 - c), so the
    # largest key holds m1 and the first index of it
    if x.dtype == tl.float32:
        key = x.to(tl.uint32, bitcast=True).to(tl.uint64) << 33
        MANT: tl.constexpr = 23
        SHIFT: tl.constexpr = 33
    else:
        key = x.to(tl.uint16, bitcast=True).to(tl.uint32) << 17
        MANT: tl.constexpr = 7 if x.dtype == tl.bfloat16 else 10
        SHIFT: tl.constexpr = 17
    key = key | (G - 1 - c[None, :])
    top = tl.max(key, axis=1)
    m1 = top >> SHIFT
    pivot = (G - 1 - (top & (G - 1))).to(tl.int32)
    # m1 >= 2 * m2  <=>  no other magnitude exceeds half, the bits of the largest float <= m1 / 2 (bits grow
    # linearly through the subnormals up to the first exponent, by one exponent step above it); m2's key is
    # top - 1 - min(top - 1 - key), where the maximum's own key wraps to the largest unsigned value.
    # Exact; ties at the maximum are not flagged, an all-zero tile is
    half = tl.where(m1 >= (2 << MANT), m1 - (1 << MANT), m1 >> 1)
    flag = top - 1 - tl.min(top[:, None] - 1 - key, axis=1) <= ((half << SHIFT) | (G - 1))
    # the two swapped values come straight from memory (cache hits) instead of two masked row sums
    x0 = tl.load(tile_ptr, mask=row_ok, other=0.0)
    xp = tl.load(tile_ptr + pivot, mask=row_ok, other=0.0)
    swapped = tl.where(c[None, :] == 0, xp[:, None], tl.where(c[None, :] == pivot[:, None], x0[:, None], x))
    t = tl.where(flag[:, None], hadamard_rows(swapped, h_ptr, G, SPLITS, SCALE, F32_DOT), x.to(tl.float32))
    # per-tile asymmetric quantization with directed fp16 rounding of zero and scale
    if MIXED:
        low = tl.load(low_ptr + rows, mask=row_ok, other=0) != 0
        levels = tl.where(low, (1 << BITS_LOW) - 1, (1 << BITS) - 1).to(tl.float32)
    else:
        levels = tl.full((ROWS,), (1 << BITS) - 1, tl.float32)
    z16 = _fp16_round_down(tl.min(t, axis=1))
    zf = z16.to(tl.float32)
    # IEEE-rounded divisions (per tile, cheap): the default fp32 division is approximate on the GPU, and an ulp
    # off here moves a whole tile's codes away from the reference's
    s16 = _fp16_round_up(tl.maximum(tl.math.div_rn(tl.max(t, axis=1) - zf, levels), TINY))
    inv = tl.math.div_rn(tl.full((ROWS,), 1.0, tl.float32), s16.to(tl.float32))
    # zf <= t and zf + levels * s >= max t by construction (directed rounding), so v = (t - zf) / s lies in
    # [0, levels (1 + 3 ulp)] even with the approximate reciprocal: floor(v + 0.5) is in [0, levels], no clamp
    q = tl.floor((t - zf[:, None]) * inv[:, None] + 0.5).to(tl.int32)
    tl.store(zero_ptr + rows, z16, mask=row_ok)
    tl.store(scale_ptr + rows, s16, mask=row_ok)
    tl.store(flag_ptr + rows, flag.to(tl.uint8), mask=row_ok)
    tl.store(pivot_ptr + rows, pivot.to(tl.uint8), mask=row_ok)
    if MIXED:
        base = tl.load(offs_ptr + rows, mask=row_ok, other=0)
        _store_codes(codes_ptr, base, q, row_ok & (~low), ROWS, G, BITS, False)
        _store_codes(codes_ptr, base, q, row_ok & low, ROWS, G, BITS_LOW, False)
    else:
        _store_codes(codes_ptr, rows * (G * BITS // 8), q, row_ok, ROWS, G, BITS, BITS == 4)


@triton.jit
def dequantize_kernel(codes_ptr, h_ptr, zero_ptr, scale_ptr, flag_ptr, pivot_ptr, low_ptr, offs_ptr, out_ptr, n_tiles,
                      G: tl.constexpr, ROWS: tl.constexpr, BITS: tl.constexpr, BITS_LOW: tl.constexpr,
                      MIXED: tl.constexpr, SCALE: tl.constexpr, F32_DOT: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * ROWS + tl.arange(0, ROWS)
    row_ok = rows < n_tiles
    c = tl.arange(0, G)
    if MIXED:
        low = tl.load(low_ptr + rows, mask=row_ok, other=0) != 0
        base = tl.load(offs_ptr + rows, mask=row_ok, other=0)
        q_hi = _load_codes(codes_ptr, base, row_ok & (~low), ROWS, G, BITS, False)
        q_lo = _load_codes(codes_ptr, base, row_ok & low, ROWS, G, BITS_LOW, False)
        q = tl.where(low[:, None], q_lo, q_hi)
    else:
        q = _load_codes(codes_ptr, rows * (G * BITS // 8), row_ok, ROWS, G, BITS, BITS == 4)
    z = tl.load(zero_ptr + rows, mask=row_ok, other=0.0).to(tl.float32)
    s = tl.load(scale_ptr + rows, mask=row_ok, other=0.0).to(tl.float32)
    flag = tl.load(flag_ptr + rows, mask=row_ok, other=0) != 0
    pivot = tl.load(pivot_ptr + rows, mask=row_ok, other=0).to(tl.int32)
    t = q.to(tl.float32) * s[:, None] + z[:, None]
    y = hadamard_rows(t, h_ptr, G, 3, SCALE, F32_DOT)  # H is its own inverse (normalized, symmetric)
    y0 = tl.sum(tl.where(c[None, :] == 0, y, 0.0), axis=1)
    yp = tl.sum(tl.where(c[None, :] == pivot[:, None], y, 0.0), axis=1)
    unswapped = tl.where(c[None, :] == 0, yp[:, None], tl.where(c[None, :] == pivot[:, None], y0[:, None], y))
    out = tl.where(flag[:, None], unswapped, t)
    tl.store(out_ptr + rows[:, None] * G + c[None, :], out.to(out_ptr.dtype.element_ty), mask=row_ok[:, None])


@triton.jit
def row_entropy_kernel(x_ptr, out_ptr, n_rows, L, BLOCK_R: tl.constexpr, BLOCK_L: tl.constexpr):
    """H = -sum p ln(p + 1e-30), p = |x| / (sum |x| + 1e-30), per row of a [n_rows, L] view."""
    rows = tl.program_id(0).to(tl.int64) * BLOCK_R + tl.arange(0, BLOCK_R)
    row_ok = rows < n_rows
    acc = tl.zeros((BLOCK_R, BLOCK_L), dtype=tl.float32)
    for l0 in range(0, L, BLOCK_L):
        cols = l0 + tl.arange(0, BLOCK_L)
        m = row_ok[:, None] & (cols < L)[None, :]
        acc += tl.abs(tl.load(x_ptr + rows[:, None] * L + cols[None, :], mask=m, other=0.0).to(tl.float32))
    inv = 1.0 / (tl.sum(acc, axis=1) + 1e-30)
    acc = tl.zeros((BLOCK_R, BLOCK_L), dtype=tl.float32)
    for l0 in range(0, L, BLOCK_L):
        cols = l0 + tl.arange(0, BLOCK_L)
        m = row_ok[:, None] & (cols < L)[None, :]
        p = tl.abs(tl.load(x_ptr + rows[:, None] * L + cols[None, :], mask=m, other=0.0).to(tl.float32)) * inv[:, None]
        acc += p * tl.log(p + 1e-30)
    tl.store(out_ptr + rows, -tl.sum(acc, axis=1), mask=row_ok)
