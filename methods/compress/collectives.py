"""Drive compression sessions in lock step over a collective: in-process simulated workers or torch.distributed.

A *session* is the generator a compressor (or an error-feedback wrapper around it) returns for one tensor on
one worker (see `methods.compress.base`). `run_lockstep(sessions, collective)` runs every session of every
local worker phase by phase. In each phase it batches the pending requests of all tensors into as few
collectives as possible: one all-reduce per dtype (concatenated flat buffers) and one all-gather (payloads of
any dtype packed as raw bytes, so values and int32 indices travel in one message). Zero-size buffers are never
sent (gloo rejects empty all-reduces, pytorch issue 58467).

Two collectives share one interface, ``all_reduce_mean(bufs)`` / ``all_gather(bufs)``, where ``bufs`` holds one
flat buffer per *local* worker:
- `SimulatedCollective(n_workers)`: all N workers live in this process (``len(bufs) == N``); the mean is
  ``sum / N`` in rank order, so with 2 workers it is bit-identical to gloo's all-reduce followed by ``/ 2``.
- `TorchDistCollective(group)`: this process is one worker (``len(bufs) == 1``); gloo on CPU, NCCL on GPU.
Both record every call as a `CollectiveCall` in ``.calls`` (op, bytes contributed per worker, N).

Example::

    >>> import torch
    >>> from methods.compress import make_compressor, CompressContext, SimulatedCollective, run_lockstep
    >>> topk = [make_compressor("topk", ratio=0.5) for _ in range(2)]
    >>> xs = [torch.tensor([1.0, -3.0, 0.5, 2.0]), torch.tensor([0.0, 1.0, -4.0, 0.1])]
    >>> sessions = [[c.compress(x, CompressContext("w", step=0, n_workers=2))] for c, x in zip(topk, xs)]
    >>> out = run_lockstep(sessions, SimulatedCollective(2))
    >>> out[0][0].aggregate.tolist()
    [0.0, -1.0, -2.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

import torch

from methods.compress.base import CollectiveCall, PayloadSpec, Request, bytes_as


# ------------------------------------------------------------------------------------------- collectives
class SimulatedCollective:
    """N workers in one process: ``bufs`` has one buffer per worker, results come back per worker."""

    def __init__(self, n_workers: int):
        if int(n_workers) < 1:
            raise ValueError(f"n_workers: expected an integer >= 1, got {n_workers}")
        self.n_workers = int(n_workers)
        self.local_workers = self.n_workers
        self.calls: list[CollectiveCall] = []

    def _check(self, bufs: Sequence[torch.Tensor]) -> None:
        if len(bufs) != self.n_workers:
            raise ValueError(f"expected one buffer per worker ({self.n_workers}), got {len(bufs)}")
        first = bufs[0]
        for i, b in enumerate(bufs):
            if b.shape != first.shape or b.dtype != first.dtype:
                raise ValueError(
                    f"worker {i} sent {tuple(b.shape)} {b.dtype}, worker 0 sent {tuple(first.shape)} {first.dtype}:"
                    " every worker must issue the same collective"
                )

    def all_reduce_mean(self, bufs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        self._check(bufs)
        self.calls.append(CollectiveCall("all_reduce", bufs[0].numel() * bufs[0].element_size(), self.n_workers))
        total = bufs[0].clone()
        for b in bufs[1:]:
            total = total + b
        mean = total / self.n_workers
        return [mean.clone() for _ in bufs]

    def all_gather(self, bufs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        self._check(bufs)
        self.calls.append(CollectiveCall("all_gather", bufs[0].numel() * bufs[0].element_size(), self.n_workers))
        stacked = torch.stack([b.reshape(-1) for b in bufs])
        return [stacked.clone() for _ in bufs]


class TorchDistCollective:
    """This process is one worker of a `torch.distributed` process group (``bufs`` has length 1)."""

    def __init__(self, group: Any = None):
        import torch.distributed as dist

        if not dist.is_available() or not dist.is_initialized():
            raise RuntimeError("TorchDistCollective needs an initialised torch.distributed process group")
        self._dist = dist
        self.group = group
        self.n_workers = dist.get_world_size(group)
        self.local_workers = 1
        self.calls: list[CollectiveCall] = []

    def all_reduce_mean(self, bufs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        if len(bufs) != 1:
            raise ValueError(f"TorchDistCollective drives one local worker, got {len(bufs)} buffers")
        buf = bufs[0].contiguous().clone()
        self.calls.append(CollectiveCall("all_reduce", buf.numel() * buf.element_size(), self.n_workers))
        self._dist.all_reduce(buf, group=self.group)
        buf.div_(self.n_workers)
        return [buf]

    def all_gather(self, bufs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        if len(bufs) != 1:
            raise ValueError(f"TorchDistCollective drives one local worker, got {len(bufs)} buffers")
        buf = bufs[0].reshape(-1).contiguous()
        self.calls.append(CollectiveCall("all_gather", buf.numel() * buf.element_size(), self.n_workers))
        parts = [torch.empty_like(buf) for _ in range(self.n_workers)]
        self._dist.all_gather(parts, buf, group=self.group)
        return [torch.stack(parts)]


# ----------------------------------------------------------------------------------------- phase batching
def batch_phase(specs: Sequence[PayloadSpec]) -> list[tuple[str, torch.dtype | None, list[int]]]:
    """How one phase's requests are batched: ``(op, dtype or None for raw bytes, request positions)``.

    One all-reduce per dtype (dtypes in order of first appearance) and one all-gather for everything gathered
    (raw bytes). Requests with zero elements still get a slot but add nothing to the wire.
    """
    groups: list[tuple[str, torch.dtype | None, list[int]]] = []
    reduce_at: dict[torch.dtype, int] = {}
    gather_at: int | None = None
    for pos, spec in enumerate(specs):
        if spec.op == "all_reduce":
            if spec.dtype not in reduce_at:
                reduce_at[spec.dtype] = len(groups)
                groups.append(("all_reduce", spec.dtype, []))
            groups[reduce_at[spec.dtype]][2].append(pos)
        else:
            if gather_at is None:
                gather_at = len(groups)
                groups.append(("all_gather", None, []))
            groups[gather_at][2].append(pos)
    return groups


def plan_phases(phases: Sequence[Sequence[PayloadSpec]], n_workers: int) -> list[CollectiveCall]:
    """The collectives `run_lockstep` issues for sessions whose per-phase payloads are ``phases[t][j]``.

    ``phases`` is indexed by tensor, then phase. This is the bucket-level `comm_plan`: zero-byte groups are
    skipped exactly as the driver skips them.
    """
    calls: list[CollectiveCall] = []
    n_phases = max((len(p) for p in phases), default=0)
    for ph in range(n_phases):
        specs = [p[ph] for p in phases if ph < len(p)]
        for op, _dtype, members in batch_phase(specs):
            size = sum(specs[j].size_bytes for j in members)
            if size > 0:
                calls.append(CollectiveCall(op, size, n_workers))  # type: ignore[arg-type]
    return calls


# --------------------------------------------------------------------------------------------- the driver
def run_lockstep(sessions: Sequence[Sequence[Generator[Request, torch.Tensor, Any]]], collective: Any) -> list[list[Any]]:
    """Run ``sessions[w][t]`` (local worker w, tensor t) to completion; return their results, same layout.

    Every local worker must hold sessions for the same tensors in the same order, and every worker's session
    for tensor t must issue requests of the same op, shape and dtype (the simulated collective checks this).
    """
    n_local = len(sessions)
    if n_local != collective.local_workers:
        raise ValueError(f"collective expects {collective.local_workers} local workers, got {n_local}")
    n_tensors = len(sessions[0]) if n_local else 0
    if any(len(s) != n_tensors for s in sessions):
        raise ValueError("every local worker must hold the same number of sessions")
    results: list[list[Any]] = [[None] * n_tensors for _ in range(n_local)]
    pending: list[list[Request | None]] = [[None] * n_tensors for _ in range(n_local)]
    for w in range(n_local):
        for t in range(n_tensors):
            pending[w][t] = _advance(sessions[w][t], None, results[w], t)

    while True:
        active = [t for t in range(n_tensors) if pending[0][t] is not None]
        if not active:
            break
        specs = [_spec(pending[0][t]) for t in active]
        for w in range(1, n_local):
            if [t for t in range(n_tensors) if pending[w][t] is not None] != active or [
                _spec(pending[w][t]) for t in active
            ] != specs:
                raise ValueError(f"worker {w} is in a different phase than worker 0 (different requests)")
        replies: list[list[torch.Tensor | None]] = [[None] * n_tensors for _ in range(n_local)]
        for op, dtype, members in batch_phase(specs):
            tensors = [active[j] for j in members]
            if op == "all_reduce":
                _reduce_group(tensors, pending, replies, collective)
            else:
                _gather_group(tensors, pending, replies, collective)
        for w in range(n_local):
            for t in active:
                pending[w][t] = _advance(sessions[w][t], replies[w][t], results[w], t)
    return results


def _spec(req: Request) -> PayloadSpec:
    return PayloadSpec(req.op, req.tensor.numel(), req.tensor.dtype)


def _advance(gen: Generator, value: torch.Tensor | None, out: list[Any], t: int) -> Request | None:
    try:
        req = next(gen) if value is None else gen.send(value)
    except StopIteration as stop:
        out[t] = stop.value
        return None
    if not isinstance(req, Request):
        raise TypeError(f"a compression session yielded {type(req).__name__}, expected Request")
    return req


def _reduce_group(tensors: list[int], pending, replies, collective) -> None:
    n_local = len(pending)
    shapes = [pending[0][t].tensor.shape for t in tensors]
    numels = [pending[0][t].tensor.numel() for t in tensors]
    if sum(numels) == 0:
        for w in range(n_local):
            for t, shape in zip(tensors, shapes):
                replies[w][t] = torch.zeros(shape, dtype=pending[w][t].tensor.dtype, device=pending[w][t].tensor.device)
        return
    bufs = [torch.cat([pending[w][t].tensor.reshape(-1) for t in tensors]) for w in range(n_local)]
    outs = collective.all_reduce_mean(bufs)
    for w in range(n_local):
        for t, piece, shape in zip(tensors, torch.split(outs[w], numels), shapes):
            replies[w][t] = piece.reshape(shape)


def _gather_group(tensors: list[int], pending, replies, collective) -> None:
    n_local = len(pending)
    n_workers = collective.n_workers
    reqs0 = [pending[0][t].tensor for t in tensors]
    nbytes = [x.numel() * x.element_size() for x in reqs0]
    if sum(nbytes) == 0:
        for w in range(n_local):
            for t in tensors:
                x = pending[w][t].tensor
                replies[w][t] = torch.zeros((n_workers, *x.shape), dtype=x.dtype, device=x.device)
        return
    bufs = [
        torch.cat([pending[w][t].tensor.contiguous().reshape(-1).view(torch.uint8) for t in tensors])
        for w in range(n_local)
    ]
    outs = collective.all_gather(bufs)
    for w in range(n_local):
        gathered = outs[w].reshape(n_workers, -1)
        offset = 0
        for t, nb in zip(tensors, nbytes):
            x = pending[w][t].tensor
            raw = gathered[:, offset : offset + nb]
            replies[w][t] = bytes_as(raw, x.dtype).reshape((n_workers, *x.shape))
            offset += nb
