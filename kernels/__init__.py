"""Triton kernels, their plain-torch references, and the registry of timed ops the profiler measures.

Importing this package never needs a GPU or Triton: each op falls back to its torch reference.
"""
