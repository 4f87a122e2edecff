"""harness/config/overrides.py and the loader's handling of --set: values parsed as YAML, validated, blamed."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.loader import load_scenario, validate_file
from harness.config.overrides import OverrideError, apply_overrides, parse_override, split_path
from harness.errors import ScenarioError

EXAMPLE = Path(__file__).resolve().parents[3] / "scenarios" / "toy_example.yaml"


@pytest.mark.parametrize(
    ("text", "value"),
    [("a=8", 8), ("a=1e9", 1e9), ("a=2.5", 2.5), ("a=true", True), ("a=[1, 2]", [1, 2]), ("a={b: 1}", {"b": 1}),
     ("a=fifo", "fifo"), ("a='8'", "8"), ("a=", None), ("a=x=y", "x=y")],
)
def test_values_are_parsed_as_yaml(text, value):
    assert parse_override(text).value == value


def test_sweep_axes_keep_their_dotted_key():
    assert split_path("sweep.product.network.inter_node.bandwidth_gbps") == (
        "sweep", "product", "network.inter_node.bandwidth_gbps")
    assert split_path("network.inter_node.bandwidth_gbps") == ("network", "inter_node", "bandwidth_gbps")


@pytest.mark.parametrize("text", ["nokey", "=1", "a..b=1", ".a=1", "a.=1", "a. b=1", "a=[1", "a={", "a=2020-13-45",
                                  "a=\x01", "a=!!python/name:os.system"])
def test_malformed_overrides_are_rejected(text):
    with pytest.raises(OverrideError, match=r"^bad override "):
        parse_override(text)


def test_override_changes_the_value_and_leaves_the_input_alone():
    data = {"workload": {"n_messages": 3}}
    assert apply_overrides(data, ["workload.n_messages=5"]) == {"workload": {"n_messages": 5}}
    assert data == {"workload": {"n_messages": 3}}
    assert load_scenario(EXAMPLE, ["workload.n_messages=5", "cluster.nodes=4"]).workload.n_messages == 5


def test_later_overrides_win():
    assert load_scenario(EXAMPLE, ["seed=1", "seed=2"]).seed == 2


def test_nested_keys_are_created_and_the_model_decides():
    scenario = load_scenario(EXAMPLE, ["technique.params.schedule.warmup_steps=10", "timings.table_set=h100"])
    assert scenario.technique.params == {"schedule": {"warmup_steps": 10}}
    assert scenario.table_set == "h100"
    problems = validate_file(EXAMPLE, ["cluster.accelerators.count=8"])
    assert problems == [f"{EXAMPLE}: cluster.accelerators: no such key (allowed: device, devices_per_node, nodes) "
                        f"(set by --set cluster.accelerators.count=8)"]


def test_override_values_are_validated_and_blamed():
    assert validate_file(EXAMPLE, ["network.inter_node.bandwidth_gbps=-1"]) == [
        f"{EXAMPLE}: network.inter_node.bandwidth_gbps: expected a number > 0, got -1 "
        f"(set by --set network.inter_node.bandwidth_gbps=-1)"]


def test_bad_paths_and_bad_strings_name_the_override():
    assert validate_file(EXAMPLE, ["seed.x=1"]) == [
        f"{EXAMPLE}: bad override 'seed.x=1': seed is 0, not a mapping, so it has no key 'x'"]
    assert validate_file(EXAMPLE, ["oops", "a..b=2"]) == [
        f"{EXAMPLE}: bad override 'oops': expected key.path=value",
        f"{EXAMPLE}: bad override 'a..b=2': the key path 'a..b' has an empty or padded part"]


def test_an_override_can_add_a_sweep():
    scenario = load_scenario(EXAMPLE, ["sweep.product.workload.n_messages=[1, 2, 3]"])
    assert scenario.sweep.product == {"workload.n_messages": [1, 2, 3]}
    with pytest.raises(ScenarioError, match=r"sweep point 1 of 2 \(workload.n_messages=0\)"):
        load_scenario(EXAMPLE, ["sweep.product.workload.n_messages=[0, 2]"])
