"""``topk``: local Top-K sparsification with an All-Gather of (values, int32 indices).

Each worker keeps its own k = max(1, floor(ratio * d)) largest-magnitude entries (per tensor), all workers
All-Gather the (value, index) pairs, and every worker scatter-adds the N sparse vectors and divides by N.
Index sets differ between workers, so the values cannot be summed in place: the All-Gather is what makes
its traffic grow linearly with N (the motivation of ARC-Top-K, Chen et al., arXiv 2510.26709, and the
sparse-allreduce discussions in horovod issue 679 / pytorch issue 22226). The *aggregate*
mean_i TopK(g_i) is not a contraction of the mean gradient (research card sec. 1.3).

``rows=True`` gives the "Local Top-K" block variant of the ARC synthetic experiment: each worker keeps its
K = max(1, floor(ratio * n)) rows of largest energy of the [n, m] view and gathers K*m values plus K row indices.

Wire bytes per worker and call: All-Gather of k*(b + 4) (element mode) or K*m*b + 4*K (row mode).

Example::

    >>> import torch
    >>> from methods.compress.topk import topk_select
    >>> topk_select(torch.tensor([0.1, -5.0, 3.0, 0.0]), 2).tolist()
    [1, 2]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from methods.compress.base import (
    CompressContext,
    CompressGen,
    CompressResult,
    Compressor,
    PayloadSpec,
    Request,
    bytes_as,
    check_ratio,
    keep_count,
    register_compressor,
)


def topk_select(x: torch.Tensor, k: int) -> torch.Tensor:
    """Indices (int64, ascending) of the k largest |x| of a flat tensor; ties go to the lowest index."""
    order = torch.sort(x.abs(), descending=True, stable=True).indices[:k]
    return torch.sort(order).values


def top_rows(energy: torch.Tensor, k: int) -> torch.Tensor:
    """Row indices (int64, ascending) of the k largest row energies; ties go to the lowest index."""
    order = torch.sort(energy, descending=True, stable=True).indices[:k]
    return torch.sort(order).values


def scatter_mean(values: torch.Tensor, indices: torch.Tensor, size: int) -> torch.Tensor:
    """Mean over workers of sparse vectors: ``values``/``indices`` are [N, k]; returns a dense [size] tensor.

    Workers are added one at a time in rank order (each worker's indices are distinct), so the float sums
    are identical on every rank and device; one flat ``index_add_`` over all N*k pairs would use atomics
    on GPUs and could give ranks different last bits.
    """
    out = torch.zeros(size, dtype=values.dtype, device=values.device)
    for vals, idx in zip(values.reshape(values.shape[0], -1), indices.reshape(indices.shape[0], -1)):
        out.index_add_(0, idx.long(), vals)
    return out / values.shape[0]


@register_compressor
@dataclass
class TopK(Compressor):
    """Local Top-K + All-Gather.

    Args:
        ratio: fraction of entries (or rows, with ``rows=True``) each worker keeps; the papers use 0.2.
        rows: select whole rows of the [n, m] view by local row energy (ARC's "Local Top-K" block variant).
    """

    name: ClassVar[str] = "topk"
    default_error_feedback: ClassVar[str] = "ef14"

    ratio: float = 0.2
    rows: bool = False

    def __post_init__(self) -> None:
        check_ratio("topk.ratio", self.ratio)

    @property
    def matrix_view(self) -> bool:  # type: ignore[override]
        return self.rows

    def _compress(self, x: torch.Tensor, ctx: CompressContext) -> CompressGen:
        if self.rows:
            n, m = x.shape
            rows = top_rows((x * x).sum(dim=1), keep_count(self.ratio, n))
            k = rows.numel()
            gathered = yield Request("all_gather", pack_bytes(x[rows].reshape(-1), rows.to(torch.int32)))
            values, got_rows = unpack_bytes(gathered, [(k * m, x.dtype), (k, torch.int32)])
            col = torch.arange(m, device=x.device)
            flat_idx = (got_rows.long().unsqueeze(-1) * m + col).reshape(-1, k * m)
            aggregate = scatter_mean(values, flat_idx, n * m).reshape(n, m)
            local = torch.zeros_like(x)
            local[rows] = x[rows]
            return CompressResult(aggregate=aggregate, local=local)
        d = x.numel()
        idx = topk_select(x, keep_count(self.ratio, d))
        gathered = yield Request("all_gather", pack_bytes(x[idx], idx.to(torch.int32)))
        values, got_idx = unpack_bytes(gathered, [(idx.numel(), x.dtype), (idx.numel(), torch.int32)])
        aggregate = scatter_mean(values, got_idx, d)
        local = torch.zeros_like(x)
        local[idx] = x[idx]
        return CompressResult(aggregate=aggregate, local=local)

    def _payload_rounds(self, view_shape: tuple[int, ...], call_index: int, dtype: torch.dtype) -> list[PayloadSpec]:
        itemsize = dtype.itemsize
        if self.rows:
            n, m = view_shape
            k = keep_count(self.ratio, n)
            return [PayloadSpec("all_gather", k * m * itemsize + 4 * k, torch.uint8)]
        k = keep_count(self.ratio, view_shape[0])
        return [PayloadSpec("all_gather", k * (itemsize + 4), torch.uint8)]


def pack_bytes(*parts: torch.Tensor) -> torch.Tensor:
    """Concatenate tensors of any dtypes as raw bytes (values and int32 indices travel in one All-Gather)."""
    return torch.cat([p.contiguous().reshape(-1).view(torch.uint8) for p in parts])


def unpack_bytes(gathered: torch.Tensor, layout: list[tuple[int, torch.dtype]]) -> list[torch.Tensor]:
    """Split a gathered [N, nbytes] uint8 tensor into [N, numel] tensors of the dtypes in ``layout``."""
    rows = gathered.reshape(gathered.shape[0], -1)
    out, offset = [], 0
    for numel, dtype in layout:
        nbytes = numel * dtype.itemsize
        out.append(bytes_as(rows[:, offset : offset + nbytes], dtype))
        offset += nbytes
    return out
