"""Gaps in the tests of `cost` found by a mutation audit.

- `state_bytes` uses the parameters' own element size (fp64: 8 bytes, four copies);
- `neighbour_cost` doubles the batch with the failed rank's own micro-batch (which may have another number of
  rows), and projects on bases of the technique's own rank: two more rank-r columns per token and per FFN matrix,
  plus the bases themselves, counted by hand.
"""

from __future__ import annotations

import torch

from methods.mecefo import cost
from methods.mecefo.neighbour import EXACT, Techniques
from methods.models.gpt import TinyLlama


def _model() -> TinyLlama:
    return TinyLlama(vocab_size=20, d_model=16, n_layers=2, n_heads=2, d_ff=24, max_seq_len=12, seed=3)


def _batch(seed: int, rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 20, (rows, 12), generator=gen), torch.randint(0, 20, (rows, 12), generator=gen)


def test_state_bytes_of_an_fp64_model():
    layer = torch.nn.Linear(3, 5).double()  # 15 weights + 5 biases
    assert cost.state_bytes(layer) == 4 * 20 * 8


def test_the_neighbour_runs_its_own_and_the_failed_micro_batch():
    model, own, failed = _model(), _batch(0, 2), _batch(1, 4)
    six_rows, _ = cost.saved_bytes(model, lambda: model.loss(torch.cat([own[0], failed[0]]),
                                                              torch.cat([own[1], failed[1]])))
    out = cost.neighbour_cost(model, own, failed, EXACT, repeats=1)
    assert out["neighbour_activation_bytes"] == six_rows
    assert out["neighbour_activation_bytes"] != cost.saved_bytes(model, lambda: model.loss(*_batch(2, 4)))[0]


def test_the_projection_rank_is_the_techniques_own():
    """72 tokens (6 rows of 12); per layer, gate / up / down each keep x V [72, r] in fp32, and their bases V
    [16, r], [16, r], [24, r]: rank 4 over rank 2 adds 2 layers x (3 x 72 + 56) x 2 columns x 4 bytes."""
    model, own, failed = _model(), _batch(0, 2), _batch(1, 4)
    r2 = cost.neighbour_cost(model, own, failed, Techniques(low_rank=2), repeats=1)
    r4 = cost.neighbour_cost(model, own, failed, Techniques(low_rank=4), repeats=1)
    assert r4["neighbour_activation_bytes"] - r2["neighbour_activation_bytes"] == 2 * (3 * 72 + 56) * 2 * 4
    assert r4["normal_activation_bytes"] == r2["normal_activation_bytes"]
