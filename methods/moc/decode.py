"""MoC decoding on a CPU: one token's dense SwiGLU GEMVs vs Mixture-of-Channels' gather-GEMVs, timed side by side.

Follows the decode path of MoC (Wu, He, Wang, Yuan, arXiv 2511.09323; research card A2 "partial weight loading"):
the gate GEMV runs in full (the gate ranks the channels), then only the K chosen rows of W_u and of W_d^T are read:
``y = W_d[:, I] (SiLU(g_I) * (W_u[I] x))``. FFN weight bytes fall from 3 d E to d E + 2 d K (ratio
1/3 + 2K/(3E)), an upper bound on the FFN speedup of a memory-bound decode.

CPU implementation: `kernels.moc.moc_decode_torch`, the torch path `kernels.moc.moc_decode` (and so `MoCMLP`'s
decode) takes on a CPU (torch ops, no custom kernel): ``torch.topk`` of the gate (ties at the cut to the lowest
channel index), ``index_select`` of the K rows of W_u followed by a GEMV, and ``embedding_bag`` (a weighted sum of
the K rows of W_d^T, no copy) for the down projection; bf16 rows are widened to fp32 in blocks, as the kernels
accumulate in fp32. It computes what `kernels.moc.moc_decode_ref` computes (tested). The attention half of the
block (q, k, v, o projections and attention over a KV cache) is timed too, so a block-level speedup can be formed.

Timing (`methods.moc.timing`): every implementation is called once per round, in the same order, ``repeats``
rounds after ``warmup`` rounds, each round on another token (so the chosen channels change); the per-call times'
median and 10th / 90th percentiles are reported.

Example::

    >>> import torch
    >>> w = make_layer(d_model=16, d_ff=40, n_heads=2, context=8, dtype=torch.float64, seed=0)
    >>> x = torch.randn(16, dtype=torch.float64)
    >>> bool(torch.allclose(moc_decode_cpu(x, w.w_gate, w.w_up, w.w_down_t, k=40),
    ...                     dense_decode(x, w.w_gate, w.w_up, w.w_down)))
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from kernels.moc import moc_decode_torch
from methods.moc.timing import summary, time_interleaved


@dataclass(frozen=True)
class DecodeLayer:
    """One decoder layer's weights for decoding one token, plus a KV cache of ``context`` earlier tokens.

    FFN: ``w_gate``, ``w_up``, ``w_down_t`` are ``[E, d]`` (one channel = one contiguous row), ``w_down`` is the
    dense layout ``[d, E]`` the dense GEMV reads. Attention: ``w_qkv`` ``[3d, d]``, ``w_o`` ``[d, d]``, caches
    ``[heads, context, head_dim]``.
    """

    w_gate: torch.Tensor
    w_up: torch.Tensor
    w_down_t: torch.Tensor
    w_down: torch.Tensor
    w_qkv: torch.Tensor
    w_o: torch.Tensor
    k_cache: torch.Tensor
    v_cache: torch.Tensor

    @property
    def d_model(self) -> int:
        return self.w_gate.shape[1]

    @property
    def d_ff(self) -> int:
        return self.w_gate.shape[0]


def make_layer(d_model: int, d_ff: int, n_heads: int, context: int, dtype: torch.dtype, seed: int) -> DecodeLayer:
    """Random weights (std 1/sqrt(fan-in)) and a random KV cache, seeded."""
    if d_model % n_heads:
        raise ValueError(f"d_model={d_model} must split into n_heads={n_heads} heads")
    gen = torch.Generator().manual_seed(int(seed))

    def draw(*size: int, fan_in: int) -> torch.Tensor:
        return (torch.randn(*size, generator=gen) * fan_in**-0.5).to(dtype)

    w_down_t = draw(d_ff, d_model, fan_in=d_ff)
    head_dim = d_model // n_heads
    return DecodeLayer(
        w_gate=draw(d_ff, d_model, fan_in=d_model), w_up=draw(d_ff, d_model, fan_in=d_model), w_down_t=w_down_t,
        w_down=w_down_t.T.contiguous(), w_qkv=draw(3 * d_model, d_model, fan_in=d_model),
        w_o=draw(d_model, d_model, fan_in=d_model), k_cache=draw(n_heads, context, head_dim, fan_in=1),
        v_cache=draw(n_heads, context, head_dim, fan_in=1))


def dense_decode(x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down: torch.Tensor) -> torch.Tensor:
    """Dense SwiGLU of one token ``x`` ``[d]``: three GEMVs over all of W_g, W_u and W_d (``[d, E]``)."""
    return w_down @ (F.silu(w_gate @ x) * (w_up @ x))


def moc_decode_cpu(x: torch.Tensor, w_gate: torch.Tensor, w_up: torch.Tensor, w_down_t: torch.Tensor,
                   k: int) -> torch.Tensor:
    """MoC SwiGLU of one token: full gate GEMV, Top-K of the raw gate, gather-GEMVs over the K chosen channels
    (`kernels.moc.moc_decode_torch`, the code `moc_decode` runs on a CPU)."""
    return moc_decode_torch(x, w_gate, w_up, w_down_t, k)


def attention_decode(x: torch.Tensor, layer: DecodeLayer) -> torch.Tensor:
    """The attention half for one token: q, k, v, o projections and softmax attention over the KV cache."""
    heads, _, head_dim = layer.k_cache.shape
    q, _k, _v = (layer.w_qkv @ x).view(3, heads, head_dim)  # the new k, v would be appended to the cache
    scores = torch.einsum("hd,htd->ht", q, layer.k_cache) / head_dim**0.5
    out = torch.einsum("ht,htd->hd", torch.softmax(scores, dim=-1), layer.v_cache)
    return layer.w_o @ out.reshape(-1)


def ffn_weight_bytes(d_model: int, d_ff: int, k: int | None, element_bytes: int) -> int:
    """FFN weight bytes one decode token must read: 3 d E dense (``k=None``), d E + 2 d K for MoC."""
    rows = 3 * d_ff if k is None else d_ff + 2 * k
    return rows * d_model * element_bytes


def decode_sweep(layer: DecodeLayer, ks: Sequence[int], repeats: int, warmup: int = 1,
                 seed: int = 0) -> list[dict[str, float | int | str]]:
    """Time the attention half, dense SwiGLU and MoC at every ``k`` in ``ks`` side by side on one token per round.

    Returns one row per timed call: ``part`` ("attention" / "ffn"), ``impl`` ("dense" / "moc"), ``k`` (0 for
    dense and attention), the time statistics, ``n_reps`` and the FFN's ``weight_bytes`` (0 for attention).
    """
    gen = torch.Generator().manual_seed(int(seed))
    tokens = torch.randn(warmup + repeats, layer.d_model, generator=gen).to(layer.w_gate.dtype)
    calls: dict[str, Callable[[int], object]] = {
        "attention": lambda i: attention_decode(tokens[i], layer),
        "dense": lambda i: dense_decode(tokens[i], layer.w_gate, layer.w_up, layer.w_down),
    }
    for k in ks:
        calls[f"moc{k}"] = lambda i, k=k: moc_decode_cpu(tokens[i], layer.w_gate, layer.w_up, layer.w_down_t, k)
    with torch.no_grad():
        times = time_interleaved(calls, repeats, warmup)
    element = layer.w_gate.element_size()
    rows: list[dict[str, float | int | str]] = [
        {"part": "attention", "impl": "dense", "k": 0, **summary(times["attention"]), "n_reps": repeats,
         "weight_bytes": 0},
        {"part": "ffn", "impl": "dense", "k": 0, **summary(times["dense"]), "n_reps": repeats,
         "weight_bytes": ffn_weight_bytes(layer.d_model, layer.d_ff, None, element)},
    ]
    for k in ks:
        rows.append({"part": "ffn", "impl": "moc", "k": int(k), **summary(times[f"moc{k}"]), "n_reps": repeats,
                     "weight_bytes": ffn_weight_bytes(layer.d_model, layer.d_ff, int(k), element)})
    return rows
