"""Helpers for checking kernels against their references (used by tests/kernels and benchmarks/gpu_check.py).

`poisoned_allocations` makes every tensor that code allocates with ``torch.empty`` / ``torch.empty_like`` start
out as NaN (floats), all-ones bits (integers) or True (bools), so an output element a kernel forgets to write is
visible instead of silently holding a plausible old value. `rel_err` is ||out - ref|| / ||ref|| in float64 and is
infinite when ``out`` holds a NaN or an infinity.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch


def _poison(t: torch.Tensor) -> torch.Tensor:
    if t.is_floating_point():
        t.fill_(float("nan"))
    elif t.dtype == torch.bool:
        t.fill_(True)
    elif t.dtype == torch.uint8:
        t.fill_(255)
    else:
        t.fill_(-1)
    return t


@contextlib.contextmanager
def poisoned_allocations() -> Iterator[None]:
    """Within the block, ``torch.empty`` and ``torch.empty_like`` return poisoned tensors (see module doc)."""
    real_empty, real_empty_like = torch.empty, torch.empty_like
    torch.empty = lambda *args, **kwargs: _poison(real_empty(*args, **kwargs))
    torch.empty_like = lambda *args, **kwargs: _poison(real_empty_like(*args, **kwargs))
    try:
        yield
    finally:
        torch.empty, torch.empty_like = real_empty, real_empty_like


def rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    """||out - ref|| / ||ref|| in float64 (denominator 1 when ref is zero); inf if ``out`` is not finite."""
    out, ref = out.double(), ref.double()
    if not bool(torch.isfinite(out).all()):
        return math.inf
    denom = ref.norm().item()
    return (out - ref).norm().item() / (denom if denom > 0 else 1.0)
