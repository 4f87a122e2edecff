"""MISA: module-wise importance sampling as an optimizer wrapper (Liu, Deng, He, Wang, Yao, Yuan, arXiv 2511.00056).

Modules are the weight matrices inside the transformer layers (every >= 2-D parameter whose name has a
``layers.<i>.`` part; ``granularity="layer"`` groups a layer's parameters into one block instead, the way the
authors' code emulates LISA/BAdam). Every ``interval`` (T) steps the active set is redrawn: the importance of each
module is a running average of its gradient norms while it was active, the probabilities are the softmax of
``eta * importance`` (the closed form of the KL-regularised objective), and modules are drawn by
`sampling.weighted_budget_draw` until the trainable budget ``delta * (all parameters)`` is full. Only active modules
have ``requires_grad`` and AdamW state (`active_set.ActiveSetAdamW`).

Paper vs the authors' code (research card A4.2), each one option of `MisaConfig` (defaults = the code):

(a) ``score``: ``"code"`` averages the un-squared norm ``||g||`` over the period and squares it in the exponent;
    ``"paper"`` averages ``||g||^2`` and uses it as is.
(b) ``exp_clip``: the code caps the exponent at 5 (max probability ratio e^5); ``None`` = paper (no cap).
(c) ``size_scaling``: the paper scales the score by the module's size (exact form not given): ``"none"`` (code),
    ``"numel"`` or ``"sqrt_numel"`` divide the norm by numel or sqrt(numel).
(d) ``bias_correction``: the code divides the *stored* EMA by ``1 - beta^count`` each period, so the correction
    compounds (``"compounding"``); ``"standard"`` corrects only the value used for sampling; ``"none"``.
(e) ``retain_states``: the code keeps the AdamW state of a module drawn again in the next period; ``False`` =
    paper (every state freed at the end of a period).
(f) ``flush_momentum`` (paper line 13: one extra step ``-lr * beta1/(1-beta1) * m / (sqrt(v) + eps)`` on the leaving
    modules before their state is freed; m, v bias-corrected like the AdamW steps it continues) and ``amsgrad``
    (the paper's AMSGrad-type normalisation); the code has neither (plain AdamW).

Also from the code: ``sample_last`` least-recently-used modules are tried first, and while any module was never
active the set is redrawn after every step (``warmup_sweep``), so every module is visited once before importance
sampling takes over. Our period mean divides by the steps the period really had (the code divides by T even in the
one-step warm-up periods). At LLaMA scale every module fits the budget; in a tiny model a module larger than
``delta`` of the parameters never can, so the sweep and the least-recently-used rule count only the modules that
fit (the code would redraw after every step forever, and T would never apply).

`Misa` is a ``torch.optim.Optimizer`` with one parameter group, every parameter it may train with AdamW's
hyperparameters, copied into the inner AdamW before each step, so LR schedulers work across redraws; its
``state_dict`` adds to torch's (the active modules' AdamW state, the hyperparameters) the sampler's state: step
counter, active set, importance, counts, the open period's sums, least-recently-used steps, the RNG state.

Example::

    >>> import torch
    >>> from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig
    >>> model = LlamaFamily(LlamaFamilyConfig(d_model=32, d_ff=64, n_heads=2, n_layers=4, vocab_size=64), seed=0)
    >>> opt = Misa(model, MisaConfig(delta=0.05, interval=5, seed=0), lr=1e-3)
    >>> len(opt.modules), opt.active_fraction() <= 0.05
    (28, True)
    >>> sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    >>> len(opt.param_groups[0]["params"]), sorted(opt.state_dict()["misa"])[:3]
    (28, ['chosen', 'config', 'counts'])
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from methods.arguments import check_flags, check_integer, check_number
from methods.misa.active_set import ActiveSetAdamW
from methods.misa.sampling import forced_order, softmax_probabilities, weighted_budget_draw

LAYER = re.compile(r"(?:^|\.)layers\.(\d+)\.")


@dataclass(frozen=True)
class MisaConfig:
    """MISA's knobs; defaults are the authors' fine-tuning scripts (delta 3%, T 50, eta 1, beta 0.8)."""

    delta: float = 0.03
    interval: int = 50
    eta: float = 1.0
    beta: float = 0.8
    granularity: Literal["module", "layer"] = "module"
    sampling: Literal["importance", "uniform"] = "importance"
    score: Literal["code", "paper"] = "code"
    exp_clip: float | None = 5.0
    size_scaling: Literal["none", "numel", "sqrt_numel"] = "none"
    bias_correction: Literal["compounding", "standard", "none"] = "compounding"
    retain_states: bool = True
    flush_momentum: bool = False
    amsgrad: bool = False
    sample_last: int = 2
    warmup_sweep: bool = True
    train_embedding_and_head: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < check_number("delta", self.delta) <= 1:
            raise ValueError(f"delta must be in (0, 1], got {self.delta}")
        check_integer("interval", self.interval, 1)
        if not 0 <= check_number("eta", self.eta) < math.inf:
            raise ValueError(f"eta must be a finite number >= 0 (0 = uniform sampling), got {self.eta}")
        if not 0 <= check_number("beta", self.beta) < 1:
            raise ValueError(f"beta must be in [0, 1), got {self.beta}")
        if self.exp_clip is not None and not 0 < check_number("exp_clip", self.exp_clip) <= math.inf:
            raise ValueError(f"exp_clip must be > 0 or None (no cap), got {self.exp_clip}")
        for name, choices in CHOICES.items():
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {getattr(self, name)!r}")
        check_integer("sample_last", self.sample_last, 0)
        check_integer("seed", self.seed, 0)
        check_flags(self)


#: allowed values of MisaConfig's string options
CHOICES: dict[str, tuple[str, ...]] = {
    "granularity": ("module", "layer"),
    "sampling": ("importance", "uniform"),
    "score": ("code", "paper"),
    "size_scaling": ("none", "numel", "sqrt_numel"),
    "bias_correction": ("compounding", "standard", "none"),
}


def module_blocks(model: nn.Module, granularity: str = "module") -> list[list[tuple[str, nn.Parameter]]]:
    """MISA's blocks: each >= 2-D parameter inside a layer (``module``), or each layer's parameters (``layer``)."""
    blocks: dict[str, list[tuple[str, nn.Parameter]]] = {}
    for name, p in model.named_parameters():
        m = LAYER.search(name)
        if m is None:
            continue
        if granularity == "module":
            if p.ndim >= 2:
                blocks[name] = [(name, p)]
        elif granularity == "layer":
            blocks.setdefault(m.group(1), []).append((name, p))
        else:
            raise ValueError(f"granularity must be 'module' or 'layer', got {granularity!r}")
    if not blocks:
        raise ValueError("no parameter name has a 'layers.<i>.' part: MISA needs a layered model")
    return list(blocks.values())


def embedding_and_head(model: nn.Module) -> list[nn.Parameter]:
    """Parameters outside every layer (embeddings, final norm, head): what LISA keeps trainable."""
    return [p for n, p in model.named_parameters() if LAYER.search(n) is None]


class ActiveSetOptimizer(torch.optim.Optimizer):
    """The ``torch.optim.Optimizer`` face `Misa` and `methods.misa.lisa.Lisa` share.

    ``param_groups`` is one group: every parameter the method may train, with the inner `ActiveSetAdamW`'s
    hyperparameters; `step` copies them into the inner AdamW's group before it steps, so a scheduler that sets
    ``param_groups[0]["lr"]`` drives whichever blocks are active. ``state`` *is* the inner AdamW's state dict, so
    torch's ``state_dict`` packs it (active blocks only). A subclass keeps its sampler's state under
    ``state_dict()[KEY]`` (`_sampler_entry` plus its own), checks a checkpoint with `_saved_entry` and restores
    torch's part and the common sampler state with `_restore`. The sampler's RNG is ``self.rng`` (a numpy Generator)."""

    KEY = ""  # the state_dict entry holding the subclass's sampler state
    cfg: Any  # the subclass's frozen config dataclass
    rng: np.random.Generator

    def __init__(self, params: list[nn.Parameter], inner: ActiveSetAdamW):
        self.opt = inner
        group = inner.base.param_groups[0]
        super().__init__(params, {k: v for k, v in group.items() if k != "params"})
        self.state = inner.base.state  # one dict, so torch's state_dict packs the inner AdamW's state

    def _sync_hyperparameters(self) -> None:
        """Copy ``param_groups[0]``'s hyperparameters (lr, betas, ...) into the inner AdamW's group."""
        inner = self.opt.base.param_groups[0]
        for key, value in self.param_groups[0].items():
            if key != "params" and key in inner:
                inner[key] = value

    @staticmethod
    def _evaluate(closure: Callable[[], float] | None) -> float | None:
        if closure is None:
            return None
        with torch.enable_grad():
            return closure()

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.opt.zero_grad(set_to_none)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if self.param_groups:
            raise NotImplementedError(
                f"{type(self).__name__} has one parameter group, the parameters of the model it was built on")
        super().add_param_group(param_group)

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)  # torch's keeps only defaults/state/param_groups; copy and pickle need all

    def state_bytes(self) -> int:
        """Bytes of the AdamW state tensors held right now (measured, not counted from the active set)."""
        return self.opt.state_bytes()

    # -- checkpoint helpers --------------------------------------------------------------------------------------
    def _saved_entry(self, state_dict: Mapping[str, Any]) -> Mapping[str, Any]:
        """``state_dict[KEY]``, after checking it exists, was saved with the same config (the seed may differ:
        the RNG state is restored) and one parameter group as long as this optimizer's."""
        saved = state_dict.get(self.KEY) if isinstance(state_dict, Mapping) else None
        if not isinstance(saved, Mapping):
            raise ValueError(f"not a {type(self).__name__} state_dict: it has no {self.KEY!r} entry")
        current, saved_cfg = asdict(self.cfg), dict(saved["config"])
        differ = sorted(k for k in set(current) | set(saved_cfg)
                        if k != "seed" and (k not in current or k not in saved_cfg or saved_cfg[k] != current[k]))
        if differ:
            raise ValueError(f"the checkpoint's {type(self.cfg).__name__} differs in {', '.join(differ)}: build "
                             f"{type(self).__name__} with the same config (the seed may differ; the sampling RNG "
                             "state is restored)")
        groups = state_dict["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.param_groups[0]["params"]):
            raise ValueError(f"the checkpoint's parameter group does not match this {type(self).__name__}'s "
                             "parameters")
        return saved

    def _rng_state(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of a saved ``rng.bit_generator.state``; raises on a different or malformed generator state."""
        rng_state = copy.deepcopy(dict(state))
        type(self.rng.bit_generator)().state = rng_state
        return rng_state

    def _sampler_entry(self, **layout: Any) -> dict[str, Any]:
        """The ``state_dict()[KEY]`` entry both samplers write: the config, ``layout`` (names and sizes, checked on
        load), the step counter, the active set, a copy of the sampling RNG's state and the measured state peak;
        a subclass adds its own sampler state."""
        return {"config": asdict(self.cfg), **layout, "steps": self.steps, "chosen": [int(i) for i in self.chosen],
                "rng": copy.deepcopy(self.rng.bit_generator.state), "peak_state_bytes": self.opt.peak_state_bytes}

    def _restore(self, state_dict: Mapping[str, Any], saved: Mapping[str, Any], active: list[nn.Parameter],
                 chosen: list[int], rng_state: dict[str, Any]) -> None:
        """Once every part of a checkpoint is checked: activate ``active`` (dropping state the way a redraw would),
        let torch's loader set the AdamW state and the hyperparameters, then the active set ``chosen``, the step
        counter, the sampling RNG and the measured state peak."""
        self.opt.activate(active)
        super().load_state_dict({k: v for k, v in state_dict.items() if k != self.KEY})
        self.chosen = chosen
        self.steps = int(saved["steps"])
        self.rng.bit_generator.state = rng_state
        self.opt.peak_state_bytes = int(saved["peak_state_bytes"])
        self.opt.base.state = self.state  # torch's loader made a new dict; the inner AdamW must step with it
        self._sync_hyperparameters()


class Misa(ActiveSetOptimizer):
    """A ``torch.optim.Optimizer``: ``loss.backward(); opt.step(); opt.zero_grad()``, LR schedulers, checkpoints.

    ``param_groups`` is one group: every parameter MISA may train (the modules in order, then the embeddings and
    head when ``train_embedding_and_head``) with AdamW's hyperparameters. `step` copies those hyperparameters into
    the inner AdamW's group before it steps (the authors' wrapper syncs lr the same way), so a scheduler that sets
    ``param_groups[0]["lr"]`` drives whichever modules are active, and the momentum flush. ``state`` is the inner
    AdamW's per-parameter state (active modules only). `state_dict` / `load_state_dict` round-trip everything an
    exact resume needs."""

    KEY = "misa"

    def __init__(self, model: nn.Module, config: MisaConfig = MisaConfig(), **adamw_kwargs: object):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model: expected an nn.Module with 'layers.<i>.' parameters, got {type(model).__name__}")
        if not isinstance(config, MisaConfig):
            raise TypeError(f"config: expected a MisaConfig, got {type(config).__name__}")
        self.cfg = config
        self.modules = module_blocks(model, config.granularity)
        self.always = embedding_and_head(model) if config.train_embedding_and_head else []
        params = [p for block in self.modules for _, p in block] + self.always
        model.requires_grad_(False)  # norms (and embeddings/head unless configured) stay frozen, as in the code
        self.total_params = sum(p.numel() for p in model.parameters())
        self.sizes = np.array([sum(p.numel() for _, p in block) for block in self.modules], dtype=np.int64)
        self.fits = self.sizes <= config.delta * self.total_params  # modules the budget can ever hold
        super().__init__(params, ActiveSetAdamW(params, retain_states=config.retain_states, amsgrad=config.amsgrad,
                                                **adamw_kwargs))
        self.rng = np.random.default_rng(config.seed)
        b = len(self.modules)
        self.importance = np.zeros(b)  # G (stored EMA)
        self.counts = np.ones(b)  # the code's bias-correction counter starts at 1
        self.period_sum = np.zeros(b)
        self.period_steps = 0
        self.last_used = -np.ones(b, dtype=np.int64)
        self.probabilities = np.full(b, 1.0 / b)
        self.steps = 0
        self.chosen: list[int] = []
        self._redraw()

    # -- sampling ----------------------------------------------------------------------------------------------
    def _block_norm(self, b: int) -> float:
        sq = sum(float(p.grad.detach().float().pow(2).sum()) for _, p in self.modules[b] if p.grad is not None)
        norm = sq**0.5
        if self.cfg.size_scaling == "numel":
            norm /= float(self.sizes[b])
        elif self.cfg.size_scaling == "sqrt_numel":
            norm /= float(self.sizes[b]) ** 0.5
        return norm**2 if self.cfg.score == "paper" else norm

    def _update_importance(self) -> None:
        if self.period_steps == 0:
            return
        beta = self.cfg.beta
        for b in self.chosen:
            mean = self.period_sum[b] / self.period_steps
            self.importance[b] = (1 - beta) * mean + beta * self.importance[b]
            if self.cfg.bias_correction == "compounding":
                self.importance[b] /= 1 - beta ** self.counts[b]
            self.counts[b] += 1
        self.period_sum[:] = 0
        self.period_steps = 0

    def sampling_scores(self) -> np.ndarray:
        """The score each module's probability is a softmax of (before eta)."""
        g = self.importance
        if self.cfg.bias_correction == "standard":
            g = g / (1 - self.cfg.beta ** (self.counts - 1)).clip(min=1 - self.cfg.beta)
        return g**2 if self.cfg.score == "code" else g

    def _redraw(self) -> None:
        self._update_importance()
        if self.cfg.sampling == "uniform":
            self.probabilities = np.full(len(self.modules), 1.0 / len(self.modules))
        else:
            self.probabilities = softmax_probabilities(self.sampling_scores(), self.cfg.eta, self.cfg.exp_clip)
        # modules that can never fit sort last and never count as unvisited
        forced = forced_order(np.where(self.fits, self.last_used, np.iinfo(np.int64).max), self.cfg.sample_last)
        leaving = set(self.chosen)
        self.chosen = weighted_budget_draw(
            self.probabilities, self.sizes, self.cfg.delta * self.total_params, self.rng, forced
        )
        self.last_used[self.chosen] = self.steps
        if self.cfg.flush_momentum:
            self._flush(leaving - (set(self.chosen) if self.cfg.retain_states else set()))
        self.opt.activate([p for b in self.chosen for _, p in self.modules[b]] + self.always)

    @torch.no_grad()
    def _flush(self, blocks: set[int]) -> None:
        """Paper line 13: apply the momentum tail ``beta1/(1-beta1) * m_hat / (sqrt(v_hat) + eps)`` of leaving modules.

        ``m_hat``, ``v_hat`` are bias-corrected the way torch's AdamW corrects the steps this tail continues (the
        paper's Algorithm 1 corrects neither its steps nor its tail). The raw moments of a fresh state are smaller
        by ``1 - beta^t``, which would make the tail (1 - beta1^t) / sqrt(1 - beta2^t) times too large: 3.2x after
        one step, 4.5x after T = 50."""
        group = self.opt.base.param_groups[0]
        beta1, beta2 = group["betas"]
        for b in blocks:
            for _, p in self.modules[b]:
                state = self.opt.base.state.get(p)
                if state and "exp_avg" in state:
                    t = float(state["step"])
                    v = state["max_exp_avg_sq"] if self.cfg.amsgrad else state["exp_avg_sq"]
                    m_hat = state["exp_avg"] / (1 - beta1**t)
                    v_hat = v / (1 - beta2**t)
                    p.add_(m_hat / (v_hat.sqrt() + group["eps"]), alpha=-group["lr"] * beta1 / (1 - beta1))

    # -- optimizer interface -----------------------------------------------------------------------------------
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = self._evaluate(closure)
        self._sync_hyperparameters()
        for b in self.chosen:
            self.period_sum[b] += self._block_norm(b)
        self.period_steps += 1
        self.opt.step()
        self.steps += 1
        warming = self.cfg.warmup_sweep and bool((self.last_used[self.fits] < 0).any())
        if warming or self.steps % self.cfg.interval == 0:
            self._redraw()
        return loss

    # -- checkpoints -------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """torch's optimizer ``state_dict`` plus a ``"misa"`` entry; tensors and plain Python values only, so
        ``torch.load`` reads it with ``weights_only=True``.

        ``"state"`` is the inner AdamW state of the active modules, keyed by position in ``param_groups[0]``;
        ``"param_groups"`` the hyperparameters (a scheduler's ``initial_lr`` too). ``"misa"``: the config, module
        names and sizes (checked on load), the step counter, the active set, importance EMA, bias-correction
        counts, the open period's norm sums and length, least-recently-used steps, probabilities, the sampling
        RNG's state and the measured state peak. Its arrays are copies; torch's part references the live state
        tensors, as every torch optimizer's does."""
        out = super().state_dict()
        out["misa"] = {
            **self._sampler_entry(modules=[[name for name, _ in block] for block in self.modules],
                                  sizes=[int(n) for n in self.sizes]),
            "importance": torch.tensor(self.importance),
            "counts": torch.tensor(self.counts),
            "period_sum": torch.tensor(self.period_sum),
            "period_steps": self.period_steps,
            "last_used": torch.tensor(self.last_used),
            "probabilities": torch.tensor(self.probabilities),
        }
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a `state_dict` into a Misa built the same way (same config, seed aside, and model layout): the
        next steps then compute exactly what the saved run computed. Load it after creating an LR scheduler
        (as with any torch optimizer), or the scheduler's first step overwrites the loaded lr."""
        saved = self._saved_entry(state_dict)
        names = [[name for name, _ in block] for block in self.modules]
        if [list(block) for block in saved["modules"]] != names or list(saved["sizes"]) != self.sizes.tolist():
            raise ValueError("the checkpoint's modules (names or sizes) differ from this model's")
        b = len(self.modules)
        chosen = [int(i) for i in saved["chosen"]]
        if not chosen or not all(0 <= i < b for i in chosen):
            raise ValueError(f"the checkpoint's active set {chosen} is not a set of module indices below {b}")
        arrays = {}
        for key, dtype in (("importance", np.float64), ("counts", np.float64), ("period_sum", np.float64),
                           ("last_used", np.int64), ("probabilities", np.float64)):
            arrays[key] = np.array(torch.as_tensor(saved[key]).numpy(), dtype=dtype)  # a copy
            if arrays[key].shape != (b,):
                raise ValueError(f"the checkpoint's {key} has shape {arrays[key].shape}, expected ({b},)")
        rng_state = self._rng_state(saved["rng"])

        self._restore(state_dict, saved, [p for i in chosen for _, p in self.modules[i]] + self.always, chosen,
                      rng_state)
        self.period_steps = int(saved["period_steps"])
        for key, value in arrays.items():
            setattr(self, key, value)

    def active_fraction(self) -> float:
        """Trainable share of all parameters in the current period (embeddings and head excluded)."""
        return float(self.sizes[self.chosen].sum()) / self.total_params
