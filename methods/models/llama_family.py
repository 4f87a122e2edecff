"""A config-driven LLaMA decoder whose activation memory is exactly known: dense SwiGLU or Mixture-of-Channels FFN,
optional gradient checkpointing, and a swap of a Hugging Face ``LlamaForCausalLM``'s MLPs for MoC.

Architecture (Touvron et al., "LLaMA", arXiv 2302.13971): token embedding, blocks of RMSNorm -> attention (separate
q, k, v, o projections, rotary positions, causal) -> RMSNorm -> SwiGLU MLP, final RMSNorm, untied LM head. The
shapes of the GaLore configs (60M ... 7B) live in ``harness.models.llama``; this module takes plain dimensions.
MoC (Wu, He, Wang, Yuan, arXiv 2511.09323) replaces the MLP by `kernels.moc.moc_swiglu`, whose training path keeps
only x, the Top-K channel indices and the selected gate/up values for backward.

What each piece keeps for backward (what `methods.memory.analytic` counts and `methods.memory.profiler` measures):

- `RMSNorm`: its input and one fp32 reciprocal RMS per token, as fused RMSNorm kernels do (our autograd function;
  ``nn.RMSNorm`` on CPU decomposes into ops that keep more);
- rotary embedding: nothing (`RotaryFunction`; the rotation is undone in backward from the position tables);
- attention: FlashAttention-style (Dao et al., arXiv 2205.14135): q, k, v, the output o and the fp32
  log-sum-exp per head and token (`FlashAttentionFunction`, scores recomputed in backward). Its output is laid
  out ``[B, T, H, hd]`` so the o projection's saved input is a view of o;
- dense MLP: eager PyTorch, ``down(silu(gate(h)) * up(h))``: h, g, silu(g), u and the product;
- MoC MLP: h, the indices (int16), g_I and u_I (`kernels.moc.MoCSwiGLUFunction`);
- checkpointing (``torch.utils.checkpoint``, non-reentrant): ``"block"`` keeps only each block's input,
  ``"attention"`` keeps the input of the attention half and runs the MLP half normally (MoC's compact state kept);
- cross-entropy (`CrossEntropyFunction`): logits, one fp32 log-sum-exp per token and the int64 targets.

Example::

    >>> import torch
    >>> cfg = LlamaFamilyConfig(d_model=32, d_ff=64, n_heads=4, n_layers=2, vocab_size=50, ffn="moc", moc_k=8)
    >>> model = LlamaFamily(cfg, seed=0)
    >>> tokens = torch.zeros(2, 8, dtype=torch.long)
    >>> tuple(model(tokens).shape)
    (2, 8, 50)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from kernels.moc import moc_decode, moc_swiglu
from methods.arguments import check_flag, check_integer
from methods.models.gpt import apply_rope, rope_tables
from methods.models.init import embedding, init_parameters, linear

Ffn = Literal["dense", "moc"]
Checkpointing = Literal["none", "block", "attention"]


@dataclass(frozen=True)
class LlamaFamilyConfig:
    """Dimensions and technique of one model. ``moc_k`` (channels kept per token) is required for ``ffn="moc"``."""

    d_model: int
    d_ff: int
    n_heads: int
    n_layers: int
    vocab_size: int = 32000
    ffn: Ffn = "dense"
    moc_k: int | None = None
    checkpointing: Checkpointing = "none"
    max_seq_len: int = 2048
    norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError(f"d_model={self.d_model} must split into n_heads={self.n_heads} heads of even size")
        if self.ffn not in ("dense", "moc"):
            raise ValueError(f"ffn must be 'dense' or 'moc', got {self.ffn!r}")
        if self.checkpointing not in ("none", "block", "attention"):
            raise ValueError(f"checkpointing must be 'none', 'block' or 'attention', got {self.checkpointing!r}")
        if self.ffn == "moc":
            if self.moc_k is None:
                raise ValueError(f"ffn='moc' needs moc_k in 1..d_ff={self.d_ff}, got None")
            check_integer("moc_k", self.moc_k, 1, self.d_ff)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads


# ---------------------------------------------------------------------------------------------------------------
# autograd functions that keep exactly what a fused GPU kernel keeps


class RMSNormFunction(torch.autograd.Function):
    """y = x / rms(x) * w; keeps x and the reciprocal RMS per row (fp32; fp64 for fp64 inputs)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
        xf = x.to(torch.promote_types(x.dtype, torch.float32))
        rstd = torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
        ctx.save_for_backward(x, weight, rstd)
        return (xf * rstd * weight.to(xf.dtype)).to(x.dtype)

    @staticmethod
    def backward(ctx, dy: torch.Tensor):
        x, weight, rstd = ctx.saved_tensors
        xhat = x.to(rstd.dtype) * rstd
        dyf = dy.to(rstd.dtype)
        dw = (dyf * xhat).reshape(-1, x.shape[-1]).sum(0).to(weight.dtype)
        dxhat = dyf * weight.to(rstd.dtype)
        dx = rstd * (dxhat - xhat * (dxhat * xhat).mean(-1, keepdim=True))
        return dx.to(x.dtype), dw, None


class RMSNorm(nn.RMSNorm):
    """``nn.RMSNorm`` (same parameters and init) run through `RMSNormFunction`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return RMSNormFunction.apply(x, self.weight, self.eps)


class RotaryFunction(torch.autograd.Function):
    """Rotary embedding of ``[B, T, H, hd]`` by fp32 tables; keeps nothing (backward rotates by the negative
    angles)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        ctx.tables = (cos, sin)
        return apply_rope(x.transpose(1, 2), cos, sin).transpose(1, 2).to(x.dtype).contiguous()

    @staticmethod
    def backward(ctx, dy: torch.Tensor):
        cos, sin = ctx.tables
        return apply_rope(dy.transpose(1, 2), cos, -sin).transpose(1, 2).to(dy.dtype), None, None


class FlashAttentionFunction(torch.autograd.Function):
    """Causal attention of ``[B, T, H, hd]`` tensors keeping q, k, v, o and the fp32 log-sum-exp ``[B, H, T]``.

    Forward and backward run in fp32 (fp64 for fp64 inputs) and round once to the input dtype; backward recomputes
    the probabilities from the log-sum-exp, as FlashAttention does.
    """

    @staticmethod
    def _scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        wide = torch.promote_types(q.dtype, torch.float32)
        qh, kh = q.transpose(1, 2).to(wide), k.transpose(1, 2).to(wide)
        scores = qh @ kh.transpose(-1, -2) / math.sqrt(q.shape[-1])
        t = q.shape[1]
        causal = torch.ones(t, t, dtype=torch.bool, device=q.device).triu(1)
        return scores.masked_fill(causal, float("-inf"))

    @staticmethod
    def forward(ctx, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        scores = FlashAttentionFunction._scores(q, k)
        lse = torch.logsumexp(scores, dim=-1)
        probs = torch.exp(scores - lse.unsqueeze(-1))
        out = (probs @ v.transpose(1, 2).to(probs.dtype)).transpose(1, 2).to(q.dtype).contiguous()
        ctx.save_for_backward(q, k, v, out, lse)
        return out

    @staticmethod
    def backward(ctx, dout: torch.Tensor):
        q, k, v, out, lse = ctx.saved_tensors
        scores = FlashAttentionFunction._scores(q, k)
        wide = scores.dtype
        probs = torch.exp(scores - lse.to(wide).unsqueeze(-1))
        do = dout.transpose(1, 2).to(wide)
        vh, oh = v.transpose(1, 2).to(wide), out.transpose(1, 2).to(wide)
        dv = probs.transpose(-1, -2) @ do
        dp = do @ vh.transpose(-1, -2)
        ds = probs * (dp - (do * oh).sum(-1, keepdim=True)) / math.sqrt(q.shape[-1])
        dq = ds @ k.transpose(1, 2).to(wide)
        dk = ds.transpose(-1, -2) @ q.transpose(1, 2).to(wide)
        return tuple(g.transpose(1, 2).to(q.dtype) for g in (dq, dk, dv))


class CrossEntropyFunction(torch.autograd.Function):
    """Mean token cross-entropy of ``[N, V]`` logits; keeps the logits, the fp32 log-sum-exp and the targets."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        wide = torch.promote_types(logits.dtype, torch.float32)
        lse = torch.logsumexp(logits.to(wide), dim=-1)
        picked = logits.gather(1, targets.unsqueeze(1)).squeeze(1).to(wide)
        ctx.save_for_backward(logits, lse, targets)
        return (lse - picked).mean().to(logits.dtype)

    @staticmethod
    def backward(ctx, dloss: torch.Tensor):
        logits, lse, targets = ctx.saved_tensors
        grad = torch.exp(logits.to(lse.dtype) - lse.unsqueeze(1))
        grad[torch.arange(len(targets)), targets] -= 1.0
        return (grad * (dloss.to(lse.dtype) / len(targets))).to(logits.dtype), None


# ---------------------------------------------------------------------------------------------------------------
# modules


class CrossEntropy(nn.Module):
    """`CrossEntropyFunction` as a module (so memory profiles name it ``loss_fn``)."""

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return CrossEntropyFunction.apply(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


class Attention(nn.Module):
    def __init__(self, cfg: LlamaFamilyConfig):
        super().__init__()
        d = cfg.d_model
        self.n_heads = cfg.n_heads
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = (linear(d, d, bias=False) for _ in range(4))

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        shape = (b, t, self.n_heads, c // self.n_heads)
        q = RotaryFunction.apply(self.q_proj(x).view(shape), cos, sin)
        k = RotaryFunction.apply(self.k_proj(x).view(shape), cos, sin)
        out = FlashAttentionFunction.apply(q, k, self.v_proj(x).view(shape))
        return self.o_proj(out.view(b, t, c))


class DenseMLP(nn.Module):
    """SwiGLU ``down(silu(gate(h)) * up(h))`` as eager PyTorch runs it."""

    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        self.gate_proj = linear(d_model, d_ff, bias=False)
        self.up_proj = linear(d_model, d_ff, bias=False)
        self.down_proj = linear(d_ff, d_model, bias=False)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class MoCMLP(nn.Module):
    """Mixture-of-Channels SwiGLU: the K channels with the largest raw gate per token (`kernels.moc`).

    The down projection is stored transposed (``down_proj_t``, ``[d_ff, d_model]``) so that one channel is one
    contiguous row, as the MoC kernels require.

    Two paths compute the same function (same gate, same Top-K set, ties to the lowest channel index):

    - training path, `kernels.moc.moc_swiglu`: dense gate and up GEMMs, then the memory-lean autograd function
      that keeps x, the indices and the selected gate/up values for backward. Always taken when a gradient is
      needed (grad mode on and the input or a weight requires grad).
    - decode path, `kernels.moc.moc_decode`: full gate GEMV, Top-K, then only the K chosen rows of W_up and
      W_down^T per token (Triton on CUDA, `kernels.moc.moc_decode_torch` elsewhere; accumulation in fp32). Taken
      when no gradient is needed (``torch.no_grad``, ``inference_mode``, ``generate``), ``decode_kernel`` is true, no
      autocast is active on the input's device (the kernel would not follow the autocast dtype, so the gate
      could rank differently) and the call's rows T (batch x sequence) satisfy ``T * k < d_ff``. The kernel
      accepts any T, but it reads K rows of W_up and W_down^T per token with no sharing between tokens, so its
      weight traffic ``(d_ff + 2 T k) d`` is only below the dense path's ``3 d_ff d`` while ``T k < d_ff``:
      one-token decode steps take it, prompt prefill and ``k == d_ff`` keep the dense GEMMs. K itself is never
      changed (the kernel takes any ``1 <= k <= d_ff``). `uses_decode_kernel` reports the choice for an input.

    ``decode_kernel=False`` (also settable later as ``mlp.decode_kernel``) always takes the training path, to
    compare. Outputs of the two paths differ only by accumulation order and, in low precision, by the decode
    path's fp32 up/down products (the training path rounds u and h to the input dtype).
    """

    def __init__(self, d_model: int, d_ff: int, k: int, impl: str | None = None, decode_kernel: bool = True):
        super().__init__()
        self.k, self.impl = check_integer("k", k, 1, d_ff), impl
        self.decode_kernel = check_flag("decode_kernel", decode_kernel)
        self.gate_proj = linear(d_model, d_ff, bias=False)
        self.up_proj = linear(d_model, d_ff, bias=False)
        self.down_proj_t = nn.Parameter(torch.empty(d_ff, d_model))

    @classmethod
    def from_linears(
        cls, gate: nn.Linear, up: nn.Linear, down: nn.Linear, k: int, decode_kernel: bool = True
    ) -> MoCMLP:
        """A MoC MLP holding copies of a dense SwiGLU's weights (same dtype and device)."""
        if gate.bias is not None or up.bias is not None or down.bias is not None:
            raise ValueError("MoC needs a bias-free SwiGLU (LLaMA's MLP has no biases)")
        mlp = cls(gate.in_features, gate.out_features, k, decode_kernel=decode_kernel)
        mlp = mlp.to(device=gate.weight.device, dtype=gate.weight.dtype)
        with torch.no_grad():
            mlp.gate_proj.weight.copy_(gate.weight)
            mlp.up_proj.weight.copy_(up.weight)
            mlp.down_proj_t.copy_(down.weight.T)
        return mlp

    def uses_decode_kernel(self, h: torch.Tensor) -> bool:
        """Whether `forward` sends ``h`` through `kernels.moc.moc_decode` (see the class docstring for the rule)."""
        weights = (self.gate_proj.weight, self.up_proj.weight, self.down_proj_t)
        if not self.decode_kernel:
            return False
        if torch.is_grad_enabled() and (h.requires_grad or any(w.requires_grad for w in weights)):
            return False  # a gradient is needed: the memory-lean training path, unchanged
        if h.device.type in ("cpu", "cuda") and torch.is_autocast_enabled(h.device.type):
            return False
        rows = h.numel() // max(h.shape[-1], 1)
        return rows * self.k < self.down_proj_t.shape[0]  # fewer gathered rows than the dense path reads

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        w_gate, w_up, w_down_t = self.gate_proj.weight, self.up_proj.weight, self.down_proj_t
        # no gradient needed and few tokens (a decode step): read only the K chosen rows of W_up / W_down^T
        if self.uses_decode_kernel(h):
            return moc_decode(h, w_gate, w_up, w_down_t, self.k, impl=self.impl)
        return moc_swiglu(h, w_gate, w_up, w_down_t, self.k, impl=self.impl)


class Block(nn.Module):
    def __init__(self, cfg: LlamaFamilyConfig):
        super().__init__()
        self.checkpointing = cfg.checkpointing
        self.attn_norm = RMSNorm(cfg.d_model, eps=cfg.norm_eps)
        self.attn = Attention(cfg)
        self.mlp_norm = RMSNorm(cfg.d_model, eps=cfg.norm_eps)
        self.mlp: nn.Module = DenseMLP(cfg.d_model, cfg.d_ff)

    def _attention_half(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        return x + self.attn(self.attn_norm(x), cos, sin)

    def _mlp_half(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlp(self.mlp_norm(x))

    def _both(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        return self._mlp_half(self._attention_half(x, cos, sin))

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        if self.checkpointing == "block" and torch.is_grad_enabled():
            return checkpoint(self._both, x, cos, sin, use_reentrant=False)
        if self.checkpointing == "attention" and torch.is_grad_enabled():
            return self._mlp_half(checkpoint(self._attention_half, x, cos, sin, use_reentrant=False))
        return self._both(x, cos, sin)


def use_moc(module: nn.Module, k: int) -> None:
    """Replace every `DenseMLP` inside ``module`` by a `MoCMLP` with the same weights and ``k`` channels."""
    for block in (m for m in module.modules() if isinstance(m, Block)):
        if isinstance(block.mlp, DenseMLP):
            dense = block.mlp
            block.mlp = MoCMLP.from_linears(dense.gate_proj, dense.up_proj, dense.down_proj, k)


class LlamaFamily(nn.Module):
    """Decoder-only LM: embed -> n_layers x `Block` -> `RMSNorm` -> lm_head (untied). Init N(0, 0.02) from ``seed``.

    Dense and MoC models built from the same seed hold the same weights (MoC's ``down_proj_t`` is the transpose).
    """

    def __init__(self, cfg: LlamaFamilyConfig, seed: int = 0):
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = embedding(cfg.vocab_size, cfg.d_model)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.d_model, eps=cfg.norm_eps)
        self.lm_head = linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.loss_fn = CrossEntropy()
        cos, sin = rope_tables(cfg.max_seq_len, cfg.head_dim)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        init_parameters(self, seed, normal_std=0.02)
        if cfg.ffn == "moc":
            assert cfg.moc_k is not None  # checked by the config
            use_moc(self, cfg.moc_k)

    def hidden(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.shape[1] > self.cfg.max_seq_len:
            raise ValueError(f"sequence length {tokens.shape[1]} exceeds max_seq_len={self.cfg.max_seq_len}")
        x = self.embed_tokens(tokens)
        t = tokens.shape[1]
        cos, sin = self.rope_cos[:t], self.rope_sin[:t]  # fp32 tables; the rotation rounds to x's dtype
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.norm(x)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.lm_head(self.hidden(tokens))

    def loss(self, tokens: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(self(tokens), targets)


def swap_mlp_for_moc(hf_model: nn.Module, k: int) -> int:
    """Replace the SwiGLU MLP of every decoder layer of a Hugging Face ``LlamaForCausalLM`` by a `MoCMLP`.

    The new MLPs hold copies of the old weights (``down_proj`` becomes ``down_proj_t``, transposed), so a model
    with ``k == intermediate_size`` computes what it computed before; MLPs swapped earlier only get the new ``k``.
    Returns the number of MLPs replaced or updated. Every layer and ``k`` are checked before any is changed: a
    model without ``model.layers[i].mlp`` SwiGLU MLPs raises TypeError, a bad ``k`` TypeError/ValueError.
    """
    layers = getattr(getattr(hf_model, "model", None), "layers", None)
    if not isinstance(layers, nn.ModuleList) or len(layers) == 0:
        raise TypeError(
            f"swap_mlp_for_moc expects a Hugging Face LlamaForCausalLM (decoder layers at model.model.layers), "
            f"got {type(hf_model).__name__}"
        )
    for i, layer in enumerate(layers):
        mlp = getattr(layer, "mlp", None)
        if isinstance(mlp, MoCMLP):
            check_integer("k", k, 1, mlp.down_proj_t.shape[0])
            continue
        if not all(isinstance(getattr(mlp, n, None), nn.Linear) for n in ("gate_proj", "up_proj", "down_proj")):
            raise TypeError(f"layer {i}: MoC needs a SwiGLU MLP with gate_proj/up_proj/down_proj, got "
                            f"{type(mlp).__name__}")
        if getattr(getattr(mlp, "config", None), "hidden_act", "silu") != "silu":
            raise ValueError(f"MoC needs a SiLU-gated MLP, got hidden_act={mlp.config.hidden_act!r}")
        check_integer("k", k, 1, mlp.gate_proj.out_features)
    replaced = 0
    for layer in layers:
        mlp = layer.mlp
        if isinstance(mlp, MoCMLP):  # already swapped: only the channel count changes
            mlp.k = int(k)
        else:
            layer.mlp = MoCMLP.from_linears(mlp.gate_proj, mlp.up_proj, mlp.down_proj, k)
        replaced += 1
    return replaced
