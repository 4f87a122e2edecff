"""`harness.cost.live_bytes.LiveBytes`: the peak of op outputs alive at once, traced on the meta device."""

from __future__ import annotations

import torch

from harness.cost.live_bytes import LiveBytes


def _peak(module: torch.nn.Module, x: torch.Tensor) -> int:
    with torch.inference_mode(), LiveBytes() as tracker:
        module(x)
    return tracker.peak


def test_one_output_then_two_alive_at_once_and_views_and_in_place_ops_add_nothing():
    with torch.device("meta"):
        linear, x = torch.nn.Linear(1024, 4096), torch.empty(64, 1024)
        chain = torch.nn.Sequential(linear, torch.nn.ReLU())
        in_place = torch.nn.Sequential(linear, torch.nn.ReLU(inplace=True), torch.nn.Flatten(0))
    out = 64 * 4096 * 4
    assert _peak(linear, x) == out
    assert _peak(chain, x) == 2 * out  # the ReLU's output is made while the Linear's is alive
    assert _peak(in_place, x) == out  # in place, then a view: no new storage
