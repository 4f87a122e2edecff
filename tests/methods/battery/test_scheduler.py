"""The scheduler and the closed loop (methods/battery/scheduler.py, scip_native.py, baselines.py, simulate.py).

Must-show properties: every schedule meets the request or reports the shortfall; SoC stays in bounds; a module
with its converter off carries no power; the optimizer's one-step cost is at most each baseline's under the same
model; solver failures (time limit, missing solver) fall back to a baseline, are counted, and never stop a run.
The MIQCP properties are checked for both backends (the native SCIP model and the cvxpy one).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

pytest.importorskip("cvxpy")
pytest.importorskip("pyscipopt")
pytest.importorskip("rainflow")

from methods.battery import scheduler as sched  # noqa: E402
from methods.battery.baselines import allocate, limits, water_fill  # noqa: E402
from methods.battery.presets import CASE1  # noqa: E402
from methods.battery.scip_native import PROVEN, NativeScheduler  # noqa: E402
from methods.battery.simulate import METHODS, LoopSettings, aging_slopes, make_scheduler, run_loop  # noqa: E402
from methods.battery.aging import AgingCost, OnlineAging  # noqa: E402
from methods.grid.signals import regd_like  # noqa: E402

DT_H = 2.0 / 3600
N = len(CASE1)
TOTAL_KW = sum(m.power_kw for m in CASE1)


BACKENDS = ("native", "cvxpy")


def exact(backend: str):
    """The MIQCP scheduler of ``backend`` proving optimality (gap 0)."""
    return make_scheduler(CASE1, LoopSettings(mode="miqcp", backend=backend, time_limit_s=5.0, mip_gap=0.0))


@pytest.fixture(scope="module", params=BACKENDS)
def miqcp(request):
    return exact(request.param), exact(request.param)  # (with aging, loss-only)


def test_the_problem_is_built_once_and_parametrized():
    miqcp = exact("cvxpy")
    assert miqcp.problem.is_dcp(dpp=True)
    assert miqcp.problem.parameters()  # step data enters as cp.Parameters
    assert any(v.attributes["boolean"] for v in miqcp.problem.variables())


def test_the_cvxpy_route_limits_scips_cpu_time(monkeypatch):
    """As the native model (test_scip_native): SCIP's clock type 1 counts CPU time, not wall time."""
    miqcp, seen = exact("cvxpy"), {}
    solve = miqcp.problem.solve

    def recording_solve(*args, **kw):
        seen.update(kw.get("scip_params", {}))
        return solve(*args, **kw)

    monkeypatch.setattr(miqcp.problem, "solve", recording_solve)
    assert miqcp.solve(np.full(N, 0.5), [0.3 * TOTAL_KW], np.zeros(N), np.zeros(N), np.ones(N)).ok
    assert seen["timing/clocktype"] == 1 and seen["limits/time"] == 5.0


@settings(max_examples=12, deadline=None)
@given(share=st.floats(-0.95, 0.95), socs=st.lists(st.floats(0.15, 0.85), min_size=N, max_size=N),
       seed=st.integers(0, 1000))
@example(share=-0.14453125, socs=[0.75, 0.59375, 0.5, 0.5, 0.5, 0.5], seed=96)  # the cvxpy route's 2.9% miss
def test_optimum_dominates_every_baseline_on_the_same_step(miqcp, share, socs, seed):
    rng = np.random.default_rng(seed)
    soc = np.array(socs)
    request = share * TOTAL_KW * 0.9
    trackers = []
    for s in soc:  # a random recent history, so the aging slopes are not all zero
        t = OnlineAging(float(s) + rng.uniform(-0.05, 0.05))
        t.update(float(s))
        trackers.append(t)
    g_ch, g_dis = aging_slopes(CASE1, trackers, AgingCost())
    u_prev = rng.integers(0, 2, N).astype(float)
    scheduler, loss_scheduler = miqcp
    cvxpy_route = isinstance(scheduler, sched.Scheduler)
    if cvxpy_route:
        # the cvxpy route is not exact (test_scip_native's docstring): SCIP, handed cvxpy's conic form, reports
        # "optimal" for a worse module choice on some sub-kW requests and some larger ones (e.g. -15.6 kW on two
        # modules: one module on, 2.9% above the native optimum); the native model is checked there too
        assume(abs(request) >= 1.0)
    decision = scheduler.solve(soc, [request], g_ch, g_dis, u_prev)
    assert decision.ok, decision.status
    ours = sched.allocation_cost(CASE1, soc, decision.power_kw, decision.on, u_prev, g_ch, g_dis, request)
    assert ours == pytest.approx(decision.objective, rel=1e-4, abs=1e-7)  # the model's loss equals the plant's
    for method in ("capacity", "soc"):
        power = allocate(method, CASE1, soc, request, DT_H)
        theirs = sched.allocation_cost(CASE1, soc, power, np.ones(N), u_prev, g_ch, g_dis, request)
        assert decision.objective <= theirs + 1e-7, method
    if not cvxpy_route:  # two inexact solves need not order themselves; the exact native optimum must
        loss_only = loss_scheduler.solve(soc, [request], 0 * g_ch, 0 * g_dis, u_prev)
        theirs = sched.allocation_cost(CASE1, soc, loss_only.power_kw, loss_only.on, u_prev, g_ch, g_dis, request)
        assert decision.objective <= theirs + 1e-7
    # converter off -> no power
    assert np.all(decision.power_kw[decision.on < 0.5] == 0.0)
    assert np.all(np.abs(decision.power_kw) <= np.array([m.power_kw for m in CASE1]) * decision.on + 1e-6)


CLOSED_LOOPS = [(m, "native") for m in METHODS] + [("proposed", "cvxpy")]


@pytest.mark.parametrize(("method", "backend"), CLOSED_LOOPS)
def test_closed_loop_meets_the_request_and_keeps_soc_in_bounds(method, backend):
    seconds = 240 if backend == "native" else 60  # the cvxpy MIQCP takes ~0.5 s a step
    request = 0.5 * TOTAL_KW * regd_like(seconds, np.random.default_rng(3))
    mode = "priority" if method == "loss_only" else "miqcp"
    settings = LoopSettings(mode=mode, backend=backend, time_limit_s=20.0)  # no fallback on a busy CPU
    result = run_loop(CASE1, request, method, settings)
    steps = result.steps
    assert np.abs(steps["shortfall_kw"]).max() <= 1e-3 * TOTAL_KW
    for m in CASE1:
        assert steps[f"soc_{m.name}"].between(m.soc_min - 1e-9, m.soc_max + 1e-9).all()
        off = steps["active_modules"] == 0
        assert (steps.loc[off, f"power_kw_{m.name}"] == 0).all()
    assert result.totals["fallback_steps"] == 0
    assert result.totals["aging_cost_usd"] > 0 and result.totals["loss_cost_usd"] > 0


def test_shortfall_is_reported_when_the_request_exceeds_the_modules():
    request = np.full(5, 1.5 * TOTAL_KW)
    for method in ("proposed", "capacity"):
        steps = run_loop(CASE1, request, method).steps
        assert steps["shortfall_kw"].to_numpy() == pytest.approx(np.full(5, 0.5 * TOTAL_KW), abs=1e-3)
        assert (steps["delivered_kw"] <= TOTAL_KW + 1e-6).all()


def test_soc_limits_hold_when_the_request_drains_the_modules():
    low = [m.__class__(**{**m.__dict__, "soc0": 0.1002}) for m in CASE1]
    request = np.full(10, 0.8 * TOTAL_KW)
    for method in METHODS:
        steps = run_loop(low, request, method).steps
        for m in low:
            assert steps[f"soc_{m.name}"].min() >= m.soc_min - 1e-9, method
        assert steps["shortfall_kw"].iloc[-1] > 0  # the empty modules cannot deliver: reported


@pytest.mark.parametrize(("backend", "lagrangian"), [("native", False), ("cvxpy", False), ("native", True)])
def test_forced_time_limit_falls_back_and_finishes(backend, lagrangian):
    """Every step that runs SCIP hits the time limit and falls back; with the Lagrangian bound (native backend),
    the steps whose warm start the bound proves optimal never reach SCIP and do not fall back. The limit is 0:
    SCIP's CPU clock ticks in steps of about 10 ms, so a fast step finishes before a tiny positive limit."""
    request = 0.4 * TOTAL_KW * regd_like(40, np.random.default_rng(0))
    settings = LoopSettings(backend=backend, time_limit_s=0.0, fallback="capacity", lagrangian=lagrangian)
    result = run_loop(CASE1, request, "proposed", settings)
    proven = int(result.totals.get(f"status_{PROVEN}", 0))
    assert result.totals["fallback_steps"] == len(request) - proven
    assert result.totals["fallback_steps"] >= 1
    if backend == "native":
        assert result.totals.get("status_time limit", 0) == len(request) - proven
    if not lagrangian:
        assert proven == 0 and result.steps["fallback"].all()
        baseline = run_loop(CASE1, request, "capacity")
        assert result.totals["loss_cost_usd"] == pytest.approx(baseline.totals["loss_cost_usd"])
    assert np.abs(result.steps["shortfall_kw"]).max() <= 1e-6


@pytest.mark.parametrize("backend", BACKENDS)
def test_missing_solver_falls_back_and_is_counted(monkeypatch, backend):
    def missing(self):
        raise ImportError("No module named 'pyscipopt'")

    monkeypatch.setattr(NativeScheduler if backend == "native" else sched.Scheduler, "_build", missing)
    request = np.full(4, 10.0)
    result = run_loop(CASE1, request, "proposed", LoopSettings(backend=backend))
    assert result.totals["fallback_steps"] == 4
    assert any(key.startswith("status_solver missing") for key in result.totals)


def test_priority_mode_fixes_binaries_by_the_rule():
    soc = np.array([m.soc0 for m in CASE1])
    on = sched.priority_activation(CASE1, soc, 5.0, np.zeros(N), np.zeros(N), DT_H)
    assert on.sum() >= 1 and on[0] == 1.0  # lowest loss coefficient first
    assert sched.priority_activation(CASE1, soc, 0.0, np.zeros(N), np.zeros(N), DT_H).sum() == 0
    full = sched.priority_activation(CASE1, soc, 0.99 * TOTAL_KW, np.zeros(N), np.zeros(N), DT_H)
    assert full.sum() == N
    decision = sched.Scheduler(CASE1, mode="priority").solve(soc, [5.0], np.zeros(N), np.zeros(N), np.ones(N))
    assert decision.ok and np.array_equal(decision.on, on)
    assert decision.power_kw.sum() == pytest.approx(5.0, abs=1e-4)


def test_water_fill_respects_caps_and_proportions():
    share = water_fill(10.0, np.array([1.0, 1.0, 2.0]), np.array([1.0, 10.0, 10.0]))
    assert share.sum() == pytest.approx(10.0)
    assert share[0] == 1.0 and share[2] == pytest.approx(2 * share[1])
    dis, _ = limits(CASE1, np.array([m.soc0 for m in CASE1]), DT_H)
    assert allocate("capacity", CASE1, np.array([m.soc0 for m in CASE1]), 1e6, DT_H) == pytest.approx(dis)


@pytest.mark.parametrize(("mode", "backend"), [("miqcp", "native"), ("miqcp", "cvxpy"), ("priority", "cvxpy")])
def test_receding_horizon_with_a_known_forecast(mode, backend):
    request = 0.5 * TOTAL_KW * regd_like(20, np.random.default_rng(5))
    settings = LoopSettings(mode=mode, backend=backend, horizon=3, forecast="perfect", time_limit_s=20.0)
    result = run_loop(CASE1, request, "proposed", settings)
    assert result.totals["fallback_steps"] == 0
    assert np.abs(result.steps["shortfall_kw"]).max() <= 1e-3 * TOTAL_KW
