"""Reference ops every device table carries: dense matmul and a device copy (the two roofline ceilings), each in
fp32, bf16 and fp16 (the dtype a scenario runs in is the dtype its tables must hold)."""

from __future__ import annotations

import torch

from kernels.ops import Shape, TimedOp, register_op

_DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
FLOAT_DTYPES: tuple[str, ...] = ("float32", "bfloat16", "float16")

#: GEMM shapes (m, n, k). The quick grid (CPU tables) is a product grid that brackets the tiny LLaMA models of
#: the CPU validation study (`harness.fidelity.compute`) on every axis: powers of two and 1.5 x powers of two
#: from 64 to 2048, so the models' 3 x d_model widths (fused q/k/v, d_ff) are measured, not interpolated. Powers
#: of two alone mislead: on the dev VM (1 thread) a GEMM with n = 2048 ran at 80-86 GFLOP/s where n = 1536 and
#: 2304 ran at 125-165 (cache-set aliasing of the power-of-two row stride), so 1536 interpolated between 1024 and
#: 2048 came out 1.3-1.8x its measured time. The default grid (GPU tables) covers the LLaMA presets 60M-7B
#: (d_model 512-4096, d_ff up to 11008, vocabulary 32000, 1 to 16k tokens per GEMM) and the compressors'
#: low-rank GEMMs (rank 4-256 on the inner or outer axis).
_QUICK_AXIS = (64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048)
MATMUL_QUICK_GRID = [{"m": m, "n": n, "k": k} for m in _QUICK_AXIS for n in _QUICK_AXIS for k in _QUICK_AXIS]
_M_AXIS = (1, 16, 128, 512, 2048, 8192, 16384)
_NK_AXIS = (4, 64, 512, 2048, 4096, 8192, 11008, 22016, 32000)
MATMUL_GRID = [{"m": m, "n": n, "k": k} for m in _M_AXIS for n in _NK_AXIS for k in _NK_AXIS]


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
        grid=MATMUL_GRID,
        quick_grid=MATMUL_QUICK_GRID,
        make_inputs=_matmul_inputs,
        impls={"torch": torch.matmul},
        dtypes=FLOAT_DTYPES,
    )
)

register_op(
    TimedOp(
        name="copy",
        shape_columns=("numel",),
        flops=lambda s: 0.0,
        bytes_moved=lambda s, dt: 2.0 * dtype_bytes(dt) * s["numel"],
        grid=[{"numel": 1 << e} for e in range(16, 31, 2)],
        quick_grid=[{"numel": 1 << e} for e in range(10, 23, 2)],
        make_inputs=_copy_inputs,
        impls={"torch": lambda x, out: out.copy_(x)},
        dtypes=FLOAT_DTYPES,
    )
)
