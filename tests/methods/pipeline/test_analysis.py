"""Codec error analysis (`methods.pipeline.analysis`): the transforms invert exactly, the wire bits are counted,
and on outlier data each of TAH-Quant's ingredients lowers the error."""

from __future__ import annotations

import math

import pytest
import torch

from methods.pipeline import analysis as an


def test_transforms_invert_without_quantization():
    x = an.synthetic_activations("outlier_channels", (1, 8, 128), seed=3).reshape(-1, 32)
    for pivot in (False, True):
        t, flags, pivots = an._transform(x, pivot)
        assert flags.any() and not flags.all()
        assert torch.allclose(an._inverse(t, flags, pivots, pivot), x, atol=1e-4)


def test_wire_bits_add_flags_and_pivots_of_flagged_tiles():
    x = an.synthetic_activations("massive_tokens", (1, 32, 128), seed=0, n_massive_tokens=4)
    rows = {r["variant"]: r for r in an.codec_errors(x, bits=(4,), tile_size=32)}
    n, tiles = x.numel(), x.numel() // 32
    assert rows["per-tile"]["bits_per_element"] == 4 + 32 * tiles / n
    assert rows["tile + Hadamard"]["bits_per_element"] == 4 + 33 * tiles / n
    flagged = round(rows["tile + pivot + Hadamard"]["flagged_share"] * tiles)
    assert rows["tile + pivot + Hadamard"]["bits_per_element"] == 4 + (33 * tiles + 5 * flagged) / n


def test_each_ingredient_lowers_the_error_on_outlier_data():
    for kind in an.DATASETS:
        x = an.synthetic_activations(kind, (1, 64, 256), seed=0, n_outlier_channels=4, n_massive_tokens=3)
        mse = {r["variant"]: r["mse"] for r in an.codec_errors(x, bits=(4,), tile_size=64)}
        assert mse["tile + pivot + Hadamard"] < mse["tile + Hadamard"] < mse["per-tile"], kind
        # the codec itself runs the same transform (its zero/scale rounding differs slightly)
        assert math.isclose(mse["TAH-Quant codec"], mse["tile + pivot + Hadamard"], rel_tol=0.1), kind


def test_released_mix_sits_between_three_and_four_bits():
    x = an.synthetic_activations("outlier_channels", (1, 40, 128), seed=1)
    mixed = an.mixed_tahquant_error(x, 32)
    three, four = (an.codec_errors(x, bits=(b,), tile_size=32, variants=("TAH-Quant codec",))[0] for b in (3, 4))
    assert four["mse"] < mixed["mse"] < three["mse"]
    assert three["bits_per_element"] < mixed["bits_per_element"] < four["bits_per_element"]


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="unknown synthetic"):
        an.synthetic_activations("flat", (1, 4, 32), seed=0)
    with pytest.raises(ValueError, match="unknown variant"):
        an.reconstruct(torch.zeros(1, 4, 32), "per-row", 4, 32)
