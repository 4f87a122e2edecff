"""ARC-Top-K row selection: shared-seed Gaussian row sketch, row scores, global Top-K rows, pack and unpack.

Paper: ARC-Top-K (all-reduce-compatible Top-K with a shared random sketch; research card
``shared/research/arctopk_greedylore.md`` 1.2, 6, 7). A gradient viewed as G [n, m] is sketched as P = G V with
V [m, r] i.i.d. N(0, 1) drawn from a generator seeded identically on every rank; the sketches are all-reduced
(P of the mean gradient = mean of the P's), each row gets the score ||P_j||^2 (E_V[score_j] = r ||G_j||^2), and
every rank keeps the same K rows, so the kept values are all-reduced without indices.

This module is the kernel layer only (one worker's arithmetic); the collective schedule lives in
``methods/compress/arc_topk.py``. Every function takes ``impl`` (None = Triton on CUDA, torch elsewhere).

Our choices: the sketch accumulates in fp32 whatever G's dtype; `select_rows` is exact with ties to the lowest
row index (`kernels.row_topk`), so identical scores give identical rows on every rank; rows come back sorted.
The Triton selection holds all scores in one program (n <= 32768 rows); larger n uses torch. Row indices given
to `pack_rows` / `unpack_rows` are range-checked on the CPU only (on a GPU the check would cost a device sync per
call and the Triton pack would read out of bounds): pass the rows `select_rows` returns.
"""

from __future__ import annotations

import torch

from kernels.basic_ops import dtype_bytes
from kernels.dispatch import choose_impl, next_power_of_2
from kernels.inputs import device_generator
from kernels.ops import Shape, TimedOp, product_grid, register_op
from kernels.row_topk import MAX_TRITON_COLS, row_topk

#: most sketch columns the Triton sketch keeps in registers (more: torch)
MAX_TRITON_R = 8


def _check_matrix(G: torch.Tensor, name: str = "G") -> None:
    if G.dim() != 2:
        raise ValueError(f"{name} must be a 2-D [n, m] matrix view, got shape {tuple(G.shape)}")
    if not G.is_floating_point():
        raise ValueError(f"{name} must be floating point, got {G.dtype}")


def _check_rows(rows: torch.Tensor, n: int) -> None:
    if rows.dim() != 1 or rows.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"rows must be a 1-D int32/int64 tensor, got {rows.dtype} {tuple(rows.shape)}")
    if not rows.is_cuda and rows.numel():  # on a GPU this check would cost a device sync per call
        low, high = int(rows.min()), int(rows.max())
        if low < 0 or high >= n:
            raise ValueError(f"rows must lie in 0..{n - 1} (the matrix's rows), got indices from {low} to {high}")


def sketch_matrix(
    m: int, r: int, generator: torch.Generator, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """V [m, r] of i.i.d. N(0, 1), drawn on the generator's device, then moved to ``device``.

    Identical generator states give identical V on every rank (seed every rank's generator the same way).
    """
    if m < 1 or r < 1:
        raise ValueError(f"sketch_matrix needs m >= 1 and r >= 1, got m={m}, r={r}")
    v = torch.randn(m, r, generator=generator, device=generator.device, dtype=torch.float32)
    return v.to(device=device if device is not None else generator.device, dtype=dtype)


def _sketch_triton(G: torch.Tensor, V: torch.Tensor, write_p: bool, write_s: bool):
    from kernels._arc_select_triton import sketch_kernel

    if G.stride(1) != 1:
        G = G.contiguous()
    n, m = G.shape
    r = V.shape[1]
    vt = V.t().contiguous().float()
    P = torch.empty((n, r), dtype=torch.float32, device=G.device) if write_p else None
    S = torch.empty(n, dtype=torch.float32, device=G.device) if write_s else None
    block_n, block_m = 32, min(128, max(16, next_power_of_2(m)))
    dummy = P if P is not None else S
    sketch_kernel[(-(-n // block_n),)](
        G, vt, P if P is not None else dummy, S if S is not None else dummy, n, m, G.stride(0),
        R=r, BLOCK_N=block_n, BLOCK_M=block_m, WRITE_P=write_p, WRITE_S=write_s, num_warps=8,
    )
    return P, S


def _check_sketch(G: torch.Tensor, V: torch.Tensor) -> str | None:
    _check_matrix(G)
    if V.dim() != 2 or V.shape[0] != G.shape[1]:
        raise ValueError(f"V must be [m, r] with m = G.shape[1] = {G.shape[1]}, got {tuple(V.shape)}")
    return f"r={V.shape[1]} > {MAX_TRITON_R}" if V.shape[1] > MAX_TRITON_R else None


def row_sketch(G: torch.Tensor, V: torch.Tensor, *, impl: str | None = None) -> torch.Tensor:
    """P = G V in fp32: G [n, m] (any float dtype), V [m, r] -> P [n, r]."""
    unsupported = _check_sketch(G, V)
    if choose_impl(impl, G, V, unsupported=unsupported) == "triton":
        return _sketch_triton(G, V, True, False)[0]
    return G.float() @ V.float()


def row_scores(P: torch.Tensor, *, impl: str | None = None) -> torch.Tensor:
    """Squared row norms ||P_j||^2 of P [n, r] (fp32)."""
    _check_matrix(P, "P")
    if choose_impl(impl, P) == "torch":
        return (P.float() * P.float()).sum(dim=1)
    from kernels._arc_select_triton import scores_kernel

    P = P.contiguous()
    n, r = P.shape
    S = torch.empty(n, dtype=torch.float32, device=P.device)
    scores_kernel[(-(-n // 256),)](P, S, n, R=r, R_PAD=next_power_of_2(r), BLOCK_N=256, num_warps=4)
    return S


def sketch_scores(G: torch.Tensor, V: torch.Tensor, *, impl: str | None = None) -> torch.Tensor:
    """Fused ``row_scores(row_sketch(G, V))`` (one worker; with several, all-reduce P before scoring)."""
    unsupported = _check_sketch(G, V)
    if choose_impl(impl, G, V, unsupported=unsupported) == "triton":
        return _sketch_triton(G, V, False, True)[1]
    return row_scores(G.float() @ V.float(), impl="torch")


def select_rows(scores: torch.Tensor, k: int, *, impl: str | None = None) -> torch.Tensor:
    """Indices (int64, ascending) of the k largest scores; ties -> lowest index, so every rank agrees."""
    if scores.dim() != 1:
        raise ValueError(f"scores must be 1-D [n], got shape {tuple(scores.shape)}")
    if not 1 <= k <= scores.numel():
        raise ValueError(f"k must be in 1..{scores.numel()} (the number of rows), got {k}")
    if impl is None and scores.numel() > MAX_TRITON_COLS:
        impl = "torch"
    return row_topk(scores, k, impl=impl)[1]


def pack_rows(G: torch.Tensor, rows: torch.Tensor, *, impl: str | None = None) -> torch.Tensor:
    """The rows ``G[rows]`` copied into one contiguous flat buffer [k * m] (G's dtype)."""
    _check_matrix(G)
    _check_rows(rows, G.shape[0])
    if choose_impl(impl, G, rows) == "torch":
        return G[rows.long()].reshape(-1)
    from kernels._arc_select_triton import pack_kernel

    if G.stride(1) != 1:
        G = G.contiguous()
    k, m = rows.numel(), G.shape[1]
    buf = torch.empty(k * m, dtype=G.dtype, device=G.device)
    block = min(next_power_of_2(m), 4096)
    if k:
        pack_kernel[(k, -(-m // block))](G, rows, buf, m, G.stride(0), BLOCK=block, num_warps=4)
    return buf


def unpack_rows(
    buf: torch.Tensor, rows: torch.Tensor, n: int, m: int, out: torch.Tensor | None = None, *, impl: str | None = None
) -> torch.Tensor:
    """Inverse of `pack_rows`: a [n, m] matrix holding the buffer's rows at ``rows`` and zeros elsewhere.

    With ``out`` given ([n, m], buf's dtype) the result is written there in place (other rows zeroed).
    """
    _check_rows(rows, n)
    if buf.numel() != rows.numel() * m:
        raise ValueError(f"buf has {buf.numel()} elements, expected k * m = {rows.numel()} * {m}")
    if out is not None and (tuple(out.shape) != (n, m) or out.dtype != buf.dtype):
        raise ValueError(f"out must be [{n}, {m}] of dtype {buf.dtype}, got {tuple(out.shape)} {out.dtype}")
    tensors = (buf, rows) if out is None else (buf, rows, out)
    if choose_impl(impl, *tensors) == "torch":
        result = torch.zeros((n, m), dtype=buf.dtype, device=buf.device) if out is None else out.zero_()
        result[rows.long()] = buf.reshape(-1, m)
        return result
    from kernels._arc_select_triton import unpack_kernel

    result = torch.empty((n, m), dtype=buf.dtype, device=buf.device) if out is None else out
    if result.stride(1) != 1:
        raise ValueError("out must have contiguous rows (stride 1 along m)")
    position = torch.full((n,), -1, dtype=torch.int32, device=buf.device)
    position[rows.long()] = torch.arange(rows.numel(), dtype=torch.int32, device=buf.device)
    block = min(next_power_of_2(m), 4096)
    unpack_kernel[(n, -(-m // block))](buf, position, result, m, result.stride(0), BLOCK=block, num_warps=4)
    return result


def arc_select(G: torch.Tensor, r: int, k: int, generator: torch.Generator, *, impl: str | None = None) -> torch.Tensor:
    """One worker's ARC row selection: V from ``generator``, scores of G V, the k best rows (int64, ascending)."""
    _check_matrix(G)
    V = sketch_matrix(G.shape[1], r, generator, device=G.device)
    return select_rows(sketch_scores(G, V, impl=impl), k, impl=impl)


def flat_topk(g: torch.Tensor, k: int) -> torch.Tensor:
    """Baseline: indices of the k largest entries of the flat tensor (``torch.topk``, unsorted)."""
    return torch.topk(g.reshape(-1), k, sorted=False).indices


# ---------------------------------------------------------------------------------------------------------------
# timed ops


def _select_inputs(s: Shape, dtype: str, device: str, gen: torch.Generator):
    dev_gen = device_generator(gen, device)
    G = torch.randn(s["rows"], s["cols"], generator=dev_gen, device=device).to(getattr(torch, dtype))
    V = torch.randn(s["cols"], s["r"], generator=dev_gen, device=device)
    return G, V, s["k"]


def _pack_inputs(s: Shape, dtype: str, device: str, gen: torch.Generator):
    G, _, k = _select_inputs({**s, "r": 1}, dtype, device, gen)
    rows = torch.sort(torch.randperm(s["rows"], generator=gen)[:k]).values.to(device)
    return G, rows, pack_rows(G, rows)


def _select_impl(impl: str):
    return lambda G, V, k: select_rows(sketch_scores(G, V, impl=impl), k, impl=impl)


# Shape grids: full products over rows x cols x k (>= 3 values each, so the replay interpolates inside them and
# every row but the corners has a leave-one-out error), every k <= the fewest rows; the sketch width r stays 4.
# Default: 31250 x 4000 is the 125M-element gradient of the ARC target, k 312 / 3125 its 1% / 10% of rows, 41 is
# 1% of 4096 rows. Pack and unpack use the same rows, cols and k.
_ROWS_GRID, _COLS_GRID, _K_GRID = [4096, 11008, 31250], [1024, 2048, 4000], [41, 312, 3125]
_ROWS_QUICK, _COLS_QUICK, _K_QUICK = [512, 1024, 2048], [256, 512, 1024], [16, 64, 256]
_SELECT_GRID = product_grid(rows=_ROWS_GRID, cols=_COLS_GRID, r=4, k=_K_GRID)
_SELECT_QUICK = product_grid(rows=_ROWS_QUICK, cols=_COLS_QUICK, r=4, k=_K_QUICK)

register_op(
    TimedOp(
        name="arc_select",
        shape_columns=("rows", "cols", "r", "k"),
        flops=lambda s: 2.0 * s["rows"] * s["cols"] * s["r"],
        bytes_moved=lambda s, dt: float(dtype_bytes(dt) * s["rows"] * s["cols"] + 4 * s["cols"] * s["r"] + 8 * s["k"]),
        grid=_SELECT_GRID,
        quick_grid=_SELECT_QUICK,
        make_inputs=_select_inputs,
        impls={
            "triton": _select_impl("triton"),
            "torch": _select_impl("torch"),
            # the same fraction of the flat gradient by torch.topk: k rows of m -> k * m entries
            "flat_topk": lambda G, V, k: flat_topk(G, k * G.shape[1]),
        },
        dtypes=("float32",),
        baseline="flat_topk",
    )
)

_PACK_GRID = product_grid(rows=_ROWS_GRID, cols=_COLS_GRID, k=_K_GRID)
_PACK_QUICK = product_grid(rows=_ROWS_QUICK, cols=_COLS_QUICK, k=_K_QUICK)

register_op(
    TimedOp(
        name="arc_pack",
        shape_columns=("rows", "cols", "k"),
        flops=lambda s: 0.0,
        bytes_moved=lambda s, dt: float(2 * dtype_bytes(dt) * s["k"] * s["cols"] + 8 * s["k"]),
        grid=_PACK_GRID,
        quick_grid=_PACK_QUICK,
        make_inputs=_pack_inputs,
        impls={
            "triton": lambda G, rows, buf: pack_rows(G, rows, impl="triton"),
            "torch": lambda G, rows, buf: pack_rows(G, rows, impl="torch"),
        },
        dtypes=("float32",),
    )
)

register_op(
    TimedOp(
        name="arc_unpack",
        shape_columns=("rows", "cols", "k"),
        flops=lambda s: 0.0,
        bytes_moved=lambda s, dt: float(dtype_bytes(dt) * (s["k"] * s["cols"] + s["rows"] * s["cols"]) + 8 * s["k"]),
        grid=_PACK_GRID,
        quick_grid=_PACK_QUICK,
        make_inputs=_pack_inputs,
        impls={
            "triton": lambda G, rows, buf: unpack_rows(buf, rows, G.shape[0], G.shape[1], impl="triton"),
            "torch": lambda G, rows, buf: unpack_rows(buf, rows, G.shape[0], G.shape[1], impl="torch"),
        },
        dtypes=("float32",),
    )
)

register_op(
    TimedOp(
        name="topk_flat",
        shape_columns=("numel", "k"),
        flops=lambda s: 0.0,
        bytes_moved=lambda s, dt: float(dtype_bytes(dt) * s["numel"] + 12 * s["k"]),
        # products numel x k (every k <= the smallest numel): default 1% of 25M, 62.5M and 125M entries
        grid=product_grid(numel=[25_000_000, 62_500_000, 125_000_000], k=[250_000, 625_000, 1_250_000]),
        quick_grid=product_grid(numel=[1 << 16, 1 << 18, 1 << 20], k=[256, 2048, 16384]),
        make_inputs=lambda s, dt, dev, gen: (
            torch.randn(s["numel"], generator=device_generator(gen, dev), device=dev).to(getattr(torch, dt)),
            s["k"],
        ),
        impls={"torch": flat_topk},
        dtypes=("float32",),
    )
)
