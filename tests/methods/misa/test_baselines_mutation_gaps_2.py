"""Gaps in the tests of `methods.misa.baselines` found by a mutation audit.

- a step leaves no gradients behind (``zero_grad(set_to_none=True)``);
- AdamW's and LISA's knobs reach their optimizers (lr, weight decay, LISA's ``n_layers``);
- LoRA's defaults: scaling alpha / r = 16 / 8 = 2 and dropout 0.05, and explicit r, alpha, dropout are honoured;
  the bitsandbytes logger's level is restored after the import;
- BAdam trains one layer at a time from layer 0 upwards, switches at its default interval (50) or the one given,
  and prints nothing when it switches;
- GaLore keeps low-rank moments (rank 16, ``std`` projection: the smaller side is cut) for the layers' matrices
  only, full moments for embeddings, norms and head; its gap (50) and scale (1.0) defaults and explicit values.
"""

from __future__ import annotations

import logging

import pytest
import torch

from methods.misa.baselines import make_finetuner
from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig

CFG = LlamaFamilyConfig(d_model=32, d_ff=64, n_heads=2, n_layers=4, vocab_size=64)
TINY = LlamaFamilyConfig(d_model=8, d_ff=16, n_heads=2, n_layers=3, vocab_size=16)
# one layer of CFG: 2 x 32 (norms) + 4 x 32 x 32 + 3 x 32 x 64 = 10304; outside: 2 x 64 x 32 + 32 = 4128
LAYER, OUTSIDE = 10304, 4128


def _backward(model: LlamaFamily, vocab: int) -> None:
    x = torch.arange(8).reshape(2, 4) % vocab
    model.loss(x, (x + 1) % vocab).backward()


def test_a_step_leaves_no_gradients_behind():
    model = LlamaFamily(CFG, seed=0)
    ft = make_finetuner("adamw", model, lr=1e-3)
    _backward(model, CFG.vocab_size)
    assert all(p.grad is not None for p in model.parameters())
    ft.step()
    assert all(p.grad is None for p in model.parameters())


def test_adamw_and_lisa_knobs_reach_their_optimizers():
    ft = make_finetuner("adamw", LlamaFamily(CFG, seed=0), lr=0.25, weight_decay=0.5)
    assert (ft.optimizer.param_groups[0]["lr"], ft.optimizer.param_groups[0]["weight_decay"]) == (0.25, 0.5)
    lisa = make_finetuner("lisa", LlamaFamily(CFG, seed=0), n_layers=2, lr=1e-3)
    assert lisa.trainable_params() == 2 * LAYER + OUTSIDE


def _lora_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in model.modules() if hasattr(m, "scaling")]


def test_lora_defaults_scale_by_two_and_drop_five_percent():
    pytest.importorskip("peft")
    model = LlamaFamily(CFG, seed=0)
    make_finetuner("lora", model, lr=1e-3)
    layers = _lora_layers(model)
    assert len(layers) == 7 * CFG.n_layers
    for m in layers:
        assert m.scaling["default"] == 2.0  # alpha 16 / r 8
        assert isinstance(m.lora_dropout["default"], torch.nn.Dropout)
        assert m.lora_dropout["default"].p == 0.05
        assert m.lora_A["default"].weight.shape[0] == 8


def test_lora_explicit_rank_alpha_and_dropout_are_honoured():
    pytest.importorskip("peft")
    model = LlamaFamily(CFG, seed=0)
    make_finetuner("lora", model, r=4, alpha=32, dropout=0.2, lr=1e-3)
    for m in _lora_layers(model):
        assert m.scaling["default"] == 8.0  # 32 / 4
        assert m.lora_dropout["default"].p == 0.2
        assert m.lora_A["default"].weight.shape[0] == 4


def test_the_bitsandbytes_logger_level_is_restored():
    pytest.importorskip("peft")
    log = logging.getLogger("bitsandbytes")
    level = log.level
    try:
        log.setLevel(logging.INFO)
        make_finetuner("lora", LlamaFamily(CFG, seed=0), lr=1e-3)
        assert log.level == logging.INFO
    finally:
        log.setLevel(level)


def _active_layers(model: torch.nn.Module) -> set[int]:
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert all(n.startswith("layers.") for n in names)  # BAdam trains no embedding, norm or head
    return {int(n.split(".")[1]) for n in names}


def _badam_layers_after_each_step(steps: int, **params) -> list[set[int]]:
    model = LlamaFamily(TINY, seed=0)
    ft = make_finetuner("badam", model, lr=1e-3, **params)
    seen = [_active_layers(model)]
    for _ in range(steps):
        _backward(model, TINY.vocab_size)
        ft.step()
        seen.append(_active_layers(model))
    return seen


def test_badam_switches_ascending_every_given_interval(capsys):
    pytest.importorskip("badam")
    seen = _badam_layers_after_each_step(9, interval=3)
    # seen[k]: after k steps. BAdam's counter switches after step interval - 1, then every interval steps;
    # ascending order wraps around
    assert seen == [{0}, {0}, {1}, {1}, {1}, {2}, {2}, {2}, {0}, {0}]
    assert capsys.readouterr().out == ""  # its block switch would print the new block


def test_badam_default_interval_is_fifty():
    pytest.importorskip("badam")
    seen = _badam_layers_after_each_step(49)
    assert seen[:49] == [{0}] * 49
    assert seen[49] == {1}


def _galore_after_one_step(**params) -> tuple[LlamaFamily, torch.optim.Optimizer]:
    model = LlamaFamily(CFG, seed=0)
    ft = make_finetuner("galore", model, lr=1e-3, **params)
    _backward(model, CFG.vocab_size)
    ft.optimizer.step()
    return model, ft.optimizer


def test_galore_keeps_rank_16_moments_for_the_layers_matrices_only():
    pytest.importorskip("galore_torch")
    model, opt = _galore_after_one_step()
    expected = {
        "embed_tokens.weight": (64, 32), "lm_head.weight": (64, 32), "norm.weight": (32,),
        "attn_norm.weight": (32,), "mlp_norm.weight": (32,),
        # std projection cuts the smaller side to the rank; a square matrix keeps its rows
        "q_proj.weight": (32, 16), "k_proj.weight": (32, 16), "v_proj.weight": (32, 16), "o_proj.weight": (32, 16),
        "gate_proj.weight": (64, 16), "up_proj.weight": (64, 16), "down_proj.weight": (16, 64),
    }
    for name, p in model.named_parameters():
        assert tuple(opt.state[p]["exp_avg"].shape) == expected[".".join(name.split(".")[-2:])], name
        assert ("projector" in opt.state[p]) == (name.startswith("layers.") and p.ndim == 2), name


def test_galore_gap_and_scale_defaults_and_explicit_values():
    pytest.importorskip("galore_torch")
    model, opt = _galore_after_one_step()
    q = model.layers[0].attn.q_proj.weight
    assert (opt.state[q]["projector"].update_proj_gap, opt.state[q]["projector"].scale) == (50, 1.0)
    assert opt.state[q]["projector"].proj_type == "std"
    model, opt = _galore_after_one_step(rank=4, update_proj_gap=7, scale=0.5)
    q = model.layers[0].attn.q_proj.weight
    assert (opt.state[q]["projector"].update_proj_gap, opt.state[q]["projector"].scale) == (7, 0.5)
    assert tuple(opt.state[q]["exp_avg"].shape) == (32, 4)


def test_an_unknown_method_lists_all_seven():
    with pytest.raises(ValueError, match=r"known: adamw, misa, lisa, badam, lora, dora, galore$"):
        make_finetuner("sgd", LlamaFamily(TINY, seed=0))


def test_badam_masters_are_copies_of_the_active_layer_not_the_weights():
    pytest.importorskip("badam")
    model = LlamaFamily(TINY, seed=0)
    masters = make_finetuner("badam", model, lr=1e-3).master()
    layer0 = list(model.layers[0].parameters())
    assert len(masters) == len(layer0) == 9  # two norms, q, k, v, o, gate, up, down
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    assert not any(m.untyped_storage().data_ptr() in weights for m in masters)
    assert all(torch.equal(m, p) and m.dtype == torch.float32 for m, p in zip(masters, layer0))
