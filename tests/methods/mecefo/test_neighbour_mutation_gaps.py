"""Gaps in the tests of `neighbour` found by a mutation audit.

- `Techniques` refuses a negative ``low_rank``, ``refresh_every < 1`` and a flag that is not a bool (``"no"``);
- with ``low_rank = 0`` the FFN weight gradients are exact even when `LowRankBases` are passed along;
- the skipped branches still run forward: the loss under ``skip_ffn`` or ``skip_attention`` is the model's own
  loss (only the backward changes).
"""

from __future__ import annotations

import pytest
import torch

from methods.mecefo.lowrank import LowRankBases
from methods.mecefo.neighbour import Techniques, neighbour_loss
from methods.models.gpt import TinyLlama


def _model() -> TinyLlama:
    return TinyLlama(vocab_size=20, d_model=16, n_layers=2, n_heads=2, d_ff=24, max_seq_len=12, seed=3)


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.randint(0, 20, (3, 12), generator=gen), torch.randint(0, 20, (3, 12), generator=gen)


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"low_rank": -1}, ValueError, "low_rank"),
    ({"refresh_every": 0}, ValueError, "refresh_every"),
    ({"skip_attention": "no"}, TypeError, "skip_attention"),
    ({"recompute_ffn": 1}, TypeError, "recompute_ffn"),
])
def test_techniques_refuse_bad_arguments_by_name(kwargs, error, message):
    with pytest.raises(error, match=message):
        Techniques(**kwargs)


def test_rank_zero_keeps_exact_ffn_gradients_even_with_bases_given():
    model, batch = _model(), _batch()
    model.zero_grad(set_to_none=True)
    model.loss(*batch).backward()
    exact = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    neighbour_loss(model, *batch, Techniques(recompute_ffn=True), LowRankBases(1, 5), 0).backward()
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, exact[name], rtol=1e-5, atol=1e-7)
    model.zero_grad(set_to_none=True)
    neighbour_loss(model, *batch, Techniques(), LowRankBases(1, 5), 0).backward()
    for name, p in model.named_parameters():
        assert torch.equal(p.grad, exact[name]), name


@pytest.mark.parametrize("tech", [Techniques(skip_ffn=True), Techniques(skip_attention=True),
                                  Techniques(skip_attention=True, skip_ffn=True)])
def test_skipped_branches_still_run_forward(tech):
    model, batch = _model(), _batch()
    with torch.no_grad():
        expected = model.loss(*batch)
        assert torch.equal(neighbour_loss(model, *batch, tech), expected)
