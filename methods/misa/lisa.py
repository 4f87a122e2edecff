"""LISA: layerwise importance sampling (Pan, Liu, Diao, Pi, Zhang, Pan, Zhang, NeurIPS 2024, arXiv 2403.17919).

Every ``interval`` steps, ``n_layers`` transformer layers are drawn uniformly without replacement and made
trainable with the embeddings, the final norm and the LM head, which stay trainable all the time; every other
parameter is frozen and holds no AdamW state. Defaults are LMFlow's script (``lisa_activated_layers=1``,
``lisa_interval_steps=20``). Written here: no maintained package ships LISA on its own.

Example::

    >>> from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig
    >>> model = LlamaFamily(LlamaFamilyConfig(d_model=32, d_ff=64, n_heads=2, n_layers=4, vocab_size=64), seed=0)
    >>> opt = Lisa(model, LisaConfig(n_layers=1, interval=5), lr=1e-3)
    >>> len(opt.layers), model.embed_tokens.weight.requires_grad, sum(p.requires_grad for p in model.parameters())
    (4, True, 12)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from methods.misa.active_set import ActiveSetAdamW
from methods.arguments import check_integer
from methods.misa.misa import embedding_and_head, module_blocks


@dataclass(frozen=True)
class LisaConfig:
    n_layers: int = 1
    interval: int = 20
    seed: int = 0

    def __post_init__(self) -> None:
        check_integer("n_layers", self.n_layers, 1)
        check_integer("interval", self.interval, 1)
        check_integer("seed", self.seed, 0)


class Lisa:
    """Use like a torch optimizer: ``loss.backward(); opt.step(); opt.zero_grad()``."""

    def __init__(self, model: nn.Module, config: LisaConfig = LisaConfig(), **adamw_kwargs: object):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model: expected an nn.Module with 'layers.<i>.' parameters, got {type(model).__name__}")
        if not isinstance(config, LisaConfig):
            raise TypeError(f"config: expected a LisaConfig, got {type(config).__name__}")
        self.cfg = config
        self.layers = [[p for _, p in block] for block in module_blocks(model, "layer")]
        if config.n_layers > len(self.layers):
            raise ValueError(f"n_layers={config.n_layers} exceeds the model's {len(self.layers)} layers")
        self.always = embedding_and_head(model)
        self.opt = ActiveSetAdamW([p for layer in self.layers for p in layer] + self.always, **adamw_kwargs)
        self.rng = np.random.default_rng(config.seed)
        self.steps = 0
        self.chosen: list[int] = []
        self._redraw()

    def _redraw(self) -> None:
        self.chosen = sorted(int(i) for i in self.rng.choice(len(self.layers), self.cfg.n_layers, replace=False))
        self.opt.activate([p for i in self.chosen for p in self.layers[i]] + self.always)

    def step(self) -> None:
        self.opt.step()
        self.steps += 1
        if self.steps % self.cfg.interval == 0:
            self._redraw()

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.opt.zero_grad(set_to_none)

    def state_bytes(self) -> int:
        return self.opt.state_bytes()
