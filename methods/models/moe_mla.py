"""`MoEMLA`: a tiny DeepSeek-V3-style decoder (DeepSeek-AI, arXiv 2412.19437) for MeCeFO's appendix table on an
MLA + MoE model (Hu et al., arXiv 2510.16415, Table 10), small enough for 2 CPU cores.

Simplified on purpose, and said here so nobody reads more into it:

- attention, MLA (multi-head latent attention): keys and values come from one joint low-rank latent,
  ``c = RMSNorm(W_dkv h)`` (``kv_rank`` wide), ``k = W_uk c``, ``v = W_uv c``; queries are a full-rank projection
  (the query compression of the large models is left out). Rotary positions are applied to the whole query and
  key heads instead of DeepSeek's decoupled rotary dimensions, so the latent cannot absorb ``W_uk`` at inference;
  for training that changes nothing we measure. ``kv_rank = 0`` gives plain multi-head attention instead;
- FFN, MoE: ``n_experts`` routed SwiGLU experts, a softmax router, the top ``top_k`` experts per token with their
  router weights renormalised to sum to 1; no shared expert and no load-balancing loss or bias.

Each `MoEMLABlock` exposes its two residual branches (`attention_branch`, `ffn_branch`) and the FFN's parameters,
which is what the MeCeFO neighbour (`methods.mecefo.neighbour`) needs to skip, recompute or project them; the
model has `TinyLlama`'s attributes (``embed_tokens``, ``layers``, ``norm``, ``lm_head``, rotary tables, ``loss``).

Example::

    >>> import torch
    >>> cfg = MoEMLAConfig(vocab_size=30, d_model=32, n_layers=2, n_heads=4, d_ff_expert=16, kv_rank=8)
    >>> model = MoEMLA(cfg, seed=0)
    >>> tokens = torch.zeros(3, 16, dtype=torch.long)
    >>> tuple(model(tokens).shape)
    (3, 16, 30)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from methods.models.gpt import DecoderLM, apply_rope
from methods.models.init import embedding, linear

# how a branch applies one of its linear maps: exactly (``layer(x)``) or with a modified backward
LinearFn = Callable[[torch.Tensor, nn.Linear], torch.Tensor]


def exact_linear(x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    return layer(x)


@dataclass(frozen=True)
class MoEMLAConfig:
    """Dimensions. ``kv_rank`` = 0: plain multi-head attention; ``d_ff_expert``: hidden width of one expert."""

    vocab_size: int
    d_model: int = 32
    n_layers: int = 2
    n_heads: int = 4
    d_ff_expert: int = 43
    n_experts: int = 4
    top_k: int = 2
    kv_rank: int = 16
    max_seq_len: int = 64

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError(f"d_model={self.d_model} must split into n_heads={self.n_heads} heads of even size")
        if not 1 <= self.top_k <= self.n_experts:
            raise ValueError(f"top_k must be in 1..n_experts={self.n_experts}, got {self.top_k}")
        if self.kv_rank < 0:
            raise ValueError(f"kv_rank must be >= 0, got {self.kv_rank}")


class Expert(nn.Module):
    """One SwiGLU expert."""

    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        self.gate = linear(d_model, d_ff, bias=False)
        self.up = linear(d_model, d_ff, bias=False)
        self.down = linear(d_ff, d_model, bias=False)

    def forward(self, x: torch.Tensor, lin: LinearFn = exact_linear) -> torch.Tensor:
        return lin(nn.functional.silu(lin(x, self.gate)) * lin(x, self.up), self.down)


class MoEMLABlock(nn.Module):
    """Pre-norm block: x + attention(x), then + MoE FFN."""

    def __init__(self, cfg: MoEMLAConfig):
        super().__init__()
        d = cfg.d_model
        self.n_heads, self.top_k = cfg.n_heads, cfg.top_k
        self.attn_norm = nn.RMSNorm(d)
        if cfg.kv_rank:
            self.q = linear(d, d, bias=False)
            self.kv_down = linear(d, cfg.kv_rank, bias=False)
            self.kv_norm = nn.RMSNorm(cfg.kv_rank)
            self.k_up = linear(cfg.kv_rank, d, bias=False)
            self.v_up = linear(cfg.kv_rank, d, bias=False)
        else:
            self.qkv = linear(d, 3 * d, bias=False)
        self.proj = linear(d, d, bias=False)
        self.mlp_norm = nn.RMSNorm(d)
        self.router = linear(d, cfg.n_experts, bias=False)
        self.experts = nn.ModuleList(Expert(d, cfg.d_ff_expert) for _ in range(cfg.n_experts))

    def _qkv(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if hasattr(self, "qkv"):
            return self.qkv(h).split(h.shape[-1], dim=-1)
        latent = self.kv_norm(self.kv_down(h))  # the joint key-value latent (what MLA caches)
        return self.q(h), self.k_up(latent), self.v_up(latent)

    def attention_branch(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """What attention adds to the residual."""
        B, T, C = x.shape
        shape = (B, T, self.n_heads, C // self.n_heads)
        q, k, v = (t.reshape(shape).transpose(1, 2) for t in self._qkv(self.attn_norm(x)))
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        att = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(att.transpose(1, 2).reshape(B, T, C))

    def routing(self, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(weights [N, k] summing to 1 per token, expert ids [N, k]) of the top-k experts per token."""
        weights, experts = self.router(flat).softmax(dim=-1).topk(self.top_k, dim=-1)
        return weights / weights.sum(dim=-1, keepdim=True), experts

    def ffn_branch(self, x: torch.Tensor, lin: LinearFn = exact_linear) -> torch.Tensor:
        """What the MoE FFN adds to the residual; ``lin`` applies the experts' linear maps (the router is exact)."""
        B, T, C = x.shape
        flat = self.mlp_norm(x).reshape(-1, C)
        weights, experts = self.routing(flat)
        out = torch.zeros_like(flat)
        for e, expert in enumerate(self.experts):
            token, slot = (experts == e).nonzero(as_tuple=True)
            if token.numel():
                out = out.index_add(0, token, expert(flat[token], lin) * weights[token, slot, None])
        return out.reshape(B, T, C)

    def ffn_parameters(self) -> Iterator[nn.Parameter]:
        """Every parameter the FFN branch uses (norm, router, experts)."""
        yield from self.mlp_norm.parameters()
        yield from self.router.parameters()
        yield from self.experts.parameters()

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attention_branch(x, cos, sin)
        return x + self.ffn_branch(x)


class MoEMLA(DecoderLM):
    """Decoder-only LM: embed -> n_layers x MoEMLABlock -> RMSNorm -> lm_head (untied). Init N(0, 0.02) from
    ``seed``."""

    def __init__(self, cfg: MoEMLAConfig, seed: int = 0):
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = embedding(cfg.vocab_size, cfg.d_model)
        self.layers = nn.ModuleList(MoEMLABlock(cfg) for _ in range(cfg.n_layers))
        self._finish(cfg.vocab_size, cfg.d_model, cfg.d_model // cfg.n_heads, cfg.max_seq_len, seed)
