"""kernels/moc.py, bf16 decode: the exact Top-K from the gate GEMV's two bf16 histograms, derived in every program
of the fused select + up launch, picks the set the stable-sort reference picks, ties included."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import kernels.moc as moc
from kernels.dispatch import fix_interpreter_for_numpy_2_4
from kernels.row_topk import row_topk_ref
from kernels.testing import rel_err


@pytest.fixture(autouse=True, scope="module")
def _interpreter():
    fix_interpreter_for_numpy_2_4()  # the stage functions are called directly, not through choose_impl


def layer(T, d, E, seed, ties):
    """bf16 tokens and weights; with ``ties`` small integers, so many gate values are equal (the cut splits them)."""
    gen = torch.Generator().manual_seed(seed)
    if ties:
        x = torch.randint(-2, 3, (T, d), generator=gen).float()
        w_gate = torch.randint(-1, 2, (E, d), generator=gen).float()
    else:
        x = torch.randn(T, d, generator=gen)
        w_gate = torch.randn(E, d, generator=gen) / d**0.5
    w_up = torch.randn(E, d, generator=gen) / d**0.5
    return x.bfloat16(), w_gate.bfloat16(), w_up.bfloat16()


def select_up(x, w_gate, w_up, k):
    g, hist = moc.decode_gate(x, w_gate)
    idx, h = moc.decode_select_up(x, w_up, g, hist, k)
    return g, idx, h


def check_against_reference(x, w_gate, w_up, k):
    """Assert the selection and h; return whether some row's cut fell inside a run of equal gate values."""
    g, idx, h = select_up(x, w_gate, w_up, k)
    _, ref_idx = row_topk_ref(g.bfloat16(), k)  # the gate values as ranked: bf16, rounded from the fp32 sum
    assert torch.equal(idx.long(), ref_idx)
    g_sel = g.double().gather(1, ref_idx)
    u_sel = torch.einsum("tkd,td->tk", w_up.double()[ref_idx], x.double())
    assert rel_err(h, F.silu(g_sel) * u_sel) < 1e-5
    cut = g_sel.amin(dim=1, keepdim=True)
    return bool(((g == cut).sum(dim=1) > (g_sel == cut).sum(dim=1)).any())


@settings(max_examples=25, deadline=None)
@given(T=st.integers(1, 3), d=st.integers(1, 24), E=st.integers(1, 300), ties=st.booleans(),
       data=st.data(), seed=st.integers(0, 2**31 - 1))
def test_bf16_select_up_picks_the_reference_set(T, d, E, ties, data, seed):
    k = data.draw(st.integers(1, E), label="k")
    check_against_reference(*layer(T, d, E, seed, ties), k)


@pytest.mark.parametrize("prefix", [16, 128])
@pytest.mark.parametrize("ties", [False, True])
def test_bf16_select_up_counts_earlier_channels_in_many_blocks(monkeypatch, prefix, ties):
    monkeypatch.setattr(moc, "PREFIX_BLOCK", prefix)  # the channels before a program: many prefix blocks
    x, w_gate, w_up = layer(2, 12, 333, seed=prefix, ties=ties)
    split = [check_against_reference(x, w_gate, w_up, k) for k in (1, 41, 200, 333)]
    assert any(split) or not ties  # the integer layer's cuts drop some equal values: the tie-rank branch ran


def test_bf16_and_12_bit_selections_agree():
    x, w_gate, w_up = layer(2, 16, 250, seed=7, ties=True)
    k = 60
    _, idx, h = select_up(x, w_gate, w_up, k)
    g, hist = moc.decode_gate(x, w_gate, bf16_bins=False)
    g_sel, idx_12 = moc.decode_select(g, hist, k)
    assert torch.equal(idx, idx_12)
    assert rel_err(h, moc.decode_up(x, w_up, g_sel, idx_12)) < 1e-6


def test_bf16_decode_takes_the_fused_selection(monkeypatch):
    monkeypatch.setattr(moc, "decode_select", lambda *a: pytest.fail("the single-program selection ran"))
    x, w_gate, w_up = layer(1, 16, 96, seed=3, ties=False)
    y = moc.moc_decode(x, w_gate, w_up, w_up, 12, impl="triton")
    assert rel_err(y, moc.moc_decode_ref(x, w_gate, w_up, w_up, 12)) < 2e-2  # both round y to bf16


def test_bf16_histograms_need_bf16_rows():
    x, w_gate, _ = layer(1, 8, 16, seed=0, ties=False)
    with pytest.raises(ValueError, match="need bf16 rows"):
        moc.decode_gate(x.float(), w_gate.float(), bf16_bins=True)


def test_each_selection_refuses_the_other_histograms():
    x, w_gate, w_up = layer(1, 8, 16, seed=0, ties=False)
    g, hist = moc.decode_gate(x, w_gate)
    g12, hist12 = moc.decode_gate(x, w_gate, bf16_bins=False)
    with pytest.raises(ValueError, match="12-bit histograms"):
        moc.decode_select(g, hist, 4)
    with pytest.raises(ValueError, match="bf16 histograms"):
        moc.decode_select_up(x, w_up, g12, hist12, 4)
