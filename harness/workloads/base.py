"""The contract between a scenario kind and the rest of the harness.

A kind is one module that defines a pydantic model (a `ScenarioBase` subclass with ``kind: Literal["..."]``) and
a run function ``run(scenario, ctx) -> RunOutput``, tied together by ``@register_workload("...", Model)``.
The run store decides where results go; a run function never writes files or prints (it may report progress
through ``ctx.progress``, which the executor shows).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness.config.blocks import ScenarioBase
from harness.errors import ScenarioError
from harness.registry import Registry


def no_progress(done: int, total: int) -> None:
    """The default `RunContext.progress`: shows nothing."""


@dataclass
class RunContext:
    """What a run function may use besides its scenario.

    Attributes:
        seed_seq: the run's one SeedSequence; spawn children per stochastic component.
        timings: the timing replay for the scenario's table set (``harness.timing``), or None if not needed.
        info: free-form provenance the run adds (event counts, timing sources); saved in run.json.
        progress: ``progress(done, total)``: a kind may call it from its main loop with the units done so far and
            their total (steps, replicates, control steps...); a kind must not depend on it (no effect on results,
            never part of the run identity). `no_progress` unless the executor shows a bar.
    """

    seed_seq: np.random.SeedSequence
    timings: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    progress: Callable[[int, int], None] = field(default=no_progress, repr=False, compare=False)


@dataclass
class RunOutput:
    """Tidy metrics (one row per point/step, units in column names) plus provenance for run.json."""

    metrics: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)


RunFunction = Callable[[ScenarioBase, RunContext], RunOutput]


@dataclass(frozen=True)
class WorkloadKind:
    name: str
    model: type[ScenarioBase]
    run: RunFunction


WORKLOADS: Registry[WorkloadKind] = Registry("scenario kind")


def register_workload(name: str, model: type[ScenarioBase]) -> Callable[[RunFunction], RunFunction]:
    """Register ``run`` as the scenario kind ``name`` validated by ``model``."""

    def decorate(run: RunFunction) -> RunFunction:
        WORKLOADS.add(name, WorkloadKind(name, model, run))
        return run

    return decorate


def named_seeds(seed_seq: np.random.SeedSequence, names: Sequence[str]) -> dict[str, int]:
    """One independent 32-bit seed per name, spawned from the run's seed sequence (in the order of ``names``)."""
    children = seed_seq.spawn(len(names))
    return {name: int(child.generate_state(1, dtype=np.uint32)[0]) for name, child in zip(names, children, strict=True)}


def corpus_shards(tokens: Any, n_slices: int, seq_len: int, batch_size: int, seed: int, key: str,
                  sentences: int) -> Any:
    """`methods.data.corpus.CorpusShards` of a training kind's generated corpus (``sentences`` sentences, set by the
    scenario's ``key``) in ``n_slices`` slices; a corpus too short for one sequence per slice is refused as one line
    naming the key (how many tokens the drawn sentences hold is known only once they are drawn)."""
    from methods.data.corpus import CorpusShards

    try:
        return CorpusShards(tokens, n_slices, seq_len, batch_size, seed)
    except ValueError:
        raise ScenarioError([f"{key}: {sentences} sentences give {len(tokens)} tokens, too few for {n_slices} "
                             f"slice(s) of more than seq_len + 1 = {seq_len + 1}"]) from None


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run torch code with ``threads`` intra-op threads; the caller's count is restored on exit."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def seeded_global_rngs(seed: int) -> Iterator[None]:
    """Python's, NumPy's legacy and torch's global random generators seeded from ``seed`` for one run, restored
    afterwards: code that draws from them (kvpress's CAM press samples with ``torch.bernoulli``) gives the same
    result whatever ran before in the process (a sweep worker runs many points, in any order)."""
    import random

    import torch

    python_state, numpy_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)


@contextmanager
def torch_sandbox(threads: int = 1) -> Iterator[None]:
    """Run torch code with ``threads`` intra-op threads and a private RNG state; both are restored on exit, so a
    kind run in-process leaves the caller's thread count and global torch RNG as they were."""
    import torch

    with torch_threads(threads), torch.random.fork_rng(devices=[]):
        yield

