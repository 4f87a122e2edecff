"""Gaps in the tests of `harness.config.blocks` found by a mutation audit.

Closed here:
- ``ClusterSpec.n_devices`` is nodes x devices_per_node;
- ``LinkSpec.payload_gbps`` is bandwidth_gbps x protocol_efficiency;
- a name (it becomes a folder name) may not start with a dot, an underscore or a dash, nor hold a slash;
- `with_source` returns a copy: the scenario it is called on keeps its own source (or none), and the copy is
  equal to it (the file is no part of its identity);
- `table_set_of` is the table set of any kind that prices on a device (not only the cluster kinds): the
  ``timings.table_set`` given, else ``cluster.device``; None for a kind without a device;
- the JSON Schema of a kind lists its top-level keys in file order (``cluster`` before ``network``, though the
  network mixin is declared first);
- `in_file_order` puts the known top-level keys first in DESIGN.md's order, then any others as they came.
"""

from __future__ import annotations

import pytest

from harness.config.blocks import ClusterSpec, LinkSpec, in_file_order, table_set_of
from harness.config.loader import validate_data
from harness.errors import ScenarioError


def test_n_devices_is_nodes_times_devices_per_node():
    assert ClusterSpec(nodes=3, devices_per_node=4).n_devices == 12
    assert ClusterSpec().n_devices == 1


def test_payload_rate_is_bandwidth_times_protocol_efficiency():
    assert LinkSpec(bandwidth_gbps=100.0, latency_us=1.0, protocol_efficiency=0.5).payload_gbps == 50.0
    assert LinkSpec(bandwidth_gbps=100.0, latency_us=1.0).payload_gbps == 100.0


def test_in_file_order_puts_unknown_keys_last_in_their_own_order():
    mapping = {"zeta": 1, "tune": 2, "alpha": 3, "name": 4, "workload": 5}
    assert list(in_file_order(mapping)) == ["name", "workload", "tune", "zeta", "alpha"]


@pytest.mark.parametrize("name", [".hidden", "_x", "-a", "a/b"])
def test_a_name_that_is_no_plain_folder_name_is_refused(name):
    with pytest.raises(ScenarioError) as info:
        validate_data({"name": name, "kind": "toy"}, "f")
    assert info.value.problems == [f"f: name: expected a string matching ^[A-Za-z0-9][A-Za-z0-9_.-]*$, got {name!r}"]


def test_a_name_may_hold_dots_dashes_and_underscores_after_its_first_character():
    assert validate_data({"name": "a.b-c_1", "kind": "toy"}, "f").name == "a.b-c_1"


def test_with_source_leaves_the_original_alone():
    scenario = validate_data({"name": "a", "kind": "toy"}, "f")
    named = scenario.with_source("x.yaml")
    assert scenario.source_file is None
    assert named.source_file == "x.yaml" and named == scenario
    assert named.with_source("y.yaml").source_file == "y.yaml" and named.source_file == "x.yaml"


def test_table_set_of_a_device_kind_without_a_cluster():
    from harness.workloads.kv_decode import KVDecodeScenario

    scenario = KVDecodeScenario.model_validate({"name": "a", "kind": "kv_decode", "cluster": {"device": "h100"}})
    assert table_set_of(scenario) == "h100"
    assert table_set_of(scenario.model_copy(update={"timings": scenario.timings.model_copy(
        update={"table_set": "mine"})})) == "mine"
    assert table_set_of(validate_data({"name": "a", "kind": "toy"}, "f")) is None


def test_the_schema_lists_top_level_keys_in_file_order():
    from harness.workloads.collective import CollectiveScenario

    assert list(CollectiveScenario.model_json_schema()["properties"]) == [
        "name", "kind", "description", "seed", "cluster", "network", "workload", "timings", "sweep", "tune"]
