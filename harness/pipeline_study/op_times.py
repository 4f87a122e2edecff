"""The study's own op profile: every op the pipelined model runs, timed alone at its exact shape around the runs.

A diagnostic beside the study's prediction (which prices compute from the committed CPU timing tables, as the
``pipeline_step`` kind does). It splits the tables' error in two, measured in the same minutes as the runs:

- the tables' drift: this machine (a 2-vCPU VM) changes speed for seconds at a time (one GEMM of 128 x 256 x
  1024 took 0.35 to 0.65 ms within a minute, its neighbour ops moving with it; committed table rows re-timed
  together came out 0.68x to 1.75x their table values), so each table row carries the speed of the moment it was
  timed. Op profile / tables = how far the tables sit from this machine's speed around the runs.
- what a running pipelined stage adds to its ops timed alone: measured stage compute / op profile.

Measured on the dev VM (1 torch thread; pairs interleaved within seconds, medians of 5-10 pairs): one stage
replayed in one process, no partner, no gloo, ran 1.02x (first stage) and 1.07x (last stage) the op profile
taken in the same seconds; a partner running the other stage's compute on the other vCPU changed it by 0.98x
(pinned) to 1.01x (unpinned); dropping glibc's trimming (15 instead of ~1500 minor faults per step) changed
nothing measurable; inside the real 2-process gloo pipeline the last stage computed 1.09-1.14x its one-process
replay, the first stage 0.90-1.10x.

`OpProfile` times every distinct op call of one step of the plan's model (the ``pipeline_step`` kind's
`layer_ops` / `optimizer_ops`) with the CPU profiler's timer (`kernels.profiler.time_call`: private caches flushed
before every call) in passes; the study runs two passes before the runs and one before every configuration, and
keeps per op the median over the passes. `StudyOpReplay` answers ``predict(op, impl, dtype, **shape)`` from that
profile (source ``study``) and from the committed tables for anything it does not hold, so the kind's pricing
(`harness.workloads.pipeline_step.layer_costs`) runs on it unchanged. Nothing is fitted to the pipelined steps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.workloads.base import torch_threads

OP_TIME_COLUMNS = ["op", "impl", "shape", "time_ms", "time_ms_min", "time_ms_max", "n_passes"]
#: the CPU profiler's per-row budget is 0.25 s; a pass here gives each op a short window and repeats the passes
PASS_BUDGET_S = 0.04


def _shape_key(shape: dict[str, Any]) -> str:
    return json.dumps({k: int(v) for k, v in sorted(shape.items())}, separators=(",", ":"))


def model_op_calls(plan) -> list[tuple[str, str | None, dict[str, int]]]:
    """Every distinct (op, impl, shape) one step of the plan's model runs: each layer's forward and backward at
    one micro-batch, and the AdamW step per group of equal-sized parameters."""
    from harness.cost.training_step import layer_ops, optimizer_ops

    dims = plan.model.dims()
    calls = [c for layer in layer_ops(dims, plan.micro_batch, plan.seq_len, "cpu")
             for c in (*layer.forward, *layer.backward)]
    calls += list(optimizer_ops(dims, "adamw", "cpu"))
    seen, out = set(), []
    for call in calls:
        key = (call.op, call.impl, _shape_key(dict(call.shape)))
        if key not in seen:
            seen.add(key)
            out.append((call.op, call.impl, dict(call.shape)))
    return out


def _impl(op, impl: str | None) -> str:
    if impl is not None:
        return impl
    return "torch" if "torch" in op.impls else sorted(op.impls)[0]


class OpProfile:
    """The model's op calls with their inputs built once; each `run_pass` times every call once more (fp32,
    1 thread, the profiler's timer), `frame` gives the median over the passes so far. The study runs passes
    before the runs and one before every configuration, so the profile samples the same minutes as the runs."""

    def __init__(self, plan, budget_s: float = PASS_BUDGET_S):
        import torch

        from kernels.ops import load_all_ops
        from kernels.profiler import TimerSettings

        ops = load_all_ops()
        self.settings = TimerSettings(cpu_budget_s=budget_s)
        self.calls = model_op_calls(plan)
        self.impls = [_impl(ops.get(name), impl) for name, impl, _ in self.calls]
        self.times: list[list[float]] = [[] for _ in self.calls]
        gen = torch.Generator().manual_seed(plan.seed)
        self.prepared = []
        with torch_threads(1):
            for (name, _, shape), impl in zip(self.calls, self.impls):
                fn = ops.get(name).impls[impl]
                args = ops.get(name).make_inputs(shape, "float32", "cpu", gen)
                fn(*args)  # first call outside the timed window (an optimizer builds its states here)
                self.prepared.append((fn, args))

    def run_pass(self) -> None:
        from kernels.profiler import time_call

        with torch_threads(1):
            for i, (fn, args) in enumerate(self.prepared):
                self.times[i].append(time_call(lambda: fn(*args), "cpu", self.settings).time_ms_median)

    def frame(self) -> pd.DataFrame:
        if not self.times[0]:
            raise ValueError("no pass has run yet")
        rows = [{"op": name, "impl": impl, "shape": _shape_key(shape), "time_ms": float(np.median(t)),
                 "time_ms_min": float(np.min(t)), "time_ms_max": float(np.max(t)), "n_passes": len(t)}
                for (name, _, shape), impl, t in zip(self.calls, self.impls, self.times)]
        return pd.DataFrame(rows, columns=OP_TIME_COLUMNS)


def measure_op_times(plan, passes: int = 5, budget_s: float = PASS_BUDGET_S) -> pd.DataFrame:
    """Median over ``passes`` interleaved passes of each op call's time (`OpProfile`)."""
    if passes < 1:
        raise ValueError(f"passes: expected >= 1, got {passes}")
    profile = OpProfile(plan, budget_s)
    for _ in range(passes):
        profile.run_pass()
    return profile.frame()


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

        key = (op, _shape_key(shape))
        hit = self._times.get(key)
        if dtype != "float32" or hit is None or (impl is not None and self._impls[key] != impl):
            prediction = self.base.predict(op, impl=impl, dtype=dtype, **shape)
        else:
            prediction = Prediction(max(hit, self.device.kernel_floor_ms), "study",
                                    "the study's op profile (timed before the runs)")
        per = self.counts.setdefault(op, {})
        per[prediction.source] = per.get(prediction.source, 0) + 1
        return prediction

    def summary(self) -> dict[str, dict[str, int]]:
        return {op: dict(c) for op, c in sorted(self.counts.items())}
