"""Mutation-audit gaps in the tiny MLA + MoE model (methods/models/moe_mla.py, MeCeFO's Table 10), where the older
tests compared the model only with itself (neighbour mode against its own forward) or with routing it chose.

- attention against an independent implementation, `methods.models.gpt.Block` with copied weights: plain
  multi-head attention (``kv_rank = 0``) exactly, and MLA with a latent ``kv_down = 2 I`` that its RMSNorm scales
  back (so k = W_uk h, v = W_uv h): catches swapped k / v, rotary positions left off the keys, the heads'
  layout, dropping the latent's norm and a non-causal mask; causality of the whole model;
- routing keeps the top-k experts by router probability (a hand argsort); ``top_k = n_experts`` is allowed and is
  the full softmax mixture; an expert is SwiGLU with the SiLU on the gate (scalar weights by hand);
- a head size must be even (rotary pairs).
"""

from __future__ import annotations

import math

import pytest
import torch

from methods.models.gpt import Block
from methods.models.moe_mla import Expert, MoEMLA, MoEMLAConfig

D, HEADS = 16, 2


def _model(kv_rank: int, n_experts: int = 4, top_k: int = 2) -> MoEMLA:
    return MoEMLA(MoEMLAConfig(vocab_size=20, d_model=D, n_layers=2, n_heads=HEADS, d_ff_expert=12,
                               n_experts=n_experts, top_k=top_k, kv_rank=kv_rank, max_seq_len=12), seed=3).double()


def _randomise(module: torch.nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(0.4 * torch.randn(p.shape, generator=gen, dtype=p.dtype))


def _reference_attention(block, qkv_weight: torch.Tensor, x, cos, sin) -> torch.Tensor:
    """What gpt.Block adds for attention (its FFN zeroed), with ``block``'s norm and output projection."""
    ref = Block(D, HEADS, 8).double()
    with torch.no_grad():
        ref.attn_norm.weight.copy_(block.attn_norm.weight)
        ref.qkv.weight.copy_(qkv_weight)
        ref.proj.weight.copy_(block.proj.weight)
        for layer in (ref.gate, ref.up, ref.down):  # no FFN contribution
            layer.weight.zero_()
        return ref(x, cos, sin) - x


def test_multi_head_attention_equals_the_tinyllama_block():
    model = _model(kv_rank=0)
    block = model.layers[0]
    _randomise(block, 1)
    x = torch.randn(2, 7, D, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    expected = _reference_attention(block, block.qkv.weight, x, model.rope_cos, model.rope_sin)
    with torch.no_grad():
        torch.testing.assert_close(block.attention_branch(x, model.rope_cos, model.rope_sin), expected)


def test_latent_attention_equals_multi_head_attention_on_the_normalised_latent():
    model = _model(kv_rank=D)
    block = model.layers[0]
    _randomise(block, 4)
    with torch.no_grad():
        block.attn_norm.weight.fill_(1.0)
        block.kv_norm.weight.fill_(1.0)
        block.kv_down.weight.copy_(2.0 * torch.eye(D, dtype=torch.float64))  # RMSNorm(2 h) = h: h has RMS 1
    x = torch.randn(2, 7, D, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    qkv = torch.cat([block.q.weight, block.k_up.weight, block.v_up.weight])
    expected = _reference_attention(block, qkv, x, model.rope_cos, model.rope_sin)
    with torch.no_grad():
        torch.testing.assert_close(block.attention_branch(x, model.rope_cos, model.rope_sin), expected,
                                   rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("kv_rank", [0, 8])
def test_the_model_is_causal(kv_rank):
    model = _model(kv_rank)
    _randomise(model, 6)
    tokens = torch.randint(0, 20, (2, 10), generator=torch.Generator().manual_seed(7))
    changed = tokens.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % 20
    with torch.no_grad():
        a, b = model(tokens), model(changed)
    torch.testing.assert_close(a[:, :6], b[:, :6])
    assert not torch.allclose(a[:, 6:], b[:, 6:])


def test_routing_keeps_the_most_probable_experts():
    block = _model(kv_rank=8).layers[0]
    _randomise(block.router, 8)
    flat = torch.randn(30, D, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        weights, experts = block.routing(flat)
        probs = torch.softmax(flat @ block.router.weight.T, dim=-1)
    for t in range(30):
        order = sorted(range(4), key=lambda e: -float(probs[t, e]))
        assert set(experts[t].tolist()) == set(order[:2])
        torch.testing.assert_close(weights[t], probs[t, experts[t]] / probs[t, experts[t]].sum())


def test_all_experts_kept_is_the_softmax_mixture():
    block = _model(kv_rank=8, n_experts=3, top_k=3).layers[0]
    _randomise(block, 10)
    x = torch.randn(2, 5, D, dtype=torch.float64, generator=torch.Generator().manual_seed(11))
    with torch.no_grad():
        flat = block.mlp_norm(x).reshape(-1, D)
        probs = torch.softmax(flat @ block.router.weight.T, dim=-1)
        mixture = sum(probs[:, e:e + 1] * block.experts[e](flat) for e in range(3))
        torch.testing.assert_close(block.ffn_branch(x).reshape(-1, D), mixture)


def test_an_expert_is_swiglu_with_silu_on_the_gate():
    expert = Expert(1, 1).double()
    with torch.no_grad():
        expert.gate.weight.fill_(2.0)
        expert.up.weight.fill_(3.0)
        expert.down.weight.fill_(5.0)
    silu_2 = 2.0 / (1.0 + math.exp(-2.0))
    with torch.no_grad():
        out = expert(torch.ones(1, 1, dtype=torch.float64))
    assert float(out) == pytest.approx(silu_2 * 3.0 * 5.0, rel=1e-12)


def test_an_odd_head_size_is_refused():
    with pytest.raises(ValueError, match="heads of even size"):
        MoEMLAConfig(vocab_size=10, d_model=12, n_heads=4)
