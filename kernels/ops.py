"""Registry of timed ops: what the profiler measures and what the replay needs for its roofline fallback.

Each `TimedOp` names its shape columns (the explicit numeric columns of its timing table), a default and a
quick shape grid, how to build inputs, its implementations (``"torch"`` reference, ``"triton"`` kernel, or a
named baseline), and its minimal FLOP and byte counts (roofline: time >= max(flops / peak, bytes / bandwidth)).
Kernel modules register their ops with ``register_op(TimedOp(...))``; `load_all_ops()` imports every such module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kernels.registry import Registry

Shape = Mapping[str, int]


@dataclass(frozen=True)
class TimedOp:
    """One op the profiler times and the replay predicts.

    Attributes:
        name: table file stem, ``results/timings/<device>/<name>.csv``.
        shape_columns: the numeric shape parameters, in table column order (e.g. ``("m", "n", "k")``).
        flops: minimal floating-point operations for a shape.
        bytes_moved: minimal bytes read + written for a shape and dtype name (each input once, output once).
        grid: default shape grid (list of shapes) for ``harness profile``.
        quick_grid: a small grid for CPU tables and tests.
        make_inputs: ``(shape, dtype, device, generator) -> args`` fresh random inputs.
        impls: implementation name -> callable taking ``*args``; ``"torch"`` is the reference. Names starting
            with ``"triton"`` are Triton kernels: the profiler runs them on CUDA devices only.
        dtypes: dtype names to profile.
        baseline: the impl the benchmark compares ours against (e.g. ``"dense"``), or None.
    """

    name: str
    shape_columns: tuple[str, ...]
    flops: Callable[[Shape], float]
    bytes_moved: Callable[[Shape, str], float]
    grid: Sequence[Shape] = ()
    quick_grid: Sequence[Shape] = ()
    make_inputs: Callable[..., tuple[Any, ...]] | None = None
    impls: Mapping[str, Callable[..., Any]] | None = None
    dtypes: tuple[str, ...] = ("float32",)
    baseline: str | None = None


OPS: Registry[TimedOp] = Registry("timed op")

#: modules that register ops; extend this list when adding a kernel module
OP_MODULES: tuple[str, ...] = (
    "kernels.basic_ops", "kernels.moc", "kernels.tah_quant", "kernels.arc_select", "kernels.train_ops",
)


def product_grid(**axes: int | Sequence[int]) -> list[dict[str, int]]:
    """Every combination of the axes' values (a single int is a constant axis), the last axis varying fastest.

    A full product is what the replay's multilinear interpolation and the leave-one-out check need: every row
    that is not a corner can be left out and interpolated from its neighbours along an axis where it is interior.

    Example:
        >>> product_grid(rows=[1, 2], k=8)
        [{'rows': 1, 'k': 8}, {'rows': 2, 'k': 8}]
    """
    shapes: list[dict[str, int]] = [{}]
    for name, values in axes.items():
        values = [values] if isinstance(values, int) else list(values)
        shapes = [{**shape, name: value} for shape in shapes for value in values]
    return shapes


def register_op(op: TimedOp) -> TimedOp:
    """Add ``op`` to `OPS` under its own name."""
    return OPS.add(op.name, op)


def load_all_ops() -> Registry[TimedOp]:
    """Import every op-registering module (idempotent) and return the registry."""
    for module in OP_MODULES:
        importlib.import_module(module)
    return OPS
