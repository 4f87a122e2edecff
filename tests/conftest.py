"""Tests run the Triton kernels in the CPU interpreter: TRITON_INTERPRET must be set before any Triton kernel
module is imported (triton reads it when a function is decorated). Any test module may import one (the timed-op
registry, the profiler), so it is set here, in the root conftest, before anything is collected.

Hypothesis draws the same examples on every run (profile ``derandomized``), so the suite's verdict does not
change from one run to the next; ``HYPOTHESIS_PROFILE=explore`` draws new ones (for hunting cases locally)."""

import os

os.environ["TRITON_INTERPRET"] = "1"

from hypothesis import settings  # noqa: E402

settings.register_profile("derandomized", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "derandomized"))
