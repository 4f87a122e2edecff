"""Gaps a mutation audit found in methods/misa/memory.py: the per-token activation model against the saved-tensor
profiler on a tiny bf16 LLaMA (exact for full training, LISA, BAdam at its worst layer and LoRA through peft, an
upper bound for MISA's active sets), and the LoRA / LISA / BAdam trainable counts by hand."""

from __future__ import annotations

import pytest
import torch

from methods.memory.profiler import profile_step
from methods.misa.baselines import make_finetuner
from methods.misa.memory import Dims, activation_bytes_per_token, layer_params, measure_finetuner, trainable_count
from methods.misa.misa import Misa, MisaConfig
from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig

D, E, H, N, V = 8, 12, 2, 3, 11
CFG = LlamaFamilyConfig(d_model=D, d_ff=E, n_heads=H, n_layers=N, vocab_size=V, max_seq_len=8)
DIMS = Dims(d_model=D, d_ff=E, n_layers=N, vocab_size=V, kv_dim=D)
TOKENS = 8  # 2 sequences of 4


def _saved_per_token(trains=None, misa: MisaConfig | None = None) -> float:
    model = LlamaFamily(CFG, seed=0).to(torch.bfloat16)
    if misa is not None:
        Misa(model, misa, lr=1e-3)  # leaves exactly its first active set trainable
    else:
        for name, p in model.named_parameters():
            p.requires_grad_(trains(name))
    gen = torch.Generator().manual_seed(0)
    tokens, targets = (torch.randint(0, V, (2, 4), generator=gen) for _ in range(2))
    return profile_step(model, lambda: model.loss(tokens, targets), peak=False).saved_bytes / TOKENS


def test_full_training_activations_equal_the_profiler():
    assert _saved_per_token(lambda name: True) == activation_bytes_per_token("adamw", DIMS, heads=H)


@pytest.mark.parametrize("layer", [0, N - 1])
def test_lisa_activations_equal_the_profiler_for_any_active_layer(layer):
    """The embeddings train, so the gradient runs through every layer whichever layer is active."""
    measured = _saved_per_token(lambda name: not name.startswith("layers.") or name.startswith(f"layers.{layer}."))
    assert measured == activation_bytes_per_token("lisa", DIMS, heads=H)


def test_badam_activations_equal_the_profiler_at_its_worst_layer():
    """Layer 0 active, embeddings frozen (BAdam's blocks are the layers): the gradient passes through every layer
    (the model's worst case) and no token ids are kept."""
    measured = _saved_per_token(lambda name: name.startswith("layers.0."))
    assert measured == activation_bytes_per_token("badam", DIMS, heads=H)
    assert activation_bytes_per_token("badam", DIMS, heads=H) < activation_bytes_per_token("lisa", DIMS, heads=H)


@pytest.mark.parametrize("seed", range(4))
def test_misa_activations_bound_a_real_active_set(seed):
    measured = _saved_per_token(misa=MisaConfig(delta=0.1, seed=seed))
    assert 0 < measured <= activation_bytes_per_token("misa", DIMS, delta=0.1, heads=H)


def test_trainable_counts_by_hand():
    """d = 8, E = 12, 3 layers, V = 11: a layer is 4 * 64 + 3 * 96 + 2 * 8 = 560 parameters."""
    assert layer_params(DIMS) == 560
    assert trainable_count("badam", DIMS) == 560
    assert trainable_count("lisa", DIMS) == 560 + 2 * 11 * 8 + 8
    # r = 8 on q, k, v, o (8 -> 8) and gate, up (8 -> 12), down (12 -> 8): 8 * (4 * 16 + 3 * 20) per layer
    assert trainable_count("lora", DIMS) == 3 * 8 * (4 * 16 + 3 * 20)
    assert trainable_count("lora", DIMS, lora_rank=2) == 3 * 2 * (4 * 16 + 3 * 20)
    total = 2 * 11 * 8 + 3 * 560 + 8
    assert trainable_count("adamw", DIMS) == total and trainable_count("misa", DIMS, delta=0.5) == total // 2


def test_badam_masters_are_an_fp32_copy_of_the_active_layer():
    """BAdam switches blocks every 50 steps in ascending order, so in 3 steps layer 0 (560 parameters) is the only
    block (9 tensors): its fp32 master copy is 4 * 560 bytes, AdamW's moments 2 * 4 * 560 plus a 4-byte step per
    tensor."""
    pytest.importorskip("badam")
    model = LlamaFamily(CFG, seed=0)
    tokens = torch.randint(0, V, (2, 4), generator=torch.Generator().manual_seed(0))
    measured = measure_finetuner(make_finetuner("badam", model, lr=1e-3), lambda: model.loss(tokens, tokens))
    assert measured.trainable_params == 560
    assert measured.master_bytes == 4 * 560
    assert measured.gradient_bytes == 4 * 560
    assert measured.state_bytes == 2 * 4 * 560 + 9 * 4


@pytest.mark.parametrize(("d", "e", "h", "n", "rank", "dropout"), [
    (8, 12, 2, 3, 8, 0.0), (8, 12, 2, 3, 2, 0.05), (16, 20, 4, 2, 4, 0.05), (12, 40, 3, 4, 1, 0.0),
])
def test_lora_activations_equal_the_profiler_with_peft_fp32_adapters(d, e, h, n, rank, dropout):
    """peft keeps fp32 adapters on a bf16 model and casts their inputs; on a CPU a dropout keeps its fp32 noise."""
    pytest.importorskip("peft")
    from methods.misa.baselines import _peft

    cfg = LlamaFamilyConfig(d_model=d, d_ff=e, n_heads=h, n_layers=n, vocab_size=V, max_seq_len=8)
    model = LlamaFamily(cfg, seed=0).to(torch.bfloat16)
    _peft(model, dora=False, r=rank, dropout=dropout, lr=1e-3)
    assert {p.dtype for p in model.parameters() if p.requires_grad} == {torch.float32}
    gen = torch.Generator().manual_seed(0)
    tokens, targets = (torch.randint(0, V, (2, 4), generator=gen) for _ in range(2))
    measured = profile_step(model, lambda: model.loss(tokens, targets), peak=False).saved_bytes / TOKENS
    dims = Dims(d_model=d, d_ff=e, n_layers=n, vocab_size=V, kv_dim=d)
    assert measured == activation_bytes_per_token("lora", dims, lora_rank=rank, heads=h, lora_dropout=dropout > 0,
                                                  dropout_mask_bytes=4)
