"""harness/config/loader.py: reading, validating and reporting scenario files, one line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.loader import load_scenario, validate_file
from harness.errors import ScenarioError
from harness.workloads.toy import ToyScenario

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"
BROKEN = SCENARIOS / "broken"


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_valid_file_loads_into_the_kinds_model():
    scenario = load_scenario(SCENARIOS / "toy_example.yaml")
    assert isinstance(scenario, ToyScenario)
    assert scenario.network.inter_node.bandwidth_gbps == 25.0
    assert scenario.network.inter_node.sharing == "fifo"
    assert scenario.workload.n_messages == 8
    assert validate_file(SCENARIOS / "toy_example.yaml") == []


def test_seed_argument_replaces_the_files_seed():
    assert load_scenario(SCENARIOS / "toy_example.yaml", seed=41).seed == 41


def test_a_seed_argument_is_refused_where_a_sweep_axis_sets_the_seed():
    path = SCENARIOS / "misa" / "ablation.yaml"  # sweep.product.seed: [0, 1, 2]
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, seed=3)
    assert info.value.problems == [
        f"{path}: the seed given (3) would change nothing: seed is a sweep axis (sweep.product), which sets it at "
        "every point; change the axis instead (--set 'sweep.product.seed=[3]') or drop the sweep (--set sweep=null)"]
    # the base point alone (as harness run builds it): the seed given is that point's seed
    assert load_scenario(path, seed=3, check_points=False).seed == 3
    assert load_scenario(path, ["sweep=null"], seed=3).seed == 3


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        ("unknown_key.yaml", "cluster.gpus: no such key (allowed: device, devices_per_node, nodes)"),
        ("wrong_type.yaml", "workload.n_messages: expected an integer, got 'many'"),
        ("negative_bandwidth.yaml", "network.inter_node.bandwidth_gbps: expected a number > 0, got -5"),
        ("bad_yaml.yaml", "line 5, column 11: YAML syntax error: expected ',' or ']', but got ':' "
                          "(while parsing a flow sequence that starts at line 4, column 15)"),
        ("unknown_kind.yaml", "kind: expected one of "),
        ("not_a_mapping.yaml", "top level: expected a mapping of keys (name, kind, ...), got list"),
        ("unequal_zip.yaml", "sweep.zip: expected lists of equal length, got workload.n_messages: 3, "
                             "workload.mean_size_bytes: 2"),
        ("bad_sweep_path.yaml", "sweep.product.network.inter_node.bandwith_gbps: no such key 'bandwith_gbps' in a "
                                "'toy' scenario (network.inter_node allows: bandwidth_gbps, latency_us, protocol_efficiency, sharing)"),
        ("bad_sweep_point.yaml", "sweep point 3 of 4 (network.inter_node.bandwidth_gbps=0, workload.n_messages=1): "
                                 "network.inter_node.bandwidth_gbps: expected a number > 0, got 0"),
    ],
)
def test_each_broken_example_gives_one_precise_line(file, expected):
    path = BROKEN / file
    problems = validate_file(path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}: {expected}"), problems[0]


def test_unknown_kind_lists_the_known_kinds():
    (line,) = validate_file(BROKEN / "unknown_kind.yaml")
    assert "'toy'" in line and line.endswith("got 'no_such_kind'")


def test_missing_kind_and_missing_required_key(tmp_path):
    (line,) = validate_file(write(tmp_path, "name: a\n"))
    assert line.startswith(f"{tmp_path / 's.yaml'}: kind: missing required key (expected one of ") and "'toy'" in line
    (line,) = validate_file(write(tmp_path, "kind: toy\n"))
    assert line.endswith("name: missing required key (expected a string of length <= 100)")


def test_every_problem_of_a_file_is_reported(tmp_path):
    path = write(tmp_path, "name: a\nkind: collective\nseed: 1.5\ncluster: {nodes: 0}\n"
                           "workload: {size_bytes: -1, x: 1}\n"
                           "network: {inter_node: {bandwidth_gbps: 1, latency_us: 0, sharing: lifo}}\n")
    problems = [line.removeprefix(f"{path}: ") for line in validate_file(path)]
    assert problems == [  # in file order (DESIGN.md's list), whichever base class declares the block
        "seed: expected an integer, got 1.5",
        "cluster.nodes: expected an integer > 0, got 0",
        "network.inter_node.sharing: expected one of 'fifo', 'fair', got 'lifo'",
        "workload.size_bytes: expected an integer > 0, got -1",
        "workload.x: no such key (allowed: algorithm, dtype, op, size_bytes)",
    ]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "the file is empty; expected a mapping with at least 'name' and 'kind'"),
        (b"\xff\xfe\x00", "not UTF-8 text (byte 0xff at offset 0)"),
        (b"a: 1\nb: \x01\n", "line 2, column 4: YAML cannot contain the character U+0001"),
        (b"a: 2020-13-45\n", "line 1, column 4: cannot build a value from '2020-13-45' (month must be in 1..12)"),
        (b"just a string\n", "top level: expected a mapping of keys (name, kind, ...), got str 'just a string'"),
        (b"a: 1\n---\nb: 2\n", "line 2, column 1: YAML syntax error: a second document starts here; a scenario file holds exactly one"),
    ],
)
def test_unreadable_content_is_one_clean_line(tmp_path, content, expected):
    path = tmp_path / "s.yaml"
    path.write_bytes(content)
    (line,) = validate_file(path)
    assert line.startswith(f"{path}: {expected}"), line


def test_missing_file_and_folder(tmp_path):
    assert validate_file(tmp_path / "nope.yaml") == [f"{tmp_path / 'nope.yaml'}: no such file"]
    assert validate_file(tmp_path) == [f"{tmp_path}: is a folder, not a scenario file"]


def test_load_scenario_raises_scenario_error_with_the_problems():
    with pytest.raises(ScenarioError) as info:
        load_scenario(BROKEN / "negative_bandwidth.yaml")
    assert info.value.problems == validate_file(BROKEN / "negative_bandwidth.yaml")
    assert str(info.value) == info.value.problems[0]


def test_floats_in_exponent_form_without_a_dot(tmp_path):
    path = write(tmp_path, "name: a\nkind: compressed_dp_step\nworkload: {bucket_mb: 1e1}\n"
                 "technique: {name: topk, params: {ratio: 5e-3}}\n")
    scenario = load_scenario(path)
    assert scenario.workload.bucket_mb == 10.0
    assert scenario.technique.params == {"ratio": 0.005}  # a free-form mapping: no model turns '5e-3' into a float


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: a\nkind: toy\n1: 2\n", "1: keys must be names (strings), got the key 1"),
        ("name: a\nkind: toy\nsweep: {product: {seed: [!!binary '/w==']}}\n",
         "sweep.product.seed.0: expected plain data (numbers, strings, lists, mappings), got a YAML binary string"),
        ("name: a\nkind: toy\nsweep: {product: {seed: [!!set {x, y}]}}\n",
         "sweep.product.seed.0: expected plain data (numbers, strings, lists, mappings), got a YAML set"),
        ("? [a, b]\n: c\n", "line 1, column 3: YAML syntax error: found unhashable key"),
        ("!!python/object:os.system {}\n", "line 1, column 1: YAML syntax error: could not determine a constructor"),
        ("[" * 3000 + "]" * 3000, "YAML error: nested too deeply"),
    ],
)
def test_yaml_oddities_are_clean_problems(tmp_path, text, expected):
    path = write(tmp_path, text)
    problems = validate_file(path)
    assert problems and problems[0].startswith(f"{path}: {expected}"), problems
