"""MISA's memory vs AdamW / LISA / BAdam / LoRA at delta = 3%: measured on a small model, modelled at 7B/8B."""

from __future__ import annotations

import pytest
import torch

from methods.misa.baselines import make_finetuner
from methods.misa.memory import (
    LLAMA2_7B,
    LLAMA3_8B,
    MeasuredMemory,
    measure_finetuner,
    modelled_bytes,
    parameter_count,
    trainable_count,
)
from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig

# every layer matrix (<= 11008 parameters) fits 3% of the 429,120 parameters (12,873)
CFG = LlamaFamilyConfig(d_model=64, d_ff=172, n_heads=4, n_layers=8, vocab_size=256, max_seq_len=32)
METHOD_PARAMS = {"adamw": {}, "misa": {"delta": 0.03}, "lisa": {}, "badam": {}, "lora": {"dropout": 0.0}}


@pytest.fixture(scope="module")
def measured() -> dict[str, MeasuredMemory]:
    pytest.importorskip("peft")
    pytest.importorskip("badam")
    x = torch.randint(0, CFG.vocab_size, (4, 32), generator=torch.Generator().manual_seed(0))
    threads = torch.get_num_threads()  # module-scoped: runs before the per-test one-thread fixture
    torch.set_num_threads(1)
    out = {}
    try:
        for name, params in METHOD_PARAMS.items():
            model = LlamaFamily(CFG, seed=0)
            out[name] = measure_finetuner(make_finetuner(name, model, lr=1e-3, **params), lambda: model.loss(x, x))
    finally:
        torch.set_num_threads(threads)
    return out


def test_misa_state_is_within_its_budget_and_below_every_baseline(measured):
    total = sum(p.numel() for p in LlamaFamily(CFG, seed=0).parameters())
    misa = measured["misa"]
    assert 0 < misa.trainable_params <= 0.03 * total
    assert 0 < misa.state_bytes <= 8 * 0.03 * total + 4 * 7 * CFG.n_layers  # fp32 m, v + a step per tensor
    for name in ("adamw", "lisa", "badam", "lora"):
        assert misa.state_bytes + misa.master_bytes < measured[name].state_bytes + measured[name].master_bytes, name
    assert measured["adamw"].state_bytes == 8 * total + 4 * (3 + 9 * CFG.n_layers)


def test_frozen_modules_save_no_inputs(measured):
    """Autograd keeps a frozen linear's input only if something below it trains: MISA saves at most AdamW's."""
    assert measured["misa"].saved_bytes <= measured["adamw"].saved_bytes
    assert measured["misa"].gradient_bytes < measured["lisa"].gradient_bytes < measured["adamw"].gradient_bytes


def test_published_parameter_counts():
    # Hugging Face checkpoints meta-llama/Llama-2-7b-hf and meta-llama/Meta-Llama-3-8B: 6,738,415,616 and
    # 8,030,261,248 parameters
    assert parameter_count(LLAMA2_7B) == 6_738_415_616
    assert parameter_count(LLAMA3_8B) == 8_030_261_248


@pytest.mark.parametrize("dims", [LLAMA2_7B, LLAMA3_8B])
def test_modelled_large_model_memory(dims):
    full = modelled_bytes("adamw", dims)
    assert full.total == 16 * parameter_count(dims)
    misa = modelled_bytes("misa", dims, delta=0.03)
    assert misa.optimizer == 12 * trainable_count("misa", dims, 0.03)
    assert misa.total < modelled_bytes("lisa", dims).total < full.total
    assert modelled_bytes("lora", dims).total < misa.total  # LoRA's state is tiny; its activations are not modelled
