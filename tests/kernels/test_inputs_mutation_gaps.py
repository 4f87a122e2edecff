"""Gaps in the tests of `kernels.inputs` found by a mutation audit.

Closed here: `device_generator` seeds from the next draw of the generator it is given, so two calls give two
different streams and the same profiler seed gives the same ones.
"""

from __future__ import annotations

import torch

from kernels.inputs import device_generator


def test_device_generators_follow_the_profiler_generator():
    gen = torch.Generator().manual_seed(0)
    first, second = device_generator(gen, "cpu"), device_generator(gen, "cpu")
    a, b = torch.randn(4, generator=first), torch.randn(4, generator=second)
    assert not torch.equal(a, b)
    again = torch.Generator().manual_seed(0)
    assert torch.equal(torch.randn(4, generator=device_generator(again, "cpu")), a)
    other = torch.Generator().manual_seed(1)
    assert not torch.equal(torch.randn(4, generator=device_generator(other, "cpu")), a)
