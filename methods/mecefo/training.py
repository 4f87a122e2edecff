"""Data-parallel training of simulated ranks in one process with MeCeFO's neighbour-do-both (Hu et al., arXiv
2510.16415, Algorithm 1).

Each step every healthy rank computes the gradient of its own micro-batch. While a rank is down
(`methods.mecefo.failures`), its neighbour also runs the failed rank's micro-batch, and runs both of its
micro-batches in neighbour mode (`methods.mecefo.neighbour.Techniques`). Aggregation follows the paper: each
parameter's gradient is the mean over the micro-batches that produced one, so attention weights (skipped on the
neighbour) are averaged over the ranks that computed them exactly and everything else over all micro-batches
processed. A failed rank nobody can take over loses its micro-batch for that step (counted). AdamW then steps.
Outages that take every rank down at one step leave nobody to carry a micro-batch: refused before training.

With no failures this is plain data-parallel training: gradients summed in rank order and divided by the number
of ranks. At measured steps the exact data-parallel gradient (every rank's micro-batch, exact) is computed too and
the relative error ||g~ - g|| / ||g|| is recorded (the paper's Assumption 3 check).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from methods.mecefo.failures import Outage, assign_neighbours, failed_per_step, steps_with_every_rank_down
from methods.mecefo.lowrank import LowRankBases
from methods.mecefo.neighbour import EXACT, Techniques, neighbour_loss
from methods.models.gpt import TinyLlama

Batch = tuple[torch.Tensor, torch.Tensor]
Grads = dict[str, torch.Tensor | None]


@dataclass(frozen=True)
class TrainSettings:
    """One run's loop settings.

    Attributes:
        n_ranks: simulated data-parallel ranks.
        steps: optimizer steps.
        techniques: the neighbour's mode.
        everywhere: a mode every rank runs at every step (Figure 3's skip study); None for normal ranks.
        outages: failed ranks and their steps.
        lr, weight_decay: AdamW.
        error_every: measure the gradient error every this many steps that have a failure (0: never).
        eval_every: held-out loss every this many steps (and at the last step).
        record_every: keep a row every this many steps (and at evaluation, error and last steps).
    """

    n_ranks: int
    steps: int
    techniques: Techniques = EXACT
    everywhere: Techniques | None = None
    outages: tuple[Outage, ...] = ()
    lr: float = 3e-3
    weight_decay: float = 0.0
    error_every: int = 1
    eval_every: int = 50
    record_every: int = 10


@dataclass
class TrainResult:
    rows: list[dict[str, Any]]
    info: dict[str, Any] = field(default_factory=dict)


def micro_batch_grads(model: TinyLlama, batch: Batch, tech: Techniques, bases: LowRankBases | None,
                      step: int) -> tuple[float, Grads]:
    """Loss and per-parameter gradient (None where the mode gives none) of one micro-batch."""
    model.zero_grad(set_to_none=True)
    loss = model.loss(*batch) if tech.exact else neighbour_loss(model, *batch, tech, bases, step)
    loss.backward()
    grads = {name: (None if p.grad is None else p.grad.detach().clone()) for name, p in model.named_parameters()}
    return float(loss.detach()), grads


def mean_grads(parts: list[Grads]) -> Grads:
    """Per parameter: the sum (in order) of the gradients present, divided by how many there are."""
    out: Grads = {}
    for name in parts[0]:
        present = [g[name] for g in parts if g[name] is not None]
        if not present:
            out[name] = None
            continue
        total = present[0]
        for g in present[1:]:
            total = total + g
        out[name] = total / len(present)
    return out


def relative_error(approx: Grads, exact: Grads) -> float:
    """||g~ - g|| / ||g|| over all parameters (a missing gradient counts as zero)."""
    diff = sum(float(((approx[n] if approx[n] is not None else 0.0) - g).pow(2).sum())
               for n, g in exact.items() if g is not None)
    norm = sum(float(g.pow(2).sum()) for g in exact.values() if g is not None)
    return (diff / norm) ** 0.5 if norm > 0 else 0.0


def train(model: TinyLlama, batch: Callable[[int, int], Batch], settings: TrainSettings,
          evaluate: Callable[[TinyLlama], float] | None = None,
          on_step: Callable[[int, int], None] | None = None) -> TrainResult:
    """Run the loop; ``batch(rank, step)`` gives a rank's micro-batch, ``evaluate(model)`` the held-out loss,
    ``on_step(steps_done, steps)`` is called after each step (progress). Raises ValueError, before the first
    step, if the outages take every rank down at some step."""
    s = settings
    optimizer = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    tech = s.techniques
    bases = LowRankBases(tech.low_rank, tech.refresh_every) if tech.low_rank else None
    every_bases = (LowRankBases(s.everywhere.low_rank, s.everywhere.refresh_every)
                   if s.everywhere is not None and s.everywhere.low_rank else None)
    rows: list[dict[str, Any]] = []
    dropped = failure_steps = measured = 0
    params = dict(model.named_parameters())
    if all_down := steps_with_every_rank_down(s.outages, s.n_ranks, s.steps):
        raise ValueError(f"the outages take all {s.n_ranks} ranks down at step {all_down[0]}: no rank is left to "
                         "carry the micro-batches")
    failed_sets = failed_per_step(s.outages, s.steps)
    for step in range(s.steps):
        failed = failed_sets[step]
        neighbours, orphans = assign_neighbours(s.n_ranks, failed) if failed else ({}, [])
        carried = {r: [r] for r in range(s.n_ranks) if r not in failed}
        for lost, nb in neighbours.items():
            carried[nb].append(lost)
        parts: list[Grads] = []
        losses: list[float] = []
        for rank in sorted(carried):
            mode, mode_bases = (s.everywhere, every_bases) if s.everywhere is not None else (
                (tech, bases) if len(carried[rank]) > 1 else (EXACT, None))
            for source in carried[rank]:
                loss, grads = micro_batch_grads(model, batch(source, step), mode, mode_bases, step)
                losses.append(loss)
                parts.append(grads)
        agg = mean_grads(parts)
        error = float("nan")
        if failed:
            failure_steps += 1
            if s.error_every and (failure_steps - 1) % s.error_every == 0:
                exact = mean_grads([micro_batch_grads(model, batch(r, step), EXACT, None, step)[1]
                                    for r in range(s.n_ranks)])
                error = relative_error(agg, exact)
                measured += 1
        dropped += len(orphans)
        for name, p in params.items():
            p.grad = agg[name]
        optimizer.step()
        last = step == s.steps - 1
        eval_loss = float("nan")
        if evaluate is not None and (last or step % s.eval_every == 0):
            eval_loss = evaluate(model)
        if last or step % s.record_every == 0 or error == error or eval_loss == eval_loss:
            rows.append({"step": step, "loss": sum(losses) / len(losses), "eval_loss": eval_loss,
                         "n_failed": len(failed), "n_neighbours": len(neighbours), "n_dropped": len(orphans),
                         "grad_rel_error": error})
        if on_step is not None:
            on_step(step + 1, s.steps)
    info = {"failure_steps": failure_steps, "dropped_micro_batches": dropped, "error_measurements": measured,
            "svd_refreshes": (bases.refreshes if bases else 0) + (every_bases.refreshes if every_bases else 0)}
    return TrainResult(rows=rows, info=info)
