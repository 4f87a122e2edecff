"""Measured collective tables in scenarios: the ``collective``, ``data_parallel_step`` and ``compressed_dp_step``
kinds price closed-form collectives from ``<table set>/collectives/`` (exact -> interpolation -> fitted closed
form) where the table covers the op and rank count, the alpha-beta closed form otherwise, and count sources.

The tables are written to a temporary timings root; `measured_collectives` installs them as the executor does, and
one test goes through `harness.api` (the executor) to check run.json's ``collective_sources``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.config.blocks import ClusterSpec, LinkSpec, NetworkSpec, TechniqueSpec, TimingsSpec
from harness.errors import HarnessError
from harness.models.llama import LlamaDims
from harness.sim.collective_sim import simulate_collective_ns
from harness.sim.dp_step import assign_buckets
from harness.sim.topology import Topology, alpha_beta_collective_ns, topology_collective_ns
from harness.timing.collective_tables import (
    measured_collectives,
    open_table_pricer,
    write_collective_tables,
)
from harness.timing.replay import open_replay
from harness.workloads import collective, compressed_dp_step
from harness.workloads import data_parallel_step as dp
from harness.workloads.base import RunContext
from harness.workloads.toy import ToyScenario

ROOT = Path(__file__).parents[3]
TIMINGS = ROOT / "tests" / "data" / "timings"  # compute tables for the step kinds
TINY = LlamaDims(d_model=256, d_ff=512, n_heads=4, n_layers=2, vocab_size=512)
MIB = 1 << 20
# all-reduce over 4 ranks (2 nodes x 2): medians at 1, 4 and 16 MiB
MEASURED = {1 * MIB: 0.5, 4 * MIB: 1.25, 16 * MIB: 4.0}


def _frame(rows):
    frame = pd.DataFrame(rows, columns=["n_ranks", "devices_per_node", "size_bytes", "time_ms_median"])
    frame["impl"], frame["dtype"], frame["n_reps"] = "nccl", "float32", 5
    frame["time_ms_p10"] = frame["time_ms_median"] * 0.9
    frame["time_ms_p90"] = frame["time_ms_median"] * 1.1
    return frame


def _write(root: Path, table_set: str, rows) -> Path:
    write_collective_tables(root / table_set, {"all_reduce": _frame(rows)}, {"source": "test", "version": "1"})
    return root


@pytest.fixture
def root(tmp_path) -> Path:
    return _write(tmp_path, "meas", [(4, 2, size, ms) for size, ms in MEASURED.items()])


def _network(model="closed_form"):
    return NetworkSpec(intra_node=LinkSpec(bandwidth_gbps=100.0, latency_us=2.0),
                       inter_node=LinkSpec(bandwidth_gbps=10.0, latency_us=10.0), model=model)


def _collective(size_bytes, *, op="all_reduce", nodes=2, per_node=2, model="closed_form", table_set="meas"):
    return collective.CollectiveScenario(
        name="c", cluster=ClusterSpec(nodes=nodes, devices_per_node=per_node, device="h100"),
        network=_network(model), timings=TimingsSpec(table_set=table_set),
        workload=collective.CollectiveWorkload(op=op, size_bytes=size_bytes))


def _time_ns(scenario, root):
    with measured_collectives(scenario, timings_root=root) as pricer:
        row = collective.run(scenario, RunContext(seed_seq=np.random.SeedSequence(0))).metrics.iloc[0]
    return int(row["time_ns"]), pricer


def test_a_measured_size_gives_the_tables_median_exactly(root):
    for size, ms in MEASURED.items():
        time_ns, pricer = _time_ns(_collective(size), root)
        assert time_ns == round(ms * 1e6)
        assert pricer.info()["collective_sources"] == {"all_reduce": {"exact": 1}}


def test_between_measured_sizes_interpolates_linearly_in_size(root):
    time_ns, pricer = _time_ns(_collective(2 * MIB), root)
    assert time_ns == 750_000  # a third of the way from 0.5 ms (1 MiB) to 1.25 ms (4 MiB)
    assert pricer.summary() == {"all_reduce": {"interpolated": 1}}


def test_outside_the_measured_sizes_the_fitted_closed_form_takes_over(root):
    time_ns, pricer = _time_ns(_collective(64 * MIB), root)
    assert time_ns > 4_000_000 and pricer.summary() == {"all_reduce": {"closed_form_fit": 1}}


def test_uncovered_rank_count_or_op_keeps_the_alpha_beta_closed_form(root):
    for scenario in (_collective(4 * MIB, nodes=1, per_node=4),  # 4 ranks, but on one node: other rows
                     _collective(4 * MIB, nodes=4, per_node=2),  # 8 ranks: no rows
                     _collective(4 * MIB, op="all_gather")):  # no all_gather table
        time_ns, pricer = _time_ns(scenario, root)
        topology = Topology.from_config(scenario.cluster, scenario.network)
        assert time_ns == alpha_beta_collective_ns(scenario.workload.op, "ring", 4 * MIB, topology)
        assert pricer.summary() == {scenario.workload.op: {"closed_form": 1}}


@pytest.mark.parametrize("table_set", ["kernels_only", None])
def test_without_a_collectives_folder_nothing_changes(root, table_set):
    (root / "kernels_only").mkdir()  # a set with kernel tables only: no collectives/ folder
    scenario = _collective(4 * MIB, table_set=table_set)  # None: the device's own set h100, which has no folder
    assert open_table_pricer(scenario, timings_root=root) is None
    time_ns, pricer = _time_ns(scenario, root)
    topology = Topology.from_config(scenario.cluster, scenario.network)
    assert pricer is None and time_ns == alpha_beta_collective_ns("all_reduce", "ring", 4 * MIB, topology)
    # outside a run no pricer is installed, even for a scenario with tables
    assert topology_collective_ns("all_reduce", "ring", 4 * MIB, topology) == time_ns


def test_a_named_set_with_no_folder_is_refused_naming_the_key(root):
    with pytest.raises(HarnessError) as raised:
        open_table_pricer(_collective(4 * MIB, table_set="no_such_set"), timings_root=root)
    assert str(raised.value) == (f"timings.table_set: unknown table set 'no_such_set' (no folder "
                                 f"{root / 'no_such_set'}/); known: meas")
    with pytest.raises(HarnessError, match=r"^timings\.table_set: unknown table set 'no_such_set'"):
        with measured_collectives(_collective(4 * MIB, table_set="no_such_set"), timings_root=root):
            pass


def test_a_kind_without_timings_gets_no_pricer(root):
    _write(root, "cpu", [(1, 1, size, ms) for size, ms in MEASURED.items()])  # the default device's set has tables
    scenario = ToyScenario(name="t")  # no cluster.device and no timings: it reads no table set
    assert not hasattr(scenario, "timings")
    assert open_table_pricer(scenario, timings_root=root) is None
    with measured_collectives(scenario, timings_root=root) as pricer:
        assert pricer is None


def test_the_link_level_model_still_simulates_links(root):
    scenario = _collective(4 * MIB, model="link_level")
    time_ns, pricer = _time_ns(scenario, root)
    topology = Topology.from_config(scenario.cluster, scenario.network)
    assert time_ns == simulate_collective_ns("all_reduce", "ring", 4 * MIB, topology) != 1_250_000
    assert pricer.summary() == {}


def test_the_scenarios_dtype_picks_the_rows_when_a_table_holds_several(tmp_path):
    rows = _frame([(4, 2, MIB, 0.5), (4, 2, 4 * MIB, 1.25)])
    half = rows.assign(dtype="bfloat16", time_ms_median=rows["time_ms_median"] / 2,
                       time_ms_p10=rows["time_ms_p10"] / 2, time_ms_p90=rows["time_ms_p90"] / 2)
    write_collective_tables(tmp_path / "meas", {"all_reduce": pd.concat([rows, half])}, {"source": "test"})
    scenario = _collective(MIB)
    scenario = scenario.model_copy(update={"workload": scenario.workload.model_copy(update={"dtype": "bfloat16"})})
    assert _time_ns(scenario, tmp_path)[0] == 250_000


# ------------------------------------------------------------------------------------------- step kinds
LINEAR_ROWS = [(4, 2, size, 0.05 + size / 1e8) for size in (1024, 64 << 10, MIB, 16 * MIB)]  # on a line


def _linear_ns(size_bytes: float) -> int:
    return round((0.05 + size_bytes / 1e8) * 1e6)


def _dp_scenario(**workload):
    defaults = dict(model=TINY, micro_batch=1, seq_len=64, dtype="float32", bucket_mb=0.25, n_steps=2,
                    overlap=False)
    return dp.DataParallelScenario(
        name="dp", cluster=ClusterSpec(nodes=2, devices_per_node=2, device="cpu"), network=_network(),
        workload=dp.DataParallelWorkload(**{**defaults, **workload}))


def _ctx(scenario):
    return RunContext(seed_seq=np.random.SeedSequence(0), timings=open_replay(scenario, timings_root=TIMINGS))


def test_data_parallel_step_prices_its_all_reduces_from_the_table(tmp_path):
    root = _write(tmp_path, "cpu", LINEAR_ROWS)
    scenario = _dp_scenario()
    plain = dp.run(scenario, _ctx(scenario)).metrics
    with measured_collectives(scenario, timings_root=root) as pricer:
        measured = dp.run(scenario, _ctx(scenario)).metrics
    grad_bytes = dp.layer_times(scenario.workload, open_replay(scenario, timings_root=TIMINGS)).grad_bytes
    buckets = assign_buckets(list(grad_bytes), int(0.25 * MIB))
    expected_ns = sum(_linear_ns(b.size_bytes) for b in buckets)
    assert measured["comm_ms"].tolist() == pytest.approx([expected_ns / 1e6] * 2, abs=len(buckets) * 1e-6)
    assert measured["comm_ms"].iloc[0] != plain["comm_ms"].iloc[0]
    assert measured["compute_ms"].tolist() == plain["compute_ms"].tolist()  # compute is untouched
    sources = pricer.summary()["all_reduce"]
    assert set(sources) <= {"exact", "interpolated"}
    assert sum(sources.values()) == len({b.size_bytes for b in buckets})  # one price per distinct bucket


def test_data_parallel_step_without_tables_is_unchanged(tmp_path):
    (tmp_path / "cpu").mkdir()  # a table set without a collectives folder
    scenario = _dp_scenario(overlap=True)
    with measured_collectives(scenario, timings_root=tmp_path) as pricer:
        inside = dp.run(scenario, _ctx(scenario)).metrics
    assert pricer is None
    pd.testing.assert_frame_equal(inside, dp.run(scenario, _ctx(scenario)).metrics)


def test_compressed_dp_step_prices_covered_collectives_from_the_table(tmp_path):
    root = _write(tmp_path, "cpu", LINEAR_ROWS)

    def scenario(method, params):
        return compressed_dp_step.CompressedDPScenario(
            name="cdp", cluster=ClusterSpec(nodes=2, devices_per_node=2, device="cpu"), network=_network(),
            technique=TechniqueSpec(name=method, params=params),
            workload=compressed_dp_step.CompressedDPWorkload(model=TINY, micro_batch=1, seq_len=64,
                                                             dtype="float32", bucket_mb=0.25, n_steps=1))

    dense = scenario("none", {})
    with measured_collectives(dense, timings_root=root) as pricer:
        ours = compressed_dp_step.run(dense, _ctx(dense)).metrics.iloc[0]
    assert set(pricer.summary()) == {"all_reduce"}
    assert set(pricer.summary()["all_reduce"]) <= {"exact", "interpolated"}
    dp_scenario = _dp_scenario(n_steps=1)
    with measured_collectives(dp_scenario, timings_root=root):
        theirs = dp.run(dp_scenario, _ctx(dp_scenario)).metrics.iloc[0]
    assert ours["comm_ms"] == theirs["comm_ms"]  # dense equals data_parallel_step with tables too

    topk = scenario("topk", {"ratio": 0.2})  # all-gathers: no table, so the alpha-beta closed form
    with measured_collectives(topk, timings_root=root) as pricer:
        compressed_dp_step.run(topk, _ctx(topk))
    assert set(pricer.summary()) == {"all_gather"} and set(pricer.summary()["all_gather"]) == {"closed_form"}


def test_the_executor_records_collective_sources_in_run_json(tmp_path, monkeypatch):
    import harness.provenance
    from harness.api import run_scenario_file

    timings = _write(tmp_path / "timings", "meas", [(4, 2, size, ms) for size, ms in MEASURED.items()])
    monkeypatch.setattr(harness.provenance, "default_timings_root", lambda: timings)
    path = tmp_path / "c.yaml"
    path.write_text(
        "name: measured\nkind: collective\ncluster: {nodes: 2, devices_per_node: 2, device: h100}\n"
        "network:\n  intra_node: {bandwidth_gbps: 100, latency_us: 2}\n"
        "  inter_node: {bandwidth_gbps: 10, latency_us: 10}\n"
        "timings: {table_set: meas}\nworkload: {op: all_reduce, size_bytes: 4194304}\n"
    )
    result = run_scenario_file(path, results_root=tmp_path / "runs", progress=False)
    assert result.metrics["time_ns"].tolist() == [1_250_000]
    info = result.runs[0].info
    assert info["collective_sources"] == {"all_reduce": {"exact": 1}}
    assert info["collective_tables"]["table_set"] == "meas"
    assert info["collective_tables"]["ops"]["all_reduce"]["source"] == "test"
    assert str(tmp_path) not in repr(info)  # no machine paths in run.json's info
