"""Gaps in the tests of `methods.misa.baselines` found by a mutation audit.

- an unknown method is refused by name, with the known ones;
- trainable parameter counts by hand: LISA's one layer plus embeddings, norm and head; LoRA's rank-8 adapters on
  the layers' linears only (not the head); DoRA's adds one magnitude per output feature.
"""

from __future__ import annotations

import pytest

from methods.misa.baselines import make_finetuner
from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig

CFG = LlamaFamilyConfig(d_model=32, d_ff=64, n_heads=2, n_layers=4, vocab_size=64)
# a layer: two norms (2 x 32), q/k/v/o (4 x 32 x 32), gate/up/down (3 x 32 x 64) = 10304; outside the layers:
# embeddings and head (2 x 64 x 32) and the final norm (32) = 4128
LAYER, OUTSIDE = 10304, 4128


def test_an_unknown_method_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown fine-tuning method 'sgd'; known: adamw, misa, lisa"):
        make_finetuner("sgd", LlamaFamily(CFG, seed=0))


def test_lisa_trains_one_layer_and_everything_outside_the_layers():
    ft = make_finetuner("lisa", LlamaFamily(CFG, seed=0), n_layers=1, lr=1e-3)
    assert ft.trainable_params() == LAYER + OUTSIDE
    assert make_finetuner("adamw", LlamaFamily(CFG, seed=0)).trainable_params() == 4 * LAYER + OUTSIDE


@pytest.mark.parametrize("name, per_layer", [
    # rank 8 x (in + out): q/k/v/o 4 x 8 x 64, gate/up 2 x 8 x 96, down 8 x 96
    ("lora", 4 * 8 * 64 + 3 * 8 * 96),
    # DoRA adds a magnitude per output feature: 4 x 32 + 2 x 64 + 32
    ("dora", 4 * 8 * 64 + 3 * 8 * 96 + 288),
])
def test_lora_and_dora_adapt_the_layers_linears_at_rank_eight(name, per_layer):
    pytest.importorskip("peft")
    ft = make_finetuner(name, LlamaFamily(CFG, seed=0), lr=1e-3)
    assert ft.trainable_params() == 4 * per_layer
