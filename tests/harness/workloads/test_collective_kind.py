"""Scenario kind ``collective``: equals harness.sim's closed forms, nccl-tests bandwidth definitions, validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from harness.config.blocks import ClusterSpec, LinkSpec, NetworkSpec
from harness.sim.collectives import SUPPORTED_ALGORITHMS, LinkCost, collective_ns
from harness.sim.topology import Topology, topology_collective_ns
from harness.workloads.base import RunContext
from harness.workloads.collective import CollectiveScenario, CollectiveWorkload, bus_factor, run

SCENARIOS = Path(__file__).parents[3] / "scenarios"
PAIRS = [(op, alg) for op, algs in SUPPORTED_ALGORITHMS.items() for alg in algs]


def _scenario(op="all_reduce", algorithm="ring", size_bytes=1 << 20, nodes=2, per_node=4, model="closed_form",
              inter_gbps=100.0, intra_gbps=1600.0, latency_us=5.0) -> CollectiveScenario:
    return CollectiveScenario(
        name="c",
        cluster=ClusterSpec(nodes=nodes, devices_per_node=per_node, device="h100"),
        network=NetworkSpec(
            intra_node=LinkSpec(bandwidth_gbps=intra_gbps, latency_us=1.0),
            inter_node=LinkSpec(bandwidth_gbps=inter_gbps, latency_us=latency_us),
            model=model,
        ),
        workload=CollectiveWorkload(op=op, algorithm=algorithm, size_bytes=size_bytes),
    )


def _run(scenario):
    return run(scenario, RunContext(seed_seq=np.random.SeedSequence(0))).metrics.iloc[0]


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(PAIRS),
    st.integers(4, 1 << 30),  # at least one float32 element
    st.integers(1, 8),
    st.integers(1, 8),
    st.floats(1.0, 3200.0),
    st.floats(0.0, 50.0),
)
def test_closed_form_model_equals_the_topology_closed_form(pair, size_bytes, nodes, per_node, inter_gbps, latency_us):
    op, algorithm = pair
    scenario = _scenario(op, algorithm, size_bytes, nodes, per_node, inter_gbps=inter_gbps, latency_us=latency_us)
    row = _run(scenario)
    topology = Topology.from_config(scenario.cluster, scenario.network)
    assert row["time_ns"] == topology_collective_ns(op, algorithm, size_bytes, topology)
    assert row["n_ranks"] == nodes * per_node
    assert row["model"] == "closed_form"


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(PAIRS), st.integers(4, 1 << 30), st.integers(1, 16))
def test_one_node_equals_the_flat_alpha_beta_form(pair, size_bytes, per_node):
    op, algorithm = pair
    scenario = _scenario(op, algorithm, size_bytes, nodes=1, per_node=per_node)
    link = LinkCost.from_spec(scenario.network.intra_node)
    assert _run(scenario)["time_ns"] == collective_ns(op, algorithm, size_bytes, per_node, link)


@pytest.mark.parametrize(("op", "algorithm"), PAIRS)
def test_link_level_equals_closed_form(op, algorithm):
    closed = _run(_scenario(op, algorithm, 3 << 20, nodes=2, per_node=3))
    linked = _run(_scenario(op, algorithm, 3 << 20, nodes=2, per_node=3, model="link_level"))
    assert linked["model"] == "link_level"
    assert linked["time_ns"] == closed["time_ns"] > 0


@pytest.mark.parametrize(("op", "factor"), [("all_reduce", 2 * 7 / 8), ("reduce_scatter", 7 / 8), ("all_gather", 7 / 8), ("broadcast", 1.0), ("p2p", 1.0)])
def test_nccl_tests_bandwidths(op, factor):
    row = _run(_scenario(op, "ring", 1 << 26, nodes=2, per_node=4))
    assert row["algbw_gbps"] == pytest.approx(row["size_bytes"] * 8 / row["time_ns"])
    assert row["busbw_gbps"] == pytest.approx(row["algbw_gbps"] * factor)
    assert bus_factor(op, 8) == pytest.approx(factor)


def test_ring_busbw_approaches_the_bottleneck_link():
    # a large ring all-reduce is bandwidth-bound, so busbw approaches the slowest hop (100 Gbit/s) from below
    row = _run(_scenario("all_reduce", "ring", 1 << 30, nodes=4, per_node=8, inter_gbps=100.0))
    assert 95.0 < row["busbw_gbps"] <= 100.0


def test_one_rank_costs_nothing():
    row = _run(_scenario(nodes=1, per_node=1))
    assert row["time_ns"] == 0 and row["time_us"] == 0 and row["n_ranks"] == 1
    assert row["algbw_gbps"] == 0.0 and row["busbw_gbps"] == 0.0  # nothing crosses a link; never NaN


def test_unsupported_algorithm_is_a_validation_error():
    with pytest.raises(ValidationError, match=r"reduce_scatter has no 'tree' algorithm"):
        CollectiveWorkload(op="reduce_scatter", algorithm="tree", size_bytes=8)
    with pytest.raises(ValidationError):
        CollectiveWorkload(op="all_to_all", size_bytes=8)
    with pytest.raises(ValidationError):
        CollectiveWorkload(op="all_reduce", size_bytes=0)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([("float32", 4), ("bfloat16", 2), ("float16", 2)]), st.integers(1, 8))
def test_a_buffer_smaller_than_one_element_is_refused_naming_the_key(dtype_bytes, size_bytes):
    dtype, element = dtype_bytes
    if size_bytes >= element:
        assert CollectiveWorkload(size_bytes=size_bytes, dtype=dtype).size_bytes == size_bytes
        return
    with pytest.raises(ValidationError, match=rf"size_bytes: expected at least {element} bytes \(one {dtype} "
                                              rf"element\), got {size_bytes}"):
        CollectiveWorkload(size_bytes=size_bytes, dtype=dtype)


def _cli_errors(tmp_path, capsys, command: str, text: str) -> list[str]:
    """``harness <command>`` on a scenario file holding ``text``: exit 2 asserted, stderr's lines returned."""
    from harness.cli import main

    path = tmp_path / "tiny.yaml"
    path.write_text("name: tiny\nkind: collective\ncluster: {nodes: 1, devices_per_node: 2, device: h100}\n" + text)
    out = [] if command == "validate" else ["--out", str(tmp_path / "out")]
    assert main([command, str(path), *out]) == 2
    return capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize("command", ["validate", "run", "sweep"])
def test_too_small_a_buffer_is_one_line_and_exit_2_in_the_cli(tmp_path, capsys, command):
    err = _cli_errors(tmp_path, capsys, command, "workload: {op: all_reduce, size: 2B, dtype: float32}\n")
    assert len(err) == 1 and err[0].endswith(
        "workload.size_bytes: expected at least 4 bytes (one float32 element), got 2"), err


@pytest.mark.parametrize("command", ["validate", "sweep"])  # `harness run` runs the base point only
def test_a_sweep_point_with_too_small_a_buffer_is_refused_the_same_way(tmp_path, capsys, command):
    err = _cli_errors(tmp_path, capsys, command, "workload: {op: all_reduce, size_bytes: 1024, dtype: bfloat16}\n"
                      "sweep: {product: {workload.size_bytes: [1024, 1]}}\n")
    assert len(err) == 1 and err[0].endswith("sweep point 2 of 2 (workload.size_bytes=1): workload.size_bytes: "
                                             "expected at least 2 bytes (one bfloat16 element), got 1"), err


def test_example_files_validate_and_run_through_the_loader():
    from harness.config.loader import load_scenario, validate_file
    from harness.errors import ScenarioError

    for path in sorted(SCENARIOS.glob("collective_*.yaml")):
        assert validate_file(path) == [], path
    scenario = load_scenario(SCENARIOS / "collective_ring.yaml", ["cluster.nodes=1", "cluster.devices_per_node=2"],
                             check_points=False)  # the base point: cluster.nodes is a sweep axis
    assert _run(scenario)["n_ranks"] == 2
    with pytest.raises(ScenarioError, match=r"workload.*reduce_scatter has no 'tree'"):
        load_scenario(SCENARIOS / "collective_ring.yaml", overrides=["workload.op=reduce_scatter", "workload.algorithm=tree"])
