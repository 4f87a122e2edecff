"""Gaps in the tests of `reward` found by a mutation audit.

- `discounted_return_to_go`: the default discount 0.99 (hand values) and 2-D rewards refused;
- `RewardModel`: residual blocks of widths 64 -> 128 -> 256 (the authors'), each Linear-Mish-Linear plus its
  skip (hand values), fed ``[action, state]`` in that order;
- `RangeNormaliser`: constant returns map to 0 rather than a division by zero;
- `fit_reward_model`: the authors' AdamW settings (lr 2e-4, weight decay 1e-3), batch 64 and 50 epochs by
  default, every epoch in a new seeded order, the same seed giving the same model and another seed another one,
  and the model handed back frozen.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import methods.offline_rl.reward as reward_mod
from methods.offline_rl.reward import RangeNormaliser, RewardModel, _ResBlock, discounted_return_to_go, fit_reward_model


def _mish(x: float) -> float:
    return x * math.tanh(math.log1p(math.exp(x)))


def test_default_discount_is_0_99_and_two_dimensional_rewards_are_refused():
    # Q_1 = 1, Q_0 = 1 + 0.99 * 1; a new episode starts at step 2: Q_2 = 2
    assert discounted_return_to_go(np.array([1.0, 1.0, 2.0]), np.array([False, True, True])) == pytest.approx(
        [1.99, 1.0, 2.0])
    with pytest.raises(ValueError, match="equal 1-D shapes"):
        discounted_return_to_go(np.ones((2, 3)), np.zeros((2, 3), dtype=bool))


def test_reward_model_block_widths_are_the_authors():
    model = RewardModel(act_dim=2, obs_dim=3)
    widths = [(b.body[0].in_features, b.body[2].out_features) for b in model.blocks]
    assert widths == [(5, 64), (64, 128), (128, 256)]
    assert (model.head.in_features, model.head.out_features) == (256, 1)


def test_residual_block_is_linear_mish_linear_plus_skip_by_hand():
    block = _ResBlock(2, 2)
    with torch.no_grad():
        for lin in (block.body[0], block.body[2]):
            lin.weight.copy_(torch.eye(2))
            lin.bias.zero_()
    out = block(torch.tensor([[1.0, -1.0]]))
    assert out[0].tolist() == pytest.approx([_mish(1.0) + 1.0, _mish(-1.0) - 1.0], rel=1e-5)  # 1.8651, -1.3034


def test_reward_model_reads_the_action_before_the_state():
    model = RewardModel(act_dim=1, obs_dim=2, dims=(3,))
    with torch.no_grad():
        model.blocks[0].body[2].weight.zero_()
        model.blocks[0].body[2].bias.zero_()  # the block passes [a, s] through its identity skip
        model.head.weight.copy_(torch.tensor([[1.0, 10.0, 100.0]]))
        model.head.bias.zero_()
    assert model(torch.tensor([[1.0]]), torch.tensor([[2.0, 3.0]])).tolist() == pytest.approx([321.0])


def test_constant_returns_normalise_to_zero():
    assert RangeNormaliser(2.0, 2.0)(np.array([2.0, 2.0])).tolist() == [0.0, 0.0]


class _SpyAdamW(torch.optim.AdamW):
    made: list[dict] = []

    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        self.steps = 0
        _SpyAdamW.made.append({"kwargs": kwargs, "opt": self})

    def step(self, closure=None):
        self.steps += 1
        return super().step(closure)


def test_fit_defaults_are_the_authors_optimiser_batch_and_epochs(monkeypatch):
    _SpyAdamW.made = []
    monkeypatch.setattr(reward_mod.torch.optim, "AdamW", _SpyAdamW)
    rng = np.random.default_rng(0)
    n = 65  # batches of 64: 64, 1 -> two steps in the one epoch
    model, _ = fit_reward_model(rng.normal(size=(n, 1)), rng.normal(size=(n, 2)), rng.normal(size=n), epochs=1)
    fit_reward_model(np.zeros((2, 1)), np.zeros((2, 1)), np.array([0.0, 1.0]), dims=(2,))  # one step per epoch
    assert [m["kwargs"] for m in _SpyAdamW.made] == [{"lr": 2e-4, "weight_decay": 1e-3}] * 2
    assert [m["opt"].steps for m in _SpyAdamW.made] == [2, 50]
    assert [b.body[2].out_features for b in model.blocks] == [64, 128, 256]
    assert not model.training and not any(p.requires_grad for p in model.parameters())


class _Recording(RewardModel):
    seen: list[float] = []

    def forward(self, action, obs):
        if self.training:
            _Recording.seen.extend(action[:, 0].tolist())
        return super().forward(action, obs)


def test_each_epoch_visits_the_samples_in_a_new_seeded_order(monkeypatch):
    monkeypatch.setattr(reward_mod, "RewardModel", _Recording)
    n = 8

    def fit(seed: int) -> tuple[list[float], nn.Module]:
        _Recording.seen = []
        model, _ = fit_reward_model(np.arange(n, dtype=float)[:, None], np.zeros((n, 1)), np.arange(n, dtype=float),
                                    epochs=2, batch=1, dims=(4,), seed=seed)
        return list(_Recording.seen), model

    order, model = fit(3)
    first, second = order[:n], order[n:]
    assert sorted(first) == sorted(second) == list(range(n))
    assert first != list(range(n)) and first != second
    again, same = fit(3)
    other, different = fit(4)
    assert again == order and other != order
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), same.parameters(), strict=True))
    assert not all(torch.equal(p, q) for p, q in zip(model.parameters(), different.parameters(), strict=True))
