"""`methods.models.gpt.TinyLlama` cut into pipeline stages, and the study's synthetic data set.

The split is the ``pipeline_step`` kind's (`harness.workloads.pipeline_step.stage_layers`): blocks divided evenly
(the first stages take the remainder), the embedding on stage 0, final norm + LM head + loss on the last stage.
Every process builds the whole model from the same seed and keeps its own layers, so the stages together are
exactly the single-process model (checked in the tests against ``TinyLlama.loss``).
"""

from __future__ import annotations

import torch
from torch import nn

from harness.workloads.pipeline_step import stage_layers
from methods.models.gpt import TinyLlama


class Stage(nn.Module):
    """The layers of one stage: ``forward(x)`` takes token ids (stage 0) or the previous stage's activation and
    returns the boundary activation (or, on the last stage, the logits)."""

    def __init__(self, full: TinyLlama, layer_ids: list[int]):
        super().__init__()
        n_layers = len(full.layers)
        self.embed_tokens = full.embed_tokens if 0 in layer_ids else None
        self.layers = nn.ModuleList(full.layers[i - 1] for i in layer_ids if 1 <= i <= n_layers)
        last = n_layers + 1 in layer_ids
        self.norm = full.norm if last else None
        self.lm_head = full.lm_head if last else None
        self.register_buffer("rope_cos", full.rope_cos, persistent=False)
        self.register_buffer("rope_sin", full.rope_sin, persistent=False)

    @property
    def is_last(self) -> bool:
        return self.lm_head is not None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.embed_tokens is not None:
            x = self.embed_tokens(x)
        for layer in self.layers:
            x = layer(x, self.rope_cos, self.rope_sin)
        if self.lm_head is not None:
            x = self.lm_head(self.norm(x))
        return x


def full_model(model, seq_len: int, seed: int) -> TinyLlama:
    """The whole model of a `harness.pipeline_study.plan.ModelSpec`."""
    return TinyLlama(model.vocab_size, model.d_model, model.n_layers, model.n_heads, model.d_ff,
                     max_seq_len=seq_len, seed=seed)


def build_stage(model, n_stages: int, stage: int, seq_len: int, seed: int) -> Stage:
    """Stage ``stage`` of ``n_stages`` (layers as the simulator splits them)."""
    if not 0 <= stage < n_stages:
        raise ValueError(f"stage: expected 0..{n_stages - 1}, got {stage}")
    return Stage(full_model(model, seq_len, seed), stage_layers(model.n_layers, n_stages)[stage])


def make_dataset(n_samples: int, seq_len: int, vocab_size: int, seed: int) -> torch.Tensor:
    """``n_samples`` token sequences of ``seq_len + 1`` (inputs and shifted targets), the same on every stage.

    Each sequence repeats a random pattern of 8 tokens with its own offset, so the loss has something to learn.
    """
    gen = torch.Generator().manual_seed(seed + 1)
    patterns = torch.randint(0, vocab_size, (n_samples, 8), generator=gen)
    offsets = torch.randint(0, 8, (n_samples, 1), generator=gen)
    positions = (torch.arange(seq_len + 1)[None, :] + offsets) % 8
    return torch.gather(patterns, 1, positions)
