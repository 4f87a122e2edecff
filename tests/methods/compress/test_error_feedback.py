"""Error feedback: EF14 identity, EF21 server == mean of workers, EF21M limits, use with SGD/momentum/Adam."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from methods.compress import (
    CompressContext,
    SimulatedCollective,
    make_compressor,
    make_error_feedback,
    run_lockstep,
)
from methods.compress.simulated import SimulatedWorkers, optimize_objective

COMPRESSORS = [
    ("topk", {"ratio": 0.3}),
    ("randk", {"ratio": 0.3}),
    ("arc_topk", {"ratio": 0.3, "rank": 2, "min_compression_rate": 0.0}),
    ("powersgd", {"rank": 1, "min_compression_rate": 0.0}),
    ("greedylore", {"rank": 1, "refresh_period": 3, "min_compression_rate": 0.0}),
]


def _run(ef_name, comp, ef_params, grads_by_step, n_workers, seed=0):
    comps = [make_compressor(comp[0], **comp[1]) for _ in range(n_workers)]
    efs = [make_error_feedback(ef_name, **ef_params) for _ in range(n_workers)]
    outs = []
    for step, grads in enumerate(grads_by_step):
        ctx = CompressContext("w", step, seed, n_workers)
        before = [dict(ef.memory("w")) for ef in efs]
        res = run_lockstep([[ef.run(c, g, ctx)] for ef, c, g in zip(efs, comps, grads)], SimulatedCollective(n_workers))
        outs.append((before, [r[0] for r in res], [dict(ef.memory("w")) for ef in efs]))
    return outs, efs


def _grads(seed, steps, n_workers, shape=(8, 10)):
    gen = torch.Generator().manual_seed(seed)
    return [[torch.randn(shape, generator=gen, dtype=torch.float64) for _ in range(n_workers)] for _ in range(steps)]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), comp=st.sampled_from(COMPRESSORS), n_workers=st.integers(1, 4))
def test_ef14_identity_e_new_plus_c_equals_g_plus_e_old(seed, comp, n_workers):
    grads = _grads(seed, 4, n_workers)
    comps = [make_compressor(comp[0], **comp[1]) for _ in range(n_workers)]
    efs = [make_error_feedback("ef14") for _ in range(n_workers)]
    for step, gs in enumerate(grads):
        e_old = [ef.memory("w").get("error", torch.zeros_like(g)) for ef, g in zip(efs, gs)]
        h = [g + e for g, e in zip(gs, e_old)]
        # c = what the compressor made of h: rerun an identical compressor copy on h to observe it
        mirror = [make_compressor(comp[0], **comp[1]) for _ in range(n_workers)]
        for mc, c in zip(mirror, comps):
            mc.load_state_dict(c.state_dict())
        from methods.compress.simulated import compress_once

        c_res, _ = compress_once(mirror, h, name="w", step=step)
        ctx = CompressContext("w", step, 0, n_workers)
        out = run_lockstep([[ef.run(c, g, ctx)] for ef, c, g in zip(efs, comps, gs)], SimulatedCollective(n_workers))
        for i, ef in enumerate(efs):
            torch.testing.assert_close(ef.memory("w")["error"] + c_res[i].local, gs[i] + e_old[i], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(out[0][0], c_res[0].aggregate, rtol=0, atol=0)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), comp=st.sampled_from(COMPRESSORS), n_workers=st.integers(1, 4),
       ef=st.sampled_from([("ef21", {}), ("ef21", {"dense_init": False}), ("ef21m", {"eta": 0.3}),
                           ("ef21_sgd2m", {"eta": 0.5})]))
def test_ef21_server_state_equals_mean_of_worker_states_every_step(seed, comp, n_workers, ef):
    outs, efs = _run(ef[0], comp, ef[1], _grads(seed, 5, n_workers), n_workers)
    for before, directions, after in outs:
        server = after[0]["server"]
        assert all(torch.equal(a["server"], server) for a in after)
        torch.testing.assert_close(server, torch.stack([a["local"] for a in after]).mean(0), rtol=1e-10, atol=1e-10)
        assert torch.equal(directions[0], server)


def test_ef21_dense_init_starts_from_the_exact_mean_and_local_state_tracks_compressed_differences():
    grads = _grads(4, 3, 3)
    outs, _ = _run("ef21", COMPRESSORS[2], {}, grads, 3)
    torch.testing.assert_close(outs[0][1][0], torch.stack(grads[0]).mean(0))
    for step in (1, 2):
        before, _, after = outs[step]
        for i in range(3):
            diff = after[i]["local"] - before[i]["local"]
            # the change is C(grad - g_i): supported on the ARC rows shared by all workers
            support = diff.abs().sum(1) > 0
            assert int(support.sum()) <= 2


def test_ef21m_with_eta_one_is_ef21():
    grads = _grads(7, 5, 3)
    a, _ = _run("ef21", COMPRESSORS[0], {}, grads, 3)
    b, _ = _run("ef21m", COMPRESSORS[0], {"eta": 1.0}, grads, 3)
    for (_, da, _), (_, db, _) in zip(a, b):
        torch.testing.assert_close(da[0], db[0], rtol=0, atol=0)


@pytest.mark.parametrize("eta", [0.1, 0.5])
def test_ef21m_with_identity_compressor_is_dense_momentum_sgd(eta):
    """x_{t+1} = x_t - lr * mean_i v_i with v_i = (1-eta) v_i + eta g_i == torch SGD(momentum=dampening=1-eta)."""
    targets = [torch.randn(6, 5, generator=torch.Generator().manual_seed(i), dtype=torch.float64) for i in range(3)]

    def grad(i, x, t):  # f_i = 0.5 ||x - A_i||^2 + a little curvature coupling, plus noise seeded by worker and step
        noise = torch.randn(6, 5, generator=torch.Generator().manual_seed(100 * t + i), dtype=torch.float64)
        return (x - targets[i]) + 0.1 * torch.sin(x) + 0.01 * noise

    workers = SimulatedWorkers.build(3, "none", "ef21m", error_feedback_params={"eta": eta})
    rows = optimize_objective(torch.zeros(6, 5, dtype=torch.float64), grad, workers,
                              lambda p: torch.optim.SGD(p, lr=0.2), steps=30,
                              metrics_fn=lambda x: {"x": x.clone()})
    x = torch.nn.Parameter(torch.zeros(6, 5, dtype=torch.float64))
    opt = torch.optim.SGD([x], lr=0.2, momentum=1 - eta, dampening=1 - eta)
    for t in range(30):
        x.grad = torch.stack([grad(i, x.detach(), t) for i in range(3)]).mean(0)
        opt.step()
        torch.testing.assert_close(rows[t]["x"], x.detach(), rtol=1e-12, atol=1e-12)
        assert rows[t]["step"] == t


@pytest.mark.parametrize("optimizer", ["sgd", "momentum"])
def test_arc_with_ef21m_converges_on_quadratics(optimizer):
    """Research card sec. 6.1 check: f_i = 0.5 ||x - A_i||^2, N = 4, 12 x 30, K = 3 rows, r = 4, eta = 0.5.

    (Adam is exercised on the digits task in test_compress_simulated.py.)
    """
    gen = torch.Generator().manual_seed(0)
    targets = [torch.randn(12, 30, generator=gen, dtype=torch.float64) for _ in range(4)]
    opt = {
        "sgd": lambda p: torch.optim.SGD(p, lr=0.2),
        "momentum": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.5),
    }[optimizer]
    workers = SimulatedWorkers.build(4, "arc_topk", "ef21m", compressor_params={"ratio": 0.25, "rank": 4},
                                     error_feedback_params={"eta": 0.5}, seed=1)
    opt_x = torch.stack(targets).mean(0)
    rows = optimize_objective(torch.zeros(12, 30, dtype=torch.float64), lambda i, x, t: x - targets[i], workers, opt,
                              300, metrics_fn=lambda x: {"dist": float((x - opt_x).norm())})
    assert rows[-1]["dist"] < 1e-9 * float(opt_x.norm())
    assert rows[-1]["payload_bytes_per_worker"] == 4 * 12 * 4 + 8 * 3 * 30  # fp32 sketch, fp64 rows


def test_unknown_error_feedback_and_bad_eta_are_clear_errors():
    with pytest.raises(ValueError, match="unknown error feedback 'ef99'; known: ef14, ef21"):
        make_error_feedback("ef99")
    for eta in (0.0, 1.5):
        with pytest.raises(ValueError, match="ef21m.eta: expected a momentum weight in"):
            make_error_feedback("ef21m", eta=eta)
    assert make_error_feedback("ef21m", eta=1.0).eta == 1.0


def test_state_dict_round_trip():
    grads = _grads(1, 3, 2)
    _, efs = _run("ef21m", COMPRESSORS[0], {"eta": 0.4}, grads, 2)
    fresh = make_error_feedback("ef21m", eta=0.4)
    fresh.load_state_dict(efs[0].state_dict())
    for k, v in efs[0].memory("w").items():
        assert torch.equal(fresh.memory("w")[k], v)
    with pytest.raises(ValueError, match="state_dict is for error feedback 'ef21m', not 'ef14'"):
        make_error_feedback("ef14").load_state_dict(efs[0].state_dict())


@pytest.mark.parametrize("double", [False, True])
def test_heavy_ball_form_of_the_arc_script_is_ef21m_with_zero_init_and_rescaled_step(double):
    """Script: v = b v + g (u = b u + v); c = C(target - e); e += c; x -= lr mean(e). Ours: eta = 1 - b, lr / eta^k."""
    beta, lr, n_workers, steps = 0.5, 0.05, 3, 12
    eta = 1 - beta
    targets = [torch.randn(10, 4, generator=torch.Generator().manual_seed(i), dtype=torch.float64) for i in range(3)]

    def grad(i, x, t):
        return x - targets[i] + 0.05 * torch.cos(3 * x)

    comps = [make_compressor("topk", ratio=0.2, rows=True) for _ in range(n_workers)]  # the script's Local Top-K
    from methods.compress.simulated import compress_once

    x = torch.zeros(10, 4, dtype=torch.float64)
    v = [torch.zeros_like(x) for _ in range(n_workers)]
    u = [torch.zeros_like(x) for _ in range(n_workers)]
    e = [torch.zeros_like(x) for _ in range(n_workers)]
    script = []
    for t in range(steps):
        g = [grad(i, x, t) for i in range(n_workers)]
        v = [beta * vi + gi for vi, gi in zip(v, g)]
        u = [beta * ui + vi for ui, vi in zip(u, v)]
        tgt = u if double else v
        res, _ = compress_once(comps, [ti - ei for ti, ei in zip(tgt, e)], step=t)
        e = [ei + r.local for ei, r in zip(e, res)]
        x = x - lr * torch.stack(e).mean(0)
        script.append(x.clone())
    workers = SimulatedWorkers.build(n_workers, "topk", "ef21_sgd2m" if double else "ef21m",
                                     compressor_params={"ratio": 0.2, "rows": True},
                                     error_feedback_params={"eta": eta, "zero_init": True, "dense_init": False})
    ours = optimize_objective(torch.zeros(10, 4, dtype=torch.float64), grad, workers,
                              lambda p: torch.optim.SGD(p, lr=lr / eta ** (2 if double else 1)), steps,
                              metrics_fn=lambda x: {"x": x.clone()})
    for t in range(steps):
        torch.testing.assert_close(ours[t]["x"], script[t], rtol=1e-10, atol=1e-12)
