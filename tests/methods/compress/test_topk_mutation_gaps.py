"""Mutation gaps of Top-K (methods/compress/topk.py).

Closes: `topk_select` and `top_rows` return their indices in ascending order, as documented; row mode ranks rows
by energy.
"""

from __future__ import annotations

import torch

from methods.compress.topk import top_rows, topk_select


def test_selected_indices_come_back_ascending():
    assert topk_select(torch.tensor([1.0, 0.0, -9.0, 5.0, 0.5]), 3).tolist() == [0, 2, 3]
    assert top_rows(torch.tensor([1.0, 7.0, 0.0, 9.0, 8.0]), 3).tolist() == [1, 3, 4]


def test_row_mode_ranks_by_energy_not_by_the_largest_entry():
    from methods.compress import make_compressor
    from methods.compress.simulated import compress_once

    x = torch.tensor([[3.0, 0.0, 0.0, 0.0], [2.0, 2.0, 2.0, 2.0]])  # energies 9 and 16, largest entries 3 and 2
    (res,), _ = compress_once([make_compressor("topk", ratio=0.5, rows=True)], [x])
    assert res.aggregate.tolist() == [[0.0, 0.0, 0.0, 0.0], [2.0, 2.0, 2.0, 2.0]]
