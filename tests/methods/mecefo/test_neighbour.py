"""The MeCeFO neighbour (methods/mecefo/neighbour.py, cost.py): with every technique off it is exact training;
each technique changes what it should and nothing else; the measured memory falls with the techniques."""

from __future__ import annotations

import pytest
import torch

from methods.mecefo.cost import neighbour_cost, saved_bytes
from methods.mecefo.lowrank import LowRankBases
from methods.mecefo.neighbour import EXACT, MECEFO, Techniques, block_forward, neighbour_loss
from methods.models.gpt import TinyLlama
from methods.models.moe_mla import MoEMLA, MoEMLAConfig

ATTENTION = ("attn_norm", "qkv", "proj")


def _model() -> TinyLlama:
    return TinyLlama(vocab_size=20, d_model=16, n_layers=2, n_heads=2, d_ff=24, max_seq_len=12, seed=3)


def _batch(seed: int = 0, rows: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 20, (rows, 12), generator=gen), torch.randint(0, 20, (rows, 12), generator=gen)


def _grads(model: torch.nn.Module, loss: torch.Tensor) -> dict[str, torch.Tensor | None]:
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {n: None if p.grad is None else p.grad.clone() for n, p in model.named_parameters()}


def _moe_mla(kv_rank: int) -> MoEMLA:
    return MoEMLA(MoEMLAConfig(vocab_size=20, d_model=16, n_layers=2, n_heads=2, d_ff_expert=12, n_experts=4,
                               top_k=2, kv_rank=kv_rank, max_seq_len=12), seed=3)


#: the models the neighbour serves: TinyLlama, the MLA + MoE model, and the MoE model with plain attention
MODELS = {"llama": _model, "mla_moe": lambda: _moe_mla(8), "mha_moe": lambda: _moe_mla(0)}


@pytest.mark.parametrize("name", MODELS)
def test_all_techniques_off_is_exact_bit_for_bit(name):
    model, batch = MODELS[name](), _batch()
    exact = _grads(model, model.loss(*batch))
    ours = _grads(model, neighbour_loss(model, *batch, EXACT))
    assert all(torch.equal(exact[n], ours[n]) for n in exact)


@pytest.mark.parametrize("name", MODELS)
def test_recomputation_changes_memory_not_values(name):
    model, batch = MODELS[name](), _batch()
    exact = _grads(model, model.loss(*batch))
    ours = _grads(model, neighbour_loss(model, *batch, Techniques(recompute_ffn=True)))
    for name in exact:
        torch.testing.assert_close(ours[name], exact[name], rtol=1e-5, atol=1e-7)
    full, _ = saved_bytes(model, lambda: model.loss(*batch))
    kept, _ = saved_bytes(model, lambda: neighbour_loss(model, *batch, Techniques(recompute_ffn=True)))
    assert kept < full


def test_full_rank_projection_is_exact():
    model, batch = _model(), _batch()
    exact = _grads(model, model.loss(*batch))
    tech = Techniques(low_rank=16)  # d_model = 16 inputs of gate/up; down has 24 inputs, so r = 16 < 24 there
    ours = _grads(model, neighbour_loss(model, *batch, tech, LowRankBases(16, 10)))
    for name in exact:
        if name.endswith(("gate.weight", "up.weight")) or "down" not in name:
            torch.testing.assert_close(ours[name], exact[name], rtol=1e-4, atol=1e-6)
    down = [n for n in exact if n.endswith("down.weight")]
    assert any(not torch.allclose(ours[n], exact[n], rtol=1e-4, atol=1e-6) for n in down)


def test_skip_attention_gives_no_attention_gradient_and_identity_backward():
    model, batch = _model(), _batch()
    grads = _grads(model, neighbour_loss(model, *batch, Techniques(skip_attention=True)))
    for name, grad in grads.items():
        assert (grad is None) == any(f".{part}." in name for part in ATTENTION), name
    block = model.layers[0]
    x = torch.randn(2, 12, 16, requires_grad=True)
    out = block_forward(block, x, model.rope_cos, model.rope_sin, Techniques(skip_attention=True, skip_ffn=True),
                        None, 0)
    upstream = torch.randn_like(out)
    (grad_x,) = torch.autograd.grad(out, x, upstream)
    assert torch.equal(grad_x, upstream)  # dL/dx = dL/dh through the residual only


def test_skip_ffn_gives_no_ffn_gradient():
    model, batch = _model(), _batch()
    grads = _grads(model, neighbour_loss(model, *batch, Techniques(skip_ffn=True)))
    assert all((g is None) == any(f".{p}." in n for p in ("mlp_norm", "gate", "up", "down")) for n, g in grads.items())


def test_low_rank_needs_bases():
    model, batch = _model(), _batch()
    with pytest.raises(ValueError, match="LowRankBases"):
        neighbour_loss(model, *batch, MECEFO)


def test_measured_memory_naive_doubles_and_techniques_shrink_it():
    model = _model()
    naive = neighbour_cost(model, _batch(0), _batch(1), EXACT, repeats=1)
    assert naive["neighbour_activation_bytes"] == pytest.approx(2 * naive["normal_activation_bytes"], rel=0.1)
    skip = neighbour_cost(model, _batch(0), _batch(1), Techniques(skip_attention=True), repeats=1)
    full = neighbour_cost(model, _batch(0), _batch(1), MECEFO, repeats=1)
    assert full["neighbour_activation_bytes"] < skip["neighbour_activation_bytes"] < naive["neighbour_activation_bytes"]
    assert naive["state_bytes"] == 4 * 4 * sum(p.numel() for p in model.parameters())
    assert full["normal_step_s"] > 0 and full["time_ratio"] > 0
