"""Gaps in the tests of `lisa` found by a mutation audit.

- `LisaConfig` refuses ``n_layers`` or ``interval`` below 1 and a negative seed, naming the field;
- `Lisa` refuses a model that is not an ``nn.Module`` and a config that is not a `LisaConfig`;
- the seed decides the layers drawn (same seed, same draws; another seed, other draws), a draw is sorted and
  without repeats, and layers change only at multiples of ``interval``;
- `Lisa.load_state_dict` refuses active layers that are unsorted, repeated or negative, and a checkpoint whose layer
  names or sizes differ, each leaving the optimizer as it was.
"""

from __future__ import annotations

import pytest
import torch

from methods.misa.lisa import Lisa, LisaConfig
from methods.misa.misa import MisaConfig
from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig

CFG = LlamaFamilyConfig(d_model=16, d_ff=32, n_heads=2, n_layers=6, vocab_size=32, max_seq_len=8)


def _run(cfg: LisaConfig, steps: int) -> list[list[int]]:
    """The active layers before each step and after the last (a step with no gradient: the layers only)."""
    opt = Lisa(LlamaFamily(CFG, seed=0), cfg, lr=1e-2)
    chosen = [list(opt.chosen)]
    for _ in range(steps):
        opt.step()
        chosen.append(list(opt.chosen))
    return chosen


@pytest.mark.parametrize(("kwargs", "field"), [({"n_layers": 0}, "n_layers"), ({"interval": 0}, "interval"),
                                               ({"seed": -1}, "seed"), ({"n_layers": 1.5}, "n_layers")])
def test_config_out_of_range_is_refused_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        LisaConfig(**kwargs)


def test_a_model_or_config_of_the_wrong_type_is_refused():
    with pytest.raises(TypeError, match="model: expected an nn.Module"):
        Lisa("model", LisaConfig())
    with pytest.raises(TypeError, match="config: expected a LisaConfig, got MisaConfig"):
        Lisa(LlamaFamily(CFG, seed=0), MisaConfig())


def test_layers_change_only_at_multiples_of_the_interval_and_each_draw_is_sorted_and_distinct():
    chosen = _run(LisaConfig(n_layers=3, interval=4, seed=0), 40)
    for step, layers in enumerate(chosen):
        assert layers == sorted(set(layers)) and len(layers) == 3 and all(0 <= i < CFG.n_layers for i in layers)
        if step % 4:
            assert layers == chosen[step - 1], step
    periods = [tuple(chosen[s]) for s in range(0, 41, 4)]
    assert len(set(periods)) > 3  # the draws really change (20 possible sets of 3 layers out of 6)


def test_the_seed_decides_the_draws():
    a, b = _run(LisaConfig(n_layers=2, interval=1, seed=5), 12), _run(LisaConfig(n_layers=2, interval=1, seed=5), 12)
    assert a == b
    assert a != _run(LisaConfig(n_layers=2, interval=1, seed=6), 12)


def _checkpoint():
    model = LlamaFamily(CFG, seed=0)
    opt = Lisa(model, LisaConfig(n_layers=2, interval=5), lr=1e-2)
    x = torch.randint(0, CFG.vocab_size, (2, 8), generator=torch.Generator().manual_seed(0))
    for _ in range(3):
        model.loss(x, x).backward()
        opt.step()
        opt.zero_grad()
    return opt, opt.state_dict()


@pytest.mark.parametrize("chosen", [[3, 1], [2, 2], [-1, 2], [0, CFG.n_layers], [1]])
def test_malformed_active_layers_are_refused(chosen):
    opt, saved = _checkpoint()
    before = opt.state_dict()["lisa"]
    with pytest.raises(ValueError, match="active layers"):
        opt.load_state_dict({**saved, "lisa": {**saved["lisa"], "chosen": chosen}})
    assert opt.state_dict()["lisa"] == before


def test_a_checkpoint_whose_layer_names_or_sizes_differ_is_refused():
    opt, saved = _checkpoint()
    renamed = [list(names) for names in saved["lisa"]["layers"]]
    renamed[2][0] = renamed[2][0].replace("attn_norm", "input_norm")
    with pytest.raises(ValueError, match="layers"):
        opt.load_state_dict({**saved, "lisa": {**saved["lisa"], "layers": renamed}})
    resized = list(saved["lisa"]["sizes"])
    resized[-1] += 1
    with pytest.raises(ValueError, match="layers"):
        opt.load_state_dict({**saved, "lisa": {**saved["lisa"], "sizes": resized}})
    opt.load_state_dict(saved)  # and the untouched checkpoint loads
    assert opt.chosen == saved["lisa"]["chosen"]
