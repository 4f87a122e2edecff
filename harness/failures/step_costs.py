"""Step times of the fault-tolerance policies' configurations, priced op by op and computed once each (cached).

Every configuration's iteration is priced through `harness.cost.training_step` (each op one timing-replay
prediction) and the data-parallel step engine `harness.sim.dp_step` (bucketed gradient all-reduce overlapped with
backward, then the optimizer), so no policy uses a guessed slowdown factor:

* **normal**: one micro-batch per rank (plain data parallelism; also MeCeFO and checkpoint-restart without
  failures).
* **MeCeFO neighbour** (Hu et al., arXiv 2510.16415, sec. 3): the neighbour runs ``k`` micro-batches (its own and
  the failed ranks'); per micro-batch the full forward, and in backward per block only the FFN: its input is kept
  and RMSNorm, gate, up and SwiGLU are recomputed from it (technique II), the FFN's input gradients are exact and
  its three weight gradients low-rank, ``G_y (x^T V1) V1^T`` with ``V1`` the top-``r`` right singular vectors of
  the weight (technique III: three GEMMs ``(T, r, n_in)``, ``(n_out, r, T)``, ``(n_out, n_in, r)``); the attention
  block is an identity in backward (technique I: no attention backward op). ``V1`` is refreshed every ``tau``
  steps; we price the refresh as ``power_iterations`` rounds of block power iteration (two GEMMs per round, the
  paper uses an SVD), amortised over ``tau``. Synchronous DP: the iteration is as slow as its slowest rank, so the
  neighbour's per-layer times drive the step engine.
* **Bamboo** (Thorpe et al., NSDI 2023): every stage also runs its successor's forward eagerly (redundant
  computation); after a failure the predecessor runs the failed stage's backward too. We take the successor's
  layers to cost what the rank's own do, so failure-free = forward x 2 + backward; fallback = (forward + backward) x 2.
  (Bamboo packs part of the eager forward into pipeline bubbles; a pure data-parallel step has none, so none is
  hidden here.)
* **Oobleck** (Jang et al., SOSP 2023): the surviving devices are split into pipelines from templates of
  ``stages_min .. stages_max`` stages: the fewest pipelines that hold them, ``ceil(devices / stages_max)``, of
  balanced sizes; when the templates cannot cover every device count (``stages_max < 2 stages_min - 1``), as many
  pipelines as ``stages_min`` allows, each of at most ``stages_max`` stages, and the devices left over idle. The
  global batch (one micro-batch per device, as in DP) is spread over the pipelines in proportion to their size; a
  pipeline of ``s`` stages and ``m`` micro-batches takes ``(m + s - 1) x c / s`` (1F1B schedule with its bubble;
  ``c`` = one micro-batch's forward + backward of the whole model on one device), plus the optimizer step over
  its ``1/s`` of the parameters. Pipeline activations sent between stages and the gradient all-reduce across
  pipelines are not priced.

With ``activation_checkpointing`` every normal step (plain DP, Bamboo, Oobleck) re-runs each block's forward in
backward (full recomputation, as large-model recipes often do); MeCeFO's neighbour keeps its own scheme.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from harness.cost.training_step import LAUNCHES, LayerOps, OpCall, layer_ops, optimizer_ops, price
from harness.models.llama import LlamaDims, parameter_count
from harness.sim.dp_step import simulate_dp_steps
from harness.sim.topology import Topology
from harness.sim.units import ms_to_ns

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
MIB = 1 << 20
FFN_GEMMS = ("gate_proj", "up_proj", "down_proj")
#: backward labels the neighbour keeps per block: the FFN's backward and the add of its gradient to the residual
_NEIGHBOUR_BACKWARD = ("down_proj.dgrad", "swiglu.bwd", "up_proj.dgrad", "gate_proj.dgrad",
                       "mlp_input.grad_accumulate", "mlp_norm.bwd", "mid_residual.grad_accumulate")
#: forward labels recomputed from the saved FFN input (technique II)
_RECOMPUTE = ("mlp_norm", "gate_proj", "up_proj", "swiglu")


def _matmul(label: str, m: int, n: int, k: int, count: int = 1) -> OpCall:
    return OpCall("matmul", {"m": m, "n": n, "k": k}, label, count, None, LAUNCHES["matmul"])


def low_rank_wgrad(wgrad: OpCall, rank: int) -> tuple[OpCall, ...]:
    """The three GEMMs of ``G_y (x^T V1) V1^T`` replacing the exact weight gradient ``wgrad`` (n_out, n_in, T)."""
    n_out, n_in, tokens = wgrad.shape["m"], wgrad.shape["n"], wgrad.shape["k"]
    r = min(rank, n_in)
    return (_matmul(f"{wgrad.label}.lowrank_xv", tokens, r, n_in),
            _matmul(f"{wgrad.label}.lowrank_gxv", n_out, r, tokens),
            _matmul(f"{wgrad.label}.lowrank_out", n_out, n_in, r))


def neighbour_block_backward(forward: tuple[OpCall, ...], backward: tuple[OpCall, ...],
                             rank: int) -> tuple[OpCall, ...]:
    """One block's backward in MeCeFO's neighbour mode, from the block's normal forward and backward calls."""
    recompute = tuple(c for c in forward if c.label in _RECOMPUTE)
    kept: list[OpCall] = list(recompute)
    for call in backward:
        if call.label in _NEIGHBOUR_BACKWARD:
            kept.append(call)
        elif call.label in {f"{g}.wgrad" for g in FFN_GEMMS}:
            kept.extend(low_rank_wgrad(call, rank))
    return tuple(kept)


def svd_refresh_ops(dims: LlamaDims, rank: int, power_iterations: int) -> tuple[OpCall, ...]:
    """Top-``rank`` right singular vectors of every FFN weight by block power iteration: per round ``W V`` then
    ``W^T (W V)``, for the three FFN matrices of every block."""
    d, f, n = dims.d_model, dims.d_ff, dims.n_layers
    calls = []
    for n_out, n_in in ((f, d), (f, d), (d, f)):
        r = min(rank, n_in)
        calls += [_matmul("svd.wv", n_out, r, n_in, n * power_iterations),
                  _matmul("svd.wtwv", n_in, r, n_out, n * power_iterations)]
    return tuple(calls)


@dataclass(frozen=True)
class StepSetup:
    """What fixes the step: model, micro-batch, dtype, optimizer, gradient buckets, MeCeFO's rank and refresh."""

    dims: LlamaDims
    micro_batch: int
    seq_len: int
    dtype: str
    optimizer: str
    bucket_mb: float
    overlap: bool
    lowrank_rank: int
    refresh_every: int
    power_iterations: int
    stages_min: int
    stages_max: int
    activation_checkpointing: bool = False


class StepPricer:
    """Per-configuration step times in seconds, each priced once (`functools.lru_cache` per instance)."""

    def __init__(self, setup: StepSetup, replay, topology: Topology):
        self.setup, self.replay, self.topology = setup, replay, topology
        self.layers: list[LayerOps] = layer_ops(setup.dims, setup.micro_batch, setup.seq_len, replay.device.name)
        self.optimizer_s = price(optimizer_ops(setup.dims, setup.optimizer, replay.device.name), replay,
                                 setup.dtype).time_ms / 1e3
        self._fwd = [self._ms(l.forward) for l in self.layers]
        # full activation checkpointing: each block's forward runs again in backward (not on MeCeFO's neighbour,
        # whose technique II already decides what is recomputed)
        recompute = setup.activation_checkpointing
        self._bwd = [self._ms(l.backward) + (f if recompute and l.name.startswith("block.") else 0.0)
                     for l, f in zip(self.layers, self._fwd, strict=True)]
        self.neighbour_step_s = lru_cache(maxsize=None)(self._neighbour_step_s)
        self.pipeline_step_s = lru_cache(maxsize=None)(self._pipeline_step_s)
        self.bamboo_step_s = lru_cache(maxsize=None)(self._bamboo_step_s)

    # --------------------------------------------------------------------------------------------- helpers
    def _ms(self, calls) -> float:
        return price(calls, self.replay, self.setup.dtype).time_ms

    @property
    def tokens_per_micro_batch(self) -> int:
        return self.setup.micro_batch * self.setup.seq_len

    @property
    def tokens_per_step(self) -> int:
        return self.tokens_per_micro_batch * self.topology.n_ranks

    @property
    def state_bytes(self) -> int:
        """Model state a checkpoint holds: weights in the compute dtype, fp32 master weights and AdamW's two fp32
        moments (2 + 4 + 8 bytes per parameter in bf16 mixed precision: ZeRO, Rajbhandari et al., SC 2020)."""
        return parameter_count(self.setup.dims) * (DTYPE_BYTES[self.setup.dtype] + 4 + 8)

    def _dp_step_s(self, forward_ms: list[float], backward_ms: list[float]) -> float:
        grad_bytes = [l.n_params * DTYPE_BYTES[self.setup.dtype] for l in self.layers]
        record = simulate_dp_steps([ms_to_ns(t) for t in forward_ms], [ms_to_ns(t) for t in backward_ms], grad_bytes,
                                   int(self.setup.bucket_mb * MIB), self.topology, overlap=self.setup.overlap)[0]
        return record.step_time_ns / 1e9 + self.optimizer_s

    # --------------------------------------------------------------------------------------------- configurations
    @property
    def compute_per_micro_batch_s(self) -> float:
        return (sum(self._fwd) + sum(self._bwd)) / 1e3

    def normal_step_s(self) -> float:
        return self.neighbour_step_s(1)

    def _neighbour_step_s(self, micro_batches: int) -> float:
        """MeCeFO's iteration when the busiest neighbour runs ``micro_batches`` (1 = no neighbour: normal step)."""
        if micro_batches == 1:
            return self._dp_step_s(self._fwd, self._bwd)
        s = self.setup
        backward = []
        for layer in self.layers:
            if layer.name.startswith("block."):
                backward.append(self._ms(neighbour_block_backward(layer.forward, layer.backward, s.lowrank_rank)))
            else:
                backward.append(self._ms(layer.backward))
        refresh_ms = self._ms(svd_refresh_ops(s.dims, s.lowrank_rank, s.power_iterations)) / s.refresh_every
        n_blocks = sum(l.name.startswith("block.") for l in self.layers)
        backward = [micro_batches * b + (refresh_ms / n_blocks if l.name.startswith("block.") else 0.0)
                    for l, b in zip(self.layers, backward, strict=True)]
        # synchronous DP: the step is as slow as the slowest rank, the neighbour or a normal rank
        return max(self._dp_step_s([micro_batches * f for f in self._fwd], backward), self.normal_step_s())

    def _bamboo_step_s(self, fallback: bool) -> float:
        """Bamboo's iteration: eager redundant forward always; the failed successor's backward too in fallback."""
        return self._dp_step_s([2 * f for f in self._fwd], [(2 if fallback else 1) * b for b in self._bwd])

    def pipeline_sizes(self, devices: int) -> list[int]:
        """Stages of each pipeline Oobleck forms on ``devices`` surviving devices (none when not even one fits)."""
        s = self.setup
        if devices < s.stages_min:
            return []
        n_pipes = min(math.ceil(devices / s.stages_max), devices // s.stages_min)
        used = min(devices, n_pipes * s.stages_max)
        base, extra = divmod(used, n_pipes)
        return [base + (i < extra) for i in range(n_pipes)]

    def _pipeline_step_s(self, devices: int) -> float:
        """Oobleck's iteration on ``devices`` surviving devices (inf when not even one pipeline fits)."""
        sizes = self.pipeline_sizes(devices)
        if not sizes:
            return math.inf
        used = sum(sizes)
        global_micro_batches = self.topology.n_ranks
        c = self.compute_per_micro_batch_s
        return max((global_micro_batches * size / used + size - 1) * c / size + self.optimizer_s / size
                   for size in sizes)
