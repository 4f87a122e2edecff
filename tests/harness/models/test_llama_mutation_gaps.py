"""Gaps in the tests of `harness.models.llama` found by a mutation audit.

- exact parameter counts: by hand for a small model, and equal to a Hugging Face ``LlamaForCausalLM`` built (on the
  meta device, untied head) from the same sizes, per block and in total, for every preset;
- the presets are GaLore's ``configs/llama_*.json`` (heads included, so ``head_dim`` is right);
- ``check_rotary_heads`` refuses heads that do not divide ``d_model`` as well as odd head sizes;
- ``n_heads`` has its own bound, a zero ``seq_len`` is refused;
- every GEMM of a block and of the head by hand (shapes, batch counts, order), the backward's dgrad / wgrad shapes
  of a non-square GEMM, the elementwise element counts of each layer and ``grad_bytes``;
- a ``fused_qkv`` model lists one (d -> 3d) projection (it listed three, as if unfused).
"""

from __future__ import annotations

import pydantic
import pytest

from harness.models.llama import (
    LLAMA_PRESETS,
    LlamaDims,
    block_params,
    check_rotary_heads,
    layer_work,
    parameter_count,
)

SMALL = LlamaDims(d_model=64, d_ff=172, n_heads=4, n_layers=2, vocab_size=1000)


def test_parameter_count_of_a_small_model_by_hand():
    # block: q, k, v, o 4 x 64 x 64 = 16384; gate, up, down 3 x 64 x 172 = 33024; two norms 128
    assert block_params(SMALL) == 49536
    # embedding and head 2 x 1000 x 64, two blocks, final norm 64
    assert parameter_count(SMALL) == 128000 + 2 * 49536 + 64


@pytest.mark.parametrize("preset, exact", [
    # counted by transformers 4.57.6's LlamaForCausalLM (tie_word_embeddings=False) from the same sizes
    ("llama-60m", 58_073_600), ("llama-130m", 134_105_856), ("llama-350m", 367_969_280),
    ("llama-1b", 1_339_082_752), ("llama-7b", 6_738_415_616),
])
def test_preset_parameter_counts_are_exact(preset, exact):
    assert parameter_count(LLAMA_PRESETS[preset]) == exact


@pytest.mark.parametrize("dims", [SMALL, LLAMA_PRESETS["llama-60m"], LLAMA_PRESETS["llama-1b"]])
def test_parameter_counts_equal_a_hugging_face_llama_of_the_same_sizes(dims):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = transformers.LlamaConfig(hidden_size=dims.d_model, intermediate_size=dims.d_ff,
                                      num_attention_heads=dims.n_heads, num_hidden_layers=dims.n_layers,
                                      vocab_size=dims.vocab_size, tie_word_embeddings=False)
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(config)
    assert parameter_count(dims) == sum(p.numel() for p in model.parameters())
    assert block_params(dims) == sum(p.numel() for p in model.model.layers[0].parameters())


def test_presets_are_galores_configs():
    # GaLore's configs/llama_*.json: hidden_size, intermediate_size, num_attention_heads, num_hidden_layers
    galore = {"llama-60m": (512, 1376, 8, 8), "llama-130m": (768, 2048, 12, 12), "llama-350m": (1024, 2736, 16, 24),
              "llama-1b": (2048, 5461, 32, 24), "llama-7b": (4096, 11008, 32, 32)}
    assert {name: (d.d_model, d.d_ff, d.n_heads, d.n_layers) for name, d in LLAMA_PRESETS.items()} == galore
    assert {d.vocab_size for d in LLAMA_PRESETS.values()} == {32000}
    assert [d.head_dim for d in LLAMA_PRESETS.values()] == [64, 64, 64, 64, 128]


@pytest.mark.parametrize("d_model, n_heads", [(10, 4), (12, 4), (12, 8)])
def test_rotary_heads_must_divide_and_be_even(d_model, n_heads):
    with pytest.raises(ValueError, match=f"d_model {d_model} must split into n_heads {n_heads} heads of even"):
        check_rotary_heads(d_model, n_heads)


def test_rotary_heads_of_even_size_pass():
    check_rotary_heads(16, 4)
    check_rotary_heads(2, 1)


def test_n_heads_has_its_own_bound():
    with pytest.raises(pydantic.ValidationError, match=r"n_heads\n.*less than or equal to 65536"):
        LlamaDims(d_model=8, d_ff=8, n_heads=65537, n_layers=1)


def test_a_zero_sequence_length_is_refused():
    with pytest.raises(ValueError, match="micro_batch and seq_len must be >= 1, got 1 and 0"):
        layer_work(SMALL, 1, 0)


# b = 2 sequences of s = 3 tokens (T = 6), d = 8, f = 12, h = 2 heads of 4, vocabulary 20
TINY = LlamaDims(d_model=8, d_ff=12, n_heads=2, n_layers=3, vocab_size=20)


def _shapes(gemms):
    return [(g.name, g.m, g.n, g.k, g.count) for g in gemms]


def test_every_gemm_by_hand():
    embed, *blocks, head = layer_work(TINY, micro_batch=2, seq_len=3)
    assert len(blocks) == 3 and embed.forward_gemms == embed.backward_gemms == ()
    for block in blocks:
        assert _shapes(block.forward_gemms) == [
            ("q_proj", 6, 8, 8, 1), ("k_proj", 6, 8, 8, 1), ("v_proj", 6, 8, 8, 1),
            ("attn_scores", 3, 3, 4, 4), ("attn_values", 3, 4, 3, 4), ("o_proj", 6, 8, 8, 1),
            ("gate_proj", 6, 12, 8, 1), ("up_proj", 6, 12, 8, 1), ("down_proj", 6, 8, 12, 1),
        ]
    assert _shapes(head.forward_gemms) == [("lm_head", 6, 20, 8, 1)]
    assert _shapes(head.backward_gemms) == [("lm_head.dgrad", 6, 8, 20, 1), ("lm_head.wgrad", 8, 20, 6, 1)]
    backward = _shapes(blocks[0].backward_gemms)
    assert backward[6:8] == [("attn_scores.dgrad", 3, 4, 3, 4), ("attn_scores.wgrad", 4, 3, 3, 4)]
    assert backward[12:14] == [("gate_proj.dgrad", 6, 8, 12, 1), ("gate_proj.wgrad", 8, 12, 6, 1)]
    assert [name for name, *_ in backward[::2]] == [f"{g.name}.dgrad" for g in blocks[0].forward_gemms]


def test_a_fused_qkv_model_lists_one_projection_of_three_times_the_width():
    fused = TINY.model_copy(update={"fused_qkv": True})
    plain_block, fused_block = layer_work(TINY, 2, 3)[1], layer_work(fused, 2, 3)[1]
    assert _shapes(fused_block.forward_gemms)[:2] == [("qkv_proj", 6, 24, 8, 1), ("attn_scores", 3, 3, 4, 4)]
    assert _shapes(fused_block.forward_gemms)[1:] == _shapes(plain_block.forward_gemms)[3:]
    assert fused_block.n_params == plain_block.n_params


def test_flops_of_a_batched_gemm_by_hand():
    scores = layer_work(TINY, micro_batch=2, seq_len=3)[1].forward_gemms[3]
    assert scores.flops == 2 * 3 * 3 * 4 * 4  # 4 matmuls (b x h) of (3 x 4) @ (4 x 3)


def test_elementwise_counts_and_parameters_of_each_layer_by_hand():
    embed, block, *_, head = layer_work(TINY, micro_batch=2, seq_len=3)
    # embedding gather (T, d)
    assert (embed.n_params, embed.forward_elementwise_numel, embed.backward_elementwise_numel) == (160, 48, 96)
    # two norms and two residual adds 4 x 6 x 8 = 192, SwiGLU 3 x 6 x 12 = 216, softmax 2 x 2 x 3 x 3 = 36
    assert (block.n_params, block.forward_elementwise_numel, block.backward_elementwise_numel) == (
        4 * 64 + 3 * 96 + 16, 444, 888)
    # final norm 6 x 8 = 48, cross-entropy 6 x 20 = 120; the head holds the final norm's 8 weights
    assert (head.n_params, head.forward_elementwise_numel, head.backward_elementwise_numel) == (168, 168, 336)
    assert (block.grad_bytes(2), head.grad_bytes(4)) == (2 * 560, 4 * 168)
