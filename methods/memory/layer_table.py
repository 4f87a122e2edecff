"""One LLaMA block at full width measured with the saved-tensor profiler, beside the analytic bytes per token.

Follows the MoC memory claim (Wu, He, Wang, Yuan, arXiv 2511.09323): what one block keeps for backward per token,
dense SwiGLU vs Mixture-of-Channels, with FlashAttention-style attention. A real block (`methods.models.llama_family`)
is built on the CPU at the requested widths and dtype, one forward pass runs on random inputs of ``tokens`` tokens
(one sequence) under `methods.memory.profiler.record_saved`, and the measured bytes are divided by the tokens. Per
token the saved bytes do not depend on the sequence length (no attention matrix is kept), so a short sequence
measures the per-token cost of any length.
"""

from __future__ import annotations

import torch

from methods.memory.analytic import DTYPE_BYTES, Shape, Technique, block_bytes_per_token
from methods.memory.profiler import record_saved
from methods.models.gpt import rope_tables
from methods.models.init import init_parameters
from methods.models.llama_family import Block, LlamaFamilyConfig, use_moc


def measure_block(
    d_model: int, d_ff: int, n_heads: int, technique: Technique, *, dtype: str = "bfloat16", tokens: int = 64,
    seed: int = 0,
) -> dict[str, float]:
    """Measured and analytic saved bytes per token of one block (forward only: backward frees, never adds).

    Returns ``measured_bytes_per_token``, ``analytic_bytes_per_token`` and the measured split ``attention`` /
    ``ffn`` / ``other`` bytes per token.
    """
    cfg = LlamaFamilyConfig(d_model=d_model, d_ff=d_ff, n_heads=n_heads, n_layers=1, vocab_size=1,
                            ffn=technique.ffn, moc_k=technique.moc_k, checkpointing=technique.checkpointing,
                            max_seq_len=tokens)
    torch_dtype = getattr(torch, dtype)
    block = Block(cfg)
    init_parameters(block, seed, normal_std=0.02)
    if technique.ffn == "moc":
        assert technique.moc_k is not None
        use_moc(block, technique.moc_k)
    block = block.to(torch_dtype)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(1, tokens, d_model, generator=gen).to(torch_dtype).requires_grad_(True)
    cos, sin = rope_tables(tokens, cfg.head_dim)
    with record_saved(block, extra_exclude=(cos, sin)) as prof:
        y = block(x, cos, sin)
    del y
    groups = prof.by_group(lambda name: "attention" if name.startswith(("attn", "attn_norm"))
                           else "ffn" if name.startswith(("mlp", "mlp_norm")) else "other")
    analytic = sum(block_bytes_per_token(Shape(d_model, d_ff, n_heads, 1), technique, DTYPE_BYTES[dtype]).values())
    return {
        "measured_bytes_per_token": prof.saved_bytes / tokens,
        "analytic_bytes_per_token": float(analytic),
        **{f"measured_{g}_bytes_per_token": groups.get(g, 0) / tokens for g in ("attention", "ffn", "other")},
    }
