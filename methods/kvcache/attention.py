"""Attention over a merged KV cache with Chelsea's log-count bias (arXiv 2506.11418; ToMe's proportional
attention, Bolya et al. 2023): ``softmax(q.k_j / sqrt(d) + log n_j)``, so a centroid standing for n identical
tokens gets exactly the attention mass of those n tokens. Count-0 entries (padding) get weight zero.

`counted_attention` is the plain-tensor form. `chelsea_attention_forward` is the same computation as a
`transformers` attention function: it reads the layer's counts from ``module.chelsea_counts`` (batch, kv_heads,
length), treats entries beyond the stored counts as new tokens (count 1) and a missing attribute as all ones.
`register_attention()` adds it to transformers' attention-function registry (and the matching float-mask builder
to the mask registry) under the name ``"chelsea"``; a model uses it once ``model.config._attn_implementation`` is
``"chelsea"`` (`ChelseaPress` switches it on inside its context manager).

>>> import torch
>>> q = torch.randn(1, 2, 1, 4); k = torch.randn(1, 1, 3, 4); v = torch.randn(1, 1, 3, 4)
>>> n = torch.tensor([[[1.0, 2.0, 1.0]]])
>>> full = counted_attention(q, k[:, :, [0, 1, 1, 2]], v[:, :, [0, 1, 1, 2]], torch.ones(1, 1, 4))
>>> torch.allclose(counted_attention(q, k, v, n), full, atol=1e-6)
True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

Tensor = torch.Tensor
ATTENTION_NAME = "chelsea"
COUNTS_ATTRIBUTE = "chelsea_counts"


def counts_for_length(stored: Tensor | None, batch: int, heads: int, length: int, device: torch.device) -> Tensor:
    """The counts of a cache of ``length`` entries: stored ones cut to length, new entries (count 1) appended."""
    if stored is None:
        return torch.ones(batch, heads, length, device=device)
    if stored.shape[-1] >= length:
        return stored[..., :length]
    extra = torch.ones(*stored.shape[:-1], length - stored.shape[-1], dtype=stored.dtype, device=stored.device)
    return torch.cat([stored, extra], dim=-1)


def causal_mask_at_end(q_len: int, kv_len: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Additive (1, 1, q, kv) mask: query i sees every cached entry and the new tokens up to itself."""
    allowed = torch.arange(kv_len, device=device)[None, :] <= torch.arange(q_len, device=device)[:, None] + (
        kv_len - q_len
    )
    mask = torch.zeros(q_len, kv_len, dtype=dtype, device=device)
    return mask.masked_fill(~allowed, float("-inf"))[None, None]


def log_count_bias(counts: Tensor, query_heads: int, dtype: torch.dtype) -> Tensor:
    """(batch, query_heads, 1, length) bias log(n), each kv head's counts shared by its query group (GQA)."""
    groups = query_heads // counts.shape[1]
    work = torch.promote_types(dtype, torch.float32)
    return counts.to(work).log().repeat_interleave(groups, dim=1).unsqueeze(2).to(dtype)


def counted_attention(
    query: Tensor, key: Tensor, value: Tensor, counts: Tensor, mask: Tensor | None = None,
    scaling: float | None = None,
) -> Tensor:
    """(batch, q_heads, q, d) output of attention with the log-count bias; key/value/counts carry kv heads."""
    q_heads, kv_heads = query.shape[1], key.shape[1]
    if q_heads % kv_heads:
        raise ValueError(f"query heads ({q_heads}) must be a multiple of kv heads ({kv_heads})")
    q_len, kv_len = query.shape[2], key.shape[2]
    if mask is None or mask.shape[-1] != kv_len:
        mask = causal_mask_at_end(q_len, kv_len, query.dtype, query.device)
    elif mask.dtype == torch.bool:
        mask = torch.zeros(mask.shape, dtype=query.dtype, device=query.device).masked_fill(~mask, float("-inf"))
    bias = mask.to(query.dtype) + log_count_bias(counts, q_heads, query.dtype)
    groups = q_heads // kv_heads
    key = key.repeat_interleave(groups, dim=1)
    value = value.repeat_interleave(groups, dim=1)
    return F.scaled_dot_product_attention(query, key, value, attn_mask=bias, scale=scaling)


def chelsea_attention_forward(
    module: torch.nn.Module, query: Tensor, key: Tensor, value: Tensor, attention_mask: Tensor | None,
    dropout: float = 0.0, scaling: float | None = None, **kwargs: object,
) -> tuple[Tensor, None]:
    """`transformers` attention-function signature; returns (batch, q, heads, d) like the built-in ones."""
    stored = getattr(module, COUNTS_ATTRIBUTE, None)
    counts = counts_for_length(stored, key.shape[0], key.shape[1], key.shape[2], key.device)
    out = counted_attention(query, key, value, counts, attention_mask, scaling)
    return out.transpose(1, 2).contiguous(), None


def register_attention(name: str = ATTENTION_NAME) -> str:
    """Register the attention function and its float-mask builder with transformers (idempotent)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(name, chelsea_attention_forward)
    AttentionMaskInterface.register(name, eager_mask)
    return name
