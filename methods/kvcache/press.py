"""`ChelseaPress`: Chelsea online KV-cache clustering (arXiv 2506.11418) as a kvpress press.

It runs through kvpress's ``pipeline("kv-press-text-generation", ...)`` and through ``with press(model):`` around
any forward / ``generate`` call of a kvpress-supported `transformers` model (Llama, Mistral, Qwen, ...):

- a forward hook on every attention layer (kvpress's mechanism) keeps the layer's per-entry counts on the
  attention module, sets the budget B = budget * (prompt + max_decode_tokens) at prefill, and whenever the layer's
  cache holds more than B + buffer_tokens entries merges it back to B (`methods.kvcache.chelsea`);
- inside the context the model's attention implementation is switched to the registered ``"chelsea"`` function
  (`methods.kvcache.attention`), which adds log(count) to the attention scores; the previous implementation is
  restored on exit;
- the press subclasses kvpress's `PrefillDecodingPress`, so the pipeline applies it at prefill and while it
  decodes (and refuses several questions per context, whose cache rollback would lose the counts).

Bad settings (budget outside (0, 1], chunk_size 0, negative windows) raise ValueError when the press is built; a
context shorter than sink_tokens + recent_tokens raises ValueError before the model's first layer runs.
"""

from __future__ import annotations

import numbers
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from kvpress import BasePress, PrefillDecodingPress
from kvpress.presses.base_press import is_prefilling
from transformers import PreTrainedModel, QuantizedCache

from methods.kvcache.attention import COUNTS_ATTRIBUTE, counts_for_length, register_attention
from methods.kvcache.chelsea import (
    ChelseaParams,
    budget_tokens,
    check_budget,
    compress_layer,
    real_length,
    should_compress,
)


@dataclass
class ChelseaPress(PrefillDecodingPress):
    """Chelsea with the paper's defaults (20% budget, 16 sinks, 64 recent, chunks of 256).

    ``buffer_tokens`` is g of the online trigger (not given in the paper's summary; ours). ``outlier_heads`` are
    (layer, kv_head) pairs of non-negative integers kept uncompressed.
    """

    budget: float = 0.2
    max_decode_tokens: int = 0
    buffer_tokens: int = 32
    sink_tokens: int = 16
    recent_tokens: int = 64
    chunk_size: int = 256
    outlier_heads: tuple[tuple[int, int], ...] = ()
    _target: int | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        check_budget(self.budget)
        self.params = ChelseaParams(self.sink_tokens, self.recent_tokens, self.chunk_size)
        for name in ("max_decode_tokens", "buffer_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        self._outliers: dict[int, list[int]] = {}
        for pair in self.outlier_heads:
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2
                    and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 0 for v in pair)):
                raise ValueError(f"outlier_heads: expected (layer, kv_head) pairs of non-negative integers, got {pair!r}")
            self._outliers.setdefault(int(pair[0]), []).append(int(pair[1]))

    def post_init_from_model(self, model: PreTrainedModel) -> None:
        return None

    def _new_request(self, model: PreTrainedModel, tokens: int) -> None:
        self.params.check_context(tokens)
        self._target = budget_tokens(self.budget, tokens, self.max_decode_tokens)
        for layer in _layers(model):
            if hasattr(layer.self_attn, COUNTS_ATTRIBUTE):
                delattr(layer.self_attn, COUNTS_ATTRIBUTE)

    def forward_hook(self, module: torch.nn.Module, input: list, kwargs: dict, output: list) -> list:
        cache = kwargs["past_key_values"]
        if isinstance(cache, QuantizedCache):
            raise NotImplementedError("ChelseaPress needs an unquantized cache (per-entry centroids)")
        cache_layer = cache.layers[module.layer_idx]
        keys, values = cache_layer.keys, cache_layer.values
        stored = None if is_prefilling(kwargs["cache_position"], kwargs["hidden_states"].shape[1]) else getattr(
            module, COUNTS_ATTRIBUTE, None
        )
        counts = counts_for_length(stored, keys.shape[0], keys.shape[1], keys.shape[2], keys.device)
        if self._target is None:  # used at decode time only: the cache seen first is the prompt
            self._target = budget_tokens(self.budget, keys.shape[2], self.max_decode_tokens)
        outliers = self._outliers.get(module.layer_idx, [])
        if should_compress(real_length(counts, outliers), self._target, self.buffer_tokens):
            keys, values, counts = compress_layer(keys, values, counts, self._target, self.params, outliers)
            cache_layer.keys, cache_layer.values = keys, values
        setattr(module, COUNTS_ATTRIBUTE, counts)
        return output

    def compress(self, module, hidden_states, keys, values, attentions, kwargs):  # type: ignore[override]
        raise NotImplementedError("ChelseaPress compresses in its forward hook (it also keeps counts)")

    @contextmanager
    def __call__(self, model: PreTrainedModel) -> Generator:
        name = register_attention()
        previous = model.config._attn_implementation
        language_model = model.model.language_model if hasattr(model.model, "language_model") else model.model

        def check_request(_module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
            cache = kwargs.get("past_key_values")
            if cache is not None and cache.get_seq_length() > 0:
                return
            ids = kwargs.get("input_ids", args[0] if args else None)
            tokens = ids if ids is not None else kwargs["inputs_embeds"]
            self._new_request(model, int(tokens.shape[1]))

        handle = language_model.register_forward_pre_hook(check_request, with_kwargs=True)
        model.config._attn_implementation = name
        try:
            with BasePress.__call__(self, model):
                yield
        finally:
            handle.remove()
            model.config._attn_implementation = previous


def _layers(model: PreTrainedModel) -> list[torch.nn.Module]:
    language_model = model.model.language_model if hasattr(model.model, "language_model") else model.model
    return list(language_model.layers)
