"""The MeCeFO neighbour (Hu et al., arXiv 2510.16415, Section 3, Algorithms 2-3): how a healthy data-parallel
rank runs the micro-batches it carries while a neighbour has failed, on `methods.models.gpt.TinyLlama`
(or `methods.models.moe_mla.MoEMLA`).

Three techniques, each switchable on its own (`Techniques`):

- I, skip-connection for attention: the attention block runs forward without keeping activations, and backward
  treats it as the identity (dL/dx = dL/dh through the residual only): no attention weight or input gradient.
- II, FFN recomputation: only the FFN's input is kept; the rest of the FFN is recomputed in backward.
- III, low-rank FFN weight gradients: gate/up/down weight gradients projected on the top-r right singular
  vectors of each weight (`methods.mecefo.lowrank`), refreshed every tau steps.

``skip_ffn`` is the contrast of the paper's Figure 3 (identity backward through the FFN instead); it is not part of
the neighbour. With every switch off, `neighbour_loss` computes the same loss and gradients as
``TinyLlama.loss``. The forward pieces mirror `methods.models.gpt.Block.forward` step for step, because that
block runs attention and FFN in one call. Other blocks (`methods.models.moe_mla.MoEMLABlock`, Table 10's MLA + MoE
model) expose their branches themselves: ``attention_branch(x, cos, sin)``, ``ffn_branch(x, lin)`` with ``lin``
applying each expert's linear map (exactly or low-rank), and ``ffn_parameters()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from methods.arguments import check_flags, check_integer
from methods.mecefo.lowrank import LowRankBases, lowrank_linear
from methods.models.gpt import Block, TinyLlama, apply_rope


@dataclass(frozen=True)
class Techniques:
    """Which of MeCeFO's techniques a micro-batch runs with (all off: exact, like a normal rank).

    Attributes:
        skip_attention: I, identity backward through attention.
        recompute_ffn: II, keep only the FFN input, recompute the FFN in backward.
        low_rank: III, rank r of the FFN weight-gradient projection (0: exact weight gradients).
        refresh_every: tau, steps between two SVD refreshes of the projection bases.
        skip_ffn: identity backward through the FFN (Figure 3's contrast, not a neighbour technique).
    """

    skip_attention: bool = False
    recompute_ffn: bool = False
    low_rank: int = 0
    refresh_every: int = 20
    skip_ffn: bool = False

    def __post_init__(self) -> None:
        check_integer("low_rank", self.low_rank, 0)
        check_integer("refresh_every", self.refresh_every, 1)
        check_flags(self)

    @property
    def exact(self) -> bool:
        return not (self.skip_attention or self.recompute_ffn or self.low_rank or self.skip_ffn)


EXACT = Techniques()
MECEFO = Techniques(skip_attention=True, recompute_ffn=True, low_rank=8)


def attention_delta(block: nn.Module, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """The attention branch of ``block`` (what `Block.forward` adds to the residual)."""
    if not isinstance(block, Block):
        return block.attention_branch(x, cos, sin)
    B, T, C = x.shape
    q, k, v = block.qkv(block.attn_norm(x)).split(C, dim=-1)
    shape = (B, T, block.n_heads, C // block.n_heads)
    q, k, v = (t.reshape(shape).transpose(1, 2) for t in (q, k, v))
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    att = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    return block.proj(att.transpose(1, 2).reshape(B, T, C))


def _linear(bases: LowRankBases | None, step: int) -> Callable[[torch.Tensor, nn.Linear], torch.Tensor]:
    if bases is None:
        return lambda h, layer: layer(h)
    return lambda h, layer: lowrank_linear(h, layer, bases.get(layer, step))


def ffn_delta(block: nn.Module, x: torch.Tensor, bases: LowRankBases | None = None, step: int = 0) -> torch.Tensor:
    """The FFN branch of ``block``; with ``bases`` the weight gradients are low-rank (technique III)."""
    lin = _linear(bases, step)
    if not isinstance(block, Block):
        return block.ffn_branch(x, lin)
    h = block.mlp_norm(x)
    return lin(nn.functional.silu(lin(h, block.gate)) * lin(h, block.up), block.down)


def ffn_parameters(block: nn.Module) -> tuple[torch.Tensor, ...]:
    """The parameters the FFN branch of ``block`` reads (what recomputation must differentiate)."""
    if not isinstance(block, Block):
        return tuple(block.ffn_parameters())
    return (block.mlp_norm.weight, block.gate.weight, block.up.weight, block.down.weight)


class _Recompute(torch.autograd.Function):
    """out = fn(x), keeping only x; fn is run again under autograd in backward (technique II)."""

    @staticmethod
    def forward(ctx, fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, *params: torch.Tensor):
        ctx.fn, ctx.n_params = fn, len(params)
        ctx.save_for_backward(x, *params)
        with torch.no_grad():
            return fn(x)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        x, *params = ctx.saved_tensors
        with torch.enable_grad():
            x_ = x.detach().requires_grad_(True)
            out = ctx.fn(x_)
            grads = torch.autograd.grad(out, (x_, *params), grad_out, allow_unused=True)
        return (None, *grads)


def _skipped(delta: Callable[[], torch.Tensor]) -> torch.Tensor:
    """A branch run forward only: nothing kept, no gradient (the residual carries dL/dh unchanged)."""
    with torch.no_grad():
        return delta()


def block_forward(block: nn.Module, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, tech: Techniques,
                  bases: LowRankBases | None, step: int) -> torch.Tensor:
    """One pre-norm block in the mode ``tech`` (Algorithm 2 forward; the backward follows from it)."""
    if tech.skip_attention:
        x = x + _skipped(lambda: attention_delta(block, x, cos, sin))
    else:
        x = x + attention_delta(block, x, cos, sin)
    if tech.skip_ffn:
        return x + _skipped(lambda: ffn_delta(block, x))
    low = bases if tech.low_rank else None
    if tech.recompute_ffn:
        return x + _Recompute.apply(lambda h: ffn_delta(block, h, low, step), x, *ffn_parameters(block))
    return x + ffn_delta(block, x, low, step)


def neighbour_loss(model: TinyLlama, tokens: torch.Tensor, targets: torch.Tensor, tech: Techniques,
                   bases: LowRankBases | None = None, step: int = 0) -> torch.Tensor:
    """Cross-entropy of ``model`` on one micro-batch with every block in the mode ``tech``."""
    if tech.low_rank and bases is None:
        raise ValueError("low_rank > 0 needs the LowRankBases to project on")
    x = model.embed_tokens(tokens)
    for block in model.layers:
        x = block_forward(block, x, model.rope_cos, model.rope_sin, tech, bases, step)
    logits = model.lm_head(model.norm(x))
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
