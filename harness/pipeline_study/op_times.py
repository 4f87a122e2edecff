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

`model_op_calls` lists every distinct op call of one step of the plan's model (the ``pipeline_step`` kind's
`layer_ops` / `optimizer_ops`); the study times them with `harness.timing.op_profile.OpProfile` (1 thread), two
passes before the runs and one before every configuration, and prices them through its `StudyOpReplay` (the kind's
`harness.workloads.pipeline_step.layer_costs` runs on it unchanged). Nothing is fitted to the pipelined steps.
"""

from __future__ import annotations

import pandas as pd

from harness.timing.op_profile import PASS_BUDGET_S, Call, OpProfile, distinct_calls


def model_op_calls(plan) -> list[Call]:
    """Every distinct (op, impl, shape) one step of the plan's model runs: each layer's forward and backward at
    one micro-batch, and the AdamW step per group of equal-sized parameters."""
    from harness.cost.training_step import layer_ops, optimizer_ops

    dims = plan.model.dims()
    calls = [c for layer in layer_ops(dims, plan.micro_batch, plan.seq_len, "cpu")
             for c in (*layer.forward, *layer.backward)]
    return distinct_calls([*calls, *optimizer_ops(dims, "adamw", "cpu")])


def plan_profile(plan, budget_s: float = PASS_BUDGET_S) -> OpProfile:
    """The op profile of one step of the plan's model (1 torch thread, the plan's seed)."""
    return OpProfile(model_op_calls(plan), seed=plan.seed, threads=1, budget_s=budget_s)


def measure_op_times(plan, passes: int = 5, budget_s: float = PASS_BUDGET_S) -> pd.DataFrame:
    """Median over ``passes`` interleaved passes of each op call's time (`plan_profile`)."""
    if passes < 1:
        raise ValueError(f"passes: expected >= 1, got {passes}")
    profile = plan_profile(plan, budget_s)
    for _ in range(passes):
        profile.run_pass()
    return profile.frame()
