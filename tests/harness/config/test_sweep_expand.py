"""harness/sweep.py: product x zip expansion, deterministic order, and checks of the sweep block."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.config.blocks import SweepSpec
from harness.errors import ScenarioError
from harness.sweep import expand, point_count
from harness.workloads.toy import ToyScenario

PRODUCT_AXES = ("seed", "network.inter_node.bandwidth_gbps", "network.inter_node.latency_us",
                "network.intra_node.latency_us")


def toy(**sweep) -> ToyScenario:
    return ToyScenario(name="t", sweep=SweepSpec(**sweep) if sweep else None)


@settings(max_examples=40, deadline=None)
@given(
    product_lengths=st.lists(st.integers(1, 3), max_size=len(PRODUCT_AXES)),
    zip_length=st.integers(0, 3),
    n_zipped=st.integers(1, 2),
)
def test_point_count_is_product_of_lengths_times_zip_length(product_lengths, zip_length, n_zipped):
    product = {axis: list(range(1, n + 1)) for axis, n in zip(PRODUCT_AXES, product_lengths)}
    zipped = {}
    if zip_length:
        zipped["workload.n_messages"] = list(range(1, zip_length + 1))
        if n_zipped == 2:
            zipped["workload.mean_size_bytes"] = [float(10 * i) for i in range(1, zip_length + 1)]
    scenario = toy(product=product, zip=zipped)
    points = expand(scenario)
    expected = math.prod(product_lengths) * (zip_length or 1)
    assert len(points) == expected == point_count(scenario.sweep)
    combos = {tuple(sorted(p.values.items())) for p in points}
    assert len(combos) == expected  # every combination exactly once
    assert [p.index for p in points] == list(range(expected))
    assert expand(scenario) == points  # deterministic
    for point in points:
        assert point.scenario.sweep is None
        for axis, value in point.values.items():
            node = point.scenario.model_dump()
            for key in axis.split("."):
                node = node[key]
            assert node == value
        if "workload.mean_size_bytes" in point.values:  # zipped axes step together
            assert point.values["workload.mean_size_bytes"] == 10.0 * point.values["workload.n_messages"]


def test_order_is_product_axes_in_file_order_then_zip_fastest():
    points = expand(toy(product={"seed": [1, 2]}, zip={"workload.n_messages": [3, 4], "workload.sleep_ms": [5, 6]}))
    assert [p.values for p in points] == [
        {"seed": 1, "workload.n_messages": 3, "workload.sleep_ms": 5.0},
        {"seed": 1, "workload.n_messages": 4, "workload.sleep_ms": 6.0},
        {"seed": 2, "workload.n_messages": 3, "workload.sleep_ms": 5.0},
        {"seed": 2, "workload.n_messages": 4, "workload.sleep_ms": 6.0},
    ]


def test_values_are_the_resolved_ones():
    (point,) = expand(toy(product={"network.inter_node.bandwidth_gbps": [10]}))
    assert point.values == {"network.inter_node.bandwidth_gbps": 10.0}
    assert isinstance(point.values["network.inter_node.bandwidth_gbps"], float)


def test_no_sweep_is_one_point_without_values():
    (point,) = expand(toy())
    assert point.values == {} and point.scenario == toy()


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ({"zip": {"workload.n_messages": [1, 2], "seed": [1]}}, "sweep.zip: expected lists of equal length"),
        ({"product": {"network.inter_node.gbps": [1]}}, "sweep.product.network.inter_node.gbps: no such key 'gbps'"),
        ({"product": {"cluster.nodes": [1]}}, "sweep.product.cluster.nodes: no such key 'cluster' in a 'toy' scenario"),
        ({"zip": {"timings.table_set": ["cpu"]}}, "sweep.zip.timings.table_set: no such key 'timings' in a 'toy' "),
        ({"product": {"kind": ["toy"]}}, "sweep.product.kind: 'kind' cannot be swept"),
        ({"product": {"seed": []}}, "sweep.product.seed: expected a non-empty list of values, got []"),
        ({"product": {"seed": [1]}, "zip": {"seed": [2]}}, "sweep.zip.seed: also an axis of sweep.product"),
        ({"product": {"network": [{}], "network.model": ["closed_form"]}}, "overlaps the axis network"),
    ],
)
def test_malformed_sweeps_are_rejected(sweep, message):
    with pytest.raises(ScenarioError) as info:
        expand(toy(**sweep))
    assert any(message in line for line in info.value.problems), info.value.problems


def test_the_first_failing_point_is_reported_with_its_values():
    with pytest.raises(ScenarioError) as info:
        expand(toy(product={"workload.n_messages": [2, 0, -1]}))
    assert info.value.problems == [
        "sweep point 2 of 3 (workload.n_messages=0): workload.n_messages: expected an integer > 0, got 0"]
