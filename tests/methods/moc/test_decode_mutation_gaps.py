"""Gaps in the tests of `decode` found by a mutation audit.

- `make_layer` draws weights of std 1/sqrt(fan-in): d for the gate, up, qkv and o matrices, E for W_d (its fan-in is
  the channels), 1 for the KV cache; the dense W_d is a contiguous copy (the layout the dense GEMV reads);
- `decode_sweep`'s tokens come from its ``seed`` (same seed, same tokens; another seed, others).
"""

from __future__ import annotations

import math

import pytest
import torch

from methods.moc import decode


def test_make_layer_weight_scales_follow_the_fan_in():
    layer = decode.make_layer(d_model=64, d_ff=1024, n_heads=4, context=256, dtype=torch.float64, seed=0)
    expected = {"w_gate": 1 / 8, "w_up": 1 / 8, "w_qkv": 1 / 8, "w_o": 1 / 8, "w_down_t": 1 / 32, "w_down": 1 / 32,
                "k_cache": 1.0, "v_cache": 1.0}
    for name, std in expected.items():
        measured = float(getattr(layer, name).std())
        assert math.isclose(measured, std, rel_tol=0.1), (name, measured, std)
    assert torch.equal(layer.w_down, layer.w_down_t.T) and layer.w_down.is_contiguous()


def _tokens_seen(monkeypatch, seed: int) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []
    monkeypatch.setattr(decode, "attention_decode", lambda x, layer: seen.append(x.clone()))
    layer = decode.make_layer(d_model=8, d_ff=16, n_heads=2, context=4, dtype=torch.float32, seed=0)
    decode.decode_sweep(layer, [4], repeats=2, warmup=1, seed=seed)
    return seen


@pytest.mark.parametrize("other", [1, 7])
def test_decode_sweep_tokens_follow_the_seed(monkeypatch, other):
    first, again, changed = (_tokens_seen(monkeypatch, s) for s in (0, 0, other))
    assert len(first) == 3
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert all(not torch.equal(a, b) for a, b in zip(first, changed))
