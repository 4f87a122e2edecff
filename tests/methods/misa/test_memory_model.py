"""The activation / peak model of methods/misa/memory.py: monotone where it must be, the orderings its docstring
states, and MISA's worst active set never below what a real active set keeps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from methods.misa.memory import (
    LLAMA2_7B,
    LLAMA3_8B,
    _misa_inputs_upper_bound,
    activation_bytes_per_token,
    parameter_count,
    peak_bytes,
)

DIMS = [LLAMA2_7B, LLAMA3_8B]


@pytest.mark.parametrize("dims", DIMS)
def test_misa_activations_grow_with_delta_and_stay_below_full(dims):
    per = [activation_bytes_per_token("misa", dims, delta=d) for d in (0.001, 0.01, 0.03, 0.1, 0.3)]
    assert per == sorted(per)
    full = activation_bytes_per_token("adamw", dims)
    assert per[-1] <= full + dims.n_layers * 2 * dims.d_model * 2  # unshared inputs: at most q/k/v's copy more
    assert activation_bytes_per_token("badam", dims) <= activation_bytes_per_token("lisa", dims)
    assert activation_bytes_per_token("lisa", dims) < full < activation_bytes_per_token("lora", dims)


@pytest.mark.parametrize("dims", DIMS)
def test_peak_is_linear_in_tokens(dims):
    for method in ("adamw", "lora", "misa"):
        a, b, c = (peak_bytes(method, dims, t) for t in (0, 1000, 2000))
        assert b - a == c - b == 1000 * activation_bytes_per_token(method, dims)


@given(delta=st.floats(0.001, 1.0), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=100, deadline=None)
def test_upper_bound_covers_any_active_set(delta, seed):
    """A random active set within the budget keeps no more input bytes than the bound (inputs shared per layer)."""
    dims = LLAMA3_8B
    d, e, kv = dims.d_model, dims.d_ff, dims.kv_dim
    kinds = {"q": (d * d, "attn"), "k": (d * kv, "attn"), "v": (d * kv, "attn"), "o": (d * d, None),
             "gate": (d * e, "mlp"), "up": (d * e, "mlp"), "down": (e * d, "down")}
    inputs = {"attn": d * 2, "mlp": d * 2, "down": e * 2, None: 0}
    rng = np.random.default_rng(seed)
    modules = [(layer, k) for layer in range(dims.n_layers) for k in kinds]
    budget, kept_inputs, used = delta * parameter_count(dims), set(), 0
    for i in rng.permutation(len(modules)):
        layer, k = modules[i]
        if used + kinds[k][0] <= budget:
            used += kinds[k][0]
            kept_inputs.add((layer, kinds[k][1]))
    kept = sum(inputs[kind] for _, kind in kept_inputs)
    assert kept <= _misa_inputs_upper_bound(dims, delta)


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="no activation model"):
        activation_bytes_per_token("dora", LLAMA3_8B)
