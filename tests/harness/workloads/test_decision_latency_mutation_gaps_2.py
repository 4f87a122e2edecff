"""Gaps in the tests of `decision_latency` found by a mutation audit.

Closed here (round 2), on hand-built networks priced by a stub replay whose GEMM takes m x n x k microseconds:

- the GEMM shapes of convolutions: im2col for ``Conv1d`` (B L_out, C_out, C_in kernel) and col2im for
  ``ConvTranspose1d`` (B L_in, C_out kernel, C_in); every leaf-module call is one launch;
- the per-call time adds the device's dispatch gap once per leaf-module call;
- the student is priced on its own network, the teacher samplers on the teacher's;
- actions per second count every environment of the batch (batch x 1000 / latency);
- the student's network embeds its stop time (two more GEMMs and three more launches than the teacher's);
- the GEMMs are priced at ``per_call.dtype``;
- the decision time's lognormal factor has mean one and coefficient of variation ``compute_jitter_cv``: its median
  is 1 / sqrt(1 + cv^2);
- arrival jitter delays each observation by at most ``arrival_jitter_ms``;
- evaluations are counted per sampler and bins: two DDIM methods of 4 and 8 bins make 4 and 8 calls.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from harness.workloads import decision_latency as dl
from harness.workloads.base import RunContext


class _Replay:
    """Every GEMM takes m x n x k us; the device's dispatch gap is ``gap_us``."""

    def __init__(self, gap_us: float) -> None:
        self.device = SimpleNamespace(dispatch_gap_us=gap_us)
        self.dtypes: set[str] = set()

    def predict(self, op, *, impl=None, dtype="float32", m, n, k):
        self.dtypes.add(dtype)
        return SimpleNamespace(time_ms=m * n * k * 1e-3, source="stub")

    def info(self) -> dict:
        return {"stub": True}


class _Teacher(nn.Module):  # x (B, H, 3) -> Linear 3->8 -> ReLU -> Linear 8->3: two GEMMs, three launches
    def __init__(self) -> None:
        super().__init__()
        self.a, self.act, self.b = nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 3)

    def forward(self, x, t, obs, s=None):
        return self.b(self.act(self.a(x)))


class _Student(nn.Module):  # x (B, H, 3) -> Linear 3->3: one GEMM, one launch
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 3)

    def forward(self, x, t, obs, s=None):
        return self.a(x)


def _scenario(batch_sizes, **workload) -> dl.DecisionLatencyScenario:
    return dl.DecisionLatencyScenario.model_validate({"name": "t", "workload": {
        "model": {"preset": "toy_mlp", "obs_dim": 2, "act_dim": 3, "horizon": 4},
        "methods": [{"name": "ddim4", "sampler": "ddim", "steps": 4},
                    {"name": "student", "sampler": "student", "steps": 1}],
        "batch_sizes": batch_sizes, "control": {"ticks": 5, "compute_jitter_cv": 0.0}, **workload}})


@pytest.fixture
def tiny_networks(monkeypatch):
    monkeypatch.setattr(dl, "_networks", lambda net: {"teacher": _Teacher(), "student": _Student()})


def test_conv_and_transposed_conv_gemm_shapes_by_hand():
    net = nn.Sequential(nn.Conv1d(4, 6, kernel_size=3, padding=1), nn.ReLU(),
                        nn.ConvTranspose1d(6, 5, kernel_size=4, stride=2, padding=1))
    with torch.device("meta"):
        calls, launches = dl.traced_gemms(net.to("meta"), (torch.zeros(2, 4, 8),), "cpu")
    # conv: output (2, 6, 8): rows 2 x 8, columns 6, depth 4 x 3; transposed: input (2, 6, 8), out (2, 5, 16)
    assert [dict(c.shape) for c in calls] == [{"m": 16, "n": 6, "k": 12}, {"m": 16, "n": 20, "k": 6}]
    assert [c.label for c in calls] == ["Conv1d", "ConvTranspose1d"]
    assert launches == 3 and all(c.launches == 0 for c in calls)


def test_a_strided_conv_counts_its_output_length_not_its_input():
    net = nn.Conv1d(2, 3, kernel_size=2, stride=2)
    with torch.device("meta"):
        calls, _ = dl.traced_gemms(net.to("meta"), (torch.zeros(1, 2, 10),), "cpu")
    assert dict(calls[0].shape) == {"m": 5, "n": 3, "k": 4}  # output length 5, not 10


def test_per_call_time_adds_the_dispatch_gap_per_leaf_call(tiny_networks):
    ctx = RunContext(seed_seq=np.random.SeedSequence(0), timings=_Replay(gap_us=10.0))
    out, info = dl.per_call_ms(_scenario([2]), ctx)
    # batch 2 x horizon 4 = 8 rows. teacher: 8*8*3 + 8*3*8 = 384 us of GEMMs + 3 launches x 10 us = 0.414 ms
    assert out[("teacher", 2)] == pytest.approx(0.414)
    # student: 8*3*3 = 72 us + 1 launch x 10 us = 0.082 ms
    assert out[("student", 2)] == pytest.approx(0.082)
    assert info["dispatch_gap_us"] == 10.0


def test_rows_price_each_role_on_its_own_network_and_count_the_batch_in_actions_per_s(tiny_networks):
    ctx = RunContext(seed_seq=np.random.SeedSequence(0), timings=_Replay(gap_us=10.0))
    rows = dl.run(_scenario([2]), ctx).metrics.set_index("method")
    assert rows.loc["ddim4", "nfe"] == 4 and rows.loc["student", "nfe"] == 1
    assert rows.loc["ddim4", "per_call_ms"] == pytest.approx(0.414)
    assert rows.loc["student", "per_call_ms"] == pytest.approx(0.082)
    assert rows.loc["ddim4", "action_latency_ms"] == pytest.approx(1.656)
    # two environments served per call: 2 x 1000 / 0.082 ms, not 1000 / 0.082
    assert rows.loc["student", "actions_per_s"] == pytest.approx(2000 / 0.082)
    assert rows.loc["ddim4", "actions_per_s"] == pytest.approx(2000 / 1.656)
    assert rows.loc["student", "speedup_vs_first"] == pytest.approx(1.656 / 0.082)


def test_the_student_network_embeds_its_stop_time():
    # toy_mlp, emb_dim 32: the stop-time embedding adds Linear 32->128, Mish, Linear 128->32 at one row per sample
    ctx = RunContext(seed_seq=np.random.SeedSequence(0), timings=_Replay(gap_us=10.0))
    out, _ = dl.per_call_ms(_scenario([1]), ctx)
    extra = (1 * 128 * 32 + 1 * 32 * 128) * 1e-3 + 3 * 10.0 * 1e-3
    assert out[("student", 1)] - out[("teacher", 1)] == pytest.approx(extra)


def test_gemms_are_priced_at_the_configured_dtype(tiny_networks):
    replay = _Replay(gap_us=0.0)
    scenario = _scenario([1], per_call={"dtype": "bfloat16"})
    dl.per_call_ms(scenario, RunContext(seed_seq=np.random.SeedSequence(0), timings=replay))
    assert replay.dtypes == {"bfloat16"}


def test_the_decision_time_factor_has_mean_one_and_the_configured_spread():
    # a 0.1 ms decision every 10 ms never waits, so each latency is 0.1 ms x the factor; at cv = 1 the mean-one
    # lognormal has sigma^2 = ln 2 and median exp(-ln 2 / 2) = 1 / sqrt(2)
    control = dl.ControlSpec(rate_hz=100.0, ticks=20_000, compute_jitter_cv=1.0)
    out = dl.simulate_control_loop(0.1, control, np.random.default_rng(1))
    assert out["latency_p50_ms"] == pytest.approx(0.1 / np.sqrt(2), rel=0.03)
    assert out["skipped_fraction"] == 0.0 and out["deadline_miss_fraction"] == 0.0


def test_arrival_jitter_stays_within_its_bound():
    # 10 ms ticks, 1 ms decisions: an observation delayed d ms is decided at d + 1 ms into its tick, so it misses
    # only when d > 9 ms. A bound of 8 ms never misses; a bound of 12 ms misses for d in (9, 12]: a quarter
    control = dl.ControlSpec(rate_hz=100.0, ticks=4000, arrival_jitter_ms=8.0, compute_jitter_cv=0.0)
    assert dl.simulate_control_loop(1.0, control, np.random.default_rng(2))["deadline_miss_fraction"] == 0.0
    control = dl.ControlSpec(rate_hz=100.0, ticks=4000, arrival_jitter_ms=12.0, compute_jitter_cv=0.0)
    out = dl.simulate_control_loop(1.0, control, np.random.default_rng(2))
    assert out["deadline_miss_fraction"] == pytest.approx(0.25, abs=0.04)


def test_evaluations_are_counted_per_sampler_and_bins(tiny_networks):
    scenario = _scenario([1], methods=[{"name": "ddim4", "sampler": "ddim", "steps": 4},
                                       {"name": "ddim8", "sampler": "ddim", "steps": 8}])
    ctx = RunContext(seed_seq=np.random.SeedSequence(0), timings=_Replay(gap_us=0.0))
    out = dl.run(scenario, ctx)
    assert out.info["nfe_counted"] == {"ddim4": 4, "ddim8": 8}
