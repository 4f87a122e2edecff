"""The compute model against real training steps on this CPU: tiny LLaMA steps measured and predicted op by op.

Validation of `harness.cost.training_step` in the manner of Vidur and LLMServingSim (shared/research/
harness_anchors.md 1.1, 1.5): profile the ops in isolation, predict the end-to-end step from those profiles, run
the real thing, report signed % errors per point. Here the real thing is a full training step of
``methods.models.gpt.TinyLlama`` (fused q/k/v, rotary, causal SDPA, SwiGLU, untied head) with
``torch.optim.AdamW`` at its defaults (the for-loop implementation on CPU): ``zero_grad``, forward, cross-entropy,
backward, optimizer step, timed with ``time.perf_counter`` after warm-up steps, median over the measured steps
of several rounds interleaved over the study (each shape at 1 and 2 threads back to back; `measure_points`).

The prediction is `harness.cost.training_step.step_ops` (``fused_qkv``) priced over the CPU timing tables of the
same thread count at the step's cache state (`harness.timing.cache_state`): the step ops profiled after flushes of
4, 16, 64 and 128 MiB (table sets ``cpu-f<MiB>`` for 1 thread, ``cpu-2t-f<MiB>`` for 2; made by
``scripts/profile_cpu_cache_state.sh``), each call blended between the two sets that bracket the bytes the step
touches between two uses of its data (`harness.cost.training_step.step_touched_bytes`: parameters, gradients, AdamW
states, saved activations; 5.4 MiB for the smallest point, 164 MiB for the largest). Beside it,
``predicted_fixed_flush_ms``: the same tables at one cache state for every step, the profiler's default flush (16
MiB here: the model before the cache-state axis). Nothing is fitted to the steps: every
number comes from the op profiles (exact rows or interpolation between them; roofline where a table is missing,
reported as ``roofline_fraction``); the rule for the cache state was set before the study was run with it, from
`benchmarks/cpu_cache_state.py` (the flush a real step matches grows with the bytes it holds). Each shape waits
(bounded) for quiet CPUs first in every round and records the busiest fraction seen. The kernel floor, dispatch gap
and roofline ceilings come from the same table set's meta.json (measured at that thread count), not from the
1-thread set's.

What a real step pays that ops timed alone do not (measured on the 2-core dev VM, 1 thread):

* cold caches. Between two calls of an op a step runs ~40 other ops, so the op's weights, code and the
  allocator's/dispatcher's state are out of the core's L2; an op repeated back to back finds them hot. Inside a
  real step (timestamps around each line of ``Block.forward``) RMSNorm (128 x 64) took ~51 us against 24 us
  repeated warm, rotary ~83 against 55 us; at d_model 512 the element-wise ops were 1.4-2.6x and the GEMMs
  ~5-18% slower than warm. The CPU timer therefore flushes the caches before every timed call
  (`kernels.profiler`, as ``do_bench`` does on a GPU), by as many bytes as the step touches (above); the flush
  also makes the op's input cold, which in a step its producer has just written.
* memory the allocator returns to the OS and maps again every step (glibc: 3k-15k minor faults per step at
  d_model 512, ~0-300 below d_model 256; recorded per point as ``minor_faults_per_step``). Not modelled: the
  count follows glibc's trimming heuristics, not the model's structure (d_model 128 frees 2.7 MB of gradients
  per step and faults ~100 times; d_model 512 frees 31 MB and faults 3k-15k times). At d_model 512, micro-batch
  2, sequence 64 the faults cost ~40 ms of a ~120 ms step (1 thread; ~80 ms with them gone). The study
  therefore measures every point under two allocator configurations (`ALLOCATORS`): glibc's ``default``, and
  ``keep``, glibc told by mallopt(3)'s environment variables to keep freed memory in the process (what a
  caching allocator does: PyTorch's own on GPUs, the step the model is built for, or jemalloc/tcmalloc, which
  PyTorch's CPU performance guide recommends). Both are real steps; the errors are reported for each.
* Python/autograd work outside the timed ops: the head split (``split`` + 3 ``reshape`` + 3 ``transpose``, with
  their backward nodes) ~17 us warm per block, ``zero_grad`` ~0.06 ms; under 2% of a step, not modelled.

The machine itself is noisy: it switches for seconds at a time between two speeds (a Python loop 26 vs 43 ms,
a GEMM 44 vs 55 ms), so one point measured twice can differ by 25-40%; the errors of single points carry that.

A diagnostic beside the prediction (`harness.timing.op_profile`): in every round, right before a shape's
steps, every distinct op call of that step is timed alone once more (same timer as the tables, at the point's
thread count); the same pricing over those times (``predicted_op_profile_ms``, ``error_op_profile_pct``) takes
the moment the tables were timed out of the error. It decides nothing; the verdict uses the tables.

Run by ``harness fidelity-compute``; results in ``results/fidelity_compute/`` (``steps.csv``, ``summary.csv``,
``op_times.csv``, ``meta.json``, the run history ``runs/``), drawn by the figure ``harness.fidelity_compute``.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import platform
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from harness.files import write_text_atomic
from harness.cost.training_step import price, step_ops, step_touched_bytes
from harness.devices import get_device
from harness.errors import HarnessError
from harness.fidelity.compare import signed_error_pct
from harness.fidelity.quiet import wait_until_quiet
from harness.models.llama import LlamaDims, parameter_count
from harness.timing.cache_state import CacheStateReplay
from harness.timing.op_profile import OP_TIME_COLUMNS, OpProfile, StudyOpReplay, distinct_calls
from harness.timing.replay import TimingReplay
from harness.timing.table import load_table_set

#: table set per torch thread count (the study prices from its cache-state family ``<set>-f<MiB>``)
TABLE_SETS: dict[int, str] = {1: "cpu", 2: "cpu-2t"}
#: the study's targets: median |error| and worst |error|, in %
TARGET_MEDIAN_PCT = 10.0
TARGET_WORST_PCT = 25.0
#: glibc allocator configurations (mallopt(3) environment variables, read when a process starts): ``default``
#: returns freed memory to the OS, so every step maps and faults it in again; ``keep`` keeps it (blocks up to
#: 32 MiB from the heap, the top of the heap trimmed only above 1 GiB), as a caching allocator does
ALLOCATORS: dict[str, dict[str, str]] = {
    "default": {},
    "keep": {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)},
}
_MALLOC_VARIABLES = sorted({name for env in ALLOCATORS.values() for name in env})
#: what names a point of the study (the rest of its columns follow from these)
POINT_KEYS = ["allocator", "threads", "size", "micro_batch", "seq_len"]
MEASURED_COLUMNS = ["allocator", "threads", "size", "d_model", "n_layers", "n_heads", "d_ff", "vocab", "micro_batch",
                    "seq_len", "tokens", "params", "measured_ms", "measured_ms_p10", "measured_ms_p90", "n_steps",
                    "minor_faults_per_step", "cpu_busy_before"]
#: an op profile is taken per shape and thread count (both allocator configurations share it)
PROFILE_KEYS = ["threads", "size", "micro_batch", "seq_len"]
OP_PROFILE_COLUMNS = [*PROFILE_KEYS, *OP_TIME_COLUMNS]
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ModelSize:
    """A TinyLlama configuration (head_dim = d_model / n_heads)."""

    name: str
    d_model: int
    n_layers: int
    n_heads: int
    d_ff: int
    vocab: int = 1024

    def dims(self) -> LlamaDims:
        return LlamaDims(d_model=self.d_model, d_ff=self.d_ff, n_heads=self.n_heads, n_layers=self.n_layers,
                         vocab_size=self.vocab, fused_qkv=True)


@dataclass(frozen=True)
class ComputePlan:
    """What to measure: sizes x micro-batches x sequence lengths x thread counts, and how."""

    sizes: tuple[ModelSize, ...]
    micro_batches: tuple[int, ...]
    seq_lens: tuple[int, ...]
    threads: tuple[int, ...] = (1, 2)
    allocators: tuple[str, ...] = ("default", "keep")  # keys of `ALLOCATORS`
    warmup_steps: int = 3  # per round
    measured_steps: int = 15  # per round, at least ...
    #: ... and as many more as fill this many seconds of steps (the median of a few ~10 ms steps follows where
    #: those few milliseconds fell; a step of 100 ms or more reaches it with ``measured_steps``)
    min_measured_s: float = 0.0
    #: measurement rounds, interleaved over the whole study (see `measure_points`); a point's median pools them
    rounds: int = 1
    seed: int = 0
    quiet_busy_below: float = 0.15  # wait for the CPUs to be this idle before each point ...
    quiet_max_wait_s: float = 30.0  # ... but no longer than this
    quiet_window_s: float = 1.0
    #: time the step's ops alone next to its steps in every round (the op-profile diagnostic, `OpProfile`)
    op_profile: bool = True

    def points(self) -> list[tuple[str, int, ModelSize, int, int]]:
        return [(a, t, size, b, s) for a in self.allocators for t in self.threads for size in self.sizes
                for b in self.micro_batches for s in self.seq_lens]


# head_dim 32; d_ff = 3 d_model; 2 blocks; vocabulary 1024 (every shape inside the quick grids); 3 rounds of at
# least 5 measured steps and 0.5 s of steps per point (5 steps a round for the largest points, ~60 for the smallest)
FULL_PLAN = ComputePlan(
    sizes=tuple(ModelSize(f"d{d}", d, 2, d // 32, 3 * d) for d in (64, 128, 256, 512)),
    micro_batches=(2, 4),
    seq_lens=(64, 128),
    measured_steps=5,
    min_measured_s=0.5,
    rounds=3,
)
QUICK_PLAN = ComputePlan(
    sizes=(ModelSize("d64", 64, 1, 2, 192),), micro_batches=(2,), seq_lens=(64,), threads=(1,),
    allocators=("default",), warmup_steps=1, measured_steps=3, quiet_max_wait_s=0.0, quiet_window_s=0.2,
)


# ---------------------------------------------------------------------------------------------------------------
# measuring


def measure_step(size: ModelSize, micro_batch: int, seq_len: int, *, warmup_steps: int, measured_steps: int,
                 seed: int = 0, min_measured_s: float = 0.0) -> dict[str, float]:
    """Median (p10, p90) wall time of a real TinyLlama + AdamW training step at torch's current thread count, and
    the minor page faults per measured step (memory the allocator returned to the OS and maps again each step:
    work a real step does that isolated op timings, which reuse the same buffers, never see)."""
    times, faults = step_times(size, micro_batch, seq_len, warmup_steps=warmup_steps, measured_steps=measured_steps,
                               seed=seed, min_measured_s=min_measured_s)
    return _step_summary(times, faults)


def _step_summary(times: list[float], faults: float) -> dict[str, float]:
    p10, median, p90 = np.percentile(times, [10, 50, 90])
    return {"measured_ms": float(median), "measured_ms_p10": float(p10), "measured_ms_p90": float(p90),
            "n_steps": len(times), "minor_faults_per_step": faults}


def step_times(size: ModelSize, micro_batch: int, seq_len: int, *, warmup_steps: int, measured_steps: int,
               seed: int = 0, min_measured_s: float = 0.0) -> tuple[list[float], float]:
    """Wall times (ms) of real training steps after ``warmup_steps``: ``measured_steps`` of them, or more until
    their times add up to ``min_measured_s``; and minor faults per measured step (see `measure_step`)."""
    import torch

    from methods.models.gpt import TinyLlama

    model = TinyLlama(size.vocab, size.d_model, size.n_layers, size.n_heads, size.d_ff, max_seq_len=seq_len, seed=seed)
    optimizer = torch.optim.AdamW(model.parameters())
    gen = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, size.vocab, (micro_batch, seq_len), generator=gen)
    targets = torch.randint(0, size.vocab, (micro_batch, seq_len), generator=gen)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        model.loss(tokens, targets).backward()
        optimizer.step()

    for _ in range(warmup_steps):
        step()
    times = []
    faults_before = _minor_faults()
    while len(times) < measured_steps or sum(times) < 1e3 * min_measured_s:
        start = time.perf_counter_ns()
        step()
        times.append((time.perf_counter_ns() - start) / 1e6)
    return times, (_minor_faults() - faults_before) / len(times)


def _minor_faults() -> float:
    """Minor page faults of this process so far (NaN where unknown): the allocator mapping fresh memory."""
    try:
        import resource
    except ImportError:
        return float("nan")
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)


StepTimer = Callable[[int, ModelSize, int, int, int, int, int, float], tuple[list[float], float]]


def timed_steps(threads: int, size: ModelSize, micro_batch: int, seq_len: int, warmup_steps: int,
                measured_steps: int, seed: int, min_measured_s: float = 0.0) -> tuple[list[float], float]:
    """`step_times` at ``threads`` torch threads (in this process or in an allocator's worker)."""
    import torch

    torch.set_num_threads(threads)
    return step_times(size, micro_batch, seq_len, warmup_steps=warmup_steps, measured_steps=measured_steps,
                      seed=seed, min_measured_s=min_measured_s)


def _allocator_environment() -> dict[str, str | None]:
    return {name: os.environ.get(name) for name in _MALLOC_VARIABLES}


def _set_environment(values: Mapping[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@contextmanager
def allocator_timers(allocators: Sequence[str]) -> Iterator[dict[str, StepTimer]]:
    """A step timer per allocator configuration: this process for ``default`` when its own environment sets no
    mallopt variable, otherwise one worker process started with exactly that configuration's variables (glibc
    reads them when a process starts); the workers are checked to hold them and stopped on exit."""
    unknown = [name for name in allocators if name not in ALLOCATORS]
    if unknown:
        raise HarnessError(f"unknown allocator configuration(s) {', '.join(unknown)}; known: {', '.join(ALLOCATORS)}")
    timers: dict[str, StepTimer] = {}
    pools: list[ProcessPoolExecutor] = []
    try:
        for name in allocators:
            wanted = {var: ALLOCATORS[name].get(var) for var in _MALLOC_VARIABLES}
            if wanted == _allocator_environment():
                timers[name] = timed_steps
                continue
            pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            pools.append(pool)
            saved = _allocator_environment()
            try:  # the worker starts on the first submit and inherits the environment of that moment
                _set_environment(wanted)
                seen = pool.submit(_allocator_environment).result()
            finally:
                _set_environment(saved)
            if seen != wanted:
                raise HarnessError(f"the {name} allocator worker started with {seen}, expected {wanted}")
            timers[name] = lambda *args, _pool=pool: _pool.submit(timed_steps, *args).result()
        yield timers
    finally:
        for pool in pools:
            pool.shutdown(cancel_futures=True)


def step_profile(size: ModelSize, micro_batch: int, seq_len: int, threads: int, seed: int) -> OpProfile:
    """The op profile of one step of ``size`` (every distinct op call `step_ops` prices) at ``threads``, each call
    timed after a flush of the bytes the step touches (`step_touched_bytes`: the cache state the model prices)."""
    ops = step_ops(size.dims(), micro_batch, seq_len, optimizer="adamw", device="cpu")
    return OpProfile(distinct_calls(ops.calls()), seed=seed, threads=threads,
                     cpu_flush_bytes=step_touched_bytes(size.dims(), micro_batch, seq_len))


def measure_points(plan: ComputePlan, progress: Progress = print,
                   timers: Mapping[str, StepTimer] | None = None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Every point of ``plan`` measured (threads set per point, restored after); columns `MEASURED_COLUMNS`; and,
    with ``plan.op_profile``, the step's ops timed alone in the same rounds (columns `OP_PROFILE_COLUMNS`).

    This machine changes speed for seconds at a time (module docstring), so one point measured in one burst
    carries the speed of its moment, and points measured one after the other share it (thread count by thread
    count, all 2-thread points of the small models would share one stretch of seconds). The schedule therefore
    runs ``plan.rounds`` rounds over all shapes, each shape's allocator configurations and thread counts back to
    back (in the same seconds, their order reversed every other round), and a point's median, p10 and p90 pool
    its steps of every round. ``timers`` (default: `allocator_timers`) time the steps per allocator. With
    ``plan.op_profile`` each shape's op profile (`step_profile`, per thread count) runs one pass right before the
    shape's steps in every round, so the ops are timed in the same seconds as the steps they predict.
    """
    if timers is None:
        with allocator_timers(plan.allocators) as made:
            return measure_points(plan, progress, made)
    import torch

    previous = torch.get_num_threads()
    shapes = [(size, b, s) for size in plan.sizes for b in plan.micro_batches for s in plan.seq_lens]
    times: dict[tuple, list[float]] = {}
    faults: dict[tuple, list[float]] = {}
    busy_seen: dict[tuple, list[float]] = {}
    profiles: dict[tuple, OpProfile] = {}
    total = plan.rounds * len(shapes) * len(plan.threads) * len(plan.allocators)
    done = 0
    try:
        for round_ in range(plan.rounds):
            order = (lambda seq: seq) if round_ % 2 == 0 else (lambda seq: seq[::-1])
            for size, micro_batch, seq_len in shapes:
                busy = wait_until_quiet(plan.quiet_busy_below, plan.quiet_max_wait_s, plan.quiet_window_s)
                for threads in order(plan.threads) if plan.op_profile else ():
                    key = (threads, size.name, micro_batch, seq_len)
                    if key not in profiles:
                        profiles[key] = step_profile(size, micro_batch, seq_len, threads, plan.seed)
                    profiles[key].run_pass()
                for allocator in order(plan.allocators):
                    for threads in order(plan.threads):
                        key = (allocator, threads, size.name, micro_batch, seq_len)
                        step_ms, step_faults = timers[allocator](threads, size, micro_batch, seq_len,
                                                                 plan.warmup_steps, plan.measured_steps, plan.seed,
                                                                 plan.min_measured_s)
                        times.setdefault(key, []).extend(step_ms)
                        faults.setdefault(key, []).append(step_faults)
                        if busy is not None:
                            busy_seen.setdefault(key, []).append(busy)
                        done += 1
                        busy_text = "unknown" if busy is None else f"{busy:.0%}"
                        progress(f"[{done}/{total}] round {round_ + 1}/{plan.rounds}: {allocator} allocator, "
                                 f"{threads} thread(s) {size.name} batch {micro_batch} seq {seq_len}: "
                                 f"{float(np.median(step_ms)):.2f} ms/step, {step_faults:.0f} page faults/step "
                                 f"(CPUs {busy_text} busy before)")
    finally:
        torch.set_num_threads(previous)
    rows = []
    for allocator, threads, size, micro_batch, seq_len in plan.points():
        key = (allocator, threads, size.name, micro_batch, seq_len)
        busy = max(busy_seen[key]) if busy_seen.get(key) else None
        rows.append({"allocator": allocator, "threads": threads, "size": size.name, "d_model": size.d_model,
                     "n_layers": size.n_layers, "n_heads": size.n_heads, "d_ff": size.d_ff, "vocab": size.vocab,
                     "micro_batch": micro_batch, "seq_len": seq_len, "tokens": micro_batch * seq_len,
                     "params": parameter_count(size.dims()),
                     **_step_summary(times[key], float(np.mean(faults[key]))), "cpu_busy_before": busy})
    op_times = None
    if profiles:
        op_times = pd.concat([profile.frame().assign(**dict(zip(PROFILE_KEYS, key)))
                              for key, profile in profiles.items()], ignore_index=True)[OP_PROFILE_COLUMNS]
    return pd.DataFrame(rows, columns=MEASURED_COLUMNS), op_times


# ---------------------------------------------------------------------------------------------------------------
# predicting


def _table_set(threads: int) -> str:
    if threads not in TABLE_SETS:
        raise HarnessError(f"no CPU table set for {threads} threads; known: {', '.join(map(str, TABLE_SETS))}")
    return TABLE_SETS[threads]


def open_cpu_replay(threads: int, timings_root: Path | str) -> TimingReplay:
    """The replay over the single-flush CPU table set of ``threads`` (`TABLE_SETS`; what the study priced from
    before the cache-state axis, and `benchmarks/cpu_cache_state.py` still does); a missing set is a
    `HarnessError`."""
    name = _table_set(threads)
    folder = Path(timings_root) / name
    if not folder.is_dir():
        raise HarnessError(f"timing tables {folder} do not exist; make them with `harness profile --device cpu "
                           f"--grid quick --threads {threads}" + (f" --table-set {name}`" if name != "cpu" else "`"))
    # the set's own measured roofline (its meta.json): kernel floor, dispatch gap and ceilings at this thread count,
    # not the 1-thread set's
    return TimingReplay(get_device(name, timings_root=timings_root), load_table_set(folder), table_set=name)


def open_cache_state_replay(threads: int, timings_root: Path | str) -> CacheStateReplay:
    """The cache-state family of the CPU table set of ``threads`` (``cpu-f<MiB>``, ``cpu-2t-f<MiB>``); a missing
    family is a `HarnessError` saying how to make it."""
    return CacheStateReplay(timings_root, _table_set(threads))


def predict_step(size: ModelSize, micro_batch: int, seq_len: int, replay) -> dict[str, object]:
    """Predicted step time (ms) of one point, the fraction of it from the roofline, and the time per op."""
    ops = step_ops(size.dims(), micro_batch, seq_len, optimizer="adamw", device="cpu")
    step = price(ops.calls(), replay, "float32")
    roofline = step.by_source_ms.get("roofline", 0.0)
    return {"predicted_ms": step.time_ms, "roofline_fraction": roofline / step.time_ms if step.time_ms > 0 else 0.0,
            "n_kernel_launches": step.n_launches, "by_op_ms": step.by_op_ms}


def predict_points(measured: pd.DataFrame, timings_root: Path | str, op_times: pd.DataFrame | None = None
                   ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Add to every measured point ``touched_mib`` (`step_touched_bytes`), ``predicted_ms`` and ``error_pct``
    (signed, % of measured) from the cache-state tables at that cache state (`open_cache_state_replay`),
    ``roofline_fraction``; beside it ``predicted_fixed_flush_ms`` / ``error_fixed_flush_pct`` from the same tables at
    one cache state for every step, the profiler's default flush (`kernels.profiler.default_cpu_flush_bytes`: the
    model without the cache-state axis), and the op-profile diagnostic
    ``predicted_op_profile_ms`` / ``error_op_profile_pct``: the same pricing with every op timed alone in the same
    rounds as the point's steps (``op_times``, `measure_points`; NaN without).

    Returns the table, the predicted time per op and point (long format, from the cache-state tables), and the
    table sets' provenance.
    """
    from kernels.profiler import default_cpu_flush_bytes

    families: dict[int, CacheStateReplay] = {}
    profiles = {} if op_times is None else {
        tuple(key): group for key, group in op_times.groupby(PROFILE_KEYS, sort=False)}
    rows, by_op = [], []
    for _, point in measured.iterrows():
        threads = int(point["threads"])
        family = families.get(threads) or families.setdefault(threads, open_cache_state_replay(threads, timings_root))
        size = ModelSize(str(point["size"]), int(point["d_model"]), int(point["n_layers"]), int(point["n_heads"]),
                         int(point["d_ff"]), int(point["vocab"]))
        shape = (int(point["micro_batch"]), int(point["seq_len"]))
        touched = step_touched_bytes(size.dims(), *shape)
        at_state = family.at(touched)
        predicted = predict_step(size, *shape, at_state)
        profile = profiles.get((threads, size.name, *shape))
        same_minutes = (math.nan if profile is None
                        else predict_step(size, *shape, StudyOpReplay(profile, at_state))["predicted_ms"])
        rows.append({"touched_mib": touched / (1 << 20), "predicted_ms": predicted["predicted_ms"],
                     "roofline_fraction": predicted["roofline_fraction"],
                     "n_kernel_launches": predicted["n_kernel_launches"],
                     "predicted_fixed_flush_ms": predict_step(
                         size, *shape, family.at(default_cpu_flush_bytes()))["predicted_ms"],
                     "predicted_op_profile_ms": same_minutes})
        key = {c: point[c] for c in POINT_KEYS}
        by_op += [{**key, "op": op, "predicted_ms": ms} for op, ms in sorted(predicted["by_op_ms"].items())]
    table = pd.concat([measured.reset_index(drop=True), pd.DataFrame(rows)], axis=1)
    table["error_pct"] = signed_error_pct(table["predicted_ms"], table["measured_ms"])
    table["error_fixed_flush_pct"] = signed_error_pct(table["predicted_fixed_flush_ms"], table["measured_ms"])
    profiled = table["predicted_op_profile_ms"].notna()
    table["error_op_profile_pct"] = math.nan
    if profiled.any():
        table.loc[profiled, "error_op_profile_pct"] = signed_error_pct(table.loc[profiled, "predicted_op_profile_ms"],
                                                                       table.loc[profiled, "measured_ms"])
    provenance = {name: entry for _, family in sorted(families.items())
                  for name, entry in family.provenance().items()}
    return table, pd.DataFrame(by_op), provenance


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Per allocator configuration, per thread count and over both: points, median |error|, worst signed error,
    mean signed error and whether both targets hold; the same three numbers of the single-flush tables and of the
    op-profile diagnostic where the table has them (NaN otherwise; they decide nothing)."""
    groups = [(allocator, str(t), g) for allocator, of_allocator in table.groupby("allocator", sort=False)
              for t, g in [*of_allocator.groupby("threads", sort=True), ("all", of_allocator)]]
    rows = []
    for allocator, threads, group in groups:
        median, worst, mean = _error_stats(group["error_pct"])
        row = {"allocator": allocator, "threads": threads, "n_points": len(group), "median_abs_error_pct": median,
               "worst_error_pct": worst, "mean_error_pct": mean,
               "meets_targets": bool(median <= TARGET_MEDIAN_PCT and abs(worst) <= TARGET_WORST_PCT)}
        for name in ("fixed_flush", "op_profile"):
            column = f"error_{name}_pct"
            errors = group[column].dropna() if column in group else pd.Series(dtype=float)
            (row[f"median_abs_error_{name}_pct"], row[f"worst_error_{name}_pct"],
             row[f"mean_error_{name}_pct"]) = _error_stats(errors)
        rows.append(row)
    return pd.DataFrame(rows)


def _error_stats(errors: pd.Series) -> tuple[float, float, float]:
    """Median |error|, worst signed error and mean signed error (NaN for no errors)."""
    values = errors.to_numpy(dtype=float)
    if values.size == 0:
        return math.nan, math.nan, math.nan
    return (float(np.median(np.abs(values))), float(values[np.argmax(np.abs(values))]), float(np.mean(values)))


# ---------------------------------------------------------------------------------------------------------------
# the study and its files


@dataclass
class ComputeStudy:
    table: pd.DataFrame
    by_op: pd.DataFrame
    summary: pd.DataFrame
    meta: dict = field(default_factory=dict)
    op_times: pd.DataFrame | None = None  # the op profile measured with the steps (`measure_points`)


def machine_meta() -> dict[str, object]:
    import torch

    return {"machine": platform.machine(), "processor": platform.processor(), "logical_cores": os.cpu_count(),
            "python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform()}


def run_study(plan: ComputePlan, timings_root: Path | str, *, measured: pd.DataFrame | None = None,
              op_times: pd.DataFrame | None = None, progress: Progress = print) -> ComputeStudy:
    """Measure (unless ``measured`` is given, with the ``op_times`` measured beside it if any: then only predict
    again), predict, compare."""
    for threads in plan.threads if measured is None else sorted(set(measured["threads"])):
        open_cache_state_replay(int(threads), timings_root)  # fail before measuring when tables are missing
    started = time.time()
    if measured is None:
        progress(f"measuring {len(plan.points())} points")
        measured, op_times = measure_points(plan, progress)
    table, by_op, tables = predict_points(measured, timings_root, op_times)
    meta = {"plan": asdict(plan), "machine": machine_meta(), "timing_tables": tables,
            "allocators": {name: ALLOCATORS.get(name) for name in dict.fromkeys(measured["allocator"])},
            "targets": {"median_abs_error_pct": TARGET_MEDIAN_PCT, "worst_abs_error_pct": TARGET_WORST_PCT},
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "wall_time_s": time.time() - started,
            "method": "real steps: TinyLlama + torch.optim.AdamW (defaults), zero_grad + forward + cross-entropy + "
            "backward + step, median over the measured steps of interleaved rounds after warm-up, under each "
            "allocator configuration; predictions: harness.cost.training_step (fused_qkv) priced by the CPU "
            "timing tables of the same thread count timed after flushes of several sizes, blended at the bytes the "
            "step touches (harness.timing.cache_state, harness.cost.training_step.step_touched_bytes); beside it "
            "the same tables at the profiler's default flush for every step, and the op-profile diagnostic: every op "
            "of the step timed alone (same timer, flushed by the bytes the step touches) in the same rounds as the "
            "point's steps (op_times.csv); nothing fitted"}
    return ComputeStudy(table, by_op, summarize(table), meta, op_times)


def write_study(study: ComputeStudy, out_dir: Path | str, *, measured_now: bool = False) -> list[Path]:
    """``steps.csv`` (one row per point), ``by_op.csv``, ``summary.csv``, ``meta.json`` under ``out_dir``; a study
    that measured (``measured_now``) also keeps its points in the run history ``runs/<date>.csv``, and
    ``run_spread.csv`` summarizes that history (`run_spread`)."""
    out = Path(out_dir)
    files = {"steps.csv": study.table.to_csv(index=False, float_format="%.6g"),
             "by_op.csv": study.by_op.to_csv(index=False, float_format="%.6g"),
             "summary.csv": study.summary.to_csv(index=False, float_format="%.6g"),
             "meta.json": json.dumps(study.meta, indent=1, default=str) + "\n"}
    if study.op_times is not None:
        files["op_times.csv"] = study.op_times.to_csv(index=False, float_format="%.6g")
    else:  # an earlier study's op profile would be read with these measurements by a later --recompute
        (out / "op_times.csv").unlink(missing_ok=True)
    if measured_now:
        history = f"{RUNS_DIR}/{study.meta['date'].replace(':', '')}.csv"
        files[history] = study.table[MEASURED_COLUMNS].to_csv(index=False, float_format="%.6g")
    for name, text in files.items():
        write_text_atomic(out / name, text)
    written = [out / name for name in files]
    spread = run_spread(out)
    if not spread.empty:
        write_text_atomic(out / "run_spread.csv", spread.to_csv(index=False, float_format="%.6g"))
        written.append(out / "run_spread.csv")
    return written


#: the study's run history: every measuring run's points, one CSV per run (`write_study`)
RUNS_DIR = "runs"
SPREAD_COLUMNS = [*POINT_KEYS, "n_runs", "run_min_ms", "run_median_ms", "run_max_ms", "run_spread_pct"]


def run_spread(out_dir: Path | str) -> pd.DataFrame:
    """Per point, the measured median step time of every run in the history: how many runs, their min, median
    and max (ms), and max - min in % of their median (how much one run's measurement depends on its moment)."""
    files = sorted((Path(out_dir) / RUNS_DIR).glob("*.csv"))
    if not files:
        return pd.DataFrame(columns=SPREAD_COLUMNS)
    runs = pd.concat([pd.read_csv(f)[[*POINT_KEYS, "measured_ms"]] for f in files], ignore_index=True)
    spread = (runs.groupby(POINT_KEYS, sort=False)["measured_ms"]
              .agg(n_runs="count", run_min_ms="min", run_median_ms="median", run_max_ms="max").reset_index())
    spread["run_spread_pct"] = 100.0 * (spread["run_max_ms"] - spread["run_min_ms"]) / spread["run_median_ms"]
    return spread[SPREAD_COLUMNS]


_TEXT_COLUMNS = ("allocator", "size", "op", "impl", "shape")


def _read_saved_csv(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    """A saved study CSV; `HarnessError` naming the file (and line) if it is unreadable, lacks one of ``columns``
    or holds a non-number in one of them (other than the text columns; an empty cell is allowed)."""
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        why = "; ".join(line.strip() for line in str(err).splitlines() if line.strip())  # pandas ends some with \n
        raise HarnessError(f"--recompute: {path}: not a readable CSV ({why})") from None
    if "allocator" in columns and "allocator" not in table.columns:  # studies from before the allocator
        table.insert(0, "allocator", "default")                      # configurations: glibc's default
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise HarnessError(f"--recompute: {path} lacks the column(s) {', '.join(missing)}")
    for column in (c for c in columns if c not in _TEXT_COLUMNS):
        values = pd.to_numeric(table[column], errors="coerce")
        bad = np.flatnonzero((values.isna() & table[column].notna()).to_numpy())
        if bad.size:
            raise HarnessError(f"--recompute: {path}: line {int(bad[0]) + 2}: column {column}: expected a number, "
                               f"got {str(table[column].iloc[int(bad[0])])!r}")
        table[column] = values
    return table


def read_measured(out_dir: Path | str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The measured columns of a previous study's ``steps.csv`` and its ``op_times.csv`` (None where the study has
    none), for predicting again without measuring."""
    path = Path(out_dir) / "steps.csv"
    if path.is_dir():
        raise HarnessError(f"--recompute: {path} is a folder, not the saved study's CSV")
    if not path.is_file():
        raise HarnessError(f"--recompute: {path} does not exist; run `harness fidelity-compute` to measure first")
    table = _read_saved_csv(path, MEASURED_COLUMNS)
    op_path = Path(out_dir) / "op_times.csv"
    op_times = _read_saved_csv(op_path, OP_PROFILE_COLUMNS) if op_path.is_file() else None
    return table[MEASURED_COLUMNS], op_times
