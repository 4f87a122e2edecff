"""Gaps in the tests of `kernels._moc_triton` found by a mutation audit.

Closed here (all on the CPU interpreter):
- d_model over 512: the gate GEMV and the gathered up GEMVs add every 512-column block (fp32 and bf16 decode);
- training rows wider than the 4096-channel chunk of `train_forward_kernel`: the slot offset and the count of ties
  already kept carry across chunks (a run of equal gate values straddles channel 4096);
- the training backward with more than 1024 chosen channels (two slot blocks of `train_backward_kernel`);
- `round_to_dtype` keeps a NaN whose mantissa is all ones (the GPU's default NaN, 0x7FFFFFFF) a NaN in bf16: the
  rounding carry would turn its bits into -0.0 / +0.0.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import triton
import triton.language as tl

import kernels.moc as moc
from kernels._moc_triton import round_to_dtype
from kernels.dispatch import fix_interpreter_for_numpy_2_4
from kernels.testing import poisoned_allocations, rel_err
from tests.kernels.test_moc import weights


@pytest.fixture(autouse=True, scope="module")
def _interpreter():
    fix_interpreter_for_numpy_2_4()  # some stage functions are called directly, not through choose_impl


def fp64_over_reference_set(x, wg, wu, wdt, k):
    """y in fp64 over the channels the reference ranks (the gate rounded to x's dtype, ties to the lowest index)."""
    g = F.linear(x, wg)
    idx = torch.sort(torch.sort(g, dim=1, descending=True, stable=True).indices[:, :k], dim=1).values
    g_sel = g.gather(1, idx).double()
    u_sel = torch.einsum("tkd,td->tk", wu.double()[idx], x.double())
    return torch.einsum("tk,tkd->td", F.silu(g_sel) * u_sel, wdt.double()[idx])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_decode_with_d_model_over_512_adds_every_column_block(dtype):
    """d = 700: the GEMVs' column loops run a full 512 block and a ragged 188 block, and the down projection writes
    two column blocks; y equals the fp64 evaluation over the reference set (fp32: 1e-5; bf16: output rounding)."""
    T, d, E, k = 2, 700, 24, 5
    x, wg, wu, wdt = weights(T, d, E, dtype, seed=700)
    with poisoned_allocations():
        y = moc.moc_decode(x, wg, wu, wdt, k, impl="triton")
    truth = fp64_over_reference_set(x, wg, wu, wdt, k)
    assert y.dtype == dtype
    assert rel_err(y, truth) < (1e-5 if dtype == torch.float32 else 2**-8)


def test_training_forward_carries_slots_and_ties_across_4096_channel_chunks():
    """E = 4200: two chunks of `train_forward_kernel`. Row 0 keeps its 30 large values and the first 100 of 150
    equal gate values (channels 4000 .. 4099, across 4096); row 1 keeps 130 distinct large values on both sides."""
    T, E, k = 2, 4200, 130
    g = torch.full((T, E), -4.0)
    u = torch.arange(T * E, dtype=torch.float32).reshape(T, E) / E - 1.0
    above0 = list(range(20)) + [50, 999, 3000, 3999, 4150, 4151, 4160, 4197, 4198, 4199]
    g[0, 4000:4150] = 0.5
    g[0, above0] = 1.0 + torch.arange(len(above0), dtype=torch.float32)
    above1 = list(range(40)) + list(range(4060, 4150))
    g[1, above1] = 2.0 + torch.arange(len(above1), dtype=torch.float32) / 8
    g[1, 200:300] = 1.5  # ties below the cut: none kept
    want = torch.tensor([sorted(above0 + list(range(4000, 4100))), above1])
    with poisoned_allocations():
        h, idx, g_sel, u_sel = moc._forward_rows_triton(g, u, k, torch.int16)
    assert idx.dtype == torch.int16
    assert torch.equal(idx.long(), want)
    assert torch.equal(g_sel, g.gather(1, want)) and torch.equal(u_sel, u.gather(1, want))
    dense = torch.zeros(T, E).scatter_(1, want, F.silu(g.gather(1, want).double()).float() * u.gather(1, want))
    torch.testing.assert_close(h, dense, rtol=1e-6, atol=1e-7)


def test_training_backward_scatters_more_than_1024_chosen_channels():
    """K = 1100 > 1024: `train_backward_kernel` walks two slot blocks. dg, du and h land on the chosen channels
    (every other channel stays zero) and equal the torch path's values."""
    T, E, k = 2, 1200, 1100
    gen = torch.Generator().manual_seed(5)
    idx = torch.stack([torch.randperm(E, generator=gen)[:k].sort().values for _ in range(T)])
    g_sel, u_sel = torch.randn(T, k, generator=gen), torch.randn(T, k, generator=gen)
    dh = torch.randn(T, E, generator=gen)
    got = moc._backward_rows_triton(dh, idx.to(torch.int16), g_sel, u_sel)
    want = moc._backward_rows_torch(dh, idx, g_sel, u_sel)
    chosen = torch.zeros(T, E, dtype=torch.bool).scatter_(1, idx, True)
    for ours, ref in zip(got, want):
        assert bool((ours[~chosen] == 0).all())
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)
    sig = torch.sigmoid(g_sel.double())  # h = SiLU(g) u by hand on the chosen channels
    torch.testing.assert_close(got[2].gather(1, idx).double(), g_sel.double() * sig * u_sel.double(), rtol=1e-5,
                               atol=1e-6)


@triton.jit
def _round_bf16_kernel(inp, out, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    ok = offs < n
    tl.store(out + offs, round_to_dtype(tl.load(inp + offs, mask=ok), tl.bfloat16), mask=ok)


def test_bf16_rounding_keeps_nan_with_all_ones_mantissa_a_nan():
    bits = torch.tensor([0x7FFFFFFF, -1, 0x7FC00000, 0x7F80FFFF, 0x3F800000], dtype=torch.int32)  # -1: 0xFFFFFFFF
    v = bits.view(torch.float32)
    out = torch.empty_like(v)
    _round_bf16_kernel[(1,)](v, out, v.numel(), BLOCK=8)
    assert bool(out[:4].isnan().all()) and out[4].item() == 1.0
