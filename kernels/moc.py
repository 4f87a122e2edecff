"""Mixture-of-Channels SwiGLU FFN: per token, only the K channels with the largest raw gate values are kept.

Paper: Wu, He, Wang, Yuan, "Mixture-of-Channels: Exploiting Sparse FFNs for Efficient LLMs Pre-Training and
Inference", arXiv 2511.09323 (research card ``shared/research/moc_tahquant.md`` A2, A8, D1).

Idea: y = W_d (M * SiLU(W_g x) * (W_u x)) where M keeps the K largest entries of the raw gate g = W_g x (largest
value, not magnitude). Decoding then reads W_g in full but only K rows of W_u and of W_d^T (weight traffic
1/3 + 2K/(3E) of dense); training stores only (x, I, g_I, u_I) for backward, d + 3K numbers per token instead of
the dense intermediates, and backward treats the mask as a constant.

Layout: W_g, W_u are ``[E, d]`` (nn.Linear layout) and the down projection is stored TRANSPOSED, ``w_down_t``
``[E, d]``, so one channel is one contiguous row in both gathered matrices.

Our choices where the paper is silent:
- decode and training rank the same gate values: g accumulated in fp32 and rounded once to the compute dtype (the
  input dtype), as the framework's linear layer returns it and as the authors' training code ranks it
  (``torch.topk`` on the bf16 gate). Decode's Triton gate GEMV rounds its fp32 sum to x's dtype before the
  ranking, so a token picks the same channel set whether it is decoded or trained on (ranking decode's
  unrounded fp32 gate instead changed the set of 9-39% of tokens in bf16 on random layers); only accumulation
  order can differ, which moved 1.5e-5 to 1.5e-4 of the rounded gate values by one ulp there (no set changed).
  Ties are broken by the lowest channel index (`kernels.row_topk`), so the chosen set is exact and identical
  across implementations. After the ranking, decode keeps fp32 for SiLU(g_I), u_I and the down projection;
- training: h is recomputed in backward from the compact (g_I, u_I), indices are stored as int16 when
  E <= 32768 (else int32);
- the Triton decode of bf16 tokens ranks the gate exactly from two histograms its gate GEMV counts (a bf16 value's
  order key has 16 significant bits), so the selection and the up GEMVs run in one launch over many programs
  (the H100 run of the single-program selection measured it as the slowest decode stage); fp16 / fp32 tokens keep
  the 12-bit histogram and a single-program selection per token;
- the decode down projection is split over (column block, channel range) and reduced by a second small kernel
  instead of atomics, so results are deterministic;
- decode without Triton (a CPU; `moc_decode_torch`, ``impl="torch"``) ranks with one ``torch.topk`` plus a fix-up
  of ties at the cut (same set as the sort in `row_topk_ref`) and reads the chosen rows with ``index_select`` /
  ``embedding_bag`` in blocks (bf16 / fp16 rows widened to fp32 one block at a time); `moc_decode_ref`, which
  copies every chosen row to ``[T, K, d]``, stays the plain oracle the tests compare against.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kernels.basic_ops import dtype_bytes
from kernels.dispatch import choose_impl, multiprocessor_count, next_power_of_2
from kernels.inputs import device_generator
from kernels.ops import Shape, TimedOp, product_grid, register_op
from kernels.row_topk import MAX_TRITON_COLS, row_topk_from_histogram, row_topk_ref


# ---------------------------------------------------------------------------------------------------------------
# checks and small helpers


_TRITON_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def _triton_unsupported(x: torch.Tensor, w_gate: torch.Tensor) -> str | None:
    if w_gate.shape[0] > MAX_TRITON_COLS:
        return f"d_ff={w_gate.shape[0]} > {MAX_TRITON_COLS}"
    if x.dtype not in _TRITON_DTYPES:
        return f"dtype {x.dtype} (the kernels compute in fp32; use impl='torch')"
    return None


def _check_weights(x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down_t: torch.Tensor, k: int) -> None:
    d = x.shape[-1]
    for name, w in (("w_gate", w_gate), ("w_up", w_up), ("w_down_t", w_down_t)):
        if w.dim() != 2 or w.shape[1] != d:
            raise ValueError(f"{name} must be [d_ff, d_model] = [E, {d}], got {tuple(w.shape)}")
        if w.shape[0] != w_gate.shape[0]:
            raise ValueError(f"{name} has {w.shape[0]} rows but w_gate has {w_gate.shape[0]} (d_ff must agree)")
        if w.stride(1) != 1:
            raise ValueError(f"{name} rows must be contiguous (stride 1 along d_model); store W_down transposed, E x d")
        if w.dtype != x.dtype:
            raise ValueError(f"{name} dtype {w.dtype} differs from x dtype {x.dtype}")
    if not 1 <= k <= w_gate.shape[0]:
        raise ValueError(f"k must be in 1..d_ff={w_gate.shape[0]}, got {k}")


def index_dtype_for(d_ff: int) -> torch.dtype:
    """Smallest signed index dtype for channel indices below ``d_ff`` (int16 up to 32768 channels, else int32)."""
    return torch.int16 if d_ff <= 32768 else torch.int32


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _as_rows(x: torch.Tensor) -> torch.Tensor:
    rows = x.reshape(-1, x.shape[-1])
    return rows if rows.stride(-1) == 1 else rows.contiguous()


# ---------------------------------------------------------------------------------------------------------------
# references and the dense baseline


def dense_swiglu(x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down: torch.Tensor) -> torch.Tensor:
    """Dense SwiGLU in the input dtype, the way a framework runs it: ``W_d (SiLU(W_g x) * W_u x)``.

    ``w_down`` is the usual ``[d, E]`` nn.Linear weight (pass ``w_down_t.T`` for the transposed layout).
    """
    return F.linear(F.silu(F.linear(x, w_gate)) * F.linear(x, w_up), w_down)


def moc_decode_ref(x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down_t: torch.Tensor, k: int) -> torch.Tensor:
    """Torch reference of `moc_decode`, the oracle tests compare the implementations against (`moc_decode`'s
    ``impl="torch"`` runs the faster `moc_decode_torch`): the gate is ranked in x's dtype (the same values training
    ranks) by a full stable sort, the rest runs in fp32 (fp64 for fp64 inputs) on ``[T, K, d]`` copies of the
    chosen rows. Bytes a decode must touch: all of W_g, K rows of W_u and of W_d^T per token, x and y."""
    _check_weights(x, w_gate, w_up, w_down_t, k)
    wide = torch.promote_types(x.dtype, torch.float32)
    g = F.linear(_as_rows(x), w_gate)  # [T, E] in the compute dtype, exactly as `MoCSwiGLUFunction` ranks it
    g_sel, idx = row_topk_ref(g, k)  # [T, K]
    rows = _as_rows(x).to(wide)
    u_sel = torch.einsum("tkd,td->tk", w_up[idx].to(wide), rows)
    h = F.silu(g_sel.to(wide)) * u_sel
    y = torch.einsum("tk,tkd->td", h, w_down_t[idx].to(wide))
    return y.to(x.dtype).reshape(x.shape)


def moc_swiglu_ref(x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down_t: torch.Tensor, k: int) -> torch.Tensor:
    """Mask form ``W_d (M * SiLU(g) * u)`` through plain autograd (M = top-k of g, constant): the gradient oracle.

    Stores the dense intermediates for backward (the memory MoC saves); for tests only.
    """
    _check_weights(x, w_gate, w_up, w_down_t, k)
    g = F.linear(x, w_gate)
    _, idx = row_topk_ref(g.detach().reshape(-1, g.shape[-1]), k)
    mask = torch.zeros(idx.shape[0], g.shape[-1], dtype=g.dtype, device=g.device).scatter_(1, idx, 1.0)
    h = mask.reshape(g.shape) * F.silu(g) * F.linear(x, w_up)
    return h @ w_down_t


# ---------------------------------------------------------------------------------------------------------------
# decode


#: decode shapes with at least this many gate weights use the autotuned kernels on a GPU (smaller ones, and the
#: CPU interpreter, use one fixed launch configuration)
AUTOTUNE_MIN_WEIGHTS = 1 << 22
#: most channel ranges the down projection is split into (the final sum loads them all at once)
MAX_SPLITS = 64


#: programs of the decode down projection per multiprocessor (the GPU check times 2, 4 and 8 side by side)
DOWN_PROGRAMS_PER_SM = 2


def _decode_splits(d: int, k: int, tokens: int, device: torch.device, per_sm: int) -> tuple[int, int]:
    """(slots per split, splits) for the down projection: about ``per_sm`` programs per multiprocessor, assuming
    512-column blocks, at most `MAX_SPLITS`; each split's channel range is a multiple of 16 (any CH the tuner
    tries divides it)."""
    col_blocks = -(-d // 512)
    target = per_sm * multiprocessor_count(device)
    splits = max(1, min(-(-k // 16), -(-target // (tokens * col_blocks)), MAX_SPLITS))
    per_split = -(-(-(-k // splits)) // 16) * 16
    return per_split, -(-k // per_split)


def _use_tuned(x: torch.Tensor, w_gate: torch.Tensor) -> bool:
    return x.device.type == "cuda" and w_gate.numel() >= AUTOTUNE_MIN_WEIGHTS


def _bf16_bins(rows: torch.Tensor, bf16_bins: bool | None) -> bool:
    """Whether decode ranks the gate with the exact bf16 histograms: ``None`` means for bf16 rows."""
    if bf16_bins is None:
        return rows.dtype == torch.bfloat16
    if bf16_bins and rows.dtype != torch.bfloat16:
        raise ValueError(f"the exact bf16 histograms need bf16 rows, got {rows.dtype}")
    return bf16_bins


def decode_gate(
    rows: torch.Tensor, w_gate: torch.Tensor, bf16_bins: bool | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode stage 1 (Triton): g = rows @ W_g^T ``[T, E]`` (fp32 sum rounded to rows' dtype, stored as fp32) and
    its key histograms: with ``bf16_bins`` (default: for bf16 rows) the exact bf16 ones, ``[T, 256 + 65536]``
    (`_row_topk_triton.add_to_bf16_histograms`), else 4096 bins over the keys' top 12 bits, ``[T, 4096]``."""
    from kernels import _moc_triton as kern
    from kernels._row_topk_triton import BF16_HIST_BINS
    from kernels.row_topk import HIST_BINS

    T, d = rows.shape
    E = w_gate.shape[0]
    bf16_bins = _bf16_bins(rows, bf16_bins)
    g = torch.empty((T, E), dtype=torch.float32, device=rows.device)
    hist = torch.zeros((T, BF16_HIST_BINS.value if bf16_bins else HIST_BINS), dtype=torch.int32, device=rows.device)
    args = (rows, w_gate, g, hist, E, d, rows.stride(0), w_gate.stride(0), E)
    if _use_tuned(rows, w_gate):
        kern.gate_gemv_tuned[lambda meta: (T, _cdiv(E, meta["BLOCK_E"]))](*args, BF16_BINS=bf16_bins)
    else:
        block_d = min(next_power_of_2(d), 512)
        kern.gate_gemv_kernel[(T, _cdiv(E, 8))](*args, BLOCK_E=8, BLOCK_D=block_d, BF16_BINS=bf16_bins, num_warps=4)
    return g, hist


def decode_select(g: torch.Tensor, hist: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode stage 2 for fp16 / fp32 (Triton): exact top-k of each row of g from its 12-bit histogram ->
    (g_I fp32, I int32)."""
    from kernels.row_topk import HIST_BINS

    if hist.shape != (g.shape[0], HIST_BINS):
        raise ValueError(f"decode_select needs the 12-bit histograms [T, {HIST_BINS}], got {tuple(hist.shape)}")
    return row_topk_from_histogram(g, hist, k, torch.int32)


#: channels of the gate before a program's own range are counted this many at a time (`select_up_kernel`)
PREFIX_BLOCK = 2048


def decode_select_up(
    rows: torch.Tensor, w_up: torch.Tensor, g: torch.Tensor, hist: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode stages 2-3 for bf16 (Triton, one launch): the exact top-k of each row of g from its bf16
    histograms and h = SiLU(g_I) * (W_u[I] x) -> (I int32 ascending, h fp32), both ``[T, K]``."""
    from kernels import _moc_triton as kern
    from kernels._row_topk_triton import BF16_HIST_BINS

    T, d = rows.shape
    E = g.shape[1]
    bins = BF16_HIST_BINS.value
    if hist.shape != (T, bins):
        raise ValueError(f"decode_select_up needs the bf16 histograms [T, {bins}], got {tuple(hist.shape)}")
    idx = torch.empty((T, k), dtype=torch.int32, device=rows.device)
    h = torch.empty((T, k), dtype=torch.float32, device=rows.device)
    args = (rows, w_up, g, hist, idx, h, E, k, d, rows.stride(0), w_up.stride(0))
    if _use_tuned(rows, w_up):
        kern.select_up_tuned[lambda meta: (T, _cdiv(E, meta["CH_E"]))](*args, PREFIX=PREFIX_BLOCK)
    else:
        kern.select_up_kernel[(T, _cdiv(E, 64))](
            *args, CH_E=64, PREFIX=PREFIX_BLOCK, CH=4, BLOCK_D=min(next_power_of_2(d), 512), num_warps=4
        )
    return idx, h


def decode_up(rows: torch.Tensor, w_up: torch.Tensor, g_sel: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Decode stage 3 for fp16 / fp32 (Triton): h = SiLU(g_I) * (W_u[I] x) in fp32, ``[T, K]``."""
    from kernels import _moc_triton as kern

    T, d = rows.shape
    k = idx.shape[1]
    h = torch.empty((T, k), dtype=torch.float32, device=rows.device)
    args = (rows, w_up, g_sel, idx, h, k, d, rows.stride(0), w_up.stride(0))
    if _use_tuned(rows, w_up):
        kern.up_gather_tuned[lambda meta: (T, _cdiv(k, meta["CH"]))](*args)
    else:
        kern.up_gather_kernel[(T, _cdiv(k, 4))](*args, CH=4, BLOCK_D=min(next_power_of_2(d), 512), num_warps=4)
    return h


def decode_down(
    w_down_t: torch.Tensor, idx: torch.Tensor, h: torch.Tensor, out_dtype: torch.dtype, per_sm: int | None = None
) -> torch.Tensor:
    """Decode stages 4-5 (Triton): y = sum_c h_c W_dT[I_c] as split partials, then their sum in ``out_dtype``;
    about ``per_sm`` programs per multiprocessor (default `DOWN_PROGRAMS_PER_SM`)."""
    from kernels import _moc_triton as kern

    T, k = idx.shape
    d = w_down_t.shape[1]
    dev = h.device
    per_split, splits = _decode_splits(d, k, T, dev, per_sm or DOWN_PROGRAMS_PER_SM)
    partials = torch.empty((splits, T, d), dtype=torch.float32, device=dev)
    args = (w_down_t, idx, h, partials, T, k, d, w_down_t.stride(0), per_split)
    if _use_tuned(h, w_down_t):
        kern.down_partial_tuned[lambda meta: (T, _cdiv(d, meta["BLOCK_D"]), splits)](*args)
    else:
        block = min(next_power_of_2(d), 512)
        kern.down_partial_kernel[(T, _cdiv(d, block), splits)](*args, CH=8, BLOCK_D=block, num_warps=4)
    y = torch.empty((T, d), dtype=out_dtype, device=dev)
    splits_pad = next_power_of_2(splits)
    block_final = max(16, min(next_power_of_2(d), 4096 // splits_pad))
    kern.finalize_kernel[(T, _cdiv(d, block_final))](
        partials, y, T, d, splits, d, SPLITS_PAD=splits_pad, BLOCK_D=block_final, num_warps=4
    )
    return y


def topk_lowest_ties(g: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The set `row_topk_ref` picks, the k largest values of each row of ``g`` ``[T, E]`` with ties going to the
    lowest index, from one ``torch.topk`` instead of a full sort: ``(g_I, I)``, ``[T, k]``, I int64 (the order
    within a row is unspecified; sort both to compare with `row_topk_ref`).

    ``torch.topk`` finds each row's k-th largest value (the cut) but may break a tie at the cut either way, so
    where more than k values reach the cut the row keeps every value above it and then the lowest-index values
    equal to it. Ties at the cut are rare in fp32 (topk's set is checked and used) and common in bf16 / fp16 (the
    tie-aware selection runs directly). NaN raises ValueError (`kernels.row_topk` does not support it either).
    """
    T, E = g.shape
    if k == E:
        return g, torch.arange(E, device=g.device).expand(T, E)
    vals, idx = torch.topk(g, k, dim=-1, sorted=False)
    cut = vals.amin(dim=-1, keepdim=True)
    if g.element_size() > 2 and int(torch.count_nonzero(g >= cut)) == T * k:  # no tie straddles any row's cut
        return vals, idx
    above, tied = g > cut, g == cut
    keep = above | (tied & (tied.cumsum(dim=-1) <= k - above.sum(dim=-1, keepdim=True)))
    idx = keep.nonzero()[:, 1]
    if idx.numel() != T * k:  # a NaN compares false with everything
        raise ValueError("the gate holds NaN: MoC's Top-K is not defined for NaN values")
    idx = idx.view(T, k)
    return g.gather(-1, idx), idx


#: the torch decode path handles the chosen rows in blocks of at most this many bytes of fp32: bf16 / fp16 rows are
#: widened one block at a time, so the widened copy is used while it is still in cache, and many tokens never
#: gather all their rows at once. Dev VM, 1 thread, d 4096, K 1376: at one token 1-8 MiB blocks were within noise
#: of each other; at 4 bf16 tokens 2-4 MiB blocks took 50 ms, 8 MiB 61 ms, one block of every row 166 ms.
BLOCK_BYTES = 1 << 21


def _decode_rows_torch(w_up, w_down_t, x_wide, act, idx):
    """y ``[t, d]`` in act's dtype for t tokens' chosen channels ``idx`` ``[t, s]``: sum_c act_c (W_u[c] x) W_dT[c]."""
    wide = act.dtype
    shape = (*idx.shape, x_wide.shape[1])
    up = w_up.index_select(0, idx.reshape(-1)).view(shape).to(wide)
    h = act * torch.bmm(up, x_wide.unsqueeze(-1)).squeeze(-1)
    if w_down_t.dtype == wide:  # the h-weighted sum of the chosen rows of W_d^T, read in place
        return F.embedding_bag(idx.contiguous(), w_down_t, per_sample_weights=h, mode="sum")
    down = w_down_t.index_select(0, idx.reshape(-1)).view(shape).to(wide)
    return torch.bmm(h.unsqueeze(1), down).squeeze(1)


def _moc_decode_torch(x, w_gate, w_up, w_down_t, k):
    rows = _as_rows(x)
    T, d = rows.shape
    wide = torch.promote_types(x.dtype, torch.float32)
    g_sel, idx = topk_lowest_ties(F.linear(rows, w_gate), k)  # g in x's dtype, ranked as `moc_decode_ref` ranks it
    act = F.silu(g_sel.to(wide))
    x_wide = rows.to(wide)
    block_rows = max(1, BLOCK_BYTES // (d * wide.itemsize))
    if T * k <= block_rows:  # one block
        y = _decode_rows_torch(w_up, w_down_t, x_wide, act, idx)
    else:  # blocks of whole tokens, or of part of one token's channels (their partials added in fp32)
        y = torch.zeros((T, d), dtype=wide, device=x.device)
        tokens, slots = max(1, block_rows // k), min(k, block_rows)
        for t0 in range(0, T, tokens):
            t = slice(t0, min(T, t0 + tokens))
            for s0 in range(0, k, slots):
                s = slice(s0, min(k, s0 + slots))
                y[t] += _decode_rows_torch(w_up, w_down_t, x_wide[t], act[t, s], idx[t, s])
    return y.to(x.dtype).reshape(x.shape)


def moc_decode_torch(
    x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down_t: torch.Tensor, k: int
) -> torch.Tensor:
    """`moc_decode` in torch ops (its ``impl="torch"``, the path on a CPU): what `moc_decode_ref` computes, without
    the reference's ``[T, K, d]`` copies of the chosen rows and its full sort of the gate.

    The gate is ranked in x's dtype (`topk_lowest_ties`: the set `row_topk_ref` picks); SiLU(g_I), u_I and the
    down projection then run in fp32 (fp64 for fp64 inputs), as in the reference. Per block of chosen rows
    (`BLOCK_BYTES`): an ``index_select`` of the rows of W_u and a batched GEMV, then for fp32 / fp64 an
    ``embedding_bag`` (the h-weighted sum of the rows of W_d^T, read in place), for bf16 / fp16 the rows of W_d^T
    gathered, widened and summed by a batched GEMV; block partials of y are added in fp32. Only the accumulation
    order differs from `moc_decode_ref`. Takes ``x`` ``[..., d]``; y has x's shape and dtype.
    """
    _check_weights(x, w_gate, w_up, w_down_t, k)
    return _moc_decode_torch(x, w_gate, w_up, w_down_t, k)


def _moc_decode_triton(x, w_gate, w_up, w_down_t, k, bf16_bins: bool | None = None):
    """The Triton decode; bf16 inputs rank the gate with the exact bf16 histograms unless ``bf16_bins=False``
    (the 12-bit histogram and the single-program selection of fp16 / fp32, kept for side-by-side benchmarks)."""
    rows = _as_rows(x)
    bf16_bins = _bf16_bins(rows, bf16_bins)
    g, hist = decode_gate(rows, w_gate, bf16_bins)
    if bf16_bins:
        idx, h = decode_select_up(rows, w_up, g, hist, k)
    else:
        g_sel, idx = decode_select(g, hist, k)
        h = decode_up(rows, w_up, g_sel, idx)
    return decode_down(w_down_t, idx, h, x.dtype).reshape(x.shape)


def moc_decode(
    x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down_t: torch.Tensor, k: int, *, impl: str | None = None
) -> torch.Tensor:
    """MoC FFN for decoding: full gate GEMV, exact Top-K of the gate, gathered GEMVs over the K chosen channels.

    Args:
        x: ``[..., d]`` tokens, any leading dimensions (``[d]``, ``[T, d]``, ``[B, S, d]``, ...): they are
            flattened to rows and y is reshaped back. Meant for few tokens: each token reads its own K rows.
        w_gate, w_up: ``[E, d]``; w_down_t: ``[E, d]`` (W_down transposed); all in x's dtype, rows contiguous.
        k: channels kept per token, ``1 <= k <= E``.
        impl: ``None`` (auto: Triton when every tensor is on CUDA and the kernels support the call, else torch),
            ``"triton"`` or ``"torch"`` (`moc_decode_torch`; `moc_decode_ref` is the plain oracle tests compare
            both against).

    Returns:
        ``y`` with x's shape and dtype; accumulation in fp32 (fp64 for fp64 inputs on the torch path).

    Example::

        y = moc_decode(x, w_gate, w_up, w_down.T.contiguous(), k=w_gate.shape[0] // 8)
    """
    _check_weights(x, w_gate, w_up, w_down_t, k)
    unsupported = _triton_unsupported(x, w_gate)
    if choose_impl(impl, x, w_gate, w_up, w_down_t, unsupported=unsupported) == "triton":
        return _moc_decode_triton(x, w_gate, w_up, w_down_t, k)
    return _moc_decode_torch(x, w_gate, w_up, w_down_t, k)


# ---------------------------------------------------------------------------------------------------------------
# training: forward keeps (x, I, g_I, u_I); backward recomputes h and treats the mask as constant


def _wide(t: torch.Tensor) -> torch.Tensor:
    """``t`` in the dtype the elementwise math runs in: float32, or float64 for float64 inputs."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


def _forward_rows_torch(g, u, k, index_dtype):
    g_sel, idx = row_topk_ref(g, k)
    u_sel = u.gather(1, idx)
    h = torch.zeros_like(g).scatter_(1, idx, (F.silu(_wide(g_sel)) * _wide(u_sel)).to(g.dtype))
    return h, idx.to(index_dtype), g_sel, u_sel


def _forward_rows_triton(g, u, k, index_dtype):
    from kernels._moc_triton import train_forward_kernel

    T, E = g.shape
    h = torch.empty_like(g)
    idx = torch.empty((T, k), dtype=index_dtype, device=g.device)
    g_sel = torch.empty((T, k), dtype=g.dtype, device=g.device)
    u_sel = torch.empty((T, k), dtype=g.dtype, device=g.device)
    block = max(next_power_of_2(E), 16)
    warps = 4 if block <= 2048 else 8 if block <= 8192 else 16
    train_forward_kernel[(T,)](
        g, u, h, idx, g_sel, u_sel, E, k, g.stride(0), u.stride(0), h.stride(0),
        BLOCK=block, CHUNK=min(block, 4096), num_warps=warps,
    )
    return h, idx, g_sel, u_sel


def _backward_rows_torch(dh, idx, g_sel, u_sel):
    idx = idx.long()
    dh_sel = _wide(dh.gather(1, idx))
    g, u = _wide(g_sel), _wide(u_sel)
    sig = torch.sigmoid(g)
    a = g * sig
    dense = torch.zeros((3, *dh.shape), dtype=dh.dtype, device=dh.device)
    dense[0].scatter_(1, idx, (dh_sel * u * (a * (1 - sig) + sig)).to(dh.dtype))
    dense[1].scatter_(1, idx, (dh_sel * a).to(dh.dtype))
    dense[2].scatter_(1, idx, (a * u).to(dh.dtype))
    return dense[0], dense[1], dense[2]


def _backward_rows_triton(dh, idx, g_sel, u_sel):
    from kernels._moc_triton import train_backward_kernel

    T, E = dh.shape
    k = idx.shape[1]
    dense = torch.zeros((3, T, E), dtype=dh.dtype, device=dh.device)
    train_backward_kernel[(T,)](
        dh, idx, g_sel, u_sel, dense, T * E, E, k, dh.stride(0), BLOCK_K=min(next_power_of_2(k), 1024), num_warps=4
    )
    return dense[0], dense[1], dense[2]


class MoCSwiGLUFunction(torch.autograd.Function):
    """Memory-lean MoC SwiGLU: saves x, the Top-K indices and the selected gate/up values (d + 3K per token)."""

    @staticmethod
    def forward(ctx, x, w_gate, w_up, w_down_t, k, impl):
        rows = _as_rows(x)
        g = F.linear(rows, w_gate)
        u = F.linear(rows, w_up)
        index_dtype = index_dtype_for(w_gate.shape[0])
        forward_rows = _forward_rows_triton if impl == "triton" else _forward_rows_torch
        h, idx, g_sel, u_sel = forward_rows(g, u, k, index_dtype)
        y = h @ w_down_t
        ctx.save_for_backward(rows, w_gate, w_up, w_down_t, idx, g_sel, u_sel)
        ctx.impl = impl
        ctx.x_shape = x.shape
        return y.reshape(*x.shape[:-1], w_down_t.shape[1])

    @staticmethod
    def backward(ctx, dy):
        rows, w_gate, w_up, w_down_t, idx, g_sel, u_sel = ctx.saved_tensors
        dy_rows = _as_rows(dy)
        dh = dy_rows @ w_down_t.T
        backward_rows = _backward_rows_triton if ctx.impl == "triton" else _backward_rows_torch
        dg, du, h = backward_rows(dh, idx, g_sel, u_sel)
        need = ctx.needs_input_grad
        dx = (dg @ w_gate + du @ w_up).reshape(ctx.x_shape) if need[0] else None
        dw_gate = dg.T @ rows if need[1] else None
        dw_up = du.T @ rows if need[2] else None
        dw_down_t = h.T @ dy_rows if need[3] else None
        return dx, dw_gate, dw_up, dw_down_t, None, None


def moc_swiglu(
    x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down_t: torch.Tensor, k: int, *, impl: str | None = None
) -> torch.Tensor:
    """MoC SwiGLU FFN for training (differentiable in x and all three weights).

    Args:
        x: ``[..., d]``; w_gate, w_up, w_down_t: ``[E, d]`` (W_down transposed); k: channels kept per token.
        impl: ``None`` (auto), ``"triton"`` or ``"torch"``: who runs the per-row select/gather/scatter steps;
            the GEMMs are torch's either way.

    Returns:
        ``y`` of shape ``[..., d]``. With ``k == E`` it equals dense SwiGLU.

    Example::

        y = moc_swiglu(x, w_gate, w_up, w_down_t, k=E // 8); y.sum().backward()
    """
    _check_weights(x, w_gate, w_up, w_down_t, k)
    chosen = choose_impl(impl, x, w_gate, w_up, w_down_t, unsupported=_triton_unsupported(x, w_gate))
    return MoCSwiGLUFunction.apply(x, w_gate, w_up, w_down_t, k, chosen)


# ---------------------------------------------------------------------------------------------------------------
# timed ops


def _moc_inputs(shape: Shape, dtype: str, device: str, gen: torch.Generator, requires_grad: bool = False):
    d, E, T = shape["d_model"], shape["d_ff"], shape["tokens"]
    dev_gen = device_generator(gen, device)
    dt = getattr(torch, dtype)

    def draw(*size, scale):
        return (torch.randn(*size, generator=dev_gen, device=device) * scale).to(dt)

    x = draw(T, d, scale=1.0)
    w_gate, w_up = draw(E, d, scale=d**-0.5), draw(E, d, scale=d**-0.5)
    w_down_t = draw(E, d, scale=E**-0.5)
    if requires_grad:
        for t in (x, w_gate, w_up, w_down_t):
            t.requires_grad_(True)
        return x, w_gate, w_up, w_down_t, shape["k"], torch.randn(T, d, generator=dev_gen, device=device).to(dt)
    return x, w_gate, w_up, w_down_t, w_down_t.T.contiguous(), shape["k"]


def _decode_bytes(s: Shape, dt: str) -> float:
    d, E, T, k = s["d_model"], s["d_ff"], s["tokens"], s["k"]
    return float(dtype_bytes(dt) * (E * d + 2 * min(E, T * k) * d + 2 * T * d))


# Shape grids: full products (>= 3 values on every axis that varies) so that the replay interpolates inside them
# and every row but the corners has a leave-one-out error. k is an axis of its own (not a fraction of d_ff), with
# every k <= the smallest d_ff. Decode holds d_model at LLaMA-7B's 4096 (CPU: 512) and varies d_ff, the tokens of
# the decode batch and k; training holds TinyLlama's 2048 x 5632 (CPU: 128 x 352) and varies tokens and k.
_DECODE_GRID = product_grid(d_model=4096, d_ff=[5632, 8192, 11008], tokens=[1, 2, 4], k=[688, 1376, 2752])
_DECODE_QUICK = product_grid(d_model=512, d_ff=[352, 704, 1376], tokens=[1, 2, 4], k=[44, 88, 172])
_TRAIN_GRID = product_grid(d_model=2048, d_ff=5632, tokens=[2048, 4096, 8192], k=[352, 704, 1408])
_TRAIN_QUICK = product_grid(d_model=128, d_ff=352, tokens=[64, 128, 256], k=[22, 44, 88])


register_op(
    TimedOp(
        name="moc_decode",
        shape_columns=("d_model", "d_ff", "tokens", "k"),
        flops=lambda s: 2.0 * s["tokens"] * s["d_model"] * (s["d_ff"] + 2 * s["k"]),
        bytes_moved=_decode_bytes,
        grid=_DECODE_GRID,
        quick_grid=_DECODE_QUICK,
        make_inputs=_moc_inputs,
        impls={
            "triton": lambda x, wg, wu, wdt, wd, k: moc_decode(x, wg, wu, wdt, k, impl="triton"),
            "torch": lambda x, wg, wu, wdt, wd, k: moc_decode(x, wg, wu, wdt, k, impl="torch"),
            "dense": lambda x, wg, wu, wdt, wd, k: dense_swiglu(x, wg, wu, wd),
        },
        dtypes=("bfloat16",),
        baseline="dense",
    )
)


def _train_step(impl: str):
    def run(x, w_gate, w_up, w_down_t, k, dy):
        for t in (x, w_gate, w_up, w_down_t):
            t.grad = None
        if impl == "dense":
            y = dense_swiglu(x, w_gate, w_up, w_down_t.T)
        else:
            y = moc_swiglu(x, w_gate, w_up, w_down_t, k, impl=impl)
        y.backward(dy)

    return run


register_op(
    TimedOp(
        name="moc_train",
        shape_columns=("d_model", "d_ff", "tokens", "k"),
        # forward: 3 GEMMs; backward: 6 GEMMs (dh, dW_d, dx twice, dW_g, dW_u), each 2*T*d*E
        flops=lambda s: 18.0 * s["tokens"] * s["d_model"] * s["d_ff"],
        bytes_moved=lambda s, dt: float(
            dtype_bytes(dt) * (6 * s["d_ff"] * s["d_model"] + 3 * s["tokens"] * s["d_model"])
        ),
        grid=_TRAIN_GRID,
        quick_grid=_TRAIN_QUICK,
        make_inputs=lambda s, dt, dev, gen: _moc_inputs(s, dt, dev, gen, requires_grad=True),
        impls={"triton": _train_step("triton"), "torch": _train_step("torch"), "dense": _train_step("dense")},
        dtypes=("bfloat16",),
        baseline="dense",
    )
)
