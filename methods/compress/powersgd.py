"""``powersgd``: rank-r PowerSGD with warm start (one power-iteration step per training step).

Paper: Vogels, Karimireddy, Jaggi, "PowerSGD: Practical Low-Rank Gradient Compression for Distributed
Optimization", NeurIPS 2019. Semantics follow torch's ``powerSGD_hook`` (research card sec. 3 and 8).

Per tensor viewed as M_i in R^{n x m}, rank r' = min(r, n, m), state Q in R^{m x r'} (shared by all workers):
1. P = AllReduceMean(M_i Q)            (n r' values)
2. P = orthonormalise(P)               (reduced QR; identical on every worker because P is)
3. Q = AllReduceMean(M_i^T P)          (m r' values); with ``warm_start`` Q is kept for the next step
4. output P Q^T (rank <= r').
Error feedback: like the torch hook, the residual is taken against the decoded *aggregate*
(``error_reference="aggregate"``: e_i = M_i - P Q^T), so pair it with the EF14 wrapper (its default) to get
exactly the hook's behaviour; ``error_reference="local"`` uses P Q_i^T (the paper's per-worker decoding).

Precision: the QR factorisations (and the draw of a fresh Q) run in float32 for bf16/fp16 gradients (torch has
no half-precision QR on the CPU; torch's ``powerSGD_hook`` instead switches to Gram-Schmidt in the half dtype)
and are cast back to the gradient dtype, so P, Q, the payloads and the output keep the gradient's dtype.
float32/float64 gradients are factorised in their own dtype (unchanged).

Wire bytes per worker and call: b r' (n + m) in two All-Reduces. 1-D tensors are All-Reduced dense, as in the
torch hook. Dense fallback, the rule of torch's hook (its ``min_compression_rate`` c, ``_should_compress``): a
matrix is compressed only when r'(n + m) c < n m, else All-Reduced dense (b n m in one All-Reduce: the exact mean)
and counted as an ``"unprofitable"`` fallback (`Compressor.dense_fallbacks`). Default c = 1 (torch: 2): P and Q go
only when smaller than the matrix, elsewhere dense costs no more and is exact. c = 0 compresses every matrix (a
reference: P and Q may exceed it); 0 < c < 1 is refused.

Example::

    >>> from methods.compress import make_compressor
    >>> [c.size_bytes for c in make_compressor("powersgd", rank=2).comm_plan((64, 32), n_workers=4)]
    [512, 256]
    >>> [c.size_bytes for c in make_compressor("powersgd", rank=2).comm_plan((4, 4), n_workers=4)]  # 2 (4 + 4) >= 16
    [64]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from methods.arguments import check_number
from methods.compress.base import (
    CompressContext,
    CompressGen,
    CompressResult,
    Compressor,
    PayloadSpec,
    Request,
    check_positive_int,
    factor_dtype,
    register_compressor,
)


def orthonormalize(P: torch.Tensor) -> torch.Tensor:
    """Orthonormal basis of the columns of P [n, r] (reduced QR); all-zero input gives finite output.

    bf16/fp16 input is factorised in float32 and the result cast back to P's dtype.
    """
    work = factor_dtype(P.dtype)
    return torch.linalg.qr(P.to(work), mode="reduced").Q.to(P.dtype)


@register_compressor
@dataclass
class PowerSGD(Compressor):
    """Rank-r PowerSGD.

    Args:
        rank: approximation rank r (start at 1-4 and double while accuracy suffers, torch's advice).
        warm_start: reuse last step's Q (the torch default) instead of drawing a fresh one.
        error_reference: ``"aggregate"`` (torch hook) or ``"local"`` (P Q_i^T); see module docstring.
        min_compression_rate: c >= 1 (default 1) sends a matrix dense when r'(n + m) c >= n m (torch's hook:
            2); 0 always compresses. See the module docstring.
    """

    name: ClassVar[str] = "powersgd"
    matrix_view: ClassVar[bool] = True
    default_error_feedback: ClassVar[str] = "ef14"

    rank: int = 1
    warm_start: bool = True
    error_reference: Literal["aggregate", "local"] = "aggregate"
    min_compression_rate: float = 1.0

    def __post_init__(self) -> None:
        check_positive_int("powersgd.rank", self.rank)
        rate = check_number("powersgd.min_compression_rate", self.min_compression_rate)
        if not (rate == 0 or rate >= 1):  # 0 < c < 1 would send P and Q up to 1 / c times the matrix
            raise ValueError(f"powersgd.min_compression_rate: expected 0 (always compress) or a number >= 1, "
                             f"got {self.min_compression_rate}")
        if self.error_reference not in ("aggregate", "local"):
            raise ValueError(f"powersgd.error_reference: expected 'aggregate' or 'local', got {self.error_reference!r}")

    def _r(self, n: int, m: int) -> int:
        return min(self.rank, n, m)

    def _compress(self, x: torch.Tensor, ctx: CompressContext) -> CompressGen:
        n, m = x.shape
        r = self._r(n, m)
        st = self._tensor_state(ctx.name)
        Q = st.get("Q")
        if Q is None or not self.warm_start or Q.shape != (m, r):
            gen = ctx.generator("powersgd-q", x.device)
            draw = torch.randn(m, r, generator=gen, device=x.device, dtype=factor_dtype(x.dtype))
            Q = orthonormalize(draw).to(x.dtype)
        P = yield Request("all_reduce", x @ Q)
        P = orthonormalize(P)
        local_Q = x.T @ P
        Q = yield Request("all_reduce", local_Q)
        st["Q"] = Q.clone()
        aggregate = P @ Q.T
        local = aggregate if self.error_reference == "aggregate" else P @ local_Q.T
        return CompressResult(aggregate=aggregate, local=local)

    def _payload_rounds(self, view_shape: tuple[int, ...], call_index: int, dtype: torch.dtype) -> list[PayloadSpec]:
        n, m = view_shape
        r = self._r(n, m)
        return [PayloadSpec("all_reduce", n * r, dtype), PayloadSpec("all_reduce", m * r, dtype)]
