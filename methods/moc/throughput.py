"""Training throughput of the tiny LLaMA with dense or Mixture-of-Channels FFNs, with and without gradient
checkpointing, measured side by side on this CPU (MoC, Wu, He, Wang, Yuan, arXiv 2511.09323: the training
throughput table, whose gains the paper attributes to its GPU kernels).

Every variant is a copy of one seeded model (same weights) with its own AdamW; each round runs one full training
step (forward, backward, update) of every variant on the same batch, in the same order (`methods.moc.timing`).
The activation memory of each variant is measured once with the saved-tensor profiler
(`methods.moc.training.measure_activations`).

Example::

    >>> import torch
    >>> from methods.models.llama_family import LlamaFamilyConfig
    >>> cfg = LlamaFamilyConfig(d_model=16, d_ff=32, n_heads=2, n_layers=1, vocab_size=11)
    >>> rows = measure_throughput(cfg, k=4, batch_size=2, seq_len=8, rounds=2, warmup=1, seed=0)
    >>> [row["variant"] for row in rows]
    ['dense', 'moc', 'dense+ckpt', 'moc+ckpt']
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch

from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig
from methods.moc.timing import summary, time_interleaved
from methods.moc.training import measure_activations

#: (name, ffn, checkpointing) of the measured variants, in round order
VARIANTS: tuple[tuple[str, str, str], ...] = (
    ("dense", "dense", "none"), ("moc", "moc", "none"), ("dense+ckpt", "dense", "block"), ("moc+ckpt", "moc", "block"))


def _step(model: LlamaFamily, x: torch.Tensor, y: torch.Tensor) -> Callable[[int], None]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def run(_: int) -> None:
        optimizer.zero_grad(set_to_none=True)
        model.loss(x, y).backward()
        optimizer.step()

    return run


def measure_throughput(cfg: LlamaFamilyConfig, k: int, batch_size: int, seq_len: int, rounds: int, warmup: int,
                       seed: int, checkpointing: str = "block") -> list[dict[str, float | int | str]]:
    """One row per variant: ``variant``, ``ffn``, ``checkpointing``, step time statistics (ms), ``tokens_per_s``
    (from the median), ``n_reps`` and the measured activation bytes per token (`measure_activations`)."""
    gen = torch.Generator().manual_seed(int(seed))
    data = torch.randint(0, cfg.vocab_size, (batch_size, seq_len + 1), generator=gen)
    x, y = data[:, :-1].contiguous(), data[:, 1:].contiguous()  # own storage: the saved ids are x's, not data's
    models, calls = {}, {}
    for name, ffn, ckpt in VARIANTS:
        ckpt = checkpointing if ckpt != "none" else "none"
        variant = dataclasses.replace(cfg, ffn=ffn, moc_k=k if ffn == "moc" else None, checkpointing=ckpt,
                                      max_seq_len=max(cfg.max_seq_len, seq_len))
        models[name] = LlamaFamily(variant, seed=int(seed))
        calls[name] = _step(models[name], x, y)
    times = time_interleaved(calls, rounds, warmup)
    rows: list[dict[str, float | int | str]] = []
    for name, ffn, ckpt in VARIANTS:
        stats = summary(times[name])
        rows.append({"variant": name, "ffn": ffn, "checkpointing": checkpointing if ckpt != "none" else "none",
                     "k": k if ffn == "moc" else cfg.d_ff, **stats, "n_reps": rounds,
                     "tokens_per_s": y.numel() / (stats["time_ms_median"] / 1000),
                     **measure_activations(models[name], x, y)})
    return rows
