"""``randk``: Rand-K sparsification with a shared seed, so the values are All-Reduced without indices.

All workers draw the same k = max(1, floor(ratio * d)) indices from a generator seeded by (run seed,
iteration, tensor name) (GRACE and the ARC authors' hook use the same trick: shared seed, no index traffic).
``scaled=True`` multiplies by d/k, which makes the operator unbiased (E[C(x)] = x, variance factor d/k - 1);
``scaled=False`` is a contraction in expectation with delta = k/d (research card sec. 3).
``rows=True`` draws K = max(1, floor(ratio * n)) whole rows of the [n, m] view ("Random Block" in the ARC
synthetic experiment).

Wire bytes per worker and call: one All-Reduce of k*b (element mode) or K*m*b (row mode).

Example::

    >>> import torch
    >>> from methods.compress.randk import randk_apply
    >>> randk_apply(torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([0, 3]), scale=2.0).tolist()
    [2.0, 0.0, 0.0, 8.0]
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
    check_ratio,
    keep_count,
    register_compressor,
)


def random_subset(total: int, k: int, generator: torch.Generator, device: torch.device | str = "cpu") -> torch.Tensor:
    """k distinct indices in [0, total), ascending, uniformly over subsets, drawn on ``device``.

    ``generator`` (a CPU generator every worker seeds identically) gives one seed for a generator on ``device``,
    so the permutation is drawn where the tensor lives (a CPU ``randperm`` of a large GPU tensor costs seconds)
    and every worker on the same kind of device still draws the same subset.
    """
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    device_generator = torch.Generator(device=device).manual_seed(seed)
    return torch.sort(torch.randperm(total, generator=device_generator, device=device)[:k]).values


def randk_apply(x: torch.Tensor, indices: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """The Rand-K operator for a fixed index set: ``scale * x`` on ``indices`` of the first dim, zero elsewhere."""
    return _placed(x, indices, x[indices], scale)


def _placed(like: torch.Tensor, indices: torch.Tensor, values: torch.Tensor, scale: float) -> torch.Tensor:
    """Zeros shaped like ``like`` with ``scale * values`` at ``indices`` of the first dim (no multiply at scale 1)."""
    out = torch.zeros_like(like)
    out[indices] = values * scale if scale != 1.0 else values
    return out


@register_compressor
@dataclass
class RandK(Compressor):
    """Shared-seed Rand-K (entries, or rows with ``rows=True``).

    Args:
        ratio: fraction kept (0.2 in both papers).
        scaled: multiply by d/k (n/K for rows) so the operator is unbiased.
        rows: draw whole rows of the [n, m] view ("Random Block").
    """

    name: ClassVar[str] = "randk"
    default_error_feedback: ClassVar[str] = "ef14"

    ratio: float = 0.2
    scaled: bool = False
    rows: bool = False

    def __post_init__(self) -> None:
        check_ratio("randk.ratio", self.ratio)

    @property
    def matrix_view(self) -> bool:  # type: ignore[override]
        return self.rows

    def _compress(self, x: torch.Tensor, ctx: CompressContext) -> CompressGen:
        total = x.shape[0]
        k = keep_count(self.ratio, total)
        idx = random_subset(total, k, ctx.generator("randk"), x.device)
        scale = total / k if self.scaled else 1.0
        picked = x[idx]  # gathered once: the payload, and the local copy's values
        mean = yield Request("all_reduce", picked.reshape(-1))
        return CompressResult(aggregate=_placed(x, idx, mean.reshape(picked.shape), scale),
                              local=_placed(x, idx, picked, scale))

    def _payload_rounds(self, view_shape: tuple[int, ...], call_index: int, dtype: torch.dtype) -> list[PayloadSpec]:
        k = keep_count(self.ratio, view_shape[0])
        width = view_shape[1] if self.rows else 1
        return [PayloadSpec("all_reduce", k * width, dtype)]
