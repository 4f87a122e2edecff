"""Gaps a mutation audit found in methods/pipeline/analysis.py: the pivot swap and the outlier test's boundary
(largest exactly twice the second), the Hadamard spreading of a one-hot tile with and without the pivot, the
synthetic data's outliers, and each row's numbers (mse, rel_error, bits per element, the released mix's
nominal bits) on a tensor small enough to compute by hand."""

from __future__ import annotations

import math

import pytest
import torch

from methods.pipeline import analysis as an


def test_the_pivot_swap_exchanges_the_outlier_with_index_0():
    tiles = torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])
    assert an._swap(tiles, torch.tensor([2, 0])).tolist() == [[3.0, 2.0, 1.0, 4.0], [5.0, 6.0, 7.0, 8.0]]


def test_a_tile_whose_largest_is_exactly_twice_the_second_is_flagged():
    tiles = torch.tensor([[4.0, -2.0, 0.0, 0.0], [4.0, 2.5, 0.0, 0.0]])
    _, flags, pivots = an._transform(tiles, pivot=True)
    assert flags.tolist() == [True, False] and pivots.tolist() == [0, 0]


def test_a_one_hot_tile_spreads_flat_after_the_pivot_and_by_its_hadamard_row_without():
    tile = torch.tensor([[0.0, 0.0, -1.0, 0.0]])  # the outlier at index 2 (by magnitude)
    with_pivot, flags, pivots = an._transform(tile, pivot=True)
    assert flags.tolist() == [True] and pivots.tolist() == [2]
    assert with_pivot.tolist() == [[-0.5, -0.5, -0.5, -0.5]]  # row 0 of H_4 / 2 is all ones
    without, _, _ = an._transform(tile, pivot=False)
    assert without.tolist() == [[-0.5, -0.5, 0.5, 0.5]]  # row 2 of the Sylvester H_4 / 2: + + - -
    for t, pivot in ((with_pivot, True), (without, False)):
        assert an._inverse(t, flags, pivots, pivot).tolist() == tile.tolist()


def test_unflagged_tiles_pass_through_both_ways():
    tiles = torch.tensor([[1.0, 1.0, 1.0, 1.0], [3.0, -2.0, 1.0, 0.5]])
    t, flags, pivots = an._transform(tiles, pivot=True)
    assert flags.tolist() == [False, False] and torch.equal(t, tiles)
    assert torch.equal(an._inverse(tiles, flags, pivots, True), tiles)


def test_per_tensor_row_at_1_bit_by_hand():
    """x = 0, 1, 2, 4 at 1 bit: zero 0, scale 4, codes floor(x / 4 + 1/2) = 0, 0, 1, 1 -> 0, 0, 4, 4. Squared error
    1 + 4 = 5, mse 5/4, rel_error sqrt(5 / 21); wire 2 x 32 + 4 x 1 = 68 bits -> 9 B = 72 bits, 18 per element."""
    x = torch.tensor([[[0.0, 1.0, 2.0, 4.0]]])
    (row,) = an.codec_errors(x, bits=(1,), tile_size=4, variants=("per-tensor",))
    assert row["mse"] == 1.25 and row["rel_error"] == pytest.approx(math.sqrt(5 / 21), rel=1e-12)
    assert row["bits_per_element"] == 18.0 and math.isnan(row["flagged_share"])


def test_flagged_share_is_a_share_and_fixpoint_is_skipped_at_1_bit():
    x = torch.tensor([[[8.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]]])  # tile 1 flagged, tile 2 not
    rows = an.codec_errors(x, bits=(1, 2), tile_size=4, variants=("per-channel fixpoint", "tile + Hadamard"))
    assert [(r["variant"], r["bits"]) for r in rows] == [("tile + Hadamard", 1), ("per-channel fixpoint", 2),
                                                         ("tile + Hadamard", 2)]
    assert rows[0]["flagged_share"] == 0.5 and math.isnan(rows[1]["flagged_share"])
    # tile + Hadamard: 2 tiles x 32 + 8 x 1 bits = 72 bits (9 B) + 1 flag bit per tile: 74 / 8 per element
    assert rows[0]["bits_per_element"] == 74 / 8


def test_the_released_mix_is_nominally_3_8_bits_and_its_error_is_the_codecs():
    from methods.pipeline.codecs import TAHQuantCodec

    x = an.synthetic_activations("outlier_channels", (1, 10, 64), seed=0)
    row = an.mixed_tahquant_error(x, 32)
    assert row["bits"] == pytest.approx(3.8, abs=1e-12)
    enc = TAHQuantCodec(tile_size=32).encode(x)
    diff = (enc.sender_view.double() - x.double()).flatten()
    assert row["rel_error"] == pytest.approx(float(torch.linalg.vector_norm(diff) / torch.linalg.vector_norm(
        x.double())), rel=1e-9)
    assert row["mse"] == pytest.approx(float(diff.square().mean()), rel=1e-9)
    assert row["bits_per_element"] == 8 * len(enc.payload) / x.numel()


def test_outlier_channels_are_distinct_channels_of_the_gaussian_scaled_up():
    plain = an.synthetic_activations("outlier_channels", (2, 5, 16), seed=1, n_outlier_channels=0)
    every = an.synthetic_activations("outlier_channels", (2, 5, 16), seed=1, n_outlier_channels=16)
    assert torch.equal(every, plain * 30.0)  # 16 of 16 channels drawn without replacement: all of them
    three = an.synthetic_activations("outlier_channels", (2, 5, 16), seed=1, n_outlier_channels=3)
    changed = (three != plain).any(dim=(0, 1))
    assert int(changed.sum()) == 3 and torch.equal(three[..., changed], plain[..., changed] * 30.0)


def test_massive_tokens_hold_signed_values_of_the_given_size():
    x = an.synthetic_activations("massive_tokens", (2, 8, 16), seed=2, n_massive_tokens=2, massive_per_token=3,
                                 massive_value=200.0)
    for b in range(2):
        hits = (x[b].abs() == 200.0)
        assert int(hits.sum()) == 6 and sorted(hits.sum(dim=1).tolist())[-2:] == [3, 3]
    assert set(x[x.abs() == 200.0].tolist()) == {-200.0, 200.0}
