"""Gaps in the tests of `harness.cost.live_bytes` found by a mutation audit.

Closed here: an output freed leaves the live count (the one test never freed anything before its peak), the peak
is the most ever alive (not what is alive at the last allocation), and a view of an op output keeps that output's
storage alive after the output itself is gone.
"""

from __future__ import annotations

import torch

from harness.cost.live_bytes import LiveBytes

OUT = 64 * 4096 * 4  # a (64, 4096) float32 output


def _peak(module: torch.nn.Module, x: torch.Tensor) -> int:
    with torch.inference_mode(), LiveBytes() as tracker:
        module(x)
    return tracker.peak


class _ViewOfAFreedOutput(torch.nn.Module):
    def __init__(self, linear: torch.nn.Linear):
        super().__init__()
        self.linear = linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x)
        flat = y.flatten()  # a view: y's storage stays alive through it
        del y
        return torch.relu(flat)


def test_freed_outputs_leave_and_the_peak_is_the_most_ever_alive():
    with torch.device("meta"):
        x = torch.empty(64, 1024)
        wide_then_narrow = torch.nn.Sequential(torch.nn.Linear(1024, 4096), torch.nn.ReLU(),
                                               torch.nn.Linear(4096, 16), torch.nn.ReLU())
    # the wide linear's output, then its ReLU (2 OUT alive: the peak); the first freed, the narrow linear's
    # (64, 16) output (OUT + 4 KiB), the ReLU freed, the last ReLU (8 KiB)
    assert _peak(wide_then_narrow, x) == 2 * OUT


def test_a_view_keeps_a_freed_outputs_storage_alive():
    with torch.device("meta"):
        x, linear = torch.empty(64, 1024), torch.nn.Linear(1024, 4096)
    assert _peak(_ViewOfAFreedOutput(linear), x) == 2 * OUT
