"""The gradient-compressor contract: phases, wire payloads, collectives and exact byte counts.

A compressor turns one worker's gradient tensor into the *mean over workers* of the compressed gradients,
using only the collectives it really needs. It is written once, as a Python generator that yields one
`Request` per communication phase and receives that phase's result:

    def _compress(self, x, ctx):
        sketch = yield Request("all_reduce", x @ V)     # -> mean over workers of every worker's x @ V
        ...
        rows = yield Request("all_reduce", packed)      # -> mean of the packed rows
        return CompressResult(aggregate=..., local=...)

The same generator is driven by (a) `SimulatedCollective`, which holds N workers in one process and runs
their generators in lock step, and (b) `TorchDistCollective`, one worker per process over a
`torch.distributed` process group (this is what the DDP hooks use). `methods.compress.collectives.run_lockstep`
batches the requests of all tensors of a bucket that are in the same phase into one collective call.

Collectives: ``"all_reduce"`` returns the element-wise mean over workers (sum, then division by N);
``"all_gather"`` returns a tensor ``[N, *shape]`` stacking every worker's payload in rank order.

Tensor views (documented once here, used by every compressor):
- element-wise compressors (``none``, ``topk``, ``randk``) work on the flat tensor;
- matrix compressors (``arc_topk``, ``powersgd``, ``greedylore``, and ``topk``/``randk`` with ``rows=True``)
  view a tensor of shape ``[d0, d1, ...]`` as ``[d0, d1*d2*...]`` (rows = output channels). The ARC authors'
  hook uses an odd ``m = 2*t*t`` split for conv kernels; any reshape is valid for the algorithm, we use the
  output-channel one (GreedyLore's choice).
- 1-D tensors (biases, norms) and empty tensors are sent dense by the matrix compressors (one all-reduce of
  the tensor; ARC-Top-K can instead keep the top-k entries of the mean, its ``vectors`` option).

Dense fallbacks: a compressor never goes dense unseen. ``min_compression_rate`` r of ARC-Top-K and GreedyLore
defaults to 0 = always compress a matrix, even where compressed >= dense (the ARC authors always compress); r > 0
sends a matrix dense when its compressed size * r >= its size (torch's PowerSGD hook uses 2; our PowerSGD defaults
to 1, so its P and Q never exceed the matrix). Every dense fallback is counted per tensor with its reason
(``"empty"``, ``"vector"``, ``"unprofitable"``) in the per-tensor state, so it survives `state_dict`, and
`Compressor.dense_fallbacks()` reports it (dense warm-up steps and an EF21 dense initialisation are schedule,
not fallbacks: not counted).

Wire bytes: `Compressor.comm_plan(shape, n_workers)` lists the exact `CollectiveCall`s of one call (what
each worker contributes, per call); `CollectiveCall.ring_sent_bytes_per_worker` converts that to the bytes a
worker transmits with ring algorithms. Tests check the plan against what the simulated collective records.

Example::

    >>> import torch
    >>> from methods.compress import make_compressor
    >>> arc = make_compressor("arc_topk", ratio=0.2, rank=4)
    >>> [c.size_bytes for c in arc.comm_plan((768, 768), n_workers=4)]   # b (n r), b (K m)
    [12288, 470016]
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from abc import ABC, abstractmethod
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from kernels.registry import Registry
from methods.arguments import check_flag, check_integer, check_number

CollectiveOp = Literal["all_reduce", "all_gather"]
COLLECTIVE_OPS: tuple[str, ...] = ("all_reduce", "all_gather")


# --------------------------------------------------------------------------------------------- wire types
@dataclass(frozen=True)
class Request:
    """One communication phase of one tensor on one worker: combine ``tensor`` across workers with ``op``."""

    op: CollectiveOp
    tensor: torch.Tensor

    def __post_init__(self) -> None:
        if self.op not in COLLECTIVE_OPS:
            raise ValueError(f"Request.op: expected one of {COLLECTIVE_OPS}, got {self.op!r}")


@dataclass(frozen=True)
class PayloadSpec:
    """Shape-level description of a `Request` (what `comm_plan` predicts): op, element count, dtype."""

    op: CollectiveOp
    numel: int
    dtype: torch.dtype

    @property
    def size_bytes(self) -> int:
        return self.numel * self.dtype.itemsize


@dataclass(frozen=True)
class CollectiveCall:
    """One collective as issued on the wire.

    Attributes:
        op: ``"all_reduce"`` (mean) or ``"all_gather"``.
        size_bytes: bytes each worker contributes (for all-gather: its own part; the result is N times this).
        n_workers: workers taking part.
    """

    op: CollectiveOp
    size_bytes: int
    n_workers: int

    @property
    def ring_sent_bytes_per_worker(self) -> float:
        """Bytes one worker transmits with the ring algorithm: all-reduce 2(N-1)/N M, all-gather (N-1) M."""
        n = self.n_workers
        if n <= 1:
            return 0.0
        if self.op == "all_reduce":
            return 2.0 * (n - 1) / n * self.size_bytes
        return float((n - 1) * self.size_bytes)


@dataclass
class CompressResult:
    """What a compressor returns for one tensor on one worker.

    Attributes:
        aggregate: mean over workers of the compressed tensors, dense, shaped like the input (what the
            optimizer consumes).
        local: this worker's own compressed tensor C_i(x_i), dense, shaped like the input (what error
            feedback subtracts). mean_i(local_i) == aggregate (up to float rounding) for every compressor
            except PowerSGD with ``error_reference="aggregate"``, where local is the aggregate itself.
    """

    aggregate: torch.Tensor
    local: torch.Tensor


CompressGen = Generator[Request, torch.Tensor, CompressResult]


def bytes_as(raw: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A ``[N, nbytes]`` uint8 tensor (any strides, any offset into a gathered buffer) as ``[N, nbytes /
    itemsize]`` of ``dtype``, copied into fresh memory of that dtype (so alignment holds and empty parts work)."""
    out = torch.empty((raw.shape[0], raw.shape[1] // dtype.itemsize), dtype=dtype, device=raw.device)
    out.view(torch.uint8).copy_(raw)
    return out


# ------------------------------------------------------------------------------------------ shared randomness
@dataclass(frozen=True)
class CompressContext:
    """Where a compression call happens: the tensor's stable name, the iteration, the run seed.

    Every worker builds the same context for the same tensor and iteration, so `generator` gives every worker
    the same random draws (sketches, Rand-K indices, probes) without any communication.
    """

    name: str
    step: int
    seed: int = 0
    n_workers: int = 1

    def generator(self, purpose: str, device: torch.device | str | None = None) -> torch.Generator:
        """A fresh `torch.Generator` seeded from (seed, step, name, purpose); identical on every worker."""
        entropy = [
            int(self.seed) & 0xFFFFFFFF,
            (int(self.seed) >> 32) & 0xFFFFFFFF,
            int(self.step) & 0xFFFFFFFF,
            zlib.crc32(self.name.encode()),
            zlib.crc32(purpose.encode()),
        ]
        state = np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint32)
        seed63 = ((int(state[0]) << 32) | int(state[1])) & ((1 << 63) - 1)
        gen = torch.Generator(device=device if device is not None else "cpu")
        gen.manual_seed(seed63)
        return gen


# ----------------------------------------------------------------------------------------------- views
def matrix_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """The [n, m] matrix view of a tensor shape (rows = first dim); 1-D gives [d, 1], 0-D gives [1, 1]."""
    if len(shape) == 0:
        return 1, 1
    n = int(shape[0])
    m = math.prod(int(s) for s in shape[1:]) if len(shape) > 1 else 1
    return n, m


#: rules for the number of units kept at a ratio (see `keep_count`)
K_RULES: tuple[str, ...] = ("floor", "authors")

#: reasons a tensor is sent dense instead of compressed (see `Compressor.dense_reason`)
DENSE_REASONS: tuple[str, ...] = ("empty", "vector", "unprofitable")


def keep_count(ratio: float, total: int, rule: str = "floor") -> int:
    """Number of units kept at ``ratio`` out of ``total`` (0 if total is 0).

    ``"floor"``: max(1, floor(ratio * total + 1e-9)), so a product that float rounding puts just below an integer
    (0.29 * 100 = 28.999999999999996) still counts as that integer (29). ``"authors"``: max(1, int(ratio * total)),
    the ARC authors' hook (``cal_k`` of ``group_topk_hook_no_reshape.py``), which truncates it (28). The two differ
    only at such products, e.g. (ratio, total) = (0.29, 100), (0.58, 50), (0.7, 90), (0.35, 180).
    """
    if total <= 0:
        return 0
    if rule == "floor":
        k = int(math.floor(ratio * total + 1e-9))
    elif rule == "authors":
        k = int(ratio * total)
    else:
        raise ValueError(f"k_rule: expected one of {K_RULES}, got {rule!r}")
    return max(1, min(total, k))


def factor_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype matrix factorisations (PowerSGD's QR, GreedyLore's SVD) run in: float32 for bf16/fp16 (torch
    has no half-precision QR/SVD on the CPU), else ``dtype`` itself (so float32 results are unchanged)."""
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def dense_session(x: torch.Tensor) -> CompressGen:
    """Dense all-reduce as a one-phase session (warm-up steps, EF21 initialisation, 1-D tensors)."""
    mean = yield Request("all_reduce", x)
    return CompressResult(aggregate=mean.reshape(x.shape), local=x)


# -------------------------------------------------------------------------------------------- the contract
@dataclass
class Compressor(ABC):
    """Base class: subclasses implement `_compress` (the phases) and `_payload_rounds` (their sizes).

    The base handles the dense fallback (empty tensors; 1-D tensors and, with ``min_compression_rate > 0``,
    unprofitable shapes for matrix compressors) and counts it per tensor (`dense_fallbacks`), per-tensor state
    (``self._state[name]``, saved by `state_dict`) and `comm_plan`.

    Attributes (class level):
        name: registry key.
        matrix_view: True when the compressor works on the [n, m] view (see module docstring).
        default_error_feedback: the error-feedback wrapper the method is normally paired with.
    """

    name: ClassVar[str] = ""
    matrix_view: ClassVar[bool] = False
    default_error_feedback: ClassVar[str] = "none"

    _state: dict[str, dict[str, Any]] = field(default_factory=dict, init=False, repr=False, compare=False)

    # ---- what subclasses provide
    @abstractmethod
    def _compress(self, x: torch.Tensor, ctx: CompressContext) -> CompressGen:
        """Phases for one tensor: ``x`` is the flat tensor or the [n, m] view (see `matrix_view`)."""

    @abstractmethod
    def _payload_rounds(self, view_shape: tuple[int, ...], call_index: int, dtype: torch.dtype) -> list[PayloadSpec]:
        """The payloads `_compress` yields, one per phase, in order (``call_index`` counts earlier calls)."""

    def _compressed_numel(self, view_shape: tuple[int, ...]) -> int:
        """Elements sent per worker at a steady-state compressed call, every phase (for ``min_compression_rate``;
        GreedyLore's refresh calls excepted unless every call refreshes)."""
        return sum(p.numel for p in self._payload_rounds(view_shape, 1, torch.float32))

    def _sends_vectors_dense(self) -> bool:
        """True when 1-D (and 0-D) tensors go dense; matrix compressors that compress vectors override it."""
        return self.matrix_view

    # ---- public API
    def dense_reason(self, shape: tuple[int, ...]) -> str | None:
        """Why a tensor of this shape is sent dense (one of `DENSE_REASONS`), or None when it is compressed.

        ``"empty"``: no elements; ``"vector"``: a 1-D/0-D tensor for a matrix compressor; ``"unprofitable"``:
        compressed size * ``min_compression_rate`` >= dense size (only when that rate is > 0: ARC-Top-K and
        GreedyLore default to 0, PowerSGD to 1).
        """
        numel = math.prod(shape) if shape else 1
        if numel == 0:
            return "empty"
        if len(shape) < 2 and self._sends_vectors_dense():
            return "vector"
        rate = float(getattr(self, "min_compression_rate", 0.0))
        if rate > 0:
            if self._compressed_numel(self._view_shape(shape)) * rate >= numel:
                return "unprofitable"
        return None

    def error_rule(self, name: str, shape: tuple[int, ...]) -> str:
        """How EF14 treats its error at this call: ``"add"`` (compress g + e; every compressor but GreedyLore at
        a refresh step, see `methods.compress.greedylore.GreedyLore.refresh_error`), ``"zero"`` (send g, drop e)
        or ``"inherit"`` (send g, keep e)."""
        return "add"

    def uses_dense(self, shape: tuple[int, ...]) -> bool:
        """True when a tensor of this shape is sent dense (one all-reduce) instead of being compressed."""
        return self.dense_reason(tuple(shape)) is not None

    def compress(self, x: torch.Tensor, ctx: CompressContext) -> CompressGen:
        """Session for one tensor on one worker; drive it with `methods.compress.collectives.run_lockstep`.

        Returns (as the generator's return value) a `CompressResult` shaped like ``x``. A dense fallback is
        counted in ``ctx.name``'s state (see `dense_fallbacks`).
        """
        shape = tuple(x.shape)
        reason = self.dense_reason(shape)
        if reason is not None:
            self._count_dense(ctx.name, reason)
            return (yield from dense_session(x))
        view = x.reshape(self._view_shape(shape))
        result = yield from self._compress(view, ctx)
        self._bump_calls(ctx.name)
        return CompressResult(aggregate=result.aggregate.reshape(shape), local=result.local.reshape(shape))

    def payloads(self, shape: tuple[int, ...], *, call_index: int = 1, dtype: torch.dtype = torch.float32) -> list[PayloadSpec]:
        """Exact payload per phase of one compressed call on a tensor of ``shape`` (see `comm_plan`)."""
        shape = tuple(int(s) for s in shape)
        if self.uses_dense(shape):
            return [PayloadSpec("all_reduce", math.prod(shape) if shape else 1, dtype)]
        return self._payload_rounds(self._view_shape(shape), call_index, dtype)

    def comm_plan(
        self, shape: tuple[int, ...], n_workers: int, *, call_index: int = 1, dtype: torch.dtype = torch.float32
    ) -> list[CollectiveCall]:
        """Exact collectives of one call on one tensor (per worker contribution).

        Args:
            shape: the tensor's shape.
            n_workers: workers in the collective (needed for ring byte counts).
            call_index: how many compressed calls this tensor had before (GreedyLore refreshes when
                ``call_index % refresh_period == 0``); other compressors ignore it. Default: a steady-state step.
            dtype: dtype of the gradient values (indices are always int32).
        """
        if n_workers < 1:
            raise ValueError(f"n_workers: expected >= 1, got {n_workers}")
        return [CollectiveCall(p.op, p.size_bytes, n_workers) for p in self.payloads(shape, call_index=call_index, dtype=dtype)]

    def calls_made(self, name: str) -> int:
        """Compressed (non-dense) calls made so far for tensor ``name``."""
        return int(self._state.get(name, {}).get("calls", 0))

    def dense_fallbacks(self) -> dict[str, dict[str, Any]]:
        """Per tensor seen so far: ``{"calls": all calls, "dense": dense fallbacks, "reason": str | None}``.

        ``reason`` is the latest fallback's (`DENSE_REASONS`), None for a tensor compressed at every call
        (``dense`` 0). Calls made outside the compressor (dense warm-up steps, an EF21 dense initialisation)
        are not counted. Example: ``{"layers.0.qkv.weight": {"calls": 10, "dense": 10, "reason": "unprofitable"}}``.
        """
        out: dict[str, dict[str, Any]] = {}
        for name, st in self._state.items():
            dense = int(st.get("dense_calls", 0))
            out[name] = {"calls": int(st.get("calls", 0)) + dense, "dense": dense, "reason": st.get("dense_reason")}
        return out

    def state_dict(self) -> dict[str, Any]:
        """Per-tensor state (tensors cloned), loadable with `load_state_dict`."""
        return {"name": self.name, "tensors": {k: _clone_tree(v) for k, v in self._state.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("name") != self.name:
            raise ValueError(f"state_dict is for compressor {state.get('name')!r}, not {self.name!r}")
        self._state = {k: _clone_tree(v) for k, v in state["tensors"].items()}

    # ---- helpers for subclasses
    def _view_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if self.matrix_view:
            return matrix_shape(shape)
        return (math.prod(shape) if shape else 1,)

    def _tensor_state(self, name: str) -> dict[str, Any]:
        return self._state.setdefault(name, {})

    def _bump_calls(self, name: str) -> None:
        st = self._tensor_state(name)
        st["calls"] = int(st.get("calls", 0)) + 1

    def _count_dense(self, name: str, reason: str) -> None:
        st = self._tensor_state(name)
        st["dense_calls"] = int(st.get("dense_calls", 0)) + 1
        st["dense_reason"] = reason


def _clone_tree(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {k: _clone_tree(v) for k, v in value.items()}
    return value


def check_ratio(name: str, value: float) -> None:
    """Raise TypeError unless ``value`` is a number, ValueError unless 0 < value <= 1."""
    if not (0.0 < check_number(name, value) <= 1.0):
        raise ValueError(f"{name}: expected a fraction in (0, 1], got {value}")


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    """Raise ValueError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name}: expected one of {', '.join(repr(c) for c in choices)}, got {value!r}")


def check_min_compression_rate(name: str, value: float) -> None:
    """Raise TypeError unless ``value`` is a number, ValueError unless it is >= 0 (0 = always compress)."""
    if not check_number(name, value) >= 0:
        raise ValueError(f"{name}: expected >= 0 (0 = always compress), got {value}")


def check_positive_int(name: str, value: int) -> None:
    """Raise TypeError unless ``value`` is a number, ValueError unless it is an integer >= 1."""
    check_integer(name, value, 1)


# ------------------------------------------------------------------------------------------------ registry
COMPRESSORS: Registry[type[Compressor]] = Registry("compressor")


def register_compressor(cls: type[Compressor]) -> type[Compressor]:
    """Class decorator: add ``cls`` to `COMPRESSORS` under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    COMPRESSORS.add(cls.name, cls)
    return cls


def build_registered(what: str, name: str, cls: type, params: dict[str, Any]) -> Any:
    """``cls(**params)`` for the registry entry ``name`` (a dataclass): an unknown parameter raises ValueError
    listing the known ones, a flag given anything but true/false a TypeError (``"no"`` would otherwise be
    true); the class checks the values."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [key for key in params if key not in fields]
    if unknown:
        raise ValueError(f"{what} {name!r}: unknown parameter(s) {', '.join(map(repr, unknown))}; "
                         f"known parameters: {', '.join(fields) or '(none)'}")
    for key, value in params.items():
        if fields[key].type in (bool, "bool"):
            check_flag(f"{name}.{key}", value)
    return cls(**params)


def make_compressor(name: str, **params: Any) -> Compressor:
    """Build a registered compressor by name (``none``, ``topk``, ``randk``, ``arc_topk``, ``powersgd``,
    ``greedylore``); unknown names or parameters raise with the known ones listed."""
    load_compressors()
    try:
        cls = COMPRESSORS.get(name)
    except KeyError as exc:
        raise ValueError(str(exc.args[0])) from None
    return build_registered("compressor", name, cls, params)


def load_compressors() -> Registry[type[Compressor]]:
    """Import every compressor module (idempotent) and return the registry."""
    import importlib

    for module in ("none", "topk", "randk", "arc_topk", "powersgd", "greedylore"):
        importlib.import_module(f"methods.compress.{module}")
    return COMPRESSORS
