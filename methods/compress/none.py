"""``none``: dense all-reduce of the full gradient (the uncompressed baseline every paper compares against).

One all-reduce of d values per tensor; ``local`` is the input itself, so every error-feedback wrapper leaves
nothing behind (EF14 residual 0, EF21 local state = gradient).

Example::

    >>> from methods.compress import make_compressor
    >>> make_compressor("none").comm_plan((10, 20), n_workers=4)[0].size_bytes
    800
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from methods.compress.base import CompressContext, CompressGen, Compressor, PayloadSpec, dense_session, register_compressor


@register_compressor
@dataclass
class NoCompression(Compressor):
    """Dense all-reduce (no compression)."""

    name: ClassVar[str] = "none"

    def _compress(self, x: torch.Tensor, ctx: CompressContext) -> CompressGen:
        return (yield from dense_session(x))

    def _payload_rounds(self, view_shape: tuple[int, ...], call_index: int, dtype: torch.dtype) -> list[PayloadSpec]:
        return [PayloadSpec("all_reduce", view_shape[0], dtype)]
