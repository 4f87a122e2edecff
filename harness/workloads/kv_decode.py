"""Scenario kind ``kv_decode``: per-token decode latency, prefill, end-to-end latency and memory vs context length
of a Llama-3.1-8B-shaped model with a full KV cache and with Chelsea's clustered cache (arXiv 2506.11418, Table 2
and Figure 7 slots), and serving under a Poisson request stream with continuous batching and a KV memory limit.

Model (defaults): Llama-3.1-8B's config.json (meta-llama/Llama-3.1-8B: hidden 4096, intermediate 14336, 32 layers,
32 query heads, 8 KV heads, head dim 128, vocabulary 128256). Every cost is an op priced by the scenario's timing
replay (`harness.timing`: measured table -> interpolation -> roofline, source counted in run.json):

- weights, per layer and token batch m: q, k, v, o, gate, up and down projections as ``matmul`` (m, n, k), the LM
  head once;
- decode attention of one request, per layer: reading K and V (2 x s x kv_heads x head_dim elements; Chelsea also
  one count per entry) priced as a ``copy`` of half as many elements (a copy reads and writes each element);
- prefill attention: ``sdpa_fwd`` (all query heads, prompt length, head dim);
- Chelsea's compression, per pass and layer: key normalisation (a ``copy`` of the middle keys), the chunk score
  matrices as one batched ``matmul`` (chunks x kv_heads x c/2 rows, c/2 columns, head_dim deep: the FLOPs of
  the per-chunk products), the global top-r as ``topk_flat`` over the layer's edges, and the merge as a ``copy`` of
  the layer's cache. Online: the cache grows from B to B + g and one pass merges g entries, so each decode token
  carries 1/g of a pass at length B + g; prefill compression runs passes of r = min(excess, edges) until <= B.

Memory: weights (parameters x dtype bytes) + K and V entries x bytes (+ one fp32 count per entry for Chelsea);
Chelsea holds at most B + g entries per request with B = budget x (prompt + decode).

``output: serving`` runs a SimPy engine: requests arrive as a Poisson process (one draw, the same for every
method); a request is rejected for memory when its KV reservation alone exceeds the KV memory limit, or when the
queue is full; otherwise it waits in a FIFO queue until its reservation fits (queued) and then joins the running
batch (continuous batching: its prefill runs in the next iteration, then every iteration decodes one token of every
running request).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Annotated, Literal

import numpy as np
import pandas as pd
import simpy
from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from harness.config.blocks import DeviceScenario, Strict
from harness.non_finite import NOT_APPLICABLE_KEY
from harness.workloads.base import RunContext, RunOutput, register_workload
from methods.kvcache.chelsea import ChelseaParams, budget_tokens, edges_available, windows_problem

GIB = 1 << 30
DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4}
COUNT_BYTES = 4
DEFAULT_SINK, DEFAULT_RECENT = 16, 64  # Chelsea's protected windows (paper defaults)
Method = Literal["full", "chelsea"]
#: longest prompt: 2**22 = 4,194,304 tokens, 32x Llama-3.1-8B's 128k window (the cost model is closed form and
#: would price any length, but nothing this shape describes runs longer prompts)
MAX_PROMPT_TOKENS = 1 << 22
PROMPT_BOUND = "at most 2**22 = 4,194,304 tokens, 32x Llama-3.1-8B's 128k window"
#: decoded tokens one serving run may simulate (requests x decode_tokens): the engine steps through every decode
#: iteration, 5-45 us of host time per request and token here (45 at max_batch 1), so 2**24 stays under ~15 min
MAX_SERVING_TOKENS = 1 << 24
#: ``output: serving``'s latencies: NaN for a method that served no request (all rejected; `harness.non_finite`)
NAN_MEANS_NOT_APPLICABLE = ("latency_mean_s", "latency_p99_s")


class DecodeModel(Strict):
    """Model shape; defaults are Llama-3.1-8B (meta-llama/Llama-3.1-8B config.json)."""

    d_model: PositiveInt = Field(4096, le=1 << 17, description="hidden size")
    d_ff: PositiveInt = Field(14336, le=1 << 19, description="SwiGLU intermediate size")
    n_heads: PositiveInt = Field(32, le=1024, description="query heads")
    kv_heads: PositiveInt = Field(8, le=1024, description="key/value heads (GQA)")
    n_layers: PositiveInt = Field(32, le=1024, description="transformer blocks")
    vocab_size: PositiveInt = Field(128256, le=1 << 22, description="vocabulary size")

    @model_validator(mode="after")
    def _shapes(self) -> DecodeModel:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if self.n_heads % self.kv_heads:
            raise ValueError(f"n_heads {self.n_heads} is not a multiple of kv_heads {self.kv_heads}")
        return self

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def parameters(self) -> int:
        kv = self.kv_heads * self.head_dim
        per_layer = 2 * self.d_model * self.d_model + 2 * self.d_model * kv + 3 * self.d_model * self.d_ff
        return self.n_layers * (per_layer + 2 * self.d_model) + 2 * self.vocab_size * self.d_model + self.d_model


class ServingSpec(Strict):
    arrival_rate_per_s: PositiveFloat = Field(0.5, le=1e6, description="Poisson arrival rate of requests")
    requests: PositiveInt = Field(100, le=1_000_000, description="requests in the stream")
    prompt_tokens: PositiveInt = Field(32768, le=MAX_PROMPT_TOKENS,
                                       description=f"prompt length of every request ({PROMPT_BOUND})")
    kv_memory_gib: PositiveFloat = Field(40.0, le=1 << 20, description="device memory left for KV caches (GiB)")
    max_batch: PositiveInt = Field(64, le=1 << 16, description="most requests decoded together")
    max_queue: PositiveInt = Field(1000, le=1 << 24, description="queue length beyond which arrivals are rejected")


class KVDecodeWorkload(Strict):
    model: DecodeModel = Field(default_factory=DecodeModel)
    dtype: Literal["bfloat16", "float16", "float32"] = Field("bfloat16", description="weights and KV cache dtype")
    context_tokens: list[Annotated[int, Field(gt=0, le=MAX_PROMPT_TOKENS)]] = Field(
        [4096, 8192, 16384, 32768, 65536, 131072], min_length=1,
        description=f"prompt lengths (decode output rows), each {PROMPT_BOUND}"
    )
    decode_tokens: PositiveInt = Field(256, le=1 << 20, description="generated tokens per request (Gamma; at most "
                                       "2**20, a quarter of the longest prompt)")
    methods: list[Method] = Field(["full", "chelsea"], min_length=1, description="full cache and/or Chelsea")
    budget: float = Field(0.2, gt=0, le=1, description="Chelsea's cache ratio R in (0, 1]")
    sink_tokens: int = Field(DEFAULT_SINK, ge=0, le=1 << 20, description="protected first tokens (paper: 16; at "
                             "most 2**20, a quarter of the longest prompt)")
    recent_tokens: int = Field(DEFAULT_RECENT, ge=0, le=1 << 20, description="protected last tokens (paper: 64; "
                               "at most 2**20, a quarter of the longest prompt)")
    chunk_size: PositiveInt = Field(256, le=MAX_PROMPT_TOKENS, description="Chunked Soft Matching chunk (paper: "
                                    "256; at most the longest prompt: one chunk over the whole middle)")
    buffer_tokens: PositiveInt = Field(32, le=1 << 20, description="online trigger g: compress at B + g (ours; at "
                                       "most 2**20, a quarter of the longest prompt)")
    capacity_gib: PositiveFloat = Field(80.0, le=1 << 20, description="device memory for the fits / OOM column")
    output: Literal["decode", "serving"] = Field("decode", description="latency/memory rows or a serving run")
    serving: ServingSpec = Field(default_factory=ServingSpec)

    @model_validator(mode="after")
    def _windows_fit(self) -> KVDecodeWorkload:
        serving = self.output == "serving"  # serving reads serving.prompt_tokens, decode rows context_tokens
        context_key = "serving.prompt_tokens" if serving else "context_tokens"
        shortest = self.serving.prompt_tokens if serving else min(self.context_tokens)
        problem = windows_problem(self.sink_tokens, self.recent_tokens, shortest, context_key,
                                  defaults=(DEFAULT_SINK, DEFAULT_RECENT))
        if problem:
            raise ValueError(problem)
        if serving and self.serving.requests * self.decode_tokens > MAX_SERVING_TOKENS:
            # blame the factor raised further above its default (100 requests, 256 tokens)
            key = "serving.requests" if self.serving.requests / 100 >= self.decode_tokens / 256 else "decode_tokens"
            raise ValueError(
                f"{key}: serving.requests x decode_tokens = {self.serving.requests} x {self.decode_tokens} = "
                f"{self.serving.requests * self.decode_tokens:,} decoded tokens to simulate, more than "
                f"{MAX_SERVING_TOKENS:,} (the engine steps through every decode iteration: about 15 minutes at "
                f"max_batch 1); lower serving.requests or decode_tokens")
        return self


class KVDecodeScenario(DeviceScenario):
    """Decode latency, memory and serving of an 8B-shaped model, full vs Chelsea-compressed KV cache."""

    kind: Literal["kv_decode"] = "kv_decode"
    workload: KVDecodeWorkload = Field(default_factory=KVDecodeWorkload)


class CostModel:
    """Op-by-op prices of one model on one device (memoised per shape; every call counted by the replay)."""

    def __init__(self, w: KVDecodeWorkload, replay) -> None:
        self.w, self.m, self.replay = w, w.model, replay
        self.params = ChelseaParams(w.sink_tokens, w.recent_tokens, w.chunk_size)
        self._memo: dict[tuple, float] = {}

    def _op(self, op: str, **shape: int) -> float:
        key = (op, *sorted(shape.items()))
        if key not in self._memo:
            self._memo[key] = self.replay.predict(op, dtype=self.w.dtype, **shape).time_ms
        return self._memo[key]

    def weights_ms(self, tokens: int) -> float:
        m, kv = self.m, self.m.kv_heads * self.m.head_dim
        layer = (2 * self._op("matmul", m=tokens, n=m.d_model, k=m.d_model)
                 + 2 * self._op("matmul", m=tokens, n=kv, k=m.d_model)
                 + 2 * self._op("matmul", m=tokens, n=m.d_ff, k=m.d_model)
                 + self._op("matmul", m=tokens, n=m.d_model, k=m.d_ff))
        return m.n_layers * layer + self._op("matmul", m=tokens, n=m.vocab_size, k=m.d_model)

    def attention_ms(self, entries: int, counted: bool) -> float:
        """Decode attention of one request over ``entries`` cached entries, all layers."""
        elements = entries * self.m.kv_heads * self.m.head_dim + (entries * self.m.kv_heads if counted else 0)
        return self.m.n_layers * self._op("copy", numel=max(1, math.ceil(elements)))

    def prefill_ms(self, prompt: int) -> float:
        sdpa = self._op("sdpa_fwd", batch_heads=self.m.n_heads, seq=prompt, head_dim=self.m.head_dim)
        return self.weights_ms(prompt) + self.m.n_layers * sdpa

    def pass_ms(self, length: int, r: int) -> float:
        """One soft-matching pass at cache ``length`` merging ``r`` entries, all layers."""
        p, m = self.params, self.m
        middle = max(0, length - p.protected)
        chunks = math.ceil(middle / p.chunk_size) if middle else 0
        half = max(1, p.chunk_size // 2)
        if chunks == 0 or r == 0:
            return 0.0
        layer = (self._op("copy", numel=middle * m.kv_heads * m.head_dim)
                 + self._op("matmul", m=chunks * m.kv_heads * half, n=half, k=m.head_dim)
                 + self._op("topk_flat", numel=max(1, m.kv_heads * (middle // 2)), k=max(1, m.kv_heads * r))
                 + self._op("copy", numel=2 * length * m.kv_heads * m.head_dim))
        return m.n_layers * layer

    def prefill_compress_ms(self, prompt: int, target: int) -> float:
        total, length = 0.0, prompt
        while length > target:
            r = min(length - target, edges_available(length, self.params))
            if r <= 0:
                break
            total += self.pass_ms(length, r)
            length -= r
        return total

    def budget(self, prompt: int) -> int:
        return max(self.params.protected, budget_tokens(self.w.budget, prompt, self.w.decode_tokens))

    def max_entries(self, method: str, prompt: int) -> int:
        total = prompt + self.w.decode_tokens
        return total if method == "full" else min(total, self.budget(prompt) + self.w.buffer_tokens)

    def kv_bytes(self, method: str, entries: int) -> int:
        m = self.m
        per_entry = 2 * m.kv_heads * m.head_dim * DTYPE_BYTES[self.w.dtype]
        if method == "chelsea":
            per_entry += m.kv_heads * COUNT_BYTES
        return m.n_layers * per_entry * entries

    def tpot_ms(self, method: str, prompt: int, batch: int = 1) -> tuple[float, float, float]:
        """(weights, attention, amortised merge) ms of one decode step at the prompt's steady cache length."""
        if method == "full":
            return self.weights_ms(batch), batch * self.attention_ms(prompt, False), 0.0
        b, g = self.budget(prompt), self.w.buffer_tokens
        entries = min(prompt, b + g // 2)  # the cache cycles between B and B + g
        merge = self.pass_ms(b + g, min(g, edges_available(b + g, self.params))) / g if prompt > b else 0.0
        return self.weights_ms(batch), batch * self.attention_ms(entries, True), batch * merge


def decode_rows(w: KVDecodeWorkload, cost: CostModel) -> pd.DataFrame:
    rows = []
    weights_bytes = cost.m.parameters() * DTYPE_BYTES[w.dtype]
    for prompt in w.context_tokens:
        for method in w.methods:
            weights, attention, merge = cost.tpot_ms(method, prompt)
            tpot = weights + attention + merge
            prefill = cost.prefill_ms(prompt)
            compress = cost.prefill_compress_ms(prompt, cost.budget(prompt)) if method == "chelsea" else 0.0
            kv = cost.kv_bytes(method, cost.max_entries(method, prompt))
            rows.append({
                "method": method, "context_tokens": prompt, "budget": w.budget if method == "chelsea" else 1.0,
                "tpot_ms": tpot, "weights_ms": weights, "attention_ms": attention, "merge_ms": merge,
                "prefill_ms": prefill, "prefill_compress_ms": compress,
                "end_to_end_ms": prefill + compress + w.decode_tokens * tpot,
                "kv_bytes": kv, "weights_bytes": weights_bytes, "peak_gib": (kv + weights_bytes) / GIB,
                "fits": (kv + weights_bytes) / GIB <= w.capacity_gib,
            })
    data = pd.DataFrame(rows)
    full = data[data["method"] == "full"].set_index("context_tokens")
    if not full.empty:
        data["decode_speedup"] = data["context_tokens"].map(full["tpot_ms"]) / data["tpot_ms"]
        data["end_to_end_speedup"] = data["context_tokens"].map(full["end_to_end_ms"]) / data["end_to_end_ms"]
        data["memory_reduction"] = 1 - data["kv_bytes"] / data["context_tokens"].map(full["kv_bytes"])
    return data


def serve(w: KVDecodeWorkload, cost: CostModel, method: str, rng: np.random.Generator) -> dict[str, float]:
    """One SimPy serving run; returns counts, throughput and latencies."""
    s = w.serving
    env = simpy.Environment()
    limit = s.kv_memory_gib * GIB
    reserve = cost.kv_bytes(method, cost.max_entries(method, s.prompt_tokens))
    queue: deque[list[float]] = deque()  # [arrival_s, blocked (1.0 once it waited for memory or a batch slot)]
    running: list[list[float]] = []  # [arrival_s, tokens_left]
    stats = {"admitted": 0, "queued": 0, "rejected_memory": 0, "rejected_queue": 0, "tokens": 0}
    latencies: list[float] = []
    state = {"used": 0.0, "arrived": 0, "wake": env.event()}
    prefill_s = (cost.prefill_ms(s.prompt_tokens) + (cost.prefill_compress_ms(
        s.prompt_tokens, cost.budget(s.prompt_tokens)) if method == "chelsea" else 0.0)) / 1e3

    def arrivals():
        for _ in range(s.requests):
            yield env.timeout(float(rng.exponential(1.0 / s.arrival_rate_per_s)))
            state["arrived"] += 1
            if reserve > limit:
                stats["rejected_memory"] += 1
            elif len(queue) >= s.max_queue:
                stats["rejected_queue"] += 1
            else:
                queue.append([env.now, 0.0])
            if not state["wake"].triggered:
                state["wake"].succeed()

    def engine():
        while state["arrived"] < s.requests or queue or running:
            joined = 0
            while queue and len(running) < s.max_batch and state["used"] + reserve <= limit:
                arrival, blocked = queue.popleft()
                stats["admitted"] += 1
                stats["queued"] += int(blocked)
                state["used"] += reserve
                running.append([arrival, w.decode_tokens])
                joined += 1
            for waiting in queue:
                waiting[1] = 1.0
            if not running:
                state["wake"] = env.event()
                yield state["wake"]
                continue
            weights, attention, merge = cost.tpot_ms(method, s.prompt_tokens, len(running))
            yield env.timeout(joined * prefill_s + (weights + attention + merge) / 1e3)
            stats["tokens"] += len(running)
            for request in running:
                request[1] -= 1
            for request in [r for r in running if r[1] <= 0]:
                running.remove(request)
                state["used"] -= reserve
                latencies.append(env.now - request[0])

    env.process(arrivals())
    env.process(engine())
    env.run()
    return {**stats, "makespan_s": env.now, "throughput_tokens_per_s": stats["tokens"] / env.now if env.now else 0.0,
            "latency_mean_s": float(np.mean(latencies)) if latencies else float("nan"),
            "latency_p99_s": float(np.percentile(latencies, 99)) if latencies else float("nan"),
            "kv_reservation_gib": reserve / GIB, "max_concurrent": int(limit // reserve) if reserve else 0}


@register_workload("kv_decode", KVDecodeScenario)
def run(scenario: KVDecodeScenario, ctx: RunContext) -> RunOutput:
    """Decode rows (one per context x method) or serving rows (one per method)."""
    from harness.timing.replay import open_replay

    w = scenario.workload
    replay = ctx.timings if ctx.timings is not None else open_replay(scenario)
    cost = CostModel(w, replay)
    if w.output == "decode":
        metrics = decode_rows(w, cost)
    else:
        rows = []
        arrivals = ctx.seed_seq.spawn(1)[0]  # every method serves the same arrival sequence (common random numbers)
        for method in w.methods:
            rng = np.random.default_rng(arrivals)
            rows.append({"method": method, "budget": w.budget if method == "chelsea" else 1.0,
                         "prompt_tokens": w.serving.prompt_tokens, "arrival_rate_per_s": w.serving.arrival_rate_per_s,
                         **serve(w, cost, method, rng)})
        metrics = pd.DataFrame(rows)
    info = {"model": w.model.model_dump(), "timing": replay.info(),
            "model_source": "meta-llama/Llama-3.1-8B config.json",
            NOT_APPLICABLE_KEY: [name for name in NAN_MEANS_NOT_APPLICABLE if name in metrics.columns]}
    return RunOutput(metrics=metrics, info=info)
