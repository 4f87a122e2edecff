"""Gaps a mutation audit found in methods/memory: fp64 / fp16 models, the MoC index width at 32768 channels, the
moc_k range check, the attention / ffn / other split, static memory, the backward working set and the step peak by
hand, and the profiler's per-storage bytes and CPU peak."""

from __future__ import annotations

import pytest
import torch

from methods.memory.analytic import (
    Shape,
    Technique,
    activation_bytes_per_token,
    backward_working_set_bytes_per_token,
    grouped,
    module_group,
    static_bytes,
    step_peak_bytes,
)
from methods.memory.profiler import profile_step, record_saved
from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig


def _measured(cfg: LlamaFamilyConfig, dtype: torch.dtype, batch: int, seq: int) -> dict[str, int]:
    model = LlamaFamily(cfg, seed=0).to(dtype)
    gen = torch.Generator().manual_seed(0)
    tokens, targets = (torch.randint(0, cfg.vocab_size, (batch, seq), generator=gen) for _ in range(2))
    return profile_step(model, lambda: model.loss(tokens, targets), peak=False).by_module()


@pytest.mark.parametrize("dtype,b,stat", [("float64", 8, 8), ("float16", 2, 4)])
def test_fp64_and_fp16_models_match_the_analytic_bytes(dtype, b, stat):
    """fp64 models keep fp64 statistics (8 bytes), fp16 ones fp32 (4); d = 8, E = 10, H = 2, 6 tokens."""
    cfg = LlamaFamilyConfig(d_model=8, d_ff=10, n_heads=2, n_layers=1, vocab_size=7, max_seq_len=8)
    measured = _measured(cfg, getattr(torch, dtype), 2, 3)
    per_token = activation_bytes_per_token(Shape(8, 10, 2, 1, 7), Technique(), dtype)
    assert measured == {name: 6 * v for name, v in per_token.items()}
    # by hand: the norm keeps its d-wide input and one statistic, attention q, k, v, o and one statistic per head
    assert per_token["layers.0.attn_norm"] == 8 * b + stat
    assert per_token["layers.0.attn"] == 4 * 8 * b + 2 * stat
    assert per_token["loss_fn"] == 7 * b + stat + 8


@pytest.mark.parametrize("d_ff,index_bytes", [(32768, 2), (32769, 4)])
def test_moc_indices_are_int16_up_to_32768_channels_then_int32(d_ff, index_bytes):
    """One MoC channel (k = 1), d = 2, fp32: the MLP keeps its 2-wide input, g_I, u_I and one index per token."""
    cfg = LlamaFamilyConfig(d_model=2, d_ff=d_ff, n_heads=1, n_layers=1, vocab_size=3, ffn="moc", moc_k=1,
                            max_seq_len=4)
    measured = _measured(cfg, torch.float32, 1, 2)
    per_token = activation_bytes_per_token(Shape(2, d_ff, 1, 1, 3), Technique("moc", 1), "float32")
    assert per_token["layers.0.mlp"] == 2 * 4 + 2 * 4 + index_bytes
    assert measured["layers.0.mlp"] == 2 * per_token["layers.0.mlp"]


@pytest.mark.parametrize("k", [None, 0, 41])
def test_moc_k_outside_1_to_d_ff_is_refused(k):
    with pytest.raises(ValueError, match="moc_k"):
        activation_bytes_per_token(Shape(8, 40, 2, 1), Technique("moc", k), "float32")


def test_module_groups_and_the_grouped_split_by_hand():
    assert [module_group(n) for n in ("layers.3.attn", "layers.3.attn_norm", "layers.0.attn.q_proj")] == \
        ["attention"] * 3
    assert [module_group(n) for n in ("layers.3.mlp", "layers.3.mlp_norm", "layers.0.mlp.down_proj")] == ["ffn"] * 3
    assert [module_group(n) for n in ("layers.3", "norm", "lm_head", "loss_fn", "embed_tokens")] == ["other"] * 5
    # d = 4, E = 6, H = 2, V = 5, fp32 (4 bytes, 4-byte statistics):
    # attention: norm 4*4 + 4, q_proj input 4*4, q/k/v/o 4*4*4 + 2 heads * 4 = 20 + 16 + 72
    # ffn: norm 20, gate input 16, g/SiLU(g)/u 3*6*4 = 72, down input 6*4 = 24
    # other: token ids 8, final norm 20, head input 16, logits 5*4 + lse 4 + targets 8
    per_token = activation_bytes_per_token(Shape(4, 6, 2, 1, 5), Technique(), "float32")
    assert grouped(per_token) == {"attention": 108, "ffn": 132, "other": 76}


def test_a_saved_slice_counts_its_whole_storage():
    """``x[:2]`` of a 10 x 4 fp32 tensor, saved by a multiply, is its whole allocation (160 bytes), not 32."""
    x = torch.randn(10, 4, requires_grad=True)
    w = torch.randn(2, 4, requires_grad=True)
    with record_saved(torch.nn.Module()) as prof:
        y = x[:2] * w
    assert sorted(s.nbytes for s in prof.saved) == [32, 160]
    assert sorted(s.shape for s in prof.saved) == [(2, 4), (2, 4)]
    y.sum().backward()


def test_cpu_peak_counts_frees_in_time_order():
    """Ten 4 MB temporaries, each freed when the next replaces it: at most two live at once, so the CPU peak is
    between 4 MB and 8 MB plus change, far below the 40 MB they add up to."""

    def run() -> torch.Tensor:
        total = torch.zeros(())
        for i in range(10):
            t = torch.full((1_000_000,), float(i))  # 4 MB; the previous one is freed when ``t`` is rebound
            total = total + t[0]
        return total

    peak = profile_step(torch.nn.Module(), run, backward=False).peak_bytes
    assert 4_000_000 <= peak <= 8_100_000, peak


# d = 4, E = 6, H = 2, one layer, V = 5, fp32, AdamW on everything: 2 * 5 * 4 + (4 * 16 + 3 * 24 + 2 * 4) + 4 = 188
# parameters in 3 + 9 = 12 tensors -> 752 bytes of parameters, 752 of gradients, 2 * 752 + 12 * 4 = 1552 of state
SMALL = Shape(4, 6, 2, 1, 5)


def test_static_bytes_by_hand():
    static = static_bytes(SMALL, dtype="float32", optimizer="adamw")
    assert (static.parameters, static.gradients, static.optimizer_states, static.total) == (752, 752, 1552, 3056)
    frozen = static_bytes(SMALL, dtype="float32", optimizer="adamw", trainable_params=0)
    assert (frozen.gradients, frozen.optimizer_states, frozen.total) == (0, 0, 752)  # no step scalar either
    with pytest.raises(ValueError, match="trainable_params"):
        static_bytes(SMALL, dtype="float32", optimizer="adamw", trainable_params=189)


def test_backward_working_set_and_step_peak_by_hand():
    """Working set: the logits' gradient (5 * 4 = 20 bytes per token) plus, under checkpointing, the recomputed
    region (attention half 108, whole block 108 + 132; see the grouped split above). Peak: 752 + 1552 plus the
    larger of tokens * (316 + 20) + the head's gradient (5 * 4 * 4 = 80) and all gradients (752)."""
    assert [backward_working_set_bytes_per_token(SMALL, Technique(checkpointing=c), "float32")
            for c in ("none", "attention", "block")] == [20, 128, 260]
    static = static_bytes(SMALL, dtype="float32", optimizer="adamw")
    assert step_peak_bytes(SMALL, Technique(), "float32", 1, static) == 752 + 1552 + 752  # gradients win
    assert step_peak_bytes(SMALL, Technique(), "float32", 10, static) == 752 + 1552 + 10 * 336 + 80


def test_saved_bytes_by_module_and_by_group():
    """Two linears on a 5 x 4 fp32 input that requires grad: each keeps its 80-byte input; no peak asked, none
    measured."""
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    x = torch.randn(5, 4, requires_grad=True)
    prof = profile_step(model, lambda: model(x).sum(), peak=False)
    assert prof.by_module() == {"0": 80, "1": 80}
    assert prof.by_group(lambda name: "all") == {"all": 160}
    assert prof.by_group(lambda name: name) == {"0": 80, "1": 80}
    assert prof.peak_bytes is None
