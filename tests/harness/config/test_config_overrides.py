"""harness/config/overrides.py and the loader's handling of --set: values parsed as YAML, validated, blamed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.config.loader import load_scenario, validate_file
from harness.config.overrides import OverrideError, apply_overrides, axis_override_problems, parse_override, split_path
from harness.errors import ScenarioError
from tests.harness.cli_run import cli

EXAMPLE = Path(__file__).resolve().parents[3] / "scenarios" / "toy_example.yaml"
OPS = EXAMPLE.parent / "collective_ops.yaml"  # a cluster kind; sweeps workload.op only


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
    assert load_scenario(EXAMPLE, ["workload.n_messages=5", "network.model=link_level"]).workload.n_messages == 5
    scenario = load_scenario(OPS, ["workload.size_bytes=5", "cluster.nodes=2"])
    assert (scenario.workload.size_bytes, scenario.cluster.nodes) == (5, 2)


def test_later_overrides_win():
    assert load_scenario(EXAMPLE, ["seed=1", "seed=2"]).seed == 2


def test_nested_keys_are_created_and_the_model_decides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: c\nkind: collective\nworkload: {size_bytes: 1024}\n")  # no cluster, no timings
    scenario = load_scenario(path, ["cluster.devices_per_node=4", "timings.table_set=h100"])
    assert scenario.cluster.devices_per_node == 4
    assert scenario.table_set == "h100"
    problems = validate_file(path, ["cluster.accelerators.count=8"])
    assert problems == [f"{path}: cluster.accelerators: no such key (allowed: device, devices_per_node, nodes) "
                        f"(set by --set cluster.accelerators.count=8)"]
    # a kind without the block refuses it whole, naming the override that made it
    assert validate_file(EXAMPLE, ["cluster.devices_per_node=4"]) == [
        f"{EXAMPLE}: cluster: no such key (allowed: description, kind, name, network, seed, sweep, tune, workload) "
        f"(set by --set cluster.devices_per_node=4)"]


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


# ------------------------------------------------------------ --set on a key that a sweep axis or the tune stage sets
RING = EXAMPLE.parent / "collective_ring.yaml"  # sweeps cluster.nodes and workload.size_bytes
TOY_SWEEP = EXAMPLE.parent / "toy_sweep.yaml"  # sweeps network.inter_node.bandwidth_gbps (product), zips workload.*


@pytest.mark.parametrize("command", ["validate", "sweep"])
def test_set_on_a_sweep_axis_is_refused_naming_the_key_and_the_axis(capsys, tmp_path, command):
    argv = [command, RING, "--set", "cluster.nodes=3"] + (["--out", tmp_path / "runs"] if command == "sweep" else [])
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == "" and len(err.splitlines()) == 1, err
    assert err.removeprefix("error: ").rstrip("\n") == (
        f"{RING}: bad override 'cluster.nodes=3': cluster.nodes is a sweep axis (sweep.product), which sets it at "
        "every point; change the axis instead (--set 'sweep.product.cluster.nodes=[3]') or drop the sweep "
        "(--set sweep=null)")
    assert not (tmp_path / "runs").exists()


def test_changing_the_axis_or_dropping_the_sweep_is_accepted(capsys):
    code, out, _ = cli(capsys, "validate", RING, "--set", "sweep.product.cluster.nodes=[3]")
    assert code == 0 and "(kind collective, 5 points)" in out
    code, out, _ = cli(capsys, "validate", RING, "--set", "sweep=null", "--set", "cluster.nodes=3")
    assert code == 0 and "(kind collective, 1 point)" in out


def test_run_takes_a_set_on_a_swept_key_for_its_base_point(capsys, tmp_path):
    code, out, err = cli(capsys, "run", TOY_SWEEP, "--set", "network.inter_node.bandwidth_gbps=5", "--out", tmp_path)
    assert code == 0, err
    (run_json,) = (tmp_path / "toy_sweep").glob("*/run.json")
    assert json.loads(run_json.read_text())["scenario"]["network"]["inter_node"]["bandwidth_gbps"] == 5


@pytest.mark.parametrize(("override", "words"), [
    ("workload.n_messages=4", "workload.n_messages is a sweep axis (sweep.zip), which sets it at every point; change "
                              "the axis instead (--set 'sweep.zip.workload.n_messages=[4]')"),
    ("network.inter_node={bandwidth_gbps: 5, latency_us: 1}",
     "network.inter_node.bandwidth_gbps is a sweep axis (sweep.product), which sets it at every point; change the "
     "axis instead (--set 'sweep.product.network.inter_node.bandwidth_gbps=[...]')"),
])
def test_a_set_that_reaches_an_axis_is_one_problem_line(override, words):
    assert validate_file(TOY_SWEEP, [override]) == [f"{TOY_SWEEP}: bad override {override!r}: {words} or drop the "
                                                    "sweep (--set sweep=null)"]


def test_axis_override_problems():
    data = {"seed": 3, "technique": {"name": "topk", "params": {"ratio": 0.1}}, "cluster": {"nodes": 2},
            "sweep": {"zip": {"technique.params": [{}, {"ratio": 0.2}]}, "product": {"cluster.nodes": [1, 2]}},
            "tune": {"axis": "seed"}}
    inside = axis_override_problems(data, ["technique.params.ratio=0.1"])
    assert inside == ["bad override 'technique.params.ratio=0.1': technique.params.ratio (inside the axis "
                      "technique.params) is a sweep axis (sweep.zip), which sets it at every point; change the axis "
                      "instead (--set 'sweep.zip.technique.params=[...]') or drop the sweep (--set sweep=null)"]
    assert axis_override_problems(data, ["technique.name=topk", "cluster={devices_per_node: 4}",
                                         "sweep.product.cluster.nodes=[1]", "tune.values=[1, 2]"]) == []
    assert axis_override_problems(data, ["cluster.nodes=2"], sweep_axes=False) == []
    assert axis_override_problems(data, ["seed=3"], sweep_axes=False) == [
        "bad override 'seed=3': seed is tune.axis, which the tune stage sets at every point; change the candidates "
        "instead (--set 'tune.values=[...]') or drop the stage (--set tune=null)"]


@pytest.mark.parametrize("command", ["validate", "run", "sweep"])
def test_set_on_the_tune_axis_is_refused_by_every_command(capsys, tmp_path, command):
    path = tmp_path / "t.yaml"
    path.write_text("name: t\nkind: toy\ntune: {axis: seed, values: [1, 2], metric: size_bytes}\n")
    argv = [command, path, "--set", "seed=5"] + (["--out", tmp_path / "runs"] if command != "validate" else [])
    code, _, err = cli(capsys, *argv)
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.removeprefix("error: ").startswith(f"{path}: bad override 'seed=5': seed is tune.axis, ")
    assert not (tmp_path / "runs").exists()
