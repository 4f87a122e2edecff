"""Gaps in the tests of `kernels.tah_quant` found by a mutation audit.

Closed here:
- the wire layout on hand-packed tiles: code i in bits [i*b, (i+1)*b) of the tile's little-endian bytes (3 and 4
  bits), fp16 zero and scale, and mixed-width tiles at their byte offsets;
- the outlier test at its threshold (largest |value| exactly twice the second is flagged, just under is not) and
  the pivot of an all-zero tile (the first index);
- fp16 rounding of the zero point down and of the scale up, one step either side of a representable value;
- allocation: a token's low flag covers all its tiles, ties go to the lowest index, "uniform" and bits_low = bits
  give one width (the precision map still counted), tile_size 8 and 256 and bits 8 are accepted, 4 / 512 / 9
  and high_fraction 0 or above 1 refused, 1-D x refused for token allocation;
- wire bits on a hand-counted case (33 bits per tile, pivot bits per flagged tile, the precision map);
- the baseline quantizer on a hand-built tile, and the timed ops' FLOPs, bytes and inputs on hand-counted shapes.
"""

from __future__ import annotations

import math

import pytest
import torch

from kernels.ops import load_all_ops
from kernels.tah_quant import (
    _fp16_round_down,
    _fp16_round_up,
    allocate_bits,
    hadamard_matrix,
    row_entropy,
    tah_dequantize,
    tah_quantize,
    tile_hadamard_quant_torch,
)


def _one_width(x, bits, g=8):
    return tah_quantize(x, bits=bits, bits_low=bits, tile_size=g, impl="torch")


def test_four_bit_codes_pack_two_per_byte_low_nibble_first():
    x = torch.tensor([[0.0, 15.0, 3.0, 7.0, 1.0, 2.0, 4.0, 8.0]])  # zero 0, scale 15 / 15 = 1: codes = x
    p = _one_width(x, 4)
    assert p.codes.tolist() == [0x0 | 0xF << 4, 0x3 | 0x7 << 4, 0x1 | 0x2 << 4, 0x4 | 0x8 << 4]
    assert p.zero.dtype == p.scale.dtype == torch.float16
    assert p.zero.tolist() == [0.0] and p.scale.tolist() == [1.0] and p.flags.tolist() == [False]
    assert torch.equal(tah_dequantize(p, impl="torch"), x)


def test_three_bit_codes_run_across_byte_boundaries():
    codes = [0, 7, 3, 5, 1, 2, 4, 6]
    x = torch.tensor([[float(c) for c in codes]])  # zero 0, scale 7 / 7 = 1
    p = _one_width(x, 3)
    # bits 0-2: 0, 3-5: 7, 6-8: 3, 9-11: 5, 12-14: 1, 15-17: 2, 18-20: 4, 21-23: 6
    assert p.codes.tolist() == [0b11111000, 0b00011010, 0b11010001]
    assert torch.equal(tah_dequantize(p, impl="torch"), x)


def test_mixed_widths_put_each_tile_at_its_byte_offset():
    spike = [0.0, 0.0, 0.0, 9.0, 0.0, 0.0, 0.0, 0.0]  # entropy 0: the low-precision tile of the token
    spread = [0.0, 15.0, 3.0, 7.0, 1.0, 2.0, 4.0, 8.0]
    x = torch.tensor([[spike + spread]])
    p = tah_quantize(x, bits=4, bits_low=2, tile_size=8, allocation="tile", high_fraction=0.5, impl="torch")
    assert p.tile_low.tolist() == [True, False]
    assert p.code_offsets.tolist() == [0, 2]  # 8 codes x 2 bits = 2 bytes, then the 4-bit tile
    assert p.codes.numel() == 6
    assert p.codes[2:].tolist() == [0xF0, 0x73, 0x21, 0x84]
    back = tah_dequantize(p, impl="torch")
    assert torch.equal(back[..., 8:], x[..., 8:])
    assert torch.allclose(back[..., :8], x[..., :8], atol=1e-2)


def test_a_tile_is_flagged_when_its_largest_value_is_at_least_twice_the_second():
    at = torch.tensor([[4.0, -2.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]])
    below = torch.tensor([[4.0, -2.5, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]])
    assert _one_width(at, 4).flags.tolist() == [True]
    assert _one_width(below, 4).flags.tolist() == [False]
    assert _one_width(-at, 4).flags.tolist() == [True]  # magnitudes decide


def test_the_pivot_is_the_first_index_of_the_largest_magnitude():
    x = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, -9.0]])
    p = _one_width(x, 4)
    assert p.flags.tolist() == [True, True] and p.pivots.tolist() == [0, 7]


def test_fp16_zero_rounds_down_and_scale_rounds_up():
    ulp = 2.0**-10  # fp16 spacing in [1, 2)
    v = torch.tensor([1.0, 1.0 + ulp - ulp / 8, 1.0 + ulp / 8, -(1.0 + ulp / 8), 2.0**-30, -(2.0**-30)])
    down = _fp16_round_down(v).float().tolist()
    assert down == [1.0, 1.0, 1.0, -(1.0 + ulp), 0.0, -(2.0**-24)]
    up = _fp16_round_up(v[:3]).float().tolist()
    assert up == [1.0, 1.0 + ulp, 1.0 + ulp]


def test_a_tokens_low_flag_covers_all_its_tiles():
    x = torch.ones(1, 2, 16)
    x[0, 1] = 0.0
    x[0, 1, 0] = 5.0  # token 1: one-hot, the lowest entropy
    tile_low, token_low = allocate_bits(x, 8, "token", 0.5, impl="torch")
    assert token_low.tolist() == [[False, True]]
    assert tile_low.tolist() == [False, False, True, True]


def test_equal_entropies_give_the_low_width_to_the_lowest_indices():
    x = torch.ones(1, 10, 8)
    _, token_low = allocate_bits(x, 8, "token", 0.5, impl="torch")
    assert token_low[0].tolist() == [True] * 5 + [False] * 5


def test_uniform_allocation_and_one_width_use_the_plain_layout():
    x = torch.randn(3, 32, generator=torch.Generator().manual_seed(1))
    p = tah_quantize(x, bits=4, bits_low=3, tile_size=16, allocation="uniform", impl="torch")
    assert p.tile_low is None and p.token_low is None and p.code_offsets is None
    assert p.codes.numel() == 6 * 16 * 4 // 8
    q = tah_quantize(x, bits=3, bits_low=3, tile_size=16, allocation="token", impl="torch")
    assert q.tile_low is None and q.code_offsets is None and q.token_low.shape == (3,)
    assert q.codes.numel() == 6 * 16 * 3 // 8
    assert torch.equal(tah_dequantize(q, impl="torch"), tah_dequantize(
        tah_quantize(x, bits=3, bits_low=3, tile_size=16, impl="torch"), impl="torch"))


def test_wire_bits_on_a_hand_counted_case():
    x = torch.zeros(2, 16)
    x[0, 0] = 1.0  # tile 0 one-hot, flagged
    x[0, 8:] = torch.tensor([0.0, 15.0, 3.0, 7.0, 1.0, 2.0, 4.0, 8.0])  # tile 1 not flagged
    x[1] = torch.arange(16.0) - 7.5  # tiles 2 and 3: no outlier
    p = tah_quantize(x, bits=4, bits_low=4, tile_size=8, allocation="token", impl="torch")
    flagged = int(p.flags.sum())
    assert p.flags.tolist()[:2] == [True, False]
    # 4 tiles x 8 codes x 4 bits + 4 x (16 zero + 16 scale + 1 flag) + 3 pivot bits per flag + 2 token bits
    assert p.wire_bits() == 128 + 4 * 33 + 3 * flagged + 2
    assert p.wire_bytes == math.ceil(p.wire_bits() / 8)
    t = tah_quantize(x, bits=4, bits_low=4, tile_size=8, allocation="tile", impl="torch")
    assert t.wire_bits() == 128 + 4 * 33 + 3 * flagged + 4  # one precision bit per tile
    u = tah_quantize(x, bits=4, bits_low=4, tile_size=8, impl="torch")
    assert u.wire_bits() == 128 + 4 * 33 + 3 * flagged
    assert (u.wire_bits() % 8 != 0) == (u.wire_bytes * 8 > u.wire_bits())


@pytest.mark.parametrize("tile_size", [8, 256])
def test_the_extreme_tile_sizes_and_eight_bits_are_accepted(tile_size):
    x = torch.randn(2, 256, generator=torch.Generator().manual_seed(0))
    p = tah_quantize(x, bits=8, bits_low=8, tile_size=tile_size, impl="torch")
    assert p.codes.numel() == 512
    assert (tah_dequantize(p, impl="torch") - x).abs().max() < 0.5


@pytest.mark.parametrize("kwargs, match", [
    ({"tile_size": 4}, "power of two in 8..256"),
    ({"tile_size": 512}, "power of two in 8..256"),
    ({"tile_size": 8, "bits": 9, "bits_low": 3}, "bits <= 8"),
    ({"tile_size": 8, "high_fraction": 0.0}, "high_fraction"),
    ({"tile_size": 8, "high_fraction": 1.5}, "high_fraction"),
    ({"tile_size": 8, "allocation": "blocks"}, "allocation must be one of"),
])
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        tah_quantize(torch.zeros(2, 512), **kwargs)


def test_high_fraction_one_keeps_every_token_high_and_token_allocation_needs_two_dims():
    x = torch.randn(4, 16, generator=torch.Generator().manual_seed(2))
    p = tah_quantize(x, bits=4, bits_low=2, tile_size=8, allocation="token", high_fraction=1.0, impl="torch")
    assert not bool(p.token_low.any()) and p.codes.numel() == 8 * 8 * 4 // 8
    with pytest.raises(ValueError, match="allocation='token' needs x of shape"):
        tah_quantize(torch.zeros(16), tile_size=8, allocation="token")
    with pytest.raises(ValueError, match="multiple of tile_size"):
        tah_quantize(torch.zeros(2, 12), tile_size=8)


def test_the_baseline_quantizer_on_a_hand_built_tile():
    # x = 7.5 sqrt(8) (e0 + e1): x @ H_8 / sqrt(8) = 7.5 (row 0 + row 1 of H) = [15, 0, 15, 0, ...]
    x = torch.zeros(1, 8, dtype=torch.float64)
    x[0, :2] = 7.5 * math.sqrt(8)
    codes, zero, scale = tile_hadamard_quant_torch(x, bits=4, tile_size=8)
    assert codes.tolist() == [[15, 0, 15, 0, 15, 0, 15, 0]]
    assert zero.item() == pytest.approx(0.0, abs=1e-9) and scale.item() == pytest.approx(1.0)


def test_timed_op_costs_on_hand_counted_shapes():
    ops = load_all_ops()
    quant, dequant = ops.get("tah_quantize"), ops.get("tah_dequantize")
    mixed = {"tokens": 64, "channels": 512, "tile": 64, "bits": 4, "bits_low": 3, "per_tile": 0}
    uniform = {**mixed, "bits_low": 4}
    n = 64 * 512
    # codes at 0.8 x 4 + 0.2 x 3 = 3.8 bits, 6 bytes of zero/scale/flag/pivot per tile
    packed_mixed = n * 3.8 / 8 + 6 * n / 64
    packed_uniform = n * 4 / 8 + 6 * n / 64
    assert quant.flops(mixed) == 2.0 * 64 * 512 * 64
    assert dequant.flops(mixed) == 2.0 * 64 * 512 * 64
    assert quant.bytes_moved(mixed, "bfloat16") == pytest.approx(2 * n * 2 + packed_mixed)  # read twice
    assert quant.bytes_moved(uniform, "bfloat16") == pytest.approx(n * 2 + packed_uniform)
    assert dequant.bytes_moved(uniform, "bfloat16") == pytest.approx(packed_uniform + n * 2)


@pytest.mark.parametrize("bits_low, per_tile, allocation", [(4, 0, "uniform"), (3, 0, "token"), (3, 1, "tile")])
def test_timed_op_inputs_name_the_allocation_of_the_shape(bits_low, per_tile, allocation):
    op = load_all_ops().get("tah_quantize")
    shape = {"tokens": 4, "channels": 512, "tile": 64, "bits": 4, "bits_low": bits_low, "per_tile": per_tile}
    x, bits, low, tile, alloc = op.make_inputs(shape, "bfloat16", "cpu", torch.Generator().manual_seed(0))
    assert (bits, low, tile, alloc) == (4, bits_low, 64, allocation)
    assert x.shape == (4, 512) and x.dtype == torch.bfloat16
    # two outlier channels (512 // 256), 20x the rest: their columns stand out in every token
    column_max = x.float().abs().amax(dim=0)
    assert int((column_max > 12.0).sum()) in (1, 2)


def test_hadamard_sizes_below_one_are_refused():
    for g in (0, -4):
        with pytest.raises(ValueError, match="power of two"):
            hadamard_matrix(g)


def test_tile_allocation_marks_int_n_times_one_minus_r_tiles_per_token():
    x = torch.ones(2, 32)
    x[:, 16:24] = 0.0
    x[:, 16] = 3.0  # tile 2 of each token: one-hot, the lowest entropy
    tile_low, token_low = allocate_bits(x, 8, "tile", 0.75, impl="torch")  # int(4 x 0.25) = 1 per token
    assert token_low is None
    assert tile_low.tolist() == [False, False, True, False] * 2


def test_codes_round_half_up():
    x = torch.tensor([[0.0, 15.0, 2.5, 2.49, 1.0, 2.0, 4.0, 8.0]])  # zero 0, scale 1
    p = _one_width(x, 4)
    assert p.codes.tolist() == [0xF0, 0x3 | 0x2 << 4, 0x21, 0x84]


def test_a_tile_with_a_tiny_range_keeps_its_small_scale():
    x = (1.0 + torch.arange(8.0) * 2.0**-15).reshape(1, 8)  # range 7 x 2^-15, about 2.1e-4
    p = _one_width(x, 4)
    assert p.scale.item() < 2e-5
    err = (tah_dequantize(p, impl="torch") - x).abs().max().item()
    assert err <= p.scale.item() / 2 * (1 + 1e-6)


def test_allocation_counts_the_low_tiles_of_every_sequence():
    x = torch.randn(3, 4, 16, generator=torch.Generator().manual_seed(4))
    p = tah_quantize(x, bits=4, bits_low=2, tile_size=8, allocation="token", high_fraction=0.5, impl="torch")
    assert p.token_low.sum(-1).tolist() == [2, 2, 2]
    # 12 high tiles x 8 codes x 4 bits + 12 low tiles x 8 codes x 2 bits
    assert p.codes.numel() == 12 * 4 + 12 * 2
    assert (tah_dequantize(p, impl="torch") - x).abs().max() < 2.0
    t = tah_quantize(x, bits=4, bits_low=2, tile_size=8, allocation="tile", high_fraction=0.5, impl="torch")
    assert int(t.tile_low.sum()) == 12 and t.codes.numel() == 12 * 4 + 12 * 2  # one of the 2 tiles per token
    assert (tah_dequantize(t, impl="torch") - x).abs().max() < 2.0


def test_entropy_of_tiny_rows_is_scale_free():
    rows = torch.tensor([[1e-6, 1e-6], [1e-6, 0.0], [3e-7, 1e-7]])
    h = row_entropy(rows, impl="torch")
    p = 0.75
    assert h.tolist() == pytest.approx([math.log(2), 0.0, -(p * math.log(p) + (1 - p) * math.log(1 - p))], abs=1e-5)
