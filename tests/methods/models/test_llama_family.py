"""LLaMA family: the hand-written autograd functions against torch, MoC at K = d_ff against dense, checkpointing,
and the Hugging Face MLP swap."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from methods.models.gpt import apply_rope, rope_tables
from methods.models.llama_family import (
    CrossEntropyFunction,
    FlashAttentionFunction,
    LlamaFamily,
    LlamaFamilyConfig,
    MoCMLP,
    RMSNormFunction,
    RotaryFunction,
    swap_mlp_for_moc,
)


def _grads_match(fn_ours, fn_ref, inputs, atol=1e-10):
    a = [t.detach().clone().requires_grad_(True) for t in inputs]
    b = [t.detach().clone().requires_grad_(True) for t in inputs]
    out_a, out_b = fn_ours(*a), fn_ref(*b)
    torch.testing.assert_close(out_a, out_b, atol=atol, rtol=0)
    dy = torch.randn_like(out_a)
    (out_a * dy).sum().backward()
    (out_b * dy).sum().backward()
    for x, y in zip(a, b):
        torch.testing.assert_close(x.grad, y.grad, atol=atol, rtol=0)


def test_flash_attention_function_equals_sdpa():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 7, 3, 4, dtype=torch.float64) for _ in range(3))  # [B, T, H, hd]

    def ref(q, k, v):
        return F.scaled_dot_product_attention(*(t.transpose(1, 2) for t in (q, k, v)), is_causal=True).transpose(1, 2)

    _grads_match(FlashAttentionFunction.apply, ref, (q, k, v))


def test_rmsnorm_rotary_and_cross_entropy_functions_equal_torch():
    torch.manual_seed(1)
    x, w = torch.randn(3, 5, 8, dtype=torch.float64), torch.rand(8, dtype=torch.float64) + 0.5
    _grads_match(lambda x, w: RMSNormFunction.apply(x, w, 1e-6), lambda x, w: F.rms_norm(x, (8,), w, 1e-6), (x, w))
    cos, sin = (t.double() for t in rope_tables(5, 4))
    xr = torch.randn(2, 5, 3, 4, dtype=torch.float64)
    _grads_match(lambda t: RotaryFunction.apply(t, cos, sin),
                 lambda t: apply_rope(t.transpose(1, 2), cos, sin).transpose(1, 2), (xr,))
    logits, targets = torch.randn(6, 11, dtype=torch.float64), torch.randint(0, 11, (6,))
    _grads_match(lambda z: CrossEntropyFunction.apply(z, targets), lambda z: F.cross_entropy(z, targets), (logits,))


def _loss_and_grads(model: LlamaFamily, tokens, targets):
    model.zero_grad()
    loss = model.loss(tokens, targets)
    loss.backward()
    grads = {n.replace("down_proj_t", "down_proj.weight"): (p.grad.T if n.endswith("down_proj_t") else p.grad)
             for n, p in model.named_parameters()}
    return loss.detach(), grads


@settings(max_examples=12, deadline=None)
@given(heads=st.integers(1, 3), head_dim=st.sampled_from([2, 4]), d_ff=st.integers(3, 24),
       layers=st.integers(1, 2), seq=st.integers(1, 6), ckpt=st.sampled_from(["none", "block", "attention"]))
def test_moc_with_k_equal_d_ff_equals_dense(heads, head_dim, d_ff, layers, seq, ckpt):
    common = dict(d_model=heads * head_dim, d_ff=d_ff, n_heads=heads, n_layers=layers, vocab_size=13,
                  checkpointing=ckpt)
    dense = LlamaFamily(LlamaFamilyConfig(**common), seed=3).double()
    moc = LlamaFamily(LlamaFamilyConfig(**common, ffn="moc", moc_k=d_ff), seed=3).double()
    gen = torch.Generator().manual_seed(seq)
    tokens, targets = (torch.randint(0, 13, (2, seq), generator=gen) for _ in range(2))
    loss_d, grads_d = _loss_and_grads(dense, tokens, targets)
    loss_m, grads_m = _loss_and_grads(moc, tokens, targets)
    torch.testing.assert_close(loss_m, loss_d, atol=1e-12, rtol=0)
    assert grads_m.keys() == grads_d.keys()
    for name in grads_d:
        torch.testing.assert_close(grads_m[name], grads_d[name], atol=1e-12, rtol=0, msg=name)


def test_moc_with_fewer_channels_differs_and_checkpointing_changes_nothing():
    common = dict(d_model=16, d_ff=32, n_heads=2, n_layers=2, vocab_size=20)
    tokens, targets = torch.randint(0, 20, (2, 6)), torch.randint(0, 20, (2, 6))
    dense = LlamaFamily(LlamaFamilyConfig(**common), seed=0).double()
    sparse = LlamaFamily(LlamaFamilyConfig(**common, ffn="moc", moc_k=4), seed=0).double()
    assert not torch.allclose(dense.loss(tokens, targets), sparse.loss(tokens, targets), atol=1e-6)
    base = _loss_and_grads(sparse, tokens, targets)
    for ckpt in ("block", "attention"):
        model = LlamaFamily(LlamaFamilyConfig(**common, ffn="moc", moc_k=4, checkpointing=ckpt), seed=0).double()
        loss, grads = _loss_and_grads(model, tokens, targets)
        torch.testing.assert_close(loss, base[0], atol=1e-12, rtol=0)
        for name, grad in grads.items():
            torch.testing.assert_close(grad, base[1][name], atol=1e-12, rtol=0)


def test_config_rejects_bad_settings():
    with pytest.raises(ValueError, match="moc_k"):
        LlamaFamilyConfig(d_model=8, d_ff=16, n_heads=2, n_layers=1, ffn="moc")
    with pytest.raises(ValueError, match="checkpointing"):
        LlamaFamilyConfig(d_model=8, d_ff=16, n_heads=2, n_layers=1, checkpointing="some")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="heads"):
        LlamaFamilyConfig(d_model=9, d_ff=16, n_heads=2, n_layers=1)


def test_swap_mlp_for_moc_on_hugging_face_llama():
    transformers = pytest.importorskip("transformers", reason="transformers is not installed (extra 'llm')")
    config = transformers.LlamaConfig(vocab_size=40, hidden_size=16, intermediate_size=24, num_hidden_layers=2,
                                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=32)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).double().eval()
    tokens = torch.randint(0, 40, (2, 7))
    before = model(tokens).logits.detach()
    assert swap_mlp_for_moc(model, k=24) == 2
    assert all(isinstance(layer.mlp, MoCMLP) for layer in model.model.layers)
    torch.testing.assert_close(model(tokens).logits, before, atol=1e-10, rtol=0)
    swap_mlp_for_moc(model, k=3)  # swap again at K = 3: a real change, trainable end to end
    out = model(tokens, labels=tokens)
    assert not torch.allclose(out.logits, before, atol=1e-6)
    out.loss.backward()
    mlp = model.model.layers[0].mlp
    assert mlp.down_proj_t.grad is not None and mlp.gate_proj.weight.grad is not None
    # per token only K = 3 rows of the gate get a gradient from that token: at most 3 * tokens rows are touched
    assert int((mlp.gate_proj.weight.grad.abs().sum(1) > 0).sum()) <= 3 * tokens.numel()
