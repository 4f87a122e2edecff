"""Gaps in the tests of `harness.config.units` found by a mutation audit.

Closed here:
- a capital ``K`` is no unit prefix (``1KB``, ``1Kbit/s`` are unknown units; ``kB`` is 1000 bytes, ``KiB`` 1024);
- a list under the short name of a list-of-numbers unit key is converted item by item (a bare number there is a
  problem line);
- a sweep axis given under both its short and its full name is one problem line;
- `short_names` leaves out a short name two unit keys share, and one that is a field of its own.
"""

from __future__ import annotations

import pytest

from harness.config.blocks import Strict
from harness.config.units import SUFFIXES, UnitProblem, normalise_data, parse_quantity, short_names
from harness.workloads.toy import ToyScenario

UNIT = {item.suffix: item for item in SUFFIXES}


def test_a_capital_k_is_no_prefix():
    assert parse_quantity("1kB", UNIT["_bytes"]) == 1000
    assert parse_quantity("2KiB", UNIT["_bytes"]) == 2048
    with pytest.raises(UnitProblem, match=r"^unknown unit 'KB'; allowed units: B, kB, MB, GB, TB, KiB, MiB, GiB, TiB "):
        parse_quantity("1KB", UNIT["_bytes"])
    with pytest.raises(UnitProblem, match=r"^unknown unit 'Kbit/s'; "):
        parse_quantity("1Kbit/s", UNIT["_gbps"])


class _Keys(Strict):
    size_bytes: int = 0
    size_mb: float = 0.0
    latency_us: float = 0.0
    delay: float = 0.0
    delay_ms: float = 0.0
    name_s: str = ""


def test_short_names_leave_out_shared_and_existing_names():
    assert short_names(_Keys) == {"latency": "latency_us"}


class _Sizes(Strict):
    sizes_bytes: list[int] = []


def test_a_list_under_a_short_name_is_converted_item_by_item():
    assert normalise_data(_Sizes, {"sizes": ["1kB", "2KiB"]}) == ({"sizes_bytes": [1000, 2048]}, [])
    assert normalise_data(_Sizes, {"sizes": 3}) == (
        {"sizes": 3}, ["sizes: a number here needs a unit, e.g. '3B'; or write sizes_bytes: 3"])


def test_a_sweep_axis_under_both_names_is_one_problem():
    axes = {"network.inter_node.bandwidth": ["1Gbit/s"], "network.inter_node.bandwidth_gbps": [2]}
    data = {"sweep": {"product": axes}}
    _, problems = normalise_data(ToyScenario, data)
    assert problems == ["sweep.product.network.inter_node.bandwidth: given twice, as 'network.inter_node.bandwidth' "
                        "and as 'network.inter_node.bandwidth_gbps'; keep one"]
