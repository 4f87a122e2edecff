"""``arc_topk``: the All-Reduce-compatible Top-K compressor (ARC-Top-K).

Paper: Chen, Ma, Li, He, Dong, Yuan, "An All-Reduce Compatible Top-K Compressor for Communication-Efficient
Distributed Learning", arXiv 2510.26709 (2025). Method rebuilt from the authors' DDP hook (research card
sec. 1.2).

Idea: all workers agree on one row index set chosen from a cheap, all-reduced sketch of their gradients, so
the selected rows can be All-Reduced in place, without indices. Per tensor viewed as G_i in R^{n x m}:
1. V in R^{m x r}, i.i.d. N(0, 1), drawn from the shared seed (identical on every worker);
2. P = AllReduceMean(G_i V) = Gbar V  (n*r values);
3. s_j = ||P[j, :]||^2; S = the K = max(1, floor(rho n)) rows of largest s_j (ties: lowest index);
4. AllReduceMean(G_i[S, :]) (K*m values, index-free) = Gbar[S, :]; output = Gbar on rows S, zero elsewhere.
Because every worker uses the same S, mean_i C_S(G_i) = C_S(Gbar): the aggregate is a row Top-K of the mean
gradient computed from a sketch. With ``exact_sketch=True`` (V = I, for tests) it is exactly the row Top-K
of Gbar, hence contractive with alpha = K/n; with the Gaussian sketch it is contractive in expectation.

Wire bytes per worker and call: b (n r + K m) in two All-Reduces, b = 4 for fp32 gradients (the sketch always
travels in fp32; ``exact_sketch``: b (n m + K m) in the gradient dtype).

Our choices where the paper is silent: conv weights are viewed as [out, in*kh*kw] (the authors use an odd
m = 2 t^2 split); 1-D tensors are All-Reduced dense and kept whole (the authors' hook all-reduces them dense
too, then keeps only the top-k entries of the mean). The sketch, scores, selection and packing primitives are
`kernels.arc_select` (Triton kernels for CUDA tensors, their torch references on the CPU).

Example::

    >>> from methods.compress import make_compressor
    >>> arc = make_compressor("arc_topk", ratio=0.2, rank=4)
    >>> sum(c.size_bytes for c in arc.comm_plan((100, 50), n_workers=8)) == 4 * (100 * 4 + 20 * 50)
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from kernels import arc_select
from methods.compress.base import (
    CompressContext,
    CompressGen,
    CompressResult,
    Compressor,
    PayloadSpec,
    Request,
    check_positive_int,
    check_ratio,
    keep_count,
    register_compressor,
)


#: the Gaussian sketch is computed and all-reduced in fp32 whatever the gradient dtype (kernels.arc_select)
SKETCH_DTYPE = torch.float32


def arc_select_rows(mean_sketch: torch.Tensor, k: int) -> torch.Tensor:
    """Global row set from an all-reduced sketch [n, r]: the k rows of largest squared norm, ascending."""
    return arc_select.select_rows(arc_select.row_scores(mean_sketch), k)


# ------------------------------------------------------------------------------------------ the compressor
@register_compressor
@dataclass
class ARCTopK(Compressor):
    """ARC-Top-K: sketch All-Reduce, global row Top-K, index-free All-Reduce of the selected rows.

    Args:
        ratio: fraction of rows kept, rho (0.2 in the paper); K = max(1, floor(rho n)).
        rank: sketch width r (4 in the paper's neural runs, 2 in its synthetic runs).
        exact_sketch: use V = I (P = Gbar, n*m sketch values): exact row Top-K of the mean, for tests.
        min_compression_rate: send a matrix dense when its compressed size * this >= its size.
    """

    name: ClassVar[str] = "arc_topk"
    matrix_view: ClassVar[bool] = True
    default_error_feedback: ClassVar[str] = "ef14"

    ratio: float = 0.2
    rank: int = 4
    exact_sketch: bool = False
    min_compression_rate: float = 1.0

    def __post_init__(self) -> None:
        check_ratio("arc_topk.ratio", self.ratio)
        check_positive_int("arc_topk.rank", self.rank)
        if self.min_compression_rate < 0:
            raise ValueError(f"arc_topk.min_compression_rate: expected >= 0, got {self.min_compression_rate}")

    def _sketch_width(self, m: int) -> int:
        return m if self.exact_sketch else self.rank

    def _compressed_numel(self, view_shape: tuple[int, ...]) -> int:
        n, m = view_shape
        return n * self._sketch_width(m) + keep_count(self.ratio, n) * m

    def _compress(self, x: torch.Tensor, ctx: CompressContext) -> CompressGen:
        ops = arc_select
        n, m = x.shape
        if self.exact_sketch:
            local_sketch = x.clone()
        else:
            V = ops.sketch_matrix(m, self.rank, ctx.generator("arc-sketch", x.device), device=x.device)
            local_sketch = ops.row_sketch(x, V).to(SKETCH_DTYPE)
        mean_sketch = yield Request("all_reduce", local_sketch)
        rows = arc_select_rows(mean_sketch, keep_count(self.ratio, n))
        packed = ops.pack_rows(x, rows)
        mean_rows = yield Request("all_reduce", packed)
        aggregate = ops.unpack_rows(mean_rows, rows, n, m)
        local = ops.unpack_rows(packed, rows, n, m)
        self._tensor_state(ctx.name)["last_rows"] = rows
        return CompressResult(aggregate=aggregate, local=local)

    def _payload_rounds(self, view_shape: tuple[int, ...], call_index: int, dtype: torch.dtype) -> list[PayloadSpec]:
        n, m = view_shape
        return [
            PayloadSpec("all_reduce", n * self._sketch_width(m), dtype if self.exact_sketch else SKETCH_DTYPE),
            PayloadSpec("all_reduce", keep_count(self.ratio, n) * m, dtype),
        ]

    def last_rows(self, name: str) -> torch.Tensor | None:
        """The row set selected at this worker's latest call for tensor ``name`` (for tests and plots)."""
        return self._state.get(name, {}).get("last_rows")
