"""One factory for MISA and its fine-tuning baselines: ``make_finetuner(name, model, **params)``.

Methods (MISA paper, arXiv 2511.00056, compares against all of them; defaults are the MISA repository's scripts):

- ``adamw``: full fine-tuning, torch AdamW on every parameter.
- ``misa``: `methods.misa.misa.Misa` (``delta``, ``interval``, ``eta``, ... of `MisaConfig`).
- ``lisa``: `methods.misa.lisa.Lisa` (``n_layers``, ``interval``).
- ``badam``: BAdam (Luo, Yu, Li, arXiv 2404.02827) through the ``badam`` package's ``BlockOptimizer``: one
  transformer layer at a time, switched every ``interval`` steps in ``ascending`` order (the MISA repo's setting;
  the package's counter gives the very first layer ``interval - 1`` steps); it keeps fp32 master copies of the
  active block (``master_bytes``).
- ``lora`` / ``dora``: LoRA (Hu et al., arXiv 2106.09685) / DoRA (Liu et al., arXiv 2402.09353) through ``peft``
  on every linear layer inside the transformer layers, r = 8, alpha = 16, dropout 0.05; the adapters are injected
  into ``model`` in place, so ``model``'s own forward and loss still work.
- ``galore``: GaLore (Zhao et al., arXiv 2403.03507) through ``galore-torch``'s ``GaLoreAdamW``: the layers'
  matrices projected to rank ``rank`` (default 16), projection refreshed every ``update_proj_gap`` (50) steps,
  ``proj_type="std"``, scale 1.0; embeddings, norms and head plain AdamW.

The packages are imported inside the factory (extra ``finetune``).

Example::

    >>> from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig
    >>> model = LlamaFamily(LlamaFamilyConfig(d_model=32, d_ff=64, n_heads=2, n_layers=2, vocab_size=64), seed=0)
    >>> ft = make_finetuner("adamw", model, lr=1e-3)
    >>> ft.trainable_params() == sum(p.numel() for p in model.parameters()), ft.state_bytes()
    (True, 0)
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import Any

import torch
from torch import nn

from methods.misa.active_set import state_bytes
from methods.misa.lisa import Lisa, LisaConfig
from methods.misa.misa import LAYER, Misa, MisaConfig

METHODS = ("adamw", "misa", "lisa", "badam", "lora", "dora", "galore")


@dataclass
class Finetuner:
    """A model ready to train and the optimizer-like object that steps it (``step()``, ``zero_grad()``)."""

    name: str
    model: nn.Module
    optimizer: Any
    master: Callable[[], list[torch.Tensor]] = field(default=lambda: [])

    def step(self) -> None:
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def state_bytes(self) -> int:
        """Bytes of the optimizer-state tensors held now (measured in the optimizer's ``state``)."""
        opt = self.optimizer
        return opt.state_bytes() if hasattr(opt, "state_bytes") else state_bytes(getattr(opt, "base_optimizer", opt))

    def master_bytes(self) -> int:
        """Bytes of extra weight copies the method keeps (BAdam's fp32 masters of the active block)."""
        return sum(t.untyped_storage().nbytes() for t in self.master())

    def trainable_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)


def _split(params: dict[str, Any], config_cls: type) -> tuple[Any, dict[str, Any]]:
    names = {f.name for f in fields(config_cls)}
    own = {k: v for k, v in params.items() if k in names}
    return config_cls(**own), {k: v for k, v in params.items() if k not in names}


def _layer_linears(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, nn.Linear) and LAYER.search(n + ".")]


@contextlib.contextmanager
def _quiet_bitsandbytes_import() -> Iterator[None]:
    """Around using peft or galore-torch, which import bitsandbytes (peft >= 0.22 only when it injects adapters):
    its CPU backend tries the Hugging Face hub's ``kernels`` package for a 4-bit GEMM nothing here uses, finds this
    project's ``kernels`` instead and logs a warning naming its path, and under torch 2.13 its import raises 14
    deprecation warnings about ``torch.jit.script_method``; peft >= 0.22 warns that it will drop the Transformers 4
    the ``kv`` extra pins. Dependency noise, kept out of our output."""
    log = logging.getLogger("bitsandbytes")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*torch\.jit\.script_method.* is deprecated",
                                    category=DeprecationWarning)
            warnings.filterwarnings("ignore", message=r"Support for Transformers < .* is deprecated in PEFT",
                                    category=FutureWarning)
            yield
    finally:
        log.setLevel(level)


def _peft(model: nn.Module, dora: bool, r: int = 8, alpha: int = 16, dropout: float = 0.05, **adamw: Any):
    with _quiet_bitsandbytes_import():
        import peft

        config = peft.LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=_layer_linears(model),
                                 use_dora=dora)
        peft.get_peft_model(model, config)  # injects the adapters into ``model`` and freezes the rest
    return torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], **adamw)


def _badam(model: nn.Module, interval: int = 50, switch_mode: str = "ascending", **adamw: Any):
    from badam import BlockOptimizer

    base = torch.optim.AdamW(model.parameters(), **adamw)
    # it warns that fp32 weights make its fp32 masters redundant (true here), and its block switch prints the new
    # block whatever ``verbose`` says (it calls ``switch_trainable_params()`` with the default verbose=1)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        opt = BlockOptimizer(base, list(model.named_parameters()), switch_block_every=interval,
                             switch_mode=switch_mode, verbose=0)
    opt.switch_trainable_params = functools.partial(opt.switch_trainable_params, verbose=0)
    return opt


def _galore(model: nn.Module, rank: int = 16, update_proj_gap: int = 50, scale: float = 1.0, **adamw: Any):
    with _quiet_bitsandbytes_import():
        from galore_torch import GaLoreAdamW

    low_rank = [p for n, p in model.named_parameters() if LAYER.search(n) and p.ndim == 2]
    ids = {id(p) for p in low_rank}
    rest = [p for p in model.parameters() if id(p) not in ids]
    groups = [{"params": rest},
              {"params": low_rank, "rank": rank, "update_proj_gap": update_proj_gap, "scale": scale,
               "proj_type": "std"}]
    return GaLoreAdamW(groups, no_deprecation_warning=True, **adamw)


def make_finetuner(name: str, model: nn.Module, **params: Any) -> Finetuner:
    """``params``: the method's knobs plus AdamW's (``lr``, ``weight_decay``, ``betas``, ``eps``)."""
    if name == "adamw":
        return Finetuner(name, model, torch.optim.AdamW(model.parameters(), **params))
    if name == "misa":
        cfg, adamw = _split(params, MisaConfig)
        return Finetuner(name, model, Misa(model, cfg, **adamw))
    if name == "lisa":
        cfg, adamw = _split(params, LisaConfig)
        return Finetuner(name, model, Lisa(model, cfg, **adamw))
    if name == "badam":
        opt = _badam(model, **params)
        return Finetuner(name, model, opt, master=lambda: list(opt.param_idx2hp.values()))
    if name in ("lora", "dora"):
        return Finetuner(name, model, _peft(model, name == "dora", **params))
    if name == "galore":
        return Finetuner(name, model, _galore(model, **params))
    raise ValueError(f"unknown fine-tuning method {name!r}; known: {', '.join(METHODS)}")
