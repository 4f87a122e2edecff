"""The decision_latency kind (harness/workloads/decision_latency.py): counted evaluations per action, per-call
time from the compute model and from measurement, the SimPy control loop's misses, and bad input named by key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from harness.timing.replay import open_replay
from harness.workloads.base import RunContext
from harness.workloads.decision_latency import (MAX_MEASURED_BYTES, MEASURED_SLACK, ControlSpec,
                                                DecisionLatencyScenario, measured_bytes, run, simulate_control_loop,
                                                traced_gemms)

ROOT = Path(__file__).resolve().parents[3]


def _scenario(**workload) -> DecisionLatencyScenario:
    return DecisionLatencyScenario.model_validate({"name": "t", "workload": workload})


def _run(scenario: DecisionLatencyScenario):
    return run(scenario, RunContext(seed_seq=np.random.SeedSequence(0), timings=open_replay(scenario)))


def test_compute_model_rows_counts_and_speedup():
    scenario = _scenario(batch_sizes=[1, 8], control={"ticks": 200})
    m = _run(scenario).metrics
    assert len(m) == 8
    one = m[m["batch"] == 1].set_index("method")
    assert one["nfe"].to_dict() == {"edm_heun80": 159, "ddpm100": 100, "ddim20": 20, "ractd_student": 1}
    assert np.allclose(one["action_latency_ms"], one["nfe"] * one["per_call_ms"])
    ratio = one.loc["edm_heun80", "per_call_ms"] / one.loc["ractd_student", "per_call_ms"]
    assert one.loc["ractd_student", "speedup_vs_first"] == pytest.approx(159 * ratio)
    assert (m.groupby("method")["per_call_ms"].apply(lambda s: s.is_monotonic_increasing)).all()  # bigger batch
    assert one.loc["ractd_student", "deadline_miss_fraction"] == 0.0  # ~2 ms per action at 125 Hz (8 ms)
    assert one.loc["edm_heun80", "deadline_miss_fraction"] == 1.0


def test_traced_gemms_cover_every_weight_of_the_mlp():
    import torch

    from methods.offline_rl.networks import build_network

    with torch.device("meta"):
        net = build_network("toy_mlp", act_dim=3, obs_dim=11, horizon=16)
        calls, launches = traced_gemms(net, (torch.zeros(2, 16, 3), torch.zeros(2), torch.zeros(2, 11), None), "cpu")
    linear_weights = sum(m.weight.numel() for m in net.modules() if isinstance(m, torch.nn.Linear))
    assert sum(c.shape["n"] * c.shape["k"] for c in calls) == linear_weights
    assert all(c.shape["m"] == 2 for c in calls) and launches > len(calls)


def test_measured_source_times_the_real_network():
    out = run(_scenario(model={"preset": "toy_mlp"}, per_call={"source": "measured", "repeats": 3},
                        methods=[{"name": "t", "sampler": "ddim", "steps": 4},
                                 {"name": "s", "sampler": "student", "steps": 1}], control={"ticks": 50}),
              RunContext(seed_seq=np.random.SeedSequence(0)))
    assert out.info["per_call"]["source"] == "measured"
    assert (out.metrics["per_call_ms"] > 0).all() and list(out.metrics["nfe"]) == [4, 1]


def test_control_loop_misses():
    rng = np.random.default_rng(0)
    fast = simulate_control_loop(2.0, ControlSpec(rate_hz=100, ticks=300, compute_jitter_cv=0.0), rng)
    assert fast["deadline_miss_fraction"] == 0.0 and fast["latency_p99_ms"] == pytest.approx(2.0)
    slow = simulate_control_loop(25.0, ControlSpec(rate_hz=100, ticks=300, compute_jitter_cv=0.0), rng)
    assert slow["deadline_miss_fraction"] == 1.0
    assert slow["skipped_fraction"] == pytest.approx(1 - 10 / 25, abs=0.02)  # one decision per 25 ms
    edge = simulate_control_loop(9.0, ControlSpec(rate_hz=100, ticks=2000, compute_jitter_cv=0.2), rng)
    assert 0.1 < edge["deadline_miss_fraction"] < 0.7  # lognormal spread pushes some decisions past 10 ms
    jittered = simulate_control_loop(
        6.0, ControlSpec(rate_hz=100, ticks=2000, compute_jitter_cv=0.0, arrival_jitter_ms=6.0), rng)
    assert 0.05 < jittered["deadline_miss_fraction"] < 0.8  # a late observation leaves less than 6 ms


@pytest.mark.parametrize("workload, key", [
    ({"methods": [{"name": "a", "sampler": "euler", "steps": 3}]}, "sampler"),
    ({"methods": [{"name": "a", "sampler": "student", "steps": 2}]}, "steps"),
    ({"methods": [{"name": "a", "sampler": "ddim"}, {"name": "a", "sampler": "ddpm"}]}, "listed twice"),
    ({"model": {"horizon": 6}}, "horizon"),
    ({"model": {"preset": "huge"}}, "preset"),
    ({"control": {"rate_hz": 0}}, "rate_hz"),
])
def test_bad_input_is_named(workload, key):
    with pytest.raises(ValidationError, match=key):
        _scenario(**workload)


def test_cli_exits_2_with_one_line(tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: t\nkind: decision_latency\nworkload:\n  per_call:\n    source: stopwatch\n")
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(scenario), "--out", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "workload.per_call.source" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("sampler", ["heun", "ddim", "ddpm"])
def test_a_teacher_sampler_needs_two_bins_at_validation(sampler):
    from harness.config.loader import validate_data
    from harness.errors import ScenarioError

    override = f"workload.methods=[{{name: a, sampler: {sampler}, steps: 1}}]"
    with pytest.raises(ScenarioError, match=r"workload\.methods\.0\.steps: .*at least 2 bins") as err:
        validate_data({"name": "t", "kind": "decision_latency"}, "s.yaml", [override])
    assert len(err.value.problems) == 1
    two = _scenario(methods=[{"name": "a", "sampler": sampler, "steps": 2}], control={"ticks": 5})
    assert _run(two).metrics["nfe"].iloc[0] == (3 if sampler == "heun" else 2)


def test_the_batch_bound_is_in_the_schema():
    props = DecisionLatencyScenario.model_json_schema()["$defs"]["DecisionLatencyWorkload"]["properties"]
    assert props["batch_sizes"]["items"]["maximum"] == 65_536
    with pytest.raises(ValidationError, match="less than or equal to 65536"):
        _scenario(batch_sizes=[65_537])
    with pytest.raises(ValidationError, match="distinct"):
        _scenario(batch_sizes=[4, 4])


def test_evaluations_are_counted_on_a_stand_in_of_one_step_and_action(monkeypatch):
    """The count depends on the sampler and its bins only: the planner samples a 1 x 1 x 1 plan whatever the model's
    sizes (at a 4096 x 1024 plan 10,000 bins took minutes), and counts every evaluation it makes."""
    import methods.offline_rl.planner as planner
    from methods.offline_rl.edm import sampler_evaluations

    shapes = []
    real = planner.sample

    def spy(denoiser, shape, *args, **kwargs):
        shapes.append(tuple(shape))
        return real(denoiser, shape, *args, **kwargs)

    monkeypatch.setattr(planner, "sample", spy)
    methods = [{"name": "h", "sampler": "heun", "steps": 7}, {"name": "p", "sampler": "ddpm", "steps": 5},
               {"name": "i", "sampler": "ddim", "steps": 5}, {"name": "s", "sampler": "student", "steps": 1},
               {"name": "h2", "sampler": "heun", "steps": 7}]
    scenario = _scenario(methods=methods, model={"preset": "toy_mlp", "horizon": 4096, "obs_dim": 4096,
                                                 "act_dim": 1024}, control={"ticks": 5})
    out = _run(scenario)
    assert shapes == [(1, 1, 1)] * 3  # one count per sampler and bins: the second heun 7 reuses the first
    assert out.info["nfe_counted"] == {"h": sampler_evaluations("heun", 7), "p": 5, "i": 5, "s": 1, "h2": 13}


HUGE = ["workload.model={preset: paper, horizon: 4096, act_dim: 1024, obs_dim: 4096}", "workload.batch_sizes=[65536]"]


def test_a_measured_source_too_big_for_this_machine_is_refused_at_validation_in_one_line():
    import resource

    from harness.config.loader import validate_data
    from harness.errors import ScenarioError

    grown_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ScenarioError) as err:
        validate_data({"name": "t", "kind": "decision_latency"}, "s.yaml", [*HUGE, "workload.per_call.source=measured"])
    (line,) = err.value.problems
    assert "\n" not in line and line.startswith("s.yaml: workload.per_call.source: measured would build the paper")
    assert "about 5,5" in line and "more than the 8 GiB" in line and "batch_sizes" in line and "compute_model" in line
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - grown_before < 2**20  # KiB: traced, not built
    validate_data({"name": "t", "kind": "decision_latency"}, "s.yaml", HUGE)  # the compute model prices it


def test_the_measured_bound_applies_to_the_largest_batch():
    params, forward = measured_bytes("paper", 11, 3, 16, 1)
    assert params > 2 * 0.9 * 2**30  # two copies of the 247M-parameter U-Net in fp32
    assert measured_bytes("paper", 11, 3, 16, 2)[1] == pytest.approx(2 * forward, rel=0.01)
    assert MEASURED_SLACK * (params + 8192 * forward) < MAX_MEASURED_BYTES < MEASURED_SLACK * (params + 32768 * forward)
    measured = {"source": "measured"}
    _scenario(model={"preset": "paper"}, batch_sizes=[1, 8192], per_call=measured)
    with pytest.raises(ValidationError, match="run batch 32768 at horizon 16"):
        _scenario(model={"preset": "paper"}, batch_sizes=[32768, 1], per_call=measured)
