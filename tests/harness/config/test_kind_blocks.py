"""A kind accepts only the top-level blocks it reads: ``technique`` (the compressed kinds), ``failures`` and
``outputs`` (``fault_tolerant_training``) are declared by those kinds, ``cluster`` and ``timings`` by the kinds that
price compute on a device (``DeviceScenario``: ``cluster.device`` only; ``ClusterScenario``: the whole cluster and
``network``), ``network`` alone by ``toy``; every other kind refuses them like any unknown key (one line naming the
key, exit 2), and `harness explain` / `harness schema` show them only where read."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from harness.commands.explain import explain
from harness.config.blocks import ClusterScenario, DeviceScenario, NetworkBlock, OutputsSpec, ScenarioBase
from harness.config.loader import load_scenario
from harness.errors import ScenarioError
from harness.workloads import WORKLOADS, load_all
from tests.harness.cli_run import cli

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"
load_all()
OPTIONAL_BLOCKS = ("technique", "failures", "grid", "outputs")
MACHINE_BLOCKS = ("cluster", "network", "timings")
DEVICE_KINDS = {"decision_latency", "kv_decode", "pipeline_step"}  # one device type: cluster.device and timings
CLUSTER_KINDS = {"collective", "compressed_dp_step", "data_parallel_step", "fault_tolerant_training", "grid_cluster"}


def test_the_base_declares_none_of_the_optional_blocks():
    assert not set(OPTIONAL_BLOCKS) & set(ScenarioBase.model_fields)
    assert not set(MACHINE_BLOCKS) & set(ScenarioBase.model_fields)


def test_only_the_kinds_that_price_on_a_device_have_cluster_and_timings():
    blocks = {kind: {block for block in MACHINE_BLOCKS if block in WORKLOADS.get(kind).model.model_fields}
              for kind in WORKLOADS}
    for kind, declared in blocks.items():
        model = WORKLOADS.get(kind).model
        if kind in CLUSTER_KINDS:
            assert issubclass(model, ClusterScenario) and declared == {"cluster", "network", "timings"}, kind
            assert set(model.model_fields["cluster"].annotation.model_fields) == {"nodes", "devices_per_node",
                                                                                  "device"}
        elif kind in DEVICE_KINDS:
            assert issubclass(model, DeviceScenario) and not issubclass(model, NetworkBlock), kind
            assert declared == {"cluster", "timings"}, kind
            assert set(model.model_fields["cluster"].annotation.model_fields) == {"device"}
        elif kind == "toy":
            assert declared == {"network"} and not issubclass(model, DeviceScenario)
        else:
            assert declared == set(), f"{kind} declares {declared}"


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
    # cluster, network and timings only where the kind reads them
    ("toy_example.yaml", "cluster.nodes=2", "cluster"),
    ("toy_example.yaml", "timings.table_set=cpu", "timings"),
    ("moc/training.yaml", "timings.table_set=x", "timings"),
    ("moc/memory_profile.yaml", "timings.table_set=x", "timings"),
    ("moc/memory_profile.yaml", "cluster.device=h100", "cluster"),
    ("misa/finetune.yaml", "network.model=link_level", "network"),
    ("chelsea/decode_cpu.yaml", "cluster.nodes=2", "cluster.nodes"),  # one device type: cluster.device only
    ("chelsea/decode_cpu.yaml", "network.model=link_level", "network"),
    ("tahquant/speed_vs_bandwidth.yaml", "cluster.devices_per_node=8", "cluster.devices_per_node"),
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
                           (SCENARIOS / "mecefo" / "throughput.yaml", "failures.replicates=2"),
                           (SCENARIOS / "chelsea" / "decode_cpu.yaml", "cluster.device=h100"),
                           (SCENARIOS / "chelsea" / "decode_cpu.yaml", "timings.table_set=h100"),
                           (SCENARIOS / "tahquant" / "speed_vs_bandwidth.yaml", "cluster.device=cpu"),
                           (SCENARIOS / "toy_example.yaml", "network.model=link_level"),
                           (SCENARIOS / "collective_ops.yaml", "cluster.nodes=2")]:
        code, out, err = cli(capsys, "validate", path, "--set", override)
        assert code == 0 and err == "", err


def test_load_scenario_refuses_a_block_the_kind_does_not_read_with_one_line():
    for file, override, line in [
        ("moc/training.yaml", "timings.table_set=x", "timings: no such key (allowed: description, kind, name, seed, "
         "sweep, tune, workload) (set by --set timings.table_set=x)"),
        ("chelsea/decode_cpu.yaml", "cluster.nodes=2", "cluster.nodes: no such key (allowed: device) (set by --set "
         "cluster.nodes=2)"),
    ]:
        with pytest.raises(ScenarioError) as info:
            load_scenario(SCENARIOS / file, [override])
        assert info.value.problems == [f"{SCENARIOS / file}: {line}"]
    scenario = load_scenario(SCENARIOS / "chelsea" / "decode_cpu.yaml", ["cluster.device=h100"])
    assert scenario.cluster.device == "h100" and scenario.table_set == "h100"


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
    assert top_level_keys("collective") & set(MACHINE_BLOCKS) == {"cluster", "network", "timings"}
    assert top_level_keys("kv_decode") & set(MACHINE_BLOCKS) == {"cluster", "timings"}
    assert top_level_keys("toy") & set(MACHINE_BLOCKS) == {"network"}
    assert not top_level_keys("moc_training") & set(MACHINE_BLOCKS)


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
