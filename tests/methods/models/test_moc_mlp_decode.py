"""`MoCMLP`'s decode path: without gradients, few-token calls go through `kernels.moc.moc_decode` (reads only the K
chosen rows of W_up and W_down^T); with gradients the memory-lean training path runs exactly as before."""

from __future__ import annotations

import pytest
import torch

from kernels.moc import moc_swiglu
from methods.models import llama_family
from methods.models.llama_family import MoCMLP, swap_mlp_for_moc

# Tolerances for decode path vs training path. Both rank the same gate (the same F.linear call on the same rows,
# ties to the lowest index), so the channel sets are identical; the outputs then differ only by summation order
# (decode: einsum over the K gathered rows in fp32; training: dense GEMMs over d and over all E channels, the
# unselected ones zero), a few ulps of fp32 / fp64 over sums of d = 32 and K <= 24 terms of size O(1).
TOL = {torch.float64: dict(atol=1e-12, rtol=1e-12), torch.float32: dict(atol=2e-6, rtol=2e-5)}


def _mlp(d=32, e=96, k=12, dtype=torch.float64, seed=0, **kw) -> MoCMLP:
    torch.manual_seed(seed)
    mlp = MoCMLP(d, e, k, **kw).to(dtype)
    with torch.no_grad():  # the module's weights start uninitialised (`LlamaFamily` initialises them)
        mlp.gate_proj.weight.normal_(0, d**-0.5)
        mlp.up_proj.weight.normal_(0, d**-0.5)
        mlp.down_proj_t.normal_(0, e**-0.5)
    return mlp


@pytest.fixture
def decode_calls(monkeypatch):
    """Counts the calls `MoCMLP.forward` makes to `moc_decode` (the real kernel still runs)."""
    calls = []
    real = llama_family.moc_decode

    def counting(*args, **kwargs):
        calls.append(tuple(args[0].shape))
        return real(*args, **kwargs)

    monkeypatch.setattr(llama_family, "moc_decode", counting)
    return calls


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("shape", [(32,), (1, 32), (3, 32), (2, 1, 32), (1, 7, 32)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_decode_path_equals_training_path_without_grad(decode_calls, dtype, shape, seed):
    on = _mlp(dtype=dtype, seed=seed)
    off = _mlp(dtype=dtype, seed=seed, decode_kernel=False)
    h = torch.randn(shape, dtype=dtype, generator=torch.Generator().manual_seed(100 + seed))
    with torch.no_grad():
        assert on.uses_decode_kernel(h) and not off.uses_decode_kernel(h)
        y_dec, y_train = on(h), off(h)
    assert decode_calls == [shape]  # only `on` went through the kernel
    assert y_dec.shape == y_train.shape == h.shape and y_dec.dtype == dtype
    torch.testing.assert_close(y_dec, y_train, **TOL[dtype])
    # and the training path is still what the module computed before the decode path existed
    assert torch.equal(y_train, moc_swiglu(h, off.gate_proj.weight, off.up_proj.weight, off.down_proj_t, off.k))


def test_decode_path_is_taken_only_while_its_weight_traffic_is_below_dense(decode_calls):
    mlp = _mlp(e=96, k=12)  # T * k < 96 <=> T <= 7
    with torch.no_grad(), torch.inference_mode():
        assert [mlp.uses_decode_kernel(torch.zeros(t, 32, dtype=torch.float64)) for t in (1, 7, 8, 40)] == [
            True, True, False, False]
        mlp(torch.randn(2, 4, 32, dtype=torch.float64))  # a prefill of 8 tokens: dense GEMMs
        assert decode_calls == []
        mlp.k = 96  # k == d_ff keeps every channel: no sparsity to exploit, the dense path stays exact
        assert not mlp.uses_decode_kernel(torch.zeros(1, 32, dtype=torch.float64))


def test_autocast_keeps_the_training_path(decode_calls):
    mlp = _mlp(dtype=torch.float32)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        mlp(torch.randn(1, 32))
    assert decode_calls == []


def test_decode_kernel_flag_is_checked():
    with pytest.raises(TypeError, match="decode_kernel: expected true or false"):
        MoCMLP(8, 16, 4, decode_kernel="no")
    assert MoCMLP(8, 16, 4).decode_kernel is True


@pytest.mark.parametrize("needs", ["input", "weights", "both"])
def test_with_gradients_the_kernel_is_not_called_and_gradients_are_unchanged(decode_calls, needs):
    mlp = _mlp()
    weights = (mlp.gate_proj.weight, mlp.up_proj.weight, mlp.down_proj_t)
    for w in weights:
        w.requires_grad_(needs != "input")
    h = torch.randn(1, 32, dtype=torch.float64, requires_grad=needs != "weights")  # a decode-sized input
    dy = torch.randn(1, 32, dtype=torch.float64)
    leaves = [t for t in (h, *weights) if t.requires_grad]
    grads = torch.autograd.grad((mlp(h) * dy).sum(), leaves)
    assert decode_calls == []
    # the pre-change forward was exactly this call: gradients must be bitwise equal
    ref = torch.autograd.grad((moc_swiglu(h, *weights, mlp.k) * dy).sum(), leaves)
    for g, r in zip(grads, ref, strict=True):
        assert torch.equal(g, r)
    # grad mode on but nothing to differentiate: no gradient is needed, so the decode kernel may run
    with torch.enable_grad():
        for w in weights:
            w.requires_grad_(False)
        mlp(h.detach())
    assert decode_calls == [(1, 32)]


def test_hugging_face_greedy_generation_is_the_same_with_and_without_the_decode_path(decode_calls):
    transformers = pytest.importorskip("transformers", reason="transformers is not installed (extra 'llm')")
    config = transformers.LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    torch.manual_seed(0)
    # float64: the second layer's gate depends on the first layer's output, where the two paths differ by ulps;
    # in float64 no top-K ranking comes within such a difference, so the tokens must agree exactly
    model = transformers.LlamaForCausalLM(config).double().eval()
    assert swap_mlp_for_moc(model, k=8) == 2
    prompt = torch.randint(0, config.vocab_size, (2, 5))

    def generate(decode_kernel: bool) -> torch.Tensor:
        for layer in model.model.layers:
            layer.mlp.decode_kernel = decode_kernel
        return model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=6, do_sample=False,
                              pad_token_id=0, return_dict_in_generate=True, output_logits=True)

    off = generate(False)
    assert decode_calls == []
    on = generate(True)
    # prefill (2 x 5 rows, 10 * 8 >= 64) keeps the dense GEMMs; each of the 5 later steps (2 rows) uses the kernel
    assert decode_calls == [(2, 1, 32)] * (2 * 5)
    assert on.sequences.shape == (2, 11)
    assert torch.equal(on.sequences, off.sequences)
    # the greedy tokens of a tiny random model are robust to small errors; the step logits are not
    for step_on, step_off in zip(on.logits, off.logits, strict=True):
        torch.testing.assert_close(step_on, step_off, atol=1e-12, rtol=1e-12)
