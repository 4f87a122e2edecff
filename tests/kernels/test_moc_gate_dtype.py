"""kernels/moc.py: decode and training rank the gate in the same dtype, so a token picks the same channel set.

MoC (Wu et al., arXiv 2511.09323) keeps the K channels of largest gate value; the authors' training code ranks the
gate as the linear layer returns it (bf16 under mixed precision). Decode must pick that same set.
"""

import pytest
import torch
import torch.nn.functional as F

triton = pytest.importorskip("triton")
import triton.language as tl  # noqa: E402

from kernels._moc_triton import round_to_dtype  # noqa: E402
from kernels.dispatch import choose_impl  # noqa: E402
from kernels.moc import decode_gate, decode_select, decode_select_up, moc_decode, moc_swiglu  # noqa: E402
from kernels.row_topk import row_topk_ref  # noqa: E402


def bf16_layer(T, d, E, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(T, d, generator=gen)
    wg = torch.randn(E, d, generator=gen) / d**0.5
    wu = torch.randn(E, d, generator=gen) / d**0.5
    wdt = torch.randn(E, d, generator=gen) / E**0.5
    return [t.to(torch.bfloat16) for t in (x, wg, wu, wdt)]


def sets(idx: torch.Tensor) -> torch.Tensor:
    return idx.long().sort(dim=1).values


def training_sets(x, wg, wu, wdt, k, impl):
    """The channel indices the training forward stores for backward (the only integer tensor it saves)."""
    saved = []

    def pack(t):
        if not t.is_floating_point():
            saved.append(t.clone())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        moc_swiglu(*(t.clone().requires_grad_() for t in (x, wg, wu, wdt)), k, impl=impl)
    (idx,) = saved
    return sets(idx)


def decode_sets_triton(x, wg, wu, k):
    """The sets the Triton decode picks: with the exact bf16 histograms (its bf16 path) and with the 12-bit one."""
    choose_impl("triton", x, wg)  # what `moc_decode` does first (readies the CPU interpreter)
    g, hist = decode_gate(x, wg)
    g12, hist12 = decode_gate(x, wg, bf16_bins=False)
    return sets(decode_select_up(x, wu, g, hist, k)[0]), sets(decode_select(g12, hist12, k)[1])


@pytest.mark.parametrize("T,d,E,k", [(512, 64, 256, 32), (256, 96, 384, 48), (256, 40, 200, 25)])
def test_torch_decode_and_training_pick_the_same_channels_in_bf16(T, d, E, k):
    x, wg, wu, wdt = bf16_layer(T, d, E, seed=T + d + E)
    train = training_sets(x, wg, wu, wdt, k, "torch")
    decode = sets(row_topk_ref(F.linear(x, wg), k)[1])  # what `moc_decode_ref` ranks
    assert torch.equal(decode, train)
    # the inputs are sensitive to the ranking dtype: ranking decode's fp32 gate (the old rule) changes some sets
    fp32_sets = sets(row_topk_ref(x.float() @ wg.float().T, k)[1])
    assert float((fp32_sets != train).any(dim=1).float().mean()) > 0.02


@pytest.mark.parametrize("T,d,E,k", [(16, 64, 256, 32), (8, 128, 512, 64)])
def test_triton_decode_and_training_pick_the_same_channels_in_bf16(T, d, E, k):
    x, wg, wu, wdt = bf16_layer(T, d, E, seed=T + d + E)
    train_torch = training_sets(x, wg, wu, wdt, k, "torch")
    assert torch.equal(training_sets(x, wg, wu, wdt, k, "triton"), train_torch)
    bf16_path, histogram_12_bit = decode_sets_triton(x, wg, wu, k)
    assert torch.equal(bf16_path, train_torch) and torch.equal(histogram_12_bit, train_torch)
    # these inputs tell the rules apart: an unrounded fp32 gate would rank some token differently
    assert bool((sets(row_topk_ref(x.float() @ wg.float().T, k)[1]) != train_torch).any())


@pytest.mark.parametrize("impl", ["triton", "torch"])
def test_decode_output_uses_the_training_set(impl):
    """End to end: decode's output equals an fp64 evaluation over the channels training selected (a different set
    would move some token's output by a whole channel's contribution)."""
    T, d, E, k = 12, 64, 256, 32
    x, wg, wu, wdt = bf16_layer(T, d, E, seed=11)
    idx = training_sets(x, wg, wu, wdt, k, "torch")
    g_sel = F.linear(x, wg).gather(1, idx).double()  # the rounded gate values training keeps
    u_sel = torch.einsum("tkd,td->tk", wu.double()[idx], x.double())
    truth = torch.einsum("tk,tkd->td", F.silu(g_sel) * u_sel, wdt.double()[idx])
    y = moc_decode(x, wg, wu, wdt, k, impl=impl).double()
    err = (y - truth).abs().amax(dim=1) / truth.abs().amax(dim=1)
    assert float(err.max()) < 2**-7  # bf16 output rounding is 2**-9 relative



@triton.jit
def _round_kernel(inp, out, n, DTYPE: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    ok = offs < n
    tl.store(out + offs, round_to_dtype(tl.load(inp + offs, mask=ok), DTYPE), mask=ok)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")  # fp16 cast of 3.4e38 -> inf
def test_gate_rounding_is_round_to_nearest_even_like_torch():
    """The decode gate kernel's bf16/fp16 rounding equals torch's casts (ties, carries, inf, NaN, subnormals)."""
    edge = [1 + 2**-8, 1 + 3 * 2**-8, -(1 + 2**-8), 1 + 2**-8 + 2**-20, 2 - 2**-9, 3.3895e38, float("inf"),
            float("-inf"), float("nan"), -0.0, 1e-40, 1e-5, 65519.0, 65520.0]
    v = torch.cat([torch.tensor(edge), torch.randn(4000, generator=torch.Generator().manual_seed(0)) * 30])
    choose_impl("triton", v)
    for tl_dtype, dtype in ((tl.bfloat16, torch.bfloat16), (tl.float16, torch.float16), (tl.float32, torch.float32)):
        out = torch.empty_like(v)
        _round_kernel[(1,)](v, out, v.numel(), DTYPE=tl_dtype, BLOCK=4096 * 2)
        want = v.to(dtype).float()
        assert bool(((out == want) | (out.isnan() & want.isnan())).all()), dtype
