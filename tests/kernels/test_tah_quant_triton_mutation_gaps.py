"""Gaps in the tests of `kernels._tah_quant_triton` found by a mutation audit.

Closed here (every check runs the Triton kernels in the CPU interpreter, on hand-built tiles):
- the outlier test at its threshold in fp32, bf16 and fp16: the second magnitude exactly half of the largest (at
  index 0, in the middle, at the last index) is flagged, one unit in the last place above half is not; the same
  at the subnormal / first-normal boundary and in the second binade; ties at the maximum are not flagged, an
  all-zero tile is (pivot 0);
- zero and constant tiles keep the smallest scale 2^-24 and decode exactly;
- uniform bit widths other than 4 (1, 2, 3, 5, 6, 7, 8): codes packed little-endian at i*b bits, decoded back;
- a 256-wide tile whose pivot is above 127 decodes with the pivot as an unsigned byte;
- `row_entropy`'s kernel on hand-worked rows: ragged row lengths (not a power of two, above the 1024 block),
  zeros, tiny magnitudes, natural logarithm, a non-contiguous view.
"""

from __future__ import annotations

import math

import pytest
import torch

from kernels.tah_quant import row_entropy, tah_dequantize, tah_quantize

DTYPES = [torch.float32, torch.bfloat16, torch.float16]
INT_VIEW = {torch.float32: torch.int32, torch.bfloat16: torch.int16, torch.float16: torch.int16}


def _next_up(value: float, dtype: torch.dtype) -> float:
    """The next representable positive value above ``value`` in ``dtype``."""
    bits = torch.tensor([value], dtype=dtype).view(INT_VIEW[dtype])
    return float((bits + 1).view(dtype).float())


def _tile(g: int, entries: dict[int, float], fill: float = 0.0) -> list[float]:
    row = [fill] * g
    for i, v in entries.items():
        row[i] = v
    return row


def _flags_and_pivots(tiles: list[list[float]], dtype: torch.dtype, g: int = 16):
    x = torch.tensor(tiles, dtype=torch.float64).to(dtype)
    assert x.double().tolist() == tiles  # every value is exact in the dtype
    ours = tah_quantize(x, bits=4, bits_low=4, tile_size=g, impl="triton")
    ref = tah_quantize(x, bits=4, bits_low=4, tile_size=g, impl="torch")
    for name in ("codes", "zero", "scale", "flags", "pivots"):
        assert torch.equal(getattr(ours, name), getattr(ref, name)), name
    return ours.flags.tolist(), ours.pivots.tolist()


@pytest.mark.parametrize("dtype", DTYPES)
def test_second_magnitude_exactly_half_is_flagged_wherever_it_sits(dtype):
    tiles = [
        _tile(16, {0: 2.0, 5: -4.0}, 0.5),  # second at index 0
        _tile(16, {3: 4.0, 7: -2.0}, -0.25),  # second in the middle
        _tile(16, {0: -4.0, 15: 2.0}, 0.5),  # largest at index 0, second at the last index
        _tile(16, {9: 3.0, 2: 1.5}, 0.25),  # a mantissa that is not a power of two
        _tile(16, {4: -6.0, 11: -3.0}, 1.0),
    ]
    flags, pivots = _flags_and_pivots(tiles, dtype)
    assert flags == [True] * 5
    assert pivots == [5, 3, 0, 9, 4]


@pytest.mark.parametrize("dtype", DTYPES)
def test_second_magnitude_one_ulp_above_half_is_not_flagged(dtype):
    tiles = [
        _tile(16, {0: _next_up(2.0, dtype), 5: -4.0}, 0.5),
        _tile(16, {3: 4.0, 7: -_next_up(2.0, dtype)}, -0.25),
        _tile(16, {0: -4.0, 15: _next_up(2.0, dtype)}, 0.5),
        _tile(16, {9: 3.0, 2: _next_up(1.5, dtype)}, 0.25),
    ]
    flags, _ = _flags_and_pivots(tiles, dtype)
    assert flags == [False] * 4


@pytest.mark.parametrize("dtype", DTYPES)
def test_ties_at_the_maximum_are_not_flagged_and_a_zero_tile_is(dtype):
    tiles = [_tile(16, {6: 3.0, 10: -3.0}, 0.5), _tile(16, {}), _tile(16, {1: 1.0}, 1.0)]
    flags, pivots = _flags_and_pivots(tiles, dtype)
    assert flags == [False, True, False]
    assert pivots[:2] == [6, 0]  # the first index of the largest magnitude; a zero tile pivots on 0


# (dtype, smallest normal, subnormal step): the outlier test works on the magnitude bits, which grow linearly
# through the subnormals and by one exponent per binade above
TINY = [(torch.float16, 2.0**-14, 2.0**-24), (torch.bfloat16, 2.0**-126, 2.0**-133),
        (torch.float32, 2.0**-126, 2.0**-149)]


@pytest.mark.parametrize("dtype, normal, step", TINY, ids=["fp16", "bf16", "fp32"])
def test_the_threshold_across_the_subnormal_boundary(dtype, normal, step):
    tiles = [
        _tile(16, {2: normal, 8: -normal / 2}),  # smallest normal; half of it is subnormal
        _tile(16, {2: normal, 8: normal / 2 + step}),
        _tile(16, {5: -3 * normal, 1: 1.5 * normal}),  # second binade, mantissa 1.5
        _tile(16, {5: 3 * normal, 1: 1.5 * normal + step}),  # the binade's spacing is the subnormal step
        _tile(16, {0: 7 * step, 3: 3 * step}),  # subnormals: 7 >= 2 x 3
        _tile(16, {0: 7 * step, 3: 4 * step}),  # 7 < 2 x 4
        _tile(16, {12: 6 * step, 3: -3 * step}),  # exactly twice
    ]
    flags, pivots = _flags_and_pivots(tiles, dtype)
    assert flags == [True, False, True, False, True, False, True]
    assert pivots == [2, 2, 5, 5, 0, 0, 12]


@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_and_constant_tiles_keep_the_smallest_scale_and_decode_exactly(dtype):
    x = torch.zeros(3, 16, dtype=dtype)
    x[1] = 3.25
    x[2] = -0.5
    p = tah_quantize(x, bits=4, bits_low=4, tile_size=16, impl="triton")
    assert p.scale.tolist() == [2.0**-24] * 3
    assert p.zero.tolist() == [0.0, 3.25, -0.5]
    assert p.flags.tolist() == [True, False, False]
    assert p.codes.tolist() == [0] * 24
    assert torch.equal(tah_dequantize(p, impl="triton"), x)


def _packed(codes: list[list[int]], bits: int) -> list[int]:
    """Tile bytes written from the spec: code i occupies bits [i*b, (i+1)*b) of the tile's little-endian bytes."""
    out = []
    for tile in codes:
        word = sum(c << (i * bits) for i, c in enumerate(tile))
        out += list(word.to_bytes(len(tile) * bits // 8, "little"))
    return out


@pytest.mark.parametrize("bits", [1, 2, 3, 5, 6, 7, 8])
def test_uniform_widths_other_than_four_pack_little_endian_and_decode(bits):
    top = 2**bits - 1
    gen = torch.Generator().manual_seed(bits)
    codes = torch.randint(0, top + 1, (3, 16), generator=gen)
    codes[:, 0], codes[:, 1], codes[:, 2] = 0, top, top  # zero 0, scale 1; two maxima: no outlier
    x = codes.float()
    p = tah_quantize(x, bits=bits, bits_low=bits, tile_size=16, impl="triton")
    assert p.flags.tolist() == [False] * 3
    assert p.zero.tolist() == [0.0] * 3 and p.scale.tolist() == [1.0] * 3
    assert p.codes.tolist() == _packed(codes.tolist(), bits)
    assert torch.equal(tah_dequantize(p, impl="triton"), x)


def test_a_wide_tile_pivot_above_127_decodes_as_an_unsigned_byte():
    x = torch.randn(2, 256, generator=torch.Generator().manual_seed(3)) * 0.1
    x[0, 200] = 50.0
    x[1, 129] = -50.0
    p = tah_quantize(x, bits=8, bits_low=8, tile_size=256, impl="triton")
    assert p.flags.tolist() == [True, True] and p.pivots.tolist() == [200, 129]
    back = tah_dequantize(p, impl="triton")
    assert torch.allclose(back, tah_dequantize(p, impl="torch"), rtol=1e-5, atol=1e-5)
    # each element is within sqrt(G) half-steps of its input; the outliers come back at their own index
    bound = math.sqrt(256) * p.scale.float()[:, None] / 2 * (1 + 1e-5) + 1e-6
    assert bool(((back - x).abs() <= bound).all())
    assert back[0, 200].item() == pytest.approx(50.0, abs=0.1) and back[1, 129].item() == pytest.approx(-50.0, abs=0.1)


def _entropy(weights: list[float]) -> float:
    total = sum(abs(w) for w in weights)
    return -sum(abs(w) / total * math.log(abs(w) / total) for w in weights if w)


def test_row_entropy_kernel_on_short_ragged_rows():
    rows = torch.tensor([
        [0.0, 0.0, 7.0, 0.0, 0.0],  # one-hot: 0 (a zero entry must not give NaN)
        [1.0, -1.0, 1.0, -1.0, 1.0],  # uniform: ln 5
        [3e-7, 0.0, 1e-7, 0.0, 0.0],  # tiny magnitudes: p = 3/4, 1/4
        [2.0, 1.0, 1.0, 0.0, 0.0],
    ])
    h = row_entropy(rows, impl="triton")
    expected = [0.0, math.log(5), _entropy([3, 1]), _entropy([2, 1, 1])]
    assert h.tolist() == pytest.approx(expected, abs=1e-5)


def test_row_entropy_kernel_on_rows_longer_than_one_block():
    L = 1030  # the kernel walks the row in blocks of 1024
    rows = torch.zeros(3, L)
    rows[0] = 1.0
    rows[1, L - 1] = 4.0  # the only mass sits in the second block
    rows[2, 1020:1030] = -2.0  # ten equal values across the block edge
    h = row_entropy(rows, impl="triton")
    assert h.tolist() == pytest.approx([math.log(L), 0.0, math.log(10)], abs=1e-4)


def test_row_entropy_kernel_reads_a_transposed_view_by_rows():
    base = torch.zeros(6, 2)
    base[:, 0] = 1.0  # row 0 of the view: six equal values
    base[2, 1] = 5.0  # row 1 of the view: one-hot
    h = row_entropy(base.t(), impl="triton")
    assert h.tolist() == pytest.approx([math.log(6), 0.0], abs=1e-5)
