"""Synthetic objectives: oracle gradients equal autograd of the losses; the stated optimum is optimal."""

from __future__ import annotations

import pytest
import torch

from methods.data.synthetic import HeterogeneousLogistic, RobustShiftedObjective


def test_robust_shifted_gradients_and_optimum():
    obj = RobustShiftedObjective(n_workers=4, blocks=20, block_size=3, noise_blocks=12)
    x = torch.randn(obj.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0), requires_grad=True)
    C, s = obj.noise_blocks, obj.signal_block

    def mean_loss(x):
        target = obj._xi[:, None, None] + obj._gam[:, None, None] * x[s][None, None, :]
        return 0.5 * ((x[s] - obj.signal_scale) ** 2).sum() + 0.5 * ((x[:C][None] - target) ** 2).sum((1, 2)).mean() / C

    (auto,) = torch.autograd.grad(mean_loss(x), x)
    oracle = torch.stack([obj.gradient(i, x.detach(), 0, noise=False) for i in range(4)]).mean(0)
    torch.testing.assert_close(oracle, auto, rtol=1e-10, atol=1e-10)
    assert obj.loss(x.detach()) == pytest.approx(mean_loss(x).item(), rel=1e-12)
    opt = obj.optimum()
    g = torch.stack([obj.gradient(i, opt, 0, noise=False) for i in range(4)]).mean(0)
    assert float(g.abs().max()) < 1e-10 and obj.distance(opt) == 0.0
    assert float(opt[s, 0]) == pytest.approx((1 - 500) / 26)  # (S - E[gamma xi]) / (1 + E[gamma^2])
    noisy = [obj.gradient(0, opt, t) for t in (0, 0, 1)]
    assert torch.equal(noisy[0], noisy[1]) and not torch.equal(noisy[0], noisy[2])


def test_heterogeneous_logistic_gradients():
    prob = HeterogeneousLogistic(n_samples=1200, n_workers=4)
    w = torch.randn(prob.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    flat = w.reshape(-1)
    loss = torch.nn.functional.softplus(-prob.labels * (prob.features @ flat)).mean() + prob.rho * (flat**2 / (1 + flat**2)).sum()
    (auto,) = torch.autograd.grad(loss, w)
    torch.testing.assert_close(prob.full_gradient(w.detach()), auto, rtol=1e-10, atol=1e-12)
    assert prob.loss(w.detach()) == pytest.approx(loss.item(), rel=1e-12)
    g0, g3 = prob.gradient(0, w.detach(), 5), prob.gradient(3, w.detach(), 5)
    assert g0.shape == prob.shape and not torch.allclose(g0, g3)
    # contiguous split: the first and the last worker hold different feature groups
    per = 300
    assert float(prob.features[:per].mean()) < -0.5 < 0.5 < float(prob.features[-per:].mean())
    with pytest.raises(ValueError, match="rows"):
        HeterogeneousLogistic(dim=40, rows=7)
