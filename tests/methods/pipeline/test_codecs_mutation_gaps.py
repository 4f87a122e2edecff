"""Gaps a mutation audit found in methods/pipeline/bits.py and codecs.py: the value-fits check of a 63-bit field,
the 16-bit ceiling of the uniform codecs, the input checks (integer tensors, NaN / inf, an unknown raw dtype),
hand-computed payloads and views of each codec on tiny tensors, TAH-Quant's send buffer and settings, and (a fault
the audit found, fixed) activations beyond the fp16 range of the zeros / scales (TAH-Quant's too), refused instead
of decoded as NaN, and activations whose max - min overflows float32 (the per-tensor codec)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from methods.pipeline.bits import pack_fields
from methods.pipeline.codecs import make_codec


def test_a_63_bit_field_refuses_a_value_of_2_to_the_63():
    assert len(pack_fields([(np.array([2**63 - 1], dtype=np.uint64), 63)])) == 8
    with pytest.raises(ValueError, match="does not fit in 63 bits"):
        pack_fields([(np.array([2**63], dtype=np.uint64), 63)])


def test_16_bit_uniform_codes_are_exact_on_the_integers_0_to_65535_and_17_bits_are_refused():
    x = torch.arange(65536, dtype=torch.float32).reshape(1, 256, 256)  # scale (65535 - 0) / 65535 = 1
    enc = make_codec("uniform_tensor", bits=16).encode(x)
    assert len(enc.payload) == 8 + 2 * 65536 and torch.equal(enc.sender_view, x)
    with pytest.raises(ValueError, match="bits"):
        make_codec("uniform_tensor", bits=17)


@pytest.mark.parametrize("name", ["none", "uniform_tensor", "uniform_tile", "fixpoint", "tahquant"])
def test_integer_tensors_are_refused_by_every_codec(name):
    with pytest.raises(TypeError, match="floating-point"):
        make_codec(name).encode(torch.ones(1, 2, 64, dtype=torch.int32))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("name", ["uniform_tensor", "uniform_tile", "fixpoint", "tahquant"])
def test_quantizing_codecs_refuse_non_finite_values_and_none_sends_them(name, bad):
    x = torch.zeros(1, 2, 64)
    x[0, 1, 5] = bad
    with pytest.raises(ValueError, match="non-finite"):
        make_codec(name).encode(x)
    received = make_codec("none").decode(make_codec("none").encode(x).payload, x.shape)
    assert torch.equal(received.isnan(), x.isnan())
    assert torch.equal(torch.nan_to_num(received, nan=0.0), torch.nan_to_num(x, nan=0.0))


def test_an_unknown_raw_dtype_is_refused():
    with pytest.raises(ValueError, match="dtype must be one of"):
        make_codec("none", dtype="int8")


# ------------------------------------------------------------------------------------ hand-computed payloads
def test_uniform_tensor_payload_of_0_1_2_3_at_2_bits():
    # zero 0.0 and scale (3 - 0) / 3 = 1.0 as little-endian fp32, then codes 0, 1, 2, 3 two bits each: 0b11100100
    enc = make_codec("uniform_tensor", bits=2).encode(torch.tensor([0.0, 1.0, 2.0, 3.0]))
    assert enc.payload == bytes.fromhex("00000000" "0000803f" "e4")
    assert enc.sender_view.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_uniform_tile_payload_with_a_constant_tile_at_1_bit():
    # tiles [1, 3] and [-2, -2]: fp16 zeros 1.0 (3c00), -2.0 (c000); scales 2.0 (4000) and, for the constant tile,
    # the floor 2^-24 (0001, the smallest fp16 subnormal); codes 0, 1, 0, 0 one bit each: 0b0010
    enc = make_codec("uniform_tile", bits=1, tile_size=2).encode(torch.tensor([[[1.0, 3.0, -2.0, -2.0]]]))
    assert enc.payload == bytes.fromhex("003c" "00c0" "0040" "0100" "02")
    assert enc.sender_view.flatten().tolist() == [1.0, 3.0, -2.0, -2.0]


def test_fixpoint_payload_at_3_bits_clips_the_positive_maximum():
    # channel scales 1.0 (3c00) and 0.5 (3800); q = round(x / scale * 4) clipped to -4..3: [[3, -4], [-4, 2]],
    # sent offset by 4 as 3-bit codes 7, 0, 0, 6: bits 111 000 000 011 (LSB first) -> 0x07, 0x0c
    enc = make_codec("fixpoint", bits=3).encode(torch.tensor([[1.0, -0.5], [-1.0, 0.25]]))
    assert enc.payload == bytes.fromhex("003c" "0038" "07" "0c")
    assert enc.sender_view.tolist() == [[0.75, -0.5], [-1.0, 0.25]]


def test_fixpoint_scale_rounds_up_to_fp16_only_when_fp16_is_below_the_max_abs():
    # 1 + 2^-12 rounds down to 1.0 in fp16, so the scale goes one ulp up (3c01); 1.0 itself stays 3c00
    enc = make_codec("fixpoint", bits=3).encode(torch.tensor([[1.0 + 2.0**-12, 1.0]]))
    assert enc.payload[:4] == bytes.fromhex("013c" "003c")
    assert enc.sender_view.tolist() == [[0.75 * (1 + 2.0**-10), 0.75]]


@pytest.mark.parametrize("name", ["uniform_tensor", "uniform_tile", "fixpoint"])
@pytest.mark.parametrize("value", [0.0, 0.25, -3.0])
def test_a_constant_tensor_round_trips_exactly(name, value):
    extra = {"tile_size": 8} if name == "uniform_tile" else {}
    codec = make_codec(name, bits=4, **extra)
    x = torch.full((2, 3, 16), value)
    enc = codec.encode(x)
    expected = x if name != "fixpoint" or value == 0.0 else torch.full_like(x, value * (7 / 8 if value > 0 else 1))
    assert torch.equal(enc.sender_view, expected)
    assert torch.equal(codec.decode(enc.payload, x.shape), expected)


def test_uniform_tile_refuses_channels_that_are_not_a_multiple_of_the_tile():
    codec = make_codec("uniform_tile", bits=4, tile_size=16)
    for call in (lambda: codec.encode(torch.zeros(1, 2, 24)), lambda: codec.payload_bytes((1, 2, 24))):
        with pytest.raises(ValueError, match="multiple of tile_size 16"):
            call()


def test_fixpoint_needs_two_bits_a_sign_and_a_magnitude():
    with pytest.raises(ValueError, match="bits"):
        make_codec("fixpoint", bits=1)
    assert make_codec("fixpoint", bits=2).encode(torch.tensor([[1.0], [-1.0]])).sender_view.tolist() == [[0.5], [-1.0]]


# ------------------------------------------------------------------------------------------------ TAH-Quant
def _all_flagged(shape, G: int) -> torch.Tensor:
    """Every tile of G channels holds one value 10x the others (passes the 2x outlier test)."""
    x = torch.linspace(0.1, 0.9, int(np.prod(shape))).reshape(shape)
    x[..., ::G] = 10.0
    return x


@pytest.mark.parametrize(("allocation", "shape", "expected"), [
    # tile: 4 tiles per token, int(4 x 0.5) = 2 low: codes 32 x 3 + 32 x 4 = 224 bits; 8 map bits; 8 tiles x
    # (32 zero/scale + 1 flag + 3 pivot) = 288 -> 520 bits = 65 B
    ("tile", (1, 2, 32), 65),
    # token: int(4 x 0.5) = 2 low tokens per sequence: 64 x 3 + 64 x 4 = 448; 8 map bits; 16 tiles x 36 = 576
    # -> 1032 bits = 129 B
    ("token", (2, 4, 16), 129),
    # uniform: 48 x 4 = 192; no map; 6 tiles x 36 = 216 -> 408 bits = 51 B
    ("uniform", (1, 3, 16), 51),
])
def test_tahquant_send_buffer_is_the_payload_when_every_tile_is_flagged(allocation, shape, expected):
    codec = make_codec("tahquant", bits=4, bits_low=3, tile_size=8, allocation=allocation, high_fraction=0.5)
    assert codec.payload_bytes(shape) == expected
    x = _all_flagged(shape, 8)
    enc = codec.encode(x)
    assert len(enc.payload) == expected
    assert torch.equal(codec.decode(enc.payload, shape), enc.sender_view)


@pytest.mark.parametrize("params", [{"high_fraction": 0.0}, {"high_fraction": 1.5}, {"tile_size": 24},
                                    {"tile_size": 4}, {"bits": 3, "bits_low": 4}, {"bits": 9}])
def test_tahquant_refuses_settings_outside_its_range(params):
    with pytest.raises(ValueError):
        make_codec("tahquant", **params)


def test_tile_map_is_sent_even_when_both_widths_are_equal():
    """allocation="tile" with bits_low == bits: the kernel drops the map from its layout but counts it; the codec
    sends the same map bits (the first bit per tile) as the 3/4-bit codec picks for the same activation."""
    x = torch.randn(2, 3, 64, generator=torch.Generator().manual_seed(4))
    n_tiles = x.numel() // 8
    maps = []
    for bits_low in (3, 4):
        enc = make_codec("tahquant", bits=4, bits_low=bits_low, tile_size=8, allocation="tile").encode(x)
        maps.append(np.unpackbits(np.frombuffer(enc.payload, np.uint8), bitorder="little")[:n_tiles])
    assert maps[0].sum() == 6  # int(8 tiles x 0.2) = 1 low tile per token, 6 tokens
    assert maps[0].tolist() == maps[1].tolist()


def test_an_empty_sequence_axis_needs_no_bytes():
    assert make_codec("tahquant", tile_size=8).payload_bytes((2, 0, 16)) == 0


# ---------------------------------------------------------------------- fault found by the audit, fixed
@pytest.mark.parametrize(("name", "x"), [
    ("fixpoint", torch.tensor([[7e4, 1.0], [1.0, 1.0]])),  # was: channel 0 decoded as NaN, silently
    ("uniform_tile", torch.tensor([[[-7e4, 1.0, 2.0, 3.0]]])),  # was: "a value does not fit in 4 bits"
])
def test_activations_beyond_the_fp16_metadata_range_are_refused_not_sent_as_nan(name, x):
    codec = make_codec(name, bits=4, **({"tile_size": 4} if name == "uniform_tile" else {}))
    with pytest.raises(ValueError, match="too large for the codec's fp16 zeros / scales"):
        codec.encode(x)


def test_tahquant_refuses_a_tile_whose_fp16_scale_overflows():
    """One-bit codes of [-4e4, 4e4] x 4: a step of 8e4 is beyond fp16 (it was sent, and decoded as NaN)."""
    codec = make_codec("tahquant", bits=1, bits_low=1, tile_size=8, allocation="uniform")
    with pytest.raises(ValueError, match="tahquant: activations too large for the codec's fp16 zeros / scales"):
        codec.encode(torch.tensor([[-4e4, 4e4] * 4]))
    assert codec.encode(torch.tensor([[-3e4, 3e4] * 4])).sender_view.tolist() == [[-3e4, 3e4] * 4]


def test_the_largest_fp16_scale_still_quantizes():
    enc = make_codec("fixpoint", bits=4).encode(torch.tensor([[65504.0, -65504.0]]))
    assert enc.sender_view.tolist() == [[65504.0 * 7 / 8, -65504.0]]  # codes 7 (clipped) and -8


def test_uniform_tensor_refuses_activations_whose_range_overflows_float32():
    # max - min = 6e38 is inf in float32: the scale would be inf and every code garbage
    with pytest.raises(ValueError, match="span more than the float32 range"):
        make_codec("uniform_tensor", bits=4).encode(torch.tensor([[3e38, -3e38]]))
    enc = make_codec("uniform_tensor", bits=1).encode(torch.tensor([[3e38, 0.0]]))  # range 3e38 still fits
    assert enc.sender_view.tolist() == [[pytest.approx(3e38), 0.0]]
