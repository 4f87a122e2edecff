"""Gaps in the tests of `methods.models.llama_family` found by a mutation audit.

- the config refuses heads of odd size, an unknown ``ffn`` and ``moc_k`` above ``d_ff`` (at construction);
- one token more than ``max_seq_len`` is refused by name;
- `MoCMLP` refuses ``k`` above ``d_ff``; ``from_linears`` refuses biases and keeps ``decode_kernel``;
- `use_moc` leaves MoC MLPs as they are;
- `swap_mlp_for_moc`: a model without decoder layers, a non-SiLU MLP and a ``k`` too large for MLPs swapped earlier
  are refused with nothing changed; a second swap counts the MLPs it updated.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig, MoCMLP, swap_mlp_for_moc, use_moc


@pytest.mark.parametrize("d_model, n_heads", [(12, 4), (6, 2)])
def test_heads_of_odd_size_are_refused(d_model, n_heads):
    with pytest.raises(ValueError, match=f"d_model={d_model} must split into n_heads={n_heads} heads of even size"):
        LlamaFamilyConfig(d_model=d_model, d_ff=16, n_heads=n_heads, n_layers=1)


def test_an_unknown_ffn_is_refused():
    with pytest.raises(ValueError, match="ffn must be 'dense' or 'moc', got 'sparse'"):
        LlamaFamilyConfig(d_model=8, d_ff=16, n_heads=2, n_layers=1, ffn="sparse")  # type: ignore[arg-type]


def test_moc_k_above_d_ff_is_refused_by_the_config():
    LlamaFamilyConfig(d_model=8, d_ff=16, n_heads=2, n_layers=1, ffn="moc", moc_k=16)
    with pytest.raises(ValueError, match="moc_k"):
        LlamaFamilyConfig(d_model=8, d_ff=16, n_heads=2, n_layers=1, ffn="moc", moc_k=17)


def test_one_token_more_than_max_seq_len_is_refused_by_name():
    model = LlamaFamily(LlamaFamilyConfig(d_model=8, d_ff=16, n_heads=2, n_layers=1, vocab_size=10, max_seq_len=4))
    assert model(torch.zeros(1, 4, dtype=torch.long)).shape == (1, 4, 10)
    with pytest.raises(ValueError, match="sequence length 5 exceeds max_seq_len=4"):
        model(torch.zeros(1, 5, dtype=torch.long))


def test_moc_mlp_refuses_k_above_d_ff():
    assert MoCMLP(8, 16, 16).k == 16
    with pytest.raises(ValueError, match="k"):
        MoCMLP(8, 16, 17)


def test_from_linears_refuses_biases_and_keeps_decode_kernel():
    gate, up, down = nn.Linear(8, 16, bias=False), nn.Linear(8, 16, bias=False), nn.Linear(16, 8, bias=False)
    assert MoCMLP.from_linears(gate, up, down, 4, decode_kernel=False).decode_kernel is False
    assert MoCMLP.from_linears(gate, up, down, 4).decode_kernel is True
    with pytest.raises(ValueError, match="bias-free SwiGLU"):
        MoCMLP.from_linears(gate, up, nn.Linear(16, 8), 4)


def test_use_moc_leaves_moc_mlps_as_they_are():
    model = LlamaFamily(LlamaFamilyConfig(d_model=8, d_ff=16, n_heads=2, n_layers=2, vocab_size=10, ffn="moc",
                                          moc_k=4))
    before = [block.mlp for block in model.layers]
    use_moc(model, 8)
    assert [block.mlp for block in model.layers] == before
    assert [block.mlp.k for block in model.layers] == [4, 4]


def _hf_llama(**extra):
    transformers = pytest.importorskip("transformers")
    config = transformers.LlamaConfig(vocab_size=20, hidden_size=8, intermediate_size=12, num_hidden_layers=2,
                                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=16,
                                      **extra)
    return transformers.LlamaForCausalLM(config)


def test_swap_refuses_a_model_without_decoder_layers():
    empty = nn.Module()
    empty.model = nn.Module()
    empty.model.layers = nn.ModuleList()
    with pytest.raises(TypeError, match="expects a Hugging Face LlamaForCausalLM"):
        swap_mlp_for_moc(empty, 4)


def test_swap_refuses_a_non_silu_mlp_and_changes_nothing():
    model = _hf_llama(hidden_act="gelu")
    with pytest.raises(ValueError, match="SiLU-gated MLP, got hidden_act='gelu'"):
        swap_mlp_for_moc(model, 4)
    assert not any(isinstance(layer.mlp, MoCMLP) for layer in model.model.layers)


def test_a_second_swap_updates_k_counts_and_checks_it():
    model = _hf_llama()
    assert swap_mlp_for_moc(model, 6) == 2
    assert swap_mlp_for_moc(model, 3) == 2
    assert [layer.mlp.k for layer in model.model.layers] == [3, 3]
    with pytest.raises(ValueError, match="k"):
        swap_mlp_for_moc(model, 13)  # intermediate_size is 12
    assert [layer.mlp.k for layer in model.model.layers] == [3, 3]
