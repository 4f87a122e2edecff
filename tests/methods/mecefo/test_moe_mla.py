"""The tiny MLA + MoE model (methods/models/moe_mla.py) and MeCeFO's neighbour on it: routing picks the top-k
experts with weights summing to 1, the sparse MoE equals a dense masked reference, skipping attention removes
exactly its gradients, and without failures MeCeFO training is plain data parallelism bit for bit (exactness with
every switch off and recomputation are tested for this model beside TinyLlama in test_neighbour.py)."""

from __future__ import annotations

import pytest
import torch

from methods.mecefo.lowrank import LowRankBases
from methods.mecefo.neighbour import MECEFO, neighbour_loss
from methods.mecefo.training import TrainSettings, train
from methods.models.moe_mla import MoEMLA, MoEMLAConfig

ATTENTION = ("attn_norm", "q", "kv_down", "kv_norm", "k_up", "v_up", "qkv", "proj")


def _model(kv_rank: int = 8, seed: int = 3) -> MoEMLA:
    return MoEMLA(MoEMLAConfig(vocab_size=20, d_model=16, n_layers=2, n_heads=2, d_ff_expert=12, n_experts=4,
                               top_k=2, kv_rank=kv_rank, max_seq_len=12), seed=seed)


def _batch(seed: int = 0, rows: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 20, (rows, 12), generator=gen), torch.randint(0, 20, (rows, 12), generator=gen)


def _grads(model: MoEMLA, loss: torch.Tensor) -> dict[str, torch.Tensor | None]:
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()}


def test_routing_and_sparse_moe_match_a_dense_masked_reference():
    block = _model().layers[0]
    x = torch.randn(2, 5, 16)
    flat = block.mlp_norm(x).reshape(-1, 16)
    weights, experts = block.routing(flat)
    assert experts.shape == (10, 2) and (experts[:, 0] != experts[:, 1]).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(10))
    probs = block.router(flat).softmax(-1)
    dense = torch.zeros_like(flat)
    for e, expert in enumerate(block.experts):
        mask = (experts == e).any(-1, keepdim=True)
        gate = torch.where(mask, probs[:, e:e + 1], 0.0) / probs.gather(-1, experts).sum(-1, keepdim=True)
        dense = dense + gate * expert(flat)
    torch.testing.assert_close(block.ffn_branch(x).reshape(-1, 16), dense, rtol=1e-5, atol=1e-6)


def test_neighbour_mode_skips_attention_and_projects_expert_gradients():
    model, batch = _model(), _batch()
    exact = _grads(model, model.loss(*batch))
    ours = _grads(model, neighbour_loss(model, *batch, MECEFO, LowRankBases(4, 10)))
    for name, grad in ours.items():
        assert (grad is None) == (name.startswith("layers.") and name.split(".")[2] in ATTENTION), name
    # the top layer's FFN sees the exact output gradient (no skipped attention above it): its expert weight
    # gradients are the exact ones projected (never longer), its router's is exact
    for name in (n for n in exact if n.startswith("layers.1.experts.") and n.endswith(("gate.weight", "up.weight"))):
        if exact[name].abs().sum() > 0:  # an expert no token was routed to has a zero gradient either way
            assert not torch.allclose(ours[name], exact[name]), name
            assert ours[name].norm() <= exact[name].norm() * (1 + 1e-5), name
    torch.testing.assert_close(ours["layers.1.router.weight"], exact["layers.1.router.weight"], rtol=1e-4,
                               atol=1e-7)


def test_no_failures_is_plain_data_parallel_training_bit_for_bit():
    def batch(rank: int, step: int):
        return _batch(100 * step + rank, rows=2)

    reference, ours = _model(seed=5), _model(seed=5)
    optimizer = torch.optim.AdamW(reference.parameters(), lr=1e-2, weight_decay=0.0)
    for step in range(3):
        total = None
        for rank in range(3):
            reference.zero_grad(set_to_none=True)
            reference.loss(*batch(rank, step)).backward()
            grads = [p.grad.clone() for p in reference.parameters()]
            total = grads if total is None else [t + g for t, g in zip(total, grads, strict=True)]
        for p, t in zip(reference.parameters(), total, strict=True):
            p.grad = t / 3
        optimizer.step()
    train(ours, batch, TrainSettings(n_ranks=3, steps=3, techniques=MECEFO, lr=1e-2))
    for (name, a), b in zip(reference.named_parameters(), ours.parameters(), strict=True):
        assert torch.equal(a, b), name


def test_bad_configurations_are_refused():
    with pytest.raises(ValueError, match="top_k"):
        MoEMLAConfig(vocab_size=10, n_experts=2, top_k=3)
    with pytest.raises(ValueError, match="n_heads"):
        MoEMLAConfig(vocab_size=10, d_model=30, n_heads=4)
