"""``arc_topk``: the All-Reduce-compatible Top-K compressor (ARC-Top-K).

Paper: Chen, Ma, Li, He, Dong, Yuan, "An All-Reduce Compatible Top-K Compressor for Communication-Efficient
Distributed Learning", arXiv 2510.26709 (2025). Method rebuilt from the authors' DDP hook (research card
sec. 1.2).

Idea: all workers agree on one row index set chosen from a cheap, all-reduced sketch of their gradients, so
the selected rows can be All-Reduced in place, without indices. Per tensor viewed as G_i in R^{n x m}:
1. V in R^{m x r}, i.i.d. N(0, 1), drawn from the shared seed (identical on every worker);
2. P = AllReduceMean(G_i V) = Gbar V  (n*r values);
3. s_j = ||P[j, :]||^2; S = the K = max(1, floor(rho n)) rows of largest s_j (ties: lowest index; ``k_rule``);
4. AllReduceMean(G_i[S, :]) (K*m values, index-free) = Gbar[S, :]; output = Gbar on rows S, zero elsewhere.
Because every worker uses the same S, mean_i C_S(G_i) = C_S(Gbar): the aggregate is a row Top-K of the mean
gradient computed from a sketch. With ``exact_sketch=True`` (V = I) it is exactly the row Top-K of Gbar, hence
contractive with alpha = K/n; with the Gaussian sketch it is contractive in expectation.
A rank r >= m keeps the Gaussian V, as the authors run it (their logistic setting: 10 x 4 with r = 4): its rows
are then ranked by a random distortion of their energy while n r >= n m sketch values travel; ``exact_sketch=True``
is the exact selection there.

Wire bytes per worker and call: b (n r + K m) in two All-Reduces, b = 4 for fp32 gradients (the sketch always
travels in fp32). ``exact_sketch``: b (n m + K m) in the gradient dtype, *more than dense* (b n m): it is a
reference for tests and figures (the authors' Fig. 2 "ARC exact"), not a way to save bytes; it is compressed
anyway, since ``min_compression_rate`` defaults to 0 (always compress, as the authors do).

Options that give the authors' behaviour where ours differs (ARCHITECTURE.md, "Compression: where we differ"):
- ``vectors``: 1-D tensors (biases, norms). ``"dense"`` (ours, default): one dense All-Reduce, the mean kept
  whole (counted as a ``"vector"`` dense fallback). ``"topk_of_mean"`` (the authors' hook): the vector itself is
  the sketch (All-Reduce of d values), the k = K(rho, d) entries of largest |mean| are selected and their values
  All-Reduced again (k values): b (d + k), output the mean on those entries, zero elsewhere, so error feedback
  keeps the rest.
- ``k_rule``: ``"floor"`` (ours) K = max(1, floor(rho n + 1e-9)); ``"authors"`` K = max(1, int(rho n)) (the
  authors' hook). They differ where float rounding puts rho n just below an integer, e.g. (rho, n) = (0.29, 100):
  29 vs 28 (`methods.compress.base.keep_count`).
- ``fixed_sketch``: ``False`` (ours, and the authors' DDP hook): a fresh V every step from the shared seed.
  ``True``: one V per tensor for the whole run (the authors' numerical script), drawn from (seed, tensor name).

Our choice where the paper is silent: conv weights are viewed as [out, in*kh*kw] (the authors use an odd
m = 2 t^2 split). The sketch, scores, selection and packing primitives are `kernels.arc_select` (Triton kernels
for CUDA tensors, their torch references on the CPU).

Example::

    >>> from methods.compress import make_compressor
    >>> arc = make_compressor("arc_topk", ratio=0.2, rank=4)
    >>> sum(c.size_bytes for c in arc.comm_plan((100, 50), n_workers=8)) == 4 * (100 * 4 + 20 * 50)
    True
    >>> [c.size_bytes for c in arc.comm_plan((10, 4), n_workers=4)]   # compressed although 48 values > 40
    [160, 32]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from kernels import arc_select
from methods.compress.base import (
    CompressContext,
    K_RULES,
    CompressGen,
    CompressResult,
    Compressor,
    PayloadSpec,
    Request,
    check_choice,
    check_min_compression_rate,
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
VECTOR_MODES: tuple[str, ...] = ("dense", "topk_of_mean")


@register_compressor
@dataclass
class ARCTopK(Compressor):
    """ARC-Top-K: sketch All-Reduce, global row Top-K, index-free All-Reduce of the selected rows.

    Args:
        ratio: fraction of rows kept, rho (0.2 in the paper).
        rank: sketch width r (4 in the paper's neural runs, 2 in its synthetic runs).
        exact_sketch: use V = I (P = Gbar, n*m sketch values): exact row Top-K of the mean. Sends more bytes
            than dense; a reference for tests and figures.
        min_compression_rate: 0 (default) always compresses a matrix; r > 0 sends it dense (counted as an
            ``"unprofitable"`` fallback) when its compressed size * r >= its size.
        vectors: 1-D tensors: ``"dense"`` (default) or ``"topk_of_mean"`` (the authors' hook).
        k_rule: ``"floor"`` (default) or ``"authors"`` (int(rho n)); see `methods.compress.base.keep_count`.
        fixed_sketch: one V per tensor for the whole run (the authors' numerical script) instead of one per step.
    """

    name: ClassVar[str] = "arc_topk"
    matrix_view: ClassVar[bool] = True
    default_error_feedback: ClassVar[str] = "ef14"

    ratio: float = 0.2
    rank: int = 4
    exact_sketch: bool = False
    min_compression_rate: float = 0.0
    vectors: Literal["dense", "topk_of_mean"] = "dense"
    k_rule: Literal["floor", "authors"] = "floor"
    fixed_sketch: bool = False

    def __post_init__(self) -> None:
        check_ratio("arc_topk.ratio", self.ratio)
        check_positive_int("arc_topk.rank", self.rank)
        check_min_compression_rate("arc_topk.min_compression_rate", self.min_compression_rate)
        check_choice("arc_topk.vectors", self.vectors, VECTOR_MODES)
        check_choice("arc_topk.k_rule", self.k_rule, K_RULES)

    # ---- views: a matrix is [n, m]; with vectors="topk_of_mean" a 1-D tensor keeps its 1-D view (d,)
    def _sends_vectors_dense(self) -> bool:
        return self.vectors == "dense"

    def _view_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(shape) < 2:
            return (math.prod(shape) if shape else 1,)
        return super()._view_shape(shape)

    def _k(self, n: int) -> int:
        return keep_count(self.ratio, n, self.k_rule)

    def _sketch_width(self, view_shape: tuple[int, ...]) -> int:
        """Columns of the all-reduced sketch: m for the exact sketch and for vectors (the vector itself), else r."""
        if len(view_shape) == 1:
            return 1
        return view_shape[1] if self.exact_sketch else self.rank

    def _sketch_generator(self, ctx: CompressContext, device: torch.device) -> torch.Generator:
        if self.fixed_sketch:  # the same V at every step: the iteration does not enter the seed
            return CompressContext(ctx.name, 0, ctx.seed, ctx.n_workers).generator("arc-sketch-fixed", device)
        return ctx.generator("arc-sketch", device)

    def _compress(self, x: torch.Tensor, ctx: CompressContext) -> CompressGen:
        ops = arc_select
        exact = self.exact_sketch or x.dim() == 1
        x = x.reshape(x.shape[0], -1)  # a vector becomes [d, 1]: rows are its entries
        n, m = x.shape
        if exact:
            local_sketch = x.clone()
        else:
            V = ops.sketch_matrix(m, self.rank, self._sketch_generator(ctx, x.device), device=x.device)
            local_sketch = ops.row_sketch(x, V).to(SKETCH_DTYPE)
        mean_sketch = yield Request("all_reduce", local_sketch)
        rows = arc_select_rows(mean_sketch, self._k(n))
        packed = ops.pack_rows(x, rows)
        mean_rows = yield Request("all_reduce", packed)
        aggregate = ops.unpack_rows(mean_rows, rows, n, m)
        local = ops.unpack_rows(packed, rows, n, m)
        self._tensor_state(ctx.name)["last_rows"] = rows
        return CompressResult(aggregate=aggregate, local=local)

    def _payload_rounds(self, view_shape: tuple[int, ...], call_index: int, dtype: torch.dtype) -> list[PayloadSpec]:
        n = view_shape[0]
        m = view_shape[1] if len(view_shape) == 2 else 1
        exact = self.exact_sketch or len(view_shape) == 1
        return [
            PayloadSpec("all_reduce", n * self._sketch_width(view_shape), dtype if exact else SKETCH_DTYPE),
            PayloadSpec("all_reduce", self._k(n) * m, dtype),
        ]

    def last_rows(self, name: str) -> torch.Tensor | None:
        """The row set (entries, for vectors) selected at this worker's latest call for ``name`` (tests, plots)."""
        return self._state.get(name, {}).get("last_rows")
