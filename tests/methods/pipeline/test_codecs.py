"""Activation codecs: the bytes on the wire are exactly what is packed, the receiver's tensor equals the
sender's bit for bit, and each codec's error stays within its quantization step."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from methods.pipeline.bits import BitReader, pack_fields, packed_length
from methods.pipeline.codecs import CODECS, TAHQuantCodec, make_codec

SETTINGS = settings(max_examples=25, deadline=None)

# every codec and setting the property tests draw from (tile sizes divide the channel counts drawn below)
CONFIGS = [
    ("none", {"dtype": "float32"}), ("none", {"dtype": "bfloat16"}), ("none", {"dtype": "float16"}),
    ("uniform_tensor", {"bits": 3}), ("uniform_tensor", {"bits": 8}),
    ("uniform_tile", {"bits": 4, "tile_size": 8}), ("uniform_tile", {"bits": 2, "tile_size": 16}),
    ("fixpoint", {"bits": 6}), ("fixpoint", {"bits": 4}),
    ("tahquant", {"tile_size": 8}), ("tahquant", {"tile_size": 16, "allocation": "tile"}),
    ("tahquant", {"tile_size": 8, "allocation": "uniform", "bits": 5}),
    ("tahquant", {"tile_size": 16, "bits": 4, "bits_low": 2, "high_fraction": 0.5}),
]


@st.composite
def activations(draw) -> torch.Tensor:
    """[B, S, C] activations with C a multiple of 16, Gaussian plus optional outliers, some constant."""
    B, S, C = draw(st.integers(1, 3)), draw(st.integers(1, 12)), 16 * draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**31 - 1))
    scale = draw(st.sampled_from([1e-3, 1.0, 50.0]))
    x = torch.randn(B, S, C, generator=torch.Generator().manual_seed(seed)) * scale
    for _ in range(draw(st.integers(0, 3))):
        b, s, c = draw(st.integers(0, B - 1)), draw(st.integers(0, S - 1)), draw(st.integers(0, C - 1))
        x[b, s, c] = draw(st.floats(-2000, 2000, allow_nan=False))
    if draw(st.booleans()):
        x[0, 0] = 0.25  # a constant token
    return x


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c[0]}{c[1]}")  # every codec drawn, every run
@settings(max_examples=12, deadline=None)
@given(x=activations())
def test_wire_bytes_are_what_is_packed_and_receiver_agrees_bit_for_bit(config, x):
    name, params = config
    codec = make_codec(name, **params)
    enc = codec.encode(x)
    assert enc.wire_bytes == len(enc.payload)
    if codec.fixed_size:
        assert len(enc.payload) == codec.payload_bytes(x.shape)
    else:  # TAH-Quant: exactly the kernel's bit accounting; the fixed send buffer is never smaller
        from kernels.tah_quant import tah_quantize

        packed = tah_quantize(x, bits=codec.bits, bits_low=codec.bits_low, tile_size=codec.tile_size,
                              allocation=codec.allocation, high_fraction=codec.high_fraction, impl="torch")
        assert len(enc.payload) == packed.wire_bytes <= codec.payload_bytes(x.shape)
    received = codec.decode(enc.payload, x.shape)
    assert received.shape == x.shape and received.dtype == torch.float32
    assert torch.equal(received.view(torch.int32), enc.sender_view.view(torch.int32))


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c[0]}{c[1]}")
def test_an_empty_activation_round_trips_with_its_shape(config):
    codec = make_codec(config[0], **config[1])
    x = torch.zeros(0, 4, 16)
    enc = codec.encode(x)
    assert len(enc.payload) == enc.wire_bytes == (codec.payload_bytes(x.shape) if codec.fixed_size else 0)
    received = codec.decode(enc.payload, x.shape)
    assert received.shape == x.shape and received.dtype == torch.float32


def _tah_bits_exact(codec: TAHQuantCodec, shape, n_flagged: int) -> int:
    """Card B9 item 13: codes + 32 bits per tile + 1 flag bit per tile + map + pivots of flagged tiles."""
    n_tiles = math.prod(shape) // codec.tile_size
    maps = {"token": math.prod(shape[:-1]), "tile": n_tiles, "uniform": 0}[codec.allocation]
    return codec.code_bits(shape) + 33 * n_tiles + maps + math.ceil(math.log2(codec.tile_size)) * n_flagged


@SETTINGS
@given(x=activations())
def test_tahquant_bit_budget_matches_the_cards_formula(x):
    codec = TAHQuantCodec(tile_size=16)
    from kernels.tah_quant import tah_quantize

    packed = tah_quantize(x, tile_size=16, allocation="token", impl="torch")
    bits = _tah_bits_exact(codec, tuple(x.shape), int(packed.flags.sum()))
    assert len(codec.encode(x).payload) == -(-bits // 8)


def test_tahquant_paper_shape_buffer_is_the_cards_number():
    # GPT2-XL boundary (1, 1024, 1600), G=64, 80% INT4 / 20% INT3, all tiles flagged: 903,328 B (card D4)
    assert TAHQuantCodec().payload_bytes((1, 1024, 1600)) == 903_328
    assert make_codec("fixpoint", bits=6).payload_bytes((1, 1024, 1600)) == 1_232_000
    assert make_codec("fixpoint", bits=4).payload_bytes((1, 1024, 1600)) == 822_400
    assert make_codec("none").payload_bytes((1, 1024, 1600)) == 6_553_600


@SETTINGS
@given(x=activations(), bits=st.integers(2, 8))
def test_fixpoint_error_is_half_a_step_except_the_clipped_maximum(x, bits):
    enc = make_codec("fixpoint", bits=bits).encode(x)
    scale = x.abs().reshape(-1, x.shape[-1]).amax(0).to(torch.float16)
    scale = torch.where(scale.float() < x.abs().reshape(-1, x.shape[-1]).amax(0),
                        torch.nextafter(scale, torch.tensor(float("inf"), dtype=torch.float16)), scale).float()
    step = scale / 2 ** (bits - 1)
    err = (enc.sender_view - x).abs().reshape(-1, x.shape[-1])
    assert (err <= step * 1.0001 + 1e-30).all()  # one step at the clipped positive maximum (card B9 item 14)
    inside = x.reshape(-1, x.shape[-1]) < scale * (1 - 2.0 ** -bits)
    assert (err[inside] <= step.expand_as(err)[inside] / 2 * 1.0001 + 1e-30).all()


@SETTINGS
@given(x=activations(), bits=st.integers(2, 8))
def test_uniform_tile_error_is_within_half_a_step_of_its_fp16_scale(x, bits):
    codec = make_codec("uniform_tile", bits=bits, tile_size=16)
    enc = codec.encode(x)
    tiles = x.reshape(-1, 16)
    zero = tiles.amin(1).to(torch.float16).float()
    scale = torch.clamp((tiles.amax(1) - zero) / (2**bits - 1), min=2.0**-24).to(torch.float16).float()
    err = (enc.sender_view.reshape(-1, 16) - tiles).abs()
    # half a step plus what the fp16 rounding of zero and scale moves the grid: 2^bits half-ulps of the scale
    # (relative 2^-11, or 2^-25 absolute among fp16 subnormals)
    slack = (tiles.amin(1) - zero).abs() + (2**bits) * torch.clamp(scale * 2.0**-11, min=2.0**-25)
    assert (err <= (scale / 2 + slack)[:, None] * 1.001 + 1e-6).all()


@SETTINGS
@given(x=activations(), bits=st.integers(2, 8))
def test_uniform_tensor_error_is_within_half_a_step_and_code_0_is_the_minimum(x, bits):
    enc = make_codec("uniform_tensor", bits=bits).encode(x)
    step = max((float(x.max()) - float(x.min())) / (2**bits - 1), 2.0**-126)
    err = (enc.sender_view - x).abs()
    assert float(err.max()) <= step / 2 * (1 + 1e-5) + 1e-6 * float(x.abs().max())
    assert float(enc.sender_view.min()) == float(x.min())  # code 0 is the tensor's minimum exactly


def test_more_bits_never_hurt_on_a_heavy_tailed_tensor():
    x = torch.randn(2, 16, 64, generator=torch.Generator().manual_seed(0)) ** 3
    for name, extra in (("uniform_tensor", {}), ("uniform_tile", {"tile_size": 16}), ("fixpoint", {})):
        errors = [float((make_codec(name, bits=b, **extra).encode(x).sender_view - x).pow(2).mean()) for b in (3, 4, 6, 8)]
        assert errors == sorted(errors, reverse=True), name


def test_tahquant_beats_plain_tile_quantization_when_tiles_hold_outliers():
    x = torch.randn(4, 32, 128, generator=torch.Generator().manual_seed(1))
    x[:, :, ::64] *= 40.0  # one outlier channel per tile of 64
    tah = make_codec("tahquant", bits=4, bits_low=4, allocation="uniform").encode(x)
    tile = make_codec("uniform_tile", bits=4, tile_size=64).encode(x)
    assert float((tah.sender_view - x).pow(2).mean()) < 0.5 * float((tile.sender_view - x).pow(2).mean())


def test_bit_stream_round_trips_and_rejects_values_too_wide():
    values = torch.randint(0, 2**13, (37,)).numpy()
    payload = pack_fields([(values, 13), (values % 2, 1)])
    assert len(payload) == packed_length([(13, 37), (1, 37)])
    reader = BitReader(payload)
    assert reader.read(37, 13).tolist() == values.tolist()
    assert reader.read(37, 1).tolist() == (values % 2).tolist()
    with pytest.raises(ValueError, match="does not fit"):
        pack_fields([(values, 3)])


@settings(max_examples=60, deadline=None)
@given(fields=st.lists(st.tuples(st.integers(1, 64), st.integers(0, 9), st.integers(0, 2**32)), max_size=5),
       skip=st.integers(0, 4))
def test_fields_of_any_width_round_trip_in_order_and_skips_move_from_the_current_position(fields, skip):
    rng = np.random.default_rng(fields[0][2] if fields else 0)
    drawn = [(rng.integers(0, 2**63, count, dtype=np.uint64) * 2 + rng.integers(0, 2, count, dtype=np.uint64))
             >> np.uint64(64 - width) for width, count, _ in fields]  # the full range of each width
    payload = pack_fields([(values, width) for values, (width, _, _) in zip(drawn, fields)])
    assert len(payload) == packed_length([(width, count) for width, count, _ in fields])
    reader = BitReader(payload)
    for values, (width, count, _) in zip(drawn, fields):
        assert reader.read(count, width).tolist() == values.tolist()
    assert 0 <= reader.remaining_bits < 8
    if fields and fields[0][1] > skip + 1:  # one value read, ``skip`` skipped: the next is value 1 + skip
        width = fields[0][0]
        reader = BitReader(payload)
        reader.read(1, width)
        assert reader.skip(skip * width).read(1, width).tolist() == drawn[0][1 + skip:2 + skip].tolist()


def test_width_64_holds_any_uint64_and_widths_outside_1_to_64_and_short_payloads_are_refused():
    widest = np.array([2**64 - 1, 0, 2**63], dtype=np.uint64)
    assert BitReader(pack_fields([(widest, 64)])).read(3, 64).tolist() == widest.tolist()
    assert pack_fields([]) == b""
    assert BitReader(b"").remaining_bits == 0
    for width in (0, 65):
        with pytest.raises(ValueError, match="field width must be in 1..64"):
            pack_fields([(np.array([1]), width)])
    with pytest.raises(ValueError, match="payload too short: need 24 bits, have 16"):
        BitReader(pack_fields([(np.array([1, 2]), 8)])).skip(8).read(2, 8)


def test_unknown_codec_or_parameter_is_one_clear_error():
    with pytest.raises(ValueError, match="unknown activation codec 'zip'; known: none"):
        make_codec("zip")
    with pytest.raises(ValueError, match="codec fixpoint"):
        make_codec("fixpoint", ratio=0.1)
    assert set(CODECS) == {"none", "uniform_tensor", "uniform_tile", "fixpoint", "tahquant"}
