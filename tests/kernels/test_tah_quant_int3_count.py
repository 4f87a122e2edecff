"""kernels/tah_quant.py: how many tokens get the low bit width (INT3) follows the authors' int(S * (1 - r)).

TAH-Quant (He et al., arXiv 2506.01352), released ``TAHQuantCompressor.compress``:
``low_prec_seq_len = int(S * (1 - high_precision_allocation_ratio))``. In floats 1 - 0.8 = 0.19999999999999996,
so at r = 0.8 a sequence whose length is a multiple of 5 gets one INT3 token fewer than floor(S / 5).
"""

import pytest
import torch

from kernels.tah_quant import low_count, tah_dequantize, tah_quantize

# (S, r, INT3 tokens per sequence): multiples of 5 are truncated by the float product, other lengths are not
CASES = [
    (5, 0.8, 0),
    (10, 0.8, 1),
    (15, 0.8, 2),
    (1000, 0.8, 199),
    (7, 0.8, 1),
    (12, 0.8, 2),
    (1024, 0.8, 204),
    (10, 0.5, 5),
    (20, 0.9, 1),
]


@pytest.mark.parametrize("S,r,expected", CASES)
def test_low_count_is_the_authors_expression(S, r, expected):
    assert low_count(S, r) == expected == int(S * (1 - r))


@pytest.mark.parametrize("impl", ["torch", "triton"])
@pytest.mark.parametrize("S,expected", [(5, 0), (10, 1), (15, 2), (12, 2), (7, 1)])
def test_token_allocation_marks_that_many_int3_tokens(S, expected, impl):
    G, C, B = 16, 32, 2
    x = torch.randn(B, S, C, generator=torch.Generator().manual_seed(S))
    packed = tah_quantize(x, bits=4, bits_low=3, tile_size=G, allocation="token", high_fraction=0.8, impl=impl)
    assert packed.token_low.sum(-1).tolist() == [expected] * B
    low_tiles = B * expected * (C // G)
    assert int(packed.tile_low.sum()) == low_tiles
    assert packed.codes.numel() * 8 == G * (3 * low_tiles + 4 * (packed.n_tiles - low_tiles))
    # decoding still returns every token in place, close to its input
    y = tah_dequantize(packed, impl=impl)
    assert y.shape == x.shape and float((y - x).abs().max()) < 0.5
