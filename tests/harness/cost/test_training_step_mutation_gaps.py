"""Gaps in the tests of `harness.cost.training_step` found by a mutation audit.

Closed here: `OpCall.flops` / `bytes_moved` count every one of ``count`` calls; the SwiGLU ops run over the
``T x d_ff`` MLP activations; a projection's forward is ``linear_fwd`` on a CPU and ``matmul`` on a GPU; the
parameters of the ``embed`` layer (the embedding) and of the ``head`` layer (final norm + LM head).
"""

from __future__ import annotations

from harness.cost.training_step import OpCall, layer_ops
from harness.models.llama import LlamaDims

DIMS = LlamaDims(d_model=32, d_ff=48, n_heads=4, n_layers=2, vocab_size=50, fused_qkv=True)
B, S = 2, 12  # 24 tokens


def test_an_op_call_counts_flops_and_bytes_of_every_call():
    # a 2 x 3 x 4 fp32 GEMM: 2 * 2 * 3 * 4 = 48 FLOPs and 4 * (2*4 + 4*3 + 2*3) = 104 bytes, three times
    call = OpCall("matmul", {"m": 2, "n": 3, "k": 4}, "x", count=3)
    assert call.flops() == 144
    assert call.bytes_moved("float32") == 312


def test_swiglu_runs_over_the_tokens_times_d_ff():
    block = layer_ops(DIMS, B, S)[1]
    numels = {c.op: c.shape["numel"] for c in (*block.forward, *block.backward) if c.op.startswith("swiglu")}
    assert numels == {"swiglu_fwd": 24 * 48, "swiglu_bwd": 24 * 48}


def test_projection_forwards_are_linear_calls_on_a_cpu_and_matmuls_on_a_gpu():
    for device, op in (("cpu", "linear_fwd"), ("h100", "matmul")):
        block = layer_ops(DIMS, B, S, device)[1]
        forward_gemms = {c.label: c.op for c in block.forward if c.label.endswith("_proj")}
        assert forward_gemms == dict.fromkeys(("qkv_proj", "o_proj", "gate_proj", "up_proj", "down_proj"), op)
        head = layer_ops(DIMS, B, S, device)[-1]
        assert [c.op for c in head.forward if c.label == "lm_head"] == [op]


def test_the_embed_and_head_layers_hold_their_parameters():
    layers = layer_ops(DIMS, B, S)
    assert (layers[0].name, layers[0].n_params) == ("embed", 50 * 32)
    assert (layers[-1].name, layers[-1].n_params) == ("head", 50 * 32 + 32)  # LM head and final norm
