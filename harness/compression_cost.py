"""What gradient compression costs one rank per training step: compute primitives and collectives per tensor.

Used by the scenario kind ``compressed_dp_step`` (`harness.workloads.compressed_dp_step`). For each parameter
tensor and compressor (``methods.compress``: ``none``, ``topk``, ``randk``, ``arc_topk``, ``powersgd``,
``greedylore``) it lists

- the **collectives**: the compressor's own exact payloads (`Compressor.payloads`, the per-phase form of
  `Compressor.comm_plan`), so bytes here are the bytes the real compressor sends;
- the **compute primitives** around each phase (`OpWork`: a GEMM, an element-wise pass, a Top-K selection,
  a QR, an SVD, ...) with their FLOPs and bytes, modelled on what the authors' DDP hooks run on the GPU
  (research card sec. 1.2, 3 and 4): e.g. ARC-Top-K = Gaussian sketch GEMM -> [all-reduce] -> row scores +
  row Top-K + pack -> [all-reduce] -> unpack; Top-K = ``torch.topk`` + pack -> [all-gather] -> scatter-add.

A phase slot ``j`` holds the primitives run *before* phase ``j``'s collective; the last slot (index = number
of phases) holds what runs after the last collective. Error feedback adds element-wise passes (EF14: 2 fused
add/sub passes = 6 tensor reads/writes, EF21: 9, EF21M: 12, EF21-SGD2M: 15) split before and after.

Pricing (`OpPricer.time_ms`): a primitive is timed, in this order, by
1. a registered timed op of `kernels.ops` whose shape columns the primitive can fill (`CANDIDATE_OPS`: Top-K
   selection -> ``topk_flat``, ARC row packing -> ``arc_pack`` / ``arc_unpack``), replayed from the timing
   tables (exact -> interpolated -> that op's roofline);
2. the generic replayed ops ``matmul`` (GEMMs, e.g. ARC's n x m by m x r sketch) and ``copy`` (memory-bound
   passes, as the ``data_parallel_step`` kind times its element-wise work: B bytes = a copy of B / (2 * itemsize)
   elements);
3. otherwise a roofline estimate ``max(flops / peak, bytes / bandwidth)`` of the device from our FLOP/byte
   formula, labelled ``estimate`` in the run's info (Top-K selection, randperm, QR, SVD, random draws).

Our choices where the papers are silent (all labelled as estimates, optimistic by construction):
``torch.topk`` over d values is a radix select of 4 passes over 32-bit keys (8-bit digits), each reading the d
values in their own dtype (bf16/fp16 values too), plus the k outputs;
``randperm(d)`` (Rand-K's shared index draw) is a radix sort of (4-byte key, 8-byte index) pairs, 4 passes
read+write; reduced QR of n x r costs 4 n r^2 FLOPs; the thin SVD of p x q (p <= q) costs 4 p^2 q + 22 p^3
FLOPs (Golub & Van Loan's R-SVD count). Real SVD/QR/selection kernels run far below peak, so where no table
exists these estimates are lower bounds.

Example::

    >>> from methods.compress import make_compressor
    >>> work = tensor_work(make_compressor("arc_topk", ratio=0.2, rank=4), (768, 768), n_workers=4)
    >>> [p.size_bytes for p in work.payloads], [o.primitive for o in work.slots[0]]
    ([12288, 470016], ['randn', 'gemm'])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from harness.errors import HarnessError
from harness.models.llama import LlamaDims, layer_work

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
INDEX_BYTES = 4  # int32 indices on the wire (Top-K)
PERM_INDEX_BYTES = 8  # torch.randperm's int64 indices (Rand-K's shared draw, never sent)
SORT_PASSES = 4  # radix passes over 32-bit keys with 8-bit digits
EF_PASSES: dict[str, tuple[int, int]] = {  # element-wise tensor passes (before, after) the compressor
    "none": (0, 0),
    "ef14": (3, 3),  # h = g + e ; e = h - c
    "ef21": (3, 6),  # d = g - g_i ; g_i += c ; g += mean c
    "ef21m": (6, 6),  # v = (1-eta) v + eta g ; d = v - g_i ; g_i += c ; g += mean c
    "ef21_sgd2m": (9, 6),  # v, u momenta ; d = u - g_i ; g_i += c ; g += mean c
}


# --------------------------------------------------------------------------------------------- the model's tensors
@dataclass(frozen=True)
class ParamTensor:
    """One parameter tensor: the layer it belongs to (index into `harness.models.llama.layer_work`)."""

    layer: int
    name: str
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


def llama_param_tensors(dims: LlamaDims) -> list[ParamTensor]:
    """Every trainable tensor of a LLaMA-shaped model, torch layout ``[out, in]``, layer by layer.

    Layers match `harness.models.llama.layer_work`: ``embed`` (0), ``block.i`` (1..L), ``head`` (L+1, holding
    the final RMSNorm and the untied LM head). Their element counts add up to each layer's ``n_params``.
    """
    d, f, v = dims.d_model, dims.d_ff, dims.vocab_size
    tensors = [ParamTensor(0, "embed_tokens.weight", (v, d))]
    for i in range(dims.n_layers):
        block = [("q_proj", (d, d)), ("k_proj", (d, d)), ("v_proj", (d, d)), ("o_proj", (d, d)),
                 ("gate_proj", (f, d)), ("up_proj", (f, d)), ("down_proj", (d, f)),
                 ("input_layernorm", (d,)), ("post_attention_layernorm", (d,))]
        tensors += [ParamTensor(i + 1, f"layers.{i}.{name}.weight", shape) for name, shape in block]
    tensors += [ParamTensor(dims.n_layers + 1, "norm.weight", (d,)), ParamTensor(dims.n_layers + 1, "lm_head.weight", (v, d))]
    return tensors


def check_tensors_match_layers(dims: LlamaDims, tensors: list[ParamTensor]) -> None:
    """Raise ValueError if the tensors' element counts differ from `layer_work`'s per-layer parameters."""
    layers = layer_work(dims, 1, 1)
    for index, layer in enumerate(layers):
        numel = sum(t.numel for t in tensors if t.layer == index)
        if numel != layer.n_params:
            raise ValueError(f"layer {layer.name}: tensors hold {numel} parameters, layer_work says {layer.n_params}")


# --------------------------------------------------------------------------------------------------- primitives
@dataclass(frozen=True)
class OpWork:
    """One compute primitive on one tensor.

    Attributes:
        primitive: ``gemm``, ``elementwise``, ``topk_select``, ``randperm``, ``randn``, ``qr``, ``svd``.
        shape: the primitive's sizes by name (``m, n, k`` for a GEMM; ``numel`` and ``k`` for a selection ...).
        flops: floating-point operations.
        bytes_moved: bytes read + written (minimal, each operand once).
        dtype: the dtype it runs in when that is not the gradient's (None): factorisations of bf16/fp16 gradients
            run in float32 (`methods.compress.base.factor_dtype`), ARC-Top-K selects rows by float32 scores.
    """

    primitive: str
    shape: tuple[tuple[str, int], ...]
    flops: float
    bytes_moved: float
    dtype: str | None = None

    @property
    def sizes(self) -> dict[str, int]:
        return dict(self.shape)


def _op(primitive: str, flops: float, bytes_moved: float, dtype: str | None = None, **sizes: int) -> OpWork:
    shape = tuple(sorted((k, int(v)) for k, v in sizes.items()))
    return OpWork(primitive, shape, float(flops), float(bytes_moved), dtype)


def _factor_dtype(b: int) -> tuple[int, str | None]:
    """(itemsize, dtype) a matrix factorisation of a ``b``-byte gradient runs in: float32 for 2-byte gradients
    (`methods.compress.base.factor_dtype`), else the gradient's own (None)."""
    return (4, "float32") if b < 4 else (b, None)


def gemm(m: int, n: int, k: int, b: int) -> OpWork:
    """(m x k) @ (k x n)."""
    return _op("gemm", 2.0 * m * n * k, b * (m * k + k * n + m * n), m=m, n=n, k=k)


def elementwise(numel: int, passes: float, b: int) -> OpWork:
    """``passes`` reads/writes of ``numel`` elements (a fused a + b -> c is 3 passes)."""
    return _op("elementwise", 0.0, passes * numel * b, numel=numel)


def traffic(bytes_moved: float) -> OpWork:
    """A memory-bound pass given by its bytes (gathers, scatters, index packing)."""
    return _op("elementwise", 0.0, bytes_moved, numel=max(1, math.ceil(bytes_moved)))


def pack_rows(rows: int, cols: int, k: int, b: int) -> OpWork:
    """Gather k of ``rows`` rows (``cols`` wide) into one contiguous buffer."""
    return _op("pack_rows", 0.0, 2 * k * cols * b + 8 * k, rows=rows, cols=cols, k=k)


def unpack_rows(rows: int, cols: int, k: int, b: int) -> OpWork:
    """Scatter k packed rows into a zeroed ``rows`` x ``cols`` matrix."""
    return _op("unpack_rows", 0.0, (rows * cols + k * cols) * b + 8 * k, rows=rows, cols=cols, k=k)


def topk_select(numel: int, k: int, b: int, dtype: str | None = None) -> OpWork:
    """``torch.topk`` of ``numel`` values: radix select (SORT_PASSES reads) + k values and int64 indices out
    (``dtype``: the values' when it is not the gradient's, e.g. ARC-Top-K's float32 row scores)."""
    return _op("topk_select", 0.0, SORT_PASSES * numel * b + k * (b + 8), dtype, numel=numel, k=k)


def randperm(numel: int) -> OpWork:
    """``torch.randperm(numel)``: radix sort of (4-byte key, 8-byte index) pairs, read + write per pass."""
    return _op("randperm", 0.0, SORT_PASSES * 2 * 12 * numel, numel=numel)


def randn(numel: int, b: int) -> OpWork:
    """A shared Gaussian draw of ``numel`` values (write only)."""
    return _op("randn", float(numel), numel * b, numel=numel)


def qr(n: int, r: int, b: int) -> OpWork:
    """Reduced QR of n x r with the Q factor formed: ~4 n r^2 FLOPs (in float32 for a 2-byte gradient)."""
    b, dtype = _factor_dtype(b)
    return _op("qr", 4.0 * n * r * r, 2 * n * r * b, dtype, n=n, r=r)


def svd(p: int, q: int, b: int) -> OpWork:
    """Thin SVD of p x q (p <= q) with the p x p left factor: 4 p^2 q + 22 p^3 FLOPs (in float32 for a 2-byte
    gradient)."""
    b, dtype = _factor_dtype(b)
    return _op("svd", 4.0 * p * p * q + 22.0 * p**3, (p * q + p * p + p) * b, dtype, p=p, q=q)


# ------------------------------------------------------------------------------------- per-compressor work
@dataclass(frozen=True)
class TensorWork:
    """One tensor's compression in one step: per-phase payloads and the primitives around them.

    ``slots[j]`` runs before phase j's collective (``j < len(payloads)``); ``slots[-1]`` after the last one.
    """

    payloads: tuple[Any, ...]  # methods.compress.PayloadSpec
    slots: tuple[tuple[OpWork, ...], ...]
    dense: bool


CostModel = Callable[[Any, tuple[int, int], int, int, int], list[list[OpWork]]]
COST_MODELS: dict[str, CostModel] = {}


def _cost_model(name: str) -> Callable[[CostModel], CostModel]:
    def decorate(fn: CostModel) -> CostModel:
        COST_MODELS[name] = fn
        return fn

    return decorate


def _keep(ratio: float, total: int) -> int:
    from methods.compress.base import keep_count

    return keep_count(ratio, total)


@_cost_model("none")
def _none_ops(comp, view, n_workers, call_index, b) -> list[list[OpWork]]:
    return [[], []]


@_cost_model("topk")
def _topk_ops(comp, view, n_workers, call_index, b) -> list[list[OpWork]]:
    if comp.rows:
        n, m = view
        k = _keep(comp.ratio, n)
        select = [elementwise(n * m, 1, b), topk_select(n, k, b), pack_rows(n, m, k, b)]
        sent_numel = n_workers * k * m
        d = n * m
    else:
        d = view[0]
        k = _keep(comp.ratio, d)
        select = [topk_select(d, k, b), traffic(k * (2 * b + INDEX_BYTES))]
        sent_numel = n_workers * k
    # scatter-add the N gathered (value, index) sets into zeros, divide by N; local copy for error feedback
    merge = [traffic(d * b + sent_numel * (3 * b + INDEX_BYTES) + 2 * d * b), traffic(d * b + 2 * (sent_numel // n_workers) * b)]
    return [select, merge]


@_cost_model("randk")
def _randk_ops(comp, view, n_workers, call_index, b) -> list[list[OpWork]]:
    total = view[0]
    width = view[1] if comp.rows else 1
    k = _keep(comp.ratio, total)
    scale = [elementwise(k * width, 2, b)] * 2 if comp.scaled else []  # d/k times the aggregate and the local copy
    if comp.rows:
        return [[randperm(total), pack_rows(total, width, k, b)], [unpack_rows(total, width, k, b)] * 2 + scale]
    # the first k of the shared permutation (int64) pick the values; the same indices place them back
    draw = [randperm(total), traffic(2 * k * b + PERM_INDEX_BYTES * k)]
    unpack = [traffic(total * b + 2 * k * b + PERM_INDEX_BYTES * k)] * 2
    return [draw, unpack + scale]


@_cost_model("arc_topk")
def _arc_ops(comp, view, n_workers, call_index, b) -> list[list[OpWork]]:
    from methods.compress.arc_topk import SKETCH_DTYPE

    n, m = view if len(view) == 2 else (view[0], 1)  # vectors="topk_of_mean": a vector is [d, 1], sketched exactly
    k = comp._k(n)  # the compressor's own K rule
    fp32 = SKETCH_DTYPE.itemsize  # V, the Gaussian sketch and the row scores are fp32 whatever the gradient dtype
    if comp.exact_sketch or len(view) == 1:
        sketch, width, sketch_b = [elementwise(n * m, 2, b)], m, b  # the sketch is the gradient itself
    else:
        sketch, width, sketch_b = [randn(m * comp.rank, fp32), gemm(n, comp.rank, m, b)], comp.rank, fp32
    scores = topk_select(n, k, fp32, "float32")
    select = [elementwise(n * width, 1, sketch_b), scores, pack_rows(n, m, k, b)]  # scores, rows, pack
    unpack = [unpack_rows(n, m, k, b), unpack_rows(n, m, k, b)]  # aggregate and local
    return [sketch, select, unpack]


@_cost_model("powersgd")
def _powersgd_ops(comp, view, n_workers, call_index, b) -> list[list[OpWork]]:
    n, m = view
    r = min(comp.rank, n, m)
    fresh_q = [] if comp.warm_start else [randn(m * r, b), qr(m, r, b)]  # no warm start: a new orthonormal Q
    decode = [gemm(n, m, r, b)] * (1 if comp.error_reference == "aggregate" else 2)  # P Q^T; "local": P Q_i^T too
    return [fresh_q + [gemm(n, r, m, b)], [qr(n, r, b), gemm(m, r, n, b)], decode]


@_cost_model("greedylore")
def _greedylore_ops(comp, view, n_workers, call_index, b) -> list[list[OpWork]]:
    p, q = min(view), max(view)
    r = min(comp.rank, p)
    if call_index % comp.refresh_period == 0:
        return [[], [svd(p, q, b)]]  # dense all-reduce, then the basis refresh
    project = [gemm(r, q, p, b)]
    reconstruct = [gemm(p, q, r, b), gemm(p, q, r, b)]  # aggregate and local
    if comp.selection == "greedy":
        if comp.exact_scores:
            score = [gemm(p, q, p, b)]
            pick = [elementwise(p * q, 1, b), topk_select(p, r, b), traffic(2 * p * r * b)]
        else:
            score = [gemm(p, q, p, b), randn(p * q, b), elementwise(p * q, 2, b)]
            pick = [elementwise(p, 2, b), topk_select(p, r, b), traffic(2 * p * r * b)]
        return [score, pick + project, reconstruct]
    pick = [randperm(p)] if comp.selection == "random" else []
    return [pick + [traffic(2 * p * r * b)] + project, reconstruct]


def view_shape(compressor: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The view a compressor works on (its own rule): [n, m] for matrix compressors, else the flat length."""
    return tuple(compressor._view_shape(tuple(shape)))


def tensor_work(
    compressor: Any,
    shape: tuple[int, ...],
    n_workers: int,
    *,
    call_index: int = 1,
    dtype: str = "float32",
    error_feedback: str = "none",
) -> TensorWork:
    """Payloads (exactly `compressor.payloads`) and compute primitives of one compressed call on ``shape``.

    Args:
        compressor: a `methods.compress.Compressor` (its registry name selects the cost model).
        shape: the tensor's shape.
        n_workers: ranks in the collectives.
        call_index: compressed calls this tensor had before (GreedyLore refreshes when it is a multiple of tau).
        dtype: gradient dtype name (``float32``, ``bfloat16``, ``float16``).
        error_feedback: wrapper name; adds its element-wise passes (``none``, ``ef14``, ``ef21``, ``ef21m``,
            ``ef21_sgd2m``).
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype: expected one of {', '.join(DTYPES)}, got {dtype!r}")
    if error_feedback not in EF_PASSES:
        raise ValueError(f"error_feedback: expected one of {', '.join(EF_PASSES)}, got {error_feedback!r}")
    model = COST_MODELS.get(compressor.name)
    if model is None:
        raise HarnessError(f"no compression cost model for compressor {compressor.name!r}; known: {', '.join(COST_MODELS)}")
    shape = tuple(int(s) for s in shape)
    torch_dtype = DTYPES[dtype]
    b = torch.empty((), dtype=torch_dtype).element_size()
    payloads = tuple(compressor.payloads(shape, call_index=call_index, dtype=torch_dtype))
    dense = compressor.uses_dense(shape)
    if dense or compressor.name == "none":
        slots: list[list[OpWork]] = [[] for _ in range(len(payloads) + 1)]
    else:
        slots = model(compressor, view_shape(compressor, shape), n_workers, call_index, b)
        if len(slots) != len(payloads) + 1:
            raise AssertionError(  # a bug in this module, not user input
                f"cost model {compressor.name!r} gives {len(slots)} slots for {len(payloads)} phases on {shape}"
            )
    before, after = EF_PASSES[error_feedback]
    numel = math.prod(shape) if shape else 1
    if before and compressor.name != "none":
        slots[0] = [elementwise(numel, before, b), *slots[0]]
    if after and compressor.name != "none":
        slots[-1] = [*slots[-1], elementwise(numel, after, b)]
    return TensorWork(payloads, tuple(tuple(s) for s in slots), dense)


# ------------------------------------------------------------------------------------------------------ pricing
#: registered timed ops tried first for a primitive (when their shape columns can be filled)
CANDIDATE_OPS: dict[str, tuple[str, ...]] = {
    "topk_select": ("topk_flat",),  # kernels.arc_select: flat torch.topk
    "pack_rows": ("arc_pack",),  # kernels.arc_select: ARC row packing
    "unpack_rows": ("arc_unpack",),
    "randperm": ("randperm",),
    "qr": ("qr",),
    "svd": ("svd",),
    "randn": ("randn",),
}
#: primitives without a fitting timed op that are memory-bound: timed as a copy of the same bytes
MEMORY_BOUND = ("elementwise", "pack_rows", "unpack_rows")


@dataclass
class OpPricer:
    """Times `OpWork` with a `harness.timing.replay.TimingReplay`; caches and counts sources.

    ``sources[primitive][label]`` counts predictions, labels being ``<op>:<exact|interpolated|roofline>`` for
    replayed ops and ``estimate:roofline`` for the FLOP/byte estimates of this module. ``overhead_ms`` is added to
    every primitive (launch and dispatch cost, which neither the roofline nor a per-kernel table row carries).
    """

    replay: Any
    dtype: str = "float32"
    overhead_ms: float = 0.0
    sources: dict[str, dict[str, int]] = field(default_factory=dict)
    _cache: dict[OpWork, tuple[float, str]] = field(default_factory=dict)

    def _registered(self) -> Mapping[str, Any]:
        from kernels.ops import load_all_ops

        return load_all_ops()

    def _count(self, primitive: str, label: str) -> None:
        per = self.sources.setdefault(primitive, {})
        per[label] = per.get(label, 0) + 1

    def time_ms(self, op: OpWork) -> float:
        """Predicted time of ``op`` in milliseconds (counted in `sources`)."""
        hit = self._cache.get(op)
        if hit is None:
            hit = self._cache[op] = self._price(op)
        self._count(op.primitive, hit[1])
        return hit[0] + self.overhead_ms

    def _price(self, op: OpWork) -> tuple[float, str]:
        registry = self._registered()
        sizes = op.sizes
        for name in CANDIDATE_OPS.get(op.primitive, ()):
            if name in registry and set(registry.get(name).shape_columns) <= set(sizes):
                shape = {c: sizes[c] for c in registry.get(name).shape_columns}
                pred = self.replay.predict(name, dtype=op.dtype or self.dtype, **shape)
                return pred.time_ms, f"{name}:{pred.source}"
        b = DTYPES[self.dtype].itemsize
        if op.primitive == "gemm":
            pred = self.replay.predict("matmul", dtype=self.dtype, m=sizes["m"], n=sizes["n"], k=sizes["k"])
            return pred.time_ms, f"matmul:{pred.source}"
        if op.primitive in MEMORY_BOUND:
            copy_numel = max(1, math.ceil(op.bytes_moved / (2 * b)))
            pred = self.replay.predict("copy", dtype=self.dtype, numel=copy_numel)
            return pred.time_ms, f"copy:{pred.source}"
        dtype = op.dtype or self.dtype
        return self.replay.device.roofline_time_ms(op.flops, op.bytes_moved, dtype), "estimate:roofline"
