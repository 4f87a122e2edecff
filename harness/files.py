"""Re-export of `kernels.files` (atomic writes; it lives in the lowest layer so every layer can use it)."""

from kernels.files import write_atomic, write_text_atomic

__all__ = ["write_atomic", "write_text_atomic"]
