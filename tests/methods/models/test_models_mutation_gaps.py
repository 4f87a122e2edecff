"""Gaps in the tests of the tiny models (`methods.models.gpt`, `init`, `mlp`, `cnn`, `moe_mla`, `llama_family`)
found by a mutation audit, closed here.

The existing tests check shapes, causality, seeded reproducibility and that TinyLlama learns; they survived
mutants of the rotary tables and rotation, the residual connections and pre-norms of a block, SwiGLU's
gate/up roles, the parameter count, the max_seq_len edge, the final norm, the init scales (uniform bound
1/sqrt(fan_in), N(0, 0.02), N(0, 1) embeddings, zero biases, unit norms, convolutions at all), the MLP's and CNN's
ReLUs, LogisticRegression's rho = 0 and regulariser value, almost everything of `MoEMLA` (routing weights,
latent norm, key/value roles, expert weighting, the ``lin`` hook, config edges), and LlamaFamily's attention
residual, max_seq_len edge and loss targets. Expected numbers are worked out by hand, or are invariances the
architecture implies (an RMSNorm'd branch ignores the scale of its input).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from methods.models.cnn import SmallCNN
from methods.models.gpt import TinyLlama, apply_rope, rope_tables
from methods.models.init import embedding, init_parameters, linear
from methods.models.mlp import MLP, LogisticRegression
from methods.models.moe_mla import MoEMLA, MoEMLAConfig


def _silu(v: float) -> float:
    return v / (1.0 + math.exp(-v))


# --------------------------------------------------------------------------------------------- gpt
def test_rope_tables_by_hand():
    """head_dim 4: frequencies 10000^(-0/4) = 1 and 10000^(-2/4) = 1/100; angle = position x frequency."""
    cos, sin = rope_tables(3, 4)
    angles = torch.tensor([[0.0, 0.0], [1.0, 0.01], [2.0, 0.02]])
    torch.testing.assert_close(cos, angles.cos())
    torch.testing.assert_close(sin, angles.sin())


def test_apply_rope_rotates_each_even_odd_pair_by_its_position_angle():
    """x = (1, 0, 0, 1) at positions 0..2 of a 5-row table: pair (1, 0) turns to (cos t, sin t) and pair (0, 1) to
    (-sin(t / 100), cos(t / 100))."""
    cos, sin = rope_tables(5, 4)
    x = torch.tensor([1.0, 0.0, 0.0, 1.0]).expand(1, 1, 3, 4)
    out = apply_rope(x, cos, sin)[0, 0]
    t = torch.arange(3.0)
    expected = torch.stack([t.cos(), t.sin(), -(t / 100).sin(), (t / 100).cos()], dim=-1)
    torch.testing.assert_close(out, expected)


def _tiny(**kw) -> TinyLlama:
    args = {"vocab_size": 30, "d_model": 32, "n_layers": 2, "n_heads": 4, "d_ff": 64, "max_seq_len": 16, "seed": 0}
    return TinyLlama(**{**args, **kw})


def test_tiny_llama_parameter_count_by_hand():
    """Embedding and head 2 x 30 x 32, final norm 32; per layer 2 norms 64, qkv 32 x 96, proj 32 x 32, gate / up /
    down 3 x 32 x 64: 1,952 + 2 x 10,304 = 22,560."""
    assert sum(p.numel() for p in _tiny().parameters()) == 22_560


@pytest.mark.parametrize("silence", ["proj", "down"])
def test_each_block_branch_is_a_residual_of_its_normalised_input(silence):
    """With one branch's output weight zeroed, block(x) - x is the other branch of an RMSNorm'd input, so scaling x
    by 10 leaves it unchanged (a missing residual or a missing pre-norm does not)."""
    block = _tiny().layers[0]
    with torch.no_grad():
        getattr(block, silence).weight.zero_()
    cos, sin = rope_tables(16, 8)
    x = torch.randn(2, 6, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        one, ten = block(x, cos, sin) - x, block(10 * x, cos, sin) - 10 * x
    assert one.abs().max() > 1e-3
    torch.testing.assert_close(one, ten, rtol=1e-4, atol=1e-5)


def test_swiglu_gates_the_up_projection_by_hand():
    """d_model 4, d_ff 2, attention silenced, x = (1, 1, 1, 1) (RMS 1, so the norm leaves it): gate = (2, -1),
    up = (3, 0.5), down the identity on the first two features -> x + (3 silu(2), 0.5 silu(-1), 0, 0)
    = (6.28478, 0.86553, 1, 1)."""
    block = TinyLlama(vocab_size=5, d_model=4, n_layers=1, n_heads=2, d_ff=2, max_seq_len=4).layers[0]
    with torch.no_grad():
        block.proj.weight.zero_()
        block.gate.weight.copy_(torch.tensor([[2.0, 0, 0, 0], [-1.0, 0, 0, 0]]))
        block.up.weight.copy_(torch.tensor([[3.0, 0, 0, 0], [0.5, 0, 0, 0]]))
        block.down.weight.copy_(torch.tensor([[1.0, 0], [0, 1.0], [0, 0], [0, 0]]))
        cos, sin = rope_tables(4, 2)
        out = block(torch.ones(1, 1, 4), cos, sin)[0, 0]
    expected = torch.tensor([1 + 3 * _silu(2.0), 1 + 0.5 * _silu(-1.0), 1.0, 1.0])  # 6.28478, 0.86553
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)


def test_max_seq_len_tokens_are_accepted_one_more_is_refused():
    model = _tiny(max_seq_len=8)
    assert model(torch.zeros(1, 8, dtype=torch.long)).shape == (1, 8, 30)
    with pytest.raises(ValueError, match="exceeds max_seq_len=8"):
        model(torch.zeros(1, 9, dtype=torch.long))


def test_logits_come_from_the_final_norm_and_the_loss_scores_the_targets():
    """A zero final-norm weight zeroes every logit (the head reads the norm's output), so the loss is ln(30) for any
    targets; with the real weights the loss is the mean cross-entropy against ``targets``, not the inputs."""
    model = _tiny()
    tokens = torch.arange(8).unsqueeze(0)
    targets = (tokens * 7 + 3) % 30
    with torch.no_grad():
        logits = model(tokens)
        assert model.loss(tokens, targets).item() == pytest.approx(
            nn.functional.cross_entropy(logits[0], targets[0]).item(), rel=1e-6)
        assert model.loss(tokens, targets).item() != pytest.approx(model.loss(tokens, tokens).item(), rel=1e-3)
        model.norm.weight.zero_()
        assert model(tokens).abs().max().item() == 0.0
        assert model.loss(tokens, targets).item() == pytest.approx(math.log(30), rel=1e-6)


def test_heads_of_odd_size_are_refused():
    with pytest.raises(ValueError, match="heads of even size"):
        _tiny(d_model=12, n_heads=4)  # 3 features per head: rotary pairs do not fit


# --------------------------------------------------------------------------------------------- init
def test_uniform_init_is_symmetric_within_one_over_sqrt_fan_in():
    """MLP(64, 32, 10): hidden weights and biases ~ U(-1/8, 1/8) (2,048 + 32 draws: the extremes come within 0.005
    of the bound), output layer U(-1/sqrt(32), 1/sqrt(32))."""
    net = MLP(64, 32, 10, seed=0)
    w = net.hidden.weight
    assert w.abs().max() <= 0.125 and w.max() > 0.12 and w.min() < -0.12
    assert net.hidden.bias.abs().max() <= 0.125 and net.hidden.bias.abs().max() > 0.05
    assert net.out.weight.abs().max() <= 1 / math.sqrt(32) and net.out.weight.abs().max() > 0.16


def test_convolutions_are_initialised_from_their_fan_in():
    """SmallCNN conv2: 32 x 16 x 3 x 3 weights ~ U(-1/12, 1/12) (fan-in 16 x 9): sd 1/(12 sqrt 3) = 0.0481."""
    conv = SmallCNN(seed=0).conv2.weight
    assert conv.abs().max() <= 1 / 12
    assert conv.std().item() == pytest.approx(1 / (12 * math.sqrt(3)), rel=0.05)


def test_normal_init_scales_biases_embeddings_and_norms():
    model = _tiny(vocab_size=500, d_model=64, d_ff=128)
    gate = model.layers[0].gate.weight
    assert gate.std().item() == pytest.approx(0.02, rel=0.05)  # 8,192 draws
    assert model.embed_tokens.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert all(torch.equal(m.weight, torch.ones_like(m.weight)) for m in model.modules() if isinstance(m, nn.RMSNorm))
    with_bias = linear(64, 8)
    init_parameters(with_bias, 0, normal_std=0.02)
    assert torch.equal(with_bias.bias, torch.zeros(8))
    table = embedding(100, 50)  # without normal_std an embedding is N(0, 1)
    init_parameters(table, 0)
    assert table.weight.std().item() == pytest.approx(1.0, rel=0.05)
    assert table.weight.abs().max() > 3.0  # a normal, not a unit uniform


def test_init_draws_weight_then_bias_from_a_generator_seeded_with_the_seed():
    layer = linear(4, 3)
    init_parameters(layer, 7)
    gen = torch.Generator().manual_seed(7)
    torch.testing.assert_close(layer.weight, torch.empty(3, 4).uniform_(-0.5, 0.5, generator=gen), rtol=0, atol=0)
    torch.testing.assert_close(layer.bias, torch.empty(3).uniform_(-0.5, 0.5, generator=gen), rtol=0, atol=0)


# --------------------------------------------------------------------------------------------- mlp, cnn
def test_mlp_hidden_layer_is_rectified():
    """in = hidden = out = 1, weights 1, biases 0: -2 -> relu 0 -> 0; 3 -> 3."""
    net = MLP(1, 1, 1)
    with torch.no_grad():
        for layer in (net.hidden, net.out):
            layer.weight.fill_(1.0)
            layer.bias.zero_()
        assert net(torch.tensor([[-2.0], [3.0]])).flatten().tolist() == [0.0, 3.0]


def test_logistic_regulariser_by_hand_and_rho_zero_allowed():
    """rho 0.5, weights (1, -1, 2, 0): 0.5 x (1/2 + 1/2 + 4/5 + 0) = 0.9; the loss adds it to the cross-entropy."""
    model = LogisticRegression(2, 2, rho=0.5)
    with torch.no_grad():
        model.linear.weight.copy_(torch.tensor([[1.0, -1.0], [2.0, 0.0]]))
        model.linear.bias.zero_()
    assert model.regulariser().item() == pytest.approx(0.9)
    x, y = torch.zeros(3, 2), torch.tensor([0, 1, 0])
    assert model.loss(x, y).item() == pytest.approx(math.log(2) + 0.9)  # zero inputs: logits 0, CE ln 2
    assert LogisticRegression(2, 2, rho=0.0).regulariser().item() == 0.0
    with pytest.raises(ValueError, match="rho"):
        LogisticRegression(2, 2, rho=-0.1)


def test_small_cnn_rectifies_both_convolutions():
    """Every input of conv2 and of the head is >= 0 (ReLU after each convolution), for any image."""
    net, seen = SmallCNN(seed=0), {}
    net.conv2.register_forward_pre_hook(lambda m, args: seen.__setitem__("conv2", args[0]))
    net.head.register_forward_pre_hook(lambda m, args: seen.__setitem__("head", args[0]))
    with torch.no_grad():
        net(torch.randn(4, 64, generator=torch.Generator().manual_seed(0)))
    for name in ("conv2", "head"):
        assert seen[name].min() >= 0 and seen[name].max() > 0, name


# --------------------------------------------------------------------------------------------- moe_mla
def _moe(**kw) -> MoEMLA:
    return MoEMLA(MoEMLAConfig(**{"vocab_size": 30, "d_model": 32, "n_heads": 4, "d_ff_expert": 16, "kv_rank": 8,
                                  **kw}), seed=0)


def _x(shape=(2, 6, 32)) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(1))


def test_routing_keeps_the_top_two_experts_with_weights_summing_to_one():
    block = _moe().layers[0]
    flat = _x((12, 32))
    with torch.no_grad():
        weights, experts = block.routing(flat)
        probs = block.router(flat).softmax(-1)
    assert weights.shape == experts.shape == (12, 2)
    torch.testing.assert_close(weights.sum(-1), torch.ones(12))
    for p, e, w in zip(probs, experts, weights):
        assert set(e.tolist()) == set(p.argsort(descending=True)[:2].tolist())
        assert w[0] / w[1] == pytest.approx((p[e[0]] / p[e[1]]).item(), rel=1e-5)


def test_with_every_expert_routed_the_ffn_is_the_softmax_mixture():
    """top_k = n_experts = 2: the FFN adds sum_e softmax(router)_e expert_e(norm(x))."""
    block = _moe(n_experts=2, top_k=2).layers[0]
    x = _x()
    with torch.no_grad():
        h = block.mlp_norm(x)
        probs = block.router(h).softmax(-1)
        mixture = sum(probs[..., e:e + 1] * block.experts[e](h) for e in range(2))
        torch.testing.assert_close(block.ffn_branch(x), mixture, rtol=1e-5, atol=1e-6)


def test_the_ffn_applies_every_expert_map_through_lin():
    block = _moe().layers[0]
    with torch.no_grad():
        assert block.ffn_branch(_x()).abs().max() > 0
        assert block.ffn_branch(_x(), lin=lambda v, layer: 0 * layer(v)).abs().max() == 0


def test_expert_is_swiglu_by_hand():
    """d 4 -> 2: gate = (2, -1), up = (3, 0.5), down the identity on the first two features."""
    from methods.models.moe_mla import Expert

    expert = Expert(4, 2)
    with torch.no_grad():
        expert.gate.weight.copy_(torch.tensor([[2.0, 0, 0, 0], [-1.0, 0, 0, 0]]))
        expert.up.weight.copy_(torch.tensor([[3.0, 0, 0, 0], [0.5, 0, 0, 0]]))
        expert.down.weight.copy_(torch.tensor([[1.0, 0], [0, 1.0], [0, 0], [0, 0]]))
        out = expert(torch.tensor([[1.0, 0, 0, 0]]))[0]
    torch.testing.assert_close(out, torch.tensor([3 * _silu(2.0), 0.5 * _silu(-1.0), 0.0, 0.0]))


def test_latent_attention_normalises_the_latent_and_reads_values_from_v_up():
    block = _moe().layers[0]
    cos, sin = rope_tables(16, 8)
    x = _x()
    with torch.no_grad():
        before = block.attention_branch(x, cos, sin)
        block.kv_down.weight.mul_(10.0)  # the RMSNorm of the latent undoes any scale of it
        torch.testing.assert_close(block.attention_branch(x, cos, sin), before, rtol=1e-4, atol=1e-6)
        block.v_up.weight.zero_()  # no values: attention adds nothing
        assert block.attention_branch(x, cos, sin).abs().max() == 0


def test_moe_mla_is_causal_and_its_block_adds_both_branches():
    model = _moe()
    tokens = torch.randint(0, 30, (2, 12), generator=torch.Generator().manual_seed(2))
    changed = tokens.clone()
    changed[:, 7:] = (changed[:, 7:] + 1) % 30
    with torch.no_grad():
        torch.testing.assert_close(model(tokens)[:, :7], model(changed)[:, :7])
        assert not torch.allclose(model(tokens)[:, 7:], model(changed)[:, 7:])
        block, x = model.layers[0], _x()
        cos, sin = model.rope_cos, model.rope_sin
        mid = x + block.attention_branch(x, cos, sin)
        torch.testing.assert_close(block(x, cos, sin), mid + block.ffn_branch(mid))


def test_moe_mla_config_edges_and_parameters():
    assert MoEMLAConfig(vocab_size=5, top_k=4, n_experts=4).top_k == 4  # every expert may be routed
    plain = _moe(kv_rank=0).layers[0]
    assert hasattr(plain, "qkv") and not hasattr(plain, "kv_down")
    latent = _moe().layers[0]
    assert hasattr(latent, "kv_down") and not hasattr(latent, "qkv")
    # q 32x32, kv_down 32x8, latent norm 8, k_up / v_up 8x32 each: 1,024 + 256 + 8 + 512
    assert sum(p.numel() for name, p in latent.named_parameters()
               if name.split(".")[0] in ("q", "kv_down", "kv_norm", "k_up", "v_up")) == 1_800
    # FFN: norm 32, router 32 x 4, 4 experts of 3 x 32 x 16
    assert sum(p.numel() for p in latent.ffn_parameters()) == 32 + 128 + 4 * 1536


# --------------------------------------------------------------------------------------------- llama_family
def test_llama_family_attention_half_is_a_residual_edge_and_loss_targets():
    """With o_proj zeroed the attention half returns its input (the residual); max_seq_len tokens are accepted; the
    loss is the mean cross-entropy against ``targets``, not against the inputs."""
    from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig

    model = LlamaFamily(LlamaFamilyConfig(d_model=32, d_ff=64, n_heads=4, n_layers=1, vocab_size=50, max_seq_len=8))
    block = model.layers[0]
    x = _x((1, 8, 32))
    cos, sin = model.rope_cos, model.rope_sin
    with torch.no_grad():
        block.attn.o_proj.weight.zero_()
        torch.testing.assert_close(block._attention_half(x, cos, sin), x)
        tokens = torch.arange(8).unsqueeze(0)
        assert model(tokens).shape == (1, 8, 50)
        targets = (tokens * 7 + 3) % 50
        expected = nn.functional.cross_entropy(model(tokens)[0], targets[0]).item()
        assert model.loss(tokens, targets).item() == pytest.approx(expected, rel=1e-5)
        assert model.loss(tokens, targets).item() != pytest.approx(model.loss(tokens, tokens).item(), rel=1e-3)
