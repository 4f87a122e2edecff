"""Measured cost of the MeCeFO neighbour (Hu et al., arXiv 2510.16415, Table 6's ablation) on this machine.

A normal rank runs one micro-batch exactly; the neighbour runs two (its own and the failed rank's) as one doubled
batch, naively (all exact: "neighbour-do-both") or with techniques I-III (`methods.mecefo.neighbour`).
Memory: the bytes autograd keeps for backward, counted in ``torch.autograd.graph.saved_tensors_hooks`` (each
storage once, parameters excluded), plus the model states (weights, gradients and AdamW's two moments: 4x the
parameter bytes). Time: median of ``repeats`` forward+backward passes timed with ``time.perf_counter``,
normal and neighbour passes alternating.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from methods.mecefo.lowrank import LowRankBases
from methods.mecefo.neighbour import Techniques, neighbour_loss
from methods.models.gpt import TinyLlama

Batch = tuple[torch.Tensor, torch.Tensor]


def saved_bytes(model: torch.nn.Module, forward: Callable[[], torch.Tensor]) -> tuple[int, torch.Tensor]:
    """Bytes of the distinct non-parameter storages autograd saves while ``forward()`` builds its graph."""
    skip = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in skip:
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = forward()
    return sum(seen.values()), loss


def state_bytes(model: torch.nn.Module) -> int:
    """Weights, gradients and AdamW's two moments."""
    return 4 * sum(p.numel() * p.element_size() for p in model.parameters())


def _pass(model: TinyLlama, batch: Batch, tech: Techniques, bases: LowRankBases | None) -> Callable[[], torch.Tensor]:
    if tech.exact:
        return lambda: model.loss(*batch)
    return lambda: neighbour_loss(model, *batch, tech, bases, 0)


def _timed(model: TinyLlama, run: Callable[[], torch.Tensor]) -> float:
    model.zero_grad(set_to_none=True)
    start = time.perf_counter()
    run().backward()
    return time.perf_counter() - start


def neighbour_cost(model: TinyLlama, own: Batch, failed: Batch, tech: Techniques, repeats: int) -> dict[str, float]:
    """The neighbour's pass over both micro-batches in mode ``tech`` against a normal rank's pass over one:
    memory (states + saved activations), time (passes alternate, so a changing load on the machine hits both
    alike), and their ratios."""
    bases = LowRankBases(tech.low_rank, tech.refresh_every) if tech.low_rank else None
    doubled = (torch.cat([own[0], failed[0]]), torch.cat([own[1], failed[1]]))
    runs = {"normal": _pass(model, own, Techniques(), None), "neighbour": _pass(model, doubled, tech, bases)}
    saved: dict[str, float] = {}
    for name, run in runs.items():
        activations, loss = saved_bytes(model, run)
        saved[name] = float(activations)
        model.zero_grad(set_to_none=True)
        loss.backward()  # also the warm-up pass (and the first SVD of the bases)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(max(1, int(repeats))):
        for name, run in runs.items():
            times[name].append(_timed(model, run))
    step = {name: statistics.median(values) for name, values in times.items()}
    states = float(state_bytes(model))
    normal_mem, neighbour_mem = states + saved["normal"], states + saved["neighbour"]
    return {"state_bytes": states,
            "normal_activation_bytes": saved["normal"], "normal_memory_bytes": normal_mem,
            "neighbour_activation_bytes": saved["neighbour"], "neighbour_memory_bytes": neighbour_mem,
            "memory_ratio": neighbour_mem / normal_mem,
            "normal_step_s": step["normal"], "neighbour_step_s": step["neighbour"],
            "time_ratio": step["neighbour"] / step["normal"]}
