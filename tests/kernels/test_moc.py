"""kernels/moc.py: MoC decode and training paths against references, dense equivalence, gradients, memory."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import kernels.moc as moc_module
from kernels.moc import (
    dense_swiglu,
    index_dtype_for,
    moc_decode,
    moc_decode_ref,
    moc_decode_torch,
    moc_swiglu,
    moc_swiglu_ref,
    topk_lowest_ties,
)
from kernels.row_topk import row_topk_ref
from kernels.testing import poisoned_allocations, rel_err


def weights(T, d, E, dtype=torch.float32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(T, d, generator=gen)
    wg = torch.randn(E, d, generator=gen) / d**0.5
    wu = torch.randn(E, d, generator=gen) / d**0.5
    wdt = torch.randn(E, d, generator=gen) / E**0.5
    return [t.to(dtype) for t in (x, wg, wu, wdt)]


def decode_f64(x, wg, wu, wdt, k):
    return moc_swiglu_ref(x.double(), wg.double(), wu.double(), wdt.double(), k)


@pytest.mark.parametrize(
    "T,d,E,k,dtype",
    [(1, 37, 53, 7, torch.float32), (3, 24, 40, 40, torch.float32), (2, 64, 96, 12, torch.bfloat16)],
)
def test_decode_triton_matches_float64_reference(T, d, E, k, dtype):
    x, wg, wu, wdt = weights(T, d, E, dtype, seed=T * d + E)
    truth = decode_f64(x, wg, wu, wdt, k)
    with poisoned_allocations():
        y = moc_decode(x, wg, wu, wdt, k, impl="triton")
    ref_err = rel_err(moc_decode_ref(x, wg, wu, wdt, k), truth)  # what torch achieves at this dtype
    assert y.dtype == dtype and y.shape == x.shape
    assert rel_err(y, truth) <= 3 * ref_err + 1e-6


def test_decode_single_token_vector_input():
    x, wg, wu, wdt = weights(1, 16, 24, seed=3)
    y = moc_decode(x[0], wg, wu, wdt, 5, impl="triton")
    assert y.shape == (16,)
    assert rel_err(y, decode_f64(x, wg, wu, wdt, 5)[0]) < 1e-5


@settings(max_examples=25, deadline=None)
@given(T=st.integers(1, 4), d=st.integers(1, 12), E=st.integers(1, 16), seed=st.integers(0, 2**31 - 1))
def test_k_equal_d_ff_is_dense_swiglu(T, d, E, seed):
    x, wg, wu, wdt = weights(T, d, E, torch.float64, seed)
    dense = dense_swiglu(x, wg, wu, wdt.T)
    assert torch.allclose(moc_swiglu(x, wg, wu, wdt, E, impl="torch"), dense, rtol=1e-12, atol=1e-12)
    assert torch.allclose(moc_decode(x, wg, wu, wdt, E, impl="torch"), dense, rtol=1e-12, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(T=st.integers(1, 5), d=st.integers(1, 10), E=st.integers(2, 20), data=st.data())
def test_memory_lean_function_equals_mask_form(T, d, E, data):
    k = data.draw(st.integers(1, E))
    x, wg, wu, wdt = weights(T, d, E, torch.float64, data.draw(st.integers(0, 2**31 - 1)))
    assert torch.allclose(moc_swiglu(x, wg, wu, wdt, k, impl="torch"), moc_swiglu_ref(x, wg, wu, wdt, k), atol=1e-12)


def test_gradients_match_finite_differences():
    x, wg, wu, wdt = weights(4, 6, 11, torch.float64, seed=7)
    inputs = [t.clone().requires_grad_() for t in (x, wg, wu, wdt)]
    assert torch.autograd.gradcheck(lambda *a: moc_swiglu(*a, 4, impl="torch"), inputs, eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("T,d,E,k", [(5, 20, 37, 6), (3, 9, 12, 12)])
def test_training_triton_matches_torch_and_oracle(T, d, E, k):
    base = weights(T, d, E, seed=E)
    dy = torch.randn(T, d, generator=torch.Generator().manual_seed(1))
    runs = {}
    for impl in ("triton", "torch", "oracle"):
        inputs = [t.clone().requires_grad_() for t in base]
        with poisoned_allocations():
            y = moc_swiglu_ref(*inputs, k) if impl == "oracle" else moc_swiglu(*inputs, k, impl=impl)
            y.backward(dy)
        runs[impl] = [y] + [t.grad for t in inputs]
    for ours, torch_impl, oracle in zip(runs["triton"], runs["torch"], runs["oracle"]):
        assert rel_err(ours, torch_impl) < 1e-5
        assert rel_err(ours, oracle) < 1e-5


def test_unselected_channels_get_no_gate_or_up_gradient():
    T, d, E, k = 3, 8, 30, 4
    inputs = [t.clone().requires_grad_() for t in weights(T, d, E, seed=5)]
    moc_swiglu(*inputs, k, impl="triton").sum().backward()
    g = inputs[0].detach() @ inputs[1].detach().T
    chosen = torch.zeros(E, dtype=torch.bool)
    chosen[torch.topk(g, k, dim=1).indices.unique()] = True
    for grad in (inputs[1].grad, inputs[2].grad, inputs[3].grad):
        assert bool((grad[~chosen] == 0).all())
        assert bool((grad[chosen].abs().sum(1) > 0).all())


def test_saved_for_backward_is_x_plus_three_k_per_token():
    """What forward keeps: x (d), int16 indices (K, 2 bytes) and g_I, u_I (2K) per token, not the dense h."""
    T, d, E, k = 6, 16, 64, 8
    x, wg, wu, wdt = (t.requires_grad_() for t in weights(T, d, E, torch.bfloat16, seed=2))
    weight_ptrs = {t.data_ptr() for t in (wg, wu, wdt)}
    saved = []

    def pack(t):
        if t.data_ptr() not in weight_ptrs:
            saved.append(t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        moc_swiglu(x, wg, wu, wdt, k, impl="triton")
    assert sum(saved) == 2 * T * (d + 3 * k)  # bf16 and int16 are both 2 bytes
    saved.clear()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        dense_swiglu(x, wg, wu, wdt.T)  # eager dense autograd keeps several [T, E] intermediates
    assert sum(saved) > 2 * T * (d + 3 * E)


def test_index_dtype_fits_d_ff():
    assert index_dtype_for(11008) == torch.int16
    assert index_dtype_for(32768) == torch.int16
    assert index_dtype_for(40000) == torch.int32


def test_bad_inputs_raise_clear_errors():
    x, wg, wu, wdt = weights(2, 8, 12)
    with pytest.raises(ValueError, match="w_up must be"):
        moc_decode(x, wg, wu[:, :4], wdt, 3)
    with pytest.raises(ValueError, match="k must be in 1..d_ff=12"):
        moc_decode(x, wg, wu, wdt, 13)
    with pytest.raises(ValueError, match="rows must be contiguous"):
        moc_decode(x, wg, wu, wdt.T.contiguous().T, 3)
    with pytest.raises(ValueError, match="dtype"):
        moc_swiglu(x, wg, wu.double(), wdt, 3)


def test_reference_silu_matches_framework():
    x, wg, wu, wdt = weights(2, 5, 7, torch.float64)
    h = F.silu(x @ wg.T) * (x @ wu.T)
    assert torch.allclose(moc_swiglu_ref(x, wg, wu, wdt, 7), h @ wdt)


# ---------------------------------------------------------------------------------------------------------------
# the torch decode path (`moc_decode_torch`, impl="torch", the CPU path) against the oracle `moc_decode_ref`


def layer(lead, d, E, dtype, seed):
    """x ``[*lead, d]`` and the three ``[E, d]`` weights (std 1/sqrt(fan-in)), in ``dtype``."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(*lead, d, generator=gen)
    wg = torch.randn(E, d, generator=gen) / d**0.5
    wu = torch.randn(E, d, generator=gen) / d**0.5
    wdt = torch.randn(E, d, generator=gen) / E**0.5
    return [t.to(dtype) for t in (x, wg, wu, wdt)]


def assert_matches_oracle(y, ref):
    """Stated tolerances. Both rank the same gate values and pick the same set, then sum in fp32 (fp64 for fp64
    inputs) in another order: fp64 within 1e-12, fp32 within 1e-5 relative (plus 1e-5 of the largest |y|); bf16 /
    fp16 outputs within one ulp of the oracle's (the fp32 sums round to the same value unless they straddle a
    rounding boundary: |y - ref| <= 2^-7 |ref| for bf16, 2^-10 |ref| for fp16)."""
    assert y.dtype == ref.dtype and y.shape == ref.shape
    if ref.dtype in (torch.bfloat16, torch.float16):
        ulp = 2.0**-7 if ref.dtype == torch.bfloat16 else 2.0**-10
        assert bool(((y.double() - ref.double()).abs() <= ulp * ref.double().abs()).all())
    else:
        tol = 1e-12 if ref.dtype == torch.float64 else 1e-5
        torch.testing.assert_close(y, ref, rtol=tol, atol=tol * float(ref.abs().max()) + 1e-30)


def assert_same_choice(ours, oracle):
    """The same channels and gate values per row (`topk_lowest_ties` leaves the order within a row open)."""
    (vals, idx), (ref_vals, ref_idx) = ours, oracle
    idx, order = idx.sort(dim=-1)
    assert torch.equal(idx, ref_idx)
    assert torch.equal(vals.gather(-1, order), ref_vals)


@pytest.mark.parametrize("lead", [(), (5,), (2, 3)], ids=["d", "T_d", "B_S_d"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("k", [1, 7, 40], ids=["k1", "k7", "k_eq_d_ff"])
def test_torch_decode_matches_oracle(lead, dtype, k):
    """Any leading dimensions ([d], [T, d], [B, S, d]) come back in x's shape; the chosen set is the oracle's
    exactly, the output within the stated tolerances, for K = 1, a middle K and K = d_ff."""
    d, E = 24, 40
    x, wg, wu, wdt = layer(lead, d, E, dtype, seed=len(lead) * 100 + k)
    ref = moc_decode_ref(x, wg, wu, wdt, k)
    assert ref.shape == x.shape
    with poisoned_allocations():
        y = moc_decode(x, wg, wu, wdt, k, impl="torch")
        assert_matches_oracle(y, ref)
        assert_matches_oracle(moc_decode_torch(x, wg, wu, wdt, k), ref)
    g = torch.nn.functional.linear(x.reshape(-1, d), wg)  # the values both rank
    assert_same_choice(topk_lowest_ties(g, k), row_topk_ref(g, k))
    rows = moc_decode(x.reshape(-1, d), wg, wu, wdt, k, impl="torch")  # same rows, flattened by hand
    assert torch.equal(y, rows.reshape(x.shape))


@settings(max_examples=30, deadline=None)
@given(lead=st.lists(st.integers(1, 3), max_size=3), d=st.integers(1, 20), E=st.integers(1, 40),
       dtype=st.sampled_from([torch.float64, torch.float32, torch.bfloat16, torch.float16]), data=st.data())
def test_torch_decode_matches_oracle_on_random_shapes(lead, d, E, dtype, data):
    k = data.draw(st.integers(1, E))
    x, wg, wu, wdt = layer(tuple(lead), d, E, dtype, seed=data.draw(st.integers(0, 2**31 - 1)))
    assert_matches_oracle(moc_decode(x, wg, wu, wdt, k, impl="torch"), moc_decode_ref(x, wg, wu, wdt, k))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.float16])
def test_topk_lowest_ties_picks_the_oracle_set_under_heavy_ties(dtype):
    """Integer-valued gates with both signed zeros and infinities: every k picks what the stable sort picks."""
    gen = torch.Generator().manual_seed(0)
    g = torch.randint(-3, 4, (6, 30), generator=gen).to(dtype)
    g[0] = 1.0  # one row all tied
    g[1, ::3] = -0.0
    g[2, :4] = torch.tensor([float("inf"), float("-inf"), float("inf"), float("-inf")])
    for k in range(1, 31):
        assert_same_choice(topk_lowest_ties(g, k), row_topk_ref(g, k))


def test_topk_lowest_ties_rejects_nan():
    for dtype in (torch.float32, torch.bfloat16):
        g = torch.randn(2, 10).to(dtype)
        g[1, 3] = float("nan")
        with pytest.raises(ValueError, match="NaN"):
            topk_lowest_ties(g, 4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("block_rows", [1, 5, 12, 30], ids=lambda n: f"rows{n}")
def test_torch_decode_blocks_equal_one_block(monkeypatch, dtype, block_rows):
    """Blocks of part of one token's channels (1, 5 rows < k = 12) and of whole tokens (12, 30 rows) give the
    oracle's result too."""
    T, d, E, k = 7, 16, 50, 12
    x, wg, wu, wdt = layer((T,), d, E, dtype, seed=block_rows)
    monkeypatch.setattr(moc_module, "BLOCK_BYTES", block_rows * d * 4)
    assert_matches_oracle(moc_decode(x, wg, wu, wdt, k, impl="torch"), moc_decode_ref(x, wg, wu, wdt, k))


def test_torch_decode_accumulates_bf16_in_fp32():
    """bf16: SiLU(g_I), u_I and the down projection stay in fp32, so y is the bf16 rounding of the exact (fp64)
    result over the chosen set on nearly every element (rounding u or h to bf16 gets about half of them wrong)."""
    T, d, E, k = 8, 256, 768, 96
    x, wg, wu, wdt = layer((T,), d, E, torch.bfloat16, seed=3)
    g_sel, idx = row_topk_ref(torch.nn.functional.linear(x, wg), k)
    u = torch.einsum("tkd,td->tk", wu.double()[idx], x.double())
    truth = torch.einsum("tk,tkd->td", F.silu(g_sel.double()) * u, wdt.double()[idx])
    y = moc_decode(x, wg, wu, wdt, k, impl="torch")
    assert float((y == truth.to(torch.bfloat16)).double().mean()) > 0.99


def test_auto_off_cuda_takes_the_torch_path_not_the_oracle(monkeypatch):
    x, wg, wu, wdt = layer((2,), 8, 12, torch.float32, seed=0)
    calls = []
    real = moc_module._moc_decode_torch
    monkeypatch.setattr(moc_module, "_moc_decode_torch", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(moc_module, "moc_decode_ref", lambda *a: pytest.fail("the oracle ran"))
    moc_decode(x, wg, wu, wdt, 3)
    assert calls == [1]


def test_triton_decode_takes_any_leading_dims():
    x, wg, wu, wdt = layer((2, 3), 16, 24, torch.float32, seed=4)
    y = moc_decode(x, wg, wu, wdt, 5, impl="triton")
    assert y.shape == x.shape
    assert rel_err(y, moc_decode_ref(x, wg, wu, wdt, 5)) < 1e-5
