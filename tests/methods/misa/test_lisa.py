"""LISA: embeddings, final norm and head always trainable; n uniformly drawn layers; state only for those."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from methods.misa.lisa import Lisa, LisaConfig
from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig

CFG = LlamaFamilyConfig(d_model=32, d_ff=64, n_heads=2, n_layers=4, vocab_size=64, max_seq_len=16)


def test_layers_are_drawn_uniformly_with_embeddings_and_head_always_on():
    model = LlamaFamily(CFG, seed=0)
    opt = Lisa(model, LisaConfig(n_layers=2, interval=1, seed=0), lr=1e-3)
    x = torch.randint(0, 64, (2, 16), generator=torch.Generator().manual_seed(0))
    picks = np.zeros(CFG.n_layers)
    for _ in range(120):
        model.loss(x, x).backward()
        layers = {int(n.split(".")[1]) for n, p in model.named_parameters()
                  if p.requires_grad and n.startswith("layers.")}
        assert layers == set(opt.chosen) and len(layers) == 2
        assert model.embed_tokens.weight.requires_grad and model.lm_head.weight.requires_grad
        assert model.norm.weight.requires_grad
        held = {id(p) for p in opt.opt.base.state}
        assert held <= {id(p) for i in opt.chosen for p in opt.layers[i]} | {id(p) for p in opt.always}
        picks[opt.chosen] += 1
        opt.step()
        opt.zero_grad()
    # uniform: each layer drawn with probability 1/2 per period; 4 sigma band of a binomial(120, 0.5)
    assert np.all(np.abs(picks - 60) < 4 * np.sqrt(30))


def test_too_many_layers_refused():
    with pytest.raises(ValueError, match="n_layers"):
        Lisa(LlamaFamily(CFG, seed=0), LisaConfig(n_layers=5))
