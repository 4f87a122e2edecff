"""LLaMA shapes: GaLore parameter counts, GEMM bookkeeping, backward = two GEMMs per forward GEMM."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.models.llama import LLAMA_PRESETS, LlamaDims, attention_flops, layer_work, parameter_count, resolve_model


@pytest.mark.parametrize(
    ("preset", "millions"),
    # the names are rounded sizes; the LLaMA-7B architecture has 6.74 B parameters (reported as 6.7B in Touvron et al. 2023)
    [("llama-60m", 58.07), ("llama-130m", 134.11), ("llama-350m", 367.97), ("llama-1b", 1339.08), ("llama-7b", 6738.42)],
)
def test_parameter_counts(preset, millions):
    assert parameter_count(LLAMA_PRESETS[preset]) / 1e6 == pytest.approx(millions, abs=0.01)


def test_layers_sum_to_the_parameter_count():
    for dims in LLAMA_PRESETS.values():
        layers = layer_work(dims, micro_batch=2, seq_len=64)
        assert [l.name for l in layers] == ["embed", *(f"block.{i}" for i in range(dims.n_layers)), "head"]
        assert sum(l.n_params for l in layers) == parameter_count(dims)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(sorted(LLAMA_PRESETS)), st.integers(1, 8), st.sampled_from([1, 64, 256, 1024]))
def test_gemm_flops(preset, micro_batch, seq_len):
    dims = LLAMA_PRESETS[preset]
    tokens = micro_batch * seq_len
    block = layer_work(dims, micro_batch, seq_len)[1]
    dense = 2 * tokens * (4 * dims.d_model**2 + 3 * dims.d_model * dims.d_ff)
    forward = sum(g.flops for g in block.forward_gemms)
    assert forward == pytest.approx(dense + attention_flops(dims, micro_batch, seq_len))
    assert sum(g.flops for g in block.backward_gemms) == pytest.approx(2 * forward)
    assert len(block.backward_gemms) == 2 * len(block.forward_gemms)


def test_backward_shapes():
    q = layer_work(LLAMA_PRESETS["llama-60m"], 1, 16)[1].forward_gemms[0]
    dgrad, wgrad = q.backward()
    assert (dgrad.m, dgrad.n, dgrad.k) == (q.m, q.k, q.n)
    assert (wgrad.m, wgrad.n, wgrad.k) == (q.k, q.n, q.m)


def test_presets_and_errors():
    assert resolve_model("llama-130m").d_model == 768
    dims = LlamaDims(d_model=64, d_ff=172, n_heads=4, n_layers=2)
    assert resolve_model(dims) is dims
    with pytest.raises(ValueError, match=r"unknown model preset 'llama-3b'; known: llama-60m"):
        resolve_model("llama-3b")
    with pytest.raises(ValueError, match=r"not divisible by n_heads"):
        LlamaDims(d_model=100, d_ff=200, n_heads=3, n_layers=1)
    with pytest.raises(ValueError, match=r"micro_batch and seq_len must be >= 1"):
        layer_work(dims, 0, 16)
