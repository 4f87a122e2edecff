"""``greedylore``: greedy low-rank compression from a lazily refreshed full basis (semi-lazy GreedyLore).

Paper: Chen, He, Li, Jia, Yuan, "Greedy Low-Rank Gradient Compression for Distributed Learning with
Convergence Guarantees" (GreedyLore), arXiv 2507.08784 (2025). Rebuilt from the authors' ``subspace_hook``
(research card sec. 2.2).

Per tensor viewed as H_i in R^{n x m}, work on the short side: A_i = H_i if n <= m else H_i^T (p x q, p <= q).
- Every ``refresh_period`` compressed calls (the first included): one dense All-Reduce Abar = mean_i A_i, used
  as this step's output, and an SVD Abar = U S W^T; keep the FULL orthonormal short-side basis B = U (p x p).
- Every other call (the "greedy" part): score every basis direction b_j by its global energy ||b_j^T Abar||^2,
  estimated with one shared Gaussian probe z_j per direction: s_j = AllReduceMean(<b_j^T A_i, z_j>) (p values),
  score_j = s_j^2 (E[score_j] = ||b_j^T Abar||^2); pick the r directions of largest score (P = B[:, J],
  identical on every worker); All-Reduce R = P^T A_i (r q values); output P R (rank <= r).
Because B is a complete basis, the r directions of largest energy capture >= r/p of the energy for ANY
(stale) B, so the compressor stays contractive at every step (``exact_scores=True`` makes this
deterministic; the probe makes it hold in expectation). A GaLore-style frozen top-r projector
(``selection="lazy"``) can capture nothing once the gradient drifts; ``selection="random"`` picks r random
basis directions (GoLore-like random projection, the "random" series of GreedyLore Fig. 1).

Precision: the SVD of a refresh (and the greedy scores s_j^2) run in float32 for bf16/fp16 gradients (torch has
no half-precision SVD on the CPU); the basis is cast back to and stored in the gradient dtype, so projections,
payloads and the output keep the gradient's dtype. float32/float64 gradients are unchanged.

Wire bytes per worker and call: steady state b (p + r q) in two All-Reduces; refresh b n m in one.
Our choice where the paper is silent: the scoring estimator (the authors' file left it unimplemented; the
single-probe estimator is the third-party completion the card describes).

Error feedback at a refresh (``refresh_error``): the authors' hook zeroes the EF14 memory e and all-reduces the
raw gradient g (``error_inherit=0``; ``error_inherit=1`` keeps e for the next compressed step). A compressor
only sees what the wrapper hands it, so it states the rule and the wrapper applies it: `GreedyLore.error_rule`
tells an EF14-style wrapper, per call, to ``"add"`` e as usual, to ``"zero"`` it (send raw g) or to
``"inherit"`` it (send raw g, keep e). ``"send"`` (the default) transmits g + e densely and then e = 0, so the
residual is applied rather than dropped.

Dense fallback: ``min_compression_rate`` defaults to 0 = every matrix is compressed (see `methods.compress.base`;
the authors' hook uses 2, i.e. compress only when r max(n, m) * 2 < n m, and 1 in their C4 runs).

Example::

    >>> from methods.compress import make_compressor
    >>> gl = make_compressor("greedylore", rank=4, refresh_period=10)
    >>> [c.size_bytes for c in gl.comm_plan((32, 128), n_workers=4)]          # p scores, r*q projections
    [128, 2048]
    >>> [c.size_bytes for c in gl.comm_plan((32, 128), n_workers=4, call_index=10)]   # refresh: dense
    [16384]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from methods.compress.base import (
    CompressContext,
    CompressGen,
    CompressResult,
    Compressor,
    PayloadSpec,
    Request,
    check_choice,
    check_min_compression_rate,
    check_positive_int,
    factor_dtype,
    register_compressor,
)
from methods.compress.randk import random_subset

#: ``GreedyLore.refresh_error`` values: ours, the authors' default, the authors' ``error_inherit=1``
REFRESH_ERROR_RULES: tuple[str, ...] = ("send", "zero", "inherit")


def top_directions(scores: torch.Tensor, r: int) -> torch.Tensor:
    """Indices (ascending) of the r largest scores; ties go to the lowest index."""
    order = torch.sort(scores, descending=True, stable=True).indices[:r]
    return torch.sort(order).values


def short_side_basis(A_mean: torch.Tensor) -> torch.Tensor:
    """Full orthonormal basis U (p x p) of the column space of a p x q matrix (p <= q), singular values descending.

    bf16/fp16 input is factorised in float32 and U cast back to A_mean's dtype.
    """
    return torch.linalg.svd(A_mean.to(factor_dtype(A_mean.dtype)), full_matrices=False).U.to(A_mean.dtype)


@register_compressor
@dataclass
class GreedyLore(Compressor):
    """Semi-lazy greedy low-rank compressor.

    Args:
        rank: directions sent per step, r (paper: 32 for LLaMA, 64 for ResNet; scale with the matrix width).
        refresh_period: tau, compressed calls between basis refreshes (paper: 200; 750/1200 on CIFAR).
        selection: ``"greedy"`` (GreedyLore), ``"random"`` (random r basis directions), ``"lazy"`` (the r
            leading singular directions of the last refresh, frozen until the next one: GaLore-style).
        exact_scores: greedy scores from an All-Reduce of B^T A_i (p q values; exact energies, for tests).
        min_compression_rate: > 0 sends a matrix dense when its steady-state compressed size (p + r q; r q
            without greedy scores, p q + r q with exact ones) * rate >= its size; 0 (default) always compresses.
            (The authors: 2, counting r max(n, m) only.)
        refresh_error: what EF14's memory does at a refresh step, applied by the wrapper through `error_rule`:
            ``"send"`` (default) g + e is all-reduced densely, then e = 0; ``"zero"`` (the authors' default) e is
            dropped and the raw g sent; ``"inherit"`` (the authors' ``error_inherit=1``) the raw g is sent and e
            kept for the next compressed step.
    """

    name: ClassVar[str] = "greedylore"
    matrix_view: ClassVar[bool] = True
    default_error_feedback: ClassVar[str] = "ef14"

    rank: int = 4
    refresh_period: int = 200
    selection: Literal["greedy", "random", "lazy"] = "greedy"
    exact_scores: bool = False
    min_compression_rate: float = 0.0
    refresh_error: Literal["send", "zero", "inherit"] = "send"

    def __post_init__(self) -> None:
        check_positive_int("greedylore.rank", self.rank)
        check_positive_int("greedylore.refresh_period", self.refresh_period)
        check_choice("greedylore.selection", self.selection, ("greedy", "random", "lazy"))
        check_min_compression_rate("greedylore.min_compression_rate", self.min_compression_rate)
        check_choice("greedylore.refresh_error", self.refresh_error, REFRESH_ERROR_RULES)

    def refreshes_next(self, name: str, shape: tuple[int, ...]) -> bool:
        """True when this worker's next call on tensor ``name`` (of ``shape``) is a refresh (dense + SVD)."""
        return not self.uses_dense(tuple(shape)) and self._refresh_due(self._state.get(name, {}))

    def _refresh_due(self, st: dict) -> bool:
        return int(st.get("calls", 0)) % self.refresh_period == 0 or "basis" not in st

    def error_rule(self, name: str, shape: tuple[int, ...]) -> str:
        """What an EF14-style wrapper does with its memory e at the next call on ``name``: ``"add"`` (compress
        g + e, keep what was not sent), ``"zero"`` (compress the raw g; e restarts from this call's residual) or
        ``"inherit"`` (compress the raw g; e is kept as it is). Not ``"add"`` only at a refresh step."""
        if self.refresh_error == "send" or not self.refreshes_next(name, shape):
            return "add"
        return self.refresh_error

    @staticmethod
    def _pq(view_shape: tuple[int, ...]) -> tuple[int, int]:
        n, m = view_shape
        return min(n, m), max(n, m)

    def _compress(self, x: torch.Tensor, ctx: CompressContext) -> CompressGen:
        n, m = x.shape
        transposed = n > m
        A = x.T if transposed else x
        p, q = A.shape
        r = min(self.rank, p)
        st = self._tensor_state(ctx.name)

        if self._refresh_due(st):
            A_mean = yield Request("all_reduce", A.contiguous())
            st["basis"] = short_side_basis(A_mean)
            st["last_directions"] = None
            return CompressResult(aggregate=_orient(A_mean, transposed), local=x)

        B = st["basis"]
        if self.selection == "greedy":
            if self.exact_scores:
                coords = (yield Request("all_reduce", B.T @ A)).to(factor_dtype(x.dtype))
                scores = (coords * coords).sum(dim=1)
            else:
                Z = torch.randn(p, q, generator=ctx.generator("greedylore-probe", x.device), device=x.device, dtype=x.dtype)
                s = yield Request("all_reduce", ((B.T @ A) * Z).sum(dim=1))
                s = s.to(factor_dtype(x.dtype))  # squares of fp16 scores could overflow
                scores = s * s
            J = top_directions(scores, r)
        elif self.selection == "random":
            J = random_subset(p, r, ctx.generator("greedylore-random"), x.device)
        else:
            J = torch.arange(r, device=x.device)
        P = B[:, J]
        R_local = P.T @ A
        R_mean = yield Request("all_reduce", R_local)
        st["last_directions"] = J
        return CompressResult(aggregate=_orient(P @ R_mean, transposed), local=_orient(P @ R_local, transposed))

    def _payload_rounds(self, view_shape: tuple[int, ...], call_index: int, dtype: torch.dtype) -> list[PayloadSpec]:
        p, q = self._pq(view_shape)
        if call_index % self.refresh_period == 0:
            return [PayloadSpec("all_reduce", p * q, dtype)]
        r = min(self.rank, p)
        rounds = []
        if self.selection == "greedy":
            rounds.append(PayloadSpec("all_reduce", p * q if self.exact_scores else p, dtype))
        rounds.append(PayloadSpec("all_reduce", r * q, dtype))
        return rounds

    def last_directions(self, name: str) -> torch.Tensor | None:
        """Basis directions chosen at this worker's latest call for ``name`` (None after a refresh)."""
        return self._state.get(name, {}).get("last_directions")


def _orient(A: torch.Tensor, transposed: bool) -> torch.Tensor:
    return A.T if transposed else A
