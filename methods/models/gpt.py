"""`TinyLlama`: a LLaMA-style decoder-only transformer small enough for 2 CPU cores.

Stands in for the papers' LLaMA-60M..1B on C4 (ARC Fig. 4 / Table IV, GreedyLore Fig. 1 / Table IV):
pre-norm blocks with RMSNorm, causal self-attention with rotary position embeddings (RoPE), a SwiGLU MLP,
untied input embedding and LM head (the papers leave ``embed_tokens`` / ``lm_head`` uncompressed in their
GreedyLore runs; that choice belongs to the caller). Initialisation: N(0, 0.02) from the passed seed.

Example::

    >>> import torch
    >>> model = TinyLlama(vocab_size=30, d_model=32, n_layers=2, n_heads=4, d_ff=64, max_seq_len=16, seed=0)
    >>> tokens = torch.zeros(3, 16, dtype=torch.long)
    >>> tuple(model(tokens).shape), round(model.loss(tokens, tokens).item(), 1)
    ((3, 16, 30), 3.4)
"""

from __future__ import annotations

import torch
from torch import nn

from methods.models.init import embedding, init_parameters, linear


def rope_tables(seq_len: int, head_dim: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables [seq_len, head_dim // 2] for rotary embeddings."""
    inv = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (even, odd) of the last dim of x [B, H, T, D] by the position angles."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    T = x.shape[-2]
    c, s = cos[:T], sin[:T]
    return torch.stack((x1 * c - x2 * s, x1 * s + x2 * c), dim=-1).flatten(-2)


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int):
        super().__init__()
        self.n_heads = n_heads
        self.attn_norm = nn.RMSNorm(d_model)
        self.qkv = linear(d_model, 3 * d_model, bias=False)
        self.proj = linear(d_model, d_model, bias=False)
        self.mlp_norm = nn.RMSNorm(d_model)
        self.gate = linear(d_model, d_ff, bias=False)
        self.up = linear(d_model, d_ff, bias=False)
        self.down = linear(d_ff, d_model, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(self.attn_norm(x)).split(C, dim=-1)
        shape = (B, T, self.n_heads, C // self.n_heads)
        q, k, v = (t.reshape(shape).transpose(1, 2) for t in (q, k, v))
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        att = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(att.transpose(1, 2).reshape(B, T, C))
        h = self.mlp_norm(x)
        return x + self.down(nn.functional.silu(self.gate(h)) * self.up(h))


class DecoderLM(nn.Module):
    """Decoder-only LM skeleton: embed -> ``layers`` (each ``layer(x, cos, sin)``) -> RMSNorm -> lm_head (untied).

    Subclasses build ``layers`` and call `_finish` last: it adds the norm, the head and the rotary tables and
    initialises every parameter N(0, 0.02) from ``seed``.
    """

    def _finish(self, vocab_size: int, d_model: int, head_dim: int, max_seq_len: int, seed: int) -> None:
        self.norm = nn.RMSNorm(d_model)
        self.lm_head = linear(d_model, vocab_size, bias=False)
        self.max_seq_len = max_seq_len
        cos, sin = rope_tables(max_seq_len, head_dim)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        init_parameters(self, seed, normal_std=0.02)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.shape[1] > self.max_seq_len:
            raise ValueError(f"sequence length {tokens.shape[1]} exceeds max_seq_len={self.max_seq_len}")
        x = self.embed_tokens(tokens)
        for layer in self.layers:
            x = layer(x, self.rope_cos, self.rope_sin)
        return self.lm_head(self.norm(x))

    def loss(self, tokens: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        logits = self(tokens)
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


class TinyLlama(DecoderLM):
    """Decoder-only LM: embed -> n_layers x Block -> RMSNorm -> lm_head."""

    def __init__(
        self,
        vocab_size: int,
        d_model: int = 64,
        n_layers: int = 2,
        n_heads: int = 4,
        d_ff: int = 172,
        max_seq_len: int = 64,
        seed: int = 0,
    ):
        super().__init__()
        if d_model % n_heads or (d_model // n_heads) % 2:
            raise ValueError(f"d_model={d_model} must split into n_heads={n_heads} heads of even size")
        self.embed_tokens = embedding(vocab_size, d_model)
        self.layers = nn.ModuleList(Block(d_model, n_heads, d_ff) for _ in range(n_layers))
        self._finish(vocab_size, d_model, d_model // n_heads, max_seq_len, seed)
