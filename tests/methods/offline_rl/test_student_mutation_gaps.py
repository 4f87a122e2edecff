"""Mutation-audit gaps of the RACTD student (methods/offline_rl/student.py), closed with hand values and recorded
calls on stand-in networks: G(x, t, s) at hand-worked t, s with F's three inputs pinned; the one-step sample's
N(0, I) start and its (sigma_max, sigma_min) jump; the chained jumps' grid levels (bins 27 and 53 of 80), noise
and clamp; the loss's time sampler (t, one bin below it u, s at or below u), the CTM call graph
G_sg(G(x_t, t, s), s, sigma_min) against G_sg(G_sg(Heun_teacher(x_t, t -> u), u, s), s, sigma_min), the DSM
sigma halves, noise, Karras weight and value, the reward term's input (first action of the DSM output and the
state), the weighted total; the stop-grad copy's EMA update over batches drawn across the data; zero weights
moving nothing; the authors' default settings; and the warm start refusing a network that does not extend the
teacher's and reading through a counting wrapper."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch import nn

import methods.offline_rl.student as student_mod
from methods.offline_rl.edm import EDMConfig, EDMDenoiser, karras_sigmas
from methods.offline_rl.networks import NetworkConfig, build_network
from methods.offline_rl.planner import count_calls
from methods.offline_rl.student import CTMStudent, StudentConfig, student_from_teacher, student_losses, train_student

C_OUT_2 = 0.99 / math.sqrt(4.25)  # c_out(2) = 0.5 (2 - 0.02) / sqrt(4 + 0.25) = 0.4802205
C_IN_80 = 1 / math.sqrt(6400.25)  # c_in(80)
GRID = karras_sigmas(80).double()


class Net(nn.Module):
    """A stand-in F(x_in, t_in, obs, s_in) = ``out(x_in, t_in, s_in)`` that keeps its inputs."""

    def __init__(self, out=lambda x, t, s: torch.zeros_like(x)) -> None:
        super().__init__()
        self.out = out
        self.weight = nn.Parameter(torch.zeros(()))  # something for an optimiser to hold
        self.inputs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def forward(self, x, t, obs=None, s=None):
        self.inputs.append((x.detach().clone(), t.detach().clone(), s.detach().clone()))
        return self.out(x, t, s) + self.weight * x


def _broadcast(v, x):
    return v.reshape(-1, *([1] * (x.ndim - 1))).expand_as(x).to(x.dtype)


def test_jump_hand_values_pin_each_input_of_f():
    """t = 1, s = 0.5 (s/t = 0.5), F = its input: g = (c_skip + c_out c_in) x = (0.2065433 + 0.392) x, so
    G = 0.5 x + 0.5 g = 0.7992716 x. t = 2, s = 0.5 (s/t = 0.25), x = 0: G = 0.75 c_out(2) F with F = ln t = ln 2
    (0.249655) or F = ln s = ln 0.5 (-0.249655): the time inputs are 250 ln t and 250 ln s, in that order."""
    x = torch.tensor([[[1.0], [-3.0]]], dtype=torch.float64)
    one, half, two = (torch.tensor(v, dtype=torch.float64) for v in (1.0, 0.5, 2.0))
    identity = CTMStudent(Net(lambda x_in, t, s: x_in))
    assert identity(x, one, half).flatten().tolist() == pytest.approx([0.7992716, -3 * 0.7992716], rel=1e-6)
    zeros = torch.zeros(1, 2, 1, dtype=torch.float64)
    by_t = CTMStudent(Net(lambda x_in, t, s: _broadcast(t / 250.0, x_in)))
    by_s = CTMStudent(Net(lambda x_in, t, s: _broadcast(s / 250.0, x_in)))
    assert by_t(zeros, two, half).flatten().tolist() == pytest.approx([0.75 * C_OUT_2 * math.log(2)] * 2, rel=1e-9)
    assert by_s(zeros, two, half).flatten().tolist() == pytest.approx([0.75 * C_OUT_2 * math.log(0.5)] * 2,
                                                                      rel=1e-9)


def test_one_step_sample_starts_from_unit_noise_and_jumps_from_sigma_max_to_sigma_min():
    net = Net()
    CTMStudent(net).sample((20_000, 1, 1), generator=torch.Generator().manual_seed(0))
    (x_in, t_in, s_in), = net.inputs
    assert float(t_in[0]) == pytest.approx(250 * math.log(80.0), rel=1e-6)
    assert float(s_in[0]) == pytest.approx(250 * math.log(0.02), rel=1e-6)
    assert float(x_in.std()) / C_IN_80 == pytest.approx(1.0, abs=0.03)  # N(0, I), not N(0, 80^2 I)


def test_chained_jumps_renoise_at_bins_27_and_53_and_clamp():
    """Three evaluations: the one-step sample, then re-noised to the grid levels of bins round(80/3) = 27 and
    round(160/3) = 53 (12.01478 and 0.99397, from the rho = 7 ramp) and jumped to sigma_min each time."""
    net = Net()
    CTMStudent(net).sample_chain((20_000, 1, 1), nfe=3, generator=torch.Generator().manual_seed(0))
    assert len(net.inputs) == 3
    for (x_in, t_in, s_in), level in zip(net.inputs[1:], (12.0147832885, 0.9939706593)):
        assert math.exp(float(t_in[0]) / 250) == pytest.approx(level, rel=1e-5)
        assert math.exp(float(s_in[0]) / 250) == pytest.approx(0.02, rel=1e-5)
        # F = 0 keeps the jumps' outputs near 0, so the input is c_in(level) (x + level z), std ~ level c_in(level)
        noise = x_in.double().flatten() * math.sqrt(level**2 + 0.25) / level
        assert float(noise.std()) == pytest.approx(1.0, abs=0.03), level
    big = CTMStudent(Net(lambda x_in, t, s: torch.full_like(x_in, 100.0)))
    assert torch.equal(big.sample((4, 2, 1)), torch.ones(4, 2, 1))
    assert torch.equal(big.sample_chain((4, 2, 1), nfe=2), torch.ones(4, 2, 1))
    with pytest.raises(ValueError, match="nfe must be >= 1"):
        big.sample_chain((4, 2, 1), nfe=0)


class Flow(CTMStudent):
    """The student of a point mass at 0 (g = 0, so G(x, t, s) = s/t x), recording every jump it makes."""

    def __init__(self, name: str, log: list) -> None:
        super().__init__(Net())
        self.name, self.log = name, log

    def g(self, x, t, s, obs):
        return torch.zeros_like(x) + self.net.weight * x

    def forward(self, x, t, s, obs=None):
        out = super().forward(x, t, s, obs)
        self.log.append((self.name, torch.as_tensor(t).clone(), torch.as_tensor(s).clone(), x.detach().clone(),
                         out.detach().clone()))
        return out


class Teacher(nn.Module):
    """A teacher that denoises everything to the constant c (a point mass at c) and records its calls."""

    def __init__(self, c: float, log: list) -> None:
        super().__init__()
        self.c, self.log, self.cfg = c, log, EDMConfig()

    def forward(self, x, sigma, obs=None):
        self.log.append(("teacher", sigma.clone(), obs, x.detach().clone()))
        return torch.full_like(x, self.c)


class Reward(nn.Module):
    def __init__(self, log: list) -> None:
        super().__init__()
        self.log = log

    def forward(self, action, state):
        self.log.append((action.detach().clone(), state.clone()))
        return action.sum(-1) + 0.1 * state.sum(-1)


def _losses(n: int = 2000, weights=(2.0, 3.0, 5.0)):
    log, rlog = [], []
    student, target = Flow("student", log), Flow("target", log)
    x0, obs = torch.zeros(n, 2, 1), torch.randn(n, 3, generator=torch.Generator().manual_seed(1))
    cfg = StudentConfig(alpha=weights[0], beta=weights[1], reward_weight=weights[2])
    out = student_losses(student, target, Teacher(0.5, log), Reward(rlog), x0, obs, cfg,
                         torch.Generator().manual_seed(0))
    return {k: v.detach() for k, v in out.items()}, log, rlog, obs


def _index(levels: torch.Tensor) -> torch.Tensor:
    """Grid bin of each level (exact grid values)."""
    hit = (levels.double()[:, None] - GRID[None]).abs() < 1e-6 * GRID[None]
    assert bool((hit.sum(1) == 1).all()), "a level off the Karras grid"
    return hit.double().argmax(1)


def test_ctm_time_sampler_and_call_graph():
    """t on bins 0..78, u the next bin (one teacher Heun step t -> u), s on bins u..79; the student's jump
    G(x_t, t, s) and the teacher path G_sg(Heun(x_t), u, s) are both mapped s -> sigma_min by the stop-grad copy."""
    _, log, _, obs = _losses()
    calls = [(entry[0], entry[1], entry[2]) if entry[0] != "teacher" else ("teacher", entry[1], None)
             for entry in log]
    assert [c[0] for c in calls] == ["teacher", "teacher", "target", "target", "student", "target", "student"]
    (_, t, _), (_, u, _) = calls[0], calls[1]
    assert torch.equal(log[0][2], obs) and torch.equal(log[1][2], obs)  # the teacher sees the observation
    t_bin, u_bin = _index(t), _index(u)
    assert int(t_bin.min()) == 0 and int(t_bin.max()) == 78 and torch.equal(u_bin, t_bin + 1)
    ref_jump, ref_map, direct, direct_map = calls[2], calls[3], calls[4], calls[5]
    assert torch.equal(ref_jump[1], u) and torch.equal(direct[1], t)
    s = ref_jump[2]
    s_bin = _index(s)
    assert bool((s_bin >= u_bin).all()) and int(s_bin.max()) == 79
    assert bool((s_bin == u_bin).any()) and bool((s_bin > u_bin + 10).any())  # s spread over u..79
    assert float((s_bin == 79).double().mean()) < 0.2
    assert torch.equal(direct[2], s)
    for mapped in (ref_map, direct_map):
        assert torch.equal(mapped[1], s) and torch.allclose(mapped[2], torch.full_like(s, 0.02))
    x_t = log[0][3].double()
    assert float((x_t / t.double()[:, None, None]).std()) == pytest.approx(1.0, abs=0.03)  # x_t = x0 + t z
    # the teacher's Heun step is exact on its point mass at 0.5: x_u = 0.5 + (x_t - 0.5) u / t reaches the copy
    x_u = 0.5 + (x_t - 0.5) * (u.double() / t.double())[:, None, None]
    assert torch.allclose(log[2][3].double(), x_u, rtol=1e-5, atol=1e-5)
    assert torch.equal(log[5][3], log[4][4])  # the direct jump's output goes on to sigma_min


def test_ctm_value_on_a_point_mass_teacher():
    """Teacher: point mass at c = 0.5, exact Heun step x_u = c + (x_t - c) u/t. Student: point mass at 0,
    G = s/t x. Both paths end at sigma_min: x_t sm/t against c sm/u + (x_t - c) sm/t, a gap of
    c sm (1/t - 1/u) per element, whatever x_t and s are; CTM = its pseudo-Huber distance (delta 0.00054 sqrt 2)."""
    out, log, _, _ = _losses()
    t, u = log[0][1].double(), log[1][1].double()
    gap = 0.5 * 0.02 * (1 / t - 1 / u)
    delta = 0.00054 * math.sqrt(2)
    expected = float((torch.sqrt(gap**2 + delta**2) - delta).mean())
    assert float(out["ctm"]) == pytest.approx(expected, rel=1e-4)


def test_dsm_sigmas_noise_weight_and_value():
    """Half of sigma from the noisy end (xi in [0, 0.7] of the rho ramp: sigma in [0.75881, 80]), half log-normal
    (ln sigma ~ N(-1.2, 1.2^2): median 0.3012) clamped at 0.02; x_sigma = x0 + sigma z; G(x_sigma, sigma, sigma_min)
    = sm z, so DSM = mean lambda(sigma) PH(sm z) with lambda = (sigma^2 + 1/4) / (sigma/2)^2."""
    out, log, _, _ = _losses()
    name, sigma, stop, x_sigma, denoised = log[6]
    assert name == "student" and torch.allclose(stop, torch.full_like(stop, 0.02))
    sigma = sigma.double()
    noisy, lognormal = sigma[:1000], sigma[1000:]
    assert float(noisy.min()) >= 0.7588146715 * (1 - 1e-5) and float(noisy.min()) < 0.85
    assert float(noisy.max()) > 60
    assert float(lognormal.median()) == pytest.approx(math.exp(-1.2), rel=0.1)
    assert float(lognormal.log().std()) == pytest.approx(1.2, abs=0.08)  # 1.19 once clamped; sampling error 0.03
    assert float(lognormal.min()) == pytest.approx(0.02, rel=1e-5) and float(lognormal.max()) <= 80
    z = x_sigma.double() / sigma[:, None, None]
    assert float(z.std()) == pytest.approx(1.0, abs=0.03)
    weight = (sigma**2 + 0.25) / (0.5 * sigma) ** 2
    e = 0.02 * z
    delta = 0.00054 * math.sqrt(2)
    expected = float((weight * (torch.sqrt(e**2 + delta**2) - delta).mean(dim=(1, 2))).mean())
    assert float(out["dsm"]) == pytest.approx(expected, rel=1e-4)


def test_reward_term_reads_the_first_dsm_action_and_the_state_and_the_total_is_weighted():
    out, log, rlog, obs = _losses(weights=(2.0, 3.0, 5.0))
    (action, state), = rlog
    denoised = log[6][4]
    assert torch.equal(action, denoised[:, 0, :]) and torch.equal(state, obs)
    assert float(out["reward"]) == pytest.approx(-float((action.sum(-1) + 0.1 * state.sum(-1)).mean()), rel=1e-6)
    assert float(out["total"]) == pytest.approx(2 * float(out["ctm"]) + 3 * float(out["dsm"])
                                                + 5 * float(out["reward"]), rel=1e-6)


def _tiny_pair():
    cfg = NetworkConfig("mlp", emb_dim=8, hidden=16, depth=1)
    torch.manual_seed(0)
    teacher = EDMDenoiser(build_network(cfg, act_dim=1, obs_dim=2, horizon=2))
    student = student_from_teacher(teacher, build_network(cfg, act_dim=1, obs_dim=2, horizon=2, with_stop_time=True))
    x0 = torch.rand(64, 2, 1) * 2 - 1
    obs = torch.randn(64, 2)
    return teacher, student, x0, obs


@pytest.mark.parametrize("decay", [0.0, 0.5])
def test_stop_grad_copy_is_an_ema_of_the_student(monkeypatch, decay):
    """Before every step's losses, target = decay target + (1 - decay) student (decay 0: a plain copy)."""
    teacher, student, x0, obs = _tiny_pair()
    seen = []
    real = student_mod.student_losses

    def spy(student, target, *args):
        seen.append(([p.detach().clone() for p in target.parameters()],
                     [p.detach().clone() for p in student.parameters()]))
        assert len(torch.unique(args[2], dim=0)) > 16  # a batch of 32 drawn from 64 distinct sequences
        assert not any(p.requires_grad for p in target.parameters())
        return real(student, target, *args)

    monkeypatch.setattr(student_mod, "student_losses", spy)
    train_student(student, teacher, None, x0, obs, StudentConfig(steps=3, batch=32, lr=1e-2, ema_decay=decay))
    assert all(torch.equal(a, b) for a, b in zip(*seen[0]))  # the copy starts as the student
    assert any(not torch.equal(a, b) for a, b in zip(seen[0][1], seen[1][1]))  # the student moved
    for (previous, _), (target, current) in zip(seen[:-1], seen[1:]):
        for p_prev, p_t, p in zip(previous, target, current):
            assert torch.allclose(p_t, decay * p_prev + (1 - decay) * p, atol=1e-7)


def test_zero_weights_leave_the_student_unchanged():
    """alpha = beta = sigma = 0 and no weight decay: the total has no gradient, AdamW makes no step."""
    teacher, student, x0, obs = _tiny_pair()
    before = [p.detach().clone() for p in student.parameters()]
    train_student(student, teacher, None, x0, obs, StudentConfig(steps=2, batch=32, lr=1e-2, weight_decay=0.0,
                                                                 alpha=0.0, beta=0.0, reward_weight=0.0))
    assert all(torch.equal(a, b) for a, b in zip(before, student.parameters()))


def test_defaults_are_the_authors_settings():
    """guided_ctmp_* / edm_d4rl_* configs: alpha = beta = 1, AdamW lr 1e-4 and weight decay 1e-4, target = plain
    copy (EMA decay 0), DSM's noisy half xi in [0, 0.7]; sigma_data 0.5, sigma in [0.02, 80], rho 7, 80 bins,
    log-normal P_mean -1.2, P_std 1.2."""
    cfg = StudentConfig()
    assert (cfg.alpha, cfg.beta, cfg.lr, cfg.weight_decay, cfg.ema_decay, cfg.dsm_noisy_xi_max) == \
        (1.0, 1.0, 1e-4, 1e-4, 0.0, 0.7)
    e = EDMConfig()
    assert (e.sigma_data, e.sigma_min, e.sigma_max, e.rho, e.bins, e.p_mean, e.p_std) == \
        (0.5, 0.02, 80, 7, 80, -1.2, 1.2)


def test_warm_start_refuses_a_network_that_does_not_extend_the_teacher():
    cfg = NetworkConfig("mlp", emb_dim=8, hidden=16, depth=2)
    teacher = EDMDenoiser(build_network(cfg, act_dim=1, obs_dim=2, horizon=2))
    shallower = build_network(replace(cfg, depth=1), act_dim=1, obs_dim=2, horizon=2, with_stop_time=True)
    with pytest.raises(ValueError, match="does not extend"):
        student_from_teacher(teacher, shallower)


def test_warm_start_reads_through_a_counting_wrapper():
    teacher, _, _, _ = _tiny_pair()
    count_calls(teacher)  # a teacher planner wraps the network
    cfg = NetworkConfig("mlp", emb_dim=8, hidden=16, depth=1)
    student = student_from_teacher(teacher, build_network(cfg, act_dim=1, obs_dim=2, horizon=2, with_stop_time=True))
    x, obs = torch.randn(3, 2, 1), torch.randn(3, 2)
    with torch.no_grad():
        t, s = torch.tensor(2.0), torch.tensor(0.5)
        assert torch.allclose(student.g(x, t, s, obs), teacher(x, t, obs), atol=1e-6)
