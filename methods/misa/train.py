"""Training loops for the MISA reductions (arXiv 2511.00056): pre-training a tiny LLaMA on corpus A (committed),
fine-tuning it with one of MISA's methods on synthetic tasks, and pre-training from scratch per method.

- `pretrained_base`: a `LlamaFamily` pre-trained with AdamW on `methods.data.tasks_finetune.pretraining_text`:
  the committed weights in ``results/misa_base/`` when they match the settings (`methods.misa.base_store`), else
  ``~/.cache/effml_harness/misa_base/base-<hash of the settings>.pt``, else trained and written there (atomic
  write; the same settings always give the same weights).
- `finetune`: any `methods.misa.baselines` method on a task mixture; records eval loss, per-task exact match,
  cumulative training wall-clock (evaluation excluded), optimizer-state bytes measured in the optimizer's state,
  and optionally the mean gradient norm of every weight matrix (the paper's Figure 1).
- `lora_rank_for_budget`: the largest LoRA rank whose adapters stay within ``delta`` of the model's parameters
  (matched trainable budget; at least 1).

Example::

    >>> from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig
    >>> model = LlamaFamily(LlamaFamilyConfig(d_model=32, d_ff=64, n_heads=2, n_layers=4, vocab_size=46), seed=0)
    >>> lora_rank_for_budget(model, 0.05)
    1
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from kernels.files import write_atomic
from methods.data import tasks_finetune as tf
from methods.misa.baselines import Finetuner
from methods.misa.misa import LAYER
from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig
from methods.perplexity import perplexity

CACHE_VERSION = 1  # bump when the pre-training loop changes what it produces


def default_cache_dir() -> Path:
    """``$HARNESS_MISA_MODELS``, else ``~/.cache/effml_harness/misa_base``."""
    return Path(os.environ.get("HARNESS_MISA_MODELS", Path.home() / ".cache" / "effml_harness" / "misa_base"))


@dataclass(frozen=True)
class PretrainSettings:
    steps: int = 300
    batch_size: int = 16
    lr: float = 3e-3
    n_items: int = 4000
    seed: int = 0


def model_config(d_model: int, d_ff: int, n_heads: int, n_layers: int, seq_len: int) -> LlamaFamilyConfig:
    return LlamaFamilyConfig(d_model=d_model, d_ff=d_ff, n_heads=n_heads, n_layers=n_layers,
                             vocab_size=len(tf.VOCAB), max_seq_len=seq_len)


class CorpusTooShort(ValueError):
    """Corpus A of ``n_items`` items holds no sequence of ``seq_len + 1`` characters."""

    def __init__(self, n_items: int, seq_len: int):
        super().__init__(f"corpus A of {n_items} items is shorter than seq_len + 1 = {seq_len + 1}")


def corpus_batches(n_items: int, seed: int, seq_len: int, batch_size: int) -> Callable[[int], tuple[torch.Tensor, ...]]:
    """``batch(step) -> (inputs, targets)``: random windows of corpus A (seeded per step)."""
    ids = torch.tensor(tf.encode(tf.pretraining_text(n_items, seed)), dtype=torch.int64)
    if len(ids) <= seq_len + 1:
        raise CorpusTooShort(n_items, seq_len)

    def batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        starts = np.random.default_rng([seed, step, 0xB47]).integers(0, len(ids) - seq_len - 1, size=batch_size)
        return (torch.stack([ids[s : s + seq_len] for s in starts]),
                torch.stack([ids[s + 1 : s + 1 + seq_len] for s in starts]))

    return batch


def corpus_eval_loss(model: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    with torch.no_grad():
        return float(np.mean([float(model.loss(x, y)) for x, y in batches]))


def pretrained_base(cfg: LlamaFamilyConfig, settings: PretrainSettings, cache_dir: Path | None = None,
                    store: Path | None = None,
                    on_step: Callable[[int, int], None] | None = None) -> tuple[LlamaFamily, dict[str, Any]]:
    """The pre-trained base model (AdamW on corpus A) and its info (``held_out_loss``, ``cached``, ``source``).

    Taken from the committed weights in ``store`` (``results/misa_base/``, `methods.misa.base_store`) when their
    key and sha256 match, else from the cache, else trained here and cached (``on_step(steps_done, steps)`` after
    each training step: progress)."""
    from methods.misa import base_store

    key = base_store.base_key(cfg, settings, CACHE_VERSION)
    model = LlamaFamily(cfg, seed=settings.seed)
    saved, _ = base_store.load_committed(key, base_store.STORE if store is None else store)
    if saved is not None:
        model.load_state_dict(saved["state"])
        return model, {**saved["info"], "cached": True, "source": "committed"}
    path = (cache_dir or default_cache_dir()) / base_store.weights_name(key)
    if path.exists():
        saved = torch.load(path, weights_only=True)
        model.load_state_dict(saved["state"])
        return model, {**saved["info"], "cached": True, "source": "cache"}
    start = time.perf_counter()
    batch = corpus_batches(settings.n_items, settings.seed, cfg.max_seq_len, settings.batch_size)
    held_out = corpus_batches(settings.n_items // 4, settings.seed + 1, cfg.max_seq_len, settings.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.0)
    for step in range(settings.steps):
        x, y = batch(step)
        model.loss(x, y).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if on_step is not None:
            on_step(step + 1, settings.steps)
    info = {"held_out_loss": corpus_eval_loss(model, [held_out(i) for i in range(4)]), "steps": settings.steps,
            "train_seconds": time.perf_counter() - start}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda tmp: torch.save({"state": model.state_dict(), "info": info}, tmp))
    return model, {**info, "cached": False, "source": "trained"}


def lora_rank_for_budget(model: nn.Module, delta: float) -> int:
    """Largest r with r * sum(d_in + d_out) over the layers' linears <= delta * parameters (at least 1)."""
    per_rank = sum(m.in_features + m.out_features for n, m in model.named_modules()
                   if isinstance(m, nn.Linear) and LAYER.search(n + "."))
    total = sum(p.numel() for p in model.parameters())
    return max(1, int(delta * total // per_rank))


def peak_state_bytes(ft: Finetuner) -> int:
    """State bytes now, or right after the last step for MISA / LISA (whose redraw after a step frees state)."""
    return max(ft.state_bytes(), getattr(getattr(ft.optimizer, "opt", None), "peak_state_bytes", 0))


def weight_matrices(model: nn.Module) -> dict[str, nn.Parameter]:
    """The layers' weight matrices by name (MISA's modules)."""
    return {n: p for n, p in model.named_parameters() if LAYER.search(n) and p.ndim == 2}


@dataclass
class FinetuneSettings:
    tasks: tuple[str, ...]
    steps: int
    batch_size: int
    seq_len: int
    digits: int = 2
    eval_every: int = 25
    eval_examples: int = 64
    seed: int = 0
    grad_norms: bool = False


@dataclass
class FinetuneResult:
    rows: list[dict[str, Any]]
    info: dict[str, Any] = field(default_factory=dict)


def eval_sets(tasks: tuple[str, ...], n: int, seq_len: int, digits: int, seed: int) -> dict[str, tf.TaskBatch]:
    """A fixed held-out set of ``n`` examples per task (its own seed stream)."""
    rng = np.random.default_rng([seed, 0xE7A1])
    return {t: tf.encode_examples([tf.make_example(t, rng, digits) for _ in range(n)], seq_len) for t in tasks}


def evaluate(model: nn.Module, sets: dict[str, tf.TaskBatch]) -> dict[str, float]:
    """``eval_loss`` (mean masked loss over all tasks' sets) and ``acc_<task>`` (exact match)."""
    out: dict[str, float] = {}
    losses = []
    with torch.no_grad():
        for task, batch in sets.items():
            logits = model(batch.tokens)
            losses.append(float(tf.masked_loss(logits, batch)))
            out[f"acc_{task}"] = float(tf.exact_match(logits, batch).mean())
    out["eval_loss"] = float(np.mean(losses))
    return out


def finetune(ft: Finetuner, settings: FinetuneSettings,
             on_step: Callable[[int, int], None] | None = None) -> FinetuneResult:
    """Fine-tune ``ft.model`` for ``settings.steps`` steps on a uniform mixture of ``settings.tasks``;
    ``on_step(step, steps)`` is called after each step (progress)."""
    model = ft.model
    rng = np.random.default_rng([settings.seed, 0xF17E])
    sets = eval_sets(settings.tasks, settings.eval_examples, settings.seq_len, settings.digits, settings.seed)
    matrices = weight_matrices(model)
    norm_sums = dict.fromkeys(matrices, 0.0)
    peak_state = peak_master = 0
    rows = [{"step": 0, "wall_s": 0.0, "train_loss": math.nan, **evaluate(model, sets),
             "optimizer_state_bytes": 0, "trainable_params": ft.trainable_params()}]
    wall, losses = 0.0, []
    for step in range(1, settings.steps + 1):
        batch = tf.sample_batch(settings.tasks, settings.batch_size, settings.seq_len, rng, settings.digits)
        start = time.perf_counter()
        loss = tf.masked_loss(model(batch.tokens), batch)
        loss.backward()
        trainable = ft.trainable_params()
        if settings.grad_norms:
            for name, p in matrices.items():
                if p.grad is not None:
                    norm_sums[name] += float(p.grad.detach().norm())
        ft.optimizer.step()
        peak_state = max(peak_state, peak_state_bytes(ft))
        peak_master = max(peak_master, ft.master_bytes())
        ft.optimizer.zero_grad(set_to_none=True)
        wall += time.perf_counter() - start
        losses.append(loss.item())
        if step % settings.eval_every == 0 or step == settings.steps:
            rows.append({"step": step, "wall_s": wall, "train_loss": float(np.mean(losses)), **evaluate(model, sets),
                         "optimizer_state_bytes": ft.state_bytes(), "trainable_params": trainable})
            losses = []
        if on_step is not None:
            on_step(step, settings.steps)
    info: dict[str, Any] = {"peak_optimizer_state_bytes": peak_state, "peak_master_bytes": peak_master,
                            "parameters": sum(p.numel() for p in model.parameters())}
    if settings.grad_norms:
        info["grad_norms"] = [{"module": name, "numel": matrices[name].numel(),
                               "grad_norm": norm_sums[name] / settings.steps} for name in matrices]
    return FinetuneResult(rows, info)


def step_peak_bytes(ft: Finetuner, loss_fn: Callable[[], torch.Tensor]) -> dict[str, int]:
    """Bytes autograd saved for backward and the allocator peak of one forward + backward (CPU profiler)."""
    from methods.memory.profiler import profile_step

    prof = profile_step(ft.model, loss_fn)
    ft.optimizer.zero_grad(set_to_none=True)
    return {"saved_activation_bytes": prof.saved_bytes, "step_peak_bytes": int(prof.peak_bytes or 0)}


def pretrain(ft: Finetuner, batch: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
             held_out: list[tuple[torch.Tensor, torch.Tensor]], steps: int, eval_every: int,
             on_step: Callable[[int, int], None] | None = None) -> FinetuneResult:
    """Train ``ft.model`` from scratch on corpus A; rows with ``eval_loss`` and ``perplexity`` = exp(eval loss);
    ``on_step(step, steps)`` is called after each step (progress)."""
    model = ft.model
    rows, wall, losses, peak_state = [], 0.0, [], 0
    for step in range(1, steps + 1):
        x, y = batch(step)
        start = time.perf_counter()
        loss = model.loss(x, y)
        loss.backward()
        ft.optimizer.step()
        peak_state = max(peak_state, peak_state_bytes(ft))
        ft.optimizer.zero_grad(set_to_none=True)
        wall += time.perf_counter() - start
        losses.append(loss.item())
        if step % eval_every == 0 or step == steps:
            ev = corpus_eval_loss(model, held_out)
            rows.append({"step": step, "wall_s": wall, "train_loss": float(np.mean(losses)), "eval_loss": ev,
                         "perplexity": perplexity(ev), "optimizer_state_bytes": ft.state_bytes()})
            losses = []
        if on_step is not None:
            on_step(step, steps)
    return FinetuneResult(rows, {"peak_optimizer_state_bytes": peak_state,
                                 "parameters": sum(p.numel() for p in model.parameters())})
