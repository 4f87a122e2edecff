"""Gaps in the tests of `init` found by a mutation audit (after the one closed in `test_models_mutation_gaps`).

- `init_parameters` fills 1-D convolutions too (seeded, within 1 / sqrt(fan_in)) and zeroes a LayerNorm's bias.
"""

from __future__ import annotations

import torch
from torch import nn

from methods.models.init import init_parameters


def test_conv1d_weights_are_drawn_from_the_seed_within_one_over_sqrt_fan_in():
    convs = [nn.Conv1d(2, 3, 3) for _ in range(2)]  # fan_in 2 * 3 = 6
    for conv in convs:
        with torch.no_grad():
            conv.weight.fill_(5.0)
            conv.bias.fill_(5.0)
        init_parameters(conv, seed=7)
    bound = 1 / 6**0.5
    assert torch.equal(convs[0].weight, convs[1].weight) and torch.equal(convs[0].bias, convs[1].bias)
    assert convs[0].weight.abs().max() <= bound and convs[0].bias.abs().max() <= bound


def test_layer_norm_bias_is_zeroed_and_weight_set_to_one():
    norm = nn.LayerNorm(4)
    with torch.no_grad():
        norm.weight.fill_(5.0)
        norm.bias.fill_(5.0)
    init_parameters(norm, seed=0)
    assert norm.weight.tolist() == [1.0] * 4 and norm.bias.tolist() == [0.0] * 4
