"""LISA: layerwise importance sampling (Pan, Liu, Diao, Pi, Zhang, Pan, Zhang, NeurIPS 2024, arXiv 2403.17919).

Every ``interval`` steps, ``n_layers`` transformer layers are drawn uniformly without replacement and made
trainable with the embeddings, the final norm and the LM head, which stay trainable all the time; every other
parameter is frozen and holds no AdamW state. At a re-draw the layers' AdamW state starts afresh (a layer drawn
again too) and the always-trainable parameters keep theirs, as LMFlow's ``LISATrainer`` does (it rebuilds the
optimizer at every switch and carries over the state of the parameter groups outside the layers). Defaults are
LMFlow's script (``lisa_activated_layers=1``, ``lisa_interval_steps=20``). Written here: no maintained package
ships LISA on its own.

`Lisa` is a ``torch.optim.Optimizer`` with one parameter group (every layer's parameters, then the embeddings,
final norm and head) and AdamW's hyperparameters, copied into the inner AdamW before each step, so LR schedulers
work across re-draws; its ``state_dict`` adds to torch's (the active parameters' AdamW state, the hyperparameters)
the step counter, the active layers and the sampling RNG's state, so a resumed run draws the same layers.

Example::

    >>> import torch
    >>> from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig
    >>> model = LlamaFamily(LlamaFamilyConfig(d_model=32, d_ff=64, n_heads=2, n_layers=4, vocab_size=64), seed=0)
    >>> opt = Lisa(model, LisaConfig(n_layers=1, interval=5), lr=1e-3)
    >>> len(opt.layers), model.embed_tokens.weight.requires_grad, sum(p.requires_grad for p in model.parameters())
    (4, True, 12)
    >>> sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    >>> len(opt.param_groups[0]["params"]), sorted(opt.state_dict()["lisa"])
    (39, ['chosen', 'config', 'layers', 'peak_state_bytes', 'rng', 'sizes', 'steps'])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from methods.arguments import check_integer
from methods.misa.active_set import ActiveSetAdamW
from methods.misa.misa import ActiveSetOptimizer, embedding_and_head, module_blocks


@dataclass(frozen=True)
class LisaConfig:
    n_layers: int = 1
    interval: int = 20
    seed: int = 0

    def __post_init__(self) -> None:
        check_integer("n_layers", self.n_layers, 1)
        check_integer("interval", self.interval, 1)
        check_integer("seed", self.seed, 0)


class Lisa(ActiveSetOptimizer):
    """A ``torch.optim.Optimizer``: ``loss.backward(); opt.step(); opt.zero_grad()``, LR schedulers, checkpoints.

    ``param_groups`` is one group of every parameter LISA may train; a scheduler that sets its ``lr`` drives the
    active layers and the embeddings and head. ``state`` is the inner AdamW's per-parameter state (active
    parameters only; a re-draw frees the layers', the embeddings' and head's carry on). `state_dict` /
    `load_state_dict` round-trip everything an exact resume needs."""

    KEY = "lisa"

    def __init__(self, model: nn.Module, config: LisaConfig = LisaConfig(), **adamw_kwargs: object):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model: expected an nn.Module with 'layers.<i>.' parameters, got {type(model).__name__}")
        if not isinstance(config, LisaConfig):
            raise TypeError(f"config: expected a LisaConfig, got {type(config).__name__}")
        self.cfg = config
        blocks = module_blocks(model, "layer")
        self.layer_names = [[name for name, _ in block] for block in blocks]
        self.layers = [[p for _, p in block] for block in blocks]
        if config.n_layers > len(self.layers):
            raise ValueError(f"n_layers={config.n_layers} exceeds the model's {len(self.layers)} layers")
        self.always = embedding_and_head(model)
        params = [p for layer in self.layers for p in layer] + self.always
        super().__init__(params, ActiveSetAdamW(params, **adamw_kwargs))
        self.rng = np.random.default_rng(config.seed)
        self.steps = 0
        self.chosen: list[int] = []
        self._redraw()

    def _redraw(self) -> None:
        self.chosen = sorted(int(i) for i in self.rng.choice(len(self.layers), self.cfg.n_layers, replace=False))
        # LMFlow's LISATrainer rebuilds its optimizer at every switch and carries over the state of the groups
        # outside the layers (embeddings, final norm, head): only the layers' AdamW state starts afresh
        self.opt.activate([p for i in self.chosen for p in self.layers[i]] + self.always, keep_state=self.always)

    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = self._evaluate(closure)
        self._sync_hyperparameters()
        self.opt.step()
        self.steps += 1
        if self.steps % self.cfg.interval == 0:
            self._redraw()
        return loss

    # -- checkpoints -------------------------------------------------------------------------------------------
    def _sizes(self) -> list[int]:
        return [sum(p.numel() for p in layer) for layer in self.layers]

    def state_dict(self) -> dict[str, Any]:
        """torch's optimizer ``state_dict`` plus a ``"lisa"`` entry (plain Python values only, so ``torch.load``
        reads it with ``weights_only=True``): the config, layer parameter names and sizes (checked on load), the
        step counter, the active layers, the sampling RNG's state and the measured state peak."""
        out = super().state_dict()
        out["lisa"] = self._sampler_entry(layers=[list(names) for names in self.layer_names], sizes=self._sizes())
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a `state_dict` into a Lisa built the same way (same config, seed aside, and model layout): the
        next steps then compute exactly what the saved run computed. Load it after creating an LR scheduler
        (as with any torch optimizer), or the scheduler's first step overwrites the loaded lr."""
        saved = self._saved_entry(state_dict)
        if [list(names) for names in saved["layers"]] != self.layer_names or list(saved["sizes"]) != self._sizes():
            raise ValueError("the checkpoint's layers (parameter names or sizes) differ from this model's")
        n = len(self.layers)
        chosen = [int(i) for i in saved["chosen"]]
        if len(set(chosen)) != self.cfg.n_layers or chosen != sorted(chosen) or not all(0 <= i < n for i in chosen):
            raise ValueError(f"the checkpoint's active layers {chosen} are not {self.cfg.n_layers} distinct sorted "
                             f"layer indices below {n}")
        rng_state = self._rng_state(saved["rng"])

        self._restore(state_dict, saved, [p for i in chosen for p in self.layers[i]] + self.always, chosen, rng_state)
