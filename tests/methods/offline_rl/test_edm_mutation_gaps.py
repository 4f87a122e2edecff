"""Mutation-audit gaps of the EDM teacher (methods/offline_rl/edm.py), closed with hand values and closed forms:
the preconditioning c_skip / c_out / c_in and the loss weight at given sigmas (Karras et al. 2022, Table 1, with
RACTD's boundary shift sigma - sigma_min), the 250 log(sigma) time input, the grid's middle level, the
pseudo-Huber distance and its "auto" delta, the denoiser's wiring of F, one Heun step on a Gaussian's exact
denoiser, every sampler's path on a point mass (exact for the ODE samplers, the DDPM posterior for the ancestral
one) and DDIM's Euler steps on a Gaussian; the training loss's sigma distribution, noise scale and weight; and the
teacher's optimiser (the authors' AdamW betas and weight decay) drawing batches from the whole dataset."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from methods.offline_rl.edm import (EDMConfig, EDMDenoiser, heun_step, karras_sigmas, karras_weight, pseudo_huber,
                                    sample, scalings, time_input, train_denoiser)

#: (sigma, c_skip, c_out, c_in) for sigma_data 0.5, sigma_min 0.02, worked by hand:
#: c_skip = 0.25 / ((s - 0.02)^2 + 0.25), c_out = 0.5 (s - 0.02) / sqrt(s^2 + 0.25), c_in = 1 / sqrt(s^2 + 0.25)
SCALINGS = [
    (0.5, 0.25 / 0.4804, 0.24 / math.sqrt(0.5), 1 / math.sqrt(0.5)),  # 0.5204, 0.3394, 1.4142
    (1.0, 0.25 / 1.2104, 0.49 / math.sqrt(1.25), 1 / math.sqrt(1.25)),  # 0.2065, 0.4383, 0.8944
    (2.0, 0.25 / 4.1704, 0.99 / math.sqrt(4.25), 1 / math.sqrt(4.25)),  # 0.0599, 0.4802, 0.4851
]


class Recorder(nn.Module):
    """A stand-in network F(x_in, t_in, obs): returns ``out(x_in, t_in)`` and keeps its inputs."""

    def __init__(self, out=lambda x, t: torch.zeros_like(x)) -> None:
        super().__init__()
        self.out = out
        self.inputs: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, x, t, obs=None, s=None):
        self.inputs.append((x.detach().clone(), t.detach().clone()))
        return self.out(x, t)


class Exact(nn.Module):
    """A denoiser D(x, sigma) given in closed form, with the EDM config the samplers read."""

    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn
        self.cfg = EDMConfig()

    def forward(self, x, sigma, obs=None):
        return self.fn(x, torch.as_tensor(sigma, dtype=x.dtype).reshape(-1, *([1] * (x.ndim - 1))))


@pytest.mark.parametrize("sigma, c_skip, c_out, c_in", SCALINGS, ids=["0.5", "1", "2"])
def test_scalings_and_weight_at_hand_worked_sigmas(sigma, c_skip, c_out, c_in):
    got = [float(v) for v in scalings(torch.tensor([sigma], dtype=torch.float64))]
    assert got == pytest.approx([c_skip, c_out, c_in], rel=1e-9)
    # lambda = (s^2 + 0.25) / (0.5 s)^2: 8 at 0.5, 5 at 1, 4.25 at 2
    expected = {0.5: 8.0, 1.0: 5.0, 2.0: 4.25}[sigma]
    assert float(karras_weight(torch.tensor(sigma, dtype=torch.float64))) == pytest.approx(expected, rel=1e-12)


def test_time_input_is_250_log_sigma():
    assert time_input(torch.tensor([1.0, math.e, 0.02], dtype=torch.float64)).tolist() == pytest.approx(
        [0.0, 250.0, 250 * -3.912023005428146], rel=1e-12)


def test_karras_grid_middle_level():
    """Three bins: the middle level is the mean of 80^(1/7) and 0.02^(1/7) raised to 7: (1.870243 + 0.571858)/2 =
    1.221050, ^7 = 4.04565."""
    grid = karras_sigmas(3)
    assert grid.tolist() == pytest.approx([80.0, 4.0456472506, 0.02], rel=1e-5)


def test_pseudo_huber_hand_values():
    pred = torch.zeros(2, 2, 2)
    target = torch.zeros(2, 2, 2)
    # delta 1: sqrt(e^2 + 1) - 1 is 1 at e = sqrt(3) and 2 at e = sqrt(8); sample 1 has (0, sqrt3, sqrt8, 0) -> 0.75
    pred[1] = torch.tensor([[0.0, math.sqrt(3)], [math.sqrt(8), 0.0]])
    assert pseudo_huber(pred, target, delta=1.0).tolist() == pytest.approx([0.0, 0.75], rel=1e-6)
    # auto delta = 0.00054 sqrt(4 elements per sample) = 0.00108, and e = delta sqrt(3) gives exactly delta
    delta = 0.00108
    pred = torch.full((2, 2, 2), delta * math.sqrt(3), dtype=torch.float64)
    pred[0] = 0.0
    assert pseudo_huber(pred, torch.zeros_like(pred)).tolist() == pytest.approx([0.0, delta], rel=1e-9)


def test_denoiser_feeds_c_in_x_and_the_time_input_to_f():
    """D = c_skip x + c_out F(c_in x, 250 log sigma): with F = its input, D = (c_skip + c_out c_in) x; with
    F = t_in / 250, D(0, sigma) = c_out log(sigma)."""
    sigma, c_skip, c_out, c_in = SCALINGS[1]
    x = torch.tensor([[[1.0, -2.0]]], dtype=torch.float64)
    identity = EDMDenoiser(Recorder(lambda x_in, t: x_in))
    assert identity(x, torch.tensor(sigma)).flatten().tolist() == pytest.approx(
        [c_skip + c_out * c_in, -2 * (c_skip + c_out * c_in)], rel=1e-9)
    sigma, _, c_out_2, _ = SCALINGS[2]
    log_sigma = EDMDenoiser(Recorder(lambda x_in, t: (t / 250.0)[:, None, None].expand_as(x_in)))
    got = log_sigma(torch.zeros(1, 1, 2, dtype=torch.float64), torch.tensor(sigma)).flatten().tolist()
    assert got == pytest.approx([c_out_2 * math.log(2.0)] * 2, rel=1e-9)


def test_heun_step_on_a_gaussian_exact_denoiser():
    """Data N(0, 1): D(x, s) = x / (1 + s^2). From x = 1 at sigma 2 to 1: d = (1 - 1/5)/2 = 0.4, Euler guess 0.6,
    d' = (0.6 - 0.3)/1 = 0.3, Heun 1 - (0.4 + 0.3)/2 = 0.65 (Euler alone: 0.6; the ODE: sqrt(2/5) = 0.632).
    To sigma 0 it is one Euler step: from 1 at sigma 1, d = 0.5, x = 0.5."""
    gauss = Exact(lambda x, s: x / (1 + s**2))
    x = torch.ones(2, 1, 1, dtype=torch.float64)
    assert heun_step(gauss, x, 2.0, 1.0).flatten().tolist() == pytest.approx([0.65, 0.65], rel=1e-12)
    # per-sample levels; the second sample from 1 to 0.5: d = 0.5, guess 0.75, d' = (0.75 - 0.6)/0.5 = 0.3, 0.8
    assert heun_step(gauss, x, torch.tensor([2.0, 1.0]), torch.tensor([1.0, 0.5])).flatten().tolist() == \
        pytest.approx([0.65, 0.8], rel=1e-12)
    assert heun_step(gauss, x, 1.0, 0.0).flatten().tolist() == pytest.approx([0.5, 0.5], rel=1e-12)


def _path(sampler: str, c: float | None, n: int = 20_000) -> list[torch.Tensor]:
    """x at the start and after every step of a 3-bin grid (80, 4.0456, 0.02, then 0) for the point mass at c,
    whose exact denoiser is D = c (c None: data N(0, 1), D = x / (1 + sigma^2))."""
    states: list[torch.Tensor] = []
    dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # x_T in float64: Heun's last steps cancel large terms

    def keep(x):
        states.append(x.clone())
        return x

    try:
        exact = Exact(lambda x, s: x / (1 + s**2)) if c is None else Exact(lambda x, s: torch.full_like(x, c))
        out = sample(exact, (n, 1, 1), sampler=sampler, steps=3,
                     generator=torch.Generator().manual_seed(0), condition=keep)
    finally:
        torch.set_default_dtype(dtype)
    assert torch.equal(out, states[-1]) and len(states) == 4
    return [s.flatten() for s in states]


@pytest.mark.parametrize("sampler", ["heun", "ddim"])
def test_ode_samplers_follow_the_point_mass_flow_exactly(sampler):
    """For a point mass at c the PF-ODE is x(sigma) = c + (x_T - c) sigma / sigma_max, on which Euler and Heun are
    exact; x_T = 80 N(0, 1), and the last step lands on c."""
    c = 0.3
    x_t, *rest = _path(sampler, c)
    assert float(x_t.std()) == pytest.approx(80.0, rel=0.03)
    for state, level in zip(rest, [4.0456472506, 0.02, 0.0]):
        assert torch.allclose(state, c + (x_t - c) * level / 80.0, rtol=1e-6, atol=1e-7), level


def test_ddim_steps_on_a_gaussian():
    """DDIM is the Euler step x' = x + (s' - s)(x - D(x, s))/s; with D = x / (1 + s^2) each step scales x by
    1 + (s' - s) s / (1 + s^2): 0.0507189 (80 -> 4.0456), 0.0622385 (-> 0.02), 0.9996002 (-> 0)."""
    states = _path("ddim", None, n=10)
    for before, after, ratio in zip(states, states[1:], (0.0507189158, 0.0622385362, 0.9996001599)):
        assert torch.allclose(after, before * ratio, rtol=1e-6)


def test_ddpm_step_is_the_gaussian_posterior_on_a_point_mass():
    """Ancestral step from s to s' with D = c: x' - c = (s'/s)^2 (x - c) + s' sqrt(1 - (s'/s)^2) z (the DDPM
    posterior q(x_s' | x_s, x_0 = c) in sigma form): slope and residual spread per step (200,000 draws), last step
    onto c."""
    c = -0.2
    states = _path("ddpm", c, n=200_000)
    for (before, after), (s, s_next) in zip(zip(states, states[1:3]), [(80.0, 4.0456472506), (4.0456472506, 0.02)]):
        u, v = before - c, after - c
        slope = float((u * v).sum() / (u * u).sum())
        residual = float((v - slope * u).std())
        # least-squares slope: standard error residual / (s sqrt(n)) = 1.1e-4 on the first step; 6e-4 is 5 of them
        assert slope == pytest.approx((s_next / s) ** 2, abs=6e-4), (s, s_next)
        assert residual == pytest.approx(s_next * math.sqrt(1 - (s_next / s) ** 2), rel=0.03), (s, s_next)
    assert torch.allclose(states[-1], torch.full_like(states[-1], c), atol=1e-6)


def test_training_sigma_is_clamped_log_normal_and_the_noise_has_std_sigma():
    """ln sigma ~ N(-1.2, 1.2^2) clamped to [ln 0.02, ln 80] (1.2 % of draws sit on the lower clamp, moving the
    mean by ~0.005); x_sigma - x0 = sigma z, read back from F's input c_in x_sigma."""
    rec = Recorder()
    EDMDenoiser(rec).loss(torch.zeros(20_000, 1, 1), None, generator=torch.Generator().manual_seed(0))
    x_in, t_in = rec.inputs[0]
    log_sigma = t_in.double() / 250.0
    assert float(log_sigma.mean()) == pytest.approx(-1.2, abs=0.03)
    assert float(log_sigma.std()) == pytest.approx(1.2, abs=0.03)
    assert float(log_sigma.min()) == pytest.approx(math.log(0.02), abs=1e-5)
    assert float(log_sigma.max()) < math.log(80.0)
    sigma = log_sigma.exp()
    z = x_in.flatten().double() * torch.sqrt(sigma**2 + 0.25) / sigma
    assert float(z.std()) == pytest.approx(1.0, abs=0.02) and abs(float(z.mean())) < 0.02


def test_training_loss_is_karras_weighted_pseudo_huber_plus_the_penalty():
    """sigma fixed at 1 (P_mean 0, P_std 0), F = 0, x0 = 0: D = c_skip(1) z = 0.2065433 z, so the loss is
    lambda(1) E[sqrt(e^2 + d^2) - d] = 5 (0.2065433 sqrt(2/pi) - 0.00054) = 0.82129 (to ~1e-6), plus the penalty."""
    denoiser = EDMDenoiser(Recorder(), EDMConfig(p_mean=0.0, p_std=0.0))
    x0 = torch.zeros(200_000, 1, 1)
    expected = 5 * (0.2065432915 * math.sqrt(2 / math.pi) - 0.00054)
    loss = denoiser.loss(x0, None, generator=torch.Generator().manual_seed(0))
    assert float(loss) == pytest.approx(expected, rel=0.01)
    with_penalty = denoiser.loss(x0, None, generator=torch.Generator().manual_seed(0),
                                 penalty=lambda denoised, obs: torch.tensor(1.0))
    assert float(with_penalty) == pytest.approx(float(loss) + 1.0, rel=1e-6)


def test_teacher_training_uses_the_authors_adamw_and_draws_from_all_sequences(monkeypatch):
    seen, made = [], []
    real = torch.optim.AdamW

    def adamw(params, **kwargs):
        made.append(kwargs)
        return real(params, **kwargs)

    monkeypatch.setattr(torch.optim, "AdamW", adamw)

    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(()))

        def loss(self, x0, obs, generator=None, penalty=None):
            seen.append(x0.flatten().tolist())
            return (self.w - 1.0) ** 2

    x0 = torch.arange(10.0).reshape(10, 1, 1)
    train_denoiser(Spy(), x0, steps=20, batch=4, lr=0.5)
    assert made == [{"lr": 0.5, "betas": (0.95, 0.999), "weight_decay": 1e-6}]
    assert set(sum(seen, [])) == set(range(10)) and all(len(batch) == 4 for batch in seen)
