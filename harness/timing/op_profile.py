"""A study's own op profile: the ops a prediction prices, timed alone at their exact shapes in the same minutes
as the real runs it predicts, and a replay that answers from it.

A diagnostic beside a prediction from the committed timing tables (the validation-study idea of Vidur and
LLMServingSim: profile ops in isolation, predict end to end). On a machine whose speed drifts over minutes, a
table row carries the speed of the moment it was timed; timing the same ops around the runs splits a study's
error into that drift (op profile / tables) and what the real run adds to its ops timed alone (measured / op
profile). Used by `harness.pipeline_study` and `harness.fidelity.compute`.

`OpProfile` builds each call's inputs once and times every call once per `run_pass` with the CPU profiler's
timer (`kernels.profiler.time_call`: the cores' private caches flushed before every call) at a given torch thread
count; `frame` keeps per call the median over the passes. `StudyOpReplay` answers ``predict(op, impl, dtype,
**shape)`` like `harness.timing.replay.TimingReplay`, from the profile (source ``study``) and from the tables for
anything the profile does not hold, so the kinds' pricing runs on it unchanged. Nothing is fitted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.workloads.base import torch_threads

OP_TIME_COLUMNS = ["op", "impl", "shape", "time_ms", "time_ms_min", "time_ms_max", "n_passes"]
#: the CPU profiler's per-row budget is 0.25 s; a pass gives each call a short window and the passes repeat
PASS_BUDGET_S = 0.04

#: one op call to time: op name, implementation (None: the op's default), shape
Call = tuple[str, str | None, dict[str, int]]


def shape_key(shape: Mapping[str, Any]) -> str:
    """A shape as one canonical string (the ``shape`` column of an op profile)."""
    return json.dumps({k: int(v) for k, v in sorted(shape.items())}, separators=(",", ":"))


def distinct_calls(calls: Iterable[Any]) -> list[Call]:
    """The distinct (op, impl, shape) of ``calls`` (`harness.cost.training_step.OpCall`s), first-seen order."""
    seen, out = set(), []
    for call in calls:
        key = (call.op, call.impl, shape_key(dict(call.shape)))
        if key not in seen:
            seen.add(key)
            out.append((call.op, call.impl, dict(call.shape)))
    return out


def _impl(op, impl: str | None) -> str:
    if impl is not None:
        return impl
    return "torch" if "torch" in op.impls else sorted(op.impls)[0]


class OpProfile:
    """``calls`` with their inputs built once (fp32, seeded); each `run_pass` times every call once more at
    ``threads`` torch threads, after writing ``cpu_flush_bytes`` (None: the profiler's default flush); `frame`
    gives the median over the passes so far."""

    def __init__(self, calls: Iterable[Call], *, seed: int = 0, threads: int = 1, budget_s: float = PASS_BUDGET_S,
                 cpu_flush_bytes: int | None = None):
        import torch

        from kernels.ops import load_all_ops
        from kernels.profiler import TimerSettings

        ops = load_all_ops()
        self.threads = int(threads)
        self.settings = TimerSettings(cpu_budget_s=budget_s, cpu_flush_bytes=cpu_flush_bytes)
        self.calls = list(calls)
        self.impls = [_impl(ops.get(name), impl) for name, impl, _ in self.calls]
        self.times: list[list[float]] = [[] for _ in self.calls]
        gen = torch.Generator().manual_seed(seed)
        self.prepared = []
        with torch_threads(self.threads):
            for (name, _, shape), impl in zip(self.calls, self.impls):
                fn = ops.get(name).impls[impl]
                args = ops.get(name).make_inputs(shape, "float32", "cpu", gen)
                fn(*args)  # first call outside the timed window (an optimizer builds its states here)
                self.prepared.append((fn, args))

    def run_pass(self) -> None:
        from kernels.profiler import time_call

        with torch_threads(self.threads):
            for i, (fn, args) in enumerate(self.prepared):
                self.times[i].append(time_call(lambda: fn(*args), "cpu", self.settings).time_ms_median)

    def frame(self) -> pd.DataFrame:
        if not self.times or not self.times[0]:
            raise ValueError("no pass has run yet")
        rows = [{"op": name, "impl": impl, "shape": shape_key(shape), "time_ms": float(np.median(t)),
                 "time_ms_min": float(np.min(t)), "time_ms_max": float(np.max(t)), "n_passes": len(t)}
                for (name, _, shape), impl, t in zip(self.calls, self.impls, self.times)]
        return pd.DataFrame(rows, columns=OP_TIME_COLUMNS)


@dataclass
class StudyOpReplay:
    """A `harness.timing.replay.TimingReplay` look-alike: the study's op profile first, ``base`` (the committed
    tables) for the rest; counts per op and source like the replay's ``summary()``."""

    op_times: pd.DataFrame
    base: Any

    def __post_init__(self) -> None:
        self.device = self.base.device
        self._times = {(r.op, r.shape): float(r.time_ms) for r in self.op_times.itertuples()}
        self._impls = {(r.op, r.shape): r.impl for r in self.op_times.itertuples()}
        self.counts: dict[str, dict[str, int]] = {}

    def predict(self, op: str, *, impl: str | None = None, dtype: str = "float32", **shape: float):
        from harness.timing.replay import Prediction

        key = (op, shape_key(shape))
        hit = self._times.get(key)
        if dtype != "float32" or hit is None or (impl is not None and self._impls[key] != impl):
            prediction = self.base.predict(op, impl=impl, dtype=dtype, **shape)
        else:
            prediction = Prediction(max(hit, self.device.kernel_floor_ms), "study",
                                    "the study's op profile (timed around the runs)")
        per = self.counts.setdefault(op, {})
        per[prediction.source] = per.get(prediction.source, 0) + 1
        return prediction

    def summary(self) -> dict[str, dict[str, int]]:
        return {op: dict(c) for op, c in sorted(self.counts.items())}
