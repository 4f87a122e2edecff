"""`harness explain` and `harness schema`: every kind's keys shown; the JSON Schemas accept the shipped scenarios."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jsonschema
import pytest
from pydantic import BaseModel

from harness.cli import main
from harness.commands.explain import explain
from harness.commands.schema import COMBINED
from harness.config.overrides import parse_yaml_text
from harness.config.units import _models_in
from harness.workloads import WORKLOADS, load_all

ROOT = Path(__file__).resolve().parents[2]
load_all()
KINDS = list(WORKLOADS)


def _blocks(model: type[BaseModel], path: str) -> list[tuple[str, type[BaseModel]]]:
    """Every (dotted path, model) block inside ``model``, itself included."""
    found = [(path, model)]
    for key, field in model.model_fields.items():
        for member in _models_in(field.annotation):
            found.extend(_blocks(member, f"{path}.{key}"))
    return found


def _keys(text: str, title: str) -> set[str]:
    """The key column of every section titled ``title`` (a tagged union has one section per variant)."""
    keys: set[str] = set()
    lines = text.splitlines()
    for start, line in enumerate(lines):
        if line != title and not line.startswith(title + "  ("):
            continue
        section = lines[start + 1:]
        section = section[: section.index("")] if "" in section else section
        begin = next(i for i, row in enumerate(section) if row.split()[:2] == ["key", "type"])
        keys.update(row.split()[0] for row in section[begin + 1:])
    return keys


@pytest.mark.parametrize("kind", KINDS)
def test_explain_shows_every_key_of_every_block(kind):
    text = explain(kind)
    assert text.startswith(f"{kind}: ") and len(text.splitlines()[0]) > len(kind) + 20  # the kind's docstring
    for path, block in _blocks(WORKLOADS.get(kind).model, kind):
        assert set(block.model_fields) <= _keys(text, path), path


@pytest.mark.parametrize("kind", KINDS)
def test_explain_every_nested_block_on_its_own(kind):
    for path, block in _blocks(WORKLOADS.get(kind).model, kind):
        if path != kind:
            text = explain(path)
            assert text.startswith(path) and set(block.model_fields) <= _keys(text, path), path


def test_explain_row_has_type_unit_default_allowed_and_description():
    text = explain("collective.network.inter_node")
    row = next(line for line in text.splitlines() if line.strip().startswith("bandwidth_gbps"))
    assert row.split()[:6] == ["bandwidth_gbps", "number", "Gbit/s", "required", ">", "0"]
    assert "gigabits per second" in row
    sharing = next(line for line in text.splitlines() if line.strip().startswith("sharing"))
    assert '"fair"' in sharing and "fifo | fair" in sharing
    task = explain("compressed_training.workload.task")
    assert "(name: logistic)" in task and "(name: digits)" in task


def test_explain_calls_a_data_file_key_a_file_path():
    rows = {line.split()[0]: line for line in explain("fault_tolerant_training.failures").splitlines()
            if line.startswith("  ") and line.split()}
    assert rows["trace"].split()[1:4] == ["file", "path", "|"] and "file path | null" in rows["trace"]
    assert "string" not in rows["trace"].split("null")[0]
    assert rows["failing_fraction"].split()[1] == "number"  # an ordinary key keeps its type
    csv = next(line for line in explain("fault_tolerant_training.failures.cluster.repair").splitlines()
               if line.split()[:1] == ["csv"])
    assert csv.split()[1:5] == ["file", "path", "|", "null"]


@pytest.mark.parametrize(
    ("target", "words"),
    [("no_such_kind", "unknown scenario kind 'no_such_kind'; known: collective"),
     ("collective.netwrk", "collective has no key or block 'netwrk'; its blocks: cluster"),
     ("collective.netwrk.x", "collective has no block 'netwrk'; its blocks: cluster"),
     # a key's short unit name: its keys are listed (the line said only "its blocks: (none)")
     ("collective.network.inter_node.bandwidth", "inter_node has no key or block 'bandwidth'; its blocks: (none); "
                                                 "its keys: bandwidth_gbps, latency_us"),
     ("collective.network.inter_node.bandwidth_gbps.x", "is a key, not a block")],
)
def test_explain_unknown_target_exits_2_listing_known(capsys, target, words):
    assert main(["explain", target]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1


# ----------------------------------------------------------------------------------------- JSON Schema


@pytest.fixture(scope="module")
def schemas(tmp_path_factory):
    out = tmp_path_factory.mktemp("schemas")
    assert main(["schema", "--out", str(out)]) == 0
    return {path.name: json.loads(path.read_text()) for path in out.glob("*.schema.json")}


def _validator(schema):
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _shipped():
    return sorted(p for p in (ROOT / "scenarios").rglob("*.yaml") if "broken" not in p.relative_to(ROOT).parts)


def test_schema_files_per_kind_and_combined(schemas):
    assert set(schemas) == {f"{kind}.schema.json" for kind in KINDS} | {COMBINED}


@pytest.mark.parametrize("path", _shipped(), ids=lambda p: str(p.relative_to(ROOT / "scenarios")))
def test_schemas_accept_every_shipped_scenario(schemas, path):
    data = parse_yaml_text(path.read_text())
    assert not list(_validator(schemas[COMBINED]).iter_errors(data))
    assert not list(_validator(schemas[f"{data['kind']}.schema.json"]).iter_errors(data))


@pytest.mark.parametrize("name", ["unknown_key", "wrong_type", "negative_bandwidth", "unknown_kind", "not_a_mapping"])
def test_schema_rejects_broken_scenarios(schemas, name):
    data = parse_yaml_text((ROOT / "scenarios" / "broken" / f"{name}.yaml").read_text())
    assert list(_validator(schemas[COMBINED]).iter_errors(data))


HUMAN = """\
    name: human
    kind: collective
    network:
      inter_node: {bandwidth: 400Gbit/s, latency_us: 5us}
    workload: {op: all_reduce, size: 1GiB}
"""


def test_schema_accepts_human_units_and_rejects_both_forms(schemas):
    combined, kind = _validator(schemas[COMBINED]), _validator(schemas["collective.schema.json"])
    data = parse_yaml_text(textwrap.dedent(HUMAN))
    assert not list(combined.iter_errors(data)) and not list(kind.iter_errors(data))
    hours = {"name": "h", "kind": "fault_tolerant_training", "failures": {"horizon": "54d", "device": {"mtbf": "2d"}}}
    assert not list(_validator(schemas["fault_tolerant_training.schema.json"]).iter_errors(hours))
    data["workload"]["size_bytes"] = 8
    assert list(kind.iter_errors(data))
    del data["workload"]["size"], data["workload"]["size_bytes"]
    assert list(kind.iter_errors(data))  # the required size is missing in both forms


def test_schema_out_must_be_a_folder(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("")
    assert main(["schema", "--out", str(target)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
