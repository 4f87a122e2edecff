"""Gaps in the tests of `methods.misa.active_set` found by a mutation audit.

- ``active`` lists exactly the parameters of the last `ActiveSetAdamW.activate`.
"""

from __future__ import annotations

import torch

from methods.misa.active_set import ActiveSetAdamW


def test_active_lists_the_last_activated_parameters():
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(3))
    opt = ActiveSetAdamW([a, b], lr=0.1)
    assert opt.active == []
    opt.activate([b, a])
    assert opt.active == [b, a]
    opt.activate([a])
    assert opt.active == [a] and not b.requires_grad
