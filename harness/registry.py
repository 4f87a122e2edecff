"""Re-export of `kernels.registry.Registry` (it lives in the lowest layer so every layer can use it)."""

from kernels.registry import Registry

__all__ = ["Registry"]
