"""Pre-training loop of the tiny LLaMA for the Mixture-of-Channels runs (Wu, He, Wang, Yuan, arXiv 2511.09323):
AdamW, linear warm-up then cosine decay, gradient clipping; train loss at every recorded step, held-out loss at
evaluation steps, the wall time of every optimizer step, and the activation memory of one step measured with the
saved-tensor profiler (`methods.memory.profiler`).

The learning-rate schedule follows the GaLore-style LLaMA pre-training the MoC authors' group uses (research card
A3, inferred): warm-up over ``warmup_steps``, cosine to ``min_lr_ratio`` of the peak at the last step.

Example::

    >>> import torch
    >>> from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig
    >>> model = LlamaFamily(LlamaFamilyConfig(d_model=16, d_ff=32, n_heads=2, n_layers=1, vocab_size=11), seed=0)
    >>> data = torch.randint(0, 11, (4, 9), generator=torch.Generator().manual_seed(0))
    >>> batch = lambda step: (data[:, :-1], data[:, 1:])
    >>> result = train(model, batch, lambda m: held_out_loss(m, [batch(0)]), TrainSettings(steps=5, warmup_steps=1))
    >>> [row["step"] for row in result.rows], len(result.step_seconds)
    ([1, 2, 3, 4, 5], 5)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from methods.memory.analytic import grouped
from methods.memory.profiler import profile_step

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class TrainSettings:
    """One run's optimisation and recording settings.

    Attributes:
        steps: optimizer steps.
        lr: peak learning rate (AdamW, betas 0.9 / 0.999).
        warmup_steps: linear warm-up from lr / warmup_steps.
        min_lr_ratio: the cosine ends at this share of ``lr``.
        weight_decay: AdamW's decoupled weight decay.
        grad_clip: gradient-norm clipping (0: off).
        eval_every: held-out loss every this many steps (and at the last step).
        record_every: keep a row every this many steps (and at evaluation steps).
    """

    steps: int
    lr: float = 3e-3
    warmup_steps: int = 0
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    eval_every: int = 50
    record_every: int = 1


def lr_at(step: int, settings: TrainSettings) -> float:
    """Learning rate of optimizer step ``step`` (1-based)."""
    if step <= settings.warmup_steps:
        return settings.lr * step / settings.warmup_steps
    span = max(1, settings.steps - settings.warmup_steps)
    progress = min(1.0, (step - settings.warmup_steps) / span)
    floor = settings.min_lr_ratio
    return settings.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


@dataclass
class TrainResult:
    """Rows ``{step, tokens, lr, loss, eval_loss}`` (eval_loss NaN between evaluations) and each step's seconds."""

    rows: list[dict[str, float]] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)


def train(model: nn.Module, batch: Callable[[int], Batch], evaluate: Callable[[nn.Module], float],
          settings: TrainSettings, on_step: Callable[[int, int], None] | None = None) -> TrainResult:
    """Train ``model`` (with a ``loss(tokens, targets)`` method) on ``batch(step)`` for ``settings.steps`` steps;
    ``on_step(step, steps)`` is called after each step (progress).

    The timed part of a step is forward, backward, clipping and the optimizer update (not data or evaluation).
    """
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, betas=(0.9, 0.999),
                                  weight_decay=settings.weight_decay)
    result = TrainResult()
    tokens = 0
    for step in range(1, settings.steps + 1):
        x, y = batch(step - 1)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, settings)
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = model.loss(x, y)
        loss.backward()
        if settings.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        optimizer.step()
        result.step_seconds.append(time.perf_counter() - start)
        tokens += y.numel()
        evaluating = step % settings.eval_every == 0 or step == settings.steps
        if evaluating or step % settings.record_every == 0:
            eval_loss = evaluate(model) if evaluating else math.nan
            result.rows.append({"step": step, "tokens": tokens, "lr": lr_at(step, settings),
                                "loss": float(loss.detach()), "eval_loss": eval_loss})
        if on_step is not None:
            on_step(step, settings.steps)
    return result


def held_out_loss(model: nn.Module, batches: list[Batch]) -> float:
    """Mean loss over ``batches`` without gradients."""
    with torch.no_grad():
        return sum(float(model.loss(x, y)) for x, y in batches) / len(batches)


def measure_activations(model: nn.Module, x: torch.Tensor, y: torch.Tensor, peak: bool = True) -> dict[str, float]:
    """One forward and backward pass of ``model.loss(x, y)`` under the profiler: bytes kept for backward per token
    (total and by group: attention / FFN / other) and, with ``peak``, the step's CPU allocation peak per token.
    Leaves no gradients behind."""
    profile = profile_step(model, lambda: model.loss(x, y), backward=True, peak=peak)
    model.zero_grad(set_to_none=True)
    n = y.numel()
    groups = grouped(profile.by_module())
    out = {"saved_bytes_per_token": profile.saved_bytes / n}
    if peak:
        out["peak_bytes_per_token"] = (profile.peak_bytes or 0) / n
    out.update({f"saved_{group}_bytes_per_token": value / n for group, value in groups.items()})
    return out
