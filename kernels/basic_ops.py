"""Reference ops every device table carries: dense matmul and a device copy (the two roofline ceilings)."""

from __future__ import annotations

import torch

from kernels.ops import Shape, TimedOp, register_op

_DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


def dtype_bytes(dtype: str) -> int:
    try:
        return _DTYPE_BYTES[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; known: {', '.join(_DTYPE_BYTES)}") from None


def _matmul_inputs(shape: Shape, dtype: str, device: str, gen: torch.Generator):
    dt = getattr(torch, dtype)
    a = torch.randn(shape["m"], shape["k"], generator=gen).to(device=device, dtype=dt)
    b = torch.randn(shape["k"], shape["n"], generator=gen).to(device=device, dtype=dt)
    return a, b


def _copy_inputs(shape: Shape, dtype: str, device: str, gen: torch.Generator):
    x = torch.randn(shape["numel"], generator=gen).to(device=device, dtype=getattr(torch, dtype))
    return x, torch.empty_like(x)


register_op(
    TimedOp(
        name="matmul",
        shape_columns=("m", "n", "k"),
        flops=lambda s: 2.0 * s["m"] * s["n"] * s["k"],
        bytes_moved=lambda s, dt: float(dtype_bytes(dt) * (s["m"] * s["k"] + s["k"] * s["n"] + s["m"] * s["n"])),
        grid=[{"m": m, "n": n, "k": k} for m in (256, 1024, 4096) for n in (1024, 4096) for k in (1024, 4096)],
        quick_grid=[{"m": m, "n": n, "k": k} for m in (64, 256) for n in (256, 512) for k in (256, 512)],
        make_inputs=_matmul_inputs,
        impls={"torch": torch.matmul},
        dtypes=("float32",),
    )
)

register_op(
    TimedOp(
        name="copy",
        shape_columns=("numel",),
        flops=lambda s: 0.0,
        bytes_moved=lambda s, dt: 2.0 * dtype_bytes(dt) * s["numel"],
        grid=[{"numel": n} for n in (1 << 20, 1 << 24, 1 << 28)],
        quick_grid=[{"numel": n} for n in (1 << 16, 1 << 20, 1 << 22)],
        make_inputs=_copy_inputs,
        impls={"torch": lambda x, out: out.copy_(x)},
        dtypes=("float32",),
    )
)
