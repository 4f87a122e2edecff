"""Gaps in the tests of `methods.compress.pipeline` found by a mutation audit.

Closes: `construction_params` writes a value that is no plain number, bool or string as its ``repr`` (so
``torch.load(weights_only=True)`` reads it); `aggregate` refuses as many gradient sets as pipelines, by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
import torch

from methods.compress import CompressionPipeline, SimulatedCollective, aggregate
from methods.compress.pipeline import construction_params


def test_construction_params_keeps_only_plain_values_and_writes_the_rest_as_repr():
    @dataclass
    class Part:
        dtype: object = torch.float16
        sizes: tuple = (1, 2)
        ratio: float = 0.5
        hidden: int = field(default=3, init=False)

    assert construction_params(Part()) == {"dtype": "torch.float16", "sizes": "(1, 2)", "ratio": 0.5}


def test_aggregate_refuses_fewer_gradient_sets_than_pipelines():
    workers = [CompressionPipeline.build("none", "none") for _ in range(2)]
    with pytest.raises(ValueError, match="2 pipelines but 1 gradient sets"):
        aggregate(workers, [{"w": torch.ones(3)}], step=0, collective=SimulatedCollective(2))
