"""Scenario kind ``data_parallel_step``: compute op by op from the replay, step = compute + comm without overlap,
the optimizer after the all-reduce, determinism, the same rows as simulating every step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from pydantic import ValidationError

from harness.config.blocks import ClusterSpec, LinkSpec, NetworkSpec, TimingsSpec
from harness.errors import HarnessError
from harness.cost.training_step import step_ops
from harness.models.llama import LLAMA_PRESETS, LlamaDims, parameter_count
from harness.timing.replay import open_replay
from harness.workloads.base import RunContext
from harness.workloads.data_parallel_step import DataParallelScenario, DataParallelWorkload, layer_times, run

ROOT = Path(__file__).parents[3]
TIMINGS = ROOT / "tests" / "data" / "timings"
# every dense GEMM of this model at 64 tokens lies on the fixture grid (m 64..256, n and k 256..512)
TINY = LlamaDims(d_model=256, d_ff=512, n_heads=4, n_layers=2, vocab_size=512)


def _scenario(*, device="cpu", nodes=2, per_node=2, network_model="closed_form", inter_gbps=10.0, outside_grid="interpolate",
              **workload) -> DataParallelScenario:
    defaults = dict(model=TINY, micro_batch=1, seq_len=64, dtype="float32", bucket_mb=0.25, n_steps=3)
    return DataParallelScenario(
        name="dp",
        cluster=ClusterSpec(nodes=nodes, devices_per_node=per_node, device=device),
        network=NetworkSpec(
            intra_node=LinkSpec(bandwidth_gbps=100.0, latency_us=2.0),
            inter_node=LinkSpec(bandwidth_gbps=inter_gbps, latency_us=10.0),
            model=network_model,
        ),
        timings=TimingsSpec(outside_grid=outside_grid),
        workload=DataParallelWorkload(**{**defaults, **workload}),
    )


def _run(scenario, seed=0):
    ctx = RunContext(seed_seq=np.random.SeedSequence(seed), timings=open_replay(scenario, timings_root=TIMINGS))
    return run(scenario, ctx)


def test_no_overlap_step_is_compute_plus_comm():
    out = _run(_scenario(overlap=False))
    m = out.metrics
    assert list(m.columns) == ["step", "step_time_ms", "compute_ms", "comm_ms", "exposed_comm_ms", "optimizer_ms",
                               "n_buckets"]
    assert list(m["step"]) == [0, 1, 2]
    assert (m["comm_ms"] > 0).all() and (m["n_buckets"] > 1).all()
    assert np.allclose(m["step_time_ms"], m["compute_ms"] + m["comm_ms"], rtol=0, atol=1e-9)
    assert np.allclose(m["exposed_comm_ms"], m["comm_ms"], rtol=0, atol=1e-9)


def test_overlap_hides_some_communication():
    on = _run(_scenario(overlap=True)).metrics.iloc[0]
    off = _run(_scenario(overlap=False)).metrics.iloc[0]
    assert on["compute_ms"] == off["compute_ms"] and on["comm_ms"] == off["comm_ms"]
    assert max(on["compute_ms"], on["comm_ms"]) <= on["step_time_ms"] + 1e-9
    assert on["step_time_ms"] < off["step_time_ms"]


def test_compute_is_the_sum_of_the_replayed_layer_times_and_the_optimizer():
    out = _run(_scenario())
    per_layer = sum(out.info["forward_ms_per_layer"]) + sum(out.info["backward_ms_per_layer"])
    optimizer_ms = out.metrics["optimizer_ms"].iloc[0]
    assert optimizer_ms > 0 and optimizer_ms == out.info["optimizer_ms"]
    assert out.metrics["compute_ms"].iloc[0] == pytest.approx(per_layer + optimizer_ms, abs=1e-6)
    assert sum(out.info["compute_ms_by_op"].values()) == pytest.approx(per_layer + optimizer_ms, rel=1e-6)
    assert out.info["grad_bytes_total"] == 4 * parameter_count(TINY)


def test_optimizer_choice_changes_only_the_optimizer_time():
    runs = {name: _run(_scenario(optimizer=name)).metrics.iloc[0] for name in ("none", "sgd_momentum", "adamw")}
    assert runs["none"]["optimizer_ms"] == 0
    # AdamW moves 7 values per parameter, SGD-momentum 5 (both on the roofline here: no optimizer tables)
    assert 0 < runs["sgd_momentum"]["optimizer_ms"] < runs["adamw"]["optimizer_ms"]
    for name, row in runs.items():
        assert row["step_time_ms"] - row["optimizer_ms"] == pytest.approx(
            runs["none"]["step_time_ms"], abs=1e-6), name


def test_timing_sources_are_counted_and_mixed():
    scenario = _scenario()
    out = _run(scenario)
    sources = out.info["timing_sources"]
    calls = step_ops(TINY, 1, 64, optimizer="adamw").calls()
    for op in {c.op for c in calls}:
        assert sum(sources[op].values()) == sum(1 for c in calls if c.op == op), op
    # dense projections hit measured rows; weight gradients (k = 64) are off the grid; ops without a table
    # (attention, norms, the optimizer ...) are roofline estimates
    assert sources["matmul"]["exact"] > 0 and sources["matmul"]["roofline"] > 0
    assert sources["sdpa_fwd"] == {"exact": 0, "interpolated": 0, "roofline": TINY.n_layers}
    assert out.info["timings"]["table_hashes"].keys() == {"copy", "matmul"}


def test_error_mode_refuses_a_model_off_the_grid():
    with pytest.raises(HarnessError, match=r"outside_grid=error\): op 'embedding_fwd' at tokens=64"):
        _run(_scenario(outside_grid="error"))


def test_same_seed_gives_identical_metrics():
    first = _run(_scenario(), seed=7).metrics
    assert list(first["step"]) == [0, 1, 2] and (first["step_time_ms"] > 0).all()  # three real steps
    assert _run(_scenario(), seed=7).metrics.to_csv(index=False) == first.to_csv(index=False)


def _every_step_simulated(scenario: DataParallelScenario):
    """The kind's former metrics: every step simulated (no `repeat_steady`), rows built one dict at a time."""
    from harness.sim.dp_step import simulate_dp_steps
    from harness.sim.topology import Topology

    w = scenario.workload
    times = layer_times(w, open_replay(scenario, timings_root=TIMINGS))
    records = simulate_dp_steps(list(times.forward_ns), list(times.backward_ns), list(times.grad_bytes),
                                int(w.bucket_mb * 2**20), Topology.from_config(scenario.cluster, scenario.network),
                                algorithm=w.algorithm, overlap=w.overlap, model=scenario.network.model,
                                n_steps=w.n_steps)
    opt = times.optimizer_ns
    return pd.DataFrame([{"step": i, "step_time_ms": (r.step_time_ns + opt) / 1e6,
                          "compute_ms": (r.compute_ns + opt) / 1e6, "comm_ms": r.comm_ns / 1e6,
                          "exposed_comm_ms": r.exposed_comm_ns / 1e6, "optimizer_ms": opt / 1e6,
                          "n_buckets": r.n_buckets} for i, r in enumerate(records)])


@pytest.mark.parametrize("seed", range(6))
def test_metrics_equal_those_of_simulating_every_step(seed):
    rng = np.random.default_rng(seed)
    scenario = _scenario(network_model=["closed_form", "link_level"][seed % 2], overlap=bool(rng.integers(2)),
                         nodes=int(rng.integers(1, 4)), per_node=int(rng.integers(1, 4)),
                         inter_gbps=float(rng.uniform(1, 100)), bucket_mb=float(rng.uniform(0.01, 2)),
                         algorithm=["ring", "tree"][int(rng.integers(2))], n_steps=int(rng.integers(1, 40)))
    assert_frame_equal(_run(scenario).metrics, _every_step_simulated(scenario), check_exact=True)


def test_link_level_equals_closed_form():
    closed = _run(_scenario(n_steps=2)).metrics
    linked = _run(_scenario(n_steps=2, network_model="link_level")).metrics
    assert closed.equals(linked)


def test_roofline_only_compute_is_at_least_six_flops_per_parameter_and_token(tmp_path):
    # no H100 tables here: every GEMM is a roofline estimate; each is >= flops / peak, and a step's GEMMs do
    # 6 FLOPs per matmul parameter per token (forward 2, backward 4) plus attention
    scenario = _scenario(device="h100", dtype="bfloat16", n_steps=1, model="llama-130m", micro_batch=4, seq_len=512)
    ctx = RunContext(seed_seq=np.random.SeedSequence(0), timings=open_replay(scenario, timings_root=tmp_path))
    out = run(scenario, ctx)
    dims = LLAMA_PRESETS["llama-130m"]
    matmul_params = dims.n_layers * (4 * dims.d_model**2 + 3 * dims.d_model * dims.d_ff) + dims.vocab_size * dims.d_model
    lower_ms = 1e3 * 6 * matmul_params * 4 * 512 / 731.65e12
    assert out.metrics["compute_ms"].iloc[0] >= lower_ms
    assert out.info["timing_sources"]["matmul"]["exact"] == 0
    assert out.info["timings"]["tables_missing"].endswith("does not exist")


def test_workload_validation():
    with pytest.raises(ValidationError, match=r"unknown model preset 'llama-3b'"):
        DataParallelWorkload(model="llama-3b")
    with pytest.raises(ValidationError):
        DataParallelWorkload(bucket_mb=0)
    for field, too_big in (("n_steps", 10**6 + 1), ("micro_batch", 65537), ("seq_len", (1 << 20) + 1)):
        with pytest.raises(ValidationError, match=field):
            DataParallelWorkload(**{field: too_big})
    with pytest.raises(ValidationError, match="optimizer"):
        DataParallelWorkload(optimizer="adam")
    assert DataParallelWorkload().optimizer == "adamw"
    explicit = DataParallelWorkload(model={"d_model": 64, "d_ff": 128, "n_heads": 2, "n_layers": 1})
    assert isinstance(explicit.model, LlamaDims) and explicit.model.vocab_size == 32000


def test_replay_is_required():
    with pytest.raises(HarnessError, match=r"needs the timing replay"):
        layer_times(DataParallelWorkload(), None)


def test_example_files_validate():
    from harness.config.loader import load_scenario, validate_file

    for path in sorted((ROOT / "scenarios").glob("dp_*.yaml")):
        assert validate_file(path) == [], path
    scenario = load_scenario(ROOT / "scenarios" / "dp_llama.yaml", overrides=["workload.model=llama-60m", "workload.n_steps=1"])
    assert scenario.workload.model == "llama-60m"


def test_a_bfloat16_scenario_uses_bfloat16_tables(tmp_path):
    import json
    import shutil

    import torch

    from kernels.ops import load_all_ops
    from kernels.profiler import TimerSettings, profile_op, write_tables

    folder = tmp_path / "cpu"
    shutil.copytree(TIMINGS / "cpu", folder)
    meta = json.loads((folder / "meta.json").read_text())
    fast, gen = TimerSettings(cpu_budget_s=0.0, cpu_min_reps=1, cpu_max_reps=1), torch.Generator().manual_seed(0)
    ops = load_all_ops()
    # the forward GEMMs and the norm of TINY at 64 tokens, measured in bf16 only
    measured = {
        "matmul": [{"m": 64, "n": n, "k": k} for n, k in ((256, 256), (512, 256), (256, 512))],
        "rmsnorm_fwd": [{"rows": 64, "dim": 256}],
    }
    tables = {name: (ops.get(name), profile_op(ops.get(name), "cpu", shapes, gen, fast, dtypes=["bfloat16"]))
              for name, shapes in measured.items()}
    write_tables(folder, "cpu", tables, meta["roofline"], meta["timer"])
    scenario = _scenario(dtype="bfloat16", n_steps=1)
    out = run(scenario, RunContext(np.random.SeedSequence(0), timings=open_replay(scenario, timings_root=tmp_path)))
    sources = out.info["timing_sources"]
    gemms = {(g["m"], g["n"], g["k"]) for g in measured["matmul"]}
    calls = step_ops(TINY, 1, 64).calls()
    assert sources["matmul"]["exact"] == sum(c.op == "matmul" and (c.shape["m"], c.shape["n"], c.shape["k"]) in gemms
                                             for c in calls) > 0
    assert sources["rmsnorm_fwd"] == {"exact": 2 * TINY.n_layers + 1, "interpolated": 0, "roofline": 0}
    assert sources["sdpa_fwd"]["roofline"] == TINY.n_layers  # no table: the roofline, counted as such
