"""Kernel tests run the Triton kernels in the CPU interpreter: TRITON_INTERPRET must be set before any Triton
kernel module is imported (triton reads it when a function is decorated), so it is set here, at collection."""

import os

os.environ["TRITON_INTERPRET"] = "1"
