"""N simulated data-parallel workers in one process: real compression, real training, deterministic.

Every worker holds its own `CompressionPipeline` (compressor + error-feedback memory) and its own data
shard; the model is shared, because every worker applies the same aggregated update and so would hold the
same parameters anyway (DDP guarantees the same; `methods.compress.ddp_hooks` is the multi-process twin and
a test checks the two agree step by step). Per step: each worker computes its gradient on its own batch,
the pipelines aggregate them through a `SimulatedCollective` (the same code the DDP hook runs over gloo or
NCCL), the aggregated direction is written to ``.grad`` and any torch optimizer (SGD, momentum SGD, Adam)
steps. Records are tidy rows, one per step. `SimulatedWorkers.dense_fallbacks()` says which tensors were sent
dense instead of compressed, how often and why.

Record columns: ``step``, ``loss`` (mean of the workers' batch losses before the update), any metrics of
``eval_fn`` (e.g. ``accuracy``), ``payload_bytes_per_worker`` (bytes each worker contributed to collectives
this step), ``ring_sent_bytes_per_worker`` (bytes one worker transmits with ring algorithms),
``n_collectives``, and the cumulative ``cum_payload_bytes_per_worker`` / ``cum_ring_sent_bytes_per_worker``.

Example::

    >>> import torch
    >>> from methods.compress.simulated import SimulatedWorkers, optimize_objective
    >>> targets = [torch.full((8, 6), float(i)) for i in range(4)]       # f_i(x) = 0.5 ||x - t_i||^2
    >>> workers = SimulatedWorkers.build(4, "arc_topk", "ef21", compressor_params={"ratio": 0.5, "rank": 2})
    >>> rows = optimize_objective(torch.zeros(8, 6), lambda i, x, t: x - targets[i], workers,
    ...                           lambda p: torch.optim.SGD(p, lr=0.5), steps=60,
    ...                           metrics_fn=lambda x: {"dist": float((x - 1.5).norm())})
    >>> rows[-1]["dist"] < 1e-6, rows[-1]["payload_bytes_per_worker"]
    (True, 160)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from methods.compress.base import CompressContext, Compressor, CompressResult
from methods.compress.collectives import SimulatedCollective, run_lockstep
from methods.compress.pipeline import CompressionPipeline, aggregate


def compress_once(
    compressors: Sequence[Compressor], tensors: Sequence[torch.Tensor], *, name: str = "x", step: int = 0, seed: int = 0
) -> tuple[list[CompressResult], SimulatedCollective]:
    """One compression call of one tensor on N simulated workers (worker w: ``compressors[w]``, ``tensors[w]``).

    Returns every worker's `CompressResult` and the collective (its ``.calls`` hold what went on the wire).
    Handy for contraction studies and tests; training loops use `SimulatedWorkers`.
    """
    if len(compressors) != len(tensors):
        raise ValueError(f"{len(compressors)} compressors but {len(tensors)} tensors")
    collective = SimulatedCollective(len(tensors))
    ctx = CompressContext(name, step, seed, len(tensors))
    results = run_lockstep([[c.compress(x, ctx)] for c, x in zip(compressors, tensors)], collective)
    return [r[0] for r in results], collective


class SimulatedWorkers:
    """N workers' compression pipelines over one `SimulatedCollective`.

    Args:
        pipelines: one `CompressionPipeline` per worker (separate instances, same seed and settings).
    """

    def __init__(self, pipelines: Sequence[CompressionPipeline]):
        if not pipelines:
            raise ValueError("SimulatedWorkers needs at least one pipeline")
        if len({id(p.compressor) for p in pipelines}) != len(pipelines):
            raise ValueError("every simulated worker needs its own compressor instance (state is per worker)")
        self.pipelines = list(pipelines)
        self.collective = SimulatedCollective(len(pipelines))

    @classmethod
    def build(
        cls,
        n_workers: int,
        compressor: str,
        error_feedback: str | None = None,
        *,
        compressor_params: Mapping[str, Any] | None = None,
        error_feedback_params: Mapping[str, Any] | None = None,
        seed: int = 0,
        start_iter: int = 0,
    ) -> "SimulatedWorkers":
        """N identical pipelines from registry names (see `CompressionPipeline.build`)."""
        if int(n_workers) < 1:
            raise ValueError(f"n_workers: expected an integer >= 1, got {n_workers}")
        return cls(
            [
                CompressionPipeline.build(
                    compressor,
                    error_feedback,
                    compressor_params=compressor_params,
                    error_feedback_params=error_feedback_params,
                    seed=seed,
                    start_iter=start_iter,
                )
                for _ in range(int(n_workers))
            ]
        )

    @property
    def n_workers(self) -> int:
        return len(self.pipelines)

    def step(self, named_grads: Sequence[Mapping[str, torch.Tensor]], step: int) -> tuple[dict[str, torch.Tensor], dict[str, float]]:
        """Aggregate one step: returns (direction by name, communication stats of this step)."""
        first_call = len(self.collective.calls)
        outs = aggregate(self.pipelines, named_grads, step, self.collective)
        calls = self.collective.calls[first_call:]
        stats = {
            "payload_bytes_per_worker": sum(c.size_bytes for c in calls),
            "ring_sent_bytes_per_worker": sum(c.ring_sent_bytes_per_worker for c in calls),
            "n_collectives": len(calls),
        }
        return outs[0], stats

    def dense_fallbacks(self) -> dict[str, dict[str, Any]]:
        """Worker 0's `Compressor.dense_fallbacks()` (every worker sees the same shapes, so all agree)."""
        return self.pipelines[0].compressor.dense_fallbacks()

    def state_dict(self) -> dict[str, Any]:
        return {"pipelines": [p.state_dict() for p in self.pipelines]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if len(state["pipelines"]) != self.n_workers:
            raise ValueError(f"state has {len(state['pipelines'])} workers, this simulation has {self.n_workers}")
        for p, s in zip(self.pipelines, state["pipelines"]):
            p.check_state_dict(s)  # every worker's part first: a refused checkpoint loads into none of them
        for p, s in zip(self.pipelines, state["pipelines"]):
            p.load_state_dict(s)


class _Cumulative:
    def __init__(self) -> None:
        self.payload = 0
        self.ring = 0.0

    def add(self, row: dict[str, Any], stats: Mapping[str, float]) -> None:
        self.payload += int(stats["payload_bytes_per_worker"])
        self.ring += float(stats["ring_sent_bytes_per_worker"])
        row.update(stats)
        row["cum_payload_bytes_per_worker"] = self.payload
        row["cum_ring_sent_bytes_per_worker"] = self.ring


def worker_gradients(
    model: nn.Module, loss_fn: Callable[[nn.Module, Any], torch.Tensor], batches: Sequence[Any]
) -> tuple[list[dict[str, torch.Tensor]], list[float]]:
    """Each worker's gradient (by parameter name) and loss on its own batch, at the current parameters."""
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    grads, losses = [], []
    for batch in batches:
        for _, p in params:
            p.grad = None
        loss = loss_fn(model, batch)
        loss.backward()
        grads.append({n: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)) for n, p in params})
        losses.append(float(loss.detach()))
    return grads, losses


def train_simulated(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, Any], torch.Tensor],
    worker_batch: Callable[[int, int], Any],
    workers: SimulatedWorkers,
    optimizer: torch.optim.Optimizer,
    steps: int,
    *,
    eval_fn: Callable[[nn.Module], Mapping[str, float]] | None = None,
    eval_every: int = 0,
    on_step: Callable[[int, nn.Module], None] | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Train ``model`` with N simulated workers; returns one record per step.

    Args:
        model: the (shared) model; parameters must be identical to what every worker would hold.
        loss_fn: ``(model, batch) -> scalar loss`` (mean over the batch).
        worker_batch: ``(worker, step) -> batch``: worker w's batch at ``step`` from its own shard.
        workers: the `SimulatedWorkers` (N pipelines).
        optimizer: any torch optimizer over ``model``'s parameters; it consumes the aggregated direction.
        steps: optimizer steps.
        eval_fn: ``model -> {"accuracy": ...}`` evaluated every ``eval_every`` steps and after the last step.
        on_step: called as ``on_step(step, model)`` after each update (e.g. to snapshot parameters).
        progress: show a tqdm bar.
    """
    if int(steps) < 0:
        raise ValueError(f"steps: expected >= 0, got {steps}")
    params = dict((n, p) for n, p in model.named_parameters() if p.requires_grad)
    rows: list[dict[str, Any]] = []
    cum = _Cumulative()
    iterator: Any = range(int(steps))
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc="simulated training", unit="step")
    for t in iterator:
        grads, losses = worker_gradients(model, loss_fn, [worker_batch(w, t) for w in range(workers.n_workers)])
        direction, stats = workers.step(grads, t)
        for name, p in params.items():
            p.grad = direction[name].to(p.dtype)
        optimizer.step()
        row: dict[str, Any] = {"step": t, "loss": sum(losses) / len(losses)}
        cum.add(row, stats)
        if eval_fn is not None and ((eval_every and (t + 1) % eval_every == 0) or t == steps - 1):
            with torch.no_grad():
                row.update(eval_fn(model))
        if on_step is not None:
            on_step(t, model)
        rows.append(row)
    return rows


def optimize_objective(
    x0: torch.Tensor,
    grad_fn: Callable[[int, torch.Tensor, int], torch.Tensor],
    workers: SimulatedWorkers,
    make_optimizer: Callable[[list[torch.Tensor]], torch.optim.Optimizer],
    steps: int,
    *,
    metrics_fn: Callable[[torch.Tensor], Mapping[str, float]] | None = None,
    name: str = "x",
) -> list[dict[str, Any]]:
    """Minimise a synthetic objective given per-worker gradient oracles (no nn.Module).

    Args:
        x0: starting point (its shape is the matrix view the compressors see, e.g. [blocks, block_size]).
        grad_fn: ``(worker, x, step) -> gradient of f_worker at x`` (may add seeded noise).
        workers: the `SimulatedWorkers`.
        make_optimizer: ``[param] -> optimizer`` (e.g. ``lambda p: torch.optim.SGD(p, lr=1e-3)``).
        steps: iterations.
        metrics_fn: ``x -> {"loss": ..., "dist": ...}`` evaluated after every step.
        name: the tensor's name (it seeds the shared randomness).
    """
    x = torch.nn.Parameter(x0.detach().clone())
    opt = make_optimizer([x])
    rows: list[dict[str, Any]] = []
    cum = _Cumulative()
    for t in range(int(steps)):
        with torch.no_grad():
            grads = [{name: grad_fn(w, x.detach(), t)} for w in range(workers.n_workers)]
        direction, stats = workers.step(grads, t)
        x.grad = direction[name].to(x.dtype)
        opt.step()
        row: dict[str, Any] = {"step": t}
        cum.add(row, stats)
        if metrics_fn is not None:
            with torch.no_grad():
                row.update(metrics_fn(x.detach()))
        rows.append(row)
    return rows
