"""Mutation-audit gap in the torch training path of `kernels.moc` (Mixture-of-Channels, arXiv 2511.09323): the
elementwise SiLU(g_I) * u_I runs in fp32 and is rounded to bf16 once (a bf16 SiLU and product, two roundings,
passed every older test). With W_d^T the identity (E = d) the output is h itself, compared with the exact value
over the hand-picked top-K gate channels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kernels.moc import moc_swiglu


def test_bf16_training_forward_rounds_silu_times_up_once():
    T, d, k = 32, 64, 16
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(T, d, generator=gen).bfloat16()
    w_gate = (torch.randn(d, d, generator=gen) / d**0.5).bfloat16()
    w_up = (torch.randn(d, d, generator=gen) / d**0.5).bfloat16()
    h = moc_swiglu(x, w_gate, w_up, torch.eye(d).bfloat16(), k, impl="torch")  # y = h @ I = h
    g, u = F.linear(x, w_gate).double(), F.linear(x, w_up).double()  # the bf16 GEMMs' values, widened
    top = torch.topk(g, k + 1, dim=-1).values
    assert bool((top[:, k - 1] > top[:, k]).all())  # no tie at the cut: the set is unambiguous
    keep = g >= top[:, k - 1:k]
    exact = torch.where(keep, F.silu(g) * u, 0.0).bfloat16()
    assert torch.equal(h != 0, keep)
    assert float((h == exact).double().mean()) > 0.99
