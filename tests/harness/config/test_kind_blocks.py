"""A kind accepts only the top-level blocks it reads: ``technique`` (the compressed kinds), ``failures`` and
``outputs`` (``fault_tolerant_training``) are declared by those kinds, so every other kind refuses them like any
unknown key (one line naming the key, exit 2), and `harness explain` / `harness schema` show them only where read."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from harness.commands.explain import explain
from harness.config.blocks import OutputsSpec, ScenarioBase
from harness.workloads import WORKLOADS, load_all
from tests.harness.cli_run import cli

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"
load_all()
OPTIONAL_BLOCKS = ("technique", "failures", "grid", "outputs")


def test_the_base_declares_none_of_the_optional_blocks():
    assert not set(OPTIONAL_BLOCKS) & set(ScenarioBase.model_fields)


@pytest.mark.parametrize("kind", list(WORKLOADS))
def test_a_kind_declares_an_optional_block_only_if_its_module_reads_it(kind):
    entry = WORKLOADS.get(kind)
    source = inspect.getsource(inspect.getmodule(entry.run))
    for block in OPTIONAL_BLOCKS:
        if block in entry.model.model_fields:
            assert f"scenario.{block}" in source, f"{kind} declares {block} but never reads scenario.{block}"


@pytest.mark.parametrize(("file", "override", "key"), [
    ("dp_llama.yaml", "technique.name=powersgd", "technique"),
    ("dp_llama.yaml", "failures.enabled=true", "failures"),
    ("dp_llama.yaml", "grid.enabled=true", "grid"),
    ("collective_ring.yaml", "failures.mtbf_h=0.001", "failures"),
    ("collective_ring.yaml", "technique.name=bogus", "technique"),
    ("toy_example.yaml", "outputs.traces=true", "outputs"),
])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_block_the_kind_does_not_read_is_refused_naming_it(capsys, tmp_path, file, override, key, command):
    path = SCENARIOS / file
    argv = [command, path, "--set", override] + (["--out", tmp_path / "runs"] if command == "run" else [])
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == "" and len(err.splitlines()) == 1, err
    assert err.removeprefix("error: ").startswith(f"{path}: {key}: no such key (allowed: "), err
    assert not (tmp_path / "runs").exists()


def test_the_kinds_that_read_a_block_still_accept_it(capsys, tmp_path):
    compressed = tmp_path / "c.yaml"
    compressed.write_text("name: c\nkind: compressed_dp_step\n")
    for path, override in [(compressed, "technique={name: topk, params: {ratio: 0.1}}"),
                           (SCENARIOS / "mecefo" / "throughput.yaml", "outputs.traces=true"),
                           (SCENARIOS / "mecefo" / "throughput.yaml", "failures.replicates=2")]:
        code, out, err = cli(capsys, "validate", path, "--set", override)
        assert code == 0 and err == "", err


def test_explain_lists_only_the_blocks_a_kind_reads():
    def top_level_keys(kind: str) -> set[str]:
        lines = explain(kind).splitlines()
        start = lines.index(kind) + 1
        section = lines[start + 2: lines.index("", start)]  # after the kind's docstring line and the header row
        return {row.split()[0] for row in section}

    assert not top_level_keys("collective") & set(OPTIONAL_BLOCKS)
    assert not top_level_keys("data_parallel_step") & set(OPTIONAL_BLOCKS)
    assert top_level_keys("compressed_dp_step") & set(OPTIONAL_BLOCKS) == {"technique"}
    assert top_level_keys("fault_tolerant_training") & set(OPTIONAL_BLOCKS) == {"failures", "outputs"}


def test_schema_refuses_a_block_the_kind_does_not_read(tmp_path, capsys):
    import json

    import jsonschema

    code, _, _ = cli(capsys, "schema", "--out", tmp_path)
    assert code == 0
    schema = json.loads((tmp_path / "collective.schema.json").read_text())
    data = {"name": "a", "kind": "collective", "workload": {"op": "all_reduce", "size_bytes": 8}}
    validator = jsonschema.Draft202012Validator(schema)
    assert not list(validator.iter_errors(data))
    assert list(validator.iter_errors({**data, "technique": {"name": "topk"}}))


def test_outputs_traces_says_where_the_timeline_goes():
    text = OutputsSpec.model_fields["traces"].description
    assert "run.json" in text and "info.timeline" in text
