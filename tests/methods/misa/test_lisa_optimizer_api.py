"""Lisa as a torch optimizer: one parameter group an LR scheduler drives (tested with Misa's in
`test_misa_optimizer_api`), and an exact checkpoint resume."""

from __future__ import annotations

import copy

import pytest
import torch

from methods.misa.lisa import Lisa, LisaConfig
from methods.misa.misa import Misa, MisaConfig
from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig
from tests.methods.misa.test_misa_optimizer_api import (CFG, _batch, _train, assert_matches_adamw_under_step_lr,
                                                       assert_resumed_alike, resume_from_checkpoint)


def test_lisa_is_a_torch_optimizer_with_one_group_of_its_parameters():
    model = LlamaFamily(CFG, seed=0)
    opt = Lisa(model, LisaConfig(n_layers=2, interval=5), lr=3e-3, weight_decay=0.0)
    assert isinstance(opt, torch.optim.Optimizer)
    (group,) = opt.param_groups
    assert group["params"] == [p for layer in opt.layers for p in layer] + opt.always
    assert len(group["params"]) == len(list(model.parameters()))
    assert (group["lr"], group["weight_decay"]) == (3e-3, 0.0)
    assert opt.state is opt.opt.base.state
    x, y = _batch(0)
    loss = opt.step(lambda: model.loss(x, y).backward() or 1.5)  # closure form
    assert loss == 1.5 and len(opt.state) > 0
    with pytest.raises(NotImplementedError, match="Lisa has one parameter group"):
        opt.add_param_group({"params": [torch.zeros(1, requires_grad=True)]})


def test_a_step_lr_schedule_matches_adamw_under_the_same_schedule():
    """Every layer active and no re-draw in the run: Lisa + StepLR is bit-identical to torch's AdamW + StepLR on
    all parameters, so the scheduled lr is the one each update used."""
    assert_matches_adamw_under_step_lr(lambda m: Lisa(m, LisaConfig(n_layers=CFG.n_layers, interval=100), lr=1e-2),
                                       lambda name, p: True)


CONFIGS = {"one-layer": LisaConfig(n_layers=1, interval=4, seed=1), "two-layers": LisaConfig(n_layers=2, interval=3,
                                                                                               seed=2)}


@pytest.mark.parametrize("saved_at", [7, 12], ids=["mid-period", "right-after-a-redraw"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_a_checkpoint_resumes_bit_for_bit(name, saved_at):
    """Train N steps, checkpoint model + Lisa + scheduler through torch.save (read back with weights_only), go on
    M steps; a fresh model (other init) and Lisa (other seed) loaded from the checkpoint go on the same M steps:
    the same active layers, parameters and AdamW state, bit for bit."""
    cfg = CONFIGS[name]
    first, second, ckpt = resume_from_checkpoint(lambda m: Lisa(m, cfg, lr=1e-2),
                                                 lambda m: Lisa(m, LisaConfig(**{**vars(cfg), "seed": 9}), lr=1.0),
                                                 saved_at, range(saved_at, 25))  # ends mid-period
    assert_resumed_alike(first, second)
    opt, opt2 = first[1], second[1]
    # a re-draw frees the layers' AdamW state; the embeddings', final norm's and head's carry on
    n_layer_params = sum(len(layer) for layer in opt.layers)
    saved_layer_state = [i for i in ckpt["opt"]["state"] if i < n_layer_params]
    assert bool(saved_layer_state) == (saved_at % cfg.interval != 0)
    assert sum(i >= n_layer_params for i in ckpt["opt"]["state"]) == len(opt.always)
    assert opt.state and opt.rng.bit_generator.state == opt2.rng.bit_generator.state


def test_a_checkpoint_of_another_config_or_optimizer_is_refused():
    model = LlamaFamily(CFG, seed=0)
    opt = Lisa(model, LisaConfig(n_layers=1, interval=5), lr=1e-2)
    _train(model, opt, range(3))
    saved = opt.state_dict()
    for other_cfg, field in ((LisaConfig(n_layers=1, interval=7), "interval"), (LisaConfig(n_layers=2, interval=5),
                                                                                  "n_layers")):
        other = Lisa(LlamaFamily(CFG, seed=0), other_cfg, lr=1e-2)
        with pytest.raises(ValueError, match=f"LisaConfig differs in {field}"):
            other.load_state_dict(saved)
    with pytest.raises(ValueError, match="no 'lisa' entry"):
        opt.load_state_dict(Misa(LlamaFamily(CFG, seed=0), MisaConfig(delta=0.1)).state_dict())
    with pytest.raises(ValueError, match="no 'lisa' entry"):
        opt.load_state_dict(torch.optim.AdamW(model.parameters()).state_dict())
    wider = Lisa(LlamaFamily(LlamaFamilyConfig(**{**vars(CFG), "d_ff": 128}), seed=0), LisaConfig(n_layers=1,
                 interval=5), lr=1e-2)
    with pytest.raises(ValueError, match="layers"):
        wider.load_state_dict(saved)
    deeper = Lisa(LlamaFamily(LlamaFamilyConfig(**{**vars(CFG), "n_layers": 5}), seed=0), LisaConfig(n_layers=1,
                  interval=5), lr=1e-2)
    with pytest.raises(ValueError, match="parameter group"):
        deeper.load_state_dict(saved)
    before = opt.state_dict()["lisa"]
    with pytest.raises(ValueError, match="active layers"):
        opt.load_state_dict({**saved, "lisa": {**saved["lisa"], "chosen": [4]}})
    assert opt.state_dict()["lisa"] == before  # a refused checkpoint changes nothing


def test_a_deep_copy_carries_the_whole_sampler():
    """torch's Optimizer pickles only defaults/state/param_groups; a copy of Lisa must keep LISA's bookkeeping."""
    model = LlamaFamily(CFG, seed=0)
    opt = Lisa(model, LisaConfig(n_layers=1, interval=3, seed=1), lr=1e-2)
    _train(model, opt, range(4))
    model2, opt2 = copy.deepcopy((model, opt))
    assert opt2.state is opt2.opt.base.state and opt2.param_groups[0]["params"][0] is opt2.layers[0][0]
    assert _train(model, opt, range(4, 16)) == _train(model2, opt2, range(4, 16))
    for a, b in zip(model.parameters(), model2.parameters()):
        assert torch.equal(a, b)


def test_a_redraw_keeps_the_always_on_state_and_starts_the_layers_afresh():
    """As LMFlow's LISATrainer: the embeddings', final norm's and head's AdamW state runs on across re-draws; a
    layer's starts afresh, also when the same layer is drawn again."""
    model = LlamaFamily(CFG, seed=0)
    opt = Lisa(model, LisaConfig(n_layers=CFG.n_layers, interval=3, seed=0), lr=1e-2)  # every layer, every time
    _train(model, opt, range(7))
    for p in opt.always:
        assert int(opt.state[p]["step"]) == 7
    for layer in opt.layers:
        assert all(int(opt.state[p]["step"]) == 1 for p in layer)  # redrawn after step 6
