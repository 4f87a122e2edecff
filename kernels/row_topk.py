"""Exact per-row Top-K with deterministic ties, returning the chosen columns in ascending order.

Used by MoC (the K largest raw gate values of each token) and ARC-Top-K (the K rows with the largest sketch
scores). Ties are broken by the lowest column index, so the chosen *set* is a pure function of the values and
two ranks (or two implementations) given the same values choose the same columns. The columns come out sorted
ascending (a gather over them then walks memory forward).

The Triton kernels keep one row in one program's registers (rows up to `MAX_TRITON_COLS` wide) and need no
sort: a bitwise binary search over order-preserving integer keys finds the K-th largest value; for a few wide rows
a 4096-bin histogram of the keys' top bits first narrows the search to one bin (see `kernels._row_topk_triton`).
NaN values are not supported (their order differs between the two implementations).
"""

from __future__ import annotations

import torch

from kernels.dispatch import choose_impl, next_power_of_2

#: widest row the Triton kernel holds in registers (32768 uint32 keys over 16 warps, no spills on sm_90)
MAX_TRITON_COLS = 32768


def _check(g: torch.Tensor, k: int) -> None:
    if g.dim() not in (1, 2):
        raise ValueError(f"row_topk expects a 1-D or 2-D tensor, got shape {tuple(g.shape)}")
    if not g.is_floating_point():
        raise ValueError(f"row_topk expects floating-point values, got {g.dtype}")
    if not 1 <= k <= g.shape[-1]:
        raise ValueError(f"k must be in 1..{g.shape[-1]} (the row width), got {k}")


def row_topk_ref(g: torch.Tensor, k: int, index_dtype: torch.dtype = torch.int64) -> tuple[torch.Tensor, torch.Tensor]:
    """Torch reference of `row_topk` (stable sort; ties keep the lowest index)."""
    _check(g, k)
    order = torch.sort(g, dim=-1, descending=True, stable=True).indices[..., :k]
    idx = torch.sort(order, dim=-1).values
    return g.gather(-1, idx), idx.to(index_dtype)


#: rows at least this wide, when there are few of them, take the histogram path (see `kernels._row_topk_triton`)
HISTOGRAM_MIN_COLS = 2048
HISTOGRAM_MAX_ROWS = 16
HIST_BINS = 4096


def _warps(block: int) -> int:
    return 4 if block <= 2048 else 8 if block <= 8192 else 16


def _outputs(rows: torch.Tensor, k: int, index_dtype: torch.dtype):
    n_rows = rows.shape[0]
    return (
        torch.empty((n_rows, k), dtype=rows.dtype, device=rows.device),
        torch.empty((n_rows, k), dtype=index_dtype, device=rows.device),
    )


def _as_row_matrix(g: torch.Tensor) -> torch.Tensor:
    rows = g.reshape(1, -1) if g.dim() == 1 else g
    return rows if rows.stride(-1) == 1 else rows.contiguous()


def row_histogram(rows: torch.Tensor) -> torch.Tensor:
    """[n_rows, 4096] int32 counts of each row's order keys by their top 12 bits (Triton; atomics)."""
    from kernels._row_topk_triton import row_histogram_kernel

    n_rows, n_cols = rows.shape
    hist = torch.zeros((n_rows, HIST_BINS), dtype=torch.int32, device=rows.device)
    row_histogram_kernel[(n_rows, -(-n_cols // 1024))](rows, hist, n_cols, rows.stride(0), BLOCK=1024, num_warps=4)
    return hist


def row_topk_from_histogram(
    rows: torch.Tensor, hist: torch.Tensor, k: int, index_dtype: torch.dtype = torch.int64
) -> tuple[torch.Tensor, torch.Tensor]:
    """Triton top-k of each row given its key histogram (from `row_histogram` or a fused producer kernel)."""
    from kernels._row_topk_triton import CAP, select_from_histogram_kernel

    n_rows, n_cols = rows.shape
    values, indices = _outputs(rows, k, index_dtype)
    scratch = torch.empty((n_rows, CAP), dtype=torch.int32, device=rows.device)
    block = max(next_power_of_2(n_cols), 16)
    select_from_histogram_kernel[(n_rows,)](
        rows, hist, scratch, values, indices, n_cols, k, rows.stride(0), k,
        BLOCK=block, CAP=CAP, CHUNK=block if block <= 16384 else 4096, num_warps=_warps(block),
    )
    return values, indices


def _row_topk_triton(g: torch.Tensor, k: int, index_dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    rows = _as_row_matrix(g)
    n_rows, n_cols = rows.shape
    if n_cols >= HISTOGRAM_MIN_COLS and n_rows <= HISTOGRAM_MAX_ROWS:
        values, indices = row_topk_from_histogram(rows, row_histogram(rows), k, index_dtype)
    else:
        from kernels._row_topk_triton import row_topk_kernel

        values, indices = _outputs(rows, k, index_dtype)
        block = max(next_power_of_2(n_cols), 16)
        row_topk_kernel[(n_rows,)](
            rows, values, indices, n_cols, k, rows.stride(0), k,
            BLOCK=block, CHUNK=min(block, 4096), num_warps=_warps(block),
        )
    if g.dim() == 1:
        return values[0], indices[0]
    return values, indices


def row_topk(
    g: torch.Tensor, k: int, *, index_dtype: torch.dtype = torch.int64, impl: str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k largest values of each row and their column indices (ascending; ties -> lowest index).

    Args:
        g: ``[n_rows, n_cols]`` or ``[n_cols]`` floating-point values (no NaN).
        k: how many to keep per row, ``1 <= k <= n_cols``.
        index_dtype: dtype of the returned indices (``torch.int16`` / ``int32`` for compact storage).
        impl: ``None`` (auto), ``"triton"`` or ``"torch"``.

    Returns:
        ``(values, indices)``, each ``[n_rows, k]`` (or ``[k]`` for 1-D input); ``values`` in ``g``'s dtype.

    Example::

        vals, idx = row_topk(torch.tensor([[3., 1., 3., 2.]]), 2)   # idx == [[0, 2]]
    """
    _check(g, k)
    if index_dtype not in (torch.int16, torch.int32, torch.int64):
        raise ValueError(f"index_dtype must be torch.int16, int32 or int64, got {index_dtype}")
    if index_dtype == torch.int16 and g.shape[-1] > 32768:
        raise ValueError(f"int16 indices cover rows up to 32768 columns, got {g.shape[-1]}")
    too_wide = f"rows wider than {MAX_TRITON_COLS} columns" if g.shape[-1] > MAX_TRITON_COLS else None
    if choose_impl(impl, g, unsupported=too_wide) == "triton":
        return _row_topk_triton(g, k, index_dtype)
    return row_topk_ref(g, k, index_dtype)
