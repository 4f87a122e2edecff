"""Tests run the Triton kernels in the CPU interpreter: TRITON_INTERPRET must be set before any Triton kernel
module is imported (triton reads it when a function is decorated). Any test module may import one (the timed-op
registry, the profiler), so it is set here, in the root conftest, before anything is collected."""

import os

os.environ["TRITON_INTERPRET"] = "1"
