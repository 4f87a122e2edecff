"""Chelsea's Chunked Soft Matching on plain tensors (arXiv 2506.11418, "Efficient Long-Context LLM Inference via
KV Cache Clustering"; reconstructed from the paper's summary and ToMe's bipartite soft matching, Bolya et al. 2023).

A cache of one layer is ``keys``/``values`` of shape (batch, kv_heads, length, head_dim) plus ``counts`` of shape
(batch, kv_heads, length): how many original tokens each entry stands for (1 for a token never merged, 0 for a
padding slot). One pass, per (batch, kv head), independently:

1. protected regions: the first ``sink_tokens`` and the last ``recent_tokens`` entries are never touched
   (paper defaults 16 and 64);
2. the middle is cut into consecutive chunks of ``chunk_size`` entries (paper default 256);
3. inside a chunk, entries at even offsets form set A and those at odd offsets set B (ToMe's alternating split);
4. each A entry proposes one edge to its most cosine-similar B entry of the same chunk;
5. the edges of all chunks of the head are pooled and the ``r`` most similar kept (global top-r);
6. each kept edge folds its A entry into its B entry: count-weighted centroid of keys and values, counts summed;
   absorbed A entries are removed and the survivors keep their order.

`compress_to_budget` repeats passes with ``r = min(length - target, edges available)`` until the cache holds at
most ``target`` entries (our choice for the paper's r_init/alpha/m schedule, which is not recoverable).
`budget_tokens` and `should_compress` are the online rule: budget B = R * (prompt + max decode), compress back to
B whenever the cache exceeds B + g. `compress_layer` leaves outlier heads uncompressed (paper: about 4% of heads,
found offline), padding the other heads with count-0 slots so one layer stays one rectangular tensor.

Keys are the cached (post-RoPE) keys, as the paper's similarity observations measure them.

>>> import torch
>>> k = torch.randn(1, 2, 40, 8); v = torch.randn(1, 2, 40, 8); n = torch.ones(1, 2, 40)
>>> p = ChelseaParams(sink_tokens=4, recent_tokens=8, chunk_size=16)
>>> k2, v2, n2 = compress_to_budget(k, v, n, target=20, params=p)
>>> tuple(k2.shape), float(n2.sum())
((1, 2, 20, 8), 80.0)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass

import torch

Tensor = torch.Tensor


@dataclass(frozen=True)
class ChelseaParams:
    """Protected windows and chunk size of Chunked Soft Matching (paper defaults: 16 sinks, 64 recent, c = 256)."""

    sink_tokens: int = 16
    recent_tokens: int = 64
    chunk_size: int = 256

    def __post_init__(self) -> None:
        for name in ("sink_tokens", "recent_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        c = self.chunk_size
        if isinstance(c, bool) or not isinstance(c, int) or c < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {c!r}")

    @property
    def protected(self) -> int:
        return self.sink_tokens + self.recent_tokens

    def check_context(self, context_tokens: int) -> None:
        """Refuse protected windows longer than the context (before anything is computed)."""
        if self.protected > context_tokens:
            raise ValueError(
                f"sink_tokens + recent_tokens = {self.sink_tokens} + {self.recent_tokens} is larger than the "
                f"context ({context_tokens} tokens); lower recent_tokens or sink_tokens"
            )


def windows_problem(sink: int, recent: int, shortest: int, context_key: str,
                    defaults: tuple[int, int] = (16, 64)) -> str | None:
    """A configuration's message for protected windows longer than its shortest context, or None when they fit.

    The message starts with the key to blame (``<key>: ...``): the context's ``context_key`` when it cannot hold
    even the default windows (``defaults``: sink, recent), else the window raised further above its default
    (recent on a tie): a short context is the usual culprit, a long one means the windows were raised.
    """
    if sink + recent <= shortest:
        return None
    windows = f"sink_tokens + recent_tokens = {sink} + {recent} = {sink + recent}"
    if shortest < sum(defaults):
        return (f"{context_key}: the shortest context ({shortest} tokens) is shorter than {windows} protected "
                f"tokens; lengthen {context_key} or lower sink_tokens / recent_tokens")
    key = "sink_tokens" if sink - defaults[0] > recent - defaults[1] else "recent_tokens"
    return (f"{key}: {windows} protected tokens is larger than the shortest context ({context_key}: {shortest} "
            f"tokens); lower recent_tokens or sink_tokens, or lengthen {context_key}")


def check_budget(budget: float) -> float:
    """The cache ratio R must lie in (0, 1]."""
    if isinstance(budget, bool) or not isinstance(budget, numbers.Real) or not 0.0 < float(budget) <= 1.0:
        raise ValueError(f"budget must be a number in (0, 1], got {budget!r}")
    return float(budget)


def budget_tokens(budget: float, prompt_tokens: int, max_decode_tokens: int = 0) -> int:
    """B = R * (n + Gamma) entries per (layer, kv head), at least one (paper's budget rule)."""
    check_budget(budget)
    if max_decode_tokens < 0:
        raise ValueError(f"max_decode_tokens must be >= 0, got {max_decode_tokens}")
    return max(1, math.floor(budget * (prompt_tokens + max_decode_tokens)))


def should_compress(length: int, budget: int, buffer_tokens: int) -> bool:
    """Online trigger: compress when the cache holds more than B + g entries."""
    return length > budget + buffer_tokens


def _chunk_bounds(middle: int, chunk_size: int) -> list[tuple[int, int]]:
    return [(s, min(s + chunk_size, middle)) for s in range(0, middle, chunk_size)]


def edges_available(length: int, params: ChelseaParams) -> int:
    """How many entries one pass can remove: the A entries of every chunk that has at least one B entry.

    A closed form over the chunks (``middle // c`` full ones of ceil(c / 2) A entries each, then the remainder), so
    a simulated cost model may ask about any length without building a list of its chunks."""
    middle = max(0, length - params.protected)
    full, rest = divmod(middle, params.chunk_size)

    def a_entries(size: int) -> int:
        return (size + 1) // 2 if size >= 2 else 0

    return full * a_entries(params.chunk_size) + a_entries(rest)


def match_edges(keys: Tensor, r: int, params: ChelseaParams) -> tuple[Tensor, Tensor, Tensor]:
    """The ``r`` kept edges of one pass for every head: (src, dst, similarity), each (heads, r).

    ``keys`` is (heads, length, head_dim); ``src`` are absorbed A positions, ``dst`` their B anchors (cache
    positions, both inside the same chunk of the middle part).
    """
    heads, length, _ = keys.shape
    start = params.sink_tokens
    middle = keys[:, start : length - params.recent_tokens].float()
    unit = torch.nn.functional.normalize(middle, dim=-1)
    a_pos, b_pos, sims = [], [], []
    for lo, hi in _chunk_bounds(middle.shape[1], params.chunk_size):
        if hi - lo < 2:
            continue
        a_idx = torch.arange(lo, hi, 2, device=keys.device)
        b_idx = torch.arange(lo + 1, hi, 2, device=keys.device)
        score = unit[:, a_idx] @ unit[:, b_idx].transpose(1, 2)  # (heads, |A|, |B|)
        best, arg = score.max(dim=-1)
        a_pos.append(a_idx.expand(heads, -1))
        b_pos.append(b_idx[arg])
        sims.append(best)
    if not sims:
        empty = torch.empty(heads, 0, dtype=torch.long, device=keys.device)
        return empty, empty, torch.empty(heads, 0, device=keys.device)
    a_all, b_all, w_all = torch.cat(a_pos, 1), torch.cat(b_pos, 1), torch.cat(sims, 1)
    r = min(r, w_all.shape[1])
    top = w_all.topk(r, dim=-1, sorted=False).indices
    return a_all.gather(1, top) + start, b_all.gather(1, top) + start, w_all.gather(1, top)


def merge_edges(keys: Tensor, values: Tensor, counts: Tensor, src: Tensor, dst: Tensor) -> tuple[Tensor, ...]:
    """Fold every ``src`` entry into its ``dst`` entry (count-weighted centroids), drop the sources.

    Shapes: keys/values (heads, length, d), counts (heads, length), src/dst (heads, r) with distinct ``src`` per
    head and no ``src`` among the ``dst``. Entries that are no anchor keep their exact values.
    """
    heads, length, dim = keys.shape
    r = src.shape[1]
    work = torch.promote_types(keys.dtype, torch.float32)
    w = counts.to(work)
    new_counts = w.scatter_add(1, dst, w.gather(1, src))
    idx_src = src.unsqueeze(-1).expand(-1, -1, dim)
    idx_dst = dst.unsqueeze(-1).expand(-1, -1, dim)
    merged = []
    for x in (keys, values):
        mass = x.to(work) * w.unsqueeze(-1)
        mass = mass.scatter_add(1, idx_dst, mass.gather(1, idx_src))
        centroid = mass.gather(1, idx_dst) / new_counts.gather(1, dst).unsqueeze(-1)
        merged.append(x.scatter(1, idx_dst, centroid.to(x.dtype)))
    keep = torch.ones(heads, length, dtype=torch.bool, device=keys.device)
    keep.scatter_(1, src, False)
    order = torch.arange(length, device=keys.device).expand(heads, length)[keep].view(heads, length - r)
    out_k = merged[0].gather(1, order.unsqueeze(-1).expand(-1, -1, dim))
    out_v = merged[1].gather(1, order.unsqueeze(-1).expand(-1, -1, dim))
    return out_k, out_v, new_counts.to(counts.dtype).gather(1, order)


def soft_matching_pass(keys: Tensor, values: Tensor, counts: Tensor, r: int, params: ChelseaParams) -> tuple:
    """One Chunked Soft Matching pass removing ``min(r, edges available)`` entries per head (heads flattened)."""
    src, dst, _ = match_edges(keys, r, params)
    if src.shape[1] == 0:
        return keys, values, counts
    return merge_edges(keys, values, counts, src, dst)


def compress_to_budget(keys: Tensor, values: Tensor, counts: Tensor, target: int, params: ChelseaParams) -> tuple:
    """Repeat passes until at most ``target`` entries remain (or the middle part cannot shrink any more).

    ``keys``/``values`` are (..., length, d) and ``counts`` (..., length); every leading index (batch, head) is
    compressed on its own and all come out with the same length.
    """
    if isinstance(target, bool) or not isinstance(target, int) or target < 1:
        raise ValueError(f"target must be a positive integer, got {target!r}")
    lead, length, dim = keys.shape[:-2], keys.shape[-2], keys.shape[-1]
    if values.shape != keys.shape or counts.shape != keys.shape[:-1]:
        raise ValueError(f"shapes differ: keys {tuple(keys.shape)}, values {tuple(values.shape)}, "
                         f"counts {tuple(counts.shape)}")
    params.check_context(length)
    k, v, n = keys.reshape(-1, length, dim), values.reshape(-1, length, dim), counts.reshape(-1, length)
    while k.shape[1] > target:
        r = min(k.shape[1] - target, edges_available(k.shape[1], params))
        if r == 0:
            break
        before = k.shape[1]
        k, v, n = soft_matching_pass(k, v, n, r, params)
        if k.shape[1] != before - r:  # a pass must remove the r entries it merged, or this loop would never end
            raise RuntimeError(f"a matching pass of {before} entries removed {before - k.shape[1]}, not {r}")
    s = k.shape[1]
    return k.view(*lead, s, dim), v.view(*lead, s, dim), n.view(*lead, s)


def compress_layer(
    keys: Tensor, values: Tensor, counts: Tensor, target: int, params: ChelseaParams,
    outlier_heads: Iterable[int] = (),
) -> tuple[Tensor, Tensor, Tensor]:
    """Compress one layer's cache to ``target`` entries per kv head, leaving ``outlier_heads`` untouched.

    Count-0 slots are padding. The compressed heads' real entries are gathered (they have equal numbers), merged,
    and padded at the end with count-0 slots up to the length of the outlier heads, which keep every entry.
    """
    heads = keys.shape[1]
    outliers = sorted(set(outlier_heads))
    if any(not 0 <= h < heads for h in outliers):
        raise ValueError(f"outlier_heads must lie in [0, {heads}), got {outliers}")
    if not outliers:
        if bool((counts <= 0).any()):
            raise ValueError("count-0 padding slots are only expected in layers with outlier heads")
        return compress_to_budget(keys, values, counts, target, params)
    rest = [h for h in range(heads) if h not in outliers]
    if not rest:
        return keys, values, counts
    batch, length, dim = keys.shape[0], keys.shape[2], keys.shape[3]
    sub_n = counts[:, rest]
    real = sub_n > 0
    per_row = real.sum(-1)
    if bool((per_row != per_row.flatten()[0]).any()):
        raise ValueError("compressed heads hold different numbers of entries")
    s = int(per_row.flatten()[0])

    def gather(x: Tensor) -> Tensor:
        return x[:, rest][real].view(batch, len(rest), s, *x.shape[3:])

    k, v, n = compress_to_budget(gather(keys), gather(values), gather(counts), target, params)
    pad = length - k.shape[2]
    out_k, out_v, out_n = keys.clone(), values.clone(), counts.clone()
    out_k[:, rest] = torch.cat([k, k.new_zeros(batch, len(rest), pad, dim)], 2)
    out_v[:, rest] = torch.cat([v, v.new_zeros(batch, len(rest), pad, dim)], 2)
    out_n[:, rest] = torch.cat([n, n.new_zeros(batch, len(rest), pad)], 2)
    return out_k, out_v, out_n


def real_length(counts: Tensor, outlier_heads: Iterable[int] = ()) -> int:
    """Entries held by the compressed heads of one layer (count > 0), the length the online trigger watches."""
    outliers = set(outlier_heads)
    rest = [h for h in range(counts.shape[1]) if h not in outliers]
    if not rest:
        return counts.shape[-1]
    return int((counts[:, rest] > 0).sum(-1).max())
