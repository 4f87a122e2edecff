"""MISA's optimizer wrapper: budget per period, state only for active modules (measured), the score and options."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from methods.misa.active_set import state_bytes
from methods.misa.misa import Misa, MisaConfig, module_blocks
from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig

CFG = LlamaFamilyConfig(d_model=32, d_ff=96, n_heads=2, n_layers=4, vocab_size=64, max_seq_len=16)


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randint(0, CFG.vocab_size, (4, 16), generator=torch.Generator().manual_seed(seed))
    return x, (x + 1) % CFG.vocab_size


def _train(model: nn.Module, opt: Misa, steps: int, check=None) -> None:
    x, y = _batch()
    for _ in range(steps):
        model.loss(x, y).backward()
        if check:
            check()
        opt.step()
        opt.zero_grad()


def test_modules_are_the_layer_matrices():
    model = LlamaFamily(CFG, seed=0)
    blocks = module_blocks(model)
    assert len(blocks) == 7 * CFG.n_layers and all(len(b) == 1 and b[0][1].ndim == 2 for b in blocks)
    assert len(module_blocks(model, "layer")) == CFG.n_layers


def test_every_period_respects_delta_and_only_active_modules_train():
    model = LlamaFamily(CFG, seed=0)
    opt = Misa(model, MisaConfig(delta=0.1, interval=3, seed=1), lr=1e-3)
    total = sum(p.numel() for p in model.parameters())
    active_params = {id(p) for b in opt.modules for _, p in b}

    def check() -> None:
        chosen = {id(p) for b in opt.chosen for _, p in opt.modules[b]}
        assert sum(opt.sizes[opt.chosen]) <= 0.1 * total
        for p in model.parameters():
            assert (p.grad is not None) == (id(p) in chosen), "a frozen parameter got a gradient"
            assert p.requires_grad == (id(p) in chosen)
        assert active_params >= chosen

    _train(model, opt, 60, check)
    assert (opt.last_used >= 0).all(), "the warm-up sweep visits every module"


def test_modules_too_large_for_the_budget_do_not_keep_the_warm_up_going():
    """At 4% (2305 parameters) the FFN matrices (3072) never fit: once every attention matrix was active, the
    active set changes only every T steps."""
    model = LlamaFamily(CFG, seed=0)
    opt = Misa(model, MisaConfig(delta=0.04, interval=7, seed=3), lr=1e-3)
    fits = opt.sizes <= 0.04 * sum(p.numel() for p in model.parameters())
    assert fits.sum() == 4 * CFG.n_layers, "the attention matrices fit, the FFN matrices do not"
    sets = []
    _train(model, opt, 70, check=lambda: sets.append(tuple(opt.chosen)))
    assert (opt.last_used[fits] >= 0).all() and (opt.last_used[~fits] < 0).all()
    # sets[i] is the active set of step i + 1; after the sweep a new set may start only after a multiple of T
    changes = [i for i in range(1, len(sets)) if sets[i] != sets[i - 1]]
    late = [i for i in changes if i > 4 * CFG.n_layers]
    assert late and all(i % 7 == 0 for i in late), changes


def test_a_module_never_selected_holds_no_optimizer_state():
    """The FFN matrices (3072 parameters each) never fit a budget of 4% (2305): their state bytes stay 0,
    and the optimizer's measured state bytes are exactly AdamW's for the attention modules it holds."""
    model = LlamaFamily(CFG, seed=0)
    ffn = [p for n, p in model.named_parameters() if "mlp" in n and p.ndim == 2]
    before = [p.detach().clone() for p in ffn]
    opt = Misa(model, MisaConfig(delta=0.04, interval=2, seed=0), lr=1e-3)
    seen_state = []

    def check() -> None:  # before each step: state is held only for the active modules, at AdamW's size
        active = {id(p) for b in opt.chosen for _, p in opt.modules[b]}
        assert {id(p) for p in opt.opt.base.state} <= active
        measured = state_bytes(opt.opt.base)
        assert measured == sum(8 * p.numel() + 4 for p in opt.opt.base.state)  # exp_avg, exp_avg_sq, step
        assert sum(state_bytes_of(opt, p) for p in ffn) == 0
        seen_state.append(measured)

    _train(model, opt, 40, check)
    assert max(seen_state) > 0
    assert all(p.grad is None for p in ffn)
    assert all(torch.equal(p, b) for p, b in zip(ffn, before))
    # at most one budget's worth of modules ever holds state at once
    assert opt.opt.peak_state_bytes <= 8 * 0.04 * sum(p.numel() for p in model.parameters()) + 4 * 28


def state_bytes_of(opt: Misa, p: nn.Parameter) -> int:
    """Bytes of the state tensors the base optimizer holds for ``p`` (0 when it holds none)."""
    state = opt.opt.base.state.get(p, {})
    return sum(t.untyped_storage().nbytes() for t in state.values() if torch.is_tensor(t))


def test_paper_mode_frees_every_state_at_each_redraw():
    model = LlamaFamily(CFG, seed=0)
    opt = Misa(model, MisaConfig(delta=0.05, interval=4, retain_states=False, warmup_sweep=False), lr=1e-3)
    _train(model, opt, 4)
    assert opt.state_bytes() == 0 and opt.opt.peak_state_bytes > 0


class Scaled(nn.Module):
    """``layers.i.w`` matrices whose gradient is ``scale_i`` everywhere (norm ``scale_i * sqrt(numel)``)."""

    def __init__(self, scales: list[float], n: int = 4):
        super().__init__()
        self.layers = nn.ModuleList(nn.Module() for _ in scales)
        for layer, scale in zip(self.layers, scales):
            layer.w = nn.Parameter(torch.zeros(n, n))
            layer.scale = scale
        self.head = nn.Parameter(torch.zeros(1000))  # outside the layers: makes every module small vs delta

    def loss(self) -> torch.Tensor:
        return sum(layer.scale * layer.w.sum() for layer in self.layers)


@pytest.mark.parametrize("score", ["code", "paper"])
def test_probabilities_are_the_softmax_of_the_running_gradient_norms(score):
    scales = [0.1, 0.2, 0.3, 0.05]
    model = Scaled(scales)
    cfg = MisaConfig(delta=0.02, interval=3, eta=2.0, beta=0.0, score=score, bias_correction="none", seed=0)
    opt = Misa(model, cfg, lr=1e-3)
    for _ in range(30):
        model.loss().backward()
        opt.step()
        opt.zero_grad()
    norms = np.array(scales) * 4.0  # sqrt(16) entries
    # beta = 0: the importance is the last period's mean norm (code) or squared norm (paper) of every visited module
    visited = opt.counts > 1
    stat = norms if score == "code" else norms**2
    assert np.allclose(opt.importance[visited], stat[visited])
    expected = np.exp(np.minimum(5.0, 2.0 * np.where(visited, norms**2, 0.0)))
    assert np.allclose(opt.probabilities, expected / expected.sum())


def test_importance_favours_the_module_with_larger_gradients():
    model = Scaled([0.02, 0.02, 0.02, 1.0])
    opt = Misa(model, MisaConfig(delta=0.02, interval=2, eta=1.0, sample_last=0, seed=0), lr=1e-3)
    picks = np.zeros(4)
    for _ in range(400):
        model.loss().backward()
        opt.step()
        opt.zero_grad()
        picks[opt.chosen] += 1
    assert picks[3] > 2 * picks[:3].max()
    uniform = Misa(Scaled([0.02, 0.02, 0.02, 1.0]), MisaConfig(delta=0.02, sampling="uniform"), lr=1e-3)
    assert np.allclose(uniform.probabilities, 0.25)


def test_flush_applies_the_momentum_tail_to_leaving_modules():
    """Paper line 13: the leaving module moves by lr * beta1/(1-beta1) * m_hat / (sqrt(v_hat) + eps) at the redraw.

    The gradient is 1 everywhere, so after 5 AdamW steps m = 1 - 0.9^5 and v = 1 - 0.999^5 exactly, and their
    bias-corrected values (what AdamW's own steps use) are 1: the tail is 9 lr, not the 9 lr x 5.8 of raw moments."""

    def run(flush: bool) -> torch.Tensor:
        model = Scaled([1.0, 1.0, 1.0, 1.0])
        cfg = MisaConfig(delta=0.02, interval=5, warmup_sweep=False, flush_momentum=flush, retain_states=False)
        opt = Misa(model, cfg, lr=0.1, weight_decay=0.0)
        (b,) = opt.chosen
        for _ in range(5):
            model.loss().backward()
            opt.step()
            opt.zero_grad()
        return model.layers[b].w.detach()

    tail = 0.1 * 0.9 / 0.1 * 1.0 / (1.0**0.5 + 1e-8)  # lr * beta1/(1-beta1) * m_hat / (sqrt(v_hat) + eps)
    torch.testing.assert_close(run(False) - run(True), torch.full((4, 4), tail), rtol=1e-5, atol=1e-5)


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="delta"):
        MisaConfig(delta=0)
    with pytest.raises(ValueError, match="interval"):
        MisaConfig(interval=0)


def test_full_budget_is_plain_adamw_on_the_same_parameters():
    """delta = 1 with embeddings/head on and states retained: every module is redrawn every period and the
    trajectory is bit-identical to AdamW on the same parameters (the layers' norms frozen in both)."""
    x, y = _batch()
    ref_model = LlamaFamily(CFG, seed=0)
    ref_params = [p for n, p in ref_model.named_parameters() if not ("layers." in n and p.ndim == 1)]
    ref_model.requires_grad_(False)
    for p in ref_params:
        p.requires_grad_(True)
    ref = torch.optim.AdamW(ref_params, lr=1e-2)
    model = LlamaFamily(CFG, seed=0)
    opt = Misa(model, MisaConfig(delta=1.0, interval=3, train_embedding_and_head=True), lr=1e-2)
    for _ in range(7):
        for m, o in ((ref_model, ref), (model, opt)):
            m.loss(x, y).backward()
            o.step()
            o.zero_grad()
    assert len(opt.chosen) == len(opt.modules)
    for (n, a), b in zip(model.named_parameters(), ref_model.parameters()):
        assert torch.equal(a, b), n
