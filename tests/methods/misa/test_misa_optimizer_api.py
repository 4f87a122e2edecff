"""Misa as a torch optimizer: one parameter group an LR scheduler drives, and an exact checkpoint resume."""

from __future__ import annotations

import copy
import io

import pytest
import torch
from torch import nn

from methods.misa.lisa import Lisa, LisaConfig
from methods.misa.misa import Misa, MisaConfig
from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig

CFG = LlamaFamilyConfig(d_model=32, d_ff=96, n_heads=2, n_layers=4, vocab_size=64, max_seq_len=16)


def _batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.randint(0, CFG.vocab_size, (4, 16), generator=torch.Generator().manual_seed(step))
    return x, (x + 1) % CFG.vocab_size


def _train(model: nn.Module, opt: torch.optim.Optimizer, steps: range, sched=None) -> list[tuple[int, ...]]:
    """Train on the batches of ``steps``; the active set each step trained."""
    sets = []
    for step in steps:
        sets.append(tuple(getattr(opt, "chosen", ())))
        model.loss(*_batch(step)).backward()
        opt.step()
        opt.zero_grad()
        if sched is not None:
            sched.step()
    return sets


def resume_from_checkpoint(build, rebuild, saved_at: int, resume: range):
    """Train ``saved_at`` steps with ``build(model)`` under a LambdaLR, checkpoint model + optimizer + scheduler
    through torch.save (read back with weights_only), go on over ``resume``; a fresh model (other init) with
    ``rebuild(model)`` (other seed, other lr) loaded from the checkpoint goes on over the same steps.
    Returns ``(model, opt, sets), (model2, opt2, sets2)`` and the checkpoint."""

    def schedule(s: int) -> float:
        return 0.93**s

    model = LlamaFamily(CFG, seed=0)
    opt = build(model)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    _train(model, opt, range(saved_at), sched)
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}, buf)
    sets = _train(model, opt, resume, sched)

    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    model2 = LlamaFamily(CFG, seed=5)
    opt2 = rebuild(model2)
    sched2 = torch.optim.lr_scheduler.LambdaLR(opt2, schedule)
    model2.load_state_dict(ckpt["model"])
    sched2.load_state_dict(ckpt["sched"])
    opt2.load_state_dict(ckpt["opt"])  # after the scheduler, as with any torch optimizer
    assert opt2.steps == saved_at and opt2.state is opt2.opt.base.state
    sets2 = _train(model2, opt2, resume, sched2)
    return (model, opt, sets), (model2, opt2, sets2), ckpt


def assert_resumed_alike(first, second) -> None:
    """The same active sets, parameters (and their requires_grad), AdamW state and lr, bit for bit."""
    (model, opt, sets), (model2, opt2, sets2) = first, second
    assert sets2 == sets and opt2.chosen == opt.chosen
    assert len(set(sets)) > 1, "the active set changed after the checkpoint"
    for (n, a), b in zip(model.named_parameters(), model2.parameters()):
        assert torch.equal(a, b), n
        assert a.requires_grad == b.requires_grad, n
    assert opt.steps == opt2.steps and opt.opt.peak_state_bytes == opt2.opt.peak_state_bytes
    state = {i: opt.state[p] for i, p in enumerate(opt.param_groups[0]["params"]) if p in opt.state}
    state2 = {i: opt2.state[p] for i, p in enumerate(opt2.param_groups[0]["params"]) if p in opt2.state}
    assert state.keys() == state2.keys()
    for i, s in state.items():
        assert s.keys() == state2[i].keys() and all(torch.equal(v, state2[i][k]) for k, v in s.items()), i
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


def test_misa_is_a_torch_optimizer_with_one_group_of_its_parameters():
    model = LlamaFamily(CFG, seed=0)
    opt = Misa(model, MisaConfig(delta=0.1, interval=5, train_embedding_and_head=True), lr=3e-3, weight_decay=0.0)
    assert isinstance(opt, torch.optim.Optimizer)
    (group,) = opt.param_groups
    assert group["params"] == [p for block in opt.modules for _, p in block] + opt.always
    assert (group["lr"], group["weight_decay"]) == (3e-3, 0.0)
    assert opt.state is opt.opt.base.state
    x, y = _batch(0)
    loss = opt.step(lambda: model.loss(x, y).backward() or 1.5)  # closure form
    assert loss == 1.5 and len(opt.state) > 0
    with pytest.raises(NotImplementedError):
        opt.add_param_group({"params": [torch.zeros(1, requires_grad=True)]})


#: the active-set optimizers a scheduler must drive: MISA with and without its momentum flush, and LISA
ACTIVE_SET_OPTIMIZERS = {
    "misa": lambda model: Misa(model, MisaConfig(delta=0.1, interval=3, seed=1, retain_states=True), lr=1e-2),
    "misa-flush": lambda model: Misa(model, MisaConfig(delta=0.1, interval=3, seed=1, flush_momentum=True,
                                                        retain_states=False), lr=1e-2),
    "lisa": lambda model: Lisa(model, LisaConfig(n_layers=1, interval=2, seed=1), lr=1e-2, weight_decay=0.1),
}


@pytest.mark.filterwarnings("error")  # no "scheduler stepped before optimizer" or other warnings
@pytest.mark.parametrize("name", list(ACTIVE_SET_OPTIMIZERS))
def test_a_scheduler_sets_the_step_size_of_the_active_modules_across_redraws(name):
    """lr 1 x for 6 steps, then 0: the parameters move, then stay bit-identical through 14 more steps and several
    redraws (weight decay and the momentum flush scale with lr too)."""
    model = LlamaFamily(CFG, seed=0)
    opt = ACTIVE_SET_OPTIMIZERS[name](model)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 if s < 6 else 0.0)
    start = [p.detach().clone() for p in model.parameters()]
    _train(model, opt, range(6), sched)
    assert opt.param_groups[0]["lr"] == 0.0
    moved = [p.detach().clone() for p in model.parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(start, moved))
    sets = _train(model, opt, range(6, 20), sched)
    assert len(set(sets)) > 2, "the active set was redrawn while lr was 0"
    assert opt.opt.base.param_groups[0]["lr"] == 0.0
    for p, m in zip(model.parameters(), moved):
        assert torch.equal(p, m)


def assert_matches_adamw_under_step_lr(build, trains) -> None:
    """``build(model)`` + StepLR over 9 steps is bit-identical to torch's AdamW + StepLR on the parameters
    ``trains(name, parameter)`` selects, so the scheduled lr is the one each update used."""
    ref_model = LlamaFamily(CFG, seed=0)
    ref_params = [p for n, p in ref_model.named_parameters() if trains(n, p)]
    ref_model.requires_grad_(False)
    for p in ref_params:
        p.requires_grad_(True)
    ref = torch.optim.AdamW(ref_params, lr=1e-2)
    ref_sched = torch.optim.lr_scheduler.StepLR(ref, step_size=2, gamma=0.3)
    model = LlamaFamily(CFG, seed=0)
    opt = build(model)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.3)
    _train(ref_model, ref, range(9), ref_sched)
    _train(model, opt, range(9), sched)
    assert sched.get_last_lr() == ref_sched.get_last_lr() and sched.get_last_lr()[0] < 1e-3
    for (n, a), b in zip(model.named_parameters(), ref_model.parameters()):
        assert torch.equal(a, b), n


def test_a_step_lr_schedule_matches_adamw_under_the_same_schedule():
    """Full budget (every module active, redrawn every 3 steps, states retained): Misa + StepLR follows AdamW +
    StepLR on the same parameters (the layers' norms frozen in both)."""
    assert_matches_adamw_under_step_lr(
        lambda m: Misa(m, MisaConfig(delta=1.0, interval=3, train_embedding_and_head=True), lr=1e-2),
        lambda name, p: not ("layers." in name and p.ndim == 1))


CONFIGS = {
    "code": MisaConfig(delta=0.1, interval=5, seed=1),
    "paper": MisaConfig(delta=0.1, interval=5, seed=1, score="paper", exp_clip=None, size_scaling="sqrt_numel",
                        bias_correction="standard", retain_states=False, flush_momentum=True, amsgrad=True),
    "layer": MisaConfig(delta=0.5, interval=3, seed=2, granularity="layer", train_embedding_and_head=True),
}


@pytest.mark.parametrize("saved_at", [6, 17], ids=["in-warm-up-sweep", "mid-period"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_a_checkpoint_resumes_bit_for_bit(name, saved_at):
    """Train N steps, checkpoint model + Misa + scheduler through torch.save (read back with weights_only), go on
    M steps; a fresh model (other init) and Misa (other seed) loaded from the checkpoint go on the same M steps:
    the same active sets, parameters, importance and AdamW state, bit for bit."""
    cfg = CONFIGS[name]
    first, second, _ = resume_from_checkpoint(lambda m: Misa(m, cfg, lr=1e-2),
                                              lambda m: Misa(m, MisaConfig(**{**vars(cfg), "seed": 9}), lr=1.0),
                                              saved_at, range(saved_at, saved_at + 15))
    assert_resumed_alike(first, second)
    opt, opt2 = first[1], second[1]
    for key in ("importance", "counts", "period_sum", "last_used", "probabilities"):
        assert (getattr(opt, key) == getattr(opt2, key)).all(), key
    assert opt.period_steps == opt2.period_steps
    assert opt.state or not cfg.retain_states


def test_a_checkpoint_of_another_config_or_optimizer_is_refused():
    model = LlamaFamily(CFG, seed=0)
    opt = Misa(model, MisaConfig(delta=0.1, interval=5), lr=1e-2)
    _train(model, opt, range(3))
    saved = opt.state_dict()
    other = Misa(LlamaFamily(CFG, seed=0), MisaConfig(delta=0.1, interval=7), lr=1e-2)
    with pytest.raises(ValueError, match="interval"):
        other.load_state_dict(saved)
    with pytest.raises(ValueError, match="no 'misa' entry"):
        other.load_state_dict(torch.optim.AdamW(model.parameters()).state_dict())
    wider = Misa(LlamaFamily(LlamaFamilyConfig(**{**vars(CFG), "d_ff": 128}), seed=0), MisaConfig(delta=0.1,
                 interval=5), lr=1e-2)
    with pytest.raises(ValueError, match="modules"):
        wider.load_state_dict(saved)


def test_a_deep_copy_carries_the_whole_sampler():
    """torch's Optimizer pickles only defaults/state/param_groups; a copy of Misa must keep MISA's bookkeeping."""
    model = LlamaFamily(CFG, seed=0)
    opt = Misa(model, MisaConfig(delta=0.1, interval=5, seed=1), lr=1e-2)
    _train(model, opt, range(8))
    model2, opt2 = copy.deepcopy((model, opt))
    assert opt2.state is opt2.opt.base.state and opt2.param_groups[0]["params"][0] is opt2.modules[0][0][1]
    assert _train(model, opt, range(8, 20)) == _train(model2, opt2, range(8, 20))
    for a, b in zip(model.parameters(), model2.parameters()):
        assert torch.equal(a, b)
