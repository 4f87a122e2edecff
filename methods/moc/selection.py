"""Channel-selection scores other than MoC's gate, for the ablation over the selection rule.

MoC (Wu, He, Wang, Yuan, arXiv 2511.09323) keeps, per token, the K channels with the largest raw gate value
g = W_g x (`kernels.moc`). The alternatives here keep K channels chosen by another score and otherwise compute the
same thing, ``y = W_d (M * SiLU(g) * u)`` with the mask M constant in backward:

- ``abs_up``: the K largest |u| = |W_u x| (the magnitude of the other SwiGLU branch);
- ``random``: K channels drawn uniformly per token at every forward pass (a fresh draw each call, seeded), the
  "no information" baseline.

They run through plain autograd in mask form (dense intermediates are kept for backward), so only their quality
is comparable with MoC's, not their memory.

Example::

    >>> import torch
    >>> from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig
    >>> model = LlamaFamily(LlamaFamilyConfig(d_model=16, d_ff=32, n_heads=2, n_layers=2, vocab_size=20), seed=0)
    >>> use_selection(model, k=8, score="abs_up", seed=0)
    2
    >>> tuple(model(torch.zeros(1, 4, dtype=torch.long)).shape)
    (1, 4, 20)
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from methods.models.llama_family import Block, DenseMLP

Score = Literal["abs_up", "random"]
SCORES: tuple[str, ...] = ("abs_up", "random")


class ScoredChannelMLP(nn.Module):
    """SwiGLU keeping per token the K channels of the largest ``score`` (see the module docstring).

    Parameters are named as `methods.models.llama_family.MoCMLP`'s (``down_proj_t`` is W_d transposed).
    """

    def __init__(self, d_model: int, d_ff: int, k: int, score: Score, seed: int = 0):
        super().__init__()
        if score not in SCORES:
            raise ValueError(f"score must be one of {', '.join(SCORES)}, got {score!r}")
        if not 1 <= k <= d_ff:
            raise ValueError(f"k must be in 1..d_ff={d_ff}, got {k}")
        self.k, self.score = k, score
        self.gate_proj = nn.Linear(d_model, d_ff, bias=False)
        self.up_proj = nn.Linear(d_model, d_ff, bias=False)
        self.down_proj_t = nn.Parameter(torch.empty(d_ff, d_model))
        self.generator = torch.Generator().manual_seed(int(seed))

    @classmethod
    def from_dense(cls, dense: DenseMLP, k: int, score: Score, seed: int = 0) -> ScoredChannelMLP:
        """A copy of ``dense``'s weights with the selection rule ``score``."""
        gate = dense.gate_proj
        mlp = cls(gate.in_features, gate.out_features, k, score, seed).to(gate.weight.dtype)
        with torch.no_grad():
            mlp.gate_proj.weight.copy_(gate.weight)
            mlp.up_proj.weight.copy_(dense.up_proj.weight)
            mlp.down_proj_t.copy_(dense.down_proj.weight.T)
        return mlp

    def _mask(self, u: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            if self.score == "abs_up":
                scores = u.abs()
            else:
                scores = torch.rand(u.shape, generator=self.generator).to(u.dtype)
            idx = torch.topk(scores, self.k, dim=-1, sorted=False).indices
            return torch.zeros_like(u).scatter_(-1, idx, 1.0)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        g, u = self.gate_proj(h), self.up_proj(h)
        return (self._mask(u) * F.silu(g) * u) @ self.down_proj_t


def use_selection(model: nn.Module, k: int, score: Score, seed: int = 0) -> int:
    """Replace every dense MLP of ``model``'s blocks by a `ScoredChannelMLP` (same weights); returns how many.

    Each block's random draws get their own stream (``seed`` plus the block's position)."""
    replaced = 0
    for position, block in enumerate(m for m in model.modules() if isinstance(m, Block)):
        if not isinstance(block.mlp, DenseMLP):
            raise ValueError("use_selection needs a dense model (ffn='dense')")
        block.mlp = ScoredChannelMLP.from_dense(block.mlp, k, score, seed=int(seed) * 1000 + position)
        replaced += 1
    return replaced
