"""Gaps in the tests of `analytic` found by a mutation audit.

- `step_peak_bytes` counts the LM head's gradient only as far as the trainable gradients go (a method that trains
  5 parameters holds 20 bytes of gradients, not the head's 160), by hand on a tiny fp32 model.
"""

from __future__ import annotations

from methods.memory.analytic import Shape, Technique, static_bytes, step_peak_bytes

# d = 4, E = 8, H = 2, one layer, V = 10: 2 * 10 * 4 + (4 * 16 + 3 * 4 * 8 + 2 * 4) + 4 = 252 parameters
TINY = Shape(d_model=4, d_ff=8, n_heads=2, n_layers=1, vocab_size=10)


def test_the_head_gradient_is_capped_by_the_trainable_gradients():
    """fp32, plain SGD, 5 trainable parameters: parameters 252 * 4 = 1008, gradients 20, no states. Per token:
    ids 8; block attn_norm 20 + q_proj 16 + attn 72 + mlp_norm 20 + gate_proj 16 + mlp 96 + down_proj 32 = 272;
    final norm 20, head 16, loss 40 + 4 + 8 = 52 (368 in all), plus the logits' gradient 40."""
    static = static_bytes(TINY, dtype="float32", optimizer="sgd", trainable_params=5)
    assert (static.parameters, static.gradients, static.optimizer_states) == (1008, 20, 0)
    assert step_peak_bytes(TINY, Technique(), "float32", 1, static) == 1008 + 408 + 20
    full = static_bytes(TINY, dtype="float32", optimizer="sgd")  # every gradient: the head's 160 bytes count whole
    assert step_peak_bytes(TINY, Technique(), "float32", 3, full) == 1008 + max(3 * 408 + 160, 1008)
