"""Mutation-audit gaps of the two RACTD kinds (harness/workloads/decision_latency.py, offline_rl.py), closed with
hand-traced control loops, hand-counted GEMMs and small runs: the SimPy loop's latencies, skips and deadline
misses worked tick by tick (newest observation first, a decision due by the next tick, exactly on time is in
time), the compute jitter's mean-one lognormal (median 1/sqrt(1 + cv^2)); per-call time = the network's MACs
priced by the replay plus one dispatch gap per module call, the student on its own (larger) network, conv GEMM
shapes, latency and actions per second; and in the offline_rl kind each method's own planner noise, the student
trained at the listed reward weight, the dataset's returns cut at the rollout cap and scored, the losses thinned
from step 0, the train block reaching the trainer whole, and jumps refused for a teacher."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from harness.workloads import offline_rl
from harness.workloads.base import RunContext
from harness.workloads.decision_latency import (ControlSpec, DecisionLatencyScenario, run, simulate_control_loop,
                                                traced_gemms)
from tests.methods.offline_rl.minari_fixture import make_tiny_hopper, serve_from_the_kind


def _loop(latency_ms: float, ticks: int, **control) -> dict[str, float]:
    spec = ControlSpec(rate_hz=100, ticks=ticks, compute_jitter_cv=0.0, **control)
    return simulate_control_loop(latency_ms, spec, np.random.default_rng(0))


def test_control_loop_traced_by_hand():
    """Ticks every 10 ms. A 23 ms planner decides observations 0 (done 23), 2 (46), 4 (69), 6 (92), 7 (115):
    latencies 23, 26, 29, 32, 45 (p50 29, p99 32 + 0.96 * 13), all late, 3 of 8 skipped. A 15 ms planner decides
    all four at 15, 30, 45, 60: latencies 15, 20, 25, 30, each after its next tick. A 10 ms one is exactly in time."""
    slow = _loop(23.0, 8)
    assert slow == pytest.approx({"latency_p50_ms": 29.0, "latency_p99_ms": 32 + 0.96 * 13,
                                  "deadline_miss_fraction": 1.0, "skipped_fraction": 3 / 8})
    mid = _loop(15.0, 4)
    assert mid == pytest.approx({"latency_p50_ms": 22.5, "latency_p99_ms": 25 + 0.97 * 5,
                                 "deadline_miss_fraction": 1.0, "skipped_fraction": 0.0})
    on_time = _loop(10.0, 50)
    assert on_time == pytest.approx({"latency_p50_ms": 10.0, "latency_p99_ms": 10.0, "deadline_miss_fraction": 0.0,
                                     "skipped_fraction": 0.0})


def test_latency_counts_from_the_observations_arrival():
    """Observations up to 5 ms late; a 1 ms planner at 100 Hz never waits: every latency is 1 ms from arrival."""
    out = _loop(1.0, 200, arrival_jitter_ms=5.0)
    assert (out["latency_p50_ms"], out["latency_p99_ms"], out["deadline_miss_fraction"]) == (1.0, 1.0, 0.0)


def test_compute_jitter_is_a_mean_one_lognormal():
    """cv 2: ln-variance ln(1 + 4) = ln 5, mean-one: median factor e^(-ln5 / 2) = 1/sqrt(5) = 0.4472, 99th percentile
    e^(-0.8047 + 2.3263 * 1.2686) = 8.555; a 0.01 ms planner at 100 Hz never waits, so latency = 0.01 ms x factor."""
    spec = ControlSpec(rate_hz=100, ticks=20_000, compute_jitter_cv=2.0)
    out = simulate_control_loop(0.01, spec, np.random.default_rng(0))
    assert out["latency_p50_ms"] / 0.01 == pytest.approx(1 / math.sqrt(5), rel=0.03)
    assert out["latency_p99_ms"] / 0.01 == pytest.approx(8.555, rel=0.1)
    assert out["deadline_miss_fraction"] == 0.0 and out["skipped_fraction"] == 0.0


def _scenario(**workload) -> DecisionLatencyScenario:
    return DecisionLatencyScenario.model_validate({"name": "t", "workload": workload})


class PerMac:
    """A timing replay that prices a GEMM at 1 ns per multiply-add, on a device with a 5 us dispatch gap."""

    device = type("Device", (), {"dispatch_gap_us": 5.0})()

    def predict(self, op, impl=None, dtype=None, m=0, n=0, k=0):
        return type("Prediction", (), {"time_ms": m * n * k * 1e-6, "source": "per-mac"})()

    def info(self):
        return {}


def test_per_call_time_is_the_networks_macs_plus_its_launches():
    """toy_mlp (emb 32, hidden 128, depth 3) for Hopper (obs 11, act 3, horizon 16), batch 1: teacher GEMMs
    32x128 + 128x32 (time embedding) + 91x128 (input: 48 + 32 + 11) + 6 x 128x128 + 128x48 = 124,288 MACs in 18
    module calls (3 + 1 + 3 x 4 + 2); the student adds the stop-time embedding, 8,192 MACs in 3 calls. At 1 ns per
    MAC and 5 us per call: 0.214288 and 0.23748 ms; batch 4 is four times the MACs, the same calls."""
    methods = [{"name": "t", "sampler": "ddim", "steps": 4}, {"name": "s", "sampler": "student", "steps": 1}]
    scenario = _scenario(model={"preset": "toy_mlp"}, batch_sizes=[1, 4], control={"ticks": 20}, methods=methods)
    m = run(scenario, RunContext(seed_seq=np.random.SeedSequence(0), timings=PerMac())).metrics
    per_call = {(r.method, r.batch): r.per_call_ms for r in m.itertuples()}
    assert per_call == pytest.approx({("t", 1): 0.124288 + 18 * 0.005, ("s", 1): 0.13248 + 21 * 0.005,
                                      ("t", 4): 4 * 0.124288 + 18 * 0.005, ("s", 4): 4 * 0.13248 + 21 * 0.005})
    assert m["action_latency_ms"].tolist() == pytest.approx([4 * per_call["t", 1], per_call["s", 1],
                                                             4 * per_call["t", 4], per_call["s", 4]])
    assert m["actions_per_s"].tolist() == pytest.approx([1000 / (4 * per_call["t", 1]), 1000 / per_call["s", 1],
                                                         4000 / (4 * per_call["t", 4]), 4000 / per_call["s", 4]])


def test_measured_per_call_time_is_the_median_call(monkeypatch):
    """A clock on which the timed calls take 1, 9 and 2 ms: median 2 ms (mean 4, min 1), for both networks."""
    import time

    clock = {"calls": 0, "now": 0}

    def perf_counter_ns():
        clock["calls"] += 1
        if clock["calls"] % 2 == 0:  # the end of a timed call
            clock["now"] += (1, 9, 2)[(clock["calls"] // 2 - 1) % 3] * 1_000_000
        return clock["now"]

    monkeypatch.setattr(time, "perf_counter_ns", perf_counter_ns)
    methods = [{"name": "t", "sampler": "ddim", "steps": 2}, {"name": "s", "sampler": "student", "steps": 1}]
    out = run(_scenario(model={"preset": "toy_mlp"}, per_call={"source": "measured", "repeats": 3}, methods=methods,
                        control={"ticks": 5}), RunContext(seed_seq=np.random.SeedSequence(0)))
    assert out.metrics["per_call_ms"].tolist() == [2.0, 2.0] and clock["calls"] == 12


def test_evaluations_are_counted_per_sampler_and_bins():
    methods = [{"name": "a", "sampler": "heun", "steps": 7}, {"name": "b", "sampler": "heun", "steps": 3},
               {"name": "c", "sampler": "ddim", "steps": 4}, {"name": "d", "sampler": "ddim", "steps": 9}]
    out = run(_scenario(model={"preset": "toy_mlp"}, methods=methods, control={"ticks": 5}),
              RunContext(seed_seq=np.random.SeedSequence(0), timings=PerMac()))
    assert out.info["nfe_counted"] == {"a": 13, "b": 5, "c": 4, "d": 9}


def test_the_measured_source_is_refused_for_its_largest_batch_wherever_listed():
    with pytest.raises(ValueError, match="run batch 32768"):
        _scenario(model={"preset": "paper"}, batch_sizes=[1, 32768], per_call={"source": "measured"})


def test_convolutions_are_priced_as_their_gemms():
    """Conv1d(4 -> 8, kernel 3, stride 2) on (2, 4, 16): im2col m = 2 x 8 outputs, n = 8, k = 4 x 3 (2 x 8 x 8 x 12
    MACs); ConvTranspose1d(4 -> 6, kernel 4, stride 2) on (2, 4, 8): col2im m = 2 x 8 inputs, n = 6 x 4, k = 4;
    Linear(7 -> 5) on (2, 3, 7): m = 6."""
    cases = [(nn.Conv1d(4, 8, 3, 2, 1), (2, 4, 16), {"m": 16, "n": 8, "k": 12}),
             (nn.ConvTranspose1d(4, 6, 4, 2, 1), (2, 4, 8), {"m": 16, "n": 24, "k": 4}),
             (nn.Linear(7, 5), (2, 3, 7), {"m": 6, "n": 5, "k": 7})]
    for module, shape, expected in cases:
        (call,), launches = traced_gemms(module, (torch.zeros(shape),), "cpu")
        assert (call.shape, launches) == (expected, 1), module


# ----------------------------------------------------------------------------------------------- offline_rl
TRAIN = {"horizon": 4, "batch": 32, "teacher_steps": 25, "reward_epochs": 1, "student_steps": 1}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_hopper(tmp_path_factory.mktemp("minari"), episodes=3, max_steps=30)


@pytest.fixture
def patched(tiny, monkeypatch, tmp_path):
    serve_from_the_kind(monkeypatch, tiny, tmp_path / "models")
    return tmp_path / "models"


def _run(methods, max_steps: int = 3):
    scenario = offline_rl.OfflineRLScenario.model_validate({"name": "t", "workload": {
        "dataset": "tiny-hopper", "dataset_size": "test", "methods": methods, "train": TRAIN,
        "rollout": {"episodes": 2, "max_steps": max_steps, "timing_repeats": 1}}})
    return offline_rl.run(scenario, RunContext(seed_seq=np.random.SeedSequence(0)))


def test_offline_rl_info_and_per_method_noise(patched, tiny):
    out = _run([{"name": "a", "method": "ddim", "steps": 2}, {"name": "b", "method": "ddim", "steps": 2},
                {"name": "r", "method": "student", "reward_weight": 0.5}])
    m = out.metrics
    returns = {name: m.loc[m["method"] == name, "episode_return"].tolist() for name in ("a", "b")}
    assert returns["a"] != returns["b"]  # same teacher and sampler, each method its own noise
    assert m.loc[m["method"] == "r", "reward_weight"].eq(0.5).all()
    students = sorted(path.name for path in patched.glob("student-*.pt"))
    from methods.offline_rl.episodes import Episodes
    from methods.offline_rl.training import Trainer, TrainSettings

    episodes = Episodes.from_minari(tiny)
    trainer = Trainer(episodes, replace(TrainSettings(), **TRAIN), seed=0, cache_dir=patched)
    assert students == [f"{trainer.student_key(0.5)}.pt"]  # trained at the listed weight, not the default 1.0
    capped = [float(r[:3].sum()) for r in episodes.rewards]
    assert out.info["dataset_returns"] == pytest.approx(capped)
    assert capped != pytest.approx([float(r.sum()) for r in episodes.rewards])  # the cap bites
    assert out.info["dataset_scores"] == pytest.approx([2.0 * r for r in capped])
    full = torch.load(next(patched.glob("teacher-*.pt")), weights_only=False)["losses"]
    assert len(full) == 25 and out.info["losses"]["teacher"] == pytest.approx(full[::10])


def test_train_block_reaches_the_trainer_whole():
    block = {"network": "cpu_small", "horizon": 8, "history": 3, "batch": 7, "teacher_steps": 9, "teacher_lr": 0.3,
             "reward_epochs": 4, "student_steps": 5, "student_lr": 0.2, "alpha": 0.25, "beta": 0.75,
             "reward_weight": 0.5, "teacher_reward_weight": 0.125, "baseline_steps": 11, "baseline_hidden": [5, 6],
             "diffuser_steps": 13}
    settings = offline_rl.settings_of(offline_rl.TrainBlock(**block))
    assert {k: getattr(settings, k) for k in block} == {**block, "baseline_hidden": (5, 6)}


def test_only_students_take_several_jumps(patched):
    with pytest.raises(ValueError, match="nfe: only a student"):
        _run([{"name": "a", "method": "teacher", "steps": 2, "nfe": 2}])
