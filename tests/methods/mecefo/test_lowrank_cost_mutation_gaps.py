"""Mutation-audit gaps in MeCeFO's technique III (methods/mecefo/lowrank.py) and the measured neighbour cost of
Table 6 (methods/mecefo/cost.py), each checked against hand-computed or independently measured values.

- `top_right_singular` keeps the TOP right singular vectors (the bottom ones also pass the projection and
  monotonicity tests); the low-rank weight gradient and the exact input gradient on a 3 x 4 weight by hand;
- `lowrank_flops` term by term;
- `saved_bytes`: parameters excluded, each storage counted once (two views of one tensor are one storage);
- `neighbour_cost`: the normal rank runs exactly whatever the neighbour's mode; memory and time ratios from
  independent measurements and a fake clock (median of the repeats, neighbour over normal); recomputation alone
  (technique II) runs the neighbour path.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from methods.mecefo import cost
from methods.mecefo.lowrank import lowrank_flops, lowrank_linear, top_right_singular
from methods.mecefo.neighbour import EXACT, MECEFO, Techniques
from methods.models.gpt import TinyLlama

# singular values 3, 2, 1 with right singular vectors e2, e4, e1 (e3 spans the kernel)
W = torch.tensor([[0.0, 3.0, 0.0, 0.0], [0.0, 0.0, 0.0, 2.0], [1.0, 0.0, 0.0, 0.0]], dtype=torch.float64)


def test_top_right_singular_vectors_and_the_projected_gradient_by_hand():
    v1 = top_right_singular(W, 1)
    torch.testing.assert_close(v1 @ v1.T, torch.diag(torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=torch.float64)))
    v2 = top_right_singular(W, 2)
    torch.testing.assert_close(v2 @ v2.T, torch.diag(torch.tensor([0.0, 1.0, 0.0, 1.0], dtype=torch.float64)))
    assert top_right_singular(W, 9).shape == (4, 3)  # r capped at min(m, n)
    layer = nn.Linear(4, 3, bias=False).double()
    with torch.no_grad():
        layer.weight.copy_(W)
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]], dtype=torch.float64, requires_grad=True)
    y = lowrank_linear(x, layer, v2)
    torch.testing.assert_close(y, torch.tensor([[6.0, 8.0, 1.0]], dtype=torch.float64))
    y.sum().backward()
    # exact G_W = 1 x^T (every row [1, 2, 3, 4]); the projection keeps input coordinates 2 and 4
    expected = torch.tensor([[0.0, 2.0, 0.0, 4.0]] * 3, dtype=torch.float64)
    torch.testing.assert_close(layer.weight.grad, expected)
    torch.testing.assert_close(x.grad, torch.tensor([[1.0, 3.0, 0.0, 2.0]], dtype=torch.float64))  # W^T 1, exact


def test_lowrank_flops_term_by_term():
    assert lowrank_flops(b=2, m=3, n=5, r=1) == (60, 20 + 12 + 30)
    assert lowrank_flops(b=7, m=11, n=13, r=2) == (2 * 7 * 11 * 13, 2 * 7 * 2 * 13 + 2 * 7 * 2 * 11 + 2 * 2 * 11 * 13)


def test_saved_bytes_skips_parameters_and_counts_a_storage_once():
    layer = nn.Linear(4, 3, bias=False)
    x = torch.ones(2, 4, requires_grad=True)
    saved, out = cost.saved_bytes(layer, lambda: layer(x).sum())
    assert saved == 2 * 4 * 4 and out.requires_grad  # the input; the weight is a parameter
    y = torch.ones(2, 3, requires_grad=True)
    saved, _ = cost.saved_bytes(nn.Module(), lambda: (y[0] * y[1]).sum())  # two views of one 24-byte storage
    assert saved == 2 * 3 * 4


class _Clock:
    """perf_counter for `cost`: pairs of calls (start, end) that advance by the next duration."""

    def __init__(self, durations: list[float]):
        self.durations, self.now, self.started = iter(durations), 0.0, False

    def perf_counter(self) -> float:
        if self.started:
            self.now += next(self.durations)
        self.started = not self.started
        return self.now


def _model() -> TinyLlama:
    return TinyLlama(vocab_size=20, d_model=16, n_layers=2, n_heads=2, d_ff=24, max_seq_len=12, seed=3)


def _batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 20, (3, 12), generator=gen), torch.randint(0, 20, (3, 12), generator=gen)


def test_neighbour_cost_from_independent_measurements_and_a_fake_clock(monkeypatch):
    model, own, failed = _model(), _batch(0), _batch(1)
    normal_bytes, _ = cost.saved_bytes(model, lambda: model.loss(*own))
    doubled = (torch.cat([own[0], failed[0]]), torch.cat([own[1], failed[1]]))
    doubled_bytes, _ = cost.saved_bytes(model, lambda: model.loss(*doubled))
    states = 16 * sum(p.numel() for p in model.parameters())  # fp32 weights, gradients, two AdamW moments
    # passes alternate normal, neighbour: normal 1, 5, 2 s (median 2), neighbour 3, 9, 6 s (median 6)
    monkeypatch.setattr(cost, "time", SimpleNamespace(perf_counter=_Clock([1, 3, 5, 9, 2, 6]).perf_counter))
    naive = cost.neighbour_cost(model, own, failed, EXACT, repeats=3)
    assert naive["state_bytes"] == states
    assert naive["normal_activation_bytes"] == normal_bytes and naive["neighbour_activation_bytes"] == doubled_bytes
    assert naive["normal_memory_bytes"] == states + normal_bytes
    assert naive["neighbour_memory_bytes"] == states + doubled_bytes
    assert naive["memory_ratio"] == pytest.approx((states + doubled_bytes) / (states + normal_bytes))
    assert naive["memory_ratio"] > 1.2
    assert (naive["normal_step_s"], naive["neighbour_step_s"]) == (2.0, 6.0)
    assert naive["time_ratio"] == pytest.approx(3.0)
    monkeypatch.setattr(cost, "time", SimpleNamespace(perf_counter=_Clock([1.0] * 2).perf_counter))
    full = cost.neighbour_cost(model, own, failed, MECEFO, repeats=1)
    assert full["normal_activation_bytes"] == normal_bytes  # a normal rank is exact whatever the neighbour runs
    assert full["neighbour_activation_bytes"] < doubled_bytes and full["memory_ratio"] < naive["memory_ratio"]


def test_recomputation_alone_keeps_less_than_the_naive_neighbour():
    model = _model()
    naive = cost.neighbour_cost(model, _batch(0), _batch(1), EXACT, repeats=1)
    recompute = cost.neighbour_cost(model, _batch(0), _batch(1), Techniques(recompute_ffn=True), repeats=1)
    assert recompute["neighbour_activation_bytes"] < naive["neighbour_activation_bytes"]
