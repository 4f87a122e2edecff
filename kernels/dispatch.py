"""Choosing between a Triton kernel and its plain-torch reference for one call.

Every kernel op takes ``impl: str | None``: ``None`` picks Triton when triton is installed and every tensor is
on a CUDA device, and the torch reference otherwise; ``"torch"`` or ``"triton"`` force one. A forced Triton
call on CPU tensors runs only under ``TRITON_INTERPRET=1`` (the interpreter the tests use). Nothing here imports
triton: ``import kernels`` works on a machine without it.
"""

from __future__ import annotations

import importlib.util
import os

import torch

IMPLS: tuple[str, ...] = ("triton", "torch")


def triton_installed() -> bool:
    """Whether the triton package can be imported (checked without importing it)."""
    return importlib.util.find_spec("triton") is not None


def interpreting() -> bool:
    """Whether Triton kernels run in the CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "yes", "on")


def choose_impl(impl: str | None, *tensors: torch.Tensor, unsupported: str | None = None) -> str:
    """Return ``"triton"`` or ``"torch"`` for a call on ``tensors``.

    Args:
        impl: ``None`` (auto), ``"triton"`` or ``"torch"``.
        tensors: the call's tensor inputs; auto picks Triton only when all are on CUDA.
        unsupported: a reason the Triton kernel cannot handle this call (e.g. a too-wide row), or None.
            Auto then falls back to torch; a forced ``"triton"`` raises ValueError with the reason.
    """
    if impl is None:
        on_cuda = bool(tensors) and all(t.is_cuda for t in tensors)
        return "triton" if on_cuda and unsupported is None and triton_installed() else "torch"
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {', '.join(IMPLS)} or None (auto), got {impl!r}")
    if impl == "triton":
        if not triton_installed():
            raise ValueError("impl='triton' needs the triton package, which is not installed")
        if unsupported is not None:
            raise ValueError(f"impl='triton' cannot run this call: {unsupported}")
        if not all(t.is_cuda for t in tensors):
            if not interpreting():
                raise ValueError(
                    "impl='triton' needs CUDA tensors (or TRITON_INTERPRET=1 to run the kernel on CPU tensors); "
                    f"got devices {sorted({str(t.device) for t in tensors})}"
                )
            fix_interpreter_for_numpy_2_4()
    return impl


def fix_interpreter_for_numpy_2_4() -> None:
    """Let triton 3.6's CPU interpreter run loops with run-time bounds under numpy >= 2.4.

    The interpreter turns a scalar argument (a 1-element array) into a Python int with ``int(array)``, which
    numpy 2.4 refuses ("only 0-dimensional arrays can be converted"); upstream issue triton-lang/triton#9171,
    fixed by #9172 after 3.6. We wrap the interpreter's tensor patching so ``__index__`` reads the single element
    explicitly. Idempotent; only ever called for interpreted (CPU) Triton calls.
    """
    import numpy as np
    from triton.runtime import interpreter

    if tuple(int(part) for part in np.__version__.split(".")[:2]) < (2, 4):
        return
    original = interpreter._patch_lang_tensor
    if getattr(original, "numpy_2_4_fix", False):
        return

    def patched(tensor, scope):
        original(tensor, scope)
        scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.reshape(-1)[0]))

    patched.numpy_2_4_fix = True
    interpreter._patch_lang_tensor = patched


def multiprocessor_count(device: torch.device) -> int:
    """Streaming multiprocessors of a CUDA device (launch sizing); 4 for the CPU interpreter."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).multi_processor_count
    return 4


def next_power_of_2(n: int) -> int:
    """Smallest power of two >= n (n >= 1)."""
    return 1 << max(0, (int(n) - 1).bit_length())
