"""Gaps a mutation audit found in methods/misa: the importance EMA and its three bias corrections with beta > 0,
the size scaling and layer-block norm of the score, the budget (delta of all parameters, filled), the
least-recently-used rule, a module exactly the budget's size, which leaving modules the momentum flush moves and
its AMSGrad second moment (hand-computed values on models whose gradients are constant), and the active set's
measured state bytes (peak, one count per storage, tensors inside state objects)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
from torch import nn

from methods.misa.active_set import ActiveSetAdamW, state_bytes
from methods.misa.misa import Misa, MisaConfig
from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig
from tests.methods.misa.test_misa import Scaled

SCALES = [0.1, 0.2, 0.3, 0.05]
NORMS = np.array(SCALES) * 4.0  # a 4 x 4 gradient equal to scale everywhere

# beta = 1/2, a constant norm n, c periods visited. The code divides the stored EMA by 1 - beta^c after each
# period, so the correction compounds: G_1 = n, G_2 = (n/2 + n/2) / (3/4) = 4n/3, G_3 = (n/2 + 2n/3) / (7/8) = 4n/3,
# G_4 = (n/2 + 2n/3) / (15/16) = 56n/45, G_5 = (n/2 + 28n/45) / (31/32) = 1616n/1395.
COMPOUNDING = {1: Fraction(1), 2: Fraction(4, 3), 3: Fraction(4, 3), 4: Fraction(56, 45), 5: Fraction(1616, 1395)}


def _run(bias_correction: str, steps: int = 30, **kw) -> Misa:
    model = Scaled(SCALES)
    cfg = MisaConfig(delta=0.02, interval=3, eta=2.0, beta=0.5, bias_correction=bias_correction, seed=0, **kw)
    opt = Misa(model, cfg, lr=1e-3)
    for _ in range(steps):
        model.loss().backward()
        opt.step()
        opt.zero_grad()
    return opt


@pytest.mark.parametrize("bias_correction", ["compounding", "standard", "none"])
def test_importance_is_the_ema_of_period_mean_norms_with_its_bias_correction(bias_correction):
    """One module at a time (16 of 1064 parameters, delta 2%), 1-step periods in the warm-up sweep, then T = 3."""
    opt = _run(bias_correction)
    visits = (opt.counts - 1).astype(int)
    assert visits.max() >= 3, visits  # the history term matters
    for b, c in enumerate(visits):
        if c == 0:
            assert opt.importance[b] == 0
        elif bias_correction == "compounding":
            assert opt.importance[b] == pytest.approx(float(COMPOUNDING[c]) * NORMS[b], rel=1e-6), (b, c)
        else:  # the stored EMA of a constant n from 0 is (1 - beta^c) n
            assert opt.importance[b] == pytest.approx((1 - 0.5**c) * NORMS[b], rel=1e-6), (b, c)
    scores = opt.sampling_scores()
    if bias_correction == "standard":  # the corrected value used for sampling is n itself (squared: code score)
        assert np.allclose(scores[visits > 0], NORMS[visits > 0] ** 2, rtol=1e-6)
        assert np.all(scores[visits == 0] == 0)


def _module_per_period(model, opt: Misa, steps: int) -> list[int]:
    """The first chosen module of the current period and of every period drawn during ``steps`` steps."""
    order = [opt.chosen[0]]
    redraw = opt._redraw

    def recorded() -> None:
        redraw()
        order.append(opt.chosen[0])

    opt._redraw = recorded
    for _ in range(steps):
        model.loss().backward()
        opt.step()
        opt.zero_grad()
    return order


def test_sample_last_tries_the_least_recently_used_module_first():
    """One module fits at a time and ``sample_last=1``: the least recently used module is forced into every period,
    so after the warm-up sweep the modules take turns (round robin) however strongly importance favours one."""
    model = Scaled([0.02, 0.02, 0.02, 1.0])
    opt = Misa(model, MisaConfig(delta=0.02, interval=2, eta=50.0, sample_last=1, seed=0), lr=1e-3)
    order = _module_per_period(model, opt, 3 + 2 * 16)  # 3 more one-step warm-up periods, then 16 of T = 2
    assert len(order) == 4 + 16
    assert sorted(order[:4]) == [0, 1, 2, 3]  # the sweep visits each module once
    assert all(len(set(order[i:i + 4])) == 4 for i in range(len(order) - 3)), order


def _flush_effect(retain_states: bool) -> torch.Tensor:
    """Every module active (delta = 1), gradient 1 everywhere, lr 0.1, one redraw after T = 5 AdamW steps: the
    parameters with the momentum flush minus those without."""

    def run(flush: bool) -> torch.Tensor:
        model = Scaled([1.0, 1.0, 1.0, 1.0])
        cfg = MisaConfig(delta=1.0, interval=5, warmup_sweep=False, flush_momentum=flush, retain_states=retain_states)
        opt = Misa(model, cfg, lr=0.1, weight_decay=0.0)
        for _ in range(5):
            model.loss().backward()
            opt.step()
            opt.zero_grad()
        assert len(opt.chosen) == 4
        return torch.stack([layer.w.detach() for layer in model.layers])

    return run(True) - run(False)


def test_flush_applies_to_modules_whose_state_is_freed_even_when_drawn_again():
    """States freed at every redraw (paper mode): all four modules are drawn again, and each still gets the tail
    lr * beta1 / (1 - beta1) * m_hat / (sqrt(v_hat) + eps) = 0.1 * 9 * 1 (bias-corrected moments of a constant
    gradient are 1)."""
    torch.testing.assert_close(_flush_effect(False), torch.full((4, 4, 4), -0.9), rtol=1e-5, atol=1e-5)


def test_no_flush_for_modules_that_stay_with_their_state():
    """States retained (the code): a module drawn again keeps its moments and goes on with them, so no tail."""
    assert torch.equal(_flush_effect(True), torch.zeros(4, 4, 4))


@pytest.mark.parametrize("size_scaling,divisor", [("none", 1.0), ("numel", 16.0), ("sqrt_numel", 4.0)])
def test_size_scaling_divides_the_norm_by_the_module_size(size_scaling, divisor):
    """beta = 0, no correction: the importance of a visited 4 x 4 module is its norm / 16 (numel), / 4 (sqrt)."""
    model = Scaled(SCALES)
    cfg = MisaConfig(delta=0.02, interval=3, beta=0.0, bias_correction="none", size_scaling=size_scaling, seed=0)
    opt = Misa(model, cfg, lr=1e-3)
    for _ in range(12):
        model.loss().backward()
        opt.step()
        opt.zero_grad()
    visited = opt.counts > 1
    assert visited.all()
    assert np.allclose(opt.importance, NORMS / divisor, rtol=1e-6)


def test_a_module_exactly_the_size_of_the_budget_fits_and_joins_the_warm_up_sweep():
    """delta * total = 16 parameters exactly, the size of each module: all four are visited in the first 4 steps."""
    model = Scaled(SCALES)
    delta = 16 / 1064
    assert delta * 1064 == 16
    opt = Misa(model, MisaConfig(delta=delta, interval=50, seed=0), lr=1e-3)
    assert opt.fits.all()
    seen = set(opt.chosen)
    for _ in range(3):
        model.loss().backward()
        opt.step()
        opt.zero_grad()
        seen |= set(opt.chosen)
    assert seen == {0, 1, 2, 3}


def test_amsgrad_flush_uses_the_largest_second_moment():
    """AMSGrad, betas (0.9, 0.5), lr 0.1, gradient 1 then 0, a redraw after T = 2: m = 0.09, v = 0.25 but its running
    max 0.5; bias-corrected m_hat = 0.09 / 0.19 = 9/19, v_max_hat = 0.5 / 0.75 = 2/3, so the tail is
    0.1 * 9 * (9/19) / sqrt(2/3) = 0.5221 (with v itself it would be 0.7384)."""

    def run(flush: bool) -> torch.Tensor:
        model = Scaled([1.0, 1.0, 1.0, 1.0])
        cfg = MisaConfig(delta=1.0, interval=2, warmup_sweep=False, flush_momentum=flush, retain_states=False,
                         amsgrad=True)
        opt = Misa(model, cfg, lr=0.1, betas=(0.9, 0.5), weight_decay=0.0)
        for scale in (1.0, 0.0):
            for layer in model.layers:
                layer.scale = scale
            model.loss().backward()
            opt.step()
            opt.zero_grad()
        return torch.stack([layer.w.detach() for layer in model.layers])

    tail = 0.1 * 9 * (9 / 19) / (2 / 3) ** 0.5
    torch.testing.assert_close(run(True) - run(False), torch.full((4, 4, 4), -tail), rtol=1e-5, atol=1e-6)


def test_the_budget_is_delta_of_all_parameters_and_is_filled():
    """delta of *all* the model's parameters (embeddings, norms and head included, though they never train): every
    period's set fits it, and no module left out would still fit (the greedy fill is maximal)."""
    model = LlamaFamily(LlamaFamilyConfig(d_model=32, d_ff=96, n_heads=2, n_layers=4, vocab_size=64), seed=0)
    budget = 0.1 * sum(p.numel() for p in model.parameters())
    opt = Misa(model, MisaConfig(delta=0.1, interval=1, seed=0), lr=1e-3)
    x = torch.randint(0, 64, (2, 8), generator=torch.Generator().manual_seed(0))
    for _ in range(10):
        used = int(opt.sizes[opt.chosen].sum())
        assert used <= budget
        assert all(used + opt.sizes[b] > budget for b in set(range(len(opt.modules))) - set(opt.chosen))
        model.loss(x, x).backward()
        opt.step()
        opt.zero_grad()


class TwoPerLayer(nn.Module):
    """``layers.i.a`` (2 x 2, gradient s) and ``layers.i.b`` (2 x 2, gradient 2 s): a layer's gradient norm is
    sqrt(4 s^2 + 4 (2 s)^2) = sqrt(20) s."""

    def __init__(self, scales: list[float]):
        super().__init__()
        self.layers = nn.ModuleList(nn.Module() for _ in scales)
        for layer, scale in zip(self.layers, scales):
            layer.a, layer.b = nn.Parameter(torch.zeros(2, 2)), nn.Parameter(torch.zeros(2, 2))
            layer.scale = scale
        self.head = nn.Parameter(torch.zeros(1000))

    def loss(self) -> torch.Tensor:
        return sum(layer.scale * (layer.a.sum() + 2 * layer.b.sum()) for layer in self.layers)


def test_a_layer_block_scores_the_norm_of_all_its_parameters():
    scales = [0.1, 0.2, 0.3]
    model = TwoPerLayer(scales)
    cfg = MisaConfig(delta=0.01, interval=2, beta=0.0, bias_correction="none", granularity="layer", seed=0)
    opt = Misa(model, cfg, lr=1e-3)
    assert [len(block) for block in opt.modules] == [2, 2, 2]
    for _ in range(8):
        model.loss().backward()
        opt.step()
        opt.zero_grad()
    assert (opt.counts > 1).all()
    assert np.allclose(opt.importance, np.array(scales) * 20**0.5, rtol=1e-6)


def test_peak_state_bytes_is_the_largest_seen_not_the_last():
    """AdamW state of a 5-value parameter (exp_avg, exp_avg_sq: 2 * 20 bytes, step: 4) then of a 3-value one (28)."""
    a, b = nn.Parameter(torch.ones(3)), nn.Parameter(torch.ones(5))
    opt = ActiveSetAdamW([a, b], lr=0.1)
    assert opt.peak_state_bytes == 0 and not a.requires_grad and not b.requires_grad  # nothing active yet
    opt.activate([b])
    b.grad = torch.ones(5)
    opt.step()
    opt.activate([a])
    a.grad = torch.ones(3)
    opt.step()
    assert (opt.state_bytes(), opt.peak_state_bytes) == (28, 44)


def test_state_bytes_counts_a_storage_once_and_looks_into_state_objects():
    """A tensor held twice is one 16-byte storage; a projector object's 4 x 2 fp32 matrix (as GaLore keeps) adds 32."""

    class Projector:
        def __init__(self) -> None:
            self.ortho_matrix = torch.zeros(4, 2)
            self.rank = 2

    p = nn.Parameter(torch.ones(2, 2))
    opt = torch.optim.SGD([p], lr=0.1)
    shared = torch.zeros(2, 2)
    opt.state[p] = {"exp_avg": shared, "alias": shared}
    assert state_bytes(opt) == 16
    opt.state[p]["projector"] = Projector()
    assert state_bytes(opt) == 16 + 32


class Sized(nn.Module):
    """``layers.i.w`` of the given sizes, gradient ``scale_i`` everywhere, and a 1000-value head outside the layers."""

    def __init__(self, sizes: list[int], scales: list[float]):
        super().__init__()
        self.layers = nn.ModuleList(nn.Module() for _ in sizes)
        for layer, size, scale in zip(self.layers, sizes, scales):
            layer.w, layer.scale = nn.Parameter(torch.zeros(size, size)), scale
        self.head = nn.Parameter(torch.zeros(1000))

    def loss(self) -> torch.Tensor:
        return sum(layer.scale * layer.w.sum() for layer in self.layers)


def test_a_module_that_never_fits_takes_no_least_recently_used_slot():
    """Three 4 x 4 modules and a 10 x 10 one that never fits 2% of 1148 parameters (22.96): with ``sample_last=1``
    the least recently used of the three is still forced into every period, so they take turns."""
    model = Sized([4, 4, 4, 10], [0.02, 0.02, 1.0, 1.0])
    opt = Misa(model, MisaConfig(delta=0.02, interval=2, eta=50.0, sample_last=1, seed=0), lr=1e-3)
    assert opt.fits.tolist() == [True, True, True, False]
    order = _module_per_period(model, opt, 2 + 2 * 12)  # 2 more one-step warm-up periods, then 12 of T = 2
    assert len(order) == 3 + 12 and 3 not in order
    assert all(len(set(order[i:i + 3])) == 3 for i in range(len(order) - 2)), order
