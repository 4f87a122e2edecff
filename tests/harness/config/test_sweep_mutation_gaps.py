"""Gaps in the tests of `harness.sweep` found by a mutation audit.

Closed here:
- a sweep axis inside an earlier axis's block overlaps it, whichever of the two comes first.
"""

from __future__ import annotations

import pytest

from harness.config.loader import validate_data
from harness.errors import ScenarioError


@pytest.mark.parametrize("first_deeper", [True, False])
def test_an_axis_inside_another_axis_overlaps_it_in_either_order(first_deeper):
    deep = ("network.inter_node.latency_us", [1.0, 2.0])
    block = ("network.inter_node", [{"bandwidth_gbps": 10.0, "latency_us": 1.0}])
    axes = dict([deep, block] if first_deeper else [block, deep])
    with pytest.raises(ScenarioError) as info:
        validate_data({"name": "a", "kind": "toy", "sweep": {"product": axes}}, "f")
    later, earlier = (block[0], deep[0]) if first_deeper else (deep[0], block[0])
    assert info.value.problems == [f"f: sweep.product.{later}: overlaps the axis {earlier} (sweep.product)"]
