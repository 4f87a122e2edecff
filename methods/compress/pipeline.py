"""One worker's gradient-compression pipeline: compressor + error feedback + dense warm-up, over named tensors.

`CompressionPipeline` is what both runners hold per worker: `methods.compress.simulated` keeps N of them (one
per simulated worker) and drives them with a `SimulatedCollective`; `methods.compress.ddp_hooks` keeps one per
process and drives it with a `TorchDistCollective`. Same code, same seeds, same numbers.

Iteration ``step`` counts every optimizer step from 0, warm-up included (it seeds the shared randomness).
Steps ``< start_iter`` are dense All-Reduces that touch no compressor or error-feedback state (the papers
start compressing after a dense warm-up; DDP also rebuilds its buckets after iteration 1).

``dense_parameters`` are fnmatch patterns on tensor names (case-sensitive); a tensor whose name, or any tail of
it after a dot, matches one is always sent with one dense all-reduce, touches no compressor or error-feedback
state, and its bytes count as dense. The ARC-Top-K and GreedyLore authors' hooks keep the input embedding and
the LM head dense this way (``["embed_tokens*", "lm_head*"]`` matches ``embed_tokens.weight`` and
``model.embed_tokens.weight`` alike).

Example::

    >>> import torch
    >>> from methods.compress import CompressionPipeline, SimulatedCollective, aggregate
    >>> workers = [CompressionPipeline.build("arc_topk", "ef14", compressor_params={"ratio": 0.5, "rank": 2},
    ...                                      seed=7, start_iter=0) for _ in range(2)]
    >>> grads = [{"w": torch.randn(4, 6)}, {"w": torch.randn(4, 6)}]
    >>> out = aggregate(workers, grads, step=0, collective=SimulatedCollective(2))
    >>> torch.equal(out[0]["w"], out[1]["w"]), (out[0]["w"].abs().sum(dim=1) > 0).sum().item()
    (True, 2)
    >>> [c.size_bytes for c in workers[0].comm_plan({"w": (4, 6)}, n_workers=2, step=1)]
    [32, 48]
"""

from __future__ import annotations

import dataclasses
import fnmatch
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from methods.arguments import check_integer
from methods.compress.base import (
    CollectiveCall,
    CompressContext,
    Compressor,
    PayloadSpec,
    dense_session,
    make_compressor,
)
from methods.compress.collectives import plan_phases, run_lockstep
from methods.compress.error_feedback import ErrorFeedback, make_error_feedback


def _dense_direction(x: torch.Tensor):
    result = yield from dense_session(x)
    return result.aggregate


def _tails(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[i:]) for i in range(len(parts))]


def matches_pattern(name: str, patterns: Iterable[str]) -> bool:
    """True when ``name`` or any tail of it after a dot matches one of the fnmatch ``patterns``."""
    patterns = tuple(patterns)
    return any(fnmatch.fnmatchcase(tail, p) for tail in _tails(name) for p in patterns)


def check_patterns(patterns: Iterable[str]) -> tuple[str, ...]:
    """``dense_parameters`` as a tuple of non-empty strings; TypeError/ValueError naming it otherwise."""
    if isinstance(patterns, str):
        raise ValueError(f"dense_parameters: expected a list of patterns, got the string {patterns!r}")
    if not isinstance(patterns, Iterable):
        raise TypeError(f"dense_parameters: expected a list of name patterns, got {patterns!r}")
    patterns = tuple(patterns)
    for p in patterns:
        if not isinstance(p, str) or not p:
            raise TypeError(f"dense_parameters: every pattern must be a non-empty string, got {p!r}")
    return patterns


def unmatched_patterns(patterns: Iterable[str], names: Iterable[str]) -> list[str]:
    """The ``patterns`` that match none of ``names`` (a typo in a dense-parameter list would silently do nothing)."""
    names = list(names)
    return [p for p in patterns if not any(matches_pattern(n, (p,)) for n in names)]


def _plain(value: Any) -> Any:
    """``value`` as a plain Python value (``torch.load(weights_only=True)`` reads it; numpy scalars become numbers)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return repr(value)


def construction_params(part: Compressor | ErrorFeedback) -> dict[str, Any]:
    """The keyword arguments a compressor or error feedback was built with (its dataclass fields), as plain values:
    ``construction_params(make_compressor("powersgd", rank=2))["rank"] == 2``. What `CompressionPipeline.state_dict`
    records to refuse a checkpoint of another configuration."""
    if not dataclasses.is_dataclass(part):
        return {}
    return {f.name: _plain(getattr(part, f.name)) for f in dataclasses.fields(part) if f.init}


@dataclass
class CompressionPipeline:
    """Compressor + error feedback for one worker.

    Args:
        compressor: a `Compressor` (this worker's instance; workers must not share one).
        error_feedback: an `ErrorFeedback` (this worker's instance); default ``none``.
        seed: run seed shared by all workers (sketches, Rand-K indices, probes derive from it).
        start_iter: dense All-Reduce for steps ``< start_iter``.
        dense_parameters: fnmatch patterns of tensor names always sent dense (module docstring).
    """

    compressor: Compressor
    error_feedback: ErrorFeedback | None = None
    seed: int = 0
    start_iter: int = 0
    dense_parameters: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.error_feedback is None:
            self.error_feedback = make_error_feedback("none")
        self.start_iter = check_integer("start_iter", self.start_iter)
        if self.start_iter < 0:
            raise ValueError(f"start_iter: expected >= 0, got {self.start_iter}")
        self.seed = check_integer("seed", self.seed)
        self.dense_parameters = check_patterns(self.dense_parameters)

    def is_dense(self, name: str) -> bool:
        """True when tensor ``name`` is sent dense by choice (it matches ``dense_parameters``)."""
        return bool(self.dense_parameters) and matches_pattern(name, self.dense_parameters)

    @classmethod
    def build(
        cls,
        compressor: str,
        error_feedback: str | None = None,
        *,
        compressor_params: Mapping[str, Any] | None = None,
        error_feedback_params: Mapping[str, Any] | None = None,
        seed: int = 0,
        start_iter: int = 0,
        dense_parameters: Iterable[str] = (),
    ) -> "CompressionPipeline":
        """From registry names; ``error_feedback=None`` picks the compressor's usual pairing."""
        comp = make_compressor(compressor, **dict(compressor_params or {}))
        ef_name = error_feedback if error_feedback is not None else type(comp).default_error_feedback
        return cls(comp, make_error_feedback(ef_name, **dict(error_feedback_params or {})), seed=seed,
                   start_iter=start_iter, dense_parameters=check_patterns(dense_parameters))

    def sessions(self, named_grads: Mapping[str, torch.Tensor], step: int, n_workers: int) -> list:
        """One session per tensor (in the mapping's order); each returns the aggregated direction."""
        if step < self.start_iter:
            return [_dense_direction(g) for g in named_grads.values()]
        return [
            _dense_direction(g) if self.is_dense(name)
            else self.error_feedback.run(self.compressor, g, CompressContext(name, step, self.seed, n_workers))
            for name, g in named_grads.items()
        ]

    def payloads(self, name: str, shape: tuple[int, ...], step: int, dtype: torch.dtype = torch.float32) -> list[PayloadSpec]:
        """Exact payloads of the next call for tensor ``name`` at ``step``, given this pipeline's state.

        Dense during warm-up, for ``dense_parameters`` and at an EF21-style initialisation; otherwise the
        compressor's payloads for its next call (GreedyLore's refreshes depend on how many calls the tensor has
        had). For steady-state sizes without running anything use `Compressor.comm_plan`.
        """
        numel = 1
        for s in shape:
            numel *= int(s)
        if step < self.start_iter or self.is_dense(name):
            return [PayloadSpec("all_reduce", numel, dtype)]
        if self.error_feedback.dense_first_step and "local" not in self.error_feedback.memory(name):
            return [PayloadSpec("all_reduce", numel, dtype)]
        return self.compressor.payloads(tuple(shape), call_index=self.compressor.calls_made(name), dtype=dtype)

    def comm_plan(
        self, named_shapes: Mapping[str, tuple[int, ...]], n_workers: int, step: int, dtype: torch.dtype = torch.float32
    ) -> list[CollectiveCall]:
        """The exact collectives `aggregate` issues at ``step`` for these tensors batched as one bucket."""
        phases = [self.payloads(name, tuple(shape), step, dtype) for name, shape in named_shapes.items()]
        return plan_phases(phases, n_workers)

    def state_dict(self) -> dict[str, Any]:
        """Compressor and error-feedback state, their construction parameters (`construction_params`), seed,
        start_iter and ``dense_parameters``; tensors and plain values only, so ``torch.load`` reads it with
        ``weights_only=True``."""
        return {
            "compressor": self.compressor.state_dict(),
            "error_feedback": self.error_feedback.state_dict(),
            "compressor_params": construction_params(self.compressor),
            "error_feedback_params": construction_params(self.error_feedback),
            "seed": self.seed,
            "start_iter": self.start_iter,
            "dense_parameters": list(self.dense_parameters),
        }

    def check_state_dict(self, state: Mapping[str, Any], *, owner: str = "CompressionPipeline") -> None:
        """Raise ValueError, naming the key and both values, unless ``state`` (a `state_dict`) was saved by a
        pipeline built the same way: compressor and error feedback (names and construction parameters), seed,
        start_iter and ``dense_parameters`` (which tensors hold compression state). A checkpoint saved before the
        parameters or patterns were recorded has none, and only they go unchecked.
        ``owner`` names what the user built, in the message. Changes nothing."""
        parts = (("compressor", self.compressor), ("error_feedback", self.error_feedback))
        for what, part in parts:
            theirs = state[what].get("name")
            if theirs != part.name:
                raise ValueError(f"the checkpoint's {what} is {theirs!r}, this {owner}'s {part.name!r}")
        for what, mine in (("seed", self.seed), ("start_iter", self.start_iter)):
            if int(state[what]) != mine:
                raise ValueError(f"the checkpoint's {what} is {int(state[what])}, this {owner}'s {mine}: build the "
                                 f"{owner} with the run's seed and start_iter")
        saved_dense = state.get("dense_parameters")
        if saved_dense is not None and tuple(saved_dense) != self.dense_parameters:
            raise ValueError(f"the checkpoint's dense_parameters are {list(saved_dense)}, this {owner}'s "
                             f"{list(self.dense_parameters)}: build the {owner} with the run's dense_parameters")
        for what, part in parts:
            saved = state.get(f"{what}_params")
            if saved is None:
                continue
            mine = construction_params(part)
            differ = [k for k in saved if k not in mine or saved[k] != mine[k]]
            if differ:
                details = "; ".join(f"{part.name}.{k} is {saved[k]!r}, this {owner}'s {mine[k]!r}" if k in mine
                                    else f"{part.name}.{k} is {saved[k]!r}, this {owner} has no such parameter"
                                    for k in differ)
                raise ValueError(f"the checkpoint's {details}: build the {owner} with the run's {what}_params")

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a `state_dict` into a pipeline built the same way (`check_state_dict` refuses anything else
        before anything changes); the next steps then compute what the saved pipeline's would have."""
        self.check_state_dict(state)
        self.compressor.load_state_dict(state["compressor"])
        self.error_feedback.load_state_dict(state["error_feedback"])


def aggregate(
    workers: Sequence[CompressionPipeline],
    named_grads: Sequence[Mapping[str, torch.Tensor]],
    step: int,
    collective: Any,
) -> list[dict[str, torch.Tensor]]:
    """Aggregated directions for every local worker: ``out[w][name]`` (equal across workers up to rounding).

    Args:
        workers: one pipeline per local worker (N for `SimulatedCollective`, 1 for `TorchDistCollective`).
        named_grads: per local worker, the tensors to aggregate (same names, shapes and order everywhere).
        step: the iteration (same on every worker).
        collective: `SimulatedCollective` or `TorchDistCollective`; its ``.calls`` log grows.
    """
    if len(workers) != len(named_grads):
        raise ValueError(f"{len(workers)} pipelines but {len(named_grads)} gradient sets")
    names = list(named_grads[0].keys())
    for w, grads in enumerate(named_grads):
        if list(grads.keys()) != names:
            raise ValueError(f"worker {w} holds tensors {list(grads.keys())}, worker 0 holds {names}")
    sessions = [p.sessions(g, step, collective.n_workers) for p, g in zip(workers, named_grads)]
    results = run_lockstep(sessions, collective)
    return [dict(zip(names, res)) for res in results]
