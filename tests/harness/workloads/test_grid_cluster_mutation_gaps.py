"""Gaps found by a mutation audit of the grid_cluster kind (harness/workloads/grid_cluster.py): the power model at a
cap below 1 with hand-computed numbers, the cluster's wiring to the data_parallel_step phases and the DGX figures,
the PJM-style score's parts on constructed signals (lag window edges, anti-correlation, precision), and closed-loop
runs on hand-made regulation CSVs: the low-pass the cluster follows, the cap ramp and bounds, the battery's sign,
rating and energy, tracking RMSE and the throughput cost."""

from __future__ import annotations

import numpy as np
import pytest

from harness.executors import timings_for
from harness.workloads.base import RunContext
from harness.workloads.data_parallel_step import DataParallelScenario
from harness.workloads.data_parallel_step import run as run_dp_step
from harness.workloads.grid_cluster import (
    DEVICE_POWER,
    ClusterPower,
    GridClusterScenario,
    cluster_power,
    performance_score,
    run,
    scaled_battery,
)
from methods.battery.presets import CASE1

pytest.importorskip("cvxpy")
pytest.importorskip("rainflow")

TRAINING = {"model": "llama-60m", "micro_batch": 2, "seq_len": 128}


# ------------------------------------------------------------------------------------------------ power model
def test_power_at_a_low_cap_by_hand():
    # 16 GPUs on 2 nodes; cap 1/8 doubles the 100 ms compute (c^(-1/3) = 2) at 87.5 W, then 50 ms of communication
    # at 0.2 x 700 = 140 W: (200 x 87.5 + 50 x 140) / 250 = 98 W per GPU; 16 x 98 + 2 x 4600 = 10768 W.
    model = ClusterPower(n_gpus=16, n_nodes=2, tdp_w=700, node_w=4600, compute_ms=100, comm_ms=50, comm_fraction=0.2)
    assert model.step_ms(0.125) == pytest.approx(250.0)
    assert model.power_kw(0.125) == pytest.approx(10.768)
    # uncapped: (100 x 700 + 50 x 140) / 150 W per GPU
    assert model.power_kw(1.0) == pytest.approx((16 * 77000 / 150 + 9200) / 1e3)


def test_device_figures_add_up_to_the_dgx_system_maxima():
    # NVIDIA DGX H100 10.2 kW and DGX A100 6.5 kW system maxima, eight GPUs per node at 700 W / 400 W
    assert DEVICE_POWER["h100"][0] == 700 and 8 * DEVICE_POWER["h100"][0] + DEVICE_POWER["h100"][1] == 10200
    assert DEVICE_POWER["a100"][0] == 400 and 8 * DEVICE_POWER["a100"][0] + DEVICE_POWER["a100"][1] == 6500


def test_cluster_power_takes_the_step_phases_and_counts_gpus_and_nodes():
    scenario = GridClusterScenario.model_validate({
        "name": "t", "cluster": {"nodes": 2, "devices_per_node": 4, "device": "a100"},
        "workload": {"training": TRAINING, "comm_power_fraction": 0.3}})
    ctx = RunContext(seed_seq=np.random.SeedSequence(0), timings=timings_for(scenario))
    model = cluster_power(scenario, ctx)
    assert (model.n_gpus, model.n_nodes, model.tdp_w) == (8, 2, 400.0)
    assert model.node_w == pytest.approx(3300 / 2)  # a 4-GPU node: half the non-GPU draw of an 8-GPU node
    assert model.comm_fraction == 0.3
    step = DataParallelScenario(name="t", cluster=scenario.cluster, network=scenario.network,
                                timings=scenario.timings, workload=scenario.workload.training)
    row = run_dp_step(step, ctx).metrics.iloc[0]
    assert model.compute_ms == pytest.approx(row["compute_ms"])
    assert model.comm_ms == pytest.approx(row["exposed_comm_ms"])  # the hidden part draws compute power


def test_scaled_battery_keeps_each_modules_loss_fraction_and_hours():
    # at the same share of its rating, a scaled module loses the same fraction of its power as the Case I original
    for original, scaled in zip(CASE1, scaled_battery(7.0, 0.25), strict=True):
        share = scaled.power_kw / original.power_kw
        assert share == pytest.approx(7.0 / 120.0)  # Case I: 120 kW in all
        assert scaled.energy_kwh == pytest.approx(0.25 * scaled.power_kw)
        for soc in (0.2, 0.8):
            for x in (0.1, 0.5, 1.0):
                p = x * original.power_kw
                rho, a_v, b = original.loss_coefficients(soc)
                rho_s, a_v_s, b_s = scaled.loss_coefficients(soc)
                loss = rho * p**2 + a_v * p + b
                loss_s = rho_s * (share * p) ** 2 + a_v_s * share * p + b_s
                assert loss_s / (share * p) == pytest.approx(loss / p)


# ------------------------------------------------------------------------------------------------------ score
def _noise(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, n)


def test_precision_is_one_minus_mean_absolute_error_over_mean_absolute_signal():
    signal = np.tile([1.0, -1.0, 0.5, -0.5], 50)  # mean |s| = 0.75, mean s = 0
    response = signal + np.tile([0.2, 0.2, -0.4, 0.0], 50)  # mean |e| = 0.2, mean e = 0, rms e = 0.245
    assert performance_score(signal, response, 2.0)["precision"] == pytest.approx(1 - 0.2 / 0.75)


@pytest.mark.parametrize("dt, shift, delay", [(2.0, 150, 0.0), (10.0, 30, 0.0), (10.0, 3, 0.9), (4.0, 15, 0.8)])
def test_a_delayed_copy_is_found_up_to_five_minutes(dt, shift, delay):
    signal = _noise(600)
    response = np.concatenate([np.zeros(shift), signal[:-shift]])
    score = performance_score(signal, response, dt)
    assert score["accuracy"] == pytest.approx(1.0) and score["delay"] == pytest.approx(delay, abs=1e-12)
    assert score["composite"] == pytest.approx((score["accuracy"] + score["delay"] + score["precision"]) / 3)


def test_a_copy_delayed_beyond_five_minutes_is_not_credited():
    signal = _noise(600)
    response = np.concatenate([np.zeros(155), signal[:-155]])  # 310 s at dt = 2 s
    assert performance_score(signal, response, 2.0)["accuracy"] < 0.5


def test_an_anticipating_response_is_not_credited():
    signal = _noise(600)
    response = np.concatenate([signal[20:], np.zeros(20)])  # runs 40 s ahead of the signal
    assert performance_score(signal, response, 2.0)["accuracy"] < 0.5


def test_anti_correlated_and_idle_responses_score_zero_accuracy_and_precision():
    signal = _noise(600)
    opposite = performance_score(signal, -signal, 2.0)
    assert opposite["accuracy"] < 0.5 and opposite["precision"] == 0.0
    idle = performance_score(signal, np.zeros(600), 2.0)
    assert idle["accuracy"] == 0.0 and idle["precision"] == 0.0


def test_accuracy_is_the_correlation_itself():
    # response = s + e with e orthogonal to s and as large: correlation 1 / sqrt(2) at lag 0, noise at other lags
    rng = np.random.default_rng(4)
    s = rng.uniform(-1, 1, 600)
    s -= s.mean()
    e = rng.uniform(-1, 1, 600)
    e -= e.mean()
    e -= (e @ s) / (s @ s) * s
    e *= np.linalg.norm(s) / np.linalg.norm(e)
    score = performance_score(s, s + e, 2.0)
    assert score["accuracy"] == pytest.approx(1 / np.sqrt(2)) and score["delay"] == 1.0


def test_only_positive_correlation_counts():
    # half the signal 4 s late minus the whole signal 20 s late: correlation ~ +1/sqrt(5) at lag 2, ~ -2/sqrt(5) at 10
    s = _noise(600)
    response = 0.5 * np.concatenate([np.zeros(2), s[:-2]]) - np.concatenate([np.zeros(10), s[:-10]])
    score = performance_score(s, response, 2.0)
    assert score["accuracy"] == pytest.approx(1 / np.sqrt(5), abs=0.05) and score["delay"] == pytest.approx(1 - 4 / 300)


def test_a_perfect_response_to_a_periodic_signal_has_no_delay():
    signal = np.tile([1.0, 1.0, -1.0, -1.0, 0.5], 60)  # correlation 1 also at every multiple of the period
    score = performance_score(signal, signal.copy(), 2.0)
    assert score["delay"] == 1.0 and score["composite"] == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------- closed loop
def _run(tmp_path, values, duration_s=20.0, **workload):
    """A run on a regulation_pu CSV (sample-and-hold, 2 s steps) on an 8-GPU H100 node (7.40-9.06 kW)."""
    path = tmp_path / "r.csv"
    rows = [f"{2 * i},{v}" for i, v in enumerate(values)] + [f"{2 * len(values) + 10000},{values[-1]}"]
    path.write_text("time_s,regulation_pu\n" + "\n".join(rows) + "\n")
    base = {"training": TRAINING, "signal": {"type": "csv", "path": str(path), "duration_s": duration_s},
            "regulation_kw": 10.0, "battery_kw": 0.0, "cluster_follows": False}
    base.update(workload)
    scenario = GridClusterScenario.model_validate({
        "name": "t", "cluster": {"nodes": 1, "devices_per_node": 8, "device": "h100"}, "workload": base})
    out = run(scenario, RunContext(seed_seq=np.random.SeedSequence(0), timings=timings_for(scenario)))
    return out.metrics, out.info


def _model(info) -> ClusterPower:
    return ClusterPower(**{f.name: info["cluster"][f.name] for f in ClusterPower.__dataclass_fields__.values()})


def test_a_fixed_cluster_without_battery_misses_by_the_whole_request(tmp_path):
    m, info = _run(tmp_path, [0.5])
    model = _model(info)
    assert len(m) == 10 and np.allclose(m["time_s"], 2.0 * np.arange(10)) and np.allclose(m["regulation"], 0.5)
    assert np.allclose(m["gpu_cap"], 0.85) and np.allclose(m["cluster_kw"], model.power_kw(0.85))
    assert info["cluster"]["base_kw"] == pytest.approx(model.power_kw(0.85))
    assert info["cluster"]["uncapped_kw"] == pytest.approx(model.power_kw(1.0))
    assert info["cluster"]["min_cap_kw"] == pytest.approx(model.power_kw(0.5))
    assert np.allclose(m["target_kw"], model.power_kw(0.85) - 5.0)  # r C_reg = 0.5 x 10 kW less draw asked
    assert np.allclose(m["shortfall_kw"], 5.0) and info["tracking_rmse_kw"] == pytest.approx(5.0)
    score = info["score"]
    assert score["accuracy"] == 0.0 and score["precision"] == 0.0  # the response is 0 against r = 0.5
    # throughput: compute slows as c^(-1/3), communication does not; no loss against the nominal cap
    c, comm = model.compute_ms, model.comm_ms
    assert np.allclose(m["step_time_ms"], c * 0.85 ** (-1 / 3) + comm)
    assert np.allclose(m["throughput"], (c + comm) / (c * 0.85 ** (-1 / 3) + comm))
    assert info["throughput_loss_pct"] == pytest.approx(100 * (1 - (c + comm) / (c * 0.85 ** (-1 / 3) + comm)))
    assert info["throughput_loss_vs_nominal_pct"] == pytest.approx(0.0, abs=1e-9)


def test_tracking_rmse_is_the_root_mean_square_miss(tmp_path):
    m, info = _run(tmp_path, [0.5, -0.5, 1.0, 0.0, 0.0], duration_s=10.0)  # misses 5, 5, 10, 0, 0 kW
    assert len(m) == 5 and info["tracking_rmse_kw"] == pytest.approx(np.sqrt(150 / 5))


def test_the_cluster_follows_the_request_through_its_cap(tmp_path):
    # tau at or below dt: the cluster follows r itself; 2 kW x 0.5 is within its cap range (7.40-9.06 kW)
    m, info = _run(tmp_path, [0.5], regulation_kw=2.0, cluster_follows=True, cluster_tau_s=1.0, cap_ramp_per_s=1.0)
    assert np.allclose(m["cluster_kw"], info["cluster"]["base_kw"] - 1.0, atol=1e-3)
    assert (m["gpu_cap"] < 0.85).all() and info["tracking_rmse_kw"] < 1e-3
    assert info["throughput_loss_vs_nominal_pct"] > 0


def test_the_cluster_follows_a_forward_euler_low_pass(tmp_path):
    # alpha = dt / tau = 0.1: after k + 1 updates toward a constant 0.5, slow = 0.5 (1 - 0.9^(k+1))
    m, info = _run(tmp_path, [0.5], regulation_kw=2.0, cluster_follows=True, cluster_tau_s=20.0, cap_ramp_per_s=1.0)
    slow = 0.5 * (1 - 0.9 ** np.arange(1, 11))
    assert np.allclose(m["cluster_kw"], info["cluster"]["base_kw"] - 2.0 * slow, atol=1e-3)


@pytest.mark.parametrize("r, caps", [
    (1.0, np.maximum(0.85 - 0.02 * np.arange(1, 21), 0.5)),  # down to min_cap, 0.01/s x 2 s per step
    (-1.0, np.minimum(0.85 + 0.02 * np.arange(1, 21), 1.0)),  # up to the TDP
])
def test_the_cap_moves_at_its_ramp_limit_within_its_bounds(tmp_path, r, caps):
    m, info = _run(tmp_path, [r], duration_s=40.0, regulation_kw=20.0, cluster_follows=True, cluster_tau_s=1.0,
                   cap_ramp_per_s=0.01)
    assert np.allclose(m["gpu_cap"], caps, atol=1e-9)
    model = _model(info)
    throughput = [model.step_ms(1.0) / model.step_ms(c) for c in caps]
    assert np.allclose(m["throughput"], throughput)
    assert info["throughput_loss_pct"] == pytest.approx(100 * (1 - np.mean(throughput)))
    at_nominal = model.step_ms(1.0) / model.step_ms(0.85)
    assert info["throughput_loss_vs_nominal_pct"] == pytest.approx(100 * (1 - np.mean(throughput) / at_nominal))
    if r < 0:  # at the TDP the cluster runs faster than at its nominal cap
        assert m["throughput"].iloc[-1] == pytest.approx(1.0) and info["throughput_loss_vs_nominal_pct"] < 0


def test_min_cap_may_equal_the_nominal_cap():
    workload = {"training": TRAINING, "min_cap": 0.7, "nominal_cap": 0.7}
    scenario = GridClusterScenario.model_validate({
        "name": "t", "cluster": {"nodes": 1, "devices_per_node": 8, "device": "h100"}, "workload": workload})
    assert scenario.workload.min_cap == scenario.workload.nominal_cap == 0.7


def test_the_battery_discharges_the_residual_within_its_rating(tmp_path):
    big, info = _run(tmp_path, [0.5], battery_kw=20.0)  # the fixed cluster is 5 kW above the target
    assert np.allclose(big["battery_kw"], 5.0, atol=0.05) and np.allclose(big["net_kw"], big["target_kw"], atol=0.05)
    assert info["tracking_rmse_kw"] < 0.05
    # the battery was asked for 5 kW over 10 steps of 2 s
    assert info["battery"]["requested_kwh"] == pytest.approx(5.0 * 20 / 3600, rel=1e-6)
    small, info = _run(tmp_path, [0.5], battery_kw=2.0)
    assert (small["battery_kw"] <= 2.0 + 1e-6).all() and (small["battery_kw"] > 1.0).all()
    assert np.allclose(small["shortfall_kw"], 5.0 - small["battery_kw"]) and info["tracking_rmse_kw"] > 2.9
    # response (2 kW of the 10 kW offered) against r = 0.5: precision 1 - |0.2 - 0.5| / 0.5
    assert info["score"]["precision"] == pytest.approx(0.4, abs=1e-3)


def test_the_battery_covers_what_the_cluster_has_not_yet_followed(tmp_path):
    # the cluster's low-pass (alpha = 0.1) closes the 1 kW step as 1 - 0.9^(k+1); the battery discharges the rest
    m, info = _run(tmp_path, [0.5], regulation_kw=2.0, cluster_follows=True, cluster_tau_s=20.0, cap_ramp_per_s=1.0,
                   battery_kw=5.0)
    assert np.allclose(m["battery_kw"], 0.9 ** np.arange(1, 11), atol=0.01)
    assert np.allclose(m["net_kw"], m["target_kw"], atol=0.01) and info["tracking_rmse_kw"] < 0.01


def test_a_battery_of_a_few_seconds_runs_empty(tmp_path):
    # 10 kW for 0.002 h is 72 kJ: 5 kW drains its SoC window within ~10 s; half an hour lasts the minute
    short, _ = _run(tmp_path, [0.5], duration_s=60.0, battery_kw=10.0, battery_hours=0.002)
    long, _ = _run(tmp_path, [0.5], duration_s=60.0, battery_kw=10.0, battery_hours=0.5)
    assert short["shortfall_kw"].iloc[-1] > 4.0 and np.allclose(long["shortfall_kw"], 0.0, atol=0.05)


def test_a_battery_that_follows_regd_scores_near_one(tmp_path):
    scenario = GridClusterScenario.model_validate({
        "name": "t", "cluster": {"nodes": 1, "devices_per_node": 8, "device": "h100"},
        "workload": {"training": TRAINING, "signal": {"type": "regd", "duration_s": 300}, "regulation_kw": 10.0,
                     "battery_kw": 25.0}})
    out = run(scenario, RunContext(seed_seq=np.random.SeedSequence(3), timings=timings_for(scenario)))
    score = out.info["score"]
    assert score["accuracy"] > 0.99 and score["delay"] == 1.0 and score["precision"] > 0.98
    assert out.info["tracking_rmse_kw"] < 0.1


def test_the_battery_method_reaches_the_loop(tmp_path):
    costs = {}
    for method in ("loss_only", "capacity"):
        _, info = _run(tmp_path, [0.5, 0.1, -0.3, 0.2], battery_kw=20.0, battery_method=method)
        costs[method] = info["battery"]["loss_cost_usd"]
    assert costs["loss_only"] < costs["capacity"]  # the loss-minimizing split loses less than the rating-share one


@pytest.mark.parametrize("n", [30, 100, 300])
def test_an_unrelated_response_gets_little_accuracy_even_in_a_short_run(n):
    """Two independent uniform series: their correlation at any lag is noise of about 1 / sqrt(window). Searching
    lags down to two-sample windows (always +-1) credited 0.86 at n = 30 and 0.82 at n = 100; with windows of at
    least n / 2 the best of the n / 2 + 1 lags stays below three standard deviations of the shortest window."""
    rng = np.random.default_rng(1)
    signal, response = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    assert performance_score(signal, response, 2.0)["accuracy"] < 3 / np.sqrt(n / 2)


def test_a_response_that_never_moves_scores_zero():
    """No correlation is defined at any delay, so no delay is credited (it scored 1/3 from the delay alone)."""
    score = performance_score(_noise(600), np.zeros(600), 2.0)
    assert score == {"accuracy": 0.0, "delay": 0.0, "precision": 0.0, "composite": 0.0}


@pytest.mark.parametrize("scheduler", ["priority", "miqcp"])
def test_the_scheduler_and_the_control_step_reach_the_loop_and_the_score(tmp_path, monkeypatch, scheduler):
    """A 4 s control step and the chosen scheduler go to the battery loop; the score prices lags at 4 s."""
    import harness.workloads.grid_cluster as grid_cluster
    import methods.battery.simulate as simulate

    seen = {}
    real_loop, real_score = simulate.run_loop, grid_cluster.performance_score

    def loop(modules, residual, method, settings, **kw):
        seen["mode"], seen["loop_dt"], seen["steps"] = settings.mode, settings.dt_s, len(residual)
        return real_loop(modules, residual, method, settings, **kw)

    def score(signal, response, dt_s):
        seen["score_dt"] = dt_s
        return real_score(signal, response, dt_s)

    monkeypatch.setattr(simulate, "run_loop", loop)
    monkeypatch.setattr(grid_cluster, "performance_score", score)
    m, _ = _run(tmp_path, [0.5, 0.1, -0.3, 0.2], duration_s=16.0, battery_kw=20.0, battery_scheduler=scheduler,
                signal={"type": "csv", "path": str(tmp_path / "r.csv"), "duration_s": 16.0, "dt_s": 4.0})
    assert seen == {"mode": scheduler, "loop_dt": 4.0, "steps": 4, "score_dt": 4.0}
    assert list(m["time_s"]) == [0.0, 4.0, 8.0, 12.0]
